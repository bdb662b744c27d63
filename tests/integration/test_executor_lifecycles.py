"""The people-in-the-loop lifecycles, limits and timeout on each real
provider protocol (OpenAI and Anthropic through the fake provider): the
agent loop is provider-independent, and these prove it."""

import time
import uuid

import pytest

from executor_helpers import events, new_agent, start, types, wait_status

PROVIDERS = ["openai", "anthropic"]


def agent_for(api, provider, fake, turns, **kw):
    model = "life-" + uuid.uuid4().hex[:8]
    fake.script(model, turns)
    base = fake.openai_base_url if provider == "openai" else fake.anthropic_base_url
    r = api.post("/api/v1/routes", json={"provider": provider, "model": model, "base_url": base,
                                         "api_key": "k-" + provider})
    assert r.status == 201, r
    return new_agent(api, model={"provider": provider, "name": model,
                                 "route_id": r.json()["id"]}, **kw)


@pytest.mark.parametrize("prov", PROVIDERS)
def test_ask_user(ws_a, provider, prov):
    api = ws_a.api()
    agent = agent_for(api, prov, provider,
                      [{"tool_call": {"name": "ask_user", "arguments": {"question": "why?"}}},
                       {"content": "because"}],
                      tools=[{"type": "ask_user", "name": "ask_user", "description": "ask"}])
    run_id = start(api, agent)
    wait_status(api, run_id, "waiting_for_input")
    assert api.post("/api/v1/runs/%s/input" % run_id, json={"content": "reasons"}).status == 200
    run = wait_status(api, run_id, "completed")
    assert run["output"]["response"] == "because"
    res = [e for e in events(api, run_id) if e["type"] == "tool.result"][0]["data"]
    assert res["output"] == "reasons"


@pytest.mark.parametrize("prov", PROVIDERS)
def test_confirmation(ws_a, provider, toolserver, prov):
    api = ws_a.api()
    tool = {"type": "http", "name": "send", "url": toolserver.url + "/tools/send",
            "requires_confirmation": True}
    agent = agent_for(api, prov, provider,
                      [{"tool_call": {"name": "send", "arguments": {}}}, {"content": "sent"}],
                      tools=[tool])
    run_id = start(api, agent)
    wait_status(api, run_id, "waiting_for_input")
    assert api.post("/api/v1/runs/%s/input" % run_id, json={"content": "approve"}).status == 200
    wait_status(api, run_id, "completed")
    res = [e for e in events(api, run_id) if e["type"] == "tool.result"][0]["data"]
    assert res["is_error"] is False
    assert toolserver.effects("%s:%s" % (run_id, res["call_id"])) == 1


@pytest.mark.parametrize("prov", PROVIDERS)
@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_approval(ws_a, provider, toolserver, prov, decision):
    api = ws_a.api()
    tool = {"type": "http", "name": "drop", "url": toolserver.url + "/tools/drop"}
    agent = agent_for(api, prov, provider,
                      [{"tool_call": {"name": "drop", "arguments": {}}}, {"content": "dropped"}],
                      tools=[tool], approval={"required": False, "before_tools": ["drop"]})
    run_id = start(api, agent)
    wait_status(api, run_id, "awaiting_approval")
    assert api.post("/api/v1/runs/%s/%s" % (run_id, decision), json={}).status == 200
    if decision == "approve":
        assert wait_status(api, run_id, "completed")["output"]["response"] == "dropped"
    else:
        wait_status(api, run_id, "rejected")
        assert "tool.result" not in types(events(api, run_id))


@pytest.mark.parametrize("prov", PROVIDERS)
def test_max_steps(ws_a, provider, toolserver, prov):
    api = ws_a.api()
    tool = {"type": "http", "name": "loop", "url": toolserver.url + "/tools/loop"}
    agent = agent_for(api, prov, provider,
                      [{"tool_call": {"name": "loop", "arguments": {}}}] * 6,
                      tools=[tool], limits={"max_steps": 3})
    run = wait_status(api, start(api, agent), "failed")
    assert run["error"]["code"] == "LIMIT_EXCEEDED"


@pytest.mark.parametrize("prov", PROVIDERS)
def test_timeout_mid_stream(ws_a, provider, prov):
    api = ws_a.api()
    agent = agent_for(api, prov, provider,
                      [{"content": " ".join(["slow"] * 100), "chunk_delay_ms": 60}],
                      limits={"timeout_s": 1})
    t0 = time.monotonic()
    run = wait_status(api, start(api, agent), "timeout")
    assert run["error"]["code"] == "TIMEOUT" and time.monotonic() - t0 < 8
