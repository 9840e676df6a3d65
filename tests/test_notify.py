"""NOTIFY pgrst reloads the executors' configuration and schema cache (PostgREST's
'reload config' / 'reload schema')."""

from conftest import wait_for


def test_notify_pgrst_reloads_the_configuration(make_cluster):
    c = make_cluster(name="notify")
    t = c.token()
    c.psql("INSERT INTO posts (\"userId\", content) VALUES ('user-1', 'a'), ('user-1', 'b')")
    assert len(c.http("GET", "/posts", token=t).json()) == 2
    # Written to postgresql.auto.conf but not reloaded: nothing changes yet.
    c.psql("ALTER SYSTEM SET serendb_data_api.db_max_rows = 1", db="postgres")
    assert len(c.http("GET", "/posts", token=t).json()) == 2
    c.psql("NOTIFY pgrst, 'reload config'")
    assert wait_for(lambda: len(c.http("GET", "/posts", token=t).json()) == 1, timeout=5)
    # Every executor got it, not just one: repeated requests all see the new limit.
    assert all(len(c.http("GET", "/posts", token=t).json()) == 1 for _ in range(10))


def test_notifications_do_not_pile_up(make_cluster):
    """The executors drain the notification queue, so NOTIFY never fills it."""
    c = make_cluster(name="notify-queue")
    t = c.token()
    for _ in range(50):
        c.psql("NOTIFY pgrst, 'reload schema'")
    assert c.http("GET", "/posts", token=t).status == 200
    assert wait_for(lambda: c.psql("SELECT pg_notification_queue_usage() = 0") == "t", timeout=5)
