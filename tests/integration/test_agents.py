"""Agents and agent versions: create, list, get, patch, archive; versions
with their validation, defaults, numbering (also under concurrency),
drafts-only editing, activate/archive, workspace isolation, 405s and the
/v1 alias."""

import copy
import datetime
import threading
import time
import uuid

import pytest

from client import TIME_RE, UUID7_RE, assert_error, assert_json, random_uuid7

AGENTS = "/api/v1/agents"
AGENT_FIELDS = {"id", "key", "name", "description", "active_version", "created_at",
                "updated_at", "archived_at"}
VERSION_FIELDS = {"id", "agent_id", "version", "status", "model", "system_prompt",
                  "prompt_template", "input_schema", "tools", "limits", "retry", "approval",
                  "created_at", "updated_at", "activated_at", "archived_at"}
MODEL = {"provider": "scripted", "name": "echo"}
DEFAULT_LIMITS = {"max_steps": 20, "max_tokens": 200000, "max_cost_usd": 5.0, "timeout_s": 600}
DEFAULT_RETRY = {"max_attempts": 3, "initial_backoff_ms": 500, "max_backoff_ms": 30000,
                 "multiplier": 2.0}
DEFAULT_APPROVAL = {"required": False, "before_tools": []}
HTTP_TOOL = {"type": "http", "name": "lookup", "url": "https://tools.example/lookup"}


def _key(prefix="agent"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def _time(s):
    assert isinstance(s, str) and TIME_RE.match(s), s
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")


def _check_agent(a):
    assert set(a) == AGENT_FIELDS or set(a) == AGENT_FIELDS | {"version"}, sorted(a)
    assert UUID7_RE.match(a["id"]), a["id"]
    assert isinstance(a["key"], str) and isinstance(a["name"], str)
    assert isinstance(a["description"], str)
    assert a["active_version"] is None or (isinstance(a["active_version"], int)
                                           and a["active_version"] >= 1)
    _time(a["created_at"])
    _time(a["updated_at"])
    assert a["archived_at"] is None or TIME_RE.match(a["archived_at"])
    return a


def _check_version(v, agent_id=None):
    assert set(v) == VERSION_FIELDS, sorted(v)
    assert UUID7_RE.match(v["id"]), v["id"]
    if agent_id is not None:
        assert v["agent_id"] == agent_id
    assert isinstance(v["version"], int) and v["version"] >= 1
    assert v["status"] in ("draft", "active", "archived")
    assert set(v["model"]) == {"provider", "name", "route_id", "params"}, v["model"]
    assert isinstance(v["system_prompt"], str)
    assert v["prompt_template"] is None or isinstance(v["prompt_template"], str)
    assert v["input_schema"] is None or isinstance(v["input_schema"], dict)
    assert isinstance(v["tools"], list)
    assert set(v["limits"]) == set(DEFAULT_LIMITS)
    assert set(v["retry"]) == set(DEFAULT_RETRY)
    assert set(v["approval"]) == set(DEFAULT_APPROVAL)
    _time(v["created_at"])
    _time(v["updated_at"])
    for f in ("activated_at", "archived_at"):
        assert v[f] is None or TIME_RE.match(v[f]), (f, v[f])
    if v["status"] == "draft":
        assert v["activated_at"] is None and v["archived_at"] is None
    if v["status"] == "active":
        assert v["activated_at"] is not None and v["archived_at"] is None
    if v["status"] == "archived":
        assert v["archived_at"] is not None
    return v


def _new_agent(api, **body):
    body.setdefault("key", _key())
    return _check_agent(assert_json(api.post(AGENTS, json=body), 201))


def _new_version(api, aid, /, **body):
    body.setdefault("model", dict(MODEL))
    r = api.post("%s/%s/versions" % (AGENTS, aid), json=body)
    v = _check_version(assert_json(r, 201))
    assert v["agent_id"] == aid
    return v


def _vpath(agent_id, n=None, verb=None):
    p = "%s/%s/versions" % (AGENTS, agent_id)
    if n is not None:
        p += "/%s" % n
    if verb is not None:
        p += "/" + verb
    return p


@pytest.fixture(scope="module")
def own_ws(stack):
    """A workspace of its own, so list walks know every agent in it."""
    return stack.new_tenant("ws-agents")


# --- agents: create -------------------------------------------------------------


def test_create_minimal_agent(ws_a):
    key = _key()
    r = ws_a.api().post(AGENTS, json={"key": key})
    a = _check_agent(assert_json(r, 201))
    assert set(a) == AGENT_FIELDS  # no "version" without one
    assert a["key"] == key and a["name"] == key and a["description"] == ""
    assert a["active_version"] is None and a["archived_at"] is None
    assert a["created_at"] == a["updated_at"]
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert abs((now - _time(a["created_at"])).total_seconds()) < 120
    got = assert_json(ws_a.api().get("%s/%s" % (AGENTS, a["id"])), 200)
    assert got == a


def test_create_with_name_description_and_version(ws_a):
    key = _key()
    body = {"key": key, "name": "Support bot", "description": "Answers tickets ✓",
            "version": {"model": MODEL, "system_prompt": "Be kind."}}
    a = _check_agent(assert_json(ws_a.api().post(AGENTS, json=body), 201))
    assert a["name"] == "Support bot" and a["description"] == "Answers tickets ✓"
    v = _check_version(a["version"], a["id"])
    assert v["version"] == 1 and v["status"] == "draft"
    assert v["system_prompt"] == "Be kind."
    assert a["active_version"] is None
    got = assert_json(ws_a.api().get(_vpath(a["id"], 1)), 200)
    assert got == v
    # The agent itself, read back, carries no version object.
    assert set(assert_json(ws_a.api().get("%s/%s" % (AGENTS, a["id"])), 200)) == AGENT_FIELDS


def test_create_with_version_and_activate(ws_a):
    a = _new_agent(ws_a.api(), version={"model": MODEL}, activate=True)
    v = a["version"]
    assert v["status"] == "active" and v["activated_at"] is not None
    assert a["active_version"] == 1
    a = _new_agent(ws_a.api(), version={"model": MODEL}, activate=False)
    assert a["version"]["status"] == "draft" and a["active_version"] is None


def test_create_activate_without_version_is_400(ws_a):
    assert_error(ws_a.api().post(AGENTS, json={"key": _key(), "activate": True}), 400,
                 "INVALID_INPUT", field="activate")
    assert_error(ws_a.api().post(AGENTS, json={"key": _key(), "version": {"model": MODEL},
                                               "activate": "yes"}),
                 400, "INVALID_INPUT", field="activate")


def test_create_with_bad_version_creates_nothing(stack, ws_a):
    key = _key()
    r = ws_a.api().post(AGENTS, json={"key": key, "version": {"model": {"provider": "x",
                                                                         "name": "y"}}})
    assert_error(r, 400, "INVALID_INPUT", field="version.model.provider")
    r = ws_a.api().post(AGENTS, json={"key": key, "version": {"model": MODEL,
                                                               "limits": {"timeout_s": 0}}})
    assert_error(r, 400, "INVALID_INPUT", field="version.limits.timeout_s")
    r = ws_a.api().post(AGENTS, json={"key": key, "version": "v1"})
    assert_error(r, 400, "INVALID_INPUT", field="version")
    r = ws_a.api().post(AGENTS, json={"key": key, "version": {}})
    assert_error(r, 400, "INVALID_INPUT", field="version.model")
    assert stack.sql("SELECT COUNT(*) FROM agents WHERE `key` = '%s'" % key) == [["0"]]
    # The key is still free.
    _new_agent(ws_a.api(), key=key)


@pytest.mark.parametrize("key", [
    "", "Upper", "UPPER", "-leading-dash", ".leading-dot", "_leading", "has space",
    "persona@2", "a/b", "caf\u00e9", "x" * 129, "tab\tkey",
])
def test_bad_key_is_400(ws_a, key):
    assert_error(ws_a.api().post(AGENTS, json={"key": key}), 400, "INVALID_INPUT",
                 field="key")


@pytest.mark.parametrize("body", [{}, {"key": None}, {"key": 5}, {"key": ["a"]},
                                  {"name": "no key"}])
def test_missing_or_mistyped_key_is_400(ws_a, body):
    assert_error(ws_a.api().post(AGENTS, json=body), 400, "INVALID_INPUT", field="key")


def test_good_keys(stack, ws_a):
    tail = uuid.uuid4().hex
    for key in ("a-" + tail, "0-" + tail, tail + "a" * 96, "my.agent_v2-x." + tail,
                "9lives_" + tail):
        assert _new_agent(ws_a.api(), key=key)["key"] == key
    # One character is enough (in a workspace of its own, to be sure it is free).
    t = stack.new_tenant("ws-short-key")
    assert _new_agent(t.api(), key="a")["key"] == "a"


@pytest.mark.parametrize("body, field", [
    ({"name": 5}, "name"),
    ({"name": "n" * 256}, "name"),
    ({"description": 7}, "description"),
    ({"description": "d" * 65536}, "description"),
])
def test_bad_agent_fields_are_400(ws_a, body, field):
    body = dict(body, key=_key())
    assert_error(ws_a.api().post(AGENTS, json=body), 400, "INVALID_INPUT", field=field)


def test_malformed_bodies_are_400(ws_a):
    api = ws_a.api()
    assert_error(api.post(AGENTS, body="{"), 400, "INVALID_INPUT")
    assert_error(api.post(AGENTS, body="[1]"), 400, "INVALID_INPUT")
    assert_error(api.post(AGENTS, body=""), 400, "INVALID_INPUT")
    a = _new_agent(api)
    assert_error(api.post(_vpath(a["id"]), body="{\"model\": "), 400, "INVALID_INPUT")
    assert_error(api.post(_vpath(a["id"]), body="\"x\""), 400, "INVALID_INPUT")
    assert_error(api.patch("%s/%s" % (AGENTS, a["id"]), body="nope"), 400, "INVALID_INPUT")


def test_duplicate_key_is_409(ws_a, ws_b):
    key = _key()
    _new_agent(ws_a.api(), key=key)
    assert_error(ws_a.api().post(AGENTS, json={"key": key}), 409, "CONFLICT")
    # Also with a version: nothing of it is kept.
    assert_error(ws_a.api().post(AGENTS, json={"key": key, "version": {"model": MODEL}}),
                 409, "CONFLICT")
    # Another workspace may use the same key.
    assert _new_agent(ws_b.api(), key=key)["key"] == key


def test_concurrent_creates_with_one_key(ws_a):
    key = _key()
    results = []
    barrier = threading.Barrier(8)

    def worker():
        api = ws_a.api()
        barrier.wait()
        r = api.post(AGENTS, json={"key": key, "version": {"model": MODEL}})
        results.append(r)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status for r in results)
    assert codes == [201] + [409] * 7, results
    for r in results:
        if r.status == 409:
            assert_error(r, 409, "CONFLICT")


def test_member_key_may_manage_agents(ws_a):
    member = ws_a.api(ws_a.member_key)
    a = _new_agent(member)
    v = _new_version(member, a["id"])
    assert_json(member.post(_vpath(a["id"], v["version"], "activate")), 200)
    assert_json(member.patch("%s/%s" % (AGENTS, a["id"]), json={"name": "m"}), 200)
    assert any(x["id"] == a["id"] for x in assert_json(member.get(AGENTS + "?limit=100"), 200))
    assert_json(member.delete("%s/%s" % (AGENTS, a["id"])), 200)


# --- agents: list -----------------------------------------------------------------


def test_list_newest_first_with_cursor(own_ws):
    api = own_ws.api()
    made = [_new_agent(api, key="walk-%d" % i)["id"] for i in range(5)]
    listed = assert_json(api.get(AGENTS), 200)
    assert [a["id"] for a in listed] == made[::-1]
    for a in listed:
        _check_agent(a)
    page1 = assert_json(api.get(AGENTS + "?limit=2"), 200)
    assert [a["id"] for a in page1] == made[4:2:-1]
    page2 = assert_json(api.get(AGENTS, query={"limit": 2, "before": page1[-1]["id"]}), 200)
    assert [a["id"] for a in page2] == made[2:0:-1]
    page3 = assert_json(api.get(AGENTS, query={"limit": 2, "before": page2[-1]["id"]}), 200)
    assert [a["id"] for a in page3] == made[:1]
    assert assert_json(api.get(AGENTS, query={"before": made[0]}), 200) == []


def test_list_bad_parameters(ws_a, ws_b):
    api = ws_a.api()
    for q in ({"limit": 0}, {"limit": 101}, {"limit": "x"}):
        assert_error(api.get(AGENTS, query=q), 400, "INVALID_INPUT", field="limit")
    for before in ("nope", random_uuid7()):
        assert_error(api.get(AGENTS, query={"before": before}), 400, "INVALID_INPUT",
                     field="before")
    # Another workspace's agent is not a cursor here.
    foreign = _new_agent(ws_b.api())
    assert_error(api.get(AGENTS, query={"before": foreign["id"]}), 400, "INVALID_INPUT",
                 field="before")
    assert_error(api.get(AGENTS, query={"include_archived": "maybe"}), 400,
                 "INVALID_INPUT", field="include_archived")


def test_list_hides_archived_unless_asked(own_ws):
    api = own_ws.api()
    keep = _new_agent(api)
    gone = _new_agent(api)
    assert_json(api.delete("%s/%s" % (AGENTS, gone["id"])), 200)
    ids = [a["id"] for a in assert_json(api.get(AGENTS + "?limit=100"), 200)]
    assert keep["id"] in ids and gone["id"] not in ids
    for flag in ("true", "1"):
        ids = [a["id"] for a in assert_json(
            api.get(AGENTS, query={"limit": 100, "include_archived": flag}), 200)]
        assert keep["id"] in ids and gone["id"] in ids
    ids = [a["id"] for a in assert_json(
        api.get(AGENTS, query={"limit": 100, "include_archived": "false"}), 200)]
    assert gone["id"] not in ids
    # An archived agent is still a valid cursor.
    assert_json(api.get(AGENTS, query={"before": gone["id"]}), 200)


# --- agents: get / patch / delete ---------------------------------------------------


def test_patch_agent(ws_a):
    api = ws_a.api()
    a = _new_agent(api, name="before", description="old")
    path = "%s/%s" % (AGENTS, a["id"])
    new_key = _key("renamed")
    time.sleep(0.01)  # so that updated_at visibly moves
    p = _check_agent(assert_json(api.patch(path, json={"name": "after",
                                                       "description": "new",
                                                       "key": new_key}), 200))
    assert (p["name"], p["description"], p["key"]) == ("after", "new", new_key)
    assert p["created_at"] == a["created_at"]
    assert _time(p["updated_at"]) > _time(a["created_at"])
    # Absent and null fields keep their values; server-owned fields are ignored.
    q = assert_json(api.patch(path, json={"name": None, "id": random_uuid7(),
                                          "archived_at": "2020-01-01T00:00:00.000Z",
                                          "active_version": 3}), 200)
    assert (q["name"], q["description"], q["key"], q["id"]) == ("after", "new", new_key,
                                                                  a["id"])
    assert q["archived_at"] is None and q["active_version"] is None
    assert _time(q["updated_at"]) >= _time(p["updated_at"])
    # An empty body is fine too.
    assert_json(api.patch(path, json={}), 200)
    assert_json(api.patch(path), 200)
    assert assert_json(api.get(path), 200)["key"] == new_key


def test_patch_agent_errors(ws_a):
    api = ws_a.api()
    a = _new_agent(api)
    other = _new_agent(api)
    path = "%s/%s" % (AGENTS, a["id"])
    assert_error(api.patch(path, json={"key": other["key"]}), 409, "CONFLICT")
    assert_error(api.patch(path, json={"key": "Bad Key"}), 400, "INVALID_INPUT", field="key")
    assert_error(api.patch(path, json={"key": 1}), 400, "INVALID_INPUT", field="key")
    assert_error(api.patch(path, json={"name": []}), 400, "INVALID_INPUT", field="name")
    assert_error(api.patch(path, json={"description": {}}), 400, "INVALID_INPUT",
                 field="description")
    # Nothing changed.
    got = assert_json(api.get(path), 200)
    assert got["key"] == a["key"] and got["name"] == a["name"]
    # Setting the agent's own key again is not a conflict.
    assert_json(api.patch(path, json={"key": a["key"]}), 200)


def test_delete_archives_idempotently(stack, ws_a):
    api = ws_a.api()
    a = _new_agent(api, version={"model": MODEL}, activate=True)
    path = "%s/%s" % (AGENTS, a["id"])
    d = _check_agent(assert_json(api.delete(path), 200))
    assert d["archived_at"] is not None and d["id"] == a["id"]
    assert _time(d["updated_at"]) >= _time(d["archived_at"])
    again = assert_json(api.delete(path), 200)
    assert again["archived_at"] == d["archived_at"]
    # Still readable, with its versions.
    assert assert_json(api.get(path), 200)["archived_at"] == d["archived_at"]
    assert [v["version"] for v in assert_json(api.get(_vpath(a["id"])), 200)] == [1]
    assert_json(api.get(_vpath(a["id"], 1)), 200)
    # But no longer editable.
    assert_error(api.patch(path, json={"name": "x"}), 409, "CONFLICT")
    assert_error(api.post(_vpath(a["id"]), json={"model": MODEL}), 409, "CONFLICT")
    assert_error(api.post(_vpath(a["id"], 1, "archive")), 409, "CONFLICT")
    # The row is still there and keeps its key.
    assert stack.sql("SELECT COUNT(*) FROM agents WHERE id = '%s'" % a["id"]) == [["1"]]
    assert_error(api.post(AGENTS, json={"key": a["key"]}), 409, "CONFLICT")


@pytest.mark.parametrize("bad", [
    "not-a-uuid", "01A20848-DB21-74DE-BFC1-FBFB14793D01", "0" * 36, "x" * 200,
])
def test_malformed_agent_ids_are_404(ws_a, bad):
    api = ws_a.api()
    assert_error(api.get("%s/%s" % (AGENTS, bad)), 404, "RESOURCE_NOT_FOUND")
    assert_error(api.patch("%s/%s" % (AGENTS, bad), json={}), 404, "RESOURCE_NOT_FOUND")
    assert_error(api.delete("%s/%s" % (AGENTS, bad)), 404, "RESOURCE_NOT_FOUND")
    assert_error(api.get(_vpath(bad)), 404, "RESOURCE_NOT_FOUND")
    assert_error(api.post(_vpath(bad), json={"model": MODEL}), 404, "RESOURCE_NOT_FOUND")
    assert_error(api.get(_vpath(bad, 1)), 404, "RESOURCE_NOT_FOUND")
    assert_error(api.post(_vpath(bad, 1, "activate")), 404, "RESOURCE_NOT_FOUND")


def test_unknown_agent_is_404(ws_a):
    api = ws_a.api()
    aid = random_uuid7()
    assert_error(api.get("%s/%s" % (AGENTS, aid)), 404, "RESOURCE_NOT_FOUND")
    assert_error(api.patch("%s/%s" % (AGENTS, aid), json={"name": "x"}), 404,
                 "RESOURCE_NOT_FOUND")
    assert_error(api.delete("%s/%s" % (AGENTS, aid)), 404, "RESOURCE_NOT_FOUND")
    assert_error(api.get(_vpath(aid)), 404, "RESOURCE_NOT_FOUND")
    assert_error(api.post(_vpath(aid), json={"model": MODEL}), 404, "RESOURCE_NOT_FOUND")
    assert_error(api.get(_vpath(aid, 1)), 404, "RESOURCE_NOT_FOUND")
    assert_error(api.patch(_vpath(aid, 1), json={}), 404, "RESOURCE_NOT_FOUND")
    assert_error(api.post(_vpath(aid, 1, "activate")), 404, "RESOURCE_NOT_FOUND")
    assert_error(api.post(_vpath(aid, 1, "archive")), 404, "RESOURCE_NOT_FOUND")


# --- workspace isolation ----------------------------------------------------------


def test_foreign_workspace_sees_nothing(ws_a, ws_b):
    owner = ws_a.api()
    a = _new_agent(owner, name="secret-name-%s" % uuid.uuid4().hex[:6],
                   description="secret-description",
                   version={"model": MODEL, "system_prompt": "secret-prompt"})
    _new_version(owner, a["id"])
    spy = ws_b.api()
    path = "%s/%s" % (AGENTS, a["id"])
    responses = [
        spy.get(path),
        spy.patch(path, json={"name": "pwned"}),
        spy.delete(path),
        spy.get(_vpath(a["id"])),
        spy.post(_vpath(a["id"]), json={"model": MODEL}),
        spy.post(_vpath(a["id"]), json={"model": "invalid"}),
        spy.get(_vpath(a["id"], 1)),
        spy.patch(_vpath(a["id"], 2), json={"system_prompt": "pwned"}),
        spy.post(_vpath(a["id"], 1, "activate")),
        spy.post(_vpath(a["id"], 2, "archive")),
    ]
    for r in responses:
        assert_error(r, 404, "RESOURCE_NOT_FOUND")
        for secret in (a["key"], a["name"], "secret-description", "secret-prompt",
                       a["version"]["id"]):
            assert secret not in r.text, r
    # Not in the foreign list, not usable as a cursor there.
    ids = [x["id"] for x in assert_json(spy.get(AGENTS + "?limit=100&include_archived=1"), 200)]
    assert a["id"] not in ids
    # Nothing changed for the owner.
    got = assert_json(owner.get(path), 200)
    assert got["name"] == a["name"] and got["archived_at"] is None
    assert got["active_version"] is None
    vs = assert_json(owner.get(_vpath(a["id"])), 200)
    assert [(v["version"], v["status"]) for v in vs] == [(2, "draft"), (1, "draft")]
    assert vs[0]["system_prompt"] == ""


# --- versions: defaults, normalisation -----------------------------------------------


def test_version_defaults_are_filled(ws_a):
    a = _new_agent(ws_a.api())
    v = _new_version(ws_a.api(), a["id"])
    assert v["version"] == 1 and v["status"] == "draft"
    assert v["model"] == {"provider": "scripted", "name": "echo", "route_id": None,
                          "params": {}}
    assert v["system_prompt"] == "" and v["prompt_template"] is None
    assert v["input_schema"] is None and v["tools"] == []
    assert v["limits"] == DEFAULT_LIMITS
    assert v["retry"] == DEFAULT_RETRY
    assert v["approval"] == DEFAULT_APPROVAL
    assert v["activated_at"] is None and v["archived_at"] is None
    assert v["created_at"] == v["updated_at"]


def test_partial_sections_get_defaults(ws_a):
    a = _new_agent(ws_a.api())
    v = _new_version(ws_a.api(), a["id"], limits={"max_steps": 7},
                     retry={"max_attempts": 5, "multiplier": 1.5},
                     approval={"required": True}, system_prompt=None)
    assert v["limits"] == dict(DEFAULT_LIMITS, max_steps=7)
    assert v["retry"] == dict(DEFAULT_RETRY, max_attempts=5, multiplier=1.5)
    assert v["approval"] == {"required": True, "before_tools": []}
    assert v["system_prompt"] == ""
    # A large initial back-off raises the default maximum with it.
    v = _new_version(ws_a.api(), a["id"], retry={"initial_backoff_ms": 60000})
    assert v["retry"]["max_backoff_ms"] == 60000


def test_full_version_round_trips(ws_a):
    a = _new_agent(ws_a.api())
    schema = {"type": "object", "required": ["q"],
              "properties": {"q": {"type": "string", "minLength": 1, "maxLength": 100},
                             "n": {"type": "integer", "minimum": 0}},
              "additionalProperties": False}
    body = {
        "model": {"provider": "scripted", "name": "script",
                  "params": {"turns": [{"content": "hi"}], "chunk_ms": 0}},
        "system_prompt": "You help.",
        "prompt_template": "Question: {{q}}",
        "input_schema": schema,
        "tools": [
            {"type": "http", "name": "search_docs", "description": "Search",
             "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
             "url": "http://127.0.0.1:9/search?x=1", "method": "POST",
             "headers": {"X-Token": "abc", "Accept": "application/json"},
             "timeout_ms": 1500, "requires_confirmation": True},
            {"type": "ask_user", "description": "Ask the human"},
        ],
        "limits": {"max_steps": 5, "max_tokens": 1000, "max_cost_usd": 0.25, "timeout_s": 30},
        "retry": {"max_attempts": 2, "initial_backoff_ms": 0, "max_backoff_ms": 0,
                  "multiplier": 1},
        "approval": {"required": False, "before_tools": ["search_docs", "search_docs"]},
    }
    v = _new_version(ws_a.api(), a["id"], **body)
    assert v["model"] == dict(body["model"], route_id=None)
    assert v["system_prompt"] == "You help." and v["prompt_template"] == "Question: {{q}}"
    assert v["input_schema"] == schema
    assert v["tools"] == [
        dict(body["tools"][0]),
        {"type": "ask_user", "name": "ask_user", "description": "Ask the human"},
    ]
    assert v["limits"] == body["limits"]
    assert v["retry"] == body["retry"]
    assert v["approval"] == {"required": False, "before_tools": ["search_docs"]}
    assert assert_json(ws_a.api().get(_vpath(a["id"], v["version"])), 200) == v


def test_tool_defaults(ws_a):
    a = _new_agent(ws_a.api())
    v = _new_version(ws_a.api(), a["id"], tools=[HTTP_TOOL, {"type": "ask_user"}])
    assert v["tools"] == [
        {"type": "http", "name": "lookup", "description": "", "parameters": {"type": "object"},
         "url": HTTP_TOOL["url"], "method": "POST", "headers": {}, "timeout_ms": 30000,
         "requires_confirmation": False},
        {"type": "ask_user", "name": "ask_user", "description": ""},
    ]
    # method is case-insensitive on the way in and stored as "POST".
    v = _new_version(ws_a.api(), a["id"], tools=[dict(HTTP_TOOL, method="post")])
    assert v["tools"][0]["method"] == "POST"


def test_unknown_and_server_owned_fields_are_ignored(ws_a):
    api = ws_a.api()
    a = _new_agent(api)
    _new_version(api, a["id"])
    body = {"model": dict(MODEL, extra=1), "id": random_uuid7(), "agent_id": random_uuid7(),
            "version": 99, "status": "active", "created_at": "2020-01-01T00:00:00.000Z",
            "activated_at": "2020-01-01T00:00:00.000Z", "surprise": {"x": 1},
            "limits": {"max_steps": 3, "bogus": True},
            "tools": [dict(HTTP_TOOL, colour="blue")]}
    v = _new_version(api, a["id"], **body)
    assert v["version"] == 2 and v["status"] == "draft" and v["id"] != body["id"]
    assert v["agent_id"] == a["id"] and v["activated_at"] is None
    assert "surprise" not in v and "extra" not in v["model"]
    assert "bogus" not in v["limits"] and "colour" not in v["tools"][0]
    assert assert_json(api.get("%s/%s" % (AGENTS, a["id"])), 200)["active_version"] is None


def test_boundaries_are_accepted(ws_a):
    a = _new_agent(ws_a.api())
    low = _new_version(ws_a.api(), a["id"],
                       limits={"max_steps": 1, "max_tokens": 1, "max_cost_usd": 0,
                               "timeout_s": 1},
                       retry={"max_attempts": 1, "initial_backoff_ms": 0,
                              "max_backoff_ms": 0, "multiplier": 1},
                       tools=[dict(HTTP_TOOL, timeout_ms=1, name="a" * 64)])
    assert low["limits"]["max_cost_usd"] == 0
    high = _new_version(ws_a.api(), a["id"],
                        limits={"max_steps": 1000, "max_tokens": 100000000,
                                "max_cost_usd": 1000.5, "timeout_s": 86400},
                        retry={"max_attempts": 20, "initial_backoff_ms": 600000,
                               "max_backoff_ms": 3600000, "multiplier": 10},
                        tools=[dict(HTTP_TOOL, timeout_ms=300000,
                                    url="https://[::1]:8443/p" + "x" * 2000)],
                        system_prompt="p" * (256 * 1024),
                        model={"provider": "anthropic", "name": "n" * 255})
    assert high["limits"]["max_cost_usd"] == 1000.5
    assert len(high["system_prompt"]) == 256 * 1024
    for provider in ("openai", "anthropic", "scripted"):
        v = _new_version(ws_a.api(), a["id"], model={"provider": provider, "name": "m"})
        assert v["model"]["provider"] == provider


def _bad(field, **change):
    return pytest.param(change, field, id=field + ":" + ",".join(sorted(change)))


BAD_VERSION_BODIES = [
    _bad("model", model=None),
    _bad("model", model="scripted/echo"),
    _bad("model.provider", model={"name": "echo"}),
    _bad("model.provider", model={"provider": "gpt", "name": "echo"}),
    _bad("model.provider", model={"provider": "OPENAI", "name": "echo"}),
    _bad("model.provider", model={"provider": 1, "name": "echo"}),
    _bad("model.name", model={"provider": "openai"}),
    _bad("model.name", model={"provider": "openai", "name": 4}),
    _bad("model.name", model={"provider": "openai", "name": ""}),
    _bad("model.name", model={"provider": "openai", "name": "n" * 256}),
    _bad("model.route_id", model=dict(MODEL, route_id="route-1")),
    _bad("model.route_id", model=dict(MODEL, route_id=5)),
    _bad("model.params", model=dict(MODEL, params=[1])),
    _bad("system_prompt", system_prompt=5),
    _bad("system_prompt", system_prompt="p" * (256 * 1024 + 1)),
    _bad("prompt_template", prompt_template=["x"]),
    _bad("input_schema", input_schema="object"),
    _bad("input_schema", input_schema=[{"type": "object"}]),
    _bad("input_schema", input_schema={"type": "strng"}),
    _bad("input_schema", input_schema={"properties": {"a": {"minLength": -1}}}),
    _bad("input_schema", input_schema={"required": "a"}),
    _bad("tools", tools={"name": "x"}),
    _bad("tools", tools=[dict(HTTP_TOOL, name="t%d" % i) for i in range(129)]),
    _bad("tools[0]", tools=["lookup"]),
    _bad("tools[0].type", tools=[{"name": "x", "url": "https://a.example"}]),
    _bad("tools[0].type", tools=[dict(HTTP_TOOL, type="grpc")]),
    _bad("tools[0].name", tools=[{"type": "http", "url": "https://a.example"}]),
    _bad("tools[0].name", tools=[dict(HTTP_TOOL, name="has space")]),
    _bad("tools[0].name", tools=[dict(HTTP_TOOL, name="a" * 65)]),
    _bad("tools[0].name", tools=[dict(HTTP_TOOL, name="")]),
    _bad("tools[0].name", tools=[dict(HTTP_TOOL, name=7)]),
    _bad("tools[1].name", tools=[HTTP_TOOL, dict(HTTP_TOOL, url="https://b.example")]),
    _bad("tools[1].name", tools=[{"type": "ask_user"}, {"type": "ask_user"}]),
    _bad("tools[1].name", tools=[HTTP_TOOL, {"type": "ask_user", "name": "other"}]),
    _bad("tools[1].name", tools=[{"type": "ask_user"}, dict(HTTP_TOOL, name="ask_user")]),
    _bad("tools[0].url", tools=[dict(HTTP_TOOL, url="ftp://files.example/x")]),
    _bad("tools[0].url", tools=[dict(HTTP_TOOL, url="/relative/path")]),
    _bad("tools[0].url", tools=[dict(HTTP_TOOL, url="http://")]),
    _bad("tools[0].url", tools=[dict(HTTP_TOOL, url="https://:443/x")]),
    _bad("tools[0].url", tools=[dict(HTTP_TOOL, url="https://a.example:99999/")]),
    _bad("tools[0].url", tools=[dict(HTTP_TOOL, url="https://a b.example/")]),
    _bad("tools[0].url", tools=[dict(HTTP_TOOL, url="javascript:alert(1)")]),
    _bad("tools[0].url", tools=[dict(HTTP_TOOL, url="https://a.example/" + "x" * 2048)]),
    _bad("tools[0].url", tools=[{"type": "http", "name": "x"}]),
    _bad("tools[0].url", tools=[dict(HTTP_TOOL, url=5)]),
    _bad("tools[0].method", tools=[dict(HTTP_TOOL, method="GET")]),
    _bad("tools[0].headers", tools=[dict(HTTP_TOOL, headers=["X-A: b"])]),
    _bad("tools[0].headers", tools=[dict(HTTP_TOOL, headers={"Bad Name": "v"})]),
    _bad("tools[0].headers.X-Num", tools=[dict(HTTP_TOOL, headers={"X-Num": 1})]),
    _bad("tools[0].headers.X-Inject", tools=[dict(HTTP_TOOL, headers={"X-Inject": "a\r\nB: c"})]),
    _bad("tools[0].headers.Content-Length",
         tools=[dict(HTTP_TOOL, headers={"Content-Length": "5"})]),
    _bad("tools[0].timeout_ms", tools=[dict(HTTP_TOOL, timeout_ms=0)]),
    _bad("tools[0].timeout_ms", tools=[dict(HTTP_TOOL, timeout_ms=300001)]),
    _bad("tools[0].timeout_ms", tools=[dict(HTTP_TOOL, timeout_ms="100")]),
    _bad("tools[0].timeout_ms", tools=[dict(HTTP_TOOL, timeout_ms=100.5)]),
    _bad("tools[0].requires_confirmation",
         tools=[dict(HTTP_TOOL, requires_confirmation="yes")]),
    _bad("tools[0].parameters", tools=[dict(HTTP_TOOL, parameters="object")]),
    _bad("tools[0].parameters", tools=[dict(HTTP_TOOL, parameters={"type": 5})]),
    _bad("tools[0].description", tools=[dict(HTTP_TOOL, description=["d"])]),
    _bad("tools[1].description", tools=[HTTP_TOOL, {"type": "ask_user", "description": 1}]),
    _bad("limits", limits=[20]),
    _bad("limits.max_steps", limits={"max_steps": 0}),
    _bad("limits.max_steps", limits={"max_steps": 1001}),
    _bad("limits.max_steps", limits={"max_steps": "5"}),
    _bad("limits.max_steps", limits={"max_steps": 2.5}),
    _bad("limits.max_tokens", limits={"max_tokens": 0}),
    _bad("limits.max_tokens", limits={"max_tokens": 100000001}),
    _bad("limits.max_cost_usd", limits={"max_cost_usd": -0.01}),
    _bad("limits.max_cost_usd", limits={"max_cost_usd": "1"}),
    _bad("limits.timeout_s", limits={"timeout_s": 0}),
    _bad("limits.timeout_s", limits={"timeout_s": 86401}),
    _bad("retry", retry="fast"),
    _bad("retry.max_attempts", retry={"max_attempts": 0}),
    _bad("retry.max_attempts", retry={"max_attempts": 21}),
    _bad("retry.initial_backoff_ms", retry={"initial_backoff_ms": -1}),
    _bad("retry.initial_backoff_ms", retry={"initial_backoff_ms": 600001}),
    _bad("retry.max_backoff_ms", retry={"initial_backoff_ms": 1000, "max_backoff_ms": 999}),
    _bad("retry.max_backoff_ms", retry={"max_backoff_ms": 3600001}),
    _bad("retry.multiplier", retry={"multiplier": 0.5}),
    _bad("retry.multiplier", retry={"multiplier": 10.5}),
    _bad("retry.multiplier", retry={"multiplier": True}),
    _bad("approval", approval=True),
    _bad("approval.required", approval={"required": "no"}),
    _bad("approval.required", approval={"required": 1}),
    _bad("approval.before_tools", approval={"before_tools": "lookup"}),
    _bad("approval.before_tools[0]", approval={"before_tools": ["nope"]}),
    _bad("approval.before_tools[1]", tools=[HTTP_TOOL],
         approval={"before_tools": ["lookup", "missing"]}),
    _bad("approval.before_tools[0]", tools=[HTTP_TOOL], approval={"before_tools": [1]}),
]


@pytest.fixture(scope="module")
def bad_body_agent(ws_a):
    return _new_agent(ws_a.api())


@pytest.mark.parametrize("change, field", BAD_VERSION_BODIES)
def test_bad_version_body_is_400(ws_a, bad_body_agent, change, field):
    body = {"model": dict(MODEL)}
    body.update(copy.deepcopy(change))
    r = ws_a.api().post(_vpath(bad_body_agent["id"]), json=body)
    err = assert_error(r, 400, "INVALID_INPUT", field=field)
    assert field in err["message"]


def test_bad_version_bodies_created_nothing(ws_a, bad_body_agent):
    # Runs after the parametrized cases above (file order).
    assert assert_json(ws_a.api().get(_vpath(bad_body_agent["id"])), 200) == []


def test_route_id_must_be_a_live_route_of_the_workspace(stack, ws_a, ws_b):
    api = ws_a.api()
    a = _new_agent(api)
    mine, deleted, foreign = random_uuid7(), random_uuid7(), random_uuid7()
    stack.sql("INSERT INTO routes (id, workspace_id, name, provider, model) VALUES"
              " ('%s', '%s', 'r', 'openai', 'gpt-x'), ('%s', '%s', 'r', 'openai', 'gpt-x'),"
              " ('%s', '%s', 'r', 'openai', 'gpt-x')"
              % (mine, ws_a.id, deleted, ws_a.id, foreign, ws_b.id))
    stack.sql("UPDATE routes SET deleted_at = NOW(3) WHERE id = '%s'" % deleted)
    v = _new_version(api, a["id"], model=dict(MODEL, route_id=mine))
    assert v["model"]["route_id"] == mine
    for rid in (deleted, foreign, random_uuid7()):
        r = api.post(_vpath(a["id"]), json={"model": dict(MODEL, route_id=rid)})
        assert_error(r, 400, "INVALID_INPUT", field="model.route_id")
        r = api.post(AGENTS, json={"key": _key(), "version": {"model": dict(MODEL, route_id=rid)}})
        assert_error(r, 400, "INVALID_INPUT", field="version.model.route_id")
        r = api.patch(_vpath(a["id"], v["version"]), json={"model": dict(MODEL, route_id=rid)})
        assert_error(r, 400, "INVALID_INPUT", field="model.route_id")
    a2 = _new_agent(api, version={"model": dict(MODEL, route_id=mine)})
    assert a2["version"]["model"]["route_id"] == mine


# --- versions: numbering, listing ---------------------------------------------------


def test_version_numbers_increase_and_list(ws_a):
    api = ws_a.api()
    a = _new_agent(api)
    made = [_new_version(api, a["id"], system_prompt="v%d" % i) for i in range(1, 5)]
    assert [v["version"] for v in made] == [1, 2, 3, 4]
    assert len({v["id"] for v in made}) == 4
    listed = assert_json(api.get(_vpath(a["id"])), 200)
    assert [v["version"] for v in listed] == [4, 3, 2, 1]
    assert listed[::-1] == made
    page = assert_json(api.get(_vpath(a["id"]), query={"limit": 2}), 200)
    assert [v["version"] for v in page] == [4, 3]
    page = assert_json(api.get(_vpath(a["id"]), query={"limit": 2, "before": page[-1]["id"]}),
                       200)
    assert [v["version"] for v in page] == [2, 1]
    assert assert_json(api.get(_vpath(a["id"]), query={"before": made[0]["id"]}), 200) == []
    # Each version by number.
    for v in made:
        assert assert_json(api.get(_vpath(a["id"], v["version"])), 200) == v


def test_version_list_bad_parameters(ws_a):
    api = ws_a.api()
    a = _new_agent(api)
    other = _new_agent(api)
    ov = _new_version(api, other["id"])
    _new_version(api, a["id"])
    for before in ("x", random_uuid7(), ov["id"], a["id"]):
        assert_error(api.get(_vpath(a["id"]), query={"before": before}), 400,
                     "INVALID_INPUT", field="before")
    for limit in ("0", "101", "ten"):
        assert_error(api.get(_vpath(a["id"]), query={"limit": limit}), 400, "INVALID_INPUT",
                     field="limit")
    assert assert_json(api.get(_vpath(other["id"])), 200) == [ov]


def test_concurrent_version_creation(ws_a):
    a = _new_agent(ws_a.api())
    n = 10
    barrier = threading.Barrier(n)
    results = [None] * n

    def worker(i):
        api = ws_a.api()
        barrier.wait()
        results[i] = api.post(_vpath(a["id"]), json={"model": MODEL,
                                                      "system_prompt": "thread %d" % i})

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    versions = [_check_version(assert_json(r, 201), a["id"]) for r in results]
    assert sorted(v["version"] for v in versions) == list(range(1, n + 1))
    assert len({v["id"] for v in versions}) == n
    listed = assert_json(ws_a.api().get(_vpath(a["id"])), 200)
    assert [v["version"] for v in listed] == list(range(n, 0, -1))
    assert sorted(v["system_prompt"] for v in listed) == sorted("thread %d" % i
                                                                for i in range(n))


@pytest.mark.parametrize("n", ["0", "-1", "01", "1.0", "abc", "+1", "2147483648",
                               "99999999999"])
def test_bad_version_numbers_are_404(ws_a, n):
    api = ws_a.api()
    a = _new_agent(api, version={"model": MODEL})
    assert_error(api.get(_vpath(a["id"], n)), 404, "RESOURCE_NOT_FOUND")
    assert_error(api.patch(_vpath(a["id"], n), json={}), 404, "RESOURCE_NOT_FOUND")
    assert_error(api.post(_vpath(a["id"], n, "activate")), 404, "RESOURCE_NOT_FOUND")
    assert_error(api.post(_vpath(a["id"], n, "archive")), 404, "RESOURCE_NOT_FOUND")


def test_unknown_version_number_is_404(ws_a):
    api = ws_a.api()
    a = _new_agent(api, version={"model": MODEL})
    for n in (2, 2147483647):
        assert_error(api.get(_vpath(a["id"], n)), 404, "RESOURCE_NOT_FOUND")
        assert_error(api.patch(_vpath(a["id"], n), json={"system_prompt": "x"}), 404,
                     "RESOURCE_NOT_FOUND")
        assert_error(api.post(_vpath(a["id"], n, "activate")), 404, "RESOURCE_NOT_FOUND")
        assert_error(api.post(_vpath(a["id"], n, "archive")), 404, "RESOURCE_NOT_FOUND")


# --- versions: patch ---------------------------------------------------------------


def test_patch_draft_merges_top_level_fields(ws_a):
    api = ws_a.api()
    a = _new_agent(api)
    v = _new_version(api, a["id"], system_prompt="first", tools=[HTTP_TOOL],
                     limits={"max_steps": 9, "timeout_s": 99},
                     approval={"before_tools": ["lookup"]})
    path = _vpath(a["id"], 1)
    time.sleep(0.01)
    p = _check_version(assert_json(api.patch(path, json={"system_prompt": "second"}), 200))
    assert p["system_prompt"] == "second"
    for f in ("model", "tools", "limits", "retry", "approval", "id", "created_at"):
        assert p[f] == v[f], f
    assert _time(p["updated_at"]) > _time(v["updated_at"])
    # A section present replaces the stored one whole; its missing sub-fields default.
    p = assert_json(api.patch(path, json={"limits": {"max_steps": 5}}), 200)
    assert p["limits"] == dict(DEFAULT_LIMITS, max_steps=5)
    # Nullable fields are cleared by null, others go back to their default.
    p = assert_json(api.patch(path, json={"prompt_template": "T {{x}}",
                                          "input_schema": {"type": "object"}}), 200)
    assert p["prompt_template"] == "T {{x}}" and p["input_schema"] == {"type": "object"}
    p = assert_json(api.patch(path, json={"prompt_template": None, "input_schema": None,
                                          "system_prompt": None}), 200)
    assert p["prompt_template"] is None and p["input_schema"] is None
    assert p["system_prompt"] == ""
    # Server-owned fields are ignored.
    p = assert_json(api.patch(path, json={"status": "active", "version": 7,
                                          "id": random_uuid7()}), 200)
    assert (p["status"], p["version"], p["id"]) == ("draft", 1, v["id"])
    # An empty body changes nothing but updated_at.
    q = assert_json(api.patch(path, json={}), 200)
    assert {k: q[k] for k in q if k != "updated_at"} == {k: p[k] for k in p
                                                          if k != "updated_at"}
    assert assert_json(api.get(path), 200) == q


def test_patch_draft_validates_the_merged_result(ws_a):
    api = ws_a.api()
    a = _new_agent(api)
    v = _new_version(api, a["id"], tools=[HTTP_TOOL], approval={"before_tools": ["lookup"]})
    path = _vpath(a["id"], 1)
    # Removing the tool that approval names is caught.
    assert_error(api.patch(path, json={"tools": []}), 400, "INVALID_INPUT",
                 field="approval.before_tools[0]")
    # A model without a provider (the whole model is replaced).
    assert_error(api.patch(path, json={"model": {"name": "other"}}), 400, "INVALID_INPUT",
                 field="model.provider")
    assert_error(api.patch(path, json={"model": None}), 400, "INVALID_INPUT", field="model")
    assert_error(api.patch(path, json={"limits": {"timeout_s": -5}}), 400, "INVALID_INPUT",
                 field="limits.timeout_s")
    assert_error(api.patch(path, json={"input_schema": {"type": ["string", "nope"]}}), 400,
                 "INVALID_INPUT", field="input_schema")
    assert assert_json(api.get(path), 200) == v


def test_patch_non_draft_is_409(ws_a):
    api = ws_a.api()
    a = _new_agent(api, version={"model": MODEL}, activate=True)
    _new_version(api, a["id"])
    assert_json(api.post(_vpath(a["id"], 2, "archive")), 200)
    for n, status in ((1, "active"), (2, "archived")):
        before = assert_json(api.get(_vpath(a["id"], n)), 200)
        assert before["status"] == status
        err = assert_error(api.patch(_vpath(a["id"], n), json={"system_prompt": "x"}), 409,
                           "CONFLICT")
        assert status in err["message"]
        # Even an invalid body: the state is what refuses it.
        assert_error(api.patch(_vpath(a["id"], n), json={"limits": {"max_steps": 0}}), 409,
                     "CONFLICT")
        assert assert_json(api.get(_vpath(a["id"], n)), 200) == before


# --- versions: activate / archive ----------------------------------------------------


def test_activate_and_archive_transitions(ws_a):
    api = ws_a.api()
    a = _new_agent(api)
    aid = a["id"]
    for _ in range(3):
        _new_version(api, aid)
    agent = lambda: assert_json(api.get("%s/%s" % (AGENTS, aid)), 200)  # noqa: E731
    assert agent()["active_version"] is None
    updated0 = agent()["updated_at"]
    time.sleep(0.01)

    v1 = _check_version(assert_json(api.post(_vpath(aid, 1, "activate")), 200), aid)
    assert v1["status"] == "active" and v1["version"] == 1
    assert v1["activated_at"] is not None and v1["archived_at"] is None
    assert agent()["active_version"] == 1
    assert _time(agent()["updated_at"]) > _time(updated0)
    # Activating an active version changes nothing.
    again = assert_json(api.post(_vpath(aid, 1, "activate")), 200)
    assert again == v1

    # Several may be active; the agent's is the highest.
    v3 = assert_json(api.post(_vpath(aid, 3, "activate")), 200)
    assert v3["status"] == "active"
    assert agent()["active_version"] == 3
    assert assert_json(api.get(_vpath(aid, 1)), 200)["status"] == "active"

    # Archive the highest: the next active one takes over.
    updated1 = agent()["updated_at"]
    time.sleep(0.01)
    v3a = _check_version(assert_json(api.post(_vpath(aid, 3, "archive")), 200), aid)
    assert v3a["status"] == "archived" and v3a["archived_at"] is not None
    assert v3a["activated_at"] == v3["activated_at"]
    assert agent()["active_version"] == 1
    assert _time(agent()["updated_at"]) > _time(updated1)
    # Archiving an archived version changes nothing.
    assert assert_json(api.post(_vpath(aid, 3, "archive")), 200) == v3a

    # An archived version can be activated again.
    v3b = assert_json(api.post(_vpath(aid, 3, "activate")), 200)
    assert v3b["status"] == "active" and v3b["archived_at"] is None
    assert _time(v3b["activated_at"]) >= _time(v3a["archived_at"])
    assert agent()["active_version"] == 3

    # A draft can be archived directly, and activated from there.
    v2 = assert_json(api.post(_vpath(aid, 2, "archive")), 200)
    assert v2["status"] == "archived" and v2["activated_at"] is None
    assert agent()["active_version"] == 3

    # Archive everything: no active version.
    for n in (1, 3):
        assert_json(api.post(_vpath(aid, n, "archive")), 200)
    assert agent()["active_version"] is None
    statuses = [(v["version"], v["status"]) for v in assert_json(api.get(_vpath(aid)), 200)]
    assert statuses == [(3, "archived"), (2, "archived"), (1, "archived")]


def test_active_version_is_the_highest_active(ws_a):
    api = ws_a.api()
    a = _new_agent(api)
    for _ in range(3):
        _new_version(api, a["id"])
    assert_json(api.post(_vpath(a["id"], 2, "activate")), 200)
    assert_json(api.post(_vpath(a["id"], 1, "activate")), 200)  # later, but lower
    assert assert_json(api.get("%s/%s" % (AGENTS, a["id"])), 200)["active_version"] == 2
    listed = [x for x in assert_json(api.get(AGENTS + "?limit=100"), 200) if x["id"] == a["id"]]
    assert listed[0]["active_version"] == 2


def test_activate_ignores_the_body(ws_a):
    api = ws_a.api()
    a = _new_agent(api, version={"model": MODEL})
    v = assert_json(api.post(_vpath(a["id"], 1, "activate"), json={"status": "archived"}),
                    200)
    assert v["status"] == "active"


# --- routing ------------------------------------------------------------------------


def test_405_with_allow(ws_a):
    api = ws_a.api()
    a = _new_agent(api, version={"model": MODEL})
    cases = [
        (AGENTS, ("PUT", "PATCH", "DELETE"), "GET, POST"),
        ("%s/%s" % (AGENTS, a["id"]), ("POST", "PUT"), "GET, PATCH, DELETE"),
        (_vpath(a["id"]), ("PUT", "PATCH", "DELETE"), "GET, POST"),
        (_vpath(a["id"], 1), ("POST", "PUT", "DELETE"), "GET, PATCH"),
        (_vpath(a["id"], 1, "activate"), ("GET", "PUT", "PATCH", "DELETE"), "POST"),
        (_vpath(a["id"], 1, "archive"), ("GET", "DELETE"), "POST"),
    ]
    for path, methods, allow in cases:
        for m in methods:
            r = api.request(m, path, json={})
            assert_error(r, 405, "METHOD_NOT_ALLOWED")
            assert r.header("Allow") == allow, (m, path, r.header("Allow"))
    # Nothing happened.
    got = assert_json(api.get("%s/%s" % (AGENTS, a["id"])), 200)
    assert got["archived_at"] is None
    assert assert_json(api.get(_vpath(a["id"], 1)), 200)["status"] == "draft"


def test_no_key_is_401(api, ws_a):
    a = _new_agent(ws_a.api(), version={"model": MODEL})
    for method, path in (("GET", AGENTS), ("POST", AGENTS),
                         ("GET", "%s/%s" % (AGENTS, a["id"])),
                         ("POST", _vpath(a["id"])), ("POST", _vpath(a["id"], 1, "activate"))):
        assert_error(api.request(method, path, json={}), 401, "AUTHORIZATION_ERROR")
    assert assert_json(ws_a.api().get(_vpath(a["id"], 1)), 200)["status"] == "draft"


def test_v1_alias(ws_a):
    api = ws_a.api()
    key = _key("alias")
    a = _check_agent(assert_json(api.post("/v1/agents", json={"key": key}), 201))
    assert assert_json(api.get("/v1/agents/" + a["id"]), 200) == a
    assert any(x["id"] == a["id"] for x in assert_json(api.get("/v1/agents?limit=100"), 200))
    v = _check_version(assert_json(api.post("/v1/agents/%s/versions" % a["id"],
                                            json={"model": MODEL}), 201), a["id"])
    assert assert_json(api.get("/v1/agents/%s/versions" % a["id"]), 200) == [v]
    assert assert_json(api.get("/v1/agents/%s/versions/1" % a["id"]), 200) == v
    p = assert_json(api.patch("/v1/agents/%s/versions/1" % a["id"],
                              json={"system_prompt": "alias"}), 200)
    assert p["system_prompt"] == "alias"
    assert assert_json(api.post("/v1/agents/%s/versions/1/activate" % a["id"]),
                       200)["status"] == "active"
    assert assert_json(api.post("/v1/agents/%s/versions/1/archive" % a["id"]),
                       200)["status"] == "archived"
    assert assert_json(api.patch("/v1/agents/" + a["id"], json={"name": "x"}),
                       200)["name"] == "x"
    assert assert_json(api.delete("/v1/agents/" + a["id"]), 200)["archived_at"] is not None
    assert_error(api.post("/v1/agents", json={"key": key}), 409, "CONFLICT")
    assert_error(api.put("/v1/agents", json={}), 405, "METHOD_NOT_ALLOWED")
