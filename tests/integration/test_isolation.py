"""Workspace isolation and roles, swept over the whole route table: another
workspace's key gets 404 and none of the data on every id-bearing route of
the first; a member key gets 403 on every admin route (API.md §1)."""

import json
import time
import uuid

import pytest

from client import assert_error
from test_docs import served_routes

ADMIN_PREFIXES = ("/api/v1/api-keys", "/api/v1/routes")


@pytest.fixture(scope="module")
def world(stack, ws_a):
    """One of everything in workspace A, made through the API."""
    api = ws_a.api()
    key = "iso-" + uuid.uuid4().hex[:10]
    r = api.post("/api/v1/agents", json={
        "key": key, "name": "secret-agent-name",
        "version": {"model": {"provider": "scripted", "name": "echo"},
                    "system_prompt": "secret-system-prompt"},
        "activate": True})
    assert r.status == 201, r
    agent = r.json()
    run = api.post("/api/v1/runs", json={"agent_id": agent["id"],
                                          "input": {"prompt": "secret-input"}})
    assert run.status == 201, run
    # Let the run finish first: the executor moving it on (updated_at) would
    # otherwise look like a change made by a foreign request.
    deadline = time.monotonic() + 30
    while api.get("/api/v1/runs/" + run.json()["id"]).json()["status"] not in (
            "completed", "failed", "cancelled", "timeout"):
        assert time.monotonic() < deadline, "the world's run did not finish"
        time.sleep(0.05)
    route = api.post("/api/v1/routes", json={"provider": "openai", "model": "gpt-4o-mini",
                                            "name": "secret-route"})
    assert route.status == 201, route
    k = api.post("/api/v1/api-keys", json={"name": "secret-key-name"})
    assert k.status == 201, k
    return {
        "agent": agent["id"], "n": "1", "run": run.json()["id"],
        "session": run.json()["session_id"], "route": route.json()["id"],
        "key": k.json()["id"],
        "secrets": ["secret-agent-name", "secret-system-prompt", "secret-input",
                    "secret-route", "secret-key-name", key],
    }


def fill(path, w):
    """Puts workspace A's ids into a route pattern."""
    if path.startswith("/api/v1/agents/{id}"):
        first = w["agent"]
    elif (path.startswith("/api/v1/runs/{id}") or path.startswith("/api/v1/executions/{id}")
          or path.startswith("/api/v1/analytics/runs/{id}")):
        first = w["run"]
    elif path.startswith("/api/v1/sessions/{id}") or path.startswith("/api/v1/threads/{id}"):
        first = w["session"]
    elif path.startswith("/api/v1/routes/{id}"):
        first = w["route"]
    elif path.startswith("/api/v1/api-keys/{id}"):
        first = w["key"]
    else:
        raise AssertionError("no id for " + path)
    return path.replace("{id}", first, 1).replace("{n}", w["n"])


ID_ROUTES = [(p, m) for p, verbs in served_routes() if "{id}" in p for m in verbs]


@pytest.mark.parametrize("path,method", ID_ROUTES,
                         ids=["%s %s" % (m.upper(), p) for p, m in ID_ROUTES])
def test_foreign_workspace_gets_404_and_no_data(stack, ws_a, ws_b, world, path, method):
    url = fill(path, world)
    body = None if method in ("get", "delete") else {"content": "x", "comment": "x"}
    kw = {} if body is None else {"json": body}
    # No run appears in A, and the runs the request named do not change (runs
    # of other tests in A may still be moving on meanwhile).
    snapshot = ("SELECT (SELECT COUNT(*) FROM runs WHERE workspace_id = '%s'),"
                " (SELECT COALESCE(MAX(updated_at), '') FROM runs WHERE session_id = '%s')"
                % (ws_a.id, world["session"]))
    before = stack.sql(snapshot)
    r = ws_b.api().request(method.upper(), url, **kw)
    assert_error(r, 404, "RESOURCE_NOT_FOUND")
    for s in world["secrets"]:
        assert s not in r.text
    after = stack.sql(snapshot)
    assert before == after


def test_foreign_lists_show_nothing(ws_b, world):
    api = ws_b.api()
    for path in ("/api/v1/agents", "/api/v1/runs", "/api/v1/sessions", "/api/v1/threads",
                 "/api/v1/routes", "/api/v1/api-keys", "/api/v1/approvals",
                 "/api/v1/executions"):
        r = api.get(path)
        assert r.status == 200, (path, r)
        text = json.dumps(r.json())
        for v in (world["agent"], world["run"], world["session"], world["route"],
                  world["key"]):
            assert v not in text, path


ADMIN_ROUTES = [(p, m) for p, verbs in served_routes() if p.startswith(ADMIN_PREFIXES)
                for m in verbs]


@pytest.mark.parametrize("path,method", ADMIN_ROUTES,
                         ids=["%s %s" % (m.upper(), p) for p, m in ADMIN_ROUTES])
def test_member_key_gets_403_on_admin_routes(ws_a, world, path, method):
    url = fill(path, world) if "{id}" in path else path
    kw = {"json": {"provider": "openai", "model": "m"}} if method == "post" else {}
    r = ws_a.api(ws_a.member_key).request(method.upper(), url, **kw)
    assert_error(r, 403, "AUTHORIZATION_ERROR")


def test_admin_routes_are_exactly_the_admin_ones(ws_a, world):
    """Members use everything else: e.g. they can read the run list."""
    assert ws_a.api(ws_a.member_key).get("/api/v1/runs").status == 200
    assert ws_a.api(ws_a.member_key).get("/api/v1/agents/" + world["agent"]).status == 200
