"""agentrun-stream: SSE with exact resume, execution frames, fan-out,
keep-alives, sync execution (API.md §5, §4 execute)."""

import json
import os
import resource
import subprocess
import threading
import time

import pytest

from client import assert_error
from executor_helpers import events, new_agent, script_agent, start, wait_status
from sse import SSE


def host_port(stack):
    return "127.0.0.1", stack.port


def sse(stack, key, path, **kw):
    h, p = host_port(stack)
    return SSE(h, p, path, key=key, **kw)


def is_terminal(ev):
    return ev["event"] in ("run.completed", "run.failed", "run.timeout", "run.cancelled",
                           "run.rejected")


def test_run_stream_frames_headers_and_close(stack, ws_a):
    api = ws_a.api()
    agent = script_agent(api, [{"thinking": "hm", "content": "one two three"}], chunk_ms=40)
    run_id = start(api, agent)
    s = sse(stack, ws_a.admin_key, "/api/v1/runs/%s/events" % run_id)
    assert s.status == 200
    assert s.headers["content-type"].startswith("text/event-stream")
    assert s.headers["cache-control"] == "no-cache"
    assert s.headers["x-accel-buffering"] == "no"
    assert s.headers.get("x-request-id")
    evs = s.events(timeout=30)
    assert s.closed, "a run stream closes after its terminal event"
    assert evs and is_terminal(evs[-1])
    listed = events(api, run_id)
    assert [int(e["id"]) for e in evs] == [e["seq"] for e in listed]
    for e, l in zip(evs, listed):
        body = json.loads(e["data"])
        assert e["event"] == l["type"] == body["type"]
        assert body == l, (body, l)
    s.close()


def test_resume_after_disconnect_is_exact(stack, ws_a):
    api = ws_a.api()
    agent = script_agent(api, [{"content": " ".join("w%d" % i for i in range(40))}],
                         chunk_ms=30)
    run_id = start(api, agent)
    first = sse(stack, ws_a.admin_key, "/api/v1/runs/%s/events" % run_id)
    got = first.events(until=lambda e: int(e["id"]) >= 8, timeout=30)
    first.close()  # forced disconnect mid-run
    last = got[-1]["id"]
    second = sse(stack, ws_a.admin_key, "/api/v1/runs/%s/events" % run_id,
                 headers={"Last-Event-ID": last})
    rest = second.events(timeout=30)
    second.close()
    seqs = [int(e["id"]) for e in got + rest]
    assert seqs == [e["seq"] for e in events(api, run_id)], "gap or repeat"
    # the same through after_seq, from the middle of the finished run
    third = sse(stack, ws_a.admin_key, "/api/v1/runs/%s/events?after_seq=%s" % (run_id, last))
    again = third.events(timeout=10)
    assert [e["id"] for e in again] == [e["id"] for e in rest] and third.closed


def test_finished_run_replays_and_closes(stack, ws_a):
    api = ws_a.api()
    run_id = start(api, new_agent(api))
    wait_status(api, run_id, "completed")
    s = sse(stack, ws_a.admin_key, "/api/v1/runs/%s/logs" % run_id)
    evs = s.events(timeout=10)
    assert s.closed and evs[0]["event"] == "run.created" and evs[-1]["event"] == "run.completed"


def test_many_subscribers_receive_identical_sequences(stack, ws_a):
    api = ws_a.api()
    agent = script_agent(api, [{"content": " ".join("t%d" % i for i in range(30))}],
                         chunk_ms=30)
    run_id = start(api, agent, multitask="enqueue")
    n = 200
    results = [None] * n
    conns = [sse(stack, ws_a.admin_key, "/api/v1/runs/%s/events" % run_id) for _ in range(n)]

    def read(i):
        results[i] = [(e["id"], e["event"], e["data"]) for e in conns[i].events(timeout=60)]
        conns[i].close()

    threads = [threading.Thread(target=read, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert all(r is not None for r in results)
    bad = [(i, len(r), r[-1][:2] if r else None) for i, r in enumerate(results)
           if r != results[0]]
    assert not bad, (len(results[0]), results[0][-1][:2], bad[:5])
    assert results[0][-1][1] == "run.completed"


def test_keepalive_on_idle_session_stream(stack, ws_a):
    api = ws_a.api()
    run_id = start(api, new_agent(api))
    run = wait_status(api, run_id, "completed")
    s = sse(stack, ws_a.admin_key, "/api/v1/sessions/%s/events?after_seq=1000" %
            run["session_id"])
    t0 = time.monotonic()
    s.events(timeout=5)
    assert s.comments and s.comments[0] == ": keep-alive", s.comments
    assert not s.closed, "a session stream stays open while the session is open"
    s.close()
    assert time.monotonic() - t0 < 10


def test_session_stream_follows_runs_and_ends_with_the_session(stack, ws_a):
    api = ws_a.api()
    agent = script_agent(api, [{"content": "a b c"}], chunk_ms=20)
    first = api.post("/api/v1/runs", json={"agent_id": agent}).json()
    sid = first["session_id"]
    s = sse(stack, ws_a.admin_key, "/api/v1/threads/%s/events" % sid)
    got = s.events(until=lambda e: e["event"] == "run.completed", timeout=30)
    second = api.post("/api/v1/threads/%s/runs" % sid, json={"content": "again"}).json()
    got += s.events(until=lambda e: e["event"] == "run.completed" and
                    json.loads(e["data"])["run_id"] == second["id"], timeout=30)
    assert {json.loads(e["data"])["run_id"] for e in got} == {first["id"], second["id"]}
    assert api.post("/api/v1/sessions/%s/cancel" % sid, json={}).status == 200
    s.events(timeout=10)
    assert s.closed, "the stream ends when the session closes"
    seqs = [int(e["id"]) for e in got]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))


def test_payload_cannot_inject_sse_fields(stack, ws_a):
    api = ws_a.api()
    evil = "x\n\nevent: evil\ndata: {}\n\nid: 999\r\nretry: 1\n"
    run_id = start(api, new_agent(api), prompt=evil)
    wait_status(api, run_id, "completed")
    s = sse(stack, ws_a.admin_key, "/api/v1/runs/%s/events" % run_id)
    evs = s.events(timeout=10)
    assert all(e["event"] != "evil" for e in evs)
    assert all("unknown" not in e for e in evs)
    done = [e for e in evs if e["event"] == "message.completed"][0]
    assert json.loads(done["data"])["data"]["content"] == evil


def test_execution_frames(stack, ws_a, toolserver):
    api = ws_a.api()
    tool = {"type": "http", "name": "f", "url": toolserver.url + "/tools/f"}
    agent = script_agent(api, [{"thinking": "plan", "tool_call": {"name": "f",
                                                                   "arguments": {"a": 1}}},
                               {"content": "final words"}], tools=[tool], chunk_ms=20)
    r = api.post("/api/v1/agents/%s/execute" % agent, json={"input": {"prompt": "go"},
                                                             "async_mode": True})
    assert r.status == 202, r
    ex_id = r.json()["data"]["id"]
    s = sse(stack, ws_a.admin_key, "/api/v1/executions/%s/stream" % ex_id)
    frames = s.events(timeout=30)
    names = [f["event"] for f in frames]
    assert names[0] == "thinking" and "tool_start" in names and "tool_end" in names
    assert "content" in names and names[-1] == "done" and s.closed
    data = [json.loads(f["data"]) for f in frames]
    start_f = data[names.index("tool_start")]
    assert start_f == {"type": "tool_start", "call_id": start_f["call_id"], "name": "f",
                       "arguments": {"a": 1}}
    assert data[names.index("tool_end")]["name"] == "f"
    assert "".join(d["content"] for d in data if d["type"] == "content") == "final words"
    done = data[-1]
    assert done["status"] == "completed" and done["output"] == {"response": "final words"}
    assert set(done["token_usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    # a finished execution sends one done frame and closes, framed as the
    # live one was: the same id line (the terminal event's seq) and data
    again = sse(stack, ws_a.admin_key, "/api/v1/executions/%s/stream" % ex_id).events(timeout=10)
    assert [f["event"] for f in again] == ["done"]
    assert frames[-1]["id"] is not None and again[0]["id"] == frames[-1]["id"], (frames, again)
    assert json.loads(again[0]["data"]) == done


def test_failed_execution_ends_with_an_error_frame(stack, ws_a):
    api = ws_a.api()
    agent = script_agent(api, [{"fail": {"status": 400, "times": 1}}])
    r = api.post("/api/v1/agents/%s/execute" % agent, json={"input": {}})
    assert r.status == 200, r
    ex = r.json()["data"]
    assert ex["status"] == "failed" and "provider" in ex["error"]
    frames = sse(stack, ws_a.admin_key, "/api/v1/executions/%s/stream" % ex["id"]).events(
        timeout=10)
    assert [f["event"] for f in frames] == ["error"]
    assert json.loads(frames[0]["data"])["error"]["code"] == "PROVIDER_ERROR"


def test_sync_execute(stack, ws_a):
    api = ws_a.api()
    agent = new_agent(api)
    r = api.post("/api/v1/agents/%s/execute" % agent, json={"input": {"prompt": "sync"},
                                                             "metadata": {"k": 1}})
    assert r.status == 200, r
    ex = r.json()["data"]
    assert ex["status"] == "completed" and ex["output"] == {"response": "sync"}
    assert ex["metadata"] == {"k": 1} and ex["error"] is None
    for f in ("id", "agent_id", "agent_version_id", "workspace_id", "user_id", "session_id",
              "status", "input", "output", "error", "metadata", "token_usage", "cost",
              "duration_ms", "trace_id", "started_at", "completed_at", "created_at"):
        assert f in ex, f
    slow = script_agent(api, [{"content": " ".join(["s"] * 100)}], chunk_ms=50)
    t0 = time.monotonic()
    r = api.post("/api/v1/agents/%s/execute" % slow, json={"input": {}, "timeout_s": 0.5})
    assert r.status == 202, r
    assert r.json()["data"]["status"] in ("pending", "running")
    assert time.monotonic() - t0 < 5
    r = api.post("/api/v1/agents/%s/execute" % slow, json={"input": {}, "async_mode": True})
    assert r.status == 202 and r.json()["data"]["status"] in ("pending", "running")


def test_execute_errors(stack, ws_a, ws_b):
    api = ws_a.api()
    agent = new_agent(api)
    url = "/api/v1/agents/%s/execute" % agent
    assert_error(api.post(url, json={"input": 5}), 400, "INVALID_INPUT")
    assert_error(api.post(url, json={"timeout_s": -1}), 400, "INVALID_INPUT")
    assert_error(api.post(url, json={"async_mode": "yes"}), 400, "INVALID_INPUT")
    assert_error(api.post(url, body="{nope"), 400, "INVALID_INPUT")
    assert_error(ws_b.api().post(url, json={}), 404, "RESOURCE_NOT_FOUND")
    assert_error(api.post(url, json={}, key=None), 401, "AUTHORIZATION_ERROR")
    assert_error(api.get(url), 405, "METHOD_NOT_ALLOWED")


def test_stream_errors(stack, ws_a, ws_b):
    api = ws_a.api()
    run_id = start(api, new_agent(api))
    wait_status(api, run_id, "completed")
    s = sse(stack, ws_b.admin_key, "/api/v1/runs/%s/events" % run_id)
    assert s.status == 404
    s = sse(stack, None, "/api/v1/runs/%s/events" % run_id)
    assert s.status == 401
    s = sse(stack, ws_a.admin_key, "/api/v1/runs/%s/events?after_seq=-3" % run_id)
    assert s.status == 400
    s = sse(stack, ws_a.admin_key, "/api/v1/executions/%s/stream" % "nope")
    assert s.status == 404


def _rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_thousand_idle_listeners(stack, ws_a):
    api = ws_a.api()
    run_id = start(api, new_agent(api))
    run = wait_status(api, run_id, "completed")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    pid = stack.read_pid("stream")
    before = _rss_kib(pid)
    fds_before = len(os.listdir("/proc/%d/fd" % pid))
    # several keys, so nginx's per-key rate limit is not what this measures
    keys = [ws_a.new_key(ws_a.admin_user, "member", "listener-%d" % i)[1] for i in range(4)]
    conns = []
    try:
        for i in range(1000):
            conns.append(sse(stack, keys[i % 4], "/api/v1/sessions/%s/events?after_seq=100000"
                             % run["session_id"], timeout=30))
        assert [c.status for c in conns if c.status != 200] == []
        during = _rss_kib(pid)
        t0 = time.monotonic()
        other = start(api, new_agent(api))
        probe = sse(stack, ws_a.admin_key, "/api/v1/runs/%s/events" % other)
        evs = probe.events(timeout=30)
        assert evs and evs[-1]["event"] == "run.completed"
        responsive = time.monotonic() - t0
        print("\nstream worker RSS: %d KiB idle, %d KiB with 1000 listeners "
              "(%.1f KiB each); a new run streamed end to end in %.2f s" % (
                  before, during, (during - before) / 1000.0, responsive))
    finally:
        for c in conns:
            c.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    # Clients that go away are noticed and everything they held is released.
    deadline = time.monotonic() + 15
    while len(os.listdir("/proc/%d/fd" % pid)) > fds_before + 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(os.listdir("/proc/%d/fd" % pid)) <= fds_before + 5


def test_revoked_key_ends_its_open_streams(stack, ws_a):
    """A stream is authenticated when it opens; revoking its key ends it
    within the worker's key check (5 s), and reconnecting is refused.
    Streams of other keys stay open."""
    api = ws_a.api()
    run_id = start(api, new_agent(api))
    sid = wait_status(api, run_id, "completed")["session_id"]
    key_id, secret = ws_a.new_key(role="member", name="to-revoke")
    path = "/api/v1/sessions/%s/events?after_seq=1000" % sid
    doomed = [sse(stack, secret, path) for _ in range(3)]
    kept = sse(stack, ws_a.admin_key, path)
    for s in doomed + [kept]:
        assert s.status == 200
    assert api.delete("/api/v1/api-keys/" + key_id).status in (200, 204)
    t0 = time.monotonic()
    for s in doomed:
        s.events(timeout=max(1.0, 15 - (time.monotonic() - t0)))
        assert s.closed, "a revoked key's stream is still open after %.1f s" % (
            time.monotonic() - t0)
    assert time.monotonic() - t0 < 15
    kept.events(timeout=3)
    assert not kept.closed, "another key's stream was ended too"
    kept.close()
    again = sse(stack, secret, path)
    assert again.status == 401
    again.close()


def test_revoked_key_ends_a_waiting_sync_execution_with_401(stack, ws_a):
    api = ws_a.api()
    slow = script_agent(api, [{"content": " ".join(["s"] * 400)}], chunk_ms=50)  # ~20 s
    key_id, secret = ws_a.new_key(role="member", name="sync-revoke")
    out = {}

    def execute():
        out["r"] = ws_a.api(secret).post("/api/v1/agents/%s/execute" % slow,
                                         json={"input": {}, "timeout_s": 60})

    t = threading.Thread(target=execute)
    t.start()
    time.sleep(1.5)  # the execution is waiting for its run
    t0 = time.monotonic()
    assert api.delete("/api/v1/api-keys/" + key_id).status in (200, 204)
    t.join(30)
    assert not t.is_alive()
    assert time.monotonic() - t0 < 15
    assert_error(out["r"], 401, "AUTHORIZATION_ERROR")
