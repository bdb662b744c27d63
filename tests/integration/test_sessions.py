"""Sessions (= threads): create on an agent version (agent_id or persona_id,
version), get, list (newest first, limit, before, agent_id and status
filters), the message list (newest first with before, or order=asc with
after), the same objects under /sessions and /threads (and /v1), and
workspace isolation.

Agents and versions are inserted as DB root (make_agent) so these tests do
not depend on the agents API; messages are inserted as DB root too, as run
creation and the executor would write them."""

import os
import time
import uuid

import pytest

from client import TIME_RE, UUID7_RE, assert_error, assert_json, random_uuid7

SESSIONS = "/api/v1/sessions"
THREADS = "/api/v1/threads"
SESSION_FIELDS = {"id", "thread_id", "agent_id", "agent_version", "agent_version_id", "status",
                  "metadata", "last_seq", "active_run_id", "created_at", "updated_at",
                  "closed_at"}
MESSAGE_FIELDS = {"id", "session_id", "run_id", "role", "content", "created_at"}

_seq = [0]


def uuid7_at(ms=None):
    """A UUIDv7 for the given Unix milliseconds (default now); strictly
    increasing across calls within this process."""
    if ms is None:
        ms = int(time.time() * 1000)
    _seq[0] += 1
    rand_a = _seq[0] & 0x0FFF
    b = bytearray(os.urandom(16))
    b[0:6] = ms.to_bytes(6, "big")
    b[6] = 0x70 | (rand_a >> 8)
    b[7] = rand_a & 0xFF
    b[8] = 0x80 | (b[8] & 0x3F)
    return str(uuid.UUID(bytes=bytes(b)))


def _q(s):
    """A SQL string literal for any text: hex bytes converted to utf8mb4."""
    return "CONVERT(UNHEX('%s') USING utf8mb4)" % s.encode("utf-8").hex()


def make_agent(stack, tenant, statuses=("active",), key=None, archived=False):
    """Inserts an agent with versions 1..n in the given statuses, as DB root.
    Returns {"id", "key", "versions": [version ids]}."""
    aid = uuid7_at()
    key = key or "agent-" + uuid.uuid4().hex[:12]
    stack.sql("INSERT INTO agents (id, workspace_id, `key`, name, archived_at) VALUES"
              " ('%s', '%s', '%s', 'test agent', %s)"
              % (aid, tenant.id, key, "NOW(3)" if archived else "NULL"))
    vids = []
    for n, status in enumerate(statuses, 1):
        vid = uuid7_at()
        stack.sql("INSERT INTO agent_versions (id, workspace_id, agent_id, version, status,"
                  " model, tools, limits, retry, approval, activated_at, archived_at) VALUES"
                  " ('%s', '%s', '%s', %d, '%s', '{\"provider\":\"scripted\",\"name\":\"echo\"}',"
                  " '[]', '{}', '{}', '{}', %s, %s)"
                  % (vid, tenant.id, aid, n, status,
                     "NOW(3)" if status != "draft" else "NULL",
                     "NOW(3)" if status == "archived" else "NULL"))
        vids.append(vid)
    return {"id": aid, "key": key, "versions": vids}


def add_messages(stack, tenant, session_id, turns, run_id=None):
    """Inserts messages (role, content) in order; returns their ids, oldest first."""
    ids = []
    for role, content in turns:
        mid = uuid7_at()
        stack.sql("INSERT INTO messages (id, workspace_id, session_id, run_id, role, content)"
                  " VALUES ('%s', '%s', '%s', %s, '%s', %s)"
                  % (mid, tenant.id, session_id, "'%s'" % run_id if run_id else "NULL", role,
                     _q(content)))
        ids.append(mid)
    return ids


def _check_session(s):
    assert set(s) == SESSION_FIELDS, "session fields %r" % sorted(s)
    assert UUID7_RE.match(s["id"]), s["id"]
    assert s["thread_id"] == s["id"]
    assert UUID7_RE.match(s["agent_id"]) and UUID7_RE.match(s["agent_version_id"])
    assert isinstance(s["agent_version"], int) and s["agent_version"] >= 1
    assert s["status"] in ("open", "closed")
    assert isinstance(s["metadata"], dict)
    assert isinstance(s["last_seq"], int) and s["last_seq"] >= 0
    assert s["active_run_id"] is None or UUID7_RE.match(s["active_run_id"])
    assert TIME_RE.match(s["created_at"]) and TIME_RE.match(s["updated_at"])
    assert s["closed_at"] is None or TIME_RE.match(s["closed_at"])


def _check_message(m):
    assert set(m) == MESSAGE_FIELDS, "message fields %r" % sorted(m)
    assert UUID7_RE.match(m["id"]) and UUID7_RE.match(m["session_id"])
    assert m["run_id"] is None or UUID7_RE.match(m["run_id"])
    assert m["role"] in ("user", "assistant", "tool")
    assert isinstance(m["content"], str)
    assert TIME_RE.match(m["created_at"])


@pytest.fixture(scope="module")
def agent(stack, ws_a):
    """An agent of ws_a: v1 active, v2 active (so v2 is "the" active one),
    v3 draft, v4 archived."""
    return make_agent(stack, ws_a, ("active", "active", "draft", "archived"))


@pytest.fixture(scope="module")
def sess_ws(stack):
    """A workspace of its own, so list tests know every session in it."""
    return stack.new_tenant("ws-sessions")


# --- create -----------------------------------------------------------------------


@pytest.mark.parametrize("base", [SESSIONS, THREADS, "/v1/sessions", "/v1/threads"])
def test_create_on_the_active_version(ws_a, agent, base):
    r = ws_a.api().post(base, json={"agent_id": agent["id"]})
    s = assert_json(r, 201)
    _check_session(s)
    assert s["agent_id"] == agent["id"]
    assert s["agent_version"] == 2 and s["agent_version_id"] == agent["versions"][1]
    assert s["status"] == "open" and s["metadata"] == {}
    assert s["last_seq"] == 0 and s["active_run_id"] is None and s["closed_at"] is None
    assert s["created_at"] == s["updated_at"]


def test_create_with_version_and_persona(ws_a, agent):
    api = ws_a.api()
    cases = [
        ({"agent_id": agent["id"], "version": 1}, 1),
        ({"agent_id": agent["id"], "version": 2}, 2),
        ({"persona_id": agent["key"]}, 2),
        ({"persona_id": agent["key"] + "@1"}, 1),
        ({"persona_id": agent["key"], "version": 1}, 1),
        ({"persona_id": agent["key"] + "@2", "version": 2}, 2),
        ({"agent_id": agent["id"], "persona_id": None, "version": None}, 2),
        ({"agent_id": None, "persona_id": agent["key"]}, 2),
    ]
    for body, version in cases:
        s = assert_json(api.post(SESSIONS, json=body), 201)
        _check_session(s)
        assert s["agent_id"] == agent["id"], body
        assert s["agent_version"] == version, body
        assert s["agent_version_id"] == agent["versions"][version - 1], body


def test_create_with_metadata(ws_a, agent):
    meta = {"user": "ünïcødé ✓", "n": 3, "nested": {"list": [1, 2.5, None, True]},
            "quote": "it's \"fine\""}
    s = assert_json(ws_a.api().post(THREADS, json={"agent_id": agent["id"], "metadata": meta}),
                    201)
    assert s["metadata"] == meta
    assert assert_json(ws_a.api().get(SESSIONS + "/" + s["id"]), 200)["metadata"] == meta
    s = assert_json(ws_a.api().post(SESSIONS, json={"agent_id": agent["id"], "metadata": None}),
                    201)
    assert s["metadata"] == {}
    # Just under 64 KiB of JSON is fine, just over is 413 naming the field.
    filler = 64 * 1024 - len('{"x":""}')
    s = assert_json(ws_a.api().post(SESSIONS, json={"agent_id": agent["id"],
                                                   "metadata": {"x": "a" * filler}}), 201)
    assert len(s["metadata"]["x"]) == filler
    r = ws_a.api().post(SESSIONS, json={"agent_id": agent["id"],
                                        "metadata": {"x": "a" * (filler + 1)}})
    assert_error(r, 413, "PAYLOAD_TOO_LARGE", field="metadata")


def test_server_owned_fields_are_ignored(ws_a, agent):
    fake = random_uuid7()
    s = assert_json(ws_a.api().post(SESSIONS, json={
        "agent_id": agent["id"], "id": fake, "thread_id": fake, "status": "closed",
        "last_seq": 99, "active_run_id": fake, "agent_version_id": fake, "color": "red"}), 201)
    assert s["id"] != fake and s["status"] == "open" and s["last_seq"] == 0
    assert s["active_run_id"] is None and s["agent_version_id"] == agent["versions"][1]


@pytest.mark.parametrize("payload,field", [
    ({}, "agent_id"),
    ({"agent_id": None}, "agent_id"),
    ({"version": 1}, "agent_id"),
    ({"metadata": {}}, "agent_id"),
    ({"agent_id": 5}, "agent_id"),
    ({"agent_id": ["x"]}, "agent_id"),
    ({"persona_id": 5}, "persona_id"),
    ({"persona_id": ""}, "persona_id"),
    ({"persona_id": "@1"}, "persona_id"),
    ({"persona_id": "key@"}, "persona_id"),
    ({"persona_id": "key@x"}, "persona_id"),
    ({"persona_id": "key@0"}, "persona_id"),
    ({"persona_id": "p" * 256}, "persona_id"),
    ({"agent_id": "AGENT", "persona_id": "key"}, "persona_id"),
    ({"metadata": 5}, "metadata"),
    ({"agent_id": "x", "metadata": "{}"}, "metadata"),
    ({"agent_id": "x", "metadata": [1]}, "metadata"),
    ({"agent_id": "AGENT", "version": "1"}, "version"),
    ({"agent_id": "AGENT", "version": 0}, "version"),
    ({"agent_id": "AGENT", "version": -1}, "version"),
    ({"agent_id": "AGENT", "version": 1.5}, "version"),
    ({"agent_id": "AGENT", "version": True}, "version"),
    ({"persona_id": "KEY@1", "version": 2}, "version"),
])
def test_bad_fields_are_400(ws_a, agent, payload, field):
    body = {}
    for k, v in payload.items():
        if v == "AGENT":
            v = agent["id"]
        elif isinstance(v, str) and v.startswith("KEY"):
            v = agent["key"] + v[3:]
        body[k] = v
    before = assert_json(ws_a.api().get(SESSIONS + "?limit=1"), 200)
    err = assert_error(ws_a.api().post(SESSIONS, json=body), 400, "INVALID_INPUT", field=field)
    assert field in err["message"]
    assert assert_json(ws_a.api().get(SESSIONS + "?limit=1"), 200) == before


@pytest.mark.parametrize("body", [b"{", b"[]", b"\"x\"", b"null", b"{\"agent_id\": 1,}"])
def test_malformed_body_is_400(ws_a, body):
    assert_error(ws_a.api().post(SESSIONS, body=body), 400, "INVALID_INPUT")


def test_empty_body_names_agent_id(ws_a):
    r = ws_a.api().post(SESSIONS, body=b"")
    assert_error(r, 400, "INVALID_INPUT", field="agent_id")


def test_unknown_or_foreign_agent_is_404(stack, ws_a, ws_b, agent):
    theirs = make_agent(stack, ws_b, ("active",))
    api = ws_a.api()
    for body in ({"agent_id": random_uuid7()}, {"agent_id": "not-a-uuid"},
                 {"agent_id": theirs["id"]}, {"persona_id": theirs["key"]},
                 {"persona_id": "no-such-agent"}, {"persona_id": "no-such-agent@1"},
                 {"agent_id": agent["id"], "version": 99},
                 {"persona_id": agent["key"] + "@99"}):
        r = api.post(SESSIONS, json=body)
        assert_error(r, 404, "RESOURCE_NOT_FOUND")
        assert theirs["versions"][0] not in r.text
    # The other workspace can use its own agent.
    s = assert_json(ws_b.api().post(SESSIONS, json={"persona_id": theirs["key"]}), 201)
    assert s["agent_id"] == theirs["id"]


def test_not_runnable_version_is_409(stack, ws_a, agent):
    api = ws_a.api()
    for body in ({"agent_id": agent["id"], "version": 3},
                 {"agent_id": agent["id"], "version": 4},
                 {"persona_id": agent["key"] + "@3"},
                 {"persona_id": agent["key"] + "@4"}):
        assert_error(api.post(SESSIONS, json=body), 409, "CONFLICT")
    # An agent with no active version, and an archived agent.
    drafts = make_agent(stack, ws_a, ("draft", "archived"))
    assert_error(api.post(SESSIONS, json={"agent_id": drafts["id"]}), 409, "CONFLICT")
    assert_error(api.post(SESSIONS, json={"persona_id": drafts["key"]}), 409, "CONFLICT")
    gone = make_agent(stack, ws_a, ("active",), archived=True)
    assert_error(api.post(SESSIONS, json={"agent_id": gone["id"]}), 409, "CONFLICT")
    assert_error(api.post(SESSIONS, json={"agent_id": gone["id"], "version": 1}), 409,
                 "CONFLICT")


def test_member_key_may_use_sessions(ws_a, agent):
    member = ws_a.api(ws_a.member_key)
    s = assert_json(member.post(SESSIONS, json={"agent_id": agent["id"]}), 201)
    assert assert_json(member.get(THREADS + "/" + s["id"]), 200) == s
    assert assert_json(member.get(SESSIONS + "/" + s["id"] + "/messages"), 200) == []
    assert s["id"] in [x["id"] for x in assert_json(member.get(SESSIONS), 200)]


# --- get ------------------------------------------------------------------------------


def test_sessions_and_threads_are_one_resource(ws_a, agent):
    s = assert_json(ws_a.api().post(SESSIONS, json={"agent_id": agent["id"],
                                                   "metadata": {"k": "v"}}), 201)
    for base in (SESSIONS, THREADS, "/v1/sessions", "/v1/threads"):
        got = assert_json(ws_a.api().get(base + "/" + s["id"]), 200)
        assert got == s
        assert assert_json(ws_a.api().get(base + "/" + s["id"] + "/"), 200) == s
    t = assert_json(ws_a.api().post(THREADS, json={"agent_id": agent["id"]}), 201)
    assert assert_json(ws_a.api().get(SESSIONS + "/" + t["id"]), 200) == t


def test_get_reflects_the_row(stack, ws_a, agent):
    s = assert_json(ws_a.api().post(SESSIONS, json={"agent_id": agent["id"]}), 201)
    run = random_uuid7()
    stack.sql("UPDATE sessions SET status = 'closed', closed_at = NOW(3), last_seq = 7,"
              " active_run_id = '%s', updated_at = NOW(3) WHERE id = '%s'" % (run, s["id"]))
    got = assert_json(ws_a.api().get(THREADS + "/" + s["id"]), 200)
    _check_session(got)
    assert got["status"] == "closed" and TIME_RE.match(got["closed_at"])
    assert got["last_seq"] == 7 and got["active_run_id"] == run
    assert got["created_at"] == s["created_at"]


def test_foreign_unknown_malformed_session_is_404(ws_a, ws_b, agent):
    secret_meta = {"secret": "ws-a-only-%s" % uuid.uuid4().hex}
    s = assert_json(ws_a.api().post(SESSIONS, json={"agent_id": agent["id"],
                                                   "metadata": secret_meta}), 201)
    other = ws_b.api()
    for base in (SESSIONS, THREADS, "/v1/threads"):
        for sid in (s["id"], random_uuid7(), "not-a-uuid", s["id"].upper(), s["id"] + "0"):
            for suffix in ("", "/messages"):
                r = other.get(base + "/" + sid + suffix)
                assert_error(r, 404, "RESOURCE_NOT_FOUND")
                assert secret_meta["secret"] not in r.text and agent["id"] not in r.text
    # Nor does the other workspace's list show it, or accept it as a cursor.
    r = other.get(SESSIONS + "?limit=100")
    assert s["id"] not in r.text and secret_meta["secret"] not in r.text
    assert_error(other.get(SESSIONS, query={"before": s["id"]}), 400, "INVALID_INPUT",
                 field="before")
    # Filtering by a foreign agent shows nothing.
    assert assert_json(other.get(SESSIONS, query={"agent_id": agent["id"]}), 200) == []


def test_no_key_is_401(api, ws_a, agent):
    sid = random_uuid7()
    for r in (api.get(SESSIONS), api.post(SESSIONS, json={"agent_id": agent["id"]}),
              api.get(THREADS + "/" + sid), api.get(SESSIONS + "/" + sid + "/messages"),
              api.post("/v1/threads", json={"agent_id": agent["id"]})):
        assert_error(r, 401, "AUTHORIZATION_ERROR")
        assert r.header("WWW-Authenticate") == "Bearer"


def test_405_with_allow(ws_a, agent):
    s = assert_json(ws_a.api().post(SESSIONS, json={"agent_id": agent["id"]}), 201)
    api = ws_a.api()
    for base in (SESSIONS, THREADS, "/v1/threads"):
        for method in ("PUT", "PATCH", "DELETE"):
            r = api.request(method, base, json={})
            assert_error(r, 405, "METHOD_NOT_ALLOWED")
            assert r.header("Allow") == "GET, POST"
        for method in ("PUT", "PATCH", "DELETE", "POST"):
            r = api.request(method, base + "/" + s["id"], json={})
            assert_error(r, 405, "METHOD_NOT_ALLOWED")
            assert r.header("Allow") == "GET"
        for method in ("PUT", "PATCH", "DELETE"):
            r = api.request(method, base + "/" + s["id"] + "/messages", json={})
            assert_error(r, 405, "METHOD_NOT_ALLOWED")
            assert r.header("Allow") == "GET, POST"
    assert assert_json(api.get(SESSIONS + "/" + s["id"]), 200) == s


# --- list -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listed(stack, sess_ws):
    """25 sessions in sess_ws over two agents, some closed; newest first."""
    a1 = make_agent(stack, sess_ws, ("active",))
    a2 = make_agent(stack, sess_ws, ("active",))
    api = sess_ws.api()
    assert assert_json(api.get(SESSIONS), 200) == []
    made = []
    for i in range(25):
        a = a1 if i % 2 == 0 else a2
        made.append(assert_json(api.post(SESSIONS if i % 3 else THREADS,
                                          json={"agent_id": a["id"], "metadata": {"i": i}}),
                                201))
    closed = [s["id"] for s in made[::4]]
    stack.sql("UPDATE sessions SET status = 'closed', closed_at = NOW(3) WHERE id IN (%s)"
              % ", ".join("'%s'" % x for x in closed))
    for s in made:
        if s["id"] in closed:
            s.update(assert_json(api.get(SESSIONS + "/" + s["id"]), 200))
    # Newest first is by id: UUIDv7 orders by creation time to the
    # millisecond (two workers may interleave within one).
    made.sort(key=lambda s: s["id"], reverse=True)
    return {"a1": a1, "a2": a2, "made": made, "closed": set(closed)}


def test_list_newest_first(sess_ws, listed):
    api = sess_ws.api()
    got = assert_json(api.get(SESSIONS), 200)
    assert len(got) == 20
    for s in got:
        _check_session(s)
    assert got == listed["made"][:20]
    assert assert_json(api.get(SESSIONS + "?limit=100"), 200) == listed["made"]
    assert assert_json(api.get(THREADS + "?limit=100"), 200) == listed["made"]
    assert assert_json(api.get("/v1/threads?limit=100"), 200) == listed["made"]
    assert len(assert_json(api.get(SESSIONS + "?limit=1"), 200)) == 1


def _walk(api, path, query, page_size=7):
    seen, before = [], None
    while True:
        q = dict(query, limit=page_size)
        if before:
            q["before"] = before
        page = assert_json(api.get(path, query=q), 200)
        if not page:
            return seen
        assert len(page) <= page_size
        seen += page
        before = page[-1]["id"]


@pytest.mark.parametrize("base", [SESSIONS, THREADS])
def test_list_walk_and_filters(sess_ws, listed, base):
    api = sess_ws.api()
    made = listed["made"]
    assert _walk(api, base, {}) == made
    by_a1 = [s for s in made if s["agent_id"] == listed["a1"]["id"]]
    assert _walk(api, base, {"agent_id": listed["a1"]["id"]}) == by_a1
    closed = [s for s in made if s["id"] in listed["closed"]]
    open_ = [s for s in made if s["id"] not in listed["closed"]]
    assert all(s["status"] == "closed" for s in closed) and closed
    assert _walk(api, base, {"status": "closed"}, 2) == closed
    assert _walk(api, base, {"status": "open"}) == open_
    both = [s for s in closed if s["agent_id"] == listed["a1"]["id"]]
    assert _walk(api, base, {"status": "closed", "agent_id": listed["a1"]["id"]}, 1) == both
    # An agent of no session (unknown) just filters everything out.
    assert assert_json(api.get(base, query={"agent_id": random_uuid7()}), 200) == []
    # Any session of the workspace is a cursor, whatever the filters.
    mid = made[10]["id"]
    assert assert_json(api.get(base, query={"before": mid, "status": "open", "limit": 100}),
                       200) == [s for s in open_ if s["id"] < mid]


@pytest.mark.parametrize("query,field", [
    ({"limit": "0"}, "limit"),
    ({"limit": "101"}, "limit"),
    ({"limit": "x"}, "limit"),
    ({"before": "nope"}, "before"),
    ({"before": "RANDOM"}, "before"),
    ({"status": "running"}, "status"),
    ({"status": "OPEN"}, "status"),
    ({"status": ""}, "status"),
    ({"agent_id": "nope"}, "agent_id"),
    ({"agent_id": ""}, "agent_id"),
])
def test_list_bad_params_are_400(sess_ws, listed, query, field):
    query = {k: (random_uuid7() if v == "RANDOM" else v) for k, v in query.items()}
    assert_error(sess_ws.api().get(SESSIONS, query=query), 400, "INVALID_INPUT", field=field)


# --- messages ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def convo(stack, ws_a, agent):
    """A session with 9 messages (oldest first) and an empty one."""
    api = ws_a.api()
    s = assert_json(api.post(SESSIONS, json={"agent_id": agent["id"]}), 201)
    run = random_uuid7()
    turns = [("user", "hello"), ("assistant", "Hi! How can I help?"),
             ("user", "Quote: it's \"tricky\" \\ back\nslash — ünïcode ✓"),
             ("assistant", ""), ("tool", '{"temp": 21}'), ("assistant", "It is 21°C."),
             ("user", "thanks"), ("assistant", "x" * 5000), ("user", "bye")]
    ids = add_messages(stack, ws_a, s["id"], turns, run_id=run)
    empty = assert_json(api.post(THREADS, json={"agent_id": agent["id"]}), 201)
    return {"session": s, "ids": ids, "turns": turns, "run": run, "empty": empty}


def test_messages_newest_first(ws_a, convo):
    sid = convo["session"]["id"]
    for base in (SESSIONS, THREADS, "/v1/threads"):
        got = assert_json(ws_a.api().get(base + "/" + sid + "/messages"), 200)
        for m in got:
            _check_message(m)
            assert m["session_id"] == sid and m["run_id"] == convo["run"]
        assert [m["id"] for m in got] == convo["ids"][::-1]
        assert [(m["role"], m["content"]) for m in got] == convo["turns"][::-1]
        times = [m["created_at"] for m in got]
        assert times == sorted(times, reverse=True)
    assert assert_json(ws_a.api().get(SESSIONS + "/" + convo["empty"]["id"] + "/messages"),
                       200) == []
    got = assert_json(ws_a.api().get(SESSIONS + "/" + sid + "/messages?order=desc"), 200)
    assert [m["id"] for m in got] == convo["ids"][::-1]


def test_messages_pages(ws_a, convo):
    api = ws_a.api()
    path = SESSIONS + "/" + convo["session"]["id"] + "/messages"
    ids = convo["ids"]
    assert [m["id"] for m in assert_json(api.get(path + "?limit=2"), 200)] == ids[::-1][:2]
    # Newest first, before=<message id>.
    seen, before = [], None
    while True:
        q = {"limit": 4}
        if before:
            q["before"] = before
        page = assert_json(api.get(path, query=q), 200)
        if not page:
            break
        seen += [m["id"] for m in page]
        before = page[-1]["id"]
    assert seen == ids[::-1]
    # Chronological, after=<message id>.
    assert [m["id"] for m in assert_json(api.get(path + "?order=asc"), 200)] == ids
    seen, after = [], None
    while True:
        q = {"limit": 4, "order": "asc"}
        if after:
            q["after"] = after
        page = assert_json(api.get(path, query=q), 200)
        if not page:
            break
        seen += [m["id"] for m in page]
        after = page[-1]["id"]
    assert seen == ids
    assert assert_json(api.get(path, query={"order": "asc", "after": ids[-1]}), 200) == []
    assert assert_json(api.get(path, query={"before": ids[0]}), 200) == []
    got = assert_json(api.get(path, query={"order": "asc", "after": ids[2], "limit": 2}), 200)
    assert [m["id"] for m in got] == ids[3:5]


@pytest.mark.parametrize("query,field", [
    ({"order": "ASC"}, "order"),
    ({"order": "up"}, "order"),
    ({"order": ""}, "order"),
    ({"order": "asc", "before": "FIRST"}, "before"),
    ({"after": "FIRST"}, "after"),
    ({"order": "desc", "after": "FIRST"}, "after"),
    ({"order": "asc", "after": "nope"}, "after"),
    ({"order": "asc", "after": "RANDOM"}, "after"),
    ({"order": "asc", "after": "OTHER"}, "after"),
    ({"order": "asc", "after": "SESSION"}, "after"),
    ({"before": "nope"}, "before"),
    ({"before": "RANDOM"}, "before"),
    ({"before": "OTHER"}, "before"),
    ({"before": "SESSION"}, "before"),
    ({"limit": "0"}, "limit"),
    ({"limit": "101"}, "limit"),
])
def test_messages_bad_params_are_400(stack, ws_a, convo, query, field):
    other = add_messages(stack, ws_a, convo["empty"]["id"], [("user", "elsewhere")])[0]
    subst = {"FIRST": convo["ids"][0], "RANDOM": random_uuid7(), "OTHER": other,
             "SESSION": convo["session"]["id"]}
    query = {k: subst.get(v, v) for k, v in query.items()}
    path = SESSIONS + "/" + convo["session"]["id"] + "/messages"
    assert_error(ws_a.api().get(path, query=query), 400, "INVALID_INPUT", field=field)
    stack.sql("DELETE FROM messages WHERE id = '%s'" % other)


def test_foreign_messages_are_not_visible(stack, ws_a, ws_b, convo):
    # A message row of another workspace that (wrongly) names this session id
    # is not shown: every read filters on the workspace.
    stray = uuid7_at()
    stack.sql("INSERT INTO messages (id, workspace_id, session_id, role, content) VALUES"
              " ('%s', '%s', '%s', 'user', 'stray-from-ws-b')"
              % (stray, ws_b.id, convo["session"]["id"]))
    try:
        r = ws_a.api().get(SESSIONS + "/" + convo["session"]["id"] + "/messages?limit=100")
        assert "stray-from-ws-b" not in r.text
        assert [m["id"] for m in assert_json(r, 200)] == convo["ids"][::-1]
    finally:
        stack.sql("DELETE FROM messages WHERE id = '%s'" % stray)
