"""Real client libraries against the server, on tests/fixtures/clients_schema.sql in a cluster of
their own: postgrest-js and supabase-js (Node's test runner, tests/clients/*.test.mjs, installed
with `npm ci` from tests/clients/package-lock.json) and postgrest-py, sync and async (pytest in a
venv, tests/clients/postgrest_py_suite.py: not named test_*.py, so only that run collects it;
installed from tests/clients/requirements.txt).

Each suite reports its own tests; a failure here prints the suite's output."""

import hashlib
import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import Cluster, make_jwt, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENTS = os.path.join(HERE, "clients")
FIXTURE = os.path.join(HERE, "fixtures", "clients_schema.sql")
VENV = os.path.join(CLIENTS, ".venv")


def _stamp(path, stamp_file):
    """True when `stamp_file` records the hash of `path`: the install is current."""
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    try:
        current = open(stamp_file).read() == digest
    except OSError:
        current = False
    return current, digest


def npm_ci(directory):
    """`npm ci` from the committed lockfile (once per lockfile change)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node/npm not installed: run scripts/install-deps.sh")
    stamp = os.path.join(directory, "node_modules", ".lock-sha256")
    current, digest = _stamp(os.path.join(directory, "package-lock.json"), stamp)
    if not current:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=directory,
                       check=True, timeout=600)
        with open(stamp, "w") as f:
            f.write(digest)


def python_venv():
    """tests/clients/.venv with the pinned postgrest-py (Debian's python is externally managed)."""
    py = os.path.join(VENV, "bin", "python")
    stamp = os.path.join(VENV, ".requirements-sha256")
    req = os.path.join(CLIENTS, "requirements.txt")
    current, digest = _stamp(req, stamp)
    if not current or not os.path.exists(py):
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True, timeout=300)
        subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "--no-deps", "-r", req], check=True, timeout=600)
        with open(stamp, "w") as f:
            f.write(digest)
    return py


@pytest.fixture(scope="module")
def clients_cluster():
    c = Cluster(name="clients", extra_conf=[
        "serendb_data_api.db_aggregates_enabled = on",
        "serendb_data_api.db_plan_enabled = on",
    ])
    try:
        c.start()
        with open(FIXTURE, encoding="utf-8") as f:
            c.psql(f.read())
        c.psql("ANALYZE")
        tok = c.token(sub="alice")
        assert wait_for(lambda: c.http("GET", "/cities?limit=1", token=tok).status == 200, timeout=60), \
            c.http("GET", "/cities?limit=1", token=tok)
        yield c
    finally:
        c.destroy()


def client_env(c):
    exp = int(time.time()) + 3600
    return dict(
        os.environ,
        API_URL=f"http://127.0.0.1:{c.api_port}",
        TOKEN_ALICE=c.token(sub="alice"),
        TOKEN_BOB=c.token(sub="bob"),
        TOKEN_ANON=c.jwt({"role": c.anon_role, "exp": exp}),
        TOKEN_BAD_SIGNATURE=make_jwt({"sub": "alice", "role": "authenticated", "exp": exp},
                                     secret="not-the-secret-not-the-secret-not-the-secret"),
    )


def run_suite(cmd, env, cwd):
    r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    print(out)
    assert r.returncode == 0, out[-20000:]
    return out


def node_flags():
    """supabase-js's realtime client needs a global WebSocket: Node 22 has one, Node 20 behind a
    flag."""
    major = int(subprocess.run(["node", "--version"], capture_output=True, text=True,
                               check=True).stdout.strip().lstrip("v").split(".")[0])
    return ["--experimental-websocket"] if major < 22 else []


@pytest.mark.parametrize("suite", ["postgrest_js.test.mjs", "supabase_js.test.mjs"])
def test_node_client_suite(clients_cluster, suite):
    npm_ci(CLIENTS)
    out = run_suite(["node", *node_flags(), "--test", "--test-concurrency=1", "--test-reporter=spec",
                     suite], client_env(clients_cluster), CLIENTS)
    assert "ℹ fail 0" in out, out[-5000:]


def test_postgrest_py_sync_and_async(clients_cluster):
    py = python_venv()
    out = run_suite([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rxX", "--confcutdir=.", "postgrest_py_suite.py"],
                    client_env(clients_cluster), CLIENTS)
    assert " passed" in out
