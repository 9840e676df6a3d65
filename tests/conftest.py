"""Integration-test harness: real PostgreSQL 15 clusters with the installed serendb_data_api
extension, driven over real HTTP.

The session fixture `cluster` starts one throwaway cluster (2 workers, anon role `anonymous`,
the README's `posts` seed, the helper functions slow(s) and whoami()); `make_cluster` starts extra ones for tests that need other settings
or that stop the server. Every cluster lives in its own temp dir under /tmp and is stopped and
removed at the end, also when a test fails.

Runs as root (Postgres itself then runs as the `postgres` OS user) or as the cluster owner.
"""

import base64
import hashlib
import hmac
import http.client as httpclient
import json
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
PG_USER = os.environ.get("PG_USER", "postgres")
JWT_SECRET = "integration-tests-secret-0123456789-abcdefghij"
DEFAULT_DB = "app"

# The README's seed (posts + RLS policies), shared with scripts/serve.sh and bench/.
with open(os.path.join(os.path.dirname(__file__), "..", "scripts", "seed.sql")) as _f:
    SEED_SQL = _f.read()

# Functions several test files use: a sleeper (slow queries, shutdown) and the executing role.
HELPERS_SQL = """
CREATE FUNCTION slow(s float8) RETURNS float8 LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(s); RETURN s; END $$;
CREATE FUNCTION whoami() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_user::text $$;
"""


def _as_owner(cmd):
    """Postgres refuses to run as root: run cluster commands as the cluster owner."""
    if os.geteuid() == 0:
        return ["runuser", "-u", PG_USER, "--"] + cmd
    return cmd


def free_port(avoid=()):
    """A port below 32768 (outside the ephemeral range) that nothing listens on."""
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
        return p
    raise RuntimeError("no free port")


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def make_jwt(claims, secret=JWT_SECRET, header=None):
    """An HS256 JWT (stdlib only)."""
    head = b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    sig = b64url(hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def recv_until(sock, buf, done):
    """Read from `sock` onto `buf` until done(buf) or the peer closes; returns buf (callers
    check done(buf) again to tell the two apart)."""
    while not done(buf):
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body  # bytes

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return f"<Response {self.status} {self.text[:300]!r}>"


class Cluster:
    """One throwaway PG15 cluster with the extension preloaded."""

    def __init__(self, name="main", database=DEFAULT_DB, anon_role="anonymous", workers=2,
                 create_database=True, create_extension=True, seed=True, extra_conf=()):
        self.name = name
        self.database = database
        self.anon_role = anon_role
        self.workers = workers
        self.create_database = create_database
        self.create_extension = create_extension
        self.seed = seed
        self.extra_conf = list(extra_conf)
        self.secret = JWT_SECRET
        self.tmp = None
        self.started = False

    # ---- lifecycle --------------------------------------------------------------------

    def make_dirs(self):
        """A temp dir the cluster owner can write, with data/ and the log file inside."""
        self.tmp = tempfile.mkdtemp(prefix=f"serendb-test-{self.name}-", dir="/tmp")
        os.chmod(self.tmp, 0o755)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(PG_USER)
            os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
        self.data = os.path.join(self.tmp, "data")
        self.logfile = os.path.join(self.tmp, "postgres.log")

    def append_conf(self, lines):
        # Appended as the owner: the data dir is mode 700.
        subprocess.run(_as_owner(["tee", "-a", os.path.join(self.data, "postgresql.conf")]),
                       input="\n".join(lines) + "\n", text=True, check=True,
                       stdout=subprocess.DEVNULL)

    def pg_ctl_start(self, what="postgres"):
        r = subprocess.run(
            _as_owner([f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", self.logfile, "-w", "-t", "60",
                       "start"]), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{what} did not start:\n{r.stdout}{r.stderr}\n{self.log()}")
        self.started = True

    def start(self):
        self.make_dirs()
        self.pg_port = free_port()
        self.api_port = free_port({self.pg_port})
        subprocess.run(
            _as_owner([f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres", "-A", "trust",
                       "-E", "UTF8", "--no-locale", "--no-sync"]),
            check=True, capture_output=True)
        conf = [
            f"port = {self.pg_port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.tmp}'",
            "fsync = off",
            "synchronous_commit = off",
            "full_page_writes = off",
            "shared_preload_libraries = 'serendb_data_api'",
            f"serendb_data_api.database = '{self.database}'",
            "serendb_data_api.server_host = '127.0.0.1'",
            f"serendb_data_api.server_port = {self.api_port}",
            f"serendb_data_api.jwt_secret = '{self.secret}'",
            f"serendb_data_api.db_anon_role = '{self.anon_role}'",
            f"serendb_data_api.workers = {self.workers}",
        ] + self.extra_conf
        self.append_conf(conf)
        self.pg_ctl_start()
        if self.create_database:
            self.psql(f"CREATE DATABASE {self.database}", db="postgres")
            if self.create_extension:
                self.psql("CREATE EXTENSION serendb_data_api")
                if self.seed:
                    self.psql(SEED_SQL + HELPERS_SQL)
                self.wait_ready()
        return self

    def stop(self, mode="fast", timeout=60):
        if self.started:
            subprocess.run(
                _as_owner([f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", mode, "-w", "-t",
                           str(timeout), "stop"]), capture_output=True)
            self.started = False

    def destroy(self):
        self.stop()
        if self.tmp and not os.environ.get("KEEP_CLUSTERS"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- helpers ----------------------------------------------------------------------

    def log(self):
        try:
            with open(self.logfile, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def psql(self, sql, db=None, check=True):
        """Run SQL (one or more statements) as superuser; returns unaligned tuples-only output."""
        r = subprocess.run(
            _as_owner([f"{PG_BIN}/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                       "-h", self.tmp, "-p", str(self.pg_port), "-U", "postgres",
                       "-d", db or self.database, "-f", "-"]),
            input=sql, capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"psql failed: {r.stderr}\nSQL: {sql}")
        return r.stdout.strip()

    def jwt(self, claims):
        return make_jwt(claims, self.secret)

    def token(self, sub="user-1", role="authenticated", ttl=3600, **extra):
        claims = {"sub": sub, "exp": int(time.time()) + ttl, **extra}
        if role is not None:
            claims["role"] = role
        return self.jwt(claims)

    def connect(self, timeout=30):
        """A keep-alive connection to the API, for several requests in a row."""
        return httpclient.HTTPConnection("127.0.0.1", self.api_port, timeout=timeout)

    def http(self, method, path, headers=None, body=None, token=None, conn=None, timeout=30):
        """One request. body: dict/list (sent as JSON), str or bytes (sent as is).
        With conn, the request goes over that keep-alive connection."""
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        own = conn is None
        c = conn or self.connect(timeout)
        try:
            c.request(method, path, body=body, headers=hdrs)
            r = c.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            if own:
                c.close()

    def raw(self, data, timeout=10):
        """Send raw bytes on a fresh TCP connection; returns the status code of the answer
        (None when the server closed the connection without one)."""
        s = socket.create_connection(("127.0.0.1", self.api_port), timeout=timeout)
        try:
            s.sendall(data)
            buf = recv_until(s, b"", lambda b: b"\r\n" in b)
        finally:
            s.close()
        if not buf.startswith(b"HTTP/1."):
            return None
        return int(buf.split(b" ", 2)[1])

    def port_answers(self):
        """True when the API port accepts TCP connections."""
        try:
            socket.create_connection(("127.0.0.1", self.api_port), timeout=1).close()
            return True
        except OSError:
            return False

    def wait_ready(self, path="/", timeout=60):
        """Wait until the API answers `path` with something other than 503 (not ready)."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = self.http("GET", path, timeout=5)
                if last.status != 503:
                    return last
            except OSError as e:
                last = e
            time.sleep(0.1)
        raise RuntimeError(f"API on port {self.api_port} not ready after {timeout}s: {last!r}\n"
                           f"{self.log()[-3000:]}")

    def wait_status(self, path, status, token=None, timeout=10):
        """GET `path` until it answers `status` (changes reach the workers asynchronously);
        returns the last response, so callers assert on its status and body."""
        last = None
        deadline = time.time() + timeout
        while True:
            last = self.http("GET", path, token=token)
            if last.status == status or time.time() > deadline:
                return last
            time.sleep(0.1)

    def expect_status(self, path, status, token=None, timeout=10):
        """wait_status, and assert that `status` did come; returns that response."""
        r = self.wait_status(path, status, token=token, timeout=timeout)
        assert r.status == status, r
        return r

    def postmaster_start_time(self):
        return self.psql("SELECT pg_postmaster_start_time()", db="postgres")


def wait_for(pred, timeout=10, interval=0.1):
    """Poll pred() until it returns a truthy value; returns the last value."""
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() > deadline:
            return v
        time.sleep(interval)


@pytest.fixture(scope="session")
def cluster():
    c = Cluster()
    try:
        c.start()
        yield c
    finally:
        c.destroy()


@pytest.fixture
def make_cluster():
    """Factory for extra clusters (other settings, or tests that stop the server)."""
    made = []

    def make(**kw):
        c = Cluster(**kw)
        made.append(c)
        return c.start()

    yield make
    for c in made:
        c.destroy()


@pytest.fixture
def http(cluster):
    return cluster.http


@pytest.fixture
def jwt(cluster):
    return cluster.jwt


@pytest.fixture
def psql(cluster):
    return cluster.psql
