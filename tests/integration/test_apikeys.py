"""The api-keys resource: create, list (newest first, limit, before), get,
revoke, workspace isolation, server-owned fields."""

import datetime
import threading

import pytest

from client import TIME_RE, UUID7_RE, assert_error, assert_json, random_uuid7

KEYS = "/api/v1/api-keys"
KEY_FIELDS = {"id", "name", "role", "prefix", "user_id", "created_at", "last_used_at",
              "revoked_at"}


def _parse_time(s):
    assert TIME_RE.match(s), s
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)


def _check_key_object(k, with_secret=False):
    want = KEY_FIELDS | ({"secret"} if with_secret else set())
    assert set(k) == want, "key fields %r" % sorted(k)
    assert UUID7_RE.match(k["id"]), k["id"]
    assert UUID7_RE.match(k["user_id"]), k["user_id"]
    assert k["role"] in ("admin", "member")
    assert isinstance(k["name"], str)
    assert isinstance(k["prefix"], str) and k["prefix"].startswith("ar_")
    _parse_time(k["created_at"])
    for f in ("last_used_at", "revoked_at"):
        assert k[f] is None or TIME_RE.match(k[f]), (f, k[f])


@pytest.fixture(scope="module")
def walk_ws(stack):
    """A workspace of its own, so the cursor walk knows every key in it."""
    return stack.new_tenant("ws-walk")


def test_create_shows_secret_once(ws_a):
    admin = ws_a.api()
    r = admin.post(KEYS, json={"name": "ci", "role": "admin"})
    k = assert_json(r, 201)
    _check_key_object(k, with_secret=True)
    assert k["name"] == "ci" and k["role"] == "admin"
    assert k["revoked_at"] is None and k["last_used_at"] is None
    assert k["user_id"] == ws_a.admin_user  # no user given: the caller's user
    secret = k["secret"]
    assert secret.startswith("ar_") and len(secret) == 46
    assert secret.startswith(k["prefix"]) and len(k["prefix"]) < len(secret)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - _parse_time(k["created_at"])).total_seconds()) < 120

    # The new key authenticates (and is an admin key).
    r = ws_a.api(secret).get(KEYS + "/" + k["id"])
    got = assert_json(r, 200)
    _check_key_object(got)
    assert "secret" not in got and secret not in r.text
    # Neither GET nor the list ever shows a secret again.
    r = admin.get(KEYS + "?limit=100")
    listed = assert_json(r, 200)
    assert all("secret" not in o for o in listed)
    assert secret not in r.text and secret[len(k["prefix"]):] not in r.text
    mine = [o for o in listed if o["id"] == k["id"]]
    assert len(mine) == 1
    assert {f: mine[0][f] for f in KEY_FIELDS - {"last_used_at"}} == \
        {f: k[f] for f in KEY_FIELDS - {"last_used_at"}}
    # Having been used, last_used_at is set now.
    assert mine[0]["last_used_at"] is not None


def test_role_defaults_to_member(ws_a, api):
    k = assert_json(ws_a.api().post(KEYS, json={"name": "defaults"}), 201)
    assert k["role"] == "member"
    # A member key authenticates, but is not an admin.
    assert_error(api.get(KEYS, key=k["secret"]), 403, "AUTHORIZATION_ERROR")
    k = assert_json(ws_a.api().post(KEYS, json={"role": None, "name": None}), 201)
    assert k["role"] == "member"


def test_email_creates_the_user(stack, ws_a):
    admin = ws_a.api()
    email = "new-user-%s@ws-a.example" % random_uuid7()[-12:]
    k1 = assert_json(admin.post(KEYS, json={"email": email, "user_name": "New User",
                                            "role": "admin"}), 201)
    assert k1["user_id"] != ws_a.admin_user
    rows = stack.sql("SELECT id, workspace_id, name FROM users WHERE email = '%s'" % email)
    assert rows == [[k1["user_id"], ws_a.id, "New User"]], rows
    # The same e-mail again: the same user, no second row.
    k2 = assert_json(admin.post(KEYS, json={"email": email}), 201)
    assert k2["user_id"] == k1["user_id"] and k2["id"] != k1["id"]
    assert len(stack.sql("SELECT id FROM users WHERE email = '%s'" % email)) == 1
    # The new user's key works.
    assert_json(ws_a.api(k1["secret"]).get(KEYS), 200)
    # For an explicit user_id of this workspace.
    k3 = assert_json(admin.post(KEYS, json={"user_id": k1["user_id"]}), 201)
    assert k3["user_id"] == k1["user_id"]


def test_user_id_and_email_together_is_400(ws_a):
    r = ws_a.api().post(KEYS, json={"user_id": ws_a.admin_user, "email": "x@y.example"})
    assert_error(r, 400, "INVALID_INPUT")


def test_unknown_or_foreign_user_id_is_404(ws_a, ws_b):
    for uid in (random_uuid7(), ws_b.admin_user):
        r = ws_a.api().post(KEYS, json={"user_id": uid})
        assert_error(r, 404, "RESOURCE_NOT_FOUND")


def test_email_in_another_workspace_is_another_user(stack, ws_a, ws_b):
    email = "shared-%s@example.org" % random_uuid7()[-12:]
    ka = assert_json(ws_a.api().post(KEYS, json={"email": email}), 201)
    kb = assert_json(ws_b.api().post(KEYS, json={"email": email}), 201)
    assert ka["user_id"] != kb["user_id"]


def test_concurrent_creates_for_one_new_email(stack, ws_a):
    """Eight simultaneous POSTs naming the same new e-mail: every one is 201
    and all keys belong to one user (never a 500 from the unique e-mail)."""
    admin_key = ws_a.admin_key
    for rnd in range(6):
        email = "race-%d-%s@ws-a.example" % (rnd, random_uuid7()[-12:])
        barrier = threading.Barrier(8, timeout=30)
        out, lock = [], threading.Lock()

        def create():
            c = stack.client(admin_key)
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass
            r = c.post(KEYS, json={"email": email})
            with lock:
                out.append(r)

        threads = [threading.Thread(target=create) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        bad = [r for r in out if r.status != 201]
        assert not bad, "round %d: %d of 8 failed: %r" % (rnd, len(bad), bad[:3])
        assert len({r.json()["user_id"] for r in out}) == 1
        assert len(stack.sql("SELECT id FROM users WHERE email = '%s'" % email)) == 1


def test_list_is_newest_first(ws_a):
    admin = ws_a.api()
    made = [assert_json(admin.post(KEYS, json={"name": "order-%d" % i}), 201)["id"]
            for i in range(3)]
    listed = assert_json(admin.get(KEYS), 200)
    assert 3 <= len(listed) <= 20  # default limit 20
    for k in listed:
        _check_key_object(k)
    ids = [k["id"] for k in listed]
    assert ids[:3] == made[::-1]
    assert ids == sorted(ids, reverse=True)
    # ids are time-ordered; created_at (the database's clock) agrees up to the
    # jitter of keys created at the same moment by different workers.
    times = [_parse_time(k["created_at"]) for k in listed]
    for newer, older in zip(times, times[1:]):
        assert (older - newer).total_seconds() < 1.0, (newer, older)


def test_limit(ws_a):
    admin = ws_a.api()
    while len(assert_json(admin.get(KEYS + "?limit=100"), 200)) < 25:
        assert_json(admin.post(KEYS, json={"name": "filler"}), 201)
    assert len(assert_json(admin.get(KEYS + "?limit=1"), 200)) == 1
    assert len(assert_json(admin.get(KEYS + "?limit=7"), 200)) == 7
    assert len(assert_json(admin.get(KEYS), 200)) == 20
    assert len(assert_json(admin.get(KEYS + "?limit=100"), 200)) >= 25


@pytest.mark.parametrize("value", ["0", "101", "x", "-1", "1.5", "", "1e2", "99999999999999999999"])
def test_bad_limit_is_400(ws_a, value):
    r = ws_a.api().get(KEYS + "?limit=" + value)
    err = assert_error(r, 400, "INVALID_INPUT", field="limit")
    assert "limit" in err["message"]


def test_cursor_walk_gives_every_key_once(walk_ws):
    admin = walk_ws.api()
    made = [assert_json(admin.post(KEYS, json={"name": "walk-%d" % i}), 201)["id"]
            for i in range(10)]
    everything = set(made) | {walk_ws.admin_key_id}
    for limit in (1, 3, 4, 11, 100):
        seen, before, pages = [], None, 0
        while pages < 50:
            q = "?limit=%d" % limit + ("&before=" + before if before else "")
            page = assert_json(admin.get(KEYS + q), 200)
            pages += 1
            assert len(page) <= limit
            if not page:
                break
            seen += [k["id"] for k in page]
            before = page[-1]["id"]
            if len(page) < limit:
                break
        assert len(seen) == len(set(seen)), "a key came twice (limit %d)" % limit
        assert set(seen) == everything, "limit %d" % limit
        assert seen == sorted(seen, reverse=True)


def test_cursor_of_the_oldest_key_gives_an_empty_page(walk_ws):
    r = walk_ws.api().get(KEYS + "?before=" + walk_ws.admin_key_id)
    assert assert_json(r, 200) == []


@pytest.mark.parametrize("kind", ["unknown", "foreign", "malformed"])
def test_bad_cursor_is_400(ws_a, ws_b, kind):
    cursor = {"unknown": random_uuid7(), "foreign": ws_b.admin_key_id,
              "malformed": "not-a-cursor"}[kind]
    r = ws_a.api().get(KEYS + "?before=" + cursor)
    err = assert_error(r, 400, "INVALID_INPUT", field="before")
    assert "before" in err["message"]


def test_get_by_id(ws_a):
    admin = ws_a.api()
    made = assert_json(admin.post(KEYS, json={"name": "get-me", "role": "member"}), 201)
    got = assert_json(admin.get(KEYS + "/" + made["id"]), 200)
    del made["secret"]
    assert got == made


def test_delete_revokes_idempotently(ws_a, api):
    admin = ws_a.api()
    made = assert_json(admin.post(KEYS, json={"name": "doomed", "role": "admin"}), 201)
    secret = made["secret"]
    assert_json(api.get(KEYS, key=secret), 200)
    r = admin.delete(KEYS + "/" + made["id"])
    gone = assert_json(r, 200)
    assert gone["id"] == made["id"] and gone["revoked_at"] is not None
    assert "secret" not in gone and secret not in r.text
    _parse_time(gone["revoked_at"])
    assert_error(api.get(KEYS, key=secret), 401, "AUTHORIZATION_ERROR")
    # Again: 200, and the first revoked_at is kept.
    again = assert_json(admin.delete(KEYS + "/" + made["id"]), 200)
    assert again["revoked_at"] == gone["revoked_at"]
    # Still listed, with revoked_at.
    got = assert_json(admin.get(KEYS + "/" + made["id"]), 200)
    assert got["revoked_at"] == gone["revoked_at"]
    assert_error(api.get(KEYS, key=secret), 401, "AUTHORIZATION_ERROR")


def test_a_key_may_revoke_itself(ws_a, api):
    made = assert_json(ws_a.api().post(KEYS, json={"name": "self", "role": "admin"}), 201)
    own = ws_a.api(made["secret"])
    assert assert_json(own.delete(KEYS + "/" + made["id"]), 200)["revoked_at"] is not None
    assert_error(own.get(KEYS), 401, "AUTHORIZATION_ERROR")


def test_workspace_isolation(ws_a, ws_b):
    a, b = ws_a.api(), ws_b.api()
    made = assert_json(a.post(KEYS, json={"name": "private-a", "role": "admin"}), 201)
    for kid in (made["id"], ws_a.admin_key_id, ws_a.member_key_id):
        r = b.get(KEYS + "/" + kid)
        assert_error(r, 404, "RESOURCE_NOT_FOUND")
        assert "private-a" not in r.text
        r = b.delete(KEYS + "/" + kid)
        assert_error(r, 404, "RESOURCE_NOT_FOUND")
        assert "private-a" not in r.text
        # ws_b's DELETE did not revoke ws_a's key.
        assert assert_json(a.get(KEYS + "/" + kid), 200)["revoked_at"] is None
    assert_json(ws_a.api(made["secret"]).get(KEYS), 200)
    # ws_b never sees ws_a's keys, whatever the page.
    seen, before = [], None
    for _ in range(100):
        page = assert_json(b.get(KEYS + "?limit=100" + ("&before=" + before if before else "")),
                           200)
        seen += page
        if len(page) < 100:
            break
        before = page[-1]["id"]
    ids = {k["id"] for k in seen}
    assert ws_b.admin_key_id in ids
    assert not ids & {made["id"], ws_a.admin_key_id, ws_a.member_key_id}
    assert all(k["user_id"] != ws_a.admin_user for k in seen)


def test_server_owned_fields_are_ignored(ws_a):
    fake_id = random_uuid7()
    body = {"name": "owned", "role": "admin", "id": fake_id, "prefix": "ar_FAKEFAKEFA",
            "revoked_at": "2020-01-01T00:00:00.000Z",
            "created_at": "2020-01-01T00:00:00.000Z",
            "last_used_at": "2020-01-01T00:00:00.000Z",
            "secret": "ar_" + "A" * 43, "workspace_id": random_uuid7()}
    k = assert_json(ws_a.api().post(KEYS, json=body), 201)
    assert k["id"] != fake_id
    assert k["prefix"] != "ar_FAKEFAKEFA" and k["secret"].startswith(k["prefix"])
    assert k["secret"] != body["secret"]
    assert k["revoked_at"] is None and k["last_used_at"] is None
    assert not k["created_at"].startswith("2020-")
    # It is a live key of ws_a, and the secret sent in the body is not a key.
    got = assert_json(ws_a.api(k["secret"]).get(KEYS + "/" + k["id"]), 200)
    assert got["revoked_at"] is None
    assert_error(ws_a.api(body["secret"]).get(KEYS), 401, "AUTHORIZATION_ERROR")
    assert_error(ws_a.api().get(KEYS + "/" + fake_id), 404, "RESOURCE_NOT_FOUND")


def test_prefix_reveals_at_most_8_characters(stack, ws_a):
    """Issue 14 item 9: the prefix shown to tell keys apart is at most 8
    characters of the secret ("ar_" and 5 more), for keys made through the
    API and with agentrunctl alike, in every view of a key."""
    admin = ws_a.api()
    k = assert_json(admin.post(KEYS, json={"name": "short-prefix", "role": "member"}), 201)
    assert len(k["prefix"]) <= 8 and k["secret"].startswith(k["prefix"]), k["prefix"]
    cli_id, cli_secret = ws_a.new_key(ws_a.admin_user, "member", "short-prefix-cli")
    for key_id, secret in ((k["id"], k["secret"]), (cli_id, cli_secret)):
        got = assert_json(admin.get(KEYS + "/" + key_id), 200)
        assert len(got["prefix"]) <= 8 and secret.startswith(got["prefix"]), got
    for item in assert_json(admin.get(KEYS + "?limit=100"), 200):
        assert len(item["prefix"]) <= 8, item
    # Nothing longer is stored either.
    assert stack.sql("SELECT MAX(CHAR_LENGTH(prefix)) FROM api_keys WHERE id IN ('%s', '%s')"
                     % (k["id"], cli_id)) == [["8"]]
