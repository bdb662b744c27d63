"""Event lists as JSON: GET /runs/{id}/events (and /logs) and
GET /sessions/{id}/events (and /threads/{id}/events): after_seq / limit
paging, last_seq and has_more, run filtering and session interleaving,
errors and workspace isolation. Events are seeded straight into the
database (runseed.py)."""

import pytest

from client import TIME_RE, assert_error, assert_json, random_uuid7
from runseed import Seed

EVENT_FIELDS = {"seq", "run_id", "type", "data", "created_at"}


@pytest.fixture(scope="module")
def ten(stack):
    t = stack.new_tenant("events")
    t.seed = Seed(stack, t)
    return t


@pytest.fixture(scope="module")
def api(ten):
    return ten.api()


@pytest.fixture(scope="module")
def timeline(ten):
    """One session whose two runs' events interleave, plus a session-level
    event (no run) in the middle (of a documented type: docs/openapi.yaml
    lists every type; no writer makes run-less events today)."""
    s = ten.seed
    sid = s.session()
    a = s.run(sid, status="completed")
    b = s.run(sid, status="running", active=True)
    log = []  # (seq, run, type)
    for run, types in ((a, ["run.created", "run.started"]), (b, ["run.created"]),
                       (a, ["step.started", "message.delta"]), (None, ["message.completed"]),
                       (b, ["run.started", "step.started"]), (a, ["run.completed"]),
                       (b, ["message.delta", "message.delta", "message.completed"])):
        for seq, t in zip(s.events(sid, run, types), types):
            log.append((seq, run, t))
    return {"session": sid, "a": a, "b": b, "log": log}


def check_event(e):
    assert set(e) == EVENT_FIELDS, sorted(e)
    assert isinstance(e["seq"], int) and e["seq"] >= 1
    assert isinstance(e["type"], str) and TIME_RE.match(e["created_at"])
    return e


def walk(api, path, limit):
    """Follows after_seq=last_seq until has_more is false; returns the
    events and the pages."""
    events, pages, after = [], 0, 0
    while True:
        page = assert_json(api.get(path, query={"after_seq": after, "limit": limit}), 200)
        assert set(page) == {"data", "last_seq", "has_more"}
        pages += 1
        assert len(page["data"]) <= limit
        for e in page["data"]:
            check_event(e)
        if page["data"]:
            assert page["last_seq"] == page["data"][-1]["seq"]
        else:
            assert page["last_seq"] == after
        events += page["data"]
        if not page["has_more"]:
            return events, pages
        assert len(page["data"]) == limit
        after = page["last_seq"]


def test_run_events(api, timeline):
    for run in ("a", "b"):
        want = [(seq, t) for seq, r, t in timeline["log"] if r == timeline[run]]
        for sub in ("events", "logs"):
            page = assert_json(api.get("/api/v1/runs/%s/%s" % (timeline[run], sub)), 200)
            assert [(e["seq"], e["type"]) for e in page["data"]] == want
            assert all(check_event(e)["run_id"] == timeline[run] for e in page["data"])
            assert page["last_seq"] == want[-1][0] and page["has_more"] is False
    # data is the stored JSON document.
    page = assert_json(api.get("/v1/runs/%s/events" % timeline["a"]), 200)
    assert page["data"][0]["data"]["n"] == page["data"][0]["seq"]


def test_session_events_interleave(api, timeline):
    want = [(seq, r, t) for seq, r, t in timeline["log"]]
    for base in ("/api/v1/sessions/", "/api/v1/threads/", "/v1/threads/"):
        page = assert_json(api.get(base + timeline["session"] + "/events"), 200)
        got = [(check_event(e)["seq"], e["run_id"], e["type"]) for e in page["data"]]
        assert got == want
        assert [s for s, _, _ in got] == list(range(1, len(want) + 1))
        assert page["last_seq"] == len(want) and page["has_more"] is False
    runs = {r for _, r, _ in want}
    assert runs == {timeline["a"], timeline["b"], None}


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 11, 12, 100])
def test_after_seq_walk(api, timeline, limit):
    n = len(timeline["log"])
    events, pages = walk(api, "/api/v1/sessions/%s/events" % timeline["session"], limit)
    assert [e["seq"] for e in events] == list(range(1, n + 1))  # each exactly once
    assert pages == -(-n // limit)  # has_more is exact: no trailing empty page
    want = [seq for seq, r, _ in timeline["log"] if r == timeline["b"]]
    events, _ = walk(api, "/api/v1/runs/%s/events" % timeline["b"], limit)
    assert [e["seq"] for e in events] == want


def test_has_more_is_exact(api, timeline):
    """has_more is false on a page that ends exactly at the last event."""
    path = "/api/v1/sessions/%s/events" % timeline["session"]
    n = len(timeline["log"])
    page = assert_json(api.get(path, query={"limit": n}), 200)
    assert len(page["data"]) == n and page["has_more"] is False and page["last_seq"] == n
    page = assert_json(api.get(path, query={"limit": n - 1}), 200)
    assert len(page["data"]) == n - 1 and page["has_more"] is True
    assert page["last_seq"] == n - 1
    page = assert_json(api.get(path, query={"after_seq": n - 1, "limit": 1}), 200)
    assert [e["seq"] for e in page["data"]] == [n] and page["has_more"] is False
    # After the end (or far beyond it): empty, and the cursor comes back.
    for after in (n, n + 5, 2 ** 62):
        page = assert_json(api.get(path, query={"after_seq": after}), 200)
        assert page == {"data": [], "last_seq": after, "has_more": False}
    # A run's cursor is the session seq: after_seq skips to the right place.
    b = [seq for seq, r, _ in timeline["log"] if r == timeline["b"]]
    page = assert_json(api.get("/api/v1/runs/%s/events" % timeline["b"],
                               query={"after_seq": b[1], "limit": 2}), 200)
    assert [e["seq"] for e in page["data"]] == b[2:4] and page["has_more"] is True


def test_default_and_max_limit(ten, api):
    s = ten.seed
    sid = s.session()
    rid = s.run(sid, status="running", active=True)
    s.events(sid, rid, ["message.delta"] * 1005)
    page = assert_json(api.get("/api/v1/runs/%s/events" % rid), 200)
    assert len(page["data"]) == 100 and page["has_more"] is True and page["last_seq"] == 100
    page = assert_json(api.get("/api/v1/runs/%s/events?limit=1000" % rid), 200)
    assert len(page["data"]) == 1000 and page["has_more"] is True
    assert page["last_seq"] == 1000
    page = assert_json(api.get("/api/v1/sessions/%s/events?after_seq=1000&limit=1000" % sid),
                       200)
    assert [e["seq"] for e in page["data"]] == list(range(1001, 1006))
    assert page["has_more"] is False


@pytest.mark.parametrize("query,field", [
    ("after_seq=-1", "after_seq"), ("after_seq=x", "after_seq"), ("after_seq=", "after_seq"),
    ("after_seq=1.5", "after_seq"), ("after_seq=99999999999999999999", "after_seq"),
    ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=-5", "limit"),
    ("limit=ten", "limit"), ("limit=", "limit"),
])
def test_bad_parameters(api, timeline, query, field):
    for path in ("/api/v1/runs/%s/events" % timeline["a"],
                 "/api/v1/runs/%s/logs" % timeline["a"],
                 "/api/v1/sessions/%s/events" % timeline["session"],
                 "/api/v1/threads/%s/events" % timeline["session"]):
        assert_error(api.get(path + "?" + query), 400, "INVALID_INPUT", field=field)


def test_empty_logs(ten, api):
    sid = ten.seed.session()
    rid = ten.seed.run(sid, active=True)
    for path in ("/api/v1/runs/%s/events" % rid, "/api/v1/sessions/%s/events" % sid):
        assert assert_json(api.get(path), 200) == {"data": [], "last_seq": 0,
                                                   "has_more": False}


def test_not_found_and_isolation(stack, api, timeline):
    other = stack.new_tenant("events-other")
    oseed = Seed(stack, other)
    osid = oseed.session()
    orun = oseed.run(osid, status="running", active=True)
    oseed.events(osid, orun, ["run.created"])
    for rid in (random_uuid7(), "nope", orun):
        for sub in ("events", "logs"):
            assert_error(api.get("/api/v1/runs/%s/%s" % (rid, sub)), 404,
                         "RESOURCE_NOT_FOUND")
    for sid in (random_uuid7(), "nope", osid):
        for base in ("/api/v1/sessions/", "/api/v1/threads/"):
            assert_error(api.get(base + sid + "/events"), 404, "RESOURCE_NOT_FOUND")
    # And the other way round.
    oapi = other.api()
    assert_error(oapi.get("/api/v1/runs/%s/events" % timeline["a"]), 404,
                 "RESOURCE_NOT_FOUND")
    assert_error(oapi.get("/api/v1/sessions/%s/events" % timeline["session"]), 404,
                 "RESOURCE_NOT_FOUND")
    page = assert_json(oapi.get("/api/v1/runs/%s/events" % orun), 200)
    assert [e["type"] for e in page["data"]] == ["run.created"]


def test_wrong_method(api, timeline):
    for path in ("/api/v1/runs/%s/events" % timeline["a"],
                 "/api/v1/runs/%s/logs" % timeline["a"],
                 "/api/v1/sessions/%s/events" % timeline["session"],
                 "/api/v1/threads/%s/events" % timeline["session"]):
        for method in ("POST", "DELETE"):
            r = api.request(method, path)
            assert_error(r, 405, "METHOD_NOT_ALLOWED")
            assert r.header("Allow") == "GET"


def test_unauthenticated(stack, timeline):
    r = stack.client().get("/api/v1/runs/%s/events" % timeline["a"])
    assert_error(r, 401, "AUTHORIZATION_ERROR")
