#!/usr/bin/env bash
# Schema cache at scale (issue 9): (a) how many schema-cache reloads a write load causes with
# autovacuum on and no DDL at all (pgbench UPDATEs on one table while API requests run; counted
# by pgrst_schema_cache_loads_total on the admin server; target 0), (b) the load time of a cache
# of N tables with foreign keys + M functions, and of a big schema of L plain tables (targets:
# 1,000 + 500 < 200 ms, 10,000 < 2 s), with the cost of the catalog fingerprint check that
# decides whether an invalidation reloads. Starts and removes its own cluster; the extension
# must be installed.
#
# Environment: SC_LOAD_SECONDS (write load, default 60), SC_TABLES (default 1000),
#              SC_FUNCTIONS (default 500), SC_BIG_TABLES (default 10000).
# A smoke run: SC_LOAD_SECONDS=5 SC_TABLES=100 SC_FUNCTIONS=50 SC_BIG_TABLES=500 bench/schema_cache.sh
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

LOAD_SECONDS="${SC_LOAD_SECONDS:-60}"
TABLES="${SC_TABLES:-1000}"
FUNCTIONS="${SC_FUNCTIONS:-500}"
BIG_TABLES="${SC_BIG_TABLES:-10000}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v "$PG_BIN/pgbench" >/dev/null || die "pgbench is missing ($PG_BIN/pgbench)"

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
  "serendb_data_api.workers = 2" "serendb_data_api.admin_server_port = $ADMIN_PORT" \
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
[ "$(metric "$LOADS")" = 2 ] || log "warning: $(metric "$LOADS") loads after warm-up (2 executors)"

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
printf 'reloads during write load: %s (target 0); autovacuum+autoanalyze runs on the table: %s; pgbench %s; failed API requests: %s\n' \
  "$(( ${after%.*} - ${before%.*} ))" "$(( vac_after - vac_before ))" "$tps" "$bad"

# Forces a reload on every executor and reports the last load time and the fingerprint check.
measure_load() {  # label
  local t fp
  psql_c "$PG_PORT" bench "NOTIFY pgrst, 'reload schema'"
  sleep 1
  for _ in 1 2 3 4; do wait_http "$API_PORT" /hot 120 >/dev/null; done
  t="$(metric pgrst_schema_cache_query_time_seconds)"
  fp="$(PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d bench \
    -c '\timing on' -f "$HERE/../src/schema_cache/fingerprint.sql" | grep -oE 'Time: [0-9.]+ ms' | tail -1)"
  printf '%s: load %s ms (last load, metric); fingerprint check %s\n' "$1" "$(awk "BEGIN { printf \"%.0f\", $t * 1000 }")" "${fp#Time: }"
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

log "(b) $BIG_TABLES tables"
psql_c "$PG_PORT" bench "
  DO \$\$ BEGIN
    FOR i IN 1..$BIG_TABLES LOOP
      EXECUTE format('CREATE TABLE big%s (id int PRIMARY KEY, name text, n int)', i);
    END LOOP;
  END \$\$"
measure_load "$(( TABLES + BIG_TABLES )) tables (+ $FUNCTIONS functions)"
printf 'machine load: %s\n' "$(uptime)"
