"""The notes demo (examples/notes) end to end: a cluster with the example's schema, the example's
server (static app + dev identity provider + /api proxy), and headless Chromium driving it
(tests/clients/notes_e2e.test.mjs). Screenshots go to $NOTES_SCREENSHOTS (default: a temp dir,
printed).

Two ways the API can trust the identity provider: its JWKS URL (serendb_data_api.jwks_url, ES256
tokens: what production does) or the shared HS256 secret."""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from conftest import Cluster, free_port, wait_for
from test_clients import CLIENTS, npm_ci, run_suite

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "examples", "notes")


@pytest.fixture
def notes_cluster():
    c = Cluster(name="notes")
    try:
        c.start()
        with open(os.path.join(EXAMPLE, "schema.sql"), encoding="utf-8") as f:
            c.psql(f.read())
        tok = c.token()
        assert wait_for(lambda: c.http("GET", "/notes", token=tok).status == 200, timeout=60)
        yield c
    finally:
        c.destroy()


def start_notes_server(cluster, home, **env):
    """examples/notes/server.mjs on a free port, next to `cluster`'s API; returns (proc, url)."""
    npm_ci(EXAMPLE)
    port = free_port({cluster.api_port, cluster.pg_port})
    proc = subprocess.Popen(
        ["node", "server.mjs"], cwd=EXAMPLE,
        env=dict(os.environ, NOTES_PORT=str(port), API_URL=f"http://127.0.0.1:{cluster.api_port}",
                 NOTES_HOME=home, **env),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"

    def up():
        try:
            return urllib.request.urlopen(url, timeout=2).status == 200
        except OSError:
            return proc.poll() is not None  # exited: stop waiting, the assert below reports
    wait_for(up, timeout=30)
    assert proc.poll() is None, proc.stdout.read()
    return proc, url


def run_e2e(url, shots):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium not installed: run scripts/install-deps.sh")
    npm_ci(CLIENTS)
    env = dict(os.environ, NOTES_URL=url, CHROMIUM=chromium, SCREENSHOTS=shots)
    run_suite(["node", "--test", "--test-reporter=spec", "notes_e2e.test.mjs"], env, CLIENTS)
    print(f"screenshots: {shots}")
    assert sorted(os.listdir(shots)) == [
        "1-alice-shared-a-note.png", "2-bob-sees-the-shared-note.png",
        "3-alice-deleted-the-note.png", "4-bob-no-longer-sees-it.png"]


def screenshots_dir(mode):
    base = os.environ.get("NOTES_SCREENSHOTS") or tempfile.mkdtemp(prefix="notes-shots-")
    d = os.path.join(base, mode)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def test_notes_app_in_chromium_with_hs256_tokens(notes_cluster, tmp_path):
    proc, url = start_notes_server(notes_cluster, str(tmp_path), NOTES_JWT_SECRET=notes_cluster.secret)
    try:
        run_e2e(url, screenshots_dir("hs256"))
    finally:
        proc.terminate()
        proc.wait(10)


def test_notes_app_in_chromium_with_jwks(notes_cluster, tmp_path):
    proc, url = start_notes_server(notes_cluster, str(tmp_path))
    try:
        jwks = f"{url}.well-known/jwks.json"
        notes_cluster.psql(f"ALTER SYSTEM SET serendb_data_api.jwks_url = '{jwks}'")
        notes_cluster.psql("SELECT pg_reload_conf()")
        time.sleep(1.0)
        run_e2e(url, screenshots_dir("jwks"))
    finally:
        proc.terminate()
        proc.wait(10)


def test_run_script_starts_api_schema_idp_and_app():
    """examples/notes/run.sh, the README's one command (on the installed build): the printed URL
    serves the app, a demo user signs in, and the API accepts the identity provider's ES256
    token through jwks_url; `run.sh stop` stops both."""
    home = tempfile.mkdtemp(prefix="serendb-notes-", dir="/var/tmp")
    api_port = free_port()
    pg_port = free_port({api_port})
    notes_port = free_port({api_port, pg_port})
    env = dict(os.environ, SERENDB_HOME=home, SERENDB_API_PORT=str(api_port),
               SERENDB_PG_PORT=str(pg_port), SERENDB_SKIP_BUILD="1", NOTES_PORT=str(notes_port))
    run = os.path.join(EXAMPLE, "run.sh")
    try:
        r = subprocess.run(["bash", run], env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        url = f"http://127.0.0.1:{notes_port}/"
        assert f"open {url}" in r.stdout, r.stdout
        assert "tokens: jwks" in r.stdout, r.stdout
        assert b"<title>Notes" in urllib.request.urlopen(url, timeout=10).read()
        req = urllib.request.Request(f"{url}auth/sign-in", method="POST",
                                     data=json.dumps({"username": "bob", "password": "bob-demo"}).encode())
        token = json.load(urllib.request.urlopen(req, timeout=10))["access_token"]
        assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["alg"] == "ES256"
        req = urllib.request.Request(f"{url}api/notes?select=title,owner_id",
                                     headers={"Authorization": f"Bearer {token}"})
        assert wait_for(lambda: _status(req) == 200, timeout=30), _status(req)
    finally:
        subprocess.run(["bash", run, "stop"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(home, ignore_errors=True)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{notes_port}/", timeout=5)


def _status(req):
    try:
        return urllib.request.urlopen(req, timeout=10).status
    except urllib.error.HTTPError as e:
        return e.code
