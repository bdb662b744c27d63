"""Every response the suite receives is checked against docs/openapi.yaml.

The shared HTTP client (client.py) and the SSE reader (sse.py) hand each
response to check_response(): it finds the operation (method + path
template; /v1 is served as /api/v1, `{id}:cancel` has its own path), checks
that the status is documented for it and that the body matches the schema
documented for that status and media type (Debian's python3-jsonschema,
draft 2020-12 as OpenAPI 3.1 uses). A text/event-stream body is split into
events and each event's `data:` JSON is checked against the schema the
media type names in `x-sse-data` (by `event:` name when it maps names to
schemas).

Requests outside the documented operations are checked against the
document's generic answers (info.x-generic-responses): a path no operation
serves answers 404 (or 401, 413, 429 from nginx), a documented path asked
with another method answers 405; nginx's 414, 502 and 504 may answer any
request.

A violation is recorded and raised as an AssertionError when the main thread
received the response; responses worker threads receive are checked at the
test's teardown (drain()), and conftest.py fails any test during which a
violation was recorded and not raised (a worker thread's, or one the test
caught).
With AGENTRUN_OPENAPI_LOG=FILE violations are appended to FILE as JSON lines
and not raised (to survey a whole run at once).
"""

import json
import os
import re
import threading
import urllib.parse

import yaml

try:
    import jsonschema
    from jsonschema import Draft202012Validator, FormatChecker, RefResolver
except ImportError:  # pragma: no cover - scripts/deps installs python3-jsonschema
    jsonschema = None

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.abspath(os.environ.get("AGENTRUN_SRCDIR") or os.path.join(HERE, "..", ".."))
SPEC_PATH = os.path.join(SRCDIR, "docs", "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_lock = threading.Lock()
_state = {"checked": 0, "events": 0, "violations": [], "raised": set(), "pending": []}
_spec = {}


class Violation(AssertionError):
    pass


def _load():
    if _spec:
        return _spec
    with open(SPEC_PATH) as f:
        spec = yaml.safe_load(f)
    ops = []
    for path, item in spec["paths"].items():
        # {x} matches one segment without ':', so "{id}:cancel" has its own
        # template; find_operation() rewrites any other "x:verb" as the
        # server does (http_normalize_path).
        pattern = ""
        for part in re.split(r"(\{[^}]+\})", path):
            pattern += "[^/:]+" if part.startswith("{") else re.escape(part)
        literal = len(re.sub(r"\{[^}]+\}", "", path))
        ops.append((literal, path, re.compile("^" + pattern + "$"), item))
    ops.sort(key=lambda o: -o[0])
    _spec["doc"] = spec
    _spec["ops"] = ops
    _spec["resolver"] = RefResolver.from_schema(spec) if jsonschema else None
    _spec["validators"] = {}
    return _spec


def _normalise(path):
    """The path relative to the server it was sent to: /api/v1/X and /v1/X
    are both /X (the document's two servers); /healthz stays itself. Returns
    (path, whether it had the prefix); (None, False) for a path under neither
    prefix other than /healthz (nothing else is served there)."""
    path = urllib.parse.urlsplit(path).path
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    for prefix in ("/api/v1", "/v1"):  # nginx rewrites /v1/X to /api/v1/X
        if path == prefix:
            return "/", True
        if path.startswith(prefix + "/"):
            return path[len(prefix):], True
    return (path, False) if path == "/healthz" else (None, False)


def find_operation(method, path):
    """(template, operation or None, path item or None) for a request."""
    s = _load()
    p, prefixed = _normalise(path)
    if p is None:
        return None, None, None
    for candidate in (p, re.sub(r"(/[^/:]+):([a-z]+)$", r"\1/\2", p)):
        for _, template, rx, item in s["ops"]:
            if (template != "/healthz") == prefixed and rx.match(candidate):
                return template, item.get(method.lower()), item
    return None, None, None


def _resolve(node):
    s = _load()
    while isinstance(node, dict) and "$ref" in node:
        _, node = s["resolver"].resolve(node["$ref"])
    return node


# jsonschema checks "date-time" only with a module Debian does not package
# with it: RFC 3339, checked here (agentrun writes ...T10:00:00.123Z).
_DATE_TIME = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:"
                        r"([0-5]\d|60)(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_FORMATS = FormatChecker() if jsonschema else None
if _FORMATS is not None and "date-time" not in _FORMATS.checkers:
    _FORMATS.checks("date-time")(lambda v: not isinstance(v, str) or bool(_DATE_TIME.match(v)))


def _validator(schema):
    """One validator per schema object of the document (kept alive with it)."""
    s = _load()
    v = s["validators"].get(id(schema))
    if v is None:
        v = Draft202012Validator(schema, resolver=s["resolver"], format_checker=_FORMATS)
        s["validators"][id(schema)] = (v, schema)
        return v
    return v[0]


def _schema_errors(schema, instance):
    v = _validator(schema)
    out = []
    for e in sorted(v.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        where = "/" + "/".join(str(x) for x in e.absolute_path)
        msg = e.message[:300]
        if e.context:
            # A oneOf by type: say what the variant of this type missed (the
            # other variants only fail on their type's const).
            wrong_type = {c.relative_schema_path[0] for c in e.context if c.validator == "const"}
            why = [c for c in e.context if c.relative_schema_path[0] not in wrong_type]
            if why:
                msg = "matches no variant: " + "; ".join(
                    "/%s: %s" % ("/".join(str(x) for x in c.absolute_path), c.message[:200])
                    for c in why[:3])
        out.append("%s: %s" % (where, msg))
        if len(out) >= 5:
            break
    return out


def parse_sse(text):
    """[(event name, data text, id)] of an SSE body; comment-only blocks skipped."""
    events = []
    for block in re.split(r"\r?\n\r?\n", text):
        name, data, ident, seen = "message", [], None, False
        for line in block.splitlines():
            if not line or line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            seen = True
            if field == "data":
                data.append(value)
            elif field == "event":
                name = value
            elif field == "id":
                ident = value
        if seen:
            events.append((name, "\n".join(data), ident))
    return events


def check_sse_event(media, name, data):
    """Problems of one SSE event against a text/event-stream media object."""
    spec = media.get("x-sse-data")
    if spec is None:
        return []
    spec = _resolve(spec)
    if "mapping" in spec:
        schema = spec["mapping"].get(name)
        if schema is None:
            return ["event %r is not one the document lists (%s)" % (
                name, ", ".join(sorted(spec["mapping"])))]
    else:
        schema = spec
    try:
        value = json.loads(data)
    except ValueError as e:
        return ["event %r: data is not JSON (%s): %r" % (name, e, data[:200])]
    out = ["event %r: %s" % (name, p) for p in _schema_errors(schema, value)]
    if isinstance(value, dict) and value.get("type") != name:
        # Both the run events and the execution frames are named by their type.
        out.append("event %r: its data's type is %r" % (name, value.get("type")))
    return out


def _generic(kind, status):
    """The document's generic answer (info.x-generic-responses) of this kind
    ("unknown-path" or "other-method") for a status, or None."""
    doc = _load()["doc"]
    ref = doc["info"].get("x-generic-responses", {}).get(kind, {}).get(status)
    return _resolve({"$ref": ref}) if ref else None


def problems(method, path, status, content_type, body, sse_events=None, head_only=False):
    """The list of ways this response differs from the document (empty: conforms).
    head_only: the body was not read; check the status and media type."""
    template, op, item = find_operation(method, path)
    status = str(status)
    if op is None:
        # No documented operation: the generic answers.
        kind = "unknown-path" if item is None else "other-method"
        resp = _generic(kind, status) or _generic("any-request", status)
        if resp is None:
            what = "no documented path" if item is None else "method not documented for %s" % template
            return ["%s %s (%s): status %s is not a documented generic answer of %s" % (
                method, path, what, status, kind)]
        where = "%s %s (generic %s)" % (method, template or path, status)
    else:
        resp = op["responses"].get(status)
        where = "%s %s" % (method, template)
        if resp is None:
            resp = _generic("any-request", status)
            where += " (generic %s)" % status
        if resp is None:
            return ["%s: status %s not documented (documented: %s)" % (
                where, status, ", ".join(sorted(op["responses"])))]
        resp = _resolve(resp)
    content = resp.get("content") or {}
    media_type = (content_type or "").split(";")[0].strip().lower()
    if head_only:
        body = None
    if not content:
        if body:
            return ["%s %s: the document says no body, got %r" % (where, status, body[:200])]
        return []
    if not body and not media_type:
        if head_only:
            return []
        return ["%s %s: empty body without a Content-Type" % (where, status)]
    media = content.get(media_type)
    if media is None:
        return ["%s %s: media type %r not documented (%s)" % (
            where, status, media_type, ", ".join(sorted(content)))]
    if head_only:
        return []
    if media_type == "application/json":
        try:
            value = json.loads(body.decode("utf-8"))
        except ValueError as e:
            return ["%s %s: body is not JSON (%s): %r" % (where, status, e, body[:200])]
        schema = media.get("schema")
        if schema is None:
            return []
        return ["%s %s: %s" % (where, status, p) for p in _schema_errors(schema, value)]
    if media_type == "text/event-stream":
        out = []
        if sse_events is None:
            sse_events = parse_sse(body.decode("utf-8", "replace"))
        for name, data, _ in sse_events:
            out += ["%s %s: %s" % (where, status, p) for p in check_sse_event(media, name, data)]
        return out
    return []


def _record(found, method, path, status, kind="checked"):
    with _lock:
        _state[kind] += 1
        if not found:
            return None
        v = {"method": method, "path": path, "status": status, "problems": found,
             "thread": threading.current_thread().name}
        _state["violations"].append(v)
    log = os.environ.get("AGENTRUN_OPENAPI_LOG")
    if log:
        with _lock, open(log, "a") as f:
            f.write(json.dumps(v) + "\n")
        return None
    return v


def _main_thread():
    return threading.current_thread() is threading.main_thread()


def _response_problems(method, path, status, content_type, body, sse_events, head_only):
    found = problems(method, path, status, content_type, body, sse_events, head_only)
    return _record(found, method, path, status), found, "response"


def _event_problems(method, path, name, data):
    template, op, _ = find_operation(method, path)
    media = None
    if op is not None:
        resp = _resolve(op["responses"].get("200", {}))
        media = (resp.get("content") or {}).get("text/event-stream")
    if media is None:
        found = ["%s %s: no text/event-stream answer documented" % (method, path)]
    else:
        found = ["%s %s 200: %s" % (method, template, p) for p in check_sse_event(media, name, data)]
    return _record(found, method, path, 200, kind="events"), found, "SSE event"


def _check(fn, args):
    """Checks now on the main thread (a violation raises there); a worker
    thread's check is only queued for drain(): load tests time their threads,
    and a check costs about half a millisecond of the GIL."""
    if jsonschema is None:
        return
    if not _main_thread():
        with _lock:
            _state["pending"].append((fn, args))
        return
    v, found, what = fn(*args)
    if v is not None:
        with _lock:
            _state["raised"].add(id(v))
        raise Violation("%s does not conform to docs/openapi.yaml:\n  %s" % (
            what, "\n  ".join(found)))


def drain():
    """Checks what worker threads received (conftest: at each test's
    teardown, and at the end of the session): violations are recorded, not
    raised, and conftest fails the test."""
    while True:
        with _lock:
            if not _state["pending"]:
                return
            fn, args = _state["pending"].pop(0)
        fn(*args)


def check_response(method, path, status, content_type, body, sse_events=None, head_only=False):
    """Checks one response; raises Violation (and records it) when it does
    not conform. Counts it either way."""
    _check(_response_problems, (method, path, status, content_type, body, sse_events, head_only))


def check_sse_stream_event(method, path, name, data):
    """Checks one event read from a live text/event-stream (sse.py)."""
    _check(_event_problems, (method, path, name, data))


def mark():
    """A position in the violation list (conftest: before each test)."""
    with _lock:
        return len(_state["violations"])


def unraised_since(pos):
    """Violations recorded since mark() that no AssertionError reported."""
    with _lock:
        return [v for v in _state["violations"][pos:] if id(v) not in _state["raised"]]


def summary():
    """(responses checked, SSE events read live and checked, violations)."""
    drain()
    with _lock:
        return _state["checked"], _state["events"], len(_state["violations"])


def available():
    return jsonschema is not None
