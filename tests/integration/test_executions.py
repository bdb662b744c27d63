"""The executions family: GET /executions (page/limit, {data, meta}),
GET /executions/{id}, POST /executions/{id}/cancel|approve|reject ({data}
envelope, standard error bodies) and GET /approvals. Runs are seeded
straight into the database (runseed.py)."""

import pytest

from client import TIME_RE, UUID7_RE, assert_error, assert_json, random_uuid7
from runseed import Seed

# The API's own state machine, without the executor advancing these runs.
pytestmark = pytest.mark.usefixtures("executor_paused")

EXECUTIONS = "/api/v1/executions"
EXECUTION_FIELDS = {
    "id", "agent_id", "agent_version_id", "workspace_id", "user_id", "session_id", "status",
    "input", "output", "error", "metadata", "token_usage", "cost", "duration_ms", "trace_id",
    "started_at", "completed_at", "created_at",
}


@pytest.fixture(scope="module")
def ten(stack):
    """A workspace of its own with a known set of runs (oldest first)."""
    t = stack.new_tenant("executions")
    s = t.seed = Seed(stack, t)
    t.agent2 = s.agent("second")
    t.runs = []

    def add(status, agent=None, **kw):
        sid = s.session(agent=agent)
        rid = s.run(sid, status=status, agent=agent,
                    active=status not in ("completed", "failed", "timeout", "cancelled",
                                          "rejected"), **kw)
        t.runs.append({"id": rid, "status": status, "session": sid,
                       "agent": (agent or (s.agent_id,))[0]})
        return rid

    for i in range(9):
        add("completed", prompt_tokens=10 + i, completion_tokens=5, cost_nusd=2500000,
            output={"response": "r%d" % i})
    add("failed", error_code="TOOL_ERROR", error_message="the tool failed")
    add("failed", agent=t.agent2, error_code="TIMEOUT", error_message="")
    add("running", agent=t.agent2)
    add("awaiting_approval")
    add("awaiting_approval", agent=t.agent2)
    add("waiting_for_input")
    add("pending")
    add("awaiting_approval")
    return t


@pytest.fixture(scope="module")
def api(ten):
    return ten.api()


def newest(runs, pred=lambda r: True):
    return [r["id"] for r in reversed(runs) if pred(r)]


def check_execution(e):
    assert set(e) == EXECUTION_FIELDS, sorted(set(e) ^ EXECUTION_FIELDS)
    assert UUID7_RE.match(e["id"]) and UUID7_RE.match(e["session_id"])
    assert set(e["token_usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    tu = e["token_usage"]
    assert tu["total_tokens"] == tu["prompt_tokens"] + tu["completion_tokens"]
    assert isinstance(e["cost"], (int, float)) and isinstance(e["duration_ms"], int)
    assert e["error"] is None or isinstance(e["error"], str)
    assert len(e["trace_id"]) == 32
    assert TIME_RE.match(e["created_at"])
    for f in ("started_at", "completed_at"):
        assert e[f] is None or TIME_RE.match(e[f])
    return e


def test_list_envelope_and_pages(api, ten):
    body = assert_json(api.get(EXECUTIONS), 200)
    assert set(body) == {"data", "meta"}
    n = len(ten.runs)
    assert body["meta"] == {"page": 1, "limit": 20, "total": n}
    assert [e["id"] for e in body["data"]] == newest(ten.runs)
    for e in body["data"]:
        check_execution(e)
        assert e["workspace_id"] == ten.id

    seen = []
    for page in range(1, 6):
        body = assert_json(api.get(EXECUTIONS, query={"page": page, "limit": 4}), 200)
        assert body["meta"] == {"page": page, "limit": 4, "total": n}
        seen += [e["id"] for e in body["data"]]
    assert seen == newest(ten.runs)  # no gap, no repeat, past the end is empty
    body = assert_json(api.get("/v1/executions?page=1000000&limit=100"), 200)
    assert body == {"data": [], "meta": {"page": 1000000, "limit": 100, "total": n}}


def test_list_filters(api, ten):
    agent2 = ten.agent2[0]
    cases = [
        ({"agent_id": agent2}, lambda r: r["agent"] == agent2),
        ({"agent_id": ten.seed.agent_id}, lambda r: r["agent"] == ten.seed.agent_id),
        ({"status": "failed"}, lambda r: r["status"] == "failed"),
        ({"status": "awaiting_approval,running"},
         lambda r: r["status"] in ("awaiting_approval", "running")),
        ({"status": "failed", "agent_id": agent2},
         lambda r: r["status"] == "failed" and r["agent"] == agent2),
        ({"status": "timeout"}, lambda r: False),
        ({"agent_id": random_uuid7()}, lambda r: False),
    ]
    for query, pred in cases:
        want = newest(ten.runs, pred)
        body = assert_json(api.get(EXECUTIONS, query=dict(query, limit=100)), 200)
        assert [e["id"] for e in body["data"]] == want, query
        assert body["meta"]["total"] == len(want)
        body = assert_json(api.get(EXECUTIONS, query=dict(query, limit=1, page=2)), 200)
        assert [e["id"] for e in body["data"]] == want[1:2], query
        assert body["meta"] == {"page": 2, "limit": 1, "total": len(want)}


@pytest.mark.parametrize("query,field", [
    ({"page": "0"}, "page"), ({"page": "-1"}, "page"), ({"page": "x"}, "page"),
    ({"page": ""}, "page"), ({"page": "1000001"}, "page"),
    ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "a"}, "limit"),
    ({"status": "bogus"}, "status"), ({"status": "failed,"}, "status"),
    ({"agent_id": "nope"}, "agent_id"), ({"agent_id": ""}, "agent_id"),
])
def test_list_bad_parameters(api, query, field):
    assert_error(api.get(EXECUTIONS, query=query), 400, "INVALID_INPUT", field=field)


def test_get_execution(api, ten):
    done = ten.runs[8]
    body = assert_json(api.get(EXECUTIONS + "/" + done["id"]), 200)
    assert set(body) == {"data"}
    e = check_execution(body["data"])
    assert e["id"] == done["id"] and e["status"] == "completed"
    assert e["agent_id"] == ten.seed.agent_id and e["agent_version_id"] == ten.seed.version_id
    assert e["session_id"] == done["session"] and e["workspace_id"] == ten.id
    assert e["user_id"] == ten.admin_user
    assert e["input"] == {"prompt": "hi"} and e["output"] == {"response": "r8"}
    assert e["metadata"] == {} and e["error"] is None
    assert e["token_usage"] == {"prompt_tokens": 18, "completion_tokens": 5,
                                "total_tokens": 23}
    assert e["cost"] == pytest.approx(0.0025)
    assert e["started_at"] and e["completed_at"] and e["duration_ms"] >= 1900

    e = assert_json(api.get(EXECUTIONS + "/" + ten.runs[9]["id"]), 200)["data"]
    assert e["status"] == "failed" and e["error"] == "the tool failed"
    e = assert_json(api.get(EXECUTIONS + "/" + ten.runs[10]["id"]), 200)["data"]
    assert e["error"] == "TIMEOUT"  # no message: the code
    e = assert_json(api.get(EXECUTIONS + "/" + ten.runs[-2]["id"]), 200)["data"]
    assert e["status"] == "pending" and e["output"] is None
    assert e["started_at"] is None and e["completed_at"] is None and e["duration_ms"] == 0


def test_get_execution_not_found(stack, api):
    other = stack.new_tenant("executions-other")
    oseed = Seed(stack, other)
    orun = oseed.run(oseed.session(), status="awaiting_approval", active=True)
    for rid in (random_uuid7(), "nope", orun):
        assert_error(api.get(EXECUTIONS + "/" + rid), 404, "RESOURCE_NOT_FOUND")
        for op in ("cancel", "approve", "reject"):
            assert_error(api.post(EXECUTIONS + "/" + rid + "/" + op), 404,
                         "RESOURCE_NOT_FOUND")
    assert oseed.row("runs", orun, "status") == ["awaiting_approval"]


def test_steer_executions(ten, api):
    s = ten.seed
    sid = s.session()
    rid = s.run(sid, status="awaiting_approval", active=True)
    body = assert_json(api.post(EXECUTIONS + "/" + rid + "/approve",
                                json={"comment": "ok"}), 200)
    assert set(body) == {"data"}
    assert check_execution(body["data"])["status"] == "approved"
    assert [t for _, t, _ in s.run_events(rid)] == ["run.approved"]
    # approve again: no longer awaiting approval.
    assert_error(api.post(EXECUTIONS + "/" + rid + "/approve"), 409, "CONFLICT")
    assert_error(api.post(EXECUTIONS + "/" + rid + "/reject"), 409, "CONFLICT")

    body = assert_json(api.post(EXECUTIONS + "/" + rid + "/cancel"), 200)
    e = check_execution(body["data"])
    assert e["status"] == "cancelled" and e["completed_at"] is not None
    body = assert_json(api.post(EXECUTIONS + "/" + rid + "/cancel"), 200)  # idempotent
    assert body["data"]["status"] == "cancelled"
    assert s.event_count(run=rid) == 2

    rid = s.run(s.session(), status="awaiting_approval", active=True)
    body = assert_json(api.post(EXECUTIONS + "/" + rid + "/reject", json={"comment": "no"}),
                       200)
    assert check_execution(body["data"])["status"] == "rejected"
    assert body["data"]["completed_at"] is not None
    before = s.row("runs", rid, "status, updated_at")
    err = assert_error(api.post(EXECUTIONS + "/" + rid + "/cancel"), 409, "CONFLICT")
    assert err["details"].get("status") == "rejected"
    assert s.row("runs", rid, "status, updated_at") == before

    rid = s.run(s.session(), status="running", active=True)
    body = assert_json(api.post(EXECUTIONS + "/" + rid + "/cancel"), 200)
    assert body["data"]["status"] == "running"
    assert s.row("runs", rid, "cancel_requested") == ["1"]
    assert_error(api.post(EXECUTIONS + "/" + rid + "/approve", json={"comment": 5}), 400,
                 "INVALID_INPUT", field="comment")
    assert_error(api.post(EXECUTIONS + "/" + rid + "/reject",
                          json={"comment": "x" * 40000}), 413, "PAYLOAD_TOO_LARGE")


def test_approvals(stack, api, ten):
    want = newest(ten.runs, lambda r: r["status"] == "awaiting_approval")
    # Runs decided by other tests of this module come and go: look only at ours.
    got = [o["id"] for o in assert_json(api.get("/api/v1/approvals?limit=100"), 200)
           if o["id"] in {r["id"] for r in ten.runs}]
    assert got == want
    for o in assert_json(api.get("/api/v1/approvals"), 200):
        assert o["status"] == "awaiting_approval" and o["object"] == "run"
        assert o["workspace_id"] == ten.id and o["run_id"] == o["id"]

    t = stack.new_tenant("approvals")
    s = Seed(stack, t)
    mine = []
    for status in ["awaiting_approval", "completed", "awaiting_approval", "pending",
                   "awaiting_approval", "approved", "awaiting_approval"]:
        rid = s.run(s.session(), status=status, active=status != "completed")
        if status == "awaiting_approval":
            mine.append(rid)
    tapi = t.api()
    assert [o["id"] for o in assert_json(tapi.get("/v1/approvals"), 200)] == mine[::-1]
    seen, before = [], None
    while True:
        q = {"limit": 1}
        if before:
            q["before"] = before
        page = assert_json(tapi.get("/api/v1/approvals", query=q), 200)
        if not page:
            break
        seen.append(page[0]["id"])
        before = page[0]["id"]
    assert seen == mine[::-1]
    # Any run of the workspace is a cursor (it may have been decided since).
    decided = s.run(s.session(), status="completed")
    page = assert_json(tapi.get("/api/v1/approvals", query={"before": decided}), 200)
    assert [o["id"] for o in page] == mine[::-1]
    for bad in (random_uuid7(), "nope", ten.runs[-1]["id"]):
        assert_error(tapi.get("/api/v1/approvals", query={"before": bad}), 400,
                     "INVALID_INPUT", field="before")
    for limit in ("0", "101", "x"):
        assert_error(tapi.get("/api/v1/approvals", query={"limit": limit}), 400,
                     "INVALID_INPUT", field="limit")
    # Isolation both ways.
    assert not {o["id"] for o in assert_json(tapi.get("/api/v1/approvals?limit=100"), 200)} \
        & {r["id"] for r in ten.runs}
    assert not {o["id"] for o in assert_json(api.get("/api/v1/approvals?limit=100"), 200)} \
        & set(mine)


def test_wrong_methods(api, ten):
    rid = ten.runs[0]["id"]
    for method, path, allow in [
        ("POST", EXECUTIONS, "GET"), ("DELETE", EXECUTIONS + "/" + rid, "GET"),
        ("POST", EXECUTIONS + "/" + rid, "GET"), ("GET", EXECUTIONS + "/" + rid + "/cancel",
                                                  "POST"),
        ("GET", EXECUTIONS + "/" + rid + "/approve", "POST"),
        ("PUT", EXECUTIONS + "/" + rid + "/reject", "POST"),
        ("POST", "/api/v1/approvals", "GET"),
    ]:
        r = api.request(method, path)
        assert_error(r, 405, "METHOD_NOT_ALLOWED")
        assert r.header("Allow") == allow, (method, path)
