#!/usr/bin/env bash
# The notes demo in one command: starts the Data API (scripts/serve.sh: build, install, demo
# cluster), loads the notes schema, points the API at the demo identity provider, and serves the
# app. Prints the URL to open.
#
#   examples/notes/run.sh          start (or restart) everything
#   examples/notes/run.sh stop     stop the app and the demo cluster
#
# Environment: NOTES_PORT (default 8080), NOTES_AUTH (jwks | secret; default: jwks when the
# server has serendb_data_api.jwks_url, else secret), plus scripts/serve.sh's SERENDB_* variables
# (SERENDB_SKIP_BUILD=1 skips the build).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
. "$HERE/../../scripts/lib.sh"

HOME_DIR="${SERENDB_HOME:-/var/tmp/serendb_data_api}"
PID_FILE="$HOME_DIR/notes.pid"
NOTES_PORT="${NOTES_PORT:-8080}"

stop_app() {
  if [ -f "$PID_FILE" ]; then
    kill "$(cat "$PID_FILE")" 2>/dev/null || true
    rm -f "$PID_FILE"
  fi
}

if [ "${1:-}" = "stop" ]; then
  stop_app
  bash "$REPO_ROOT/scripts/serve.sh" stop
  exit 0
fi
[ $# -eq 0 ] || die "usage: $0 [stop]"

stop_app
bash "$REPO_ROOT/scripts/serve.sh" >/dev/null
read -r PG_PORT API_PORT <"$HOME_DIR/demo.ports"
psql_c "$PG_PORT" demo "$(cat "$HERE/schema.sql")"

HAS_JWKS="$(psql_c "$PG_PORT" demo \
  "SELECT count(*) FROM pg_settings WHERE name = 'serendb_data_api.jwks_url'" -t -A)"
AUTH="${NOTES_AUTH:-$([ "$HAS_JWKS" = "1" ] && echo jwks || echo secret)}"
JWKS_URL="http://127.0.0.1:$NOTES_PORT/.well-known/jwks.json"
case "$AUTH" in
  jwks)
    [ "$HAS_JWKS" = "1" ] || die "this build has no serendb_data_api.jwks_url: use NOTES_AUTH=secret"
    psql_c "$PG_PORT" postgres "ALTER SYSTEM SET serendb_data_api.jwks_url = '$JWKS_URL'"
    NOTES_JWT_SECRET="" ;;
  secret)
    [ "$HAS_JWKS" = "1" ] && psql_c "$PG_PORT" postgres "ALTER SYSTEM RESET serendb_data_api.jwks_url"
    NOTES_JWT_SECRET="$(cat "$HOME_DIR/demo.jwt_secret")" ;;
  *) die "NOTES_AUTH must be jwks or secret" ;;
esac
psql_c "$PG_PORT" postgres "SELECT pg_reload_conf()" >/dev/null

# postgrest-js for the page, from the lockfile (again only when the lockfile changed)
if ! [ "$HERE/node_modules/.package-lock.json" -nt "$HERE/package-lock.json" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi
log "starting the notes app on port $NOTES_PORT ($AUTH)"
NOTES_PORT="$NOTES_PORT" API_URL="http://127.0.0.1:$API_PORT" NOTES_HOME="$HOME_DIR/notes" \
  NOTES_JWT_SECRET="$NOTES_JWT_SECRET" \
  nohup node "$HERE/server.mjs" >"$HOME_DIR/notes.log" 2>&1 &
echo $! >"$PID_FILE"
wait_http "$NOTES_PORT" / 30 || { cat "$HOME_DIR/notes.log" >&2; die "the notes app did not come up"; }

cat <<MSG

The notes demo is running: open http://127.0.0.1:$NOTES_PORT/
  sign in as alice / alice-demo or bob / bob-demo (tokens: $AUTH$([ "$AUTH" = jwks ] && echo ", $JWKS_URL"))
  API:  http://127.0.0.1:$API_PORT (proxied at /api)
  log:  $HOME_DIR/notes.log
  stop: $0 stop
MSG
