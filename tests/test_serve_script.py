"""scripts/serve.sh, the README's main command: starts a seeded demo, prints a working JWT,
restarts on a re-run keeping the data, and stops."""

import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import Response, free_port

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def request(port, method, path, token=None, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "Prefer": "return=representation"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers=headers)
        r = c.getresponse()
        return Response(r.status, r.getheaders(), r.read())
    finally:
        c.close()


@pytest.fixture
def serve_env():
    home = tempfile.mkdtemp(prefix="serendb-serve-", dir="/var/tmp")
    api_port = free_port()
    env = dict(os.environ, SERENDB_HOME=home, SERENDB_API_PORT=str(api_port),
               SERENDB_PG_PORT=str(free_port({api_port})), SERENDB_SKIP_BUILD="1")
    yield env, api_port
    subprocess.run(["bash", f"{REPO}/scripts/serve.sh", "stop"], env=env, capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


def run_serve(env, *args):
    r = subprocess.run(["bash", f"{REPO}/scripts/serve.sh", *args], env=env,
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout, r.stderr


def test_serve_start_rerun_stop(serve_env):
    env, port = serve_env
    out, _ = run_serve(env)
    assert f"http://127.0.0.1:{port}" in out
    token = re.search(r"^export TOKEN=(\S+)$", out, re.M).group(1)
    assert "curl" in out

    # The seed and the printed JWT work together; no JWT is 401 (no anon role).
    r = request(port, "POST", "/posts", token, {"content": "from the README"})
    assert r.status == 201, r
    post = r.json()[0]
    assert post["userId"] == "user-1"
    assert request(port, "GET", "/posts").status == 401

    # A re-run restarts the same cluster: the data and the secret survive.
    _, log2 = run_serve(env)
    assert "restarting the existing demo cluster" in log2
    r = request(port, "GET", f"/posts?id=eq.{post['id']}", token)
    assert r.status == 200 and r.json() == [post], r

    run_serve(env, "stop")
    with pytest.raises(OSError):
        request(port, "GET", "/posts", token)
