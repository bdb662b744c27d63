"""Where a run's requests and keys may go (docs/operations.md, "Security
model"): the operator's provider keys only to the operator's own base URLs,
a route's base_url and every tool URL behind the address guard (connect time
and every request, no pooled connection, redirects hop by hop), and a
deleted route gone for runs too.

Each test runs its own executor (ExtraExecutor) with the settings it needs;
the stack's executor is paused for the module, so nothing else takes the
runs. The fakes listen on 127.0.0.1: loopback is exactly what the guard
refuses unless the operator allows it."""

import os
import subprocess
import uuid

import pytest

from executor_helpers import ExtraExecutor, events, new_agent, script_agent, start, wait_status

pytestmark = pytest.mark.usefixtures("executor_paused")

OPERATOR_OPENAI_KEY = "sk-operator-openai-" + uuid.uuid4().hex
OPERATOR_ANTHROPIC_KEY = "sk-operator-anthropic-" + uuid.uuid4().hex


def _model():
    return "egress-" + uuid.uuid4().hex[:10]


def _env(provider=None, **kw):
    """An executor with operator keys, whose own base URLs are the fake
    provider's when given, and the guard settings of kw."""
    env = {"AGENTRUN_OPENAI_API_KEY": OPERATOR_OPENAI_KEY,
           "AGENTRUN_ANTHROPIC_API_KEY": OPERATOR_ANTHROPIC_KEY,
           "AGENTRUN_PROVIDERS_ALLOW_HOSTS": "",
           "AGENTRUN_TOOLS_ALLOW_PRIVATE": "false"}
    if provider is not None:
        env["AGENTRUN_OPENAI_BASE_URL"] = provider.openai_base_url
        env["AGENTRUN_ANTHROPIC_BASE_URL"] = provider.anthropic_base_url
    env.update({"AGENTRUN_" + k.upper(): v for k, v in kw.items()})
    return env


def _route(api, provider, model, base_url, key=None):
    body = {"provider": provider, "model": model, "base_url": base_url}
    if key is not None:
        body["api_key"] = key
    r = api.post("/api/v1/routes", json=body)
    assert r.status == 201, r
    return r.json()["id"]


def _routed_agent(api, provider, model, route_id):
    return new_agent(api, model={"provider": provider, "name": model, "route_id": route_id},
                     retry={"max_attempts": 2, "initial_backoff_ms": 5, "max_backoff_ms": 10,
                            "multiplier": 2})


def _base(fake, provider, host="127.0.0.1"):
    url = fake.openai_base_url if provider == "openai" else fake.anthropic_base_url
    return url.replace("127.0.0.1", host)


# --- 1. the operator's key goes only to the operator's base URL ----------------------


@pytest.mark.parametrize("prov", ["openai", "anthropic"])
def test_operator_key_goes_only_to_the_operators_base_url(stack, ws_a, provider, prov):
    api = ws_a.api()
    operator_key = OPERATOR_OPENAI_KEY if prov == "openai" else OPERATOR_ANTHROPIC_KEY
    own, none, same, keyed = _model(), _model(), _model(), _model()
    for m in (own, none, same, keyed):
        provider.script(m, [{"content": "ok"}])
    # A route naming another base URL (here the same server under another
    # name, allow-listed) without a key of its own.
    other = _base(provider, prov, "localhost")
    agents = {
        own: new_agent(api, model={"provider": prov, "name": own}),
        none: _routed_agent(api, prov, none, _route(api, prov, none, other)),
        same: _routed_agent(api, prov, same, _route(api, prov, same, _base(provider, prov))),
        keyed: _routed_agent(api, prov, keyed, _route(api, prov, keyed, other, "sk-tenant")),
    }
    with ExtraExecutor(stack, "egress-keys", env=_env(provider,
                                                      providers_allow_hosts="localhost")):
        runs = {m: start(api, a) for m, a in agents.items()}
        done = {m: wait_status(api, r, {"completed", "failed"}, timeout=60)
                for m, r in runs.items()}
    # The operator's base URL, with or without a route naming it: its key.
    assert provider.keys(own) == [operator_key]
    assert provider.keys(same) == [operator_key]
    assert done[own]["status"] == "completed" and done[same]["status"] == "completed"
    # Another base URL: the route's own key, or none at all.
    assert provider.keys(keyed) == ["sk-tenant"]
    seen = [r for r in provider.requests if r["model"] == none]
    assert seen, "the keyless route's call did not arrive"
    assert all(r["key"] is None for r in seen), [r["key"] for r in seen]
    for r in seen:
        assert operator_key not in repr(r["headers"])
        assert "authorization" not in r["headers"] and "x-api-key" not in r["headers"]


@pytest.mark.parametrize("how", ["ciphertext-of-another-route", "other-master-key"])
def test_route_key_that_does_not_open_fails_the_run(stack, ws_a, provider, how):
    api = ws_a.api()
    model = _model()
    provider.script(model, [{"content": "must not be reached"}])
    route = _route(api, "openai", model, provider.openai_base_url, "sk-route-a")
    env = _env(providers_allow_hosts="127.0.0.1")
    if how == "ciphertext-of-another-route":
        other = _route(api, "openai", model, provider.openai_base_url, "sk-route-b")
        stack.sql("UPDATE routes a JOIN routes b ON b.id = '%s' SET a.api_key_ciphertext ="
                  " b.api_key_ciphertext, a.api_key_nonce = b.api_key_nonce WHERE a.id = '%s'"
                  % (other, route))
    else:
        env["AGENTRUN_SECURITY_MASTER_KEY"] = "ab" * 32
    agent = _routed_agent(api, "openai", model, route)
    with ExtraExecutor(stack, "egress-badkey", env=env):
        run = wait_status(api, start(api, agent), {"completed", "failed"}, timeout=60)
    assert run["status"] == "failed", run
    assert run["error"]["code"] == "PROVIDER_ERROR"
    assert "cannot be decrypted" in run["error"]["message"], run["error"]
    assert route in run["error"]["message"]
    assert provider.calls(model) == 0, provider.keys(model)
    assert OPERATOR_OPENAI_KEY not in repr(run)


# --- 2. a route's base_url is guarded ------------------------------------------------


def test_route_base_url_on_loopback_is_refused_unless_allow_listed(stack, ws_a, provider):
    api = ws_a.api()
    refused = {}
    for host in ("127.0.0.1", "localhost"):
        m = _model()
        provider.script(m, [{"content": "secret answer from inside"}])
        refused[m] = _routed_agent(api, "openai", m,
                                   _route(api, "openai", m, _base(provider, "openai", host),
                                          "sk-tenant"))
    wrong_port, listed, own = _model(), _model(), _model()
    for m in (wrong_port, listed, own):
        provider.script(m, [{"content": "fine"}])
    wrong_port_agent = _routed_agent(api, "openai", wrong_port, _route(
        api, "openai", wrong_port, provider.openai_base_url, "sk-tenant"))
    listed_agent = _routed_agent(api, "openai", listed, _route(
        api, "openai", listed, provider.openai_base_url, "sk-tenant"))
    own_agent = new_agent(api, model={"provider": "anthropic", "name": own})

    # Nothing allow-listed (or 127.0.0.1 on another port): refused, not retried,
    # and nothing of what answers there reaches the run. The operator's own
    # base URL (anthropic here) is trusted, on loopback too.
    env = _env(providers_allow_hosts="127.0.0.1:1, gateway.internal")
    env["AGENTRUN_ANTHROPIC_BASE_URL"] = provider.anthropic_base_url
    with ExtraExecutor(stack, "egress-guard", env=env):
        ids = {m: start(api, a) for m, a in list(refused.items()) +
               [(wrong_port, wrong_port_agent)]}
        own_run = wait_status(api, start(api, own_agent), {"completed", "failed"}, timeout=60)
        for m, run_id in ids.items():
            run = wait_status(api, run_id, {"completed", "failed"}, timeout=60)
            assert run["status"] == "failed", run
            assert run["error"]["code"] == "PROVIDER_ERROR"
            assert "not an allowed address" in run["error"]["message"], run["error"]
            assert "after 1 attempt" in run["error"]["message"]
            assert "secret answer" not in repr(events(api, run_id))
            assert provider.calls(m) == 0
    assert own_run["status"] == "completed", own_run
    assert provider.keys(own) == [OPERATOR_ANTHROPIC_KEY]
    # The operator's log says which address was refused, for which run.
    with open(os.path.join(stack.dir, "log", "egress-guard.log")) as f:
        log = [line for line in f if "outbound address refused" in line]
    for run_id in ids.values():
        assert any("run=%s call=model" % run_id in line for line in log), log
    assert all("ip=127.0.0.1" in line or "ip=::1" in line for line in log), log
    # An allow-listed host is reached.
    with ExtraExecutor(stack, "egress-listed",
                       env=_env(providers_allow_hosts="gateway.internal 127.0.0.1")):
        run = wait_status(api, start(api, listed_agent), {"completed", "failed"}, timeout=60)
    assert run["status"] == "completed", run
    assert provider.keys(listed) == ["sk-tenant"]


@pytest.mark.parametrize("value", ["http://gw.internal/", "gw.internal/v1", "user@gw",
                                   "gw.internal:99999"])
def test_malformed_allow_list_stops_the_executor(stack, value):
    env = dict(stack.env, AGENTRUN_PROVIDERS_ALLOW_HOSTS=value,
               AGENTRUN_DOORBELL_EXECUTOR=os.path.join(stack.dir, "run", "egress-bad.bell"))
    binary = os.path.join(stack.env["AGENTRUN_BUILD_DIR"], "src", "executor",
                          "agentrun-executor")
    p = subprocess.run([binary, "-c", stack.config], env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    assert p.returncode != 0
    assert b"providers.allow_hosts" in p.stdout, p.stdout


# --- 3. no pooled connection, every request checked, redirects hop by hop -----------------


def test_tool_cannot_ride_on_a_pooled_connection(stack, ws_a, provider):
    """The model call to the operator's base URL (trusted, on loopback) leaves
    a kept-alive connection in the pool; a tool URL on the same host and port
    must not go out on it: tools may not reach loopback here."""
    api = ws_a.api()
    model = _model()
    tool = {"type": "http", "name": "peek", "url": provider.url + "/tools/peek"}
    provider.script(model, [{"tool_call": {"name": "peek", "arguments": {}}},
                            {"content": "done"}])
    agent = new_agent(api, model={"provider": "openai", "name": model}, tools=[tool])
    with ExtraExecutor(stack, "egress-pool", env=_env(provider)):
        run_id = start(api, agent)
        run = wait_status(api, run_id, {"completed", "failed"}, timeout=60)
    assert run["status"] == "completed", run
    assert provider.calls(model) == 2
    assert [r for r in provider.requests if "/tools/" in r["path"]] == []
    res = [e["data"] for e in events(api, run_id) if e["type"] == "tool.result"]
    assert len(res) == 1 and res[0]["is_error"] is True, res
    assert "not allowed" in res[0]["output"], res


def test_redirect_to_another_origin_drops_the_tool_headers(stack, ws_a, toolserver):
    api = ws_a.api()
    here = toolserver.url
    there = here.replace("127.0.0.1", "localhost")
    secret = "tool-secret-" + uuid.uuid4().hex
    hop, stay, land_here, land_there = ("hop-" + uuid.uuid4().hex[:8] for _ in range(4))
    # Same origin: the headers follow; another host: they are dropped.
    toolserver.behave(stay, [{"redirect": here + "/tools/" + land_here}])
    toolserver.behave(hop, [{"redirect": there + "/tools/" + land_there}])
    tools = [{"type": "http", "name": n, "url": here + "/tools/" + n,
              "headers": {"X-Tool-Secret": secret}} for n in (stay, hop)]
    agent = script_agent(api, [{"tool_call": {"name": stay, "arguments": {}}},
                               {"tool_call": {"name": hop, "arguments": {}}},
                               {"content": "after"}], tools=tools)
    with ExtraExecutor(stack, "egress-redirect", env=_env(tools_allow_private="true")):
        run_id = start(api, agent)
        run = wait_status(api, run_id, {"completed", "failed"}, timeout=60)
    assert run["status"] == "completed", run
    reqs = {r["name"]: r for r in toolserver.requests}
    for name in (stay, hop, land_here):
        assert reqs[name]["headers"].get("x-tool-secret") == secret, name
    assert land_there in reqs, sorted(reqs)
    landed = reqs[land_there]["headers"]
    assert "x-tool-secret" not in landed, landed
    assert secret not in repr(landed)
    # Still the same call: its body and Idempotency-Key went along.
    assert landed.get("idempotency-key") == reqs[hop]["key"]
    assert reqs[land_there]["body"]["run_id"] == run_id
    res = [e["data"] for e in events(api, run_id) if e["type"] == "tool.result"]
    assert [r["is_error"] for r in res] == [False, False], res


# --- 4. a deleted route is gone for runs too ---------------------------------------------------------


def test_deleted_route_fails_the_runs_that_name_it(stack, ws_a, provider):
    api = ws_a.api()
    model = _model()
    provider.script(model, [{"content": "must not be reached"}])
    route = _route(api, "openai", model, provider.openai_base_url, "sk-tenant")
    scripted = _route(api, "scripted", "echo", None)
    by_version = _routed_agent(api, "openai", model, route)
    scripted_agent = new_agent(api, model={"provider": "scripted", "name": "echo",
                                           "route_id": scripted})
    plain = new_agent(api)
    # Queued before the deletion (by the run's own route_id) and created after
    # it (through the active version that still names the route).
    queued = start(api, plain, route_id=route)
    assert api.delete("/api/v1/routes/" + route).status == 200
    assert api.delete("/api/v1/routes/" + scripted).status == 200
    ids = [queued, start(api, by_version), start(api, scripted_agent)]
    with ExtraExecutor(stack, "egress-deleted", env=_env(providers_allow_hosts="127.0.0.1")):
        runs = [wait_status(api, r, {"completed", "failed"}, timeout=60) for r in ids]
    for run, rid in zip(runs, (route, route, scripted)):
        assert run["status"] == "failed", run
        assert run["error"]["code"] == "PROVIDER_ERROR"
        assert "route %s was deleted" % rid in run["error"]["message"], run["error"]
    assert provider.calls(model) == 0
