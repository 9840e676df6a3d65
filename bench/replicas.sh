#!/usr/bin/env bash
# Read throughput of the primary alone vs the primary plus a streaming hot standby
# (pg_basebackup -R) serving the same GET together. Starts and removes both clusters; the
# extension must be installed (scripts/build-install.sh).
#
# On one small machine both servers share the same cores, so the sum is not a speed-up: the
# figure shows the mechanism (a replica answers reads with no extra process), and a real
# gain needs the standby on its own machine.
#
# Environment: BENCH_DURATION (seconds per run, default 10), BENCH_CONNECTIONS (per server,
#              default 8), BENCH_THREADS (wrk threads, default 2), BENCH_WORKERS (executors per
#              server, default 2).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

DURATION="${BENCH_DURATION:-10}"
CONNS="${BENCH_CONNECTIONS:-8}"
THREADS="${BENCH_THREADS:-2}"
WORKERS="${BENCH_WORKERS:-2}"
command -v wrk >/dev/null || die "wrk is missing: run scripts/install-deps.sh"

P_DIR="$(pg_tmpdir serendb-bench-primary)"
S_DIR="$(pg_tmpdir serendb-bench-standby)"
PRIMARY="$P_DIR/data"
STANDBY="$S_DIR/data"
cleanup() {
  [ -f "$STANDBY/PG_VERSION" ] && cluster_stop "$STANDBY"
  [ -f "$PRIMARY/PG_VERSION" ] && cluster_stop "$PRIMARY"
  rm -rf "$P_DIR" "$S_DIR"
}
trap cleanup EXIT INT TERM

P_PORT="$(free_port)"
P_API="$(free_port "$P_PORT")"
S_PORT="$(free_port "$P_API")"
S_API="$(free_port "$S_PORT")"
SECRET="$(gen_secret)"
CONF=("serendb_data_api.workers = $WORKERS" "max_connections = 200" "synchronous_commit = off")

cluster_init "$PRIMARY"
cluster_configure "$PRIMARY" "$P_PORT" "$P_API" bench "$SECRET" "" "${CONF[@]}"
cluster_start "$PRIMARY" "$P_DIR/postgres.log"
psql_c "$P_PORT" postgres "CREATE DATABASE bench"
psql_c "$P_PORT" bench "CREATE EXTENSION serendb_data_api"
psql_c "$P_PORT" bench "$SEED_SQL"
psql_c "$P_PORT" bench "INSERT INTO posts (\"userId\", content)
  SELECT 'user-bench', 'post ' || g FROM generate_series(1, 1000) g"
psql_c "$P_PORT" bench "VACUUM ANALYZE posts"
wait_http "$P_API" /posts 60

log "cloning the standby (pg_basebackup -R)"
# (it warns that it skips the API's Unix socket in the data directory: expected)
out="$(as_pg "$PG_BIN/pg_basebackup" -D "$STANDBY" -h 127.0.0.1 -p "$P_PORT" -U postgres -R \
  -X stream -c fast --no-sync 2>&1)" || { printf '%s\n' "$out" >&2; die "pg_basebackup failed"; }
cluster_configure "$STANDBY" "$S_PORT" "$S_API" bench "$SECRET" "" "${CONF[@]}"
cluster_start "$STANDBY" "$S_DIR/postgres.log"
wait_http "$S_API" /posts 60
[ "$(psql_c "$S_PORT" bench "SELECT pg_is_in_recovery()" -At)" = "t" ] || die "not a standby"

TOKEN="$(mint_jwt "$SECRET" "{\"sub\":\"user-bench\",\"role\":\"authenticated\",\"exp\":$(( $(date +%s) + 3600 ))}")"
TARGET="/posts?id=eq.42"

wrk_rps() {  # port
  local out
  out="$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$1$TARGET")"
  if grep -q 'Non-2xx' <<<"$out"; then printf '%s\n' "$out" >&2; die "wrk saw error responses"; fi
  awk '/^Requests\/sec:/ {print $2}' <<<"$out"
}

log "GET $TARGET: ${DURATION}s, $CONNS connections per server, $WORKERS executors per server"
alone="$(wrk_rps "$P_API")"
wrk_rps "$P_API" >"$P_DIR/rps" &
wrk_rps "$S_API" >"$S_DIR/rps"
wait
p="$(cat "$P_DIR/rps")"
s="$(cat "$S_DIR/rps")"
printf '\n%-36s %12s\n' "GET one post by primary key" "req/s"
printf '%-36s %12.0f\n' "primary alone" "$alone"
printf '%-36s %12.0f\n' "primary + standby: primary" "$p"
printf '%-36s %12.0f\n' "primary + standby: standby" "$s"
printf '%-36s %12.0f\n' "primary + standby: total" "$(awk -v a="$p" -v b="$s" 'BEGIN {print a + b}')"
echo "(both servers share this machine's cores: the total shows the mechanism, not a speed-up)"
