"""Creating runs through every entry point (API.md §4), with the session,
idempotency and one-active-run rules (§1, §2)."""

import json
import os
import subprocess
import threading
import time

import pytest

from client import TIME_RE, assert_json
from runs_fixtures import make_agent, uuid7

# The API's own state machine, without the executor advancing these runs.
pytestmark = pytest.mark.usefixtures("executor_paused")

RUN_FIELDS = [
    "id", "run_id", "object", "workspace_id", "agent_id", "agent_version", "agent_version_id",
    "session_id", "thread_id", "runnable_id", "runnable_type", "parent_run_id", "experiment_id",
    "experiment_candidate_id", "route_id", "persona_id", "model", "status", "cancel_requested",
    "error", "input", "output", "metadata", "usage", "cost_usd", "credits_used",
    "cache_hit_rate", "duration_ms", "steps", "attempts", "trace_id", "telemetry_span_id",
    "created_by_user_id", "created_by_user_name", "created_by_email", "created_at",
    "started_at", "completed_at", "failed_at", "cancelled_at", "updated_at",
]


def assert_error(r, status, code):
    assert r.status == status, r
    body = r.json()
    assert body["error"]["code"] == code, body
    assert body["error"]["request_id"] == r.header("X-Request-Id")
    return body["error"]


@pytest.fixture(scope="module")
def agent(stack, ws_a):
    return make_agent(stack, ws_a)


def count(stack, sql):
    return int(stack.sql(sql)[0][0])


def test_create_run_returns_full_pending_run(stack, ws_a, agent):
    agent_id, _, vids = agent
    api = ws_a.api()
    r = api.post("/api/v1/runs", json={"agent_id": agent_id, "input": {"prompt": "hi"},
                                        "metadata": {"team": "x"}})
    assert r.status == 201, r
    run = r.json()
    for f in RUN_FIELDS:
        assert f in run, f
    assert run["status"] == "pending"
    assert run["id"] == run["run_id"] and run["thread_id"] == run["session_id"]
    assert run["object"] == "run" and run["runnable_type"] == "agent"
    assert run["runnable_id"] == agent_id and run["agent_version"] == 1
    assert run["agent_version_id"] == vids[0]
    assert run["workspace_id"] == ws_a.id
    assert run["input"] == {"prompt": "hi"} and run["metadata"] == {"team": "x"}
    assert run["output"] is None and run["error"] is None
    assert run["started_at"] is None and run["completed_at"] is None
    assert run["usage"]["total_tokens"] == 0 and run["cost_usd"] == 0
    assert len(run["trace_id"]) == 32 and len(run["telemetry_span_id"]) == 16
    assert run["created_by_user_id"] == ws_a.admin_user
    assert run["model"] == "echo" and run["cancel_requested"] is False
    # one transaction wrote the session, the run.created event and the user turn
    ev = stack.sql("SELECT seq, type, run_id FROM events WHERE session_id = '%s'" %
                   run["session_id"])
    assert ev == [["1", "run.created", run["id"]]]
    msgs = stack.sql("SELECT role, content FROM messages WHERE run_id = '%s'" % run["id"])
    assert msgs == [["user", "hi"]]
    s = stack.sql("SELECT active_run_id, last_seq, status FROM sessions WHERE id = '%s'" %
                  run["session_id"])
    assert s == [[run["id"], "1", "open"]]
    g = api.get("/api/v1/runs/" + run["id"]) if hasattr(api, "get") else None
    if g is not None and g.status == 200:
        assert g.json()["id"] == run["id"]


def test_persona_and_prompt_and_config(stack, ws_a, agent):
    agent_id, key, _ = agent
    api = ws_a.api()
    r = api.post("/api/v1/runs", json={"persona_id": key + "@1", "prompt": "yo"})
    assert r.status == 201, r
    assert r.json()["input"] == {"prompt": "yo"} and r.json()["persona_id"] == key + "@1"
    r = api.post("/api/v1/runs", json={"persona_id": key, "config": {"a": 1}})
    assert r.status == 201, r
    assert r.json()["input"] == {"a": 1}
    r = api.post("/api/v1/runs", json={"agent_id": agent_id, "version": 1})
    assert r.status == 201, r
    assert r.json()["input"] == {}


def test_agent_resolution_errors(stack, ws_a, ws_b):
    api = ws_a.api()
    draft_agent, _, _ = make_agent(stack, ws_a, versions=(("draft", None),))
    arch_agent, _, _ = make_agent(stack, ws_a, versions=(("active", None), ("archived", None)))
    assert_error(api.post("/api/v1/runs", json={"agent_id": uuid7()}), 404, "RESOURCE_NOT_FOUND")
    assert_error(api.post("/api/v1/runs", json={"agent_id": "nope"}), 404, "RESOURCE_NOT_FOUND")
    assert_error(api.post("/api/v1/runs", json={"persona_id": "no-such-agent"}), 404,
                 "RESOURCE_NOT_FOUND")
    assert_error(api.post("/api/v1/runs", json={"agent_id": draft_agent}), 409, "CONFLICT")
    assert_error(api.post("/api/v1/runs", json={"agent_id": arch_agent, "version": 2}), 409,
                 "CONFLICT")
    assert_error(api.post("/api/v1/runs", json={"agent_id": arch_agent, "version": 9}), 404,
                 "RESOURCE_NOT_FOUND")
    e = assert_error(api.post("/api/v1/runs", json={"input": {}}), 400, "INVALID_INPUT")
    assert e["details"]["field"] == "agent_id"
    # another workspace's agent is not found, and nothing is created
    other, _, _ = make_agent(stack, ws_b)
    before = count(stack, "SELECT COUNT(*) FROM runs")
    assert_error(api.post("/api/v1/runs", json={"agent_id": other}), 404, "RESOURCE_NOT_FOUND")
    assert count(stack, "SELECT COUNT(*) FROM runs") == before


@pytest.mark.parametrize("body,field,status", [
    ({"input": []}, "input", 400),
    ({"input": "text"}, "input", 400),
    ({"metadata": [1]}, "metadata", 400),
    ({"multitask": "later"}, "multitask", 400),
    ({"prompt": 5}, "prompt", 400),
    ({"parent_run_id": "01a20846-3b0c-7266-855b-4a54e96169a6"}, "parent_run_id", 400),
    ({"route_id": "01a20846-3b0c-7266-855b-4a54e96169a6"}, "route_id", 400),
    ({"prompt": "x" * (32 * 1024 + 1)}, "prompt", 413),
    ({"input": {"prompt": "x" * (32 * 1024 + 1)}}, "input.prompt", 413),
])
def test_bad_fields_change_nothing(stack, ws_a, agent, body, field, status):
    body = dict(body, agent_id=agent[0])
    before = count(stack, "SELECT COUNT(*) FROM runs")
    r = ws_a.api().post("/api/v1/runs", json=body)
    e = assert_error(r, status, "PAYLOAD_TOO_LARGE" if status == 413 else "INVALID_INPUT")
    assert e["details"]["field"] == field
    assert count(stack, "SELECT COUNT(*) FROM runs") == before


def test_malformed_body(ws_a):
    api = ws_a.api()
    assert_error(api.post("/api/v1/runs", body="{nope"), 400, "INVALID_INPUT")
    assert_error(api.post("/api/v1/runs", body="[1]"), 400, "INVALID_INPUT")


def test_server_owned_fields_are_ignored(ws_a, agent):
    r = ws_a.api().post("/api/v1/runs", json={
        "agent_id": agent[0], "status": "completed", "cost_usd": 9, "workspace_id": "x",
        "id": "01a20846-3b0c-7266-855b-4a54e96169a6", "usage": {"prompt_tokens": 5},
        "steps": 3, "output": {"response": "forged"}})
    assert r.status == 201, r
    run = r.json()
    assert run["status"] == "pending" and run["cost_usd"] == 0 and run["steps"] == 0
    assert run["output"] is None and run["id"] != "01a20846-3b0c-7266-855b-4a54e96169a6"
    assert run["usage"]["prompt_tokens"] == 0


def test_parent_run_and_experiment(ws_a, agent):
    api = ws_a.api()
    parent = api.post("/api/v1/runs", json={"agent_id": agent[0]}).json()
    r = api.post("/api/v1/runs", json={"agent_id": agent[0], "parent_run_id": parent["id"],
                                       "experiment_id": "exp-1",
                                       "experiment_candidate_id": "cand-2"})
    assert r.status == 201, r
    run = r.json()
    assert run["parent_run_id"] == parent["id"]
    assert run["experiment_id"] == "exp-1" and run["experiment_candidate_id"] == "cand-2"


def test_agent_scoped_and_pinned_runs(stack, ws_a):
    agent_id, _, _ = make_agent(stack, ws_a, versions=(("active", None), ("draft", None)))
    api = ws_a.api()
    r = api.post("/api/v1/agents/%s/runs" % agent_id, json={"prompt": "hello"})
    assert r.status == 201, r
    body = r.json()
    assert body["run_id"] == body["id"] and body["session_id"]
    assert body["input"] == {"prompt": "hello"}
    r = api.post("/api/v1/agents/%s/versions/1/runs" % agent_id, json={"prompt": "p"})
    assert r.status == 201, r
    assert r.json()["agent_version"] == 1
    assert_error(api.post("/api/v1/agents/%s/versions/2/runs" % agent_id, json={}), 409,
                 "CONFLICT")
    assert_error(api.post("/api/v1/agents/%s/versions/7/runs" % agent_id, json={}), 404,
                 "RESOURCE_NOT_FOUND")
    assert_error(api.post("/api/v1/agents/%s/versions/x/runs" % agent_id, json={}), 404,
                 "RESOURCE_NOT_FOUND")
    assert_error(api.post("/api/v1/agents/%s/runs" % uuid7(), json={}), 404,
                 "RESOURCE_NOT_FOUND")


def test_one_active_run_per_session(stack, ws_a, agent):
    api = ws_a.api()
    first = api.post("/api/v1/runs", json={"agent_id": agent[0]}).json()
    sid = first["session_id"]
    e = assert_error(api.post("/api/v1/runs", json={"agent_id": agent[0], "session_id": sid}),
                     409, "CONFLICT")
    assert e["details"]["session_id"] == sid
    q = api.post("/api/v1/runs", json={"session_id": sid, "multitask": "enqueue"})
    assert q.status == 201, q
    assert q.json()["status"] == "pending"
    assert stack.sql("SELECT queued, runnable_at IS NULL FROM runs WHERE id = '%s'" %
                     q.json()["id"]) == [["1", "1"]]
    # interrupt: the pending active run is cancelled at once, the queued run moves up
    i = api.post("/api/v1/runs", json={"session_id": sid, "multitask": "interrupt"})
    assert i.status == 201, i
    assert stack.sql("SELECT status FROM runs WHERE id = '%s'" % first["id"]) == [["cancelled"]]
    assert stack.sql("SELECT active_run_id FROM sessions WHERE id = '%s'" % sid) == \
        [[q.json()["id"]]]
    assert stack.sql("SELECT queued FROM runs WHERE id = '%s'" % i.json()["id"]) == [["1"]]
    types = [t for (t,) in stack.sql(
        "SELECT type FROM events WHERE session_id = '%s' ORDER BY seq" % sid)]
    assert types == ["run.created", "run.created", "run.cancelled", "run.created"]


def test_thread_runs(stack, ws_a, ws_b, agent):
    api = ws_a.api()
    first = api.post("/api/v1/runs", json={"agent_id": agent[0]}).json()
    sid = first["session_id"]
    stack.sql("UPDATE runs SET status = 'completed' WHERE id = '%s'" % first["id"])
    stack.sql("UPDATE sessions SET active_run_id = NULL WHERE id = '%s'" % sid)
    r = api.post("/api/v1/threads/%s/runs" % sid, json={"content": "next turn"})
    assert r.status == 201, r
    run = r.json()
    assert run["thread_id"] == sid and run["trace_id"] and run["input"] == {"message": "next turn"}
    assert run["agent_id"] == agent[0]
    assert_error(api.post("/api/v1/threads/%s/runs" % uuid7(), json={}), 404,
                 "RESOURCE_NOT_FOUND")
    assert_error(ws_b.api().post("/api/v1/threads/%s/runs" % sid, json={}), 404,
                 "RESOURCE_NOT_FOUND")
    assert_error(ws_b.api().post("/api/v1/runs", json={"session_id": sid,
                                                       "agent_id": agent[0]}),
                 404, "RESOURCE_NOT_FOUND")


def test_session_messages_post(stack, ws_a, agent):
    api = ws_a.api()
    first = api.post("/api/v1/runs", json={"agent_id": agent[0]}).json()
    sid = first["session_id"]
    stack.sql("UPDATE runs SET status = 'completed' WHERE id = '%s'" % first["id"])
    stack.sql("UPDATE sessions SET active_run_id = NULL WHERE id = '%s'" % sid)
    r = api.post("/api/v1/sessions/%s/messages" % sid, json={"content": "only a note",
                                                             "run": False})
    note = assert_json(r, 201)
    # The Message object (docs/api.md), message_id kept: it is the message's id.
    assert set(note) == {"id", "message_id", "session_id", "run_id", "role", "content",
                         "created_at"}, note
    assert note["message_id"] == note["id"] and note["run_id"] is None
    assert note["session_id"] == sid and note["role"] == "user"
    assert note["content"] == "only a note" and TIME_RE.match(note["created_at"]), note
    listed = api.get("/api/v1/sessions/%s/messages" % sid, query={"limit": 1}).json()
    assert listed == [{k: v for k, v in note.items() if k != "message_id"}]
    r = api.post("/api/v1/sessions/%s/messages" % sid, json={"content": "answer me"})
    assert r.status == 201, r
    body = r.json()
    assert body["run_id"] and body["session_id"] == sid and body["message_id"]
    assert body["input"] == {"message": "answer me"}
    msgs = stack.sql("SELECT content FROM messages WHERE session_id = '%s' ORDER BY id" % sid)
    assert [m[0] for m in msgs][-2:] == ["only a note", "answer me"]
    e = assert_error(api.post("/api/v1/sessions/%s/messages" % sid, json={}), 400,
                     "INVALID_INPUT")
    assert e["details"]["field"] == "content"
    assert_error(api.post("/api/v1/sessions/%s/messages" % sid,
                          json={"content": "x" * (32 * 1024 + 1)}), 413, "PAYLOAD_TOO_LARGE")
    # a closed session takes no message and no run
    stack.sql("UPDATE sessions SET status = 'closed' WHERE id = '%s'" % sid)
    assert_error(api.post("/api/v1/sessions/%s/messages" % sid, json={"content": "x"}), 409,
                 "CONFLICT")
    assert_error(api.post("/api/v1/sessions/%s/messages" % sid,
                          json={"content": "x", "run": False}), 409, "CONFLICT")
    assert_error(api.post("/api/v1/runs", json={"session_id": sid}), 409, "CONFLICT")


def test_idempotency(stack, ws_a, agent):
    api = ws_a.api()
    body = {"agent_id": agent[0], "input": {"prompt": "once"}}
    h = {"Idempotency-Key": "key-" + uuid7()}
    a = api.post("/api/v1/runs", json=body, headers=h)
    b = api.post("/api/v1/runs", json=body, headers=h)
    assert a.status == 201 and b.status == 201
    assert a.json()["id"] == b.json()["id"]
    assert_error(api.post("/api/v1/runs", json=dict(body, input={"prompt": "other"}),
                          headers=h), 409, "CONFLICT")
    e = assert_error(api.post("/api/v1/runs", json=body, headers={"Idempotency-Key": "x" * 256}),
                     400, "INVALID_INPUT")
    assert e["details"]["field"] == "Idempotency-Key"
    # another workspace may use the same key for its own run
    assert count(stack, "SELECT COUNT(*) FROM runs WHERE idempotency_key = '%s'" %
                 h["Idempotency-Key"]) == 1


def test_idempotency_concurrent(stack, ws_a, agent):
    key = "conc-" + uuid7()
    body = {"agent_id": agent[0], "input": {"prompt": "race"}, "multitask": "enqueue"}
    results = []
    lock = threading.Lock()

    def worker():
        r = ws_a.api().post("/api/v1/runs", json=body, headers={"Idempotency-Key": key})
        with lock:
            results.append(r)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 20
    assert all(r.status == 201 for r in results), [r for r in results if r.status != 201]
    assert len({r.json()["id"] for r in results}) == 1
    assert count(stack, "SELECT COUNT(*) FROM runs WHERE idempotency_key = '%s'" % key) == 1


def test_input_schema_violations(stack, ws_a):
    schema = {"type": "object", "required": ["city"],
              "properties": {"city": {"type": "string", "minLength": 2}}}
    agent_id, _, _ = make_agent(stack, ws_a, versions=(("active", schema),))
    api = ws_a.api()
    before = count(stack, "SELECT COUNT(*) FROM runs")
    r = api.post("/api/v1/runs", json={"agent_id": agent_id, "input": {"city": "x"}})
    e = assert_error(r, 400, "INVALID_INPUT")
    assert e["details"]["violations"], e
    assert any(v["pointer"] == "/city" for v in e["details"]["violations"])
    assert count(stack, "SELECT COUNT(*) FROM runs") == before
    ok = api.post("/api/v1/runs", json={"agent_id": agent_id, "input": {"city": "Oslo"}})
    assert ok.status == 201, ok


def test_v1_alias_creates(ws_a, agent):
    r = ws_a.api().post("/v1/runs", json={"agent_id": agent[0]})
    assert r.status == 201, r


# --- the response is the run as stored ----------------------------------------------


def _same_as_get(api, r, status=201):
    """The POST answer is the Run that GET returns, byte for byte (plus the
    message_id of POST /sessions/{id}/messages, merged in last)."""
    assert r.status == status, r
    g = api.get("/api/v1/runs/" + r.json()["id"])
    assert g.status == 200, g
    if "message_id" not in r.json():
        assert r.body == g.body
    else:
        pairs = json.loads(r.body, object_pairs_hook=list)
        assert pairs[-1][0] == "message_id"
        assert pairs[:-1] == json.loads(g.body, object_pairs_hook=list)
    return r.json()


def test_create_response_equals_get_for_every_entry_point(stack, ws_a, agent):
    agent_id, key, _ = agent
    api = ws_a.api()
    first = _same_as_get(api, api.post("/api/v1/runs", json={
        "agent_id": agent_id, "input": {"prompt": "ü \"q\"", "n": 1.5, "l": [1, None]},
        "metadata": {"a": {"b": [True]}}, "experiment_id": "e"}))
    sid = first["session_id"]
    _same_as_get(api, api.post("/api/v1/runs", json={"persona_id": key + "@1", "prompt": "p"}))
    _same_as_get(api, api.post("/api/v1/agents/%s/runs" % agent_id, json={"prompt": "x"}))
    _same_as_get(api, api.post("/api/v1/agents/%s/versions/1/runs" % agent_id, json={}))
    # existing sessions: a queued run, then the thread and messages entry points
    q = _same_as_get(api, api.post("/api/v1/runs", json={"session_id": sid,
                                                         "multitask": "enqueue"}))
    assert q["status"] == "pending"
    stack.sql("UPDATE runs SET status = 'completed' WHERE session_id = '%s'" % sid)
    stack.sql("UPDATE sessions SET active_run_id = NULL WHERE id = '%s'" % sid)
    _same_as_get(api, api.post("/api/v1/threads/%s/runs" % sid, json={"content": "t"}))
    stack.sql("UPDATE runs SET status = 'completed' WHERE session_id = '%s'" % sid)
    stack.sql("UPDATE sessions SET active_run_id = NULL WHERE id = '%s'" % sid)
    m = _same_as_get(api, api.post("/api/v1/sessions/%s/messages" % sid,
                                   json={"content": "m"}))
    assert m["message_id"]
    # an idempotent replay answers the stored run too
    h = {"Idempotency-Key": "same-" + uuid7()}
    a = _same_as_get(api, api.post("/api/v1/runs", json={"agent_id": agent_id}, headers=h))
    b = _same_as_get(api, api.post("/api/v1/runs", json={"agent_id": agent_id}, headers=h))
    assert a["id"] == b["id"]


def test_new_session_is_written_whole(stack, ws_a, agent):
    api = ws_a.api()
    run = api.post("/api/v1/runs", json={"agent_id": agent[0], "prompt": "x"}).json()
    sid = run["session_id"]
    assert stack.sql("SELECT active_run_id, last_seq, status, agent_version_id FROM sessions"
                     " WHERE id = '%s'" % sid) == [[run["id"], "1", "open",
                                                    run["agent_version_id"]]]
    assert stack.sql("SELECT seq, type FROM events WHERE session_id = '%s'" % sid) == \
        [["1", "run.created"]]
    # the next run of that session continues the seq and obeys the one-active rule
    assert_error(api.post("/api/v1/runs", json={"session_id": sid}), 409, "CONFLICT")
    q = api.post("/api/v1/runs", json={"session_id": sid, "multitask": "enqueue"})
    assert q.status == 201, q
    assert stack.sql("SELECT seq, type FROM events WHERE session_id = '%s' ORDER BY seq" %
                     sid) == [["1", "run.created"], ["2", "run.created"]]
    assert stack.sql("SELECT active_run_id, last_seq FROM sessions WHERE id = '%s'" % sid) == \
        [[run["id"], "2"]]


# --- agent resolution is cached per worker, never stale -----------------------------


def _workers(stack):
    return max(1, len(stack.api_children()))


def test_new_version_is_used_by_the_next_create(stack, ws_a):
    api = ws_a.api()
    a = api.post("/api/v1/agents", json={
        "key": "cache-" + uuid7()[-8:], "activate": True,
        "version": {"model": {"provider": "scripted", "name": "echo"}}})
    assert a.status == 201, a
    aid = a.json()["id"]
    vpath = "/api/v1/agents/%s/versions" % aid
    n = 3 * _workers(stack)  # every worker resolves (and caches) version 1

    def create_all(**want):
        for _ in range(n):
            r = api.post("/api/v1/runs", json={"agent_id": aid, "prompt": "p"})
            assert r.status == 201, r
            got = r.json()
            assert {k: got[k] for k in want} == want, got

    create_all(agent_version=1, model="echo")
    v2 = api.post(vpath, json={"model": {"provider": "scripted", "name": "script"}})
    assert v2.status == 201, v2
    create_all(agent_version=1, model="echo")  # a draft is not used
    # a draft edited, then activated: its final content is what runs
    assert api.patch(vpath + "/2", json={"model": {"provider": "scripted",
                                                    "name": "echo2"}}).status == 200
    assert api.post(vpath + "/2/activate").status == 200
    create_all(agent_version=2, model="echo2")
    assert api.post(vpath + "/2/archive").status == 200
    create_all(agent_version=1, model="echo")
    assert api.post(vpath + "/1/archive").status == 200
    for _ in range(n):
        assert_error(api.post("/api/v1/runs", json={"agent_id": aid}), 409, "CONFLICT")
        assert_error(api.post(vpath + "/2/runs", json={}), 409, "CONFLICT")
    assert api.post(vpath + "/2/activate").status == 200
    create_all(agent_version=2, model="echo2")
    for _ in range(n):  # the agent's own entry point too
        r = api.post("/api/v1/agents/%s/runs" % aid, json={"prompt": "p"})
        assert r.status == 201 and r.json()["agent_version"] == 2, r
    assert api.delete("/api/v1/agents/%s" % aid).status in (200, 204)
    for _ in range(n):
        assert_error(api.post("/api/v1/runs", json={"agent_id": aid}), 409, "CONFLICT")
        assert_error(api.post("/api/v1/agents/%s/runs" % aid, json={}), 409, "CONFLICT")


def test_new_version_with_an_input_schema_checks_the_next_create(stack, ws_a):
    api = ws_a.api()
    a = api.post("/api/v1/agents", json={
        "key": "schema-" + uuid7()[-8:], "activate": True,
        "version": {"model": {"provider": "scripted", "name": "echo"}}})
    assert a.status == 201, a
    aid = a.json()["id"]
    n = 3 * _workers(stack)
    for _ in range(n):
        assert api.post("/api/v1/runs", json={"agent_id": aid, "input": {}}).status == 201
    before = count(stack, "SELECT COUNT(*) FROM runs WHERE agent_id = '%s'" % aid)
    v2 = api.post("/api/v1/agents/%s/versions" % aid, json={
        "model": {"provider": "scripted", "name": "echo"},
        "input_schema": {"type": "object", "required": ["city"]}})
    assert v2.status == 201, v2
    assert api.post("/api/v1/agents/%s/versions/2/activate" % aid).status == 200
    for _ in range(n):
        e = assert_error(api.post("/api/v1/runs", json={"agent_id": aid, "input": {}}), 400,
                         "INVALID_INPUT")
        assert e["details"]["field"] == "input"
    assert count(stack, "SELECT COUNT(*) FROM runs WHERE agent_id = '%s'" % aid) == before
    for _ in range(n):
        r = api.post("/api/v1/runs", json={"agent_id": aid, "input": {"city": "Oslo"}})
        assert r.status == 201 and r.json()["agent_version"] == 2, r
    assert count(stack, "SELECT COUNT(*) FROM runs WHERE agent_id = '%s'" % aid) == before + n


# --- usage_daily: every run counted once, without a hot row -------------------------


def _usage_rows(stack, ws, agent_id):
    return stack.sql("SELECT slot, runs FROM usage_daily WHERE workspace_id = '%s'"
                     " AND agent_id = '%s' ORDER BY slot" % (ws, agent_id))


def test_usage_uncontended_keeps_one_row(stack, ws_a):
    agent_id, _, _ = make_agent(stack, ws_a)
    api = ws_a.api()
    for _ in range(5):
        assert api.post("/api/v1/runs", json={"agent_id": agent_id}).status == 201
    assert _usage_rows(stack, ws_a.id, agent_id) == [["0", "5"]]


def test_usage_create_does_not_wait_for_a_locked_rollup_row(stack, ws_a):
    agent_id, _, _ = make_agent(stack, ws_a)
    api = ws_a.api()
    assert api.post("/api/v1/runs", json={"agent_id": agent_id}).status == 201
    assert _usage_rows(stack, ws_a.id, agent_id) == [["0", "1"]]
    # another transaction (an executor's, say: READ COMMITTED, no gap locks)
    # holds the slot 0 row for 4 s
    holder = subprocess.Popen(
        ["mariadb", "--no-defaults", "--socket=" + os.path.join(stack.dir, "run", "mysqld.sock"),
         "-uroot", "agentrun", "-e",
         "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;"
         " START TRANSACTION; SELECT runs FROM usage_daily WHERE workspace_id = '%s' AND"
         " agent_id = '%s' AND slot = 0 FOR UPDATE; SELECT SLEEP(4); COMMIT;"
         % (ws_a.id, agent_id)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        t0 = time.monotonic()
        for _ in range(3):
            assert api.post("/api/v1/runs", json={"agent_id": agent_id}).status == 201
        assert time.monotonic() - t0 < 2.5
    finally:
        holder.wait(30)
    rows = _usage_rows(stack, ws_a.id, agent_id)
    own = {str(1 + pid % 255) for pid in stack.api_children()}
    assert rows[0] == ["0", "1"] and all(s in own for s, _ in rows[1:]), rows
    assert sum(int(r) for _, r in rows) == 4
    # every reader sums the slots: analytics, and the report views
    u = api.get("/api/v1/analytics/usage", query={"group_by": "agent"}).json()
    assert [g["runs"] for g in u["groups"] if g["key"] == agent_id] == [4]
    assert stack.sql("SELECT runs FROM report_usage_by_agent WHERE workspace_id = '%s' AND"
                     " agent_id = '%s'" % (ws_a.id, agent_id)) == [["4"]]


def test_usage_concurrent_creates_are_all_counted(stack, ws_a):
    agent_id, _, _ = make_agent(stack, ws_a)
    per, nthreads = 15, 12
    failures = []

    def worker():
        api = ws_a.api()
        for _ in range(per):
            r = api.post("/api/v1/runs", json={"agent_id": agent_id})
            if r.status != 201:
                failures.append(r)

    threads = [threading.Thread(target=worker) for _ in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures[:3]
    made = count(stack, "SELECT COUNT(*) FROM runs WHERE agent_id = '%s'" % agent_id)
    assert made == per * nthreads
    assert sum(int(r) for _, r in _usage_rows(stack, ws_a.id, agent_id)) == made
    assert stack.sql("SELECT runs FROM report_usage_by_agent WHERE workspace_id = '%s' AND"
                     " agent_id = '%s'" % (ws_a.id, agent_id)) == [[str(made)]]
