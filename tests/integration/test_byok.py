"""BYOK routes (admin): create, list (newest first, limit, before), soft
delete, the write-only api_key (sealed with XChaCha20-Poly1305 under the
master key, never returned or logged), workspace isolation, and 503 from a
server without security.master_key."""

import ctypes
import ctypes.util
import json
import os
import time

import pytest

from client import TIME_RE, UUID7_RE, assert_error, assert_json, random_uuid7
from extra_daemons import daemon_running
from fcgi_client import api_request

ROUTES = "/api/v1/routes"
ROUTE_FIELDS = {"id", "name", "provider", "model", "base_url", "has_api_key", "created_at"}
# As conftest.py finds the binaries.
_HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_DIR = os.path.abspath(os.environ.get("AGENTRUN_BUILD_DIR") or os.environ.get(
    "AGENTRUN_SRCDIR") or os.path.join(_HERE, "..", ".."))
TAG_LEN = 16
NONCE_LEN = 24


def _check_route(o):
    assert set(o) == ROUTE_FIELDS, "route fields %r" % sorted(o)
    assert UUID7_RE.match(o["id"]), o["id"]
    assert o["provider"] in ("openai", "anthropic", "scripted")
    assert isinstance(o["name"], str) and isinstance(o["model"], str)
    assert o["base_url"] is None or isinstance(o["base_url"], str)
    assert isinstance(o["has_api_key"], bool)
    assert TIME_RE.match(o["created_at"]), o["created_at"]
    assert "api_key" not in o


def _secret():
    return "sk-live-%s-%s" % (random_uuid7().replace("-", ""), random_uuid7()[-12:])


def _row(stack, route_id):
    """The stored key columns, read as DB root: (ciphertext bytes, nonce bytes, deleted_at)."""
    rows = stack.sql("SELECT IFNULL(HEX(api_key_ciphertext), 'NULL'), IFNULL(HEX(api_key_nonce),"
                     " 'NULL'), IFNULL(deleted_at, 'NULL'), workspace_id FROM routes"
                     " WHERE id = '%s'" % route_id)
    assert len(rows) == 1, rows
    ct, nonce, deleted, ws = rows[0]
    return (None if ct == "NULL" else bytes.fromhex(ct),
            None if nonce == "NULL" else bytes.fromhex(nonce),
            None if deleted == "NULL" else deleted, ws)


def _master_key(stack):
    with open(os.path.join(stack.dir, "master.key")) as f:
        return bytes.fromhex(f.read().strip())


def _sodium():
    name = ctypes.util.find_library("sodium") or "libsodium.so.23"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    if lib.sodium_init() < 0:
        return None
    return lib


def _open(lib, key, ad, ct, nonce):
    """crypto_aead_xchacha20poly1305_ietf_decrypt; the plaintext or None."""
    out = ctypes.create_string_buffer(max(1, len(ct)))
    outlen = ctypes.c_ulonglong(0)
    rc = lib.crypto_aead_xchacha20poly1305_ietf_decrypt(
        out, ctypes.byref(outlen), None, ct, ctypes.c_ulonglong(len(ct)), ad,
        ctypes.c_ulonglong(len(ad)), nonce, key)
    return out.raw[:outlen.value] if rc == 0 else None


# --- create ---------------------------------------------------------------------


@pytest.mark.parametrize("provider,url", [
    ("openai", "https://api.openai.com/v1"),
    ("anthropic", "https://api.anthropic.com"),
    ("scripted", None),
])
def test_create_defaults(stack, ws_a, provider, url):
    r = ws_a.api().post(ROUTES, json={"provider": provider, "model": "m-1"})
    o = assert_json(r, 201)
    _check_route(o)
    assert o["provider"] == provider and o["model"] == "m-1"
    assert o["name"] == "" and o["base_url"] == url
    assert o["has_api_key"] is False
    ct, nonce, deleted, ws = _row(stack, o["id"])
    assert ct is None and nonce is None and deleted is None and ws == ws_a.id


def test_create_all_fields(ws_a):
    body = {"name": "Prod GPT — ünïcode", "provider": "openai", "model": "gpt-4o-mini",
            "base_url": "http://llm.internal:8080/v1"}
    o = assert_json(ws_a.api().post(ROUTES, json=body), 201)
    _check_route(o)
    assert {k: o[k] for k in ("name", "provider", "model", "base_url")} == body
    # Explicit nulls are the defaults; unknown and server-owned fields are ignored.
    o = assert_json(ws_a.api().post(ROUTES, json={
        "provider": "anthropic", "model": "claude-sonnet-4-0", "name": None, "base_url": None,
        "api_key": None, "id": random_uuid7(), "has_api_key": True, "created_at": "x",
        "color": "blue"}), 201)
    assert o["name"] == "" and o["base_url"] == "https://api.anthropic.com"
    assert o["has_api_key"] is False


def test_limits_at_the_edge(ws_a):
    url = "https://example.com/" + "a" * (2048 - len("https://example.com/"))
    o = assert_json(ws_a.api().post(ROUTES, json={
        "provider": "openai", "model": "m" * 255, "name": "n" * 255, "base_url": url,
        "api_key": "k" * 4080}), 201)
    assert o["model"] == "m" * 255 and o["name"] == "n" * 255 and o["base_url"] == url
    assert o["has_api_key"] is True
    # 255 characters of a multi-byte letter are more than 255 bytes.
    r = ws_a.api().post(ROUTES, json={"provider": "openai", "model": "x", "name": "é" * 128})
    assert_error(r, 400, "INVALID_INPUT", field="name")


def test_api_key_is_sealed_and_never_returned(stack, ws_a):
    secret = _secret()
    admin = ws_a.api()
    r = admin.post(ROUTES, json={"name": "byok", "provider": "openai", "model": "gpt-4o",
                                 "api_key": secret})
    o = assert_json(r, 201)
    _check_route(o)
    assert o["has_api_key"] is True
    assert secret not in r.text and secret[8:24] not in r.text

    # The list shows has_api_key, never the key.
    r = admin.get(ROUTES + "?limit=100")
    listed = assert_json(r, 200)
    mine = [x for x in listed if x["id"] == o["id"]]
    assert mine == [o]
    assert secret not in r.text and all("api_key" not in x for x in listed)

    # At rest: ciphertext with its tag, a 24-byte nonce, not the plaintext.
    ct, nonce, _, ws = _row(stack, o["id"])
    assert ws == ws_a.id
    assert len(ct) == len(secret) + TAG_LEN
    assert len(nonce) == NONCE_LEN
    assert secret.encode() not in ct and ct[:len(secret)] != secret.encode()
    hexdump = stack.sql("SELECT HEX(api_key_ciphertext) FROM routes WHERE id = '%s'" % o["id"])
    assert secret.encode().hex().upper() not in hexdump[0][0]

    # It opens under the master key with "<workspace_id>:<route_id>" only.
    lib = _sodium()
    if lib is None:
        pytest.skip("libsodium not loadable from Python")
    key = _master_key(stack)
    ad = ("%s:%s" % (ws_a.id, o["id"])).encode()
    assert _open(lib, key, ad, ct, nonce) == secret.encode()
    assert _open(lib, key, ("%s:%s" % (random_uuid7(), o["id"])).encode(), ct, nonce) is None
    assert _open(lib, key, ("%s:%s" % (ws_a.id, random_uuid7())).encode(), ct, nonce) is None
    assert _open(lib, key, b"", ct, nonce) is None
    assert _open(lib, bytes(32), ad, ct, nonce) is None


def test_same_key_seals_differently(stack, ws_a):
    secret = _secret()
    a = assert_json(ws_a.api().post(ROUTES, json={"provider": "openai", "model": "m",
                                                  "api_key": secret}), 201)
    b = assert_json(ws_a.api().post(ROUTES, json={"provider": "openai", "model": "m",
                                                  "api_key": secret}), 201)
    ca, na, _, _ = _row(stack, a["id"])
    cb, nb, _, _ = _row(stack, b["id"])
    assert na != nb and ca != cb


def test_api_key_is_never_logged(stack, ws_a):
    secret = _secret()
    assert_json(ws_a.api().post(ROUTES, json={"provider": "openai", "model": "m",
                                              "api_key": secret}), 201)
    # A rejected request that carries a key does not log it either.
    assert_error(ws_a.api().post(ROUTES, json={"provider": "nope", "model": "m",
                                               "api_key": secret}), 400, "INVALID_INPUT",
                 field="provider")
    time.sleep(0.2)
    logdir = os.path.join(stack.dir, "log")
    for name in os.listdir(logdir):
        with open(os.path.join(logdir, name), "rb") as f:
            assert secret.encode() not in f.read(), "api_key found in %s" % name


@pytest.mark.parametrize("payload,field", [
    ({}, "provider"),
    ({"model": "m"}, "provider"),
    ({"provider": None, "model": "m"}, "provider"),
    ({"provider": "azure", "model": "m"}, "provider"),
    ({"provider": "OpenAI", "model": "m"}, "provider"),
    ({"provider": 1, "model": "m"}, "provider"),
    ({"provider": "openai"}, "model"),
    ({"provider": "openai", "model": None}, "model"),
    ({"provider": "openai", "model": ""}, "model"),
    ({"provider": "openai", "model": 4}, "model"),
    ({"provider": "openai", "model": "m" * 256}, "model"),
    ({"provider": "openai", "model": "m", "name": 5}, "name"),
    ({"provider": "openai", "model": "m", "name": "n" * 256}, "name"),
    ({"provider": "openai", "model": "m", "base_url": 5}, "base_url"),
    ({"provider": "openai", "model": "m", "base_url": ""}, "base_url"),
    ({"provider": "openai", "model": "m", "base_url": "api.openai.com/v1"}, "base_url"),
    ({"provider": "openai", "model": "m", "base_url": "ftp://example.com"}, "base_url"),
    ({"provider": "openai", "model": "m", "base_url": "file:///etc/passwd"}, "base_url"),
    ({"provider": "openai", "model": "m", "base_url": "https://"}, "base_url"),
    ({"provider": "openai", "model": "m", "base_url": "https:///path"}, "base_url"),
    ({"provider": "openai", "model": "m", "base_url": "https://exa mple.com"}, "base_url"),
    ({"provider": "openai", "model": "m", "base_url": "https://example.com/\n"}, "base_url"),
    ({"provider": "openai", "model": "m", "base_url": "https://x/" + "a" * 2040}, "base_url"),
    ({"provider": "openai", "model": "m", "api_key": 12345}, "api_key"),
    ({"provider": "openai", "model": "m", "api_key": ["k"]}, "api_key"),
    ({"provider": "openai", "model": "m", "api_key": ""}, "api_key"),
    ({"provider": "openai", "model": "m", "api_key": "k" * 4081}, "api_key"),
    ({"provider": "openai", "model": "m", "api_key": "a\u0000b"}, "api_key"),
])
def test_bad_fields_are_400(ws_a, payload, field):
    before = assert_json(ws_a.api().get(ROUTES + "?limit=1"), 200)
    r = ws_a.api().post(ROUTES, json=payload)
    err = assert_error(r, 400, "INVALID_INPUT", field=field)
    assert field in err["message"]
    if isinstance(payload.get("api_key"), str) and len(payload["api_key"]) > 3:
        assert payload["api_key"] not in r.text
    assert assert_json(ws_a.api().get(ROUTES + "?limit=1"), 200) == before


@pytest.mark.parametrize("body", [b"{", b"[]", b"\"x\"", b"{\"provider\": \"openai\",}"])
def test_malformed_body_is_400(ws_a, body):
    assert_error(ws_a.api().post(ROUTES, body=body), 400, "INVALID_INPUT")


# --- auth -------------------------------------------------------------------------


def test_no_key_is_401(api):
    rid = random_uuid7()
    for r in (api.get(ROUTES), api.post(ROUTES, json={"provider": "openai", "model": "m"}),
              api.delete(ROUTES + "/" + rid), api.get("/v1/routes")):
        assert_error(r, 401, "AUTHORIZATION_ERROR")
        assert r.header("WWW-Authenticate") == "Bearer"


def test_member_key_is_403(ws_a):
    route = assert_json(ws_a.api().post(ROUTES, json={"provider": "openai", "model": "m"}), 201)
    member = ws_a.api(ws_a.member_key)
    for r in (member.get(ROUTES), member.post(ROUTES, json={"provider": "openai", "model": "m"}),
              member.delete(ROUTES + "/" + route["id"])):
        assert_error(r, 403, "AUTHORIZATION_ERROR")
        assert route["id"] not in r.text
    # The member's DELETE did nothing.
    assert _row_deleted(ws_a, route["id"]) is False


def _row_deleted(tenant, route_id):
    listed = assert_json(tenant.api().get(ROUTES + "?limit=100"), 200)
    return route_id not in [x["id"] for x in listed]


# --- list -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def list_ws(stack):
    """A workspace of its own so the list tests know every route in it."""
    return stack.new_tenant("ws-routes")


def _newest_first(objs):
    """Newest first means by id descending: UUIDv7 ids order by creation time
    (to the millisecond; two workers may interleave within one)."""
    return sorted(objs, key=lambda o: o["id"], reverse=True)


def test_list_newest_first_limit_before(list_ws):
    admin = list_ws.api()
    assert assert_json(admin.get(ROUTES), 200) == []
    made = [assert_json(admin.post(ROUTES, json={"provider": "scripted", "model": "echo",
                                                 "name": "r%d" % i}), 201)
            for i in range(25)]
    want = _newest_first(made)
    listed = assert_json(admin.get(ROUTES), 200)
    assert len(listed) == 20
    for o in listed:
        _check_route(o)
    assert listed == want[:20]
    assert len(assert_json(admin.get(ROUTES + "?limit=1"), 200)) == 1
    assert assert_json(admin.get(ROUTES + "?limit=100"), 200) == want
    # Walk with before: every route once, in order.
    seen, before = [], None
    while True:
        page = assert_json(admin.get(ROUTES, query=dict({"limit": 7},
                                                        **({"before": before} if before else {}))),
                           200)
        if not page:
            break
        seen += [o["id"] for o in page]
        before = page[-1]["id"]
    assert seen == [o["id"] for o in want]
    # The /v1 alias serves the same list.
    assert assert_json(admin.get("/v1/routes?limit=100"), 200) == want


def test_list_excludes_deleted(list_ws):
    admin = list_ws.api()
    a = assert_json(admin.post(ROUTES, json={"provider": "scripted", "model": "echo"}), 201)
    b = assert_json(admin.post(ROUTES, json={"provider": "scripted", "model": "echo"}), 201)
    assert_json(admin.delete(ROUTES + "/" + a["id"]), 200)
    live = assert_json(admin.get(ROUTES + "?limit=100"), 200)
    ids = [o["id"] for o in live]
    assert b["id"] in ids and a["id"] not in ids
    # A route deleted since the last page still works as a cursor.
    page = assert_json(admin.get(ROUTES, query={"before": a["id"], "limit": 100}), 200)
    assert page == [o for o in live if o["id"] < a["id"]]


@pytest.mark.parametrize("value", ["0", "101", "x", "-1", ""])
def test_bad_limit_is_400(ws_a, value):
    assert_error(ws_a.api().get(ROUTES + "?limit=" + value), 400, "INVALID_INPUT",
                 field="limit")


def test_bad_cursor_is_400(ws_a, ws_b):
    foreign = assert_json(ws_b.api().post(ROUTES, json={"provider": "openai", "model": "m"}),
                          201)
    for before in (random_uuid7(), "nope", foreign["id"], foreign["id"].upper()):
        r = ws_a.api().get(ROUTES, query={"before": before})
        assert_error(r, 400, "INVALID_INPUT", field="before")


# --- delete -----------------------------------------------------------------------


def test_delete_is_soft_and_once(stack, ws_a):
    secret = _secret()
    admin = ws_a.api()
    o = assert_json(admin.post(ROUTES, json={"name": "gone", "provider": "openai",
                                             "model": "m", "api_key": secret}), 201)
    r = admin.delete(ROUTES + "/" + o["id"])
    got = assert_json(r, 200)
    assert got == o
    assert secret not in r.text
    ct, nonce, deleted, _ = _row(stack, o["id"])
    assert deleted is not None and ct is not None and nonce is not None
    assert_error(admin.delete(ROUTES + "/" + o["id"]), 404, "RESOURCE_NOT_FOUND")
    assert_error(admin.delete("/v1/routes/" + o["id"]), 404, "RESOURCE_NOT_FOUND")


def test_delete_through_v1_alias(ws_a):
    o = assert_json(ws_a.api().post("/v1/routes", json={"provider": "openai", "model": "m"}),
                    201)
    assert assert_json(ws_a.api().delete("/v1/routes/" + o["id"]), 200)["id"] == o["id"]


def test_foreign_and_unknown_ids_are_404(stack, ws_a, ws_b):
    secret = _secret()
    theirs = assert_json(ws_b.api().post(ROUTES, json={
        "name": "their-secret-name", "provider": "anthropic", "model": "their-model",
        "api_key": secret}), 201)
    for rid in (theirs["id"], random_uuid7(), "not-a-uuid", theirs["id"].upper(),
                theirs["id"] + "x"):
        r = ws_a.api().delete(ROUTES + "/" + rid)
        assert_error(r, 404, "RESOURCE_NOT_FOUND")
        assert "their-secret-name" not in r.text and "their-model" not in r.text
        assert secret not in r.text
    # ws_a's list never shows it; ws_b still has it, not deleted.
    assert theirs["id"] not in [o["id"] for o in
                                assert_json(ws_a.api().get(ROUTES + "?limit=100"), 200)]
    assert _row(stack, theirs["id"])[2] is None
    assert theirs in assert_json(ws_b.api().get(ROUTES + "?limit=100"), 200)


def test_405_with_allow(ws_a):
    o = assert_json(ws_a.api().post(ROUTES, json={"provider": "openai", "model": "m"}), 201)
    for method in ("PUT", "PATCH", "DELETE"):
        r = ws_a.api().request(method, ROUTES, json={})
        assert_error(r, 405, "METHOD_NOT_ALLOWED")
        assert r.header("Allow") == "GET, POST"
    for method in ("GET", "PUT", "PATCH", "POST"):
        r = ws_a.api().request(method, ROUTES + "/" + o["id"], json={})
        assert_error(r, 405, "METHOD_NOT_ALLOWED")
        assert r.header("Allow") == "DELETE"
    assert not _row_deleted(ws_a, o["id"])


# --- a server without security.master_key -------------------------------------------




@pytest.fixture(scope="module")
def nokey_api(stack):
    """A second agentrun-api on its own socket, same database, no master key."""
    conf = os.path.join(stack.dir, "agentrun-nokey.conf")
    sock = os.path.join(stack.dir, "run", "api-nokey.sock")
    pidfile = os.path.join(stack.dir, "run", "api-nokey.pid")
    with open(stack.config) as f:
        lines = f.read().splitlines()
    out, section = [], None
    for line in lines:
        s = line.strip()
        if s.startswith("["):
            section = s
        key = s.split("=", 1)[0].strip()
        if section == "[security]" and key == "master_key":
            continue
        if section == "[api]" and key == "listen":
            line = "listen = " + sock
        if section == "[api]" and key == "workers":
            line = "workers = 1"
        out.append(line)
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(out) + "\n")
    with daemon_running([os.path.join(BUILD_DIR, "src", "api", "agentrun-api"), "-c", conf,
                         "-p", pidfile], stack.env, sock,
                        os.path.join(stack.dir, "log", "api-nokey.log")):
        yield sock


def test_api_key_without_master_key_is_503(stack, ws_a, nokey_api):
    secret = _secret()
    before = assert_json(ws_a.api().get(ROUTES + "?limit=1"), 200)
    body = json.dumps({"provider": "openai", "model": "m", "api_key": secret}).encode()
    status, headers, payload = api_request(nokey_api, "POST", ROUTES, ws_a.admin_key, body)
    assert status == 503, payload
    err = json.loads(payload)["error"]
    assert err["code"] == "INTERNAL_ERROR"
    assert "security.master_key" in err["message"]
    assert secret not in payload.decode()
    assert assert_json(ws_a.api().get(ROUTES + "?limit=1"), 200) == before
    # Without an api_key the route is stored as usual.
    body = json.dumps({"provider": "openai", "model": "m"}).encode()
    status, _, payload = api_request(nokey_api, "POST", ROUTES, ws_a.admin_key, body)
    assert status == 201, payload
    o = json.loads(payload)
    _check_route(o)
    assert o["has_api_key"] is False
    status, _, payload = api_request(nokey_api, "GET", ROUTES, ws_a.admin_key)
    assert status == 200 and o in json.loads(payload)
