"""GET /healthz, X-Request-Id handling, and database reconnects."""

import os
import subprocess
import time

from client import assert_error, assert_json, is_uuid


def test_healthz_ok_without_auth(api):
    r = api.get("/healthz")
    body = assert_json(r, 200)
    assert body == {"status": "ok", "db": "ok", "writes": "ok"}
    assert is_uuid(r.header("X-Request-Id")), r.header("X-Request-Id")


def test_request_ids_are_fresh(api):
    ids = {api.get("/healthz").header("X-Request-Id") for _ in range(5)}
    assert len(ids) == 5 and all(is_uuid(i) for i in ids), ids


def test_client_request_id_is_echoed(api, ws_a):
    r = api.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert r.status == 200
    assert r.header_all("X-Request-Id") == ["abc-123"]
    # On the app's errors and on nginx's own errors too, header and body alike.
    r = api.get("/api/v1/api-keys", headers={"X-Request-Id": "abc-123"})
    assert assert_error(r, 401, "AUTHORIZATION_ERROR")["request_id"] == "abc-123"
    r = api.get("/nope", headers={"X-Request-Id": "abc-123"})
    assert assert_error(r, 404, "RESOURCE_NOT_FOUND")["request_id"] == "abc-123"
    r = ws_a.api().get("/api/v1/api-keys", headers={"X-Request-Id": "abc-123"})
    assert r.status == 200 and r.header("X-Request-Id") == "abc-123"


def test_request_id_length_limit(api):
    ok = "r" * 128
    r = api.get("/healthz", headers={"X-Request-Id": ok})
    assert r.header("X-Request-Id") == ok
    r = api.get("/api/v1/api-keys", headers={"X-Request-Id": ok})
    assert assert_error(r, 401, "AUTHORIZATION_ERROR")["request_id"] == ok
    r = api.get("/healthz", headers={"X-Request-Id": ok + "r"})
    assert r.header("X-Request-Id") != ok + "r" and is_uuid(r.header("X-Request-Id"))
    r = api.get("/healthz", headers={"X-Request-Id": "A.b_c:d-9"})
    assert r.header("X-Request-Id") == "A.b_c:d-9"


def test_hostile_request_id_is_replaced(api):
    for hostile in ("abc 123", "a" * 300, "x\"y", "<script>", "abc\t123"):
        r = api.get("/healthz", headers={"X-Request-Id": hostile})
        assert r.status == 200, (hostile, r)
        rid = r.header("X-Request-Id")
        assert rid != hostile and is_uuid(rid), (hostile, rid)
        assert len(r.header_all("X-Request-Id")) == 1
        r = api.get("/api/v1/nope", headers={"X-Request-Id": hostile})
        err = assert_error(r, 404, "RESOURCE_NOT_FOUND")
        assert err["request_id"] != hostile and is_uuid(err["request_id"]), (hostile, err)


def _agentrun_connections(stack):
    return [row[0] for row in stack.sql(
        "SELECT id FROM information_schema.processlist WHERE user = 'agentrun'")]


def _kill_agentrun_connections(stack):
    ids = _agentrun_connections(stack)
    for cid in ids:
        # A connection may end on its own between the SELECT and the KILL.
        stack.run(["mariadb", "--no-defaults",
                   "--socket=" + stack.dir + "/run/mysqld.sock", "-uroot",
                   "-e", "KILL CONNECTION %s" % cid], check=False)
    return ids


def _warm_every_worker(stack, ws_a):
    """Gives each worker a chance to open its connection (several requests,
    spread over the workers by the shared listen socket)."""
    admin = ws_a.api()
    for _ in range(4 * stack.workers):
        assert admin.get("/api/v1/api-keys").status == 200


def test_database_reconnect_after_kill(stack, ws_a, api):
    admin = ws_a.api()
    for round_no in range(2):
        _warm_every_worker(stack, ws_a)
        killed = _kill_agentrun_connections(stack)
        assert killed, "no agentrun database connection to kill"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and set(killed) & set(_agentrun_connections(stack)):
            time.sleep(0.1)
        statuses = []
        for i in range(10):
            if i % 2 == 0:
                r = api.get("/healthz")
                if r.status == 503:
                    assert r.json()["db"] != "ok"
                    assert r.header("Retry-After")
            else:
                r = admin.get("/api/v1/api-keys")
                if r.status == 503:
                    assert_error(r, 503, "INTERNAL_ERROR")
            assert r.status in (200, 503), r
            statuses.append(r.status)
        failures = statuses.count(503)
        assert failures <= stack.workers, \
            "round %d: more than one 503 per worker after KILL: %r" % (round_no, statuses)
        assert statuses[-4:] == [200] * 4, "round %d: %r" % (round_no, statuses)
        # The keys list really came from the database again.
        r = admin.get("/api/v1/api-keys/" + ws_a.admin_key_id)
        assert assert_json(r, 200)["id"] == ws_a.admin_key_id
    assert _agentrun_connections(stack), "workers did not reconnect"


def _global_status(stack, name):
    return int(stack.sql("SHOW GLOBAL STATUS LIKE '%s'" % name)[0][1])


def test_healthz_answer_is_cached(stack, api):
    """At most one database check per second per worker (issue 14 item 7):
    /healthz needs no key, so every request used to cost a SELECT. The
    SELECTs counted while /healthz is hammered for 2 s, less those of 2 s
    without it (the executor's and stream worker's polling), are the
    checks: about 3 per worker, where they were one per request."""
    before = _global_status(stack, "Com_select")
    time.sleep(2.0)
    idle = _global_status(stack, "Com_select") - before
    before = _global_status(stack, "Com_select")
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 2.0:
        assert api.get("/healthz").status == 200
        n += 1
    busy = _global_status(stack, "Com_select") - before
    assert n >= 200, n
    assert busy - idle < 3 * stack.workers + 40, (n, busy, idle)


def test_healthz_reports_blocked_writes(stack, api):
    """A write lock (here FLUSH TABLES WITH READ LOCK, as a backup takes it)
    blocked every create while /healthz stayed 200: the load balancer could
    not tell. It now answers 503 "writes": "blocked" within about a second,
    and 200 again once the lock is gone."""
    holder = subprocess.Popen(
        ["mariadb", "--no-defaults", "--socket=" + os.path.join(stack.dir, "run", "mysqld.sock"),
         "-uroot", "-e", "FLUSH TABLES WITH READ LOCK; SELECT SLEEP(5)"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        blocked = None
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and blocked is None:
            r = api.get("/healthz")
            if r.status == 503:
                blocked = r
        assert blocked is not None, "healthz stayed 200 under a global read lock"
        assert blocked.json() == {"status": "unavailable", "db": "ok", "writes": "blocked"}
        assert blocked.header("Retry-After") == "1"
    finally:
        holder.wait(20)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        statuses = [api.get("/healthz").status for _ in range(3 * stack.workers)]
        if statuses == [200] * len(statuses):
            break
        time.sleep(0.3)
    assert statuses == [200] * len(statuses), statuses
