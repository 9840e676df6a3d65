#!/usr/bin/env bash
# Loopback benchmark: the API under wrk against pgbench running the same SQL transaction (as the
# API does per request: BEGIN; SET LOCAL ROLE; request.jwt.claims; the query; COMMIT) at the same
# concurrency. Starts and removes its own cluster; the extension must be installed
# (scripts/build-install.sh).
#
# Environment: BENCH_DURATION (seconds per run, default 10), BENCH_CONNECTIONS (default 8),
#              BENCH_THREADS (wrk/pgbench threads, default 2), BENCH_WORKERS (executors, default 2).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

DURATION="${BENCH_DURATION:-10}"
CONNS="${BENCH_CONNECTIONS:-8}"
THREADS="${BENCH_THREADS:-2}"
WORKERS="${BENCH_WORKERS:-2}"
command -v wrk >/dev/null || die "wrk is missing: run scripts/install-deps.sh"
command -v "$PG_BIN/pgbench" >/dev/null || die "pgbench is missing ($PG_BIN/pgbench)"

TMP="$(mktemp -d /tmp/serendb-bench.XXXXXX)"
chmod 755 "$TMP"
[ "$(id -u)" = "0" ] && chown "$PG_USER" "$TMP"
DATA="$TMP/data"
LOGFILE="$TMP/postgres.log"
cleanup() {
  [ -f "$DATA/PG_VERSION" ] && cluster_stop "$DATA"
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

PG_PORT="$(free_port)"
API_PORT="$(free_port "$PG_PORT")"
SECRET="$(gen_secret)"
cluster_init "$DATA"
cluster_configure "$DATA" "$PG_PORT" "$API_PORT" bench "$SECRET" "" \
  "serendb_data_api.workers = $WORKERS" "max_connections = 200" "synchronous_commit = off"
cluster_start "$DATA" "$LOGFILE"
psql_c "$PG_PORT" postgres "CREATE DATABASE bench"
psql_c "$PG_PORT" bench "CREATE EXTENSION serendb_data_api"
psql_c "$PG_PORT" bench "$SEED_SQL"
psql_c "$PG_PORT" bench "INSERT INTO posts (\"userId\", content)
  SELECT 'user-bench', 'post ' || g FROM generate_series(1, 1000) g"
psql_c "$PG_PORT" bench "VACUUM ANALYZE posts"
wait_http "$API_PORT" /posts 60

CLAIMS='{"sub":"user-bench","role":"authenticated"}'
TOKEN="$(mint_jwt "$SECRET" "{\"sub\":\"user-bench\",\"role\":\"authenticated\",\"exp\":$(( $(date +%s) + 3600 ))}")"
URL="http://127.0.0.1:$API_PORT"

# Sanity: both requests succeed before we measure them.
"$PYTHON" - "$API_PORT" "$TOKEN" <<'PY'
import http.client, json, sys
port, token = int(sys.argv[1]), sys.argv[2]
h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
for method, path, body, want in [("GET", "/posts?id=eq.42", None, 200),
                                 ("POST", "/posts", json.dumps({"content": "bench"}), 201)]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    if r.status != want:
        sys.exit(f"{method} {path}: HTTP {r.status} {data[:300]!r} (expected {want})")
PY

cat >"$TMP/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"content":"bench"}'
wrk.headers["Content-Type"] = "application/json"
LUA

# The transaction the executor runs per request, statement for statement (captured with
# auto_explain.log_nested_statements from the executors; update it when the generated SQL
# changes): the role/settings statement, then the planned statement (pgbench -M prepared
# sends :id as a bind parameter, as the executor does). The executor also checks that the role
# is granted to the authenticator, which pgbench does not.
settings_sql() {  # method
  echo "SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claims', '$CLAIMS', true), set_config('request.method', '$1', true), set_config('request.path', '/posts', true), set_config('request.headers', '{}', true), set_config('search_path', 'public', true);"
}
cat >"$TMP/get.sql" <<SQL
\set id 42
BEGIN;
$(settings_sql GET)
SELECT NULL::bigint AS total_result_set, _pgrst_b.page_total, _pgrst_b.body, nullif(pg_catalog.current_setting('response.headers', true), '') AS response_headers, nullif(pg_catalog.current_setting('response.status', true), '') AS response_status, NULL::text AS location FROM (SELECT pg_catalog.count(*) AS page_total, coalesce(pg_catalog.json_agg(_postgrest_t), '[]')::text AS body FROM (SELECT "posts".* FROM "public"."posts" AS "posts" WHERE "posts"."id" = :id::bigint) AS _postgrest_t) AS _pgrst_b;
COMMIT;
SQL
cat >"$TMP/post.sql" <<SQL
BEGIN;
$(settings_sql POST)
WITH pgrst_source AS (INSERT INTO "public"."posts" ("content") SELECT pgrst_body."content" FROM (SELECT '{"content":"bench"}'::json AS json_data) pgrst_payload, LATERAL (SELECT "content" FROM json_to_record(pgrst_payload.json_data) AS _("content" text)) pgrst_body RETURNING 1) SELECT NULL::bigint AS total_result_set, pg_catalog.count(*) AS page_total, NULL::text AS body, nullif(current_setting('response.headers', true), '') AS response_headers, nullif(current_setting('response.status', true), '') AS response_status, NULL::text AS location FROM pgrst_source;
COMMIT;
SQL

run_wrk() {  # name, extra wrk args...
  local out
  out="$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -H "Authorization: Bearer $TOKEN" "$@")"
  if grep -q 'Non-2xx' <<<"$out"; then
    printf '%s\n' "$out" >&2
    die "wrk saw error responses"
  fi
  awk '/^Requests\/sec:/ {print $2}' <<<"$out"
}
run_pgbench() {  # sql file
  local out
  out="$("$PG_BIN/pgbench" -n -h 127.0.0.1 -p "$PG_PORT" -U postgres -M prepared -c "$CONNS" \
    -j "$THREADS" -T "$DURATION" -f "$1" bench 2>&1)" || { printf '%s\n' "$out" >&2; die "pgbench failed"; }
  awk '/^tps = / {print $3; exit}' <<<"$out"
}

log "benchmarking: ${DURATION}s per run, $CONNS connections, $THREADS threads, $WORKERS API workers"
GET_RPS="$(run_wrk "$URL/posts?id=eq.42")"
GET_TPS="$(run_pgbench "$TMP/get.sql")"
POST_RPS="$(run_wrk -s "$TMP/post.lua" "$URL/posts")"
POST_TPS="$(run_pgbench "$TMP/post.sql")"

printf '\n%-28s %12s %12s %8s\n' "request" "API req/s" "pgbench tps" "ratio"
for row in "GET /posts?id=eq.42|$GET_RPS|$GET_TPS" "POST /posts|$POST_RPS|$POST_TPS"; do
  IFS='|' read -r name rps tps <<<"$row"
  ratio="$(awk -v a="$rps" -v b="$tps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')"
  printf '%-28s %12.0f %12.0f %8s\n' "$name" "$rps" "$tps" "$ratio"
done
