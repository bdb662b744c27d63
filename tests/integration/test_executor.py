"""The executor runs agents end to end on the built-in scripted model:
lifecycles, tools, people in the loop, limits, retries, cancellation and
costs (API.md §3, §5, §6)."""

import math
import time

import pytest

from executor_helpers import (events, new_agent, script_agent, start, types, wait_status)


def tokens(s):
    return math.ceil(len(s.encode("utf-8")) / 4)


def test_streaming_run_shows_its_partial_output(ws_a):
    """API.md §2: while running, output holds what has been produced so far.
    The executor refreshes it at most once a second (docs/operations.md), so
    a 4-second answer is seen partial, growing, and then whole."""
    api = ws_a.api()
    text = " ".join("word%d" % i for i in range(40))
    agent = script_agent(api, [{"content": text}], chunk_ms=100)
    run_id = start(api, agent)
    seen = []
    deadline = time.monotonic() + 30
    run = None
    while time.monotonic() < deadline:
        run = api.get("/api/v1/runs/" + run_id).json()
        if run["status"] == "completed":
            break
        if run["status"] == "running" and run["output"] is not None:
            seen.append(run["output"]["response"])
        time.sleep(0.1)
    assert run["status"] == "completed" and run["output"] == {"response": text}
    partial = [p for p in seen if p and p != text]
    assert partial, seen
    assert all(text.startswith(p) for p in partial), partial
    assert [len(p) for p in partial] == sorted(len(p) for p in partial)
    # Refreshed as it streams (about once a second), not once at the end.
    assert len(set(partial)) >= 2, partial


def test_echo_run_completes_with_events_and_cost(stack, ws_a):
    api = ws_a.api()
    agent = new_agent(api, system_prompt="sys")
    run_id = start(api, agent, prompt="hello world")
    run = wait_status(api, run_id, "completed")
    assert run["output"] == {"response": "hello world"}
    assert run["steps"] == 1 and run["attempts"] == 1
    assert run["started_at"] and run["completed_at"] and run["error"] is None
    # deterministic counts: prompt = system + history, reply = the echo
    prompt = tokens("sys") + tokens("hello world")
    assert run["usage"]["prompt_tokens"] == tokens("syshello world")
    assert run["usage"]["completion_tokens"] == tokens("hello world")
    # scripted/echo prices: $1/Mtok in, $2/Mtok out
    want = (run["usage"]["prompt_tokens"] * 1000 + run["usage"]["completion_tokens"] * 2000)
    assert round(run["cost_usd"] * 1e9) == want
    assert prompt >= 1
    t = types(events(api, run_id))
    assert t[0] == "run.created" and t[1] == "run.started"
    assert "step.started" in t and "message.completed" in t and "step.completed" in t
    assert t[-1] == "run.completed"
    assert "message.delta" in t
    rows = stack.sql("SELECT provider, model, prompt_tokens, completion_tokens, cost_nusd "
                     "FROM llm_calls WHERE run_id = '%s'" % run_id)
    assert rows == [["scripted", "echo", str(run["usage"]["prompt_tokens"]),
                     str(run["usage"]["completion_tokens"]), str(want)]]
    msgs = stack.sql("SELECT role, content FROM messages WHERE run_id = '%s' ORDER BY id" % run_id)
    assert msgs == [["user", "hello world"], ["assistant", "hello world"]]
    assert stack.sql("SELECT active_run_id IS NULL FROM sessions WHERE id = '%s'" %
                     run["session_id"]) == [["1"]]


def test_script_with_usage_and_cached_tokens_costs_exactly(stack, ws_a):
    api = ws_a.api()
    agent = script_agent(api, [{"content": "done", "usage": {
        "prompt_tokens": 1000, "cached_tokens": 400, "cache_write_tokens": 100,
        "completion_tokens": 50}}])
    run = wait_status(api, start(api, agent), "completed")
    u = run["usage"]
    assert (u["prompt_tokens"], u["cached_tokens"], u["cache_write_tokens"],
            u["completion_tokens"]) == (1000, 400, 100, 50)
    # (1000-400-100)*1.00 + 400*0.10 + 100*1.25 + 50*2.00 dollars per Mtok
    want_nusd = 500 * 1000 + 400 * 100 + 100 * 1250 + 50 * 2000
    assert round(run["cost_usd"] * 1e9) == want_nusd
    assert run["cache_hit_rate"] == pytest.approx(0.4)


def test_thinking_and_chunked_stream(ws_a):
    api = ws_a.api()
    agent = script_agent(api, [{"thinking": "let me see", "content": "one two three four"}],
                         chunk_ms=30)
    run_id = start(api, agent)
    run = wait_status(api, run_id, "completed")
    assert run["output"]["response"] == "one two three four"
    evs = events(api, run_id)
    assert "thinking.delta" in types(evs)
    deltas = "".join(e["data"]["content"] for e in evs if e["type"] == "message.delta")
    assert deltas == "one two three four"
    seqs = [e["seq"] for e in evs]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_http_tool_round_trip(stack, ws_a, toolserver):
    api = ws_a.api()
    tool = {"type": "http", "name": "lookup", "description": "look up",
            "url": toolserver.url + "/tools/lookup",
            "parameters": {"type": "object"}}
    agent = script_agent(api, [{"tool_call": {"name": "lookup", "arguments": {"q": "x"}}},
                               {"content": "found it"}], tools=[tool])
    run_id = start(api, agent)
    run = wait_status(api, run_id, "completed")
    assert run["output"]["response"] == "found it"
    assert run["steps"] == 3
    evs = events(api, run_id)
    call = [e for e in evs if e["type"] == "tool.call"][0]["data"]
    result = [e for e in evs if e["type"] == "tool.result"][0]["data"]
    assert call["name"] == "lookup" and call["arguments"] == {"q": "x"}
    assert result["call_id"] == call["call_id"] and result["is_error"] is False
    assert result["output"]["ok"] is True
    key = "%s:%s" % (run_id, call["call_id"])
    assert toolserver.deliveries(key) == 1


def test_ask_user_waits_for_input(ws_a):
    api = ws_a.api()
    agent = script_agent(api, [{"tool_call": {"name": "ask_user",
                                              "arguments": {"question": "which city?"}}},
                               {"content": "thanks"}],
                         tools=[{"type": "ask_user", "name": "ask_user",
                                 "description": "ask"}])
    run_id = start(api, agent)
    run = wait_status(api, run_id, "waiting_for_input")
    evs = events(api, run_id)
    w = [e for e in evs if e["type"] == "run.waiting_for_input"][0]["data"]
    assert w["prompt"] == "which city?" and w["call_id"]
    r = api.post("/api/v1/runs/%s/input" % run_id, json={"content": "Oslo"})
    assert r.status == 200, r
    run = wait_status(api, run_id, "completed")
    evs = events(api, run_id)
    res = [e for e in evs if e["type"] == "tool.result"][0]["data"]
    assert res["output"] == "Oslo"
    assert "input.received" in types(evs)
    assert run["attempts"] == 2


def test_confirmation_yes_and_no(ws_a, toolserver):
    api = ws_a.api()
    tool = {"type": "http", "name": "pay", "url": toolserver.url + "/tools/pay",
            "requires_confirmation": True}
    turns = [{"tool_call": {"name": "pay", "arguments": {"amount": 3}}}, {"content": "ok"}]
    yes = start(api, script_agent(api, turns, tools=[tool]))
    wait_status(api, yes, "waiting_for_input")
    assert api.post("/api/v1/runs/%s/input" % yes, json={"content": "yes"}).status == 200
    wait_status(api, yes, "completed")
    res = [e for e in events(api, yes) if e["type"] == "tool.result"][0]["data"]
    assert res["is_error"] is False
    no = start(api, script_agent(api, turns, tools=[tool]))
    wait_status(api, no, "waiting_for_input")
    assert api.post("/api/v1/runs/%s/input" % no, json={"content": "no, too much"}).status == 200
    wait_status(api, no, "completed")
    res = [e for e in events(api, no) if e["type"] == "tool.result"][0]["data"]
    assert res["is_error"] is True and "too much" in res["output"]
    assert toolserver.deliveries("%s:%s" % (no, res["call_id"])) == 0


def test_approval_before_tool_approve_and_reject(ws_a, toolserver):
    api = ws_a.api()
    tool = {"type": "http", "name": "deploy", "url": toolserver.url + "/tools/deploy"}
    turns = [{"tool_call": {"name": "deploy", "arguments": {}}}, {"content": "deployed"}]
    kw = {"tools": [tool], "approval": {"required": False, "before_tools": ["deploy"]}}
    a = start(api, script_agent(api, turns, **kw))
    wait_status(api, a, "awaiting_approval")
    assert api.post("/api/v1/runs/%s/approve" % a, json={"comment": "go"}).status == 200
    run = wait_status(api, a, "completed")
    assert run["output"]["response"] == "deployed"
    assert "run.approved" in types(events(api, a))
    b = start(api, script_agent(api, turns, **kw))
    wait_status(api, b, "awaiting_approval")
    assert api.post("/api/v1/runs/%s/reject" % b, json={"comment": "no"}).status == 200
    wait_status(api, b, "rejected")


def test_approval_required_before_start(ws_a):
    api = ws_a.api()
    agent = new_agent(api, approval={"required": True, "before_tools": []})
    run_id = start(api, agent)
    wait_status(api, run_id, "awaiting_approval")
    assert api.post("/api/v1/runs/%s/approve" % run_id, json={}).status == 200
    run = wait_status(api, run_id, "completed")
    assert run["output"]["response"] == "hello there"


def test_max_steps_limit(ws_a, toolserver):
    api = ws_a.api()
    tool = {"type": "http", "name": "t", "url": toolserver.url + "/tools/t"}
    agent = script_agent(api, [{"tool_call": {"name": "t", "arguments": {}}}] * 5,
                         tools=[tool], limits={"max_steps": 2})
    run = wait_status(api, start(api, agent), "failed")
    assert run["error"]["code"] == "LIMIT_EXCEEDED"


def test_timeout(ws_a):
    api = ws_a.api()
    agent = script_agent(api, [{"content": " ".join(["w"] * 200)}], chunk_ms=50,
                         limits={"timeout_s": 1})
    t0 = time.monotonic()
    run = wait_status(api, start(api, agent), "timeout")
    assert run["error"]["code"] == "TIMEOUT"
    assert time.monotonic() - t0 < 8
    assert run["failed_at"] is not None


def test_retries_then_success(ws_a):
    api = ws_a.api()
    agent = script_agent(api, [{"fail": {"status": 500, "times": 2}}, {"content": "ok"}],
                         retry={"max_attempts": 3, "initial_backoff_ms": 10,
                                "max_backoff_ms": 50, "multiplier": 2})
    run_id = start(api, agent)
    run = wait_status(api, run_id, "completed")
    evs = events(api, run_id)
    retries = [e["data"] for e in evs if e["type"] == "step.retrying"]
    assert [r["attempt"] for r in retries] == [1, 2]
    assert run["output"]["response"] == "ok"


def test_retry_after_is_honoured(ws_a):
    api = ws_a.api()
    agent = script_agent(api, [{"fail": {"status": 429, "times": 1, "retry_after_s": 1}},
                               {"content": "ok"}],
                         retry={"max_attempts": 3, "initial_backoff_ms": 10,
                                "max_backoff_ms": 20, "multiplier": 2})
    t0 = time.monotonic()
    run_id = start(api, agent)
    wait_status(api, run_id, "completed")
    assert time.monotonic() - t0 >= 1.0
    r = [e["data"] for e in events(api, run_id) if e["type"] == "step.retrying"][0]
    assert r["retry_in_ms"] >= 1000


def test_exhausted_retries_fail_with_provider_error(ws_a):
    api = ws_a.api()
    agent = script_agent(api, [{"fail": {"status": 500, "times": 50}}],
                         retry={"max_attempts": 3, "initial_backoff_ms": 5,
                                "max_backoff_ms": 10, "multiplier": 2})
    run_id = start(api, agent)
    run = wait_status(api, run_id, "failed")
    assert run["error"]["code"] == "PROVIDER_ERROR"
    assert len([e for e in events(api, run_id) if e["type"] == "step.retrying"]) == 2


def test_non_retryable_4xx_fails_at_once(ws_a):
    api = ws_a.api()
    agent = script_agent(api, [{"fail": {"status": 400, "times": 1}}, {"content": "never"}],
                         retry={"max_attempts": 5, "initial_backoff_ms": 5,
                                "max_backoff_ms": 10, "multiplier": 2})
    run_id = start(api, agent)
    run = wait_status(api, run_id, "failed")
    assert run["error"]["code"] == "PROVIDER_ERROR"
    assert "step.retrying" not in types(events(api, run_id))


def test_cancel_during_slow_stream(ws_a):
    api = ws_a.api()
    agent = script_agent(api, [{"content": " ".join(["word"] * 40)}, {"content": "next"}],
                         chunk_ms=50)
    run_id = start(api, agent)
    wait_status(api, run_id, "running")
    time.sleep(0.3)
    r = api.post("/api/v1/runs/%s/cancel" % run_id, json={})
    assert r.status == 200, r
    run = wait_status(api, run_id, "cancelled", timeout=30)
    assert run["cancelled_at"] is not None
    evs = events(api, run_id)
    t = types(evs)
    cut = t.index("run.cancel_requested")
    assert "step.started" not in t[cut + 1:]
    assert t[-1] == "run.cancelled"


def test_queued_run_starts_after_the_active_one(ws_a):
    api = ws_a.api()
    agent = script_agent(api, [{"content": "a b c d e f"}], chunk_ms=20)
    first = api.post("/api/v1/runs", json={"agent_id": agent}).json()
    second = api.post("/api/v1/runs", json={"session_id": first["session_id"],
                                            "multitask": "enqueue"})
    assert second.status == 201, second
    wait_status(api, first["id"], "completed")
    wait_status(api, second.json()["id"], "completed")


def test_max_tokens_and_max_cost(ws_a, toolserver):
    api = ws_a.api()
    tool = {"type": "http", "name": "t", "url": toolserver.url + "/tools/t"}
    big = {"prompt_tokens": 1000, "cached_tokens": 0, "cache_write_tokens": 0,
           "completion_tokens": 10}
    turns = [{"tool_call": {"name": "t", "arguments": {}}, "usage": big}, {"content": "never"}]
    a = wait_status(api, start(api, script_agent(api, turns, tools=[tool],
                                                  limits={"max_tokens": 500})), "failed")
    assert a["error"]["code"] == "LIMIT_EXCEEDED" and "max_tokens" in a["error"]["message"]
    b = wait_status(api, start(api, script_agent(api, turns, tools=[tool],
                                                  limits={"max_cost_usd": 0.0005})), "failed")
    assert b["error"]["code"] == "LIMIT_EXCEEDED" and "max_cost_usd" in b["error"]["message"]
    assert b["steps"] == 2 and b["output"] is None  # it never replied


def test_tool_response_over_the_cap_is_an_error_result(ws_a, toolserver):
    api = ws_a.api()
    toolserver.behave("huge", [{"size": 2 * 1024 * 1024}])
    tool = {"type": "http", "name": "huge", "url": toolserver.url + "/tools/huge"}
    agent = script_agent(api, [{"tool_call": {"name": "huge", "arguments": {}}},
                               {"content": "coped"}], tools=[tool])
    run_id = start(api, agent)
    wait_status(api, run_id, "completed")
    res = [e for e in events(api, run_id) if e["type"] == "tool.result"][0]["data"]
    assert res["is_error"] is True and "exceeds" in res["output"]


def test_usage_rollup_and_run_totals_agree_with_calls(stack, ws_a):
    api = ws_a.api()
    agent = script_agent(api, [{"content": "x", "usage": {
        "prompt_tokens": 321, "cached_tokens": 21, "cache_write_tokens": 0,
        "completion_tokens": 7}}])
    ids = [start(api, agent) for _ in range(3)]
    for run_id in ids:
        wait_status(api, run_id, "completed")
    calls = stack.sql("SELECT SUM(prompt_tokens), SUM(cached_tokens), SUM(completion_tokens), "
                      "SUM(cost_nusd), COUNT(*) FROM llm_calls WHERE agent_id = '%s'" % agent)
    daily = stack.sql("SELECT SUM(prompt_tokens), SUM(cached_tokens), SUM(completion_tokens), "
                      "SUM(cost_nusd), SUM(calls) FROM usage_daily WHERE agent_id = '%s'" % agent)
    runs = stack.sql("SELECT SUM(prompt_tokens), SUM(cached_tokens), SUM(completion_tokens), "
                     "SUM(cost_nusd), COUNT(*) FROM runs WHERE agent_id = '%s'" % agent)
    assert calls == daily == runs, (calls, daily, runs)
    assert calls[0][:3] == ["963", "63", "21"]
    assert stack.sql("SELECT SUM(runs) FROM usage_daily WHERE agent_id = '%s'" % agent) == [["3"]]


def test_streaming_run_row_is_rewritten_about_once_a_second(stack, ws_a):
    """While a step streams, the executor commits its message.delta events
    every ~50 ms but rewrites the run row only with the partial output, at
    most once a second (wb_run_changed, ADV_PARTIAL_OUTPUT_MS): a 4-second
    answer sees a handful of updated_at values, not one per commit."""
    api = ws_a.api()
    text = " ".join("w%d" % i for i in range(40))
    agent = script_agent(api, [{"content": text}], chunk_ms=100)
    run_id = start(api, agent)
    seen, deltas = set(), 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row = stack.sql("SELECT status, updated_at FROM runs WHERE id = '%s'" % run_id)[0]
        if row[0] == "completed":
            break
        if row[0] == "running":
            seen.add(row[1])
        time.sleep(0.02)
    assert row[0] == "completed"
    deltas = sum(1 for e in events(api, run_id) if e["type"] == "message.delta")
    assert deltas >= 20, deltas  # many commits of events while it streamed...
    assert 2 <= len(seen) <= 9, sorted(seen)  # ...few rewrites of the run row


def test_expired_idempotency_keys_are_purged(stack, ws_a):
    """Issue 14 item 8: idempotency keys live 24 hours; the executor's
    housekeeping deletes expired ones continuously, in small batches (here
    2,500 expired rows, more than one batch), and leaves live ones alone."""
    ws = ws_a.id
    stack.sql("INSERT INTO idempotency_keys (workspace_id, idem_key, request_hash, status_code,"
              " created_at, expires_at) SELECT '%s', CONCAT('purge-old-', seq), UNHEX(SHA2(seq, 256)),"
              " 201, NOW(3) - INTERVAL 25 HOUR, NOW(3) - INTERVAL 1 HOUR FROM seq_1_to_2500" % ws)
    stack.sql("INSERT INTO idempotency_keys (workspace_id, idem_key, request_hash, status_code,"
              " created_at, expires_at) SELECT '%s', CONCAT('purge-live-', seq), UNHEX(SHA2(seq, 256)),"
              " 201, NOW(3), NOW(3) + INTERVAL 24 HOUR FROM seq_1_to_5" % ws)

    def count(kind):
        return int(stack.sql("SELECT COUNT(*) FROM idempotency_keys WHERE workspace_id = '%s'"
                             " AND idem_key LIKE 'purge-%s-%%'" % (ws, kind))[0][0])

    deadline = time.monotonic() + 40
    while count("old") > 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert count("old") == 0, "expired idempotency keys are still there"
    assert count("live") == 5
