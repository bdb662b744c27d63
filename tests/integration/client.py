"""A tiny HTTP client for the integration suite (stdlib http.client only).

    api = Client("http://127.0.0.1:8080", key="ar_...")
    r = api.get("/api/v1/api-keys")
    r.status, r.header("X-Request-Id"), r.json()

Every request opens its own connection unless the Client was made with
keepalive=True (then one connection per Client, re-opened after an error;
use one Client per thread). Only 127.0.0.1 URLs are accepted.

Every response is checked against docs/openapi.yaml (openapi_check.py): an
undocumented status or a body that does not match its schema fails the test
that received it. check_openapi=False skips that for one request (only for
requests that are not agentrun's, e.g. a fake server's).
"""

import http.client
import json as _json
import re
import urllib.parse
import uuid

import openapi_check

DEFAULT_TIMEOUT = 30.0

_ABSENT = object()


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage: case-insensitive
        self.body = body  # bytes

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def header_all(self, name):
        return self.headers.get_all(name) or []

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return _json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        body = self.text
        if len(body) > 300:
            body = body[:300] + "..."
        return "<Response %d %s %r>" % (self.status, self.reason, body)


class Client:
    def __init__(self, base_url, key=None, timeout=DEFAULT_TIMEOUT, keepalive=False):
        u = urllib.parse.urlsplit(base_url)
        if u.scheme != "http" or u.hostname != "127.0.0.1" or u.port is None:
            raise ValueError("the suite only talks to http://127.0.0.1:PORT, got %r" % base_url)
        self.base_url = base_url
        self.host = u.hostname
        self.port = u.port
        self.key = key
        self.timeout = timeout
        self.keepalive = keepalive
        self._conn = None

    def with_key(self, key):
        return Client(self.base_url, key=key, timeout=self.timeout)

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self):
        if self.keepalive:
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port,
                                                        timeout=self.timeout)
            return self._conn
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(self, method, path, json=_ABSENT, body=None, headers=None, key=_ABSENT,
                query=None, check_openapi=True):
        """Send one request. `json` is serialised; `body` (bytes/str) is sent as is.
        key=None sends no Authorization; headers may set Authorization themselves."""
        hdrs = {}
        k = self.key if key is _ABSENT else key
        if k is not None:
            hdrs["Authorization"] = "Bearer " + k
        if json is not _ABSENT:
            body = _json.dumps(json).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        elif isinstance(body, str):
            body = body.encode("utf-8")
        if body is not None and "Content-Type" not in hdrs:
            hdrs["Content-Type"] = "application/json"
        if headers:
            for name, value in headers.items():
                # An explicit None removes a default header.
                for have in [h for h in hdrs if h.lower() == name.lower()]:
                    del hdrs[have]
                if value is not None:
                    hdrs[name] = value
        if query:
            path = path + ("&" if "?" in path else "?") + urllib.parse.urlencode(query)
        conn = self._connection()
        try:
            try:
                conn.request(method, path, body=body, headers=hdrs)
            except (BrokenPipeError, ConnectionResetError):
                # The server may answer (e.g. 413) and stop reading before
                # the whole body is sent: the response is still there.
                pass
            resp = conn.getresponse()
            data = resp.read()
            result = Response(resp.status, resp.reason, resp.headers, data)
            if resp.will_close and self.keepalive:
                self.close()
        except BaseException:
            conn.close()
            if self.keepalive:
                self._conn = None
            raise
        finally:
            if not self.keepalive:
                conn.close()
        if check_openapi:
            openapi_check.check_response(method, path, result.status,
                                         result.header("Content-Type"), result.body)
        return result

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json=_ABSENT, **kw):
        return self.request("POST", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def put(self, path, json=_ABSENT, **kw):
        return self.request("PUT", path, json=json, **kw)

    def patch(self, path, json=_ABSENT, **kw):
        return self.request("PATCH", path, json=json, **kw)


# --- assertions shared by the tests -------------------------------------------

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
UUID7_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def is_uuid(s):
    """A 128-bit id in UUID form: canonical (8-4-4-4-12) or 32 hex digits."""
    if not isinstance(s, str) or not re.fullmatch(r"[0-9a-fA-F-]{32,36}", s):
        return False
    try:
        uuid.UUID(s)
    except ValueError:
        return False
    return True


def random_uuid7():
    """A well-formed lowercase UUIDv7 that no server ever issued."""
    b = bytearray(uuid.uuid4().bytes)
    b[6] = 0x70 | (b[6] & 0x0F)
    b[8] = 0x80 | (b[8] & 0x3F)
    return str(uuid.UUID(bytes=bytes(b)))


def assert_json(resp, status):
    assert resp.status == status, "expected %d, got %r" % (status, resp)
    ctype = resp.header("Content-Type", "")
    assert ctype.split(";")[0].strip() == "application/json", \
        "Content-Type %r on %r" % (ctype, resp)
    # Every response carries exactly one X-Request-Id.
    assert len(resp.header_all("X-Request-Id")) == 1, \
        "X-Request-Id %r on %r" % (resp.header_all("X-Request-Id"), resp)
    return resp.json()


def assert_error(resp, status, code, field=None):
    """The contract's error body: exactly {"error": {code, message, details,
    request_id}}, request_id equal to the X-Request-Id header. Returns the
    inner error object."""
    body = assert_json(resp, status)
    assert isinstance(body, dict) and set(body) == {"error"}, "error shape: %r" % body
    err = body["error"]
    assert isinstance(err, dict), "error shape: %r" % body
    assert set(err) == {"code", "message", "details", "request_id"}, \
        "error keys: %r" % sorted(err)
    assert err["code"] == code, "expected code %s, got %r" % (code, body)
    assert isinstance(err["message"], str) and err["message"], body
    assert isinstance(err["details"], dict), body
    rid = resp.header("X-Request-Id")
    assert rid, "no X-Request-Id header on %r" % resp
    assert len(resp.header_all("X-Request-Id")) == 1, "X-Request-Id repeated on %r" % resp
    assert err["request_id"] == rid, "request_id %r != X-Request-Id %r" % (
        err["request_id"], rid)
    if field is not None:
        assert err["details"].get("field") == field, \
            "expected details.field == %r, got %r" % (field, err)
    return err
