# shellcheck shell=bash
# Shared shell helpers for scripts/ and bench/: privilege handling, the Postgres binaries, free
# ports, and a throwaway or persistent cluster owned by the `postgres` OS user with the extension
# preloaded. Source it; it defines functions and variables only.

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_CONFIG="${PG_CONFIG:-$PG_BIN/pg_config}"
PG_USER="${PG_USER:-postgres}"
# Debian's python3 gets pytest/yaml from apt; a python3 earlier on PATH (pyenv, venv) may not.
if [ -z "${PYTHON:-}" ]; then
  if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
# cargo from rustup lives in ~/.cargo/bin, which a non-login shell (CI, sudo) may not have.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, else through sudo (keeping PATH so that
# cargo and the rust toolchain of the calling user are found).
as_root() {
  if [ "$(id -u)" = "0" ]; then
    "$@"
  else
    command -v sudo >/dev/null 2>&1 || die "need root or sudo to run: $*"
    sudo env "PATH=$PATH" "$@"
  fi
}

# Run a command as the cluster owner: Postgres refuses to run as root.
as_pg() {
  if [ "$(id -un)" = "$PG_USER" ]; then
    "$@"
  elif [ "$(id -u)" = "0" ]; then
    runuser -u "$PG_USER" -- "$@"
  else
    sudo -u "$PG_USER" -- "$@"
  fi
}

# A TCP port below 32768 (outside the ephemeral range, so no client socket can hold it) that
# nothing listens on right now.
free_port() {
  "$PYTHON" - "$@" <<'PY'
import random, socket, sys
avoid = {int(a) for a in sys.argv[1:]}
for _ in range(1000):
    p = random.randint(20000, 32000)
    if p in avoid:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    sys.exit(0)
sys.exit("no free port")
PY
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  "$PYTHON" - "$1" <<'PY' 2>/dev/null
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5).close()
PY
}

# Wait until GET http://127.0.0.1:$1$2 answers with any HTTP status other than 503 (the API
# answers 503 while its database or extension is missing). $3: timeout in seconds.
wait_http() {
  "$PYTHON" - "$1" "$2" "${3:-60}" <<'PY'
import http.client, sys, time
port, path, timeout = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
deadline = time.time() + timeout
last = "no answer"
while time.time() < deadline:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        c.close()
        if r.status != 503:
            sys.exit(0)
        last = "HTTP 503"
    except OSError as e:
        last = str(e)
    time.sleep(0.2)
sys.exit("API on port %d did not answer %s within %ss (%s)" % (port, path, timeout, last))
PY
}

# Print an HS256 JWT for the JSON claims $2 signed with secret $1 (stdlib only).
mint_jwt() {
  "$PYTHON" - "$1" "$2" <<'PY'
import base64, hashlib, hmac, json, sys
secret, claims = sys.argv[1].encode(), json.loads(sys.argv[2])
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
body = b64(json.dumps(claims, separators=(",", ":")).encode())
sig = b64(hmac.new(secret, ("%s.%s" % (head, body)).encode(), hashlib.sha256).digest())
print("%s.%s.%s" % (head, body, sig))
PY
}

# A random secret of 48 URL-safe characters.
gen_secret() {
  "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(36))'
}

# The README's seed (posts + RLS policies), idempotent.
# shellcheck disable=SC2034 # used by the scripts that source this file
SEED_SQL="$(cat "$REPO_ROOT/scripts/seed.sql")"

# A fresh directory under /tmp (prefix $1) that the cluster owner can write: clusters, their
# logs and sockets live in it.
pg_tmpdir() {
  local dir
  dir="$(mktemp -d "/tmp/$1.XXXXXX")"
  chmod 755 "$dir"
  if [ "$(id -u)" = "0" ]; then chown "$PG_USER" "$dir"; fi
  printf '%s\n' "$dir"
}

# cluster_init DIR: initdb DIR as the cluster owner (DIR's parents must be traversable by it)
# and make postgresql.conf include serendb_data_api.conf, which cluster_configure (re)writes.
cluster_init() {
  local dir="$1" out
  out="$(as_pg "$PG_BIN/initdb" -D "$dir" -U postgres -A trust -E UTF8 --no-locale --no-sync 2>&1)" ||
    { printf '%s\n' "$out" >&2; die "initdb $dir failed"; }
  echo "include_if_exists = 'serendb_data_api.conf'" | as_pg tee -a "$dir/postgresql.conf" >/dev/null
}

# cluster_configure DIR PG_PORT API_PORT DATABASE SECRET ANON_ROLE [EXTRA_CONF_LINE...]
# The sockets go into DIR's parent directory.
cluster_configure() {
  local dir="$1" pgport="$2" apiport="$3" db="$4" secret="$5" anon="$6" l
  shift 6
  {
    echo "# written by scripts/lib.sh cluster_configure"
    echo "port = $pgport"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$(dirname "$dir")'"
    echo "shared_preload_libraries = 'serendb_data_api'"
    echo "serendb_data_api.database = '$db'"
    echo "serendb_data_api.server_host = '127.0.0.1'"
    echo "serendb_data_api.server_port = $apiport"
    echo "serendb_data_api.jwt_secret = '$secret'"
    echo "serendb_data_api.db_anon_role = '$anon'"
    for l in "$@"; do echo "$l"; done
  } | as_pg tee "$dir/serendb_data_api.conf" >/dev/null
}

# cluster_start DIR LOGFILE
cluster_start() {
  as_pg "$PG_BIN/pg_ctl" -D "$1" -l "$2" -w -t 60 start >/dev/null || {
    tail -n 40 "$2" >&2; die "postgres failed to start (log: $2)"; }
}

# cluster_running DIR
cluster_running() {
  as_pg "$PG_BIN/pg_ctl" -D "$1" status >/dev/null 2>&1
}

# cluster_stop DIR
cluster_stop() {
  as_pg "$PG_BIN/pg_ctl" -D "$1" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# psql_c PGPORT DB SQL [PSQL_ARGS...]: run SQL as the superuser over TCP, stop on the first error.
psql_c() {
  PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres -d "$2" "${@:4}" -c "$3"
}

# bench_cluster DIR LOGFILE [EXTRA_CONF_LINE...]: a started cluster serving the database `bench`
# (scripts/seed.sql + bench/workload.sql, analyzed) on fresh ports, the API answering; sets
# PG_PORT, API_PORT and SECRET. The caller stops it (cluster_stop DIR).
bench_cluster() {
  local dir="$1" logfile="$2"
  shift 2
  PG_PORT="$(free_port)"
  API_PORT="$(free_port "$PG_PORT")"
  SECRET="$(gen_secret)"
  cluster_init "$dir"
  cluster_configure "$dir" "$PG_PORT" "$API_PORT" bench "$SECRET" "" "$@"
  cluster_start "$dir" "$logfile"
  psql_c "$PG_PORT" postgres "CREATE DATABASE bench"
  psql_c "$PG_PORT" bench "CREATE EXTENSION serendb_data_api"
  psql_c "$PG_PORT" bench "$SEED_SQL"
  psql_c "$PG_PORT" bench "$(cat "$REPO_ROOT/bench/workload.sql")"
  psql_c "$PG_PORT" bench "VACUUM ANALYZE posts, authors, books, bench_items"
  wait_http "$API_PORT" /posts 60
}
