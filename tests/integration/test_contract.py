"""Contract details an outside check found wrong (issue 15, item 3): every
body-taking endpoint refuses malformed JSON and changes nothing, a run that
never replied has no output, a timeout never fires before its limit, and a
too-large input names the field that was too large."""

import pytest

from client import assert_error
from executor_helpers import new_agent, script_agent, start, wait_status

MALFORMED = b'{"reason": '


def post_raw(api, path, body):
    return api.post(path, body=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("family", ["sessions", "threads"])
def test_session_cancel_refuses_malformed_json(ws_a, family):
    api = ws_a.api()
    agent = new_agent(api)
    sid = api.post("/api/v1/sessions", json={"agent_id": agent}).json()["id"]
    r = post_raw(api, "/api/v1/%s/%s/cancel" % (family, sid), MALFORMED)
    assert_error(r, 400, "INVALID_INPUT")
    assert api.get("/api/v1/sessions/" + sid).json()["status"] == "open"
    r = post_raw(api, "/api/v1/%s/%s/cancel" % (family, sid), b"[1]")
    assert_error(r, 400, "INVALID_INPUT")
    assert api.get("/api/v1/sessions/" + sid).json()["status"] == "open"
    # an empty body stays allowed, and closes it
    r = post_raw(api, "/api/v1/%s/%s/cancel" % (family, sid), b"")
    assert r.status == 200, r
    assert api.get("/api/v1/sessions/" + sid).json()["status"] == "closed"


@pytest.mark.parametrize("op", ["activate", "archive"])
def test_version_status_change_refuses_malformed_json(ws_a, op):
    api = ws_a.api()
    agent = new_agent(api)
    r = api.post("/api/v1/agents/%s/versions" % agent,
                 json={"model": {"provider": "scripted", "name": "echo"}})
    assert r.status == 201, r
    n = r.json()["version"]
    before = api.get("/api/v1/agents/%s/versions/%d" % (agent, n)).json()["status"]
    r = post_raw(api, "/api/v1/agents/%s/versions/%d/%s" % (agent, n, op), MALFORMED)
    assert_error(r, 400, "INVALID_INPUT")
    assert api.get("/api/v1/agents/%s/versions/%d" % (agent, n)).json()["status"] == before
    r = post_raw(api, "/api/v1/agents/%s/versions/%d/%s" % (agent, n, op), b"")
    assert r.status == 200, r
    assert r.json()["status"] == ("active" if op == "activate" else "archived")


def test_failed_run_without_a_reply_has_null_output(ws_a):
    api = ws_a.api()
    agent = script_agent(api, [{"fail": {"status": 400, "times": 5}}])
    run = wait_status(api, start(api, agent), "failed")
    assert run["error"]["code"] == "PROVIDER_ERROR"
    assert run["output"] is None, run
    ex = api.get("/api/v1/executions/" + run["id"]).json()
    assert ex.get("output") is None, ex


def test_timeout_fires_no_earlier_than_the_limit(ws_a):
    api = ws_a.api()
    agent = script_agent(api, [{"content": " ".join("w%d" % i for i in range(100))}],
                         chunk_ms=100, limits={"timeout_s": 1})
    ids = [start(api, agent) for _ in range(3)]
    for run_id in ids:
        run = wait_status(api, run_id, "timeout")
        assert run["error"]["code"] == "TIMEOUT"
        assert run["duration_ms"] >= 1000, run


@pytest.mark.parametrize("field", ["prompt", "message", "content"])
@pytest.mark.parametrize("base", ["input", "config"])
def test_too_large_input_names_its_field(ws_a, field, base):
    api = ws_a.api()
    agent = new_agent(api)
    r = api.post("/api/v1/runs", json={"agent_id": agent,
                                       base: {field: "x" * (32 * 1024 + 1)}})
    err = assert_error(r, 413, "PAYLOAD_TOO_LARGE")
    assert err["details"]["field"] == "%s.%s" % (base, field), err
    assert ("%s.%s" % (base, field)) in err["message"]


def test_every_body_taking_operation_refuses_malformed_json(ws_a):
    """Issue 16 part 3: every POST and PATCH docs/openapi.yaml lists answers
    a body that is not JSON with 400 INVALID_INPUT (details line/column),
    whatever state its object is in, and changes nothing."""
    from test_docs import spec

    api = ws_a.api()
    agent = new_agent(api)
    draft = api.post("/api/v1/agents/%s/versions" % agent,
                     json={"model": {"provider": "scripted", "name": "echo"}}).json()
    # A run parked waiting for approval: it stays so through every refused request.
    parked = new_agent(api, approval={"required": True})
    rid = start(api, parked)
    wait_status(api, rid, "awaiting_approval")
    sid = api.get("/api/v1/runs/" + rid).json()["session_id"]
    ids = {"agents": agent, "runs": rid, "executions": rid, "sessions": sid, "threads": sid}
    tried = []
    for path, item in spec()["paths"].items():
        for method in ("post", "patch"):
            if method not in item:
                continue
            family = path.split("/")[1]
            url = "/api/v1" + path.replace("{id}", ids.get(family, agent)).replace(
                "{n}", str(draft["version"]))
            r = api.request(method.upper(), url, body=MALFORMED,
                            headers={"Content-Type": "application/json"})
            err = assert_error(r, 400, "INVALID_INPUT")
            assert "line" in err["details"], (method, url, err)
            tried.append((method, path))
    assert len(tried) >= 25, tried
    assert api.get("/api/v1/runs/" + rid).json()["status"] == "awaiting_approval"
    assert api.get("/api/v1/sessions/" + sid).json()["status"] == "open"
    v = api.get("/api/v1/agents/%s/versions/%d" % (agent, draft["version"])).json()
    assert v["status"] == "draft" and v["updated_at"] == draft["updated_at"]
