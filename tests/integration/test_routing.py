"""Unknown routes (404), wrong methods (405 + Allow), and the /v1 alias."""

import http.client

import pytest

from client import Response, assert_error, assert_json, random_uuid7

KEYS = "/api/v1/api-keys"


@pytest.mark.parametrize("path", [
    "/api/v1/nope",
    "/nope",
    "/v1/nope",
    "/",
    "/api/v2/api-keys",
    "/api/v1/api-keys/not-a-uuid",
    "/api/v1/api-keys/01A20848-DB21-74DE-BFC1-FBFB14793D01x",
    "/api/v1/api-keys/x/y",
    "/v1/api-keys/not-a-uuid",
    "/v1",
    "/api/v1",
    "/api/v1/",
])
def test_unknown_route_is_404(ws_a, path):
    r = ws_a.api().get(path)
    assert_error(r, 404, "RESOURCE_NOT_FOUND")


def test_unknown_route_without_key_is_json_404(api):
    for path in ("/nope", "/api/v1/nope", "/v1/nope", "/healthz/x"):
        assert_error(api.get(path), 404, "RESOURCE_NOT_FOUND")


def test_unknown_well_formed_key_id_is_404(ws_a):
    admin = ws_a.api()
    kid = random_uuid7()
    assert_error(admin.get(KEYS + "/" + kid), 404, "RESOURCE_NOT_FOUND")
    assert_error(admin.delete(KEYS + "/" + kid), 404, "RESOURCE_NOT_FOUND")


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_405_on_collection(ws_a, method):
    r = ws_a.api().request(method, KEYS, json={"name": "x"})
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert r.header("Allow") == "GET, POST"


@pytest.mark.parametrize("method", ["PATCH", "PUT", "POST"])
def test_405_on_item(ws_a, method):
    r = ws_a.api().request(method, KEYS + "/" + ws_a.admin_key_id, json={"name": "x"})
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert r.header("Allow") == "GET, DELETE"
    # Nothing happened to the key.
    r = ws_a.api().get(KEYS + "/" + ws_a.admin_key_id)
    assert assert_json(r, 200)["revoked_at"] is None


def test_405_on_healthz(api):
    r = api.post("/healthz", json={})
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert r.header("Allow") == "GET"


def test_405_through_v1_alias(ws_a):
    r = ws_a.api().put("/v1/api-keys", json={})
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert r.header("Allow") == "GET, POST"


def test_v1_alias_lists_the_same_keys(ws_a):
    admin = ws_a.api()
    a = assert_json(admin.get(KEYS + "?limit=100"), 200)
    b = assert_json(admin.get("/v1/api-keys?limit=100"), 200)
    strip = lambda ks: [{k: v for k, v in o.items() if k != "last_used_at"} for o in ks]
    assert strip(a) == strip(b)
    assert ws_a.admin_key_id in [k["id"] for k in b]


def test_v1_alias_create_get_delete(ws_a):
    admin = ws_a.api()
    r = admin.post("/v1/api-keys", json={"name": "via-v1"})
    created = assert_json(r, 201)
    assert created["name"] == "via-v1" and created["secret"].startswith("ar_")
    listed = assert_json(admin.get(KEYS + "?limit=5"), 200)
    assert created["id"] in [k["id"] for k in listed]
    got = assert_json(admin.get("/v1/api-keys/" + created["id"]), 200)
    assert got["id"] == created["id"] and "secret" not in got
    gone = assert_json(admin.delete("/v1/api-keys/" + created["id"]), 200)
    assert gone["revoked_at"] is not None



@pytest.mark.parametrize("case", ["trace", "header-too-large", "uri-too-long",
                                  "two-authorization-headers"])
def test_nginx_rejections_answer_json(ws_a, case):
    """Requests nginx turns away itself still get the contract's error body."""
    admin = ws_a.api()
    if case == "trace":
        r = admin.request("TRACE", KEYS)
        assert_error(r, 405, "METHOD_NOT_ALLOWED")
    elif case == "header-too-large":
        r = admin.get(KEYS, headers={"Authorization": "Bearer " + "a" * 20000})
        assert r.status in (400, 431, 494), r
        assert_error(r, r.status, "INVALID_INPUT")
    elif case == "uri-too-long":
        r = admin.get("/api/v1/" + "a" * 20000)
        assert r.status in (404, 414), r
        assert_error(r, r.status, "INVALID_INPUT" if r.status == 414 else "RESOURCE_NOT_FOUND")
    else:
        conn = http.client.HTTPConnection(admin.host, admin.port, timeout=30)
        try:
            conn.putrequest("GET", KEYS)
            conn.putheader("Authorization", "Bearer " + ws_a.admin_key)
            conn.putheader("Authorization", "Bearer " + ws_a.member_key)
            conn.endheaders()
            resp = conn.getresponse()
            r = Response(resp.status, resp.reason, resp.headers, resp.read())
        finally:
            conn.close()
        assert r.status in (400, 401), r
        err = assert_error(r, r.status, "INVALID_INPUT" if r.status == 400
                           else "AUTHORIZATION_ERROR")
        assert ws_a.admin_key not in r.text and ws_a.member_key not in r.text, err
