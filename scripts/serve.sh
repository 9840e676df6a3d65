#!/usr/bin/env bash
# Build, install and serve serendb_data_api with the README's seed (a `posts` table with RLS).
#
#   scripts/serve.sh          install deps, build + install, (re)start the demo cluster, print a JWT
#   scripts/serve.sh stop     stop the demo cluster
#
# Environment: SERENDB_HOME (default /var/tmp/serendb_data_api), SERENDB_API_PORT (default 3000),
#              SERENDB_PG_PORT (default 5433, or a free port when 5433 is taken),
#              SERENDB_SKIP_BUILD=1 (skip deps + build + install). Re-running restarts the
#              existing cluster on the ports of the previous run unless these say otherwise.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HOME_DIR="${SERENDB_HOME:-/var/tmp/serendb_data_api}"
DATA="$HOME_DIR/demo"
LOGFILE="$HOME_DIR/demo.log"
SECRET_FILE="$HOME_DIR/demo.jwt_secret"
PORTS_FILE="$HOME_DIR/demo.ports"
DB=demo

if [ "${1:-}" = "stop" ]; then
  if [ -f "$DATA/PG_VERSION" ] && cluster_running "$DATA"; then
    cluster_stop "$DATA"
    log "stopped the demo cluster ($DATA)"
  else
    log "the demo cluster is not running"
  fi
  exit 0
elif [ -n "${1:-}" ]; then
  die "usage: $0 [stop]"
fi

if [ "${SERENDB_SKIP_BUILD:-0}" != "1" ]; then
  bash "$REPO_ROOT/scripts/install-deps.sh"
  bash "$REPO_ROOT/scripts/build-install.sh"
fi

# The data dir lives in a directory owned by the cluster owner; the secret is readable only by
# whoever runs this script.
as_root mkdir -p "$HOME_DIR"
as_root chown "$PG_USER" "$HOME_DIR"
as_root chmod 755 "$HOME_DIR"
if [ ! -s "$SECRET_FILE" ] || ! cat "$SECRET_FILE" >/dev/null 2>&1; then
  gen_secret | as_root tee "$SECRET_FILE" >/dev/null
  as_root chown "$(id -u)" "$SECRET_FILE"
  as_root chmod 600 "$SECRET_FILE"
fi
SECRET="$(cat "$SECRET_FILE")"

if [ -f "$DATA/PG_VERSION" ] && cluster_running "$DATA"; then
  log "restarting the existing demo cluster"
  cluster_stop "$DATA"
fi

# Ports: the environment wins, then what the previous run used, then the defaults.
OLD_PG_PORT="" OLD_API_PORT=""
if [ -f "$PORTS_FILE" ]; then read -r OLD_PG_PORT OLD_API_PORT <"$PORTS_FILE" || true; fi
API_PORT="${SERENDB_API_PORT:-${OLD_API_PORT:-3000}}"
port_open "$API_PORT" && die "port $API_PORT is in use: set SERENDB_API_PORT to a free port"
PG_PORT="${SERENDB_PG_PORT:-${OLD_PG_PORT:-5433}}"
if port_open "$PG_PORT"; then
  [ -n "${SERENDB_PG_PORT:-}" ] && die "port $PG_PORT is in use (SERENDB_PG_PORT)"
  PG_PORT="$(free_port "$API_PORT")"
fi
echo "$PG_PORT $API_PORT" | as_root tee "$PORTS_FILE" >/dev/null

if [ ! -f "$DATA/PG_VERSION" ]; then
  log "initdb $DATA"
  cluster_init "$DATA"
fi
cluster_configure "$DATA" "$PG_PORT" "$API_PORT" "$DB" "$SECRET" ""
as_pg touch "$LOGFILE" 2>/dev/null || { as_root touch "$LOGFILE"; as_root chown "$PG_USER" "$LOGFILE"; }
log "starting postgres on port $PG_PORT (log: $LOGFILE)"
cluster_start "$DATA" "$LOGFILE"

if [ -z "$(psql_c "$PG_PORT" postgres "SELECT 1 FROM pg_database WHERE datname = '$DB'" -t -A 2>/dev/null || true)" ]; then
  psql_c "$PG_PORT" postgres "CREATE DATABASE $DB"
fi
psql_c "$PG_PORT" "$DB" "CREATE EXTENSION IF NOT EXISTS serendb_data_api"
# Seed a new database only: a re-run keeps whatever the user changed since.
if [ "$(psql_c "$PG_PORT" "$DB" "SELECT to_regclass('public.posts') IS NULL" -t -A)" = "t" ]; then
  psql_c "$PG_PORT" "$DB" "$SEED_SQL"
fi

log "waiting for the API on port $API_PORT"
wait_http "$API_PORT" /posts 60 || { tail -n 30 "$LOGFILE" >&2; die "the API did not come up"; }

EXP=$(( $(date +%s) + 86400 ))
TOKEN="$(mint_jwt "$SECRET" "{\"sub\":\"user-1\",\"role\":\"authenticated\",\"exp\":$EXP}")"
URL="http://127.0.0.1:$API_PORT"
cat <<MSG

serendb_data_api is serving database '$DB' at $URL
  postgres:   psql -h 127.0.0.1 -p $PG_PORT -U postgres $DB
  JWT secret: $SECRET_FILE
  log:        $LOGFILE
  stop:       $0 stop

A JWT for user-1 (role authenticated, valid for 24 hours):
export TOKEN=$TOKEN

curl -s -X POST $URL/posts -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' -H 'Prefer: return=representation' -d '{"content":"hello"}'
curl -s $URL/posts -H "Authorization: Bearer \$TOKEN"
MSG
