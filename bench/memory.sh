#!/usr/bin/env bash
# Memory of the API's processes (issue 9's targets): each executor's memory above an idle
# Postgres backend after a mixed load (target <= 30 MB), and the listener's with 1,000 idle
# keep-alive connections open (target <= 30 MB). Starts and removes its own cluster; the
# extension must be installed (scripts/build-install.sh).
#
# Environment: MEMORY_DURATION (seconds of mixed load, default 300), MEMORY_CONNECTIONS (wrk
#              connections, default 10), MEMORY_WORKERS (executors, default 2),
#              MEMORY_IDLE_CONNECTIONS (default 1000).
#
# What is measured, from /proc/<pid>/smaps_rollup: a backend's RSS counts every shared_buffers
# page it has touched (and the shared libraries), so RSS grows with the data a load reads
# although none of it is the process's own: two executors that touched the same 100 MB of
# buffers would each "have" 100 MB. The process's own cost is its private memory
# (Private_Clean + Private_Dirty: heap, memory contexts, plan caches, stacks). So the figure
# checked against the target is private memory minus an idle backend's private memory (a psql
# session on the same database, after one query); RSS and PSS (shared pages divided among the
# processes sharing them) are printed beside it for reference.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

DURATION="${MEMORY_DURATION:-300}"
CONNS="${MEMORY_CONNECTIONS:-10}"
WORKERS="${MEMORY_WORKERS:-2}"
IDLE_CONNS="${MEMORY_IDLE_CONNECTIONS:-1000}"
TARGET_MB=30
command -v wrk >/dev/null || die "wrk is missing: run scripts/install-deps.sh"

TMP="$(pg_tmpdir serendb-memory)"
DATA="$TMP/data"
LOGFILE="$TMP/postgres.log"
IDLE_PID=""
cleanup() {
  [ -n "$IDLE_PID" ] && kill "$IDLE_PID" 2>/dev/null || true
  [ -f "$DATA/PG_VERSION" ] && cluster_stop "$DATA"
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

bench_cluster "$DATA" "$LOGFILE" \
  "serendb_data_api.workers = $WORKERS" "max_connections = 200" "synchronous_commit = off" \
  "serendb_data_api.server_max_connections = $((IDLE_CONNS + 100))"

TOKEN="$(mint_jwt "$SECRET" "{\"sub\":\"user-bench\",\"role\":\"authenticated\",\"exp\":$(( $(date +%s) + DURATION + 3600 ))}")"
URL="http://127.0.0.1:$API_PORT"

# smaps_rollup PID -> "rss pss private" in kB
mem_of() {
  awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} /^Private_(Clean|Dirty):/ {v+=$2}
       END {print r+0, p+0, v+0}' "/proc/$1/smaps_rollup"
}
pids_of() {  # backend_type
  psql_c "$PG_PORT" bench "SELECT pid FROM pg_stat_activity WHERE backend_type = '$1' ORDER BY pid" -At
}
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# The reference: an idle backend of the same database (after one query, as a pooled session).
PGAPPNAME=memory_idle "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d bench \
  -c "SELECT count(*) FROM posts" -c "SELECT pg_sleep(100000)" >"$TMP/idle.log" 2>&1 &
IDLE_PID=$!
idle_backend=""
for _ in $(seq 50); do
  idle_backend="$(psql_c "$PG_PORT" bench \
    "SELECT pid FROM pg_stat_activity WHERE application_name = 'memory_idle'" -At)"
  [ -n "$idle_backend" ] && break
  sleep 0.2
done
[ -n "$idle_backend" ] || { cat "$TMP/idle.log" >&2; die "the idle reference backend did not start"; }
mapfile -t EXECUTORS < <(pids_of "serendb_data_api executor")
# the listener does not connect to a database, so it is not in pg_stat_activity: find it among
# the postmaster's children by its process title
POSTMASTER="$(head -n 1 "$DATA/postmaster.pid")"
LISTENER="$(ps -o pid=,args= --ppid "$POSTMASTER" | awk '/serendb_data_api listener/ {print $1; exit}')"
[ "${#EXECUTORS[@]}" -ge 1 ] && [ -n "$LISTENER" ] || die "no executor or no listener found"

# The mixed load: GET by primary key, one-to-many embed, POST, RPC, a 100-row GET, in turn.
cat >"$TMP/mixed.lua" <<'LUA'
local requests = {}
local n = 0
init = function(args)
  local token = args[1]
  local json = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
  local get = { ["Authorization"] = "Bearer " .. token }
  requests = {
    wrk.format("GET", "/posts?id=eq.42", get),
    wrk.format("GET", "/authors?select=name,books(title)&id=eq.42", get),
    wrk.format("POST", "/posts", json, '{"content":"memory"}'),
    wrk.format("POST", "/rpc/bench_add", json, '{"a":1,"b":2}'),
    wrk.format("GET", "/bench_items?select=id,name,score&category=eq.3&score=gte.10&order=score.desc,id&limit=100", get),
  }
end
request = function()
  n = n + 1
  return requests[(n % #requests) + 1]
end
LUA

report_executors() {  # label
  local pid rss pss priv
  read -r _ _ idle_priv < <(mem_of "$idle_backend")
  for pid in "${EXECUTORS[@]}"; do
    read -r rss pss priv < <(mem_of "$pid")
    printf '%-28s pid %-7s rss %7s MB  pss %7s MB  private %7s MB  private above idle backend %7s MB\n' \
      "executor ($1)" "$pid" "$(mb "$rss")" "$(mb "$pss")" "$(mb "$priv")" "$(mb $((priv - idle_priv)))"
  done
}
read -r idle_rss idle_pss idle_priv < <(mem_of "$idle_backend")
printf '%-28s pid %-7s rss %7s MB  pss %7s MB  private %7s MB\n' "idle backend" "$idle_backend" \
  "$(mb "$idle_rss")" "$(mb "$idle_pss")" "$(mb "$idle_priv")"
report_executors "before load"

log "mixed load: ${DURATION}s, $CONNS connections, $WORKERS executors"
out="$(wrk -t2 -c"$CONNS" -d"${DURATION}s" -s "$TMP/mixed.lua" "$URL" -- "$TOKEN")"
grep -E "Requests/sec|Non-2xx|Socket errors" <<<"$out" >&2 || true
if grep -q "Non-2xx" <<<"$out"; then die "the mixed load saw error responses"; fi
report_executors "after ${DURATION}s load"

worst=0
read -r _ _ idle_priv < <(mem_of "$idle_backend")
for pid in "${EXECUTORS[@]}"; do
  read -r _ _ priv < <(mem_of "$pid")
  [ $((priv - idle_priv)) -gt "$worst" ] && worst=$((priv - idle_priv))
done

# The listener: baseline, then with IDLE_CONNS keep-alive connections that each made one
# request and stay open (held by a Python client; the default keep-alive timeout is 60 s).
read -r l_rss l_pss l_priv < <(mem_of "$LISTENER")
printf '%-28s pid %-7s rss %7s MB  pss %7s MB  private %7s MB\n' "listener (idle)" "$LISTENER" \
  "$(mb "$l_rss")" "$(mb "$l_pss")" "$(mb "$l_priv")"
mkfifo "$TMP/held"
"$PYTHON" - "$API_PORT" "$TOKEN" "$IDLE_CONNS" "$TMP/held" <<'PY' &
import resource, socket, sys, time
port, token, n, fifo = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 64)), hard))
req = ("GET /posts?id=eq.1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % token).encode()
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    socks.append(s)
ok = 0
for s in socks:
    s.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    ok += data.startswith(b"HTTP/1.1 200")
with open(fifo, "w") as f:
    f.write("%d\n" % ok)
time.sleep(30)  # held open (idle) while the listener is measured
PY
HOLDER=$!
read -r held <"$TMP/held"
sleep 1
read -r c_rss c_pss c_priv < <(mem_of "$LISTENER")
printf '%-28s pid %-7s rss %7s MB  pss %7s MB  private %7s MB\n' \
  "listener ($held idle conns)" "$LISTENER" "$(mb "$c_rss")" "$(mb "$c_pss")" "$(mb "$c_priv")"
kill "$HOLDER" 2>/dev/null || true
wait "$HOLDER" 2>/dev/null || true
[ "$held" -eq "$IDLE_CONNS" ] || log "only $held of $IDLE_CONNS keep-alive connections got a 200"

echo
verdict() { if [ "$1" -le $((TARGET_MB * 1024)) ]; then echo "ok"; else echo "OVER"; fi; }
printf 'executor private memory above an idle backend, worst: %s MB (target <= %s MB): %s\n' \
  "$(mb "$worst")" "$TARGET_MB" "$(verdict "$worst")"
printf 'listener private memory with %s idle keep-alive connections: %s MB (target <= %s MB): %s\n' \
  "$held" "$(mb "$c_priv")" "$TARGET_MB" "$(verdict "$c_priv")"
