#!/usr/bin/env bash
# Loopback benchmark: the API under wrk against pgbench running the same SQL transaction (as the
# API does per request: BEGIN; SET LOCAL ROLE; request.jwt.claims; the query; COMMIT) at the same
# concurrency. Starts and removes its own cluster; the extension must be installed
# (scripts/build-install.sh).
#
# Environment: BENCH_DURATION (seconds per run, default 10), BENCH_CONNECTIONS (default 10),
#              BENCH_THREADS (wrk/pgbench threads, default 2), BENCH_WORKERS (executors, default 2),
#              BENCH_ONLY (a substring: run only the scenarios whose name contains it),
#              BENCH_PERF (a directory: perf records the listener and each executor during every
#              API run, one perf-<scenario>-<process>.data each, for bench/PROFILE.md; call
#              graphs as BENCH_PERF_CALLGRAPH says, default dwarf).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

DURATION="${BENCH_DURATION:-10}"
CONNS="${BENCH_CONNECTIONS:-10}"
THREADS="${BENCH_THREADS:-2}"
WORKERS="${BENCH_WORKERS:-2}"
command -v wrk >/dev/null || die "wrk is missing: run scripts/install-deps.sh"
command -v "$PG_BIN/pgbench" >/dev/null || die "pgbench is missing ($PG_BIN/pgbench)"

TMP="$(pg_tmpdir serendb-bench)"
DATA="$TMP/data"
LOGFILE="$TMP/postgres.log"
cleanup() {
  [ -f "$DATA/PG_VERSION" ] && cluster_stop "$DATA"
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

bench_cluster "$DATA" "$LOGFILE" \
  "serendb_data_api.workers = $WORKERS" "max_connections = 200" "synchronous_commit = off"

CLAIMS='{"sub":"user-bench","role":"authenticated"}'
TOKEN="$(mint_jwt "$SECRET" "{\"sub\":\"user-bench\",\"role\":\"authenticated\",\"exp\":$(( $(date +%s) + 3600 ))}")"
URL="http://127.0.0.1:$API_PORT"

# Each scenario: name|METHOD|target|body file ('' for none). The 1000-row body is generated.
"$PYTHON" -c 'import json; print(json.dumps([{"content": "bulk %d" % i} for i in range(1000)]))' >"$TMP/bulk.json"
echo '{"content":"bench"}' >"$TMP/one.json"
echo '{"content":"patched"}' >"$TMP/patch.json"
echo '{"a":1,"b":2}' >"$TMP/rpc.json"
SCENARIOS=(
  "GET one post by primary key|GET|/posts?id=eq.42|"
  "POST one post|POST|/posts|$TMP/one.json"
  "GET one-to-many embed|GET|/authors?select=name,books(title)&id=eq.42|"
  "GET 100 rows, 2 filters, order|GET|/bench_items?select=id,name,score&category=eq.3&score=gte.10&order=score.desc,id&limit=100|"
  "POST 1000-row JSON array|POST|/posts|$TMP/bulk.json"
  "PATCH by primary key|PATCH|/posts?id=eq.42|$TMP/patch.json"
  "POST /rpc (scalar function)|POST|/rpc/bench_add|$TMP/rpc.json"
)

# The SQL of each scenario comes from the planner itself (examples/plan_sql.rs, run on this
# database's schema cache), so pgbench runs exactly the statement the API runs; only the bind
# parameters are inlined, as the text literals the executor binds.
log "building examples/plan_sql (prints the API's SQL for a request)"
(cd "$REPO_ROOT" && cargo build --quiet --no-default-features --example plan_sql)
PLAN_SQL="$REPO_ROOT/target/debug/examples/plan_sql"
sed "s/\$1::text\[\]/'{public}'::text[]/" "$REPO_ROOT/src/schema_cache/introspect.sql" |
  as_pg "$PG_BIN/psql" -X -q -At -h 127.0.0.1 -p "$PG_PORT" -U postgres -d bench -f - >"$TMP/schema.json"

# The transaction the executor runs per request, statement for statement: the role/settings
# statement, then the planned statement. (The executor also checks, from a per-process cache,
# that the role is granted to the authenticator, which pgbench does not.)
settings_sql() {  # method path
  echo "SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claims', '$CLAIMS', true), set_config('request.method', '$1', true), set_config('request.path', '$2', true), set_config('request.headers', '{}', true), set_config('search_path', '\"public\", public', true);"
}
pgbench_script() {  # method target bodyfile out
  local body=""
  [ -n "$3" ] && body="$(cat "$3")"
  local planned
  planned="$("$PLAN_SQL" "$TMP/schema.json" "$1" "$2" "$body")"
  {
    grep '^\\set ' <<<"$planned" || true
    echo "BEGIN;"
    settings_sql "$1" "${2%%\?*}"
    grep -v '^\\set ' <<<"$planned"
    echo "COMMIT;"
  } >"$4"
}
wrk_script() {  # method bodyfile out
  {
    echo "wrk.method = \"$1\""
    echo 'wrk.headers["Content-Type"] = "application/json"'
    if [ -n "$2" ]; then
      echo "local f = io.open(\"$2\", \"r\")"
      echo 'wrk.body = f:read("*a")'
      echo 'f:close()'
    fi
  } >"$3"
}

# Sanity: every request succeeds before we measure it.
for sc in "${SCENARIOS[@]}"; do
  IFS='|' read -r name method target bodyfile <<<"$sc"
  "$PYTHON" - "$API_PORT" "$TOKEN" "$method" "$target" "$bodyfile" <<'PY'
import http.client, sys
port, token, method, target, bodyfile = int(sys.argv[1]), *sys.argv[2:]
body = open(bodyfile, "rb").read() if bodyfile else None
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
c.request(method, target, body=body,
          headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
r = c.getresponse()
data = r.read()
if r.status >= 300:
    sys.exit(f"{method} {target}: HTTP {r.status} {data[:300]!r}")
PY
done

# Prints "req/s p50_ms p99_ms" (wrk --latency; its units are us, ms or s).
run_wrk() {  # wrk args...
  local out
  out="$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "$@")"
  if grep -q 'Non-2xx' <<<"$out"; then
    printf '%s\n' "$out" >&2
    die "wrk saw error responses"
  fi
  awk '
    function ms(v) {
      if (v ~ /us$/) return v / 1000
      if (v ~ /ms$/) return v + 0
      if (v ~ /s$/) return v * 1000
      return v + 0
    }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    END { printf "%s %.3f %.3f\n", rps, p50, p99 }' <<<"$out"
}
# The cluster's API processes as "name pid" lines (listener, executor-0, ...).
api_processes() {
  local postmaster
  postmaster="$(head -n 1 "$DATA/postmaster.pid")"
  ps -o pid=,args= --ppid "$postmaster" | awk '
    /serendb_data_api listener/ { print "listener", $1 }
    /serendb_data_api executor/ { print "executor-" $NF, $1 }'
}
# Runs wrk; with BENCH_PERF, perf records every API process meanwhile.
measure_api() {  # tag, wrk args...
  local tag="$1" pids=() name pid
  shift
  if [ -n "${BENCH_PERF:-}" ]; then
    mkdir -p "$BENCH_PERF"
    while read -r name pid; do
      perf record -F 999 --call-graph "${BENCH_PERF_CALLGRAPH:-dwarf}" -q \
        -o "$BENCH_PERF/perf-$tag-$name.data" -p "$pid" \
        -- sleep "$DURATION" >/dev/null 2>&1 &
      pids+=("$!")
    done < <(api_processes)
  fi
  run_wrk "$@"
  for pid in "${pids[@]}"; do wait "$pid" || true; done
}
run_pgbench() {  # sql file
  local out
  out="$("$PG_BIN/pgbench" -n -h 127.0.0.1 -p "$PG_PORT" -U postgres -M prepared -c "$CONNS" \
    -j "$THREADS" -T "$DURATION" -f "$1" bench 2>&1)" || { printf '%s\n' "$out" >&2; die "pgbench failed"; }
  awk '/^tps = / {print $3; exit}' <<<"$out"
}

log "benchmarking: ${DURATION}s per run, $CONNS connections, $THREADS threads, $WORKERS API workers"
ROWS=()
i=0
for sc in "${SCENARIOS[@]}"; do
  IFS='|' read -r name method target bodyfile <<<"$sc"
  i=$((i + 1))
  [[ -z "${BENCH_ONLY:-}" || "$name" == *"$BENCH_ONLY"* ]] || continue
  wrk_script "$method" "$bodyfile" "$TMP/s$i.lua"
  pgbench_script "$method" "$target" "$bodyfile" "$TMP/s$i.sql"
  read -r rps p50 p99 < <(measure_api "s$i" -s "$TMP/s$i.lua" "$URL$target")
  tps="$(run_pgbench "$TMP/s$i.sql")"
  ROWS+=("$name|$rps|$tps|$p50|$p99")
done

# p50/p99: the API's latencies under wrk (target: p99 <= 2 x p50)
printf '\n%-34s %10s %11s %6s %9s %9s %8s\n' "request (API vs pgbench, same SQL)" "API req/s" \
  "pgbench tps" "ratio" "p50 ms" "p99 ms" "p99/p50"
for row in "${ROWS[@]}"; do
  IFS='|' read -r name rps tps p50 p99 <<<"$row"
  awk -v n="$name" -v a="$rps" -v b="$tps" -v p50="$p50" -v p99="$p99" 'BEGIN {
    ratio = (b > 0) ? sprintf("%.2f", a / b) : "n/a"
    tail = (p50 > 0) ? sprintf("%.1f", p99 / p50) : "n/a"
    printf "%-34s %10.0f %11.0f %6s %9.2f %9.2f %8s\n", n, a, b, ratio, p50, p99, tail }'
done
