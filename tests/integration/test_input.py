"""Request bodies: malformed JSON, wrong types, body size limit, unknown fields."""

import json

import pytest

from client import assert_error, assert_json

KEYS = "/api/v1/api-keys"
MIB = 1024 * 1024


def _newest(tenant):
    return assert_json(tenant.api().get(KEYS + "?limit=1"), 200)[0]["id"]


@pytest.mark.parametrize("body", [
    b"{",
    b"{\"name\": }",
    b"not json",
    b"{\"name\": \"x\",}",
    b"{'name': 'x'}",
    b"\xff\xfe{}",
    b"{\"name\": \"x\"} trailing",
    b"{\"name\": \"x\", \"name\": \"y\"}",
], ids=["open-brace", "missing-value", "bare-text", "trailing-comma", "single-quotes",
        "bad-utf8", "trailing-garbage", "duplicate-key"])
def test_malformed_json_is_400(ws_a, body):
    before = _newest(ws_a)
    r = ws_a.api().post(KEYS, body=body)
    err = assert_error(r, 400, "INVALID_INPUT")
    # docs/api.md: malformed JSON details carry the position.
    assert set(err["details"]) >= {"line", "column"}, err
    assert _newest(ws_a) == before


@pytest.mark.parametrize("body", [b"[]", b"[{\"name\": \"x\"}]", b"\"name\"", b"42", b"null",
                                  b"true"])
def test_non_object_body_is_400(ws_a, body):
    before = _newest(ws_a)
    r = ws_a.api().post(KEYS, body=body)
    assert_error(r, 400, "INVALID_INPUT")
    assert _newest(ws_a) == before


@pytest.mark.parametrize("payload,field", [
    ({"role": 5}, "role"),
    ({"role": True}, "role"),
    ({"role": ["admin"]}, "role"),
    ({"role": "owner"}, "role"),
    ({"role": "ADMIN"}, "role"),
    ({"name": []}, "name"),
    ({"name": 5}, "name"),
    ({"name": {"a": 1}}, "name"),
    ({"name": "x" * 1000}, "name"),
    ({"email": 7}, "email"),
    ({"email": "not-an-email"}, "email"),
    ({"user_id": 1}, "user_id"),
])
def test_wrong_types_name_the_field(ws_a, payload, field):
    before = _newest(ws_a)
    r = ws_a.api().post(KEYS, json=payload)
    err = assert_error(r, 400, "INVALID_INPUT", field=field)
    assert field in err["message"]
    assert _newest(ws_a) == before


def test_unknown_fields_are_ignored(ws_a):
    r = ws_a.api().post(KEYS, json={"name": "extra", "colour": "blue", "nested": {"x": [1]},
                                    "scopes": ["all"]})
    key = assert_json(r, 201)
    assert key["name"] == "extra" and key["role"] == "member"
    assert "colour" not in key and "nested" not in key and "scopes" not in key


def test_empty_body_creates_with_defaults(ws_a):
    r = ws_a.api().post(KEYS, body=b"", headers={"Content-Type": None})
    key = assert_json(r, 201)
    assert key["role"] == "member"


def _padded_object(size):
    """A valid JSON object of exactly `size` bytes (whitespace padding)."""
    head = json.dumps({"name": "big"}).encode()
    return head + b" " * (size - len(head))


@pytest.mark.parametrize("size", [MIB + 1, 2 * MIB], ids=["1MiB+1", "2MiB"])
def test_body_over_1mib_is_413(ws_a, size):
    admin = ws_a.api()
    before = assert_json(admin.get(KEYS + "?limit=100"), 200)
    body = _padded_object(size)
    assert len(body) == size
    r = admin.post(KEYS, body=body)
    assert_error(r, 413, "PAYLOAD_TOO_LARGE")
    after = assert_json(admin.get(KEYS + "?limit=100"), 200)
    assert [k["id"] for k in after] == [k["id"] for k in before], "a key was created"


def test_chunked_body_over_1mib_is_413(ws_a):
    # Without Content-Length the limit must hold as well.
    admin = ws_a.api()
    before = _newest(ws_a)
    body = _padded_object(MIB + 4096)
    chunks = iter([body[i:i + 65536] for i in range(0, len(body), 65536)])
    # http.client sends an iterable body with Transfer-Encoding: chunked.
    r = admin.request("POST", KEYS, body=chunks)
    assert_error(r, 413, "PAYLOAD_TOO_LARGE")
    assert _newest(ws_a) == before


def test_body_of_exactly_1mib_is_accepted(ws_a):
    r = ws_a.api().post(KEYS, body=_padded_object(MIB))
    key = assert_json(r, 201)
    assert key["name"] == "big"
