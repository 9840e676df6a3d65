"""Requests wait in one queue for a free executor, at most db_pool_acquisition_timeout seconds
(PostgREST's db-pool-acquisition-timeout): then 504 PGRST003, and the request never runs."""

import threading
import time

from conftest import wait_for


def test_queue_timeout_answers_504_and_the_request_never_runs(make_cluster):
    c = make_cluster(name="queue", workers=1,
                     extra_conf=("serendb_data_api.db_pool_acquisition_timeout = 1",))
    t = c.token()
    out = {}
    th = threading.Thread(
        target=lambda: out.setdefault("slow", c.http("GET", "/rpc/slow?s=3", token=t, timeout=30)))
    th.start()
    time.sleep(0.5)  # the only executor is busy now

    t0 = time.time()
    r = c.http("POST", "/posts", None, {"content": "queued too long"}, token=t, timeout=30)
    waited = time.time() - t0
    assert r.status == 504, r
    assert r.json()["code"] == "PGRST003", r
    assert 0.8 < waited < 2.5, waited

    th.join(30)
    assert out["slow"].status == 200, out["slow"]
    # The executor is free again: the abandoned insert was dropped, not run late.
    assert c.http("GET", "/posts", token=t).status == 200
    time.sleep(0.3)
    assert c.psql("SELECT count(*) FROM posts WHERE content = 'queued too long'") == "0"


def test_a_request_taken_in_time_waits_for_its_answer(make_cluster):
    """The timeout bounds the wait for an executor, not the execution itself."""
    c = make_cluster(name="queue-long", workers=1,
                     extra_conf=("serendb_data_api.db_pool_acquisition_timeout = 1",))
    t = c.token()
    t0 = time.time()
    r = c.http("GET", "/rpc/slow?s=2", token=t, timeout=30)
    assert r.status == 200, r
    assert time.time() - t0 >= 2
    assert wait_for(lambda: c.http("GET", "/posts", token=t).status == 200, timeout=5)
