"""OpenAI- and Anthropic-compatible providers over real HTTP streaming (the
fake provider on loopback), reached through a BYOK route: answers, tool
calls, reasoning, cached tokens and exact costs, retries (API.md §6)."""

import time

import pytest

from executor_helpers import events, new_agent, start, types, wait_status


def route_agent(api, admin, provider, fake, model, tools=None, retry=None, key="sk-route-key"):
    base = fake.openai_base_url if provider == "openai" else fake.anthropic_base_url
    r = admin.post("/api/v1/routes", json={"provider": provider, "model": model,
                                           "base_url": base, "api_key": key})
    assert r.status == 201, r
    route_id = r.json()["id"]
    return new_agent(api, model={"provider": provider, "name": model, "route_id": route_id},
                     tools=tools, retry=retry)


def test_openai_answer_with_cached_tokens_and_cost(ws_a, provider):
    api = ws_a.api()
    provider.script("gpt-4o-mini", [{"content": "hello from openai", "usage": {
        "prompt_tokens": 2000, "cached_tokens": 1500, "completion_tokens": 10}}])
    agent = route_agent(api, api, "openai", provider, "gpt-4o-mini")
    run_id = start(api, agent)
    run = wait_status(api, run_id, "completed")
    assert run["output"]["response"] == "hello from openai"
    u = run["usage"]
    assert (u["prompt_tokens"], u["cached_tokens"], u["completion_tokens"]) == (2000, 1500, 10)
    # gpt-4o-mini: $0.15 in, $0.075 cached, $0.60 out per Mtok
    want = 500 * 150 + 1500 * 75 + 10 * 600
    assert round(run["cost_usd"] * 1e9) == want
    assert provider.keys("gpt-4o-mini")[-1] == "sk-route-key"
    body = provider.last("gpt-4o-mini")["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    deltas = "".join(e["data"]["content"] for e in events(api, run_id)
                     if e["type"] == "message.delta")
    assert deltas == "hello from openai"


def test_openai_tool_call_round_trip(ws_a, provider, toolserver):
    api = ws_a.api()
    tool = {"type": "http", "name": "lookup", "url": toolserver.url + "/tools/lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}
    provider.script("fake-oa-tools", [
        {"thinking": "I should look", "tool_call": {"name": "lookup", "arguments": {"q": "z"}}},
        {"content": "the answer"}])
    agent = route_agent(api, api, "openai", provider, "fake-oa-tools", tools=[tool])
    run_id = start(api, agent)
    run = wait_status(api, run_id, "completed")
    assert run["output"]["response"] == "the answer"
    evs = events(api, run_id)
    assert "thinking.delta" in types(evs)
    call = [e for e in evs if e["type"] == "tool.call"][0]["data"]
    assert call["name"] == "lookup" and call["arguments"] == {"q": "z"}
    second = provider.requests[-1]["body"]["messages"]
    assert second[-1]["role"] == "tool" and second[-1]["tool_call_id"] == call["call_id"]
    assert second[-2]["tool_calls"][0]["function"]["name"] == "lookup"
    # an unknown model is not priced: cost 0 and flagged
    steps = [e["data"] for e in evs if e["type"] == "step.completed" and e["data"]["kind"] == "llm"]
    assert all(s.get("priced") is False for s in steps)


def test_anthropic_tool_use_thinking_and_cache(ws_a, provider, toolserver):
    api = ws_a.api()
    tool = {"type": "http", "name": "weather", "url": toolserver.url + "/tools/weather"}
    provider.script("claude-3-5-haiku-latest", [
        {"thinking": "hmm", "tool_call": {"name": "weather", "arguments": {"city": "Oslo"}},
         "usage": {"prompt_tokens": 1000, "cached_tokens": 600, "cache_write_tokens": 300,
                   "completion_tokens": 20}},
        {"content": "it is cold", "usage": {"prompt_tokens": 1100, "cached_tokens": 900,
                                            "cache_write_tokens": 0, "completion_tokens": 5}}])
    agent = route_agent(api, api, "anthropic", provider, "claude-3-5-haiku-latest",
                        tools=[tool], key="sk-ant-route")
    run_id = start(api, agent)
    run = wait_status(api, run_id, "completed")
    assert run["output"]["response"] == "it is cold"
    u = run["usage"]
    assert (u["prompt_tokens"], u["cached_tokens"], u["cache_write_tokens"],
            u["completion_tokens"]) == (2100, 1500, 300, 25)
    # haiku: $0.80 in, $0.08 cached, $1.00 write, $4.00 out per Mtok
    want = (100 * 800 + 600 * 80 + 300 * 1000 + 20 * 4000) + (200 * 800 + 900 * 80 + 5 * 4000)
    assert round(run["cost_usd"] * 1e9) == want
    req = provider.last("claude-3-5-haiku-latest")
    assert req["headers"]["x-api-key"] == "sk-ant-route"
    msgs = req["body"]["messages"]
    assert msgs[-1]["role"] == "user" and msgs[-1]["content"][0]["type"] == "tool_result"


def test_provider_429_then_success_honours_retry_after(ws_a, provider):
    api = ws_a.api()
    provider.script("fake-429", [{"fail": {"status": 429, "times": 1, "retry_after_s": 1}},
                                 {"content": "finally"}])
    agent = route_agent(api, api, "openai", provider, "fake-429",
                        retry={"max_attempts": 3, "initial_backoff_ms": 10,
                               "max_backoff_ms": 20, "multiplier": 2})
    t0 = time.monotonic()
    run_id = start(api, agent)
    run = wait_status(api, run_id, "completed")
    assert time.monotonic() - t0 >= 1.0
    assert run["output"]["response"] == "finally"
    retry = [e["data"] for e in events(api, run_id) if e["type"] == "step.retrying"]
    assert len(retry) == 1 and retry[0]["retry_in_ms"] >= 1000


def test_provider_500_forever_fails_after_the_policy(ws_a, provider):
    api = ws_a.api()
    provider.script("fake-500", [{"fail": {"status": 500, "times": 100}}])
    agent = route_agent(api, api, "openai", provider, "fake-500",
                        retry={"max_attempts": 3, "initial_backoff_ms": 5,
                               "max_backoff_ms": 10, "multiplier": 2})
    run_id = start(api, agent)
    run = wait_status(api, run_id, "failed")
    assert run["error"]["code"] == "PROVIDER_ERROR"
    assert provider.calls("fake-500") == 3
    assert "sk-route-key" not in run["error"]["message"]


def test_broken_stream_is_retried(ws_a, provider):
    api = ws_a.api()
    provider.script("fake-cut", [{"content": "a b c d e f g", "disconnect_after": 3},
                                 {"content": "whole answer"}])
    agent = route_agent(api, api, "openai", provider, "fake-cut",
                        retry={"max_attempts": 3, "initial_backoff_ms": 5,
                               "max_backoff_ms": 10, "multiplier": 2})
    run = wait_status(api, start(api, agent), "completed")
    assert run["output"]["response"] == "whole answer"
