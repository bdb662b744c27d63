"""ToolServer: an endpoint for agentrun "http" tools (stdlib only).

``POST /tools/<name>`` with JSON ``{"run_id", "call_id", "name", "arguments"}`` and
header ``Idempotency-Key: <run_id>:<call_id>`` (API.md section 2, Tools).

Every request is a *delivery* (recorded with its key, body and time). A successful
delivery of a key not seen before applies an *effect* (recorded once) and stores
its response; a later delivery of the same key gets the stored first response and
applies no new effect. Failed deliveries (scripted status >= 300) apply nothing,
so a retry after a failure is processed afresh. Requests without an
Idempotency-Key apply an effect every time.

Default answer: ``200 {"ok": true, "echo": <arguments>}``.

Behaviours, queued per tool name with ``behave(name, [spec, ...])``; each delivery
to that tool consumes one (a spec with ``"times": n`` serves n deliveries); when the
queue is empty the tool's ``default(name, spec)`` applies, else the default answer.
A spec may combine:

    {"status": 500|429|404|..., "retry_after_s": x}   error (no effect); JSON body
    {"delay_ms": n}                                   wait n ms before answering
                                                      (the effect is applied first, as
                                                      a slow server would)
    {"body": "plain text", "content_type": "text/plain"}  custom success body
    {"json": {...}}                                   custom JSON success body
    {"size": n}                                       success body of exactly n bytes
                                                      ("x" * n, text/plain unless
                                                      content_type is given)
    {"redirect": url}                                 302 with Location (no effect)
    {"times": n}                                      how many deliveries it serves
"""

import json
import threading
import time
import urllib.parse

from . import Aborted, BaseHandler, LoopbackServer

__all__ = ["ToolServer"]

_SPEC_KEYS = {"status", "times", "retry_after_s", "delay_ms", "body", "content_type", "json",
              "size", "redirect"}


def _retry_after_value(x):
    x = float(x)
    return str(int(x)) if x == int(x) else ("%g" % x)


def _validate_spec(spec):
    if not isinstance(spec, dict):
        raise TypeError("a behaviour is a dict, got %r" % (spec,))
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        raise ValueError("unknown behaviour keys %s in %r" % (sorted(unknown), spec))
    if "status" in spec and not isinstance(spec["status"], int):
        raise ValueError("status must be an int: %r" % (spec,))
    if int(spec.get("times", 1)) < 1:
        raise ValueError("times must be >= 1: %r" % (spec,))


class _ToolHandler(BaseHandler):

    def do_GET(self):
        self._not_allowed()

    def do_PUT(self):
        self._not_allowed()

    def do_DELETE(self):
        self._not_allowed()

    def _not_allowed(self):
        self.send_json(405, {"error": "method not allowed"}, {"Allow": "POST"})

    def do_POST(self):
        owner = self.server.owner
        self.rec = None
        try:
            self._post(owner)
        except (Aborted, OSError):
            if self.rec is not None:
                owner._update(self.rec, outcome="aborted" if self.server.stopping.is_set()
                              else "client_gone", end=time.monotonic())
            self.close_connection = True
            self.cut()

    def _post(self, owner):
        path = urllib.parse.urlsplit(self.path).path
        raw = self.read_body()
        headers = self.header_dict()
        ok_path = path.startswith("/tools/") and len(path) > len("/tools/")
        name = urllib.parse.unquote(path[len("/tools/"):]) if ok_path else None
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError):
            body = None
        key = headers.get("idempotency-key")
        self.rec = rec = owner._record(name, self.path, headers, body, raw, key)
        if not ok_path:
            self._send(404, "application/json",
                       json.dumps({"error": "not found: %s" % path}).encode(), {})
            return
        if not isinstance(body, dict):
            self._send(400, "application/json", json.dumps({"error": "body is not a JSON object"})
                       .encode(), {})
            return
        spec = owner._next_spec(name)
        delay_s = (spec.get("delay_ms") or 0) / 1000.0
        status = spec.get("status", 200)

        if "redirect" in spec:
            self.sleep(delay_s)
            self._send(302, "text/plain", b"", {"Location": spec["redirect"]})
            return
        if status >= 300:
            extra = {}
            if spec.get("retry_after_s") is not None:
                extra["Retry-After"] = _retry_after_value(spec["retry_after_s"])
            self.sleep(delay_s)
            self._send(status, "application/json",
                       json.dumps({"error": "scripted failure", "status": status}).encode(), extra)
            return

        fresh = (status, spec.get("content_type"), spec)
        resp, applied = owner._apply(rec, fresh, body)
        owner._update(rec, effect=applied, replay=not applied)
        self.sleep(delay_s)
        st, ctype, payload = resp
        self._send(st, ctype, payload, {})

    def _send(self, status, ctype, payload, extra):
        owner = self.server.owner
        # recorded before the write, so a client that has the answer sees the record
        owner._update(self.rec, status=status, outcome="ok", end=time.monotonic())
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        view = memoryview(payload)
        for i in range(0, len(payload), 65536):
            self.wfile.write(view[i:i + 65536])
        self.wfile.flush()


def _render(status, spec, body):
    """(status, content_type, bytes) of a fresh successful response."""
    ctype = spec.get("content_type")
    if "size" in spec:
        return status, ctype or "text/plain", b"x" * int(spec["size"])
    if "body" in spec:
        b = spec["body"]
        return status, ctype or "text/plain", b if isinstance(b, bytes) else str(b).encode()
    if "json" in spec:
        return status, ctype or "application/json", json.dumps(spec["json"]).encode()
    return status, ctype or "application/json", json.dumps(
        {"ok": True, "echo": body.get("arguments")}).encode()


class ToolServer(LoopbackServer):
    """Records tool deliveries and applies effects once per Idempotency-Key.

    ToolServer(verbose=False); ``url`` is "http://127.0.0.1:PORT"; a tool's URL is
    ``tool_url(name)`` = url + "/tools/" + name.
    """

    handler_class = _ToolHandler

    def __init__(self, verbose=False):
        super().__init__()
        self.verbose = verbose
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queues = {}     # name -> [[spec, remaining], ...]
        self._defaults = {}   # name -> spec
        self._deliveries = []
        self._effects = []
        self._stored = {}     # key -> (status, content_type, bytes)
        self._seq = 0

    def tool_url(self, name):
        return "%s/tools/%s" % (self.url, urllib.parse.quote(name, safe=""))

    # -- behaviours --------------------------------------------------------

    def behave(self, name, specs):
        """Appends behaviours to tool `name`'s queue (see the module doc)."""
        specs = list(specs)
        for s in specs:
            _validate_spec(s)
        with self._lock:
            q = self._queues.setdefault(name, [])
            for s in specs:
                q.append([dict(s), int(s.get("times", 1))])
        return self

    def default(self, name, spec=None):
        """The behaviour of `name` once its queue is empty (None: the default answer)."""
        if spec is not None:
            _validate_spec(spec)
        with self._lock:
            if spec is None:
                self._defaults.pop(name, None)
            else:
                self._defaults[name] = dict(spec)
        return self

    def pending(self, name):
        """Deliveries still covered by `name`'s queued behaviours."""
        with self._lock:
            return sum(r for _, r in self._queues.get(name, []))

    def _next_spec(self, name):
        with self._lock:
            q = self._queues.get(name)
            if q:
                entry = q[0]
                entry[1] -= 1
                if entry[1] <= 0:
                    q.pop(0)
                return entry[0]
            return self._defaults.get(name, {})

    # -- recording ---------------------------------------------------------

    def _record(self, name, path, headers, body, raw, key):
        with self._cond:
            self._seq += 1
            rec = {"seq": self._seq, "name": name, "path": path, "key": key,
                   "headers": headers, "body": body, "raw": raw, "time": time.time(),
                   "mono": time.monotonic(), "status": None, "outcome": None,
                   "effect": False, "replay": False, "end": None}
            self._deliveries.append(rec)
            self._cond.notify_all()
            return rec

    def _update(self, rec, **kw):
        with self._cond:
            rec.update(kw)
            self._cond.notify_all()

    def _apply(self, rec, fresh, body):
        """Returns (response, applied): the stored response for a known key, else
        a new one with its effect recorded."""
        status, _, spec = fresh
        with self._cond:
            key = rec["key"]
            if key is not None and key in self._stored:
                return self._stored[key], False
            resp = _render(status, spec, body)
            if key is not None:
                self._stored[key] = resp
            self._effects.append({"key": key, "name": rec["name"], "seq": rec["seq"],
                                  "run_id": body.get("run_id"), "call_id": body.get("call_id"),
                                  "arguments": body.get("arguments"), "time": rec["time"]})
            rec["effect"] = True
            self._cond.notify_all()
            return resp, True

    @property
    def requests(self):
        """A snapshot of every delivery, in arrival order: dicts with seq, name, path,
        key (Idempotency-Key or None), headers (lowercased names), body (parsed JSON
        or None), raw (bytes), time, mono, status, outcome ("ok"|"client_gone"|
        "aborted"|None), effect (this delivery applied the effect), replay (answered
        from the stored response), end."""
        with self._lock:
            return [dict(r) for r in self._deliveries]

    def deliveries(self, key=None):
        """Number of requests carrying Idempotency-Key `key` (None: all requests)."""
        with self._lock:
            return sum(1 for r in self._deliveries if key is None or r["key"] == key)

    def effects(self, key):
        """Number of effects applied for `key` (0 or 1 for a real key)."""
        with self._lock:
            return sum(1 for e in self._effects if e["key"] == key)

    def effect_count(self):
        """Total number of effects applied."""
        with self._lock:
            return len(self._effects)

    def effect_log(self, name=None):
        """The effects (dicts: key, name, seq, run_id, call_id, arguments, time), for
        tool `name` or all, in order."""
        with self._lock:
            return [dict(e) for e in self._effects if name is None or e["name"] == name]

    def keys_seen(self):
        """Distinct Idempotency-Keys in first-seen order (repeats: deliveries(key))."""
        with self._lock:
            out, seen = [], set()
            for r in self._deliveries:
                k = r["key"]
                if k is not None and k not in seen:
                    seen.add(k)
                    out.append(k)
            return out

    def calls(self, name=None):
        """Number of deliveries to tool `name` (None: all)."""
        with self._lock:
            return sum(1 for r in self._deliveries if name is None or r["name"] == name)

    def wait_deliveries(self, n, name=None, timeout=10.0):
        """Blocks until at least `n` deliveries (to `name`, or any) have been
        answered or abandoned; True, or False after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while sum(1 for r in self._deliveries if (name is None or r["name"] == name)
                      and r["outcome"] is not None) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def reset(self):
        """Forgets behaviours, defaults, deliveries, effects and stored responses."""
        with self._lock:
            self._queues.clear()
            self._defaults.clear()
            self._deliveries = []
            self._effects = []
            self._stored.clear()
