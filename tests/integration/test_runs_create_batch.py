"""Group commit of new-session creates (src/api/createnew.c): the creates a
worker's request threads (api.threads) have in flight at once are written in
one transaction, and nothing about the runs they create changes: each one is
written whole, answered as GET answers it, counted once in usage_daily, with
the agent's active version, and a create that fails fails alone."""

import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from runs_fixtures import make_agent, q

pytestmark = pytest.mark.usefixtures("executor_paused")


def commits(stack):
    rows = stack.sql("SHOW GLOBAL STATUS LIKE 'Com_commit'")
    return int(rows[0][1])


def post_concurrently(tenant, bodies, nthreads=24):
    """POSTs every body to /api/v1/runs from nthreads clients at once; returns
    [(body, response)] in the order of bodies."""
    out = [None] * len(bodies)
    nxt = iter(range(len(bodies)))
    lock = threading.Lock()

    def client():
        api = tenant.api()
        while True:
            with lock:
                i = next(nxt, None)
            if i is None:
                return
            out[i] = (bodies[i], api.post("/api/v1/runs", json=bodies[i]))

    threads = [threading.Thread(target=client) for _ in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(o is not None for o in out), "a client thread did not finish"
    return out


def assert_written_whole(stack, api, run, prompt):
    """The run as GET answers it, its session, user turn and run.created."""
    g = api.get("/api/v1/runs/" + run["id"])
    assert g.status == 200, g
    assert json.loads(g.body) == run
    sid = run["session_id"]
    assert stack.sql("SELECT active_run_id, last_seq, status FROM sessions WHERE id = %s" %
                     q(sid)) == [[run["id"], "1", "open"]]
    assert stack.sql("SELECT seq, type, run_id, data FROM events WHERE session_id = %s" %
                     q(sid)) == [["1", "run.created", run["id"],
                                  '{"status":"pending","queued":false}']]
    assert stack.sql("SELECT role, content FROM messages WHERE run_id = %s" %
                     q(run["id"])) == [["user", prompt]]


def sql_script(stack, text, check=True):
    """Runs a script through the mariadb client's stdin (DELIMITER, many statements)."""
    subprocess.run(["mariadb", "--no-defaults", "--force", "--socket=" + os.path.join(
        stack.dir, "run", "mysqld.sock"), "-uroot", "agentrun"], input=text.encode(),
        check=check, timeout=60, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def usage_runs(stack, ws, agent_id):
    return int(stack.sql("SELECT COALESCE(SUM(runs), 0) FROM usage_daily WHERE"
                         " workspace_id = %s AND agent_id = %s" % (q(ws), q(agent_id)))[0][0])


def test_concurrent_creates_share_commits_and_are_each_written_whole(stack):
    tenant = stack.new_tenant("batch")
    agent_id, _, vids = make_agent(stack, tenant)
    n = 240
    bodies = [{"agent_id": agent_id, "prompt": "p-%d" % i, "metadata": {"i": i}}
              for i in range(n)]
    c0 = commits(stack)
    done = post_concurrently(tenant, bodies)
    c1 = commits(stack)
    failed = [(b, r) for b, r in done if r.status != 201]
    assert not failed, failed[:3]
    # group commit: fewer transactions than runs (one each without it)
    assert c1 - c0 < n, (c0, c1)
    api = tenant.api()
    ids = set()
    for body, r in done:
        run = r.json()
        ids.add(run["id"])
        assert run["metadata"] == body["metadata"] and run["input"] == {"prompt": body["prompt"]}
        assert run["agent_version_id"] == vids[0] and run["status"] == "pending"
        assert_written_whole(stack, api, run, body["prompt"])
    assert len(ids) == n
    assert int(stack.sql("SELECT COUNT(*) FROM runs WHERE agent_id = %s" %
                         q(agent_id))[0][0]) == n
    assert usage_runs(stack, tenant.id, agent_id) == n


def test_concurrent_creates_after_a_version_switch_use_the_new_version(stack):
    tenant = stack.new_tenant("batchver")
    api = tenant.api()
    a = api.post("/api/v1/agents", json={
        "key": "bv", "activate": True,
        "version": {"model": {"provider": "scripted", "name": "echo"}}})
    assert a.status == 201, a
    aid = a.json()["id"]
    # every worker and thread has version 1 cached as the active one
    first = post_concurrently(tenant, [{"agent_id": aid, "prompt": "a"}] * 60)
    assert all(r.status == 201 and r.json()["agent_version"] == 1 for _, r in first)
    v2 = api.post("/api/v1/agents/%s/versions" % aid,
                  json={"model": {"provider": "scripted", "name": "echo2"}})
    assert v2.status == 201, v2
    assert api.post("/api/v1/agents/%s/versions/2/activate" % aid).status == 200
    # the cached guess is refused inside the batch and each create re-resolved
    second = post_concurrently(tenant, [{"agent_id": aid, "prompt": "b"}] * 60)
    got = [(r.status, r.json().get("agent_version"), r.json().get("model")) for _, r in second]
    assert got == [(201, 2, "echo2")] * 60, got[:5]
    assert usage_runs(stack, tenant.id, aid) == 120
    assert stack.sql("SELECT agent_version, COUNT(*) FROM runs WHERE agent_id = %s"
                     " GROUP BY agent_version ORDER BY agent_version" % q(aid)) == \
        [["1", "60"], ["2", "60"]]


def test_a_failing_create_fails_alone_and_writes_nothing(stack):
    """A create whose writes fail (here: a trigger refuses its user turn)
    rolls back the batch it was in; the others are then written one by one
    and succeed, and the failed one leaves no row behind."""
    tenant = stack.new_tenant("batchfail")
    agent_id, _, _ = make_agent(stack, tenant)
    sql_script(stack, "DELIMITER //\nCREATE TRIGGER test_refuse_boom BEFORE INSERT ON messages"
               " FOR EACH ROW IF NEW.content = 'boom' THEN SIGNAL SQLSTATE '45000' SET"
               " MESSAGE_TEXT = 'refused by test'; END IF//\n")
    log = os.path.join(stack.dir, "log", "api.log")
    log_start = os.path.getsize(log)
    try:
        bodies = [{"agent_id": agent_id, "prompt": "boom" if i % 10 == 0 else "ok-%d" % i}
                  for i in range(200)]
        done = post_concurrently(tenant, bodies)
    finally:
        stack.sql("DROP TRIGGER IF EXISTS test_refuse_boom")
    api = tenant.api()
    for body, r in done:
        if body["prompt"] == "boom":
            assert r.status == 500, r
            err = r.json()["error"]
            assert err["code"] == "INTERNAL_ERROR"
            assert "refused" not in err["message"] and "INSERT" not in err["message"]
        else:
            assert r.status == 201, r
            assert_written_whole(stack, api, r.json(), body["prompt"])
    ok = sum(1 for b, _ in done if b["prompt"] != "boom")
    for table in ("runs", "sessions"):
        assert int(stack.sql("SELECT COUNT(*) FROM %s WHERE agent_id = %s" % (
            table, q(agent_id)))[0][0]) == ok, table
    assert int(stack.sql("SELECT COUNT(*) FROM messages m JOIN runs r ON r.id = m.run_id"
                         " WHERE r.agent_id = %s" % q(agent_id))[0][0]) == ok
    assert usage_runs(stack, tenant.id, agent_id) == ok
    with open(log, errors="replace") as f:
        f.seek(log_start)
        text = f.read()
    # the batches that held a refused create were retried create by create
    assert "retrying each create alone" in text


def _set_api_threads(stack, value):
    """Rewrites api.threads in the stack's config and reloads the API (SIGHUP):
    a new generation of workers starts with it."""
    with open(stack.config) as f:
        text = f.read()
    text = re.sub(r"(?m)^threads\s*=.*\n", "", text)
    if value is not None:
        text = text.replace("[api]\n", "[api]\nthreads = %d\n" % value, 1)
    with open(stack.config, "w") as f:
        f.write(text)
    old = set(stack.api_children())
    os.kill(stack.api_master(), signal.SIGHUP)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = set(stack.api_children())
        if len(now) == stack.workers and not now & old:
            return
        time.sleep(0.1)
    raise AssertionError("the API did not reload")


def test_one_thread_per_worker_commits_each_create_alone(stack):
    with open(stack.config) as f:
        assert "[api]\n" in f.read()
    tenant = stack.new_tenant("batchoff")
    agent_id, _, _ = make_agent(stack, tenant)
    _set_api_threads(stack, 1)
    try:
        c0 = commits(stack)
        done = post_concurrently(tenant, [{"agent_id": agent_id, "prompt": "x"}] * 60,
                                 nthreads=12)
        c1 = commits(stack)
    finally:
        _set_api_threads(stack, None)
    assert all(r.status == 201 for _, r in done), [r for _, r in done if r.status != 201][:3]
    assert c1 - c0 == 60  # one transaction per create, as before api.threads
    assert usage_runs(stack, tenant.id, agent_id) == 60


def test_creates_while_the_database_refuses_connections_are_503_and_write_nothing(stack):
    """The batching thread's connection fails like the handlers' does: 503
    with Retry-After (the client may retry), nothing written, and creates
    succeed again once the database takes connections."""
    tenant = stack.new_tenant("batchdown")
    agent_id, _, _ = make_agent(stack, tenant)
    body = {"agent_id": agent_id, "prompt": "x"}
    log = os.path.join(stack.dir, "log", "api.log")
    # Open connections stay usable after ACCOUNT LOCK: warm every worker's
    # key and agent caches through them, then cut them all at once.
    stack.sql("ALTER USER 'agentrun'@'localhost' ACCOUNT LOCK")
    try:
        warm = post_concurrently(tenant, [body] * 30)
        log_start = os.path.getsize(log)
        ids = [r[0] for r in stack.sql("SELECT id FROM information_schema.processlist"
                                       " WHERE user = 'agentrun'")]
        sql_script(stack, "".join("KILL CONNECTION %s;\n" % i for i in ids), check=False)
        down = post_concurrently(tenant, [body] * 30, nthreads=12)
    finally:
        stack.sql("ALTER USER 'agentrun'@'localhost' ACCOUNT UNLOCK")
    assert all(r.status == 201 for _, r in warm)
    for _, r in down:
        assert r.status == 503, r
        assert r.json()["error"]["code"] == "INTERNAL_ERROR" and r.header("Retry-After"), r
    with open(log, errors="replace") as f:
        f.seek(log_start)
        assert "op=run_create" in f.read()  # some reached the create itself
    deadline = time.monotonic() + 20
    while True:  # the workers reconnect on their next query
        r = tenant.api().post("/api/v1/runs", json=body)
        if r.status == 201 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status == 201, r
    again = post_concurrently(tenant, [body] * 30)
    assert all(r.status == 201 for _, r in again), [r for _, r in again if r.status != 201][:3]
    made = int(stack.sql("SELECT COUNT(*) FROM runs WHERE agent_id = %s" % q(agent_id))[0][0])
    assert made == 61
    assert usage_runs(stack, tenant.id, agent_id) == 61
