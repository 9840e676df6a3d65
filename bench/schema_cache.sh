#!/usr/bin/env bash
# Schema cache at scale (issue 9): (a) how many schema-cache reloads a write load causes with
# autovacuum on and no DDL at all (pgbench UPDATEs on one table while API requests run; counted
# by pgrst_schema_cache_loads_total on the admin server; target 0), (b) the load time of a cache
# of N tables with foreign keys + M functions, and of a big schema of L plain tables (targets:
# 1,000 + 500 < 200 ms, 10,000 < 2 s): the first executor introspects, the others read the
# document it published (their read + parse time, and how long they waited for it), with the
# cost of the catalog fingerprint check that decides whether an invalidation reloads, (c) request
# latency (wrk --latency, p50 / p99 / max) on the N-table schema without DDL, with DDL in a loop
# on a table the requests do not read (their cache is kept), and on one they do (reloads)
# (target: no request slower than 10x p50 during a reload). Starts and removes its own cluster;
# the extension must be installed.
#
# Environment: SC_LOAD_SECONDS (the write load of (a), default 60), SC_TABLES (default 1000),
#              SC_FUNCTIONS (default 500), SC_BIG_TABLES (default 10000), SC_WORKERS
#              (executors, default 2), SC_RELOAD_SECONDS (each wrk run of (c), default 10),
#              SC_DDL_INTERVAL (seconds between two DDL statements in (c), default 0.5).
# A smoke run: SC_LOAD_SECONDS=5 SC_TABLES=100 SC_FUNCTIONS=50 SC_BIG_TABLES=500 SC_RELOAD_SECONDS=3 bench/schema_cache.sh
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

LOAD_SECONDS="${SC_LOAD_SECONDS:-60}"
TABLES="${SC_TABLES:-1000}"
FUNCTIONS="${SC_FUNCTIONS:-500}"
BIG_TABLES="${SC_BIG_TABLES:-10000}"
WORKERS="${SC_WORKERS:-2}"
RELOAD_SECONDS="${SC_RELOAD_SECONDS:-10}"
DDL_INTERVAL="${SC_DDL_INTERVAL:-0.5}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v "$PG_BIN/pgbench" >/dev/null || die "pgbench is missing ($PG_BIN/pgbench)"
command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk)"

TMP="$(pg_tmpdir serendb-bench-sc)"
DATA="$TMP/data"
LOGFILE="$TMP/postgres.log"
cleanup() {
  [ -f "$DATA/PG_VERSION" ] && cluster_stop "$DATA"
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

PG_PORT="$(free_port)"
API_PORT="$(free_port "$PG_PORT")"
ADMIN_PORT="$(free_port "$PG_PORT" "$API_PORT")"
cluster_init "$DATA"
# Autovacuum as eager as it gets, so the write load makes it run (and invalidate) often.
cluster_configure "$DATA" "$PG_PORT" "$API_PORT" bench "$(gen_secret)" anonymous \
  "serendb_data_api.workers = $WORKERS" "serendb_data_api.admin_server_port = $ADMIN_PORT" \
  "autovacuum = on" "autovacuum_naptime = 1" "autovacuum_vacuum_threshold = 50" \
  "autovacuum_analyze_threshold = 50" "autovacuum_vacuum_scale_factor = 0" \
  "autovacuum_analyze_scale_factor = 0" "max_locks_per_transaction = 1024"
cluster_start "$DATA" "$LOGFILE"
psql_c "$PG_PORT" postgres "CREATE DATABASE bench"
psql_c "$PG_PORT" bench "CREATE EXTENSION serendb_data_api"
psql_c "$PG_PORT" bench "
  CREATE TABLE hot (id int PRIMARY KEY, n int NOT NULL);
  INSERT INTO hot SELECT g, 0 FROM generate_series(1, 1000) g;
  GRANT SELECT ON hot TO anonymous;"
wait_http "$API_PORT" /hot 60

metric() {  # name -> value
  "$PYTHON" - "$ADMIN_PORT" "$1" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
c.request("GET", "/metrics")
for line in c.getresponse().read().decode().splitlines():
    if line.startswith(sys.argv[2] + " "):
        print(line.rsplit(" ", 1)[1])
PY
}
LOADS='pgrst_schema_cache_loads_total{status="SUCCESS"}'

# API requests, one every 100 ms for $1 seconds; prints how many were not 200.
requests_for() {
  "$PYTHON" - "$API_PORT" "$1" <<'PY'
import http.client, sys, time
port, until = int(sys.argv[1]), time.time() + float(sys.argv[2])
bad = 0
while time.time() < until:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", "/hot?id=eq.1")
    bad += c.getresponse().status != 200
    c.close()
    time.sleep(0.1)
print(bad)
PY
}

# Every executor loads its cache once at its first request: make that happen before counting.
"$PYTHON" - "$API_PORT" <<'PY'
import http.client, sys, threading
def hit():
    for _ in range(20):
        c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
        c.request("GET", "/hot?id=eq.1")
        c.getresponse().read()
        c.close()
threads = [threading.Thread(target=hit) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
PY
[ "$(metric "$LOADS")" = "$WORKERS" ] || log "warning: $(metric "$LOADS") loads after warm-up ($WORKERS executors)"

log "(a) ${LOAD_SECONDS}s of pgbench UPDATEs on one table with autovacuum on, API requests meanwhile"
echo "UPDATE hot SET n = n + 1 WHERE id = 1 + (random() * 999)::int;" >"$TMP/update.sql"
before="$(metric "$LOADS")"
vac_before="$(psql_c "$PG_PORT" bench "SELECT autovacuum_count + autoanalyze_count FROM pg_stat_user_tables WHERE relname = 'hot'" -At)"
as_pg "$PG_BIN/pgbench" -n -h 127.0.0.1 -p "$PG_PORT" -U postgres -c 2 -T "$LOAD_SECONDS" \
  -f "$TMP/update.sql" bench >"$TMP/pgbench.out" 2>&1 &
PGBENCH=$!
bad="$(requests_for "$LOAD_SECONDS")"
wait "$PGBENCH" || { cat "$TMP/pgbench.out" >&2; die "pgbench failed"; }
after="$(metric "$LOADS")"
vac_after="$(psql_c "$PG_PORT" bench "SELECT autovacuum_count + autoanalyze_count FROM pg_stat_user_tables WHERE relname = 'hot'" -At)"
tps="$(grep -oE 'tps = [0-9.]+' "$TMP/pgbench.out" | head -1)"
printf 'reloads during a %ss write load: %s (target 0); autovacuum+autoanalyze runs on the table: %s; pgbench %s; failed API requests: %s\n' \
  "$LOAD_SECONDS" "$(( ${after%.*} - ${before%.*} ))" "$(( vac_after - vac_before ))" "$tps" "$bad"

INTROSPECTIONS=serendb_data_api_schema_cache_introspections_total
SHARED_LOADS=serendb_data_api_schema_cache_shared_loads_total
SHARED_SECONDS=serendb_data_api_schema_cache_shared_load_seconds_total
WAIT_SECONDS=serendb_data_api_schema_cache_load_wait_seconds_total
DDL_N=0
# A DDL statement that changes the catalog fingerprint (a new column default each time).
ddl() {
  DDL_N=$((DDL_N + 1))
  psql_c "$PG_PORT" bench "ALTER TABLE hot ALTER COLUMN n SET DEFAULT $DDL_N"
}
# Requests from 2 x workers clients at once, so that every executor needs the new cache.
all_executors() {
  "$PYTHON" - "$API_PORT" "$WORKERS" <<'PY'
import http.client, sys, threading
def hit():
    for _ in range(3):
        c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=120)
        c.request("GET", "/hot?id=eq.1")
        assert c.getresponse().status == 200
        c.close()
threads = [threading.Thread(target=hit) for _ in range(2 * int(sys.argv[2]))]
for t in threads: t.start()
for t in threads: t.join()
PY
}
ms() { awk "BEGIN { printf \"%.1f\", $1 * 1000 }"; }

# After one DDL change: the first executor's introspection time, and what the other executors
# spent (waiting for that introspection, then reading + parsing the published document).
measure_load() {  # label
  local fp i0 s0 ss0 w0 i1 s1 ss1 w1 n
  i0="$(metric $INTROSPECTIONS)"; s0="$(metric $SHARED_LOADS)"
  ss0="$(metric $SHARED_SECONDS)"; w0="$(metric $WAIT_SECONDS)"
  ddl
  all_executors
  i1="$(metric $INTROSPECTIONS)"; s1="$(metric $SHARED_LOADS)"
  ss1="$(metric $SHARED_SECONDS)"; w1="$(metric $WAIT_SECONDS)"
  n="$(awk "BEGIN { print $s1 - $s0 }")"
  fp="$(PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d bench \
    -c '\timing on' -f "$HERE/../src/schema_cache/fingerprint.sql" | grep -oE 'Time: [0-9.]+ ms' | tail -1)"
  printf '%s: first executor: introspection %s ms (%s introspection(s)); executors 2..%s: %s load(s) from the published document, %s ms each (read + parse), after waiting %s ms each for the introspection; fingerprint check %s\n' \
    "$1" "$(ms "$(metric pgrst_schema_cache_query_time_seconds)")" "$(awk "BEGIN { print $i1 - $i0 }")" "$WORKERS" "$n" \
    "$(awk "BEGIN { if ($n > 0) printf \"%.1f\", ($ss1 - $ss0) / $n * 1000; else print \"-\" }")" \
    "$(awk "BEGIN { if ($n > 0) printf \"%.1f\", ($w1 - $w0) / $n * 1000; else print \"-\" }")" "${fp#Time: }"
}

# wrk on GET /hot?id=eq.1 for RELOAD_SECONDS; prints "p50 p99 max" in ms.
wrk_latency() {
  wrk -t 2 -c 4 -d "${RELOAD_SECONDS}s" --latency "http://127.0.0.1:$API_PORT/hot?id=eq.1" >"$TMP/wrk.out" 2>&1 ||
    { cat "$TMP/wrk.out" >&2; die "wrk failed"; }
  grep -q 'Non-2xx' "$TMP/wrk.out" && log "warning: non-2xx answers: $(grep 'Non-2xx' "$TMP/wrk.out")"
  "$PYTHON" - "$TMP/wrk.out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(v):
    n, unit = re.match(r"([0-9.]+)(us|ms|s|m)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]
p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
mx = ms(re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", text, re.M).group(1))
rps = re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1)
print(f"{p50:.2f} {p99:.2f} {mx:.2f} {rps}")
PY
}

# (c) latency without DDL, then with a DDL change every DDL_INTERVAL seconds: on a table the
# requests do not read (t500: their cache is kept, no reload), then on one they read through a
# foreign key (t1 references hot: every executor reloads before its next request).
measure_reload_latency() {
  local table i0 i1 l0 l1 k0 k1 p50 p99 mx rps DDL_LOOP
  read -r p50 p99 mx rps <<<"$(wrk_latency)"
  printf 'latency without DDL (%ss, 4 connections): p50 %s ms, p99 %s ms, max %s ms, %s req/s\n' "$RELOAD_SECONDS" "$p50" "$p99" "$mx" "$rps"
  for table in "t$(( (TABLES + 1) / 2 ))" t1; do
    i0="$(metric $INTROSPECTIONS)"; l0="$(metric "$LOADS")"; k0="$(metric serendb_data_api_schema_cache_kept_total)"
    ( end=$(( $(date +%s) + RELOAD_SECONDS )); n=1000
      while [ "$(date +%s)" -lt "$end" ]; do
        n=$((n + 1)); psql_c "$PG_PORT" bench "ALTER TABLE $table ALTER COLUMN n SET DEFAULT $n"; sleep "$DDL_INTERVAL"
      done ) &
    DDL_LOOP=$!
    read -r p50 p99 mx rps <<<"$(wrk_latency)"
    wait "$DDL_LOOP"
    i1="$(metric $INTROSPECTIONS)"; l1="$(metric "$LOADS")"; k1="$(metric serendb_data_api_schema_cache_kept_total)"
    printf 'latency with DDL on %s every %ss (%s introspections, %s loads, %s requests planned with the kept cache): p50 %s ms, p99 %s ms, max %s ms (%sx p50; target <= 10x), %s req/s\n' \
      "$table" "$DDL_INTERVAL" "$(awk "BEGIN { print $i1 - $i0 }")" "$(awk "BEGIN { print $l1 - $l0 }")" \
      "$(awk "BEGIN { print $k1 - $k0 }")" "$p50" "$p99" "$mx" "$(awk "BEGIN { printf \"%.0f\", $mx / $p50 }")" "$rps"
  done
}

log "(b) $TABLES tables with foreign keys + $FUNCTIONS functions"
psql_c "$PG_PORT" bench "
  DO \$\$ BEGIN
    FOR i IN 1..$TABLES LOOP
      EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, parent int REFERENCES %s, name text, n int)',
                     i, CASE WHEN i = 1 THEN 'hot' ELSE 't' || (i - 1) END);
    END LOOP;
    FOR i IN 1..$FUNCTIONS LOOP
      EXECUTE format('CREATE FUNCTION f%s(a int, b text DEFAULT NULL) RETURNS int LANGUAGE sql AS ''SELECT a''', i);
    END LOOP;
  END \$\$"
measure_load "$TABLES tables with foreign keys + $FUNCTIONS functions"
log "(c) request latency on that schema, without and with DDL in a loop"
measure_reload_latency

log "(b) $BIG_TABLES tables"
psql_c "$PG_PORT" bench "
  DO \$\$ BEGIN
    FOR i IN 1..$BIG_TABLES LOOP
      EXECUTE format('CREATE TABLE big%s (id int PRIMARY KEY, name text, n int)', i);
    END LOOP;
  END \$\$"
measure_load "$(( TABLES + BIG_TABLES )) tables (+ $FUNCTIONS functions)"
printf 'machine load: %s\n' "$(uptime)"
