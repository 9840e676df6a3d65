"""Real client libraries against the server: postgrest-js (the query builder inside supabase-js),
installed from npm into a cache directory on first use."""

import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.environ.get("SERENDB_NODE_CACHE", "/tmp/serendb-node-clients")


@pytest.fixture(scope="module")
def postgrest_js():
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed")
    os.makedirs(NODE_DIR, exist_ok=True)
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "@supabase", "postgrest-js")):
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", NODE_DIR,
                        "@supabase/postgrest-js@1"], check=True, timeout=300)
    return NODE_DIR


def test_postgrest_js_crud_rls_filters_csv_count(cluster, postgrest_js):
    script = os.path.join(postgrest_js, "postgrest_js.mjs")
    shutil.copy(os.path.join(HERE, "clients", "postgrest_js.mjs"), script)
    env = dict(os.environ, API_URL=f"http://127.0.0.1:{cluster.api_port}", TOKEN=cluster.token())
    r = subprocess.run(["node", script], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "all checks passed" in r.stdout
