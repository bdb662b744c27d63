"""FakeProvider: a scripted model provider over real HTTP (stdlib only).

Speaks two wire protocols on one loopback port:

- OpenAI Chat Completions: ``POST /v1/chat/completions`` (or ``/chat/completions``).
  ``"stream": true`` answers ``text/event-stream`` of ``data: {chat.completion.chunk}``
  events: a role chunk, ``delta.reasoning_content`` chunks (thinking), ``delta.content``
  word chunks, ``delta.tool_calls`` (index/id/type/function.name first, then the
  arguments in >= 2 fragments), a chunk with ``finish_reason`` ("stop"|"tool_calls"),
  then - when the request had ``stream_options.include_usage`` - a chunk with
  ``"choices": []`` and ``usage`` (``prompt_tokens`` includes cached,
  ``prompt_tokens_details.cached_tokens``), then ``data: [DONE]``. Without stream: a
  ``chat.completion`` JSON object.
- Anthropic Messages: ``POST /v1/messages`` (or ``/messages``). ``"stream": true``
  answers ``event: NAME\\ndata: JSON\\n\\n`` events: message_start (usage
  input_tokens = prompt - cached - cache_write, cache_read_input_tokens,
  cache_creation_input_tokens, output_tokens 1), ping, per block
  content_block_start/delta/stop (thinking: thinking_delta + signature_delta; text:
  text_delta; tool_use: input_json_delta in >= 2 pieces), message_delta (stop_reason
  "end_turn"|"tool_use", usage.output_tokens), message_stop. Without stream: a
  ``message`` JSON object.

Streams use ``Transfer-Encoding: chunked``; each SSE event is one HTTP chunk written
and flushed on its own (TCP_NODELAY), so a client sees every event as it is sent and a
cut stream (``disconnect_after``) is a truncated transfer, not a clean end.

Scripts are selected by the request's ``model`` (``"*"`` is a fallback for any
model). Each request consumes the next turn::

    {"content": "text"}                                   final answer
    {"tool_call": {"name": "n", "arguments": {...}, "id"?: "..."}}
    {"tool_calls": [{"name", "arguments"}, ...]}          parallel calls
    {"fail": {"status": 500|429|400|..., "times": n, "retry_after_s"?: x,
              "message"?: "..."}}                         next n requests fail so
    optional on any answer turn: "thinking": "...", "usage": {"prompt_tokens",
    "cached_tokens", "cache_write_tokens", "completion_tokens"}, "chunk_delay_ms": n,
    "hang_ms": n (before the first byte; also allowed inside "fail"),
    "disconnect_after": n (cut the connection after n SSE events; a non-streaming
    request is cut without an answer)

"content" and "tool_call(s)" may be combined (text first, then the calls). Past the
end of a script the answer is ``{"content": ""}``; a model without a script gets its
last user message echoed back.

Without "usage" the counts are deterministic: prompt = ceil(bytes/4) of the compact
JSON of the request's system + messages, completion = ceil(bytes/4) of
thinking + content + tool arguments (at least 1); nothing cached.

Retry-After: whole seconds are sent as an integer ("2"); fractions as a decimal
("0.5"); ``retry-after-ms`` is always sent as well.
"""

import json
import math
import re
import threading
import time
import urllib.parse

from . import Aborted, BaseHandler, LoopbackServer

__all__ = ["FakeProvider"]

OPENAI_PATHS = ("/v1/chat/completions", "/chat/completions")
ANTHROPIC_PATHS = ("/v1/messages", "/messages")

_ANSWER_KEYS = {"content", "tool_call", "tool_calls", "thinking", "usage", "chunk_delay_ms",
                "hang_ms", "disconnect_after"}

_OPENAI_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", None),
}
_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def _tokens(n_bytes):
    return int(math.ceil(n_bytes / 4.0))


def split_words(text):
    """Word chunks whose concatenation is exactly `text`."""
    return re.findall(r"\S+\s*|\s+", text or "")


def split_fragments(s, parts=3):
    """`s` in at least 2 (if len >= 2) and at most `parts` contiguous fragments."""
    n = len(s)
    if n < 2:
        return [s]
    k = max(2, min(parts, n))
    size = int(math.ceil(n / float(k)))
    return [s[i:i + size] for i in range(0, n, size)]


def _compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _text_of(content):
    """Plain text of an OpenAI/Anthropic message content (string or parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    out.append(part["text"])
                elif part.get("type") == "tool_result":
                    out.append(_text_of(part.get("content")))
        return "".join(out)
    return str(content)


def _retry_after_value(x):
    x = float(x)
    return str(int(x)) if x == int(x) else ("%g" % x)


class _Script:
    __slots__ = ("turns", "pos", "fail_used")

    def __init__(self, turns):
        self.turns = list(turns)
        self.pos = 0
        self.fail_used = 0


def _validate_turn(turn):
    if not isinstance(turn, dict):
        raise TypeError("a turn is a dict, got %r" % (turn,))
    if "fail" in turn:
        f = turn["fail"]
        if not isinstance(f, dict) or not isinstance(f.get("status"), int):
            raise ValueError("fail turn needs {'status': int, ...}: %r" % (turn,))
        return
    unknown = set(turn) - _ANSWER_KEYS
    if unknown:
        raise ValueError("unknown turn keys %s in %r" % (sorted(unknown), turn))
    if "tool_call" in turn and not isinstance(turn["tool_call"], dict):
        raise ValueError("tool_call must be a dict: %r" % (turn,))
    if "tool_calls" in turn and not isinstance(turn["tool_calls"], list):
        raise ValueError("tool_calls must be a list: %r" % (turn,))
    for c in ([turn["tool_call"]] if "tool_call" in turn else []) + turn.get("tool_calls", []):
        if not isinstance(c, dict) or not isinstance(c.get("name"), str):
            raise ValueError("a tool call needs a name: %r" % (c,))


class _Reply:
    """A turn resolved against one request: what to say and the usage to report."""

    def __init__(self, turn, body, seq, api):
        self.thinking = turn.get("thinking") or ""
        self.content = turn.get("content") or ""
        calls = []
        if "tool_call" in turn:
            calls.append(turn["tool_call"])
        calls.extend(turn.get("tool_calls") or [])
        self.tool_calls = []
        for i, c in enumerate(calls):
            args = c.get("arguments", {})
            args_json = args if isinstance(args, str) else _compact(args)
            cid = c.get("id") or ("call_fake%06d_%d" % (seq, i) if api == "openai"
                                  else "toolu_fake%06d_%d" % (seq, i))
            self.tool_calls.append({"id": cid, "name": c["name"], "arguments": args_json})
        u = turn.get("usage") or {}
        prompt_src = _compact({"system": body.get("system"), "messages": body.get("messages")})
        out_bytes = len((self.thinking + self.content).encode()) + sum(
            len(c["arguments"].encode()) for c in self.tool_calls)
        self.prompt_tokens = int(u.get("prompt_tokens", _tokens(len(prompt_src.encode()))))
        self.cached_tokens = int(u.get("cached_tokens", 0))
        self.cache_write_tokens = int(u.get("cache_write_tokens", 0))
        self.completion_tokens = int(u.get("completion_tokens", max(1, _tokens(out_bytes))))

    @property
    def anthropic_input_tokens(self):
        return max(0, self.prompt_tokens - self.cached_tokens - self.cache_write_tokens)

    def openai_usage(self):
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }


class _ProviderHandler(BaseHandler):

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path.rstrip("/")
        if path in ("/v1/models", "/models"):
            models = self.server.owner._model_names()
            self.send_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in models]})
            return
        self.send_json(404, {"error": {"message": "not found", "type": "invalid_request_error",
                                       "param": None, "code": None}})

    def do_POST(self):
        self.rec = None
        try:
            self._post()
        except Aborted:
            if self.rec is not None:
                self.server.owner._update(self.rec, outcome="aborted", end=time.monotonic())
            self.close_connection = True
        except OSError:
            if self.rec is not None:
                self.server.owner._update(self.rec, outcome="client_gone", end=time.monotonic())
            self.close_connection = True

    def _post(self):
        owner = self.server.owner
        path = urllib.parse.urlsplit(self.path).path.rstrip("/")
        if path in OPENAI_PATHS:
            api = "openai"
        elif path in ANTHROPIC_PATHS:
            api = "anthropic"
        else:
            api = None
        raw = self.read_body()
        headers = self.header_dict()
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError):
            body = None
        key = None
        auth = headers.get("authorization")
        if auth is not None:
            key = auth[7:].strip() if auth[:7].lower() == "bearer " else auth.strip()
        elif headers.get("x-api-key") is not None:
            key = headers["x-api-key"]
        model = body.get("model") if isinstance(body, dict) else None
        rec = owner._record(self.path, headers, body, model, api, key,
                            bool(isinstance(body, dict) and body.get("stream") is True))
        self.api, self.rec = api, rec

        if api is None:
            self._error(404, "unknown path %s" % path, outcome="rejected")
            return
        problem = self._check(headers, body, key)
        if problem:
            self._error(problem[0], problem[1], outcome="rejected")
            return

        turn, index = owner._next_turn(model)
        owner._update(rec, turn=index)
        if "fail" in turn:
            f = turn["fail"]
            self.sleep((f.get("hang_ms") or turn.get("hang_ms") or 0) / 1000.0)
            extra = {}
            if f.get("retry_after_s") is not None:
                extra["Retry-After"] = _retry_after_value(f["retry_after_s"])
                extra["retry-after-ms"] = str(int(round(float(f["retry_after_s"]) * 1000)))
            self._error(int(f["status"]), f.get("message") or "scripted failure",
                        outcome="failed", headers=extra)
            return
        if turn.get("echo"):
            turn = {"content": self._last_user_text(body)}

        reply = _Reply(turn, body, rec["seq"], api)
        self.sleep((turn.get("hang_ms") or 0) / 1000.0)
        delay = turn.get("chunk_delay_ms")
        if delay is None:
            delay = owner.chunk_delay_ms
        if rec["stream"]:
            if api == "openai":
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                events = self._openai_events(reply, model, rec["seq"], include_usage)
            else:
                events = self._anthropic_events(reply, model, rec["seq"])
            self._stream(events, (delay or 0) / 1000.0, turn.get("disconnect_after"))
        elif turn.get("disconnect_after") is not None:
            # not streaming: drop the connection without an answer
            owner._update(rec, outcome="disconnected", end=time.monotonic())
            self.cut()
        else:
            if api == "openai":
                obj = self._openai_message(reply, model, rec["seq"])
            else:
                obj = self._anthropic_message(reply, model, rec["seq"])
            # recorded before the write, so a client that has the answer sees the record
            owner._update(rec, status=200, outcome="ok", end=time.monotonic())
            self.send_json(200, obj)

    # -- validation and errors ---------------------------------------------

    def _check(self, headers, body, key):
        owner = self.server.owner
        if self.api == "anthropic" and owner.strict:
            if not headers.get("x-api-key"):
                return 401, "x-api-key header is required"
            if not headers.get("anthropic-version"):
                return 400, "anthropic-version header is required"
        if owner.api_keys is not None and key not in owner.api_keys:
            return 401, "invalid api key"
        if not isinstance(body, dict):
            return 400, "request body is not a JSON object"
        if not isinstance(body.get("model"), str) or not body["model"]:
            return 400, "model is required"
        if not isinstance(body.get("messages"), list):
            return 400, "messages must be an array"
        if self.api == "anthropic" and owner.strict:
            mt = body.get("max_tokens")
            if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
                return 400, "max_tokens: field required"
        return None

    def _error(self, status, message, outcome, headers=None):
        if self.api == "anthropic":
            etype = _ANTHROPIC_ERRORS.get(status, "api_error" if status >= 500 else
                                          "invalid_request_error")
            obj = {"type": "error", "error": {"type": etype, "message": message}}
        else:
            etype, code = _OPENAI_ERRORS.get(status, ("server_error" if status >= 500 else
                                                      "invalid_request_error", None))
            obj = {"error": {"message": message, "type": etype, "param": None, "code": code}}
        self.server.owner._update(self.rec, status=status, outcome=outcome, end=time.monotonic())
        self.send_json(status, obj, headers)

    @staticmethod
    def _last_user_text(body):
        for m in reversed(body.get("messages") or []):
            if isinstance(m, dict) and m.get("role") == "user":
                return _text_of(m.get("content"))
        return ""

    # -- streaming ---------------------------------------------------------

    def _stream(self, events, delay_s, disconnect_after):
        owner = self.server.owner
        owner._update(self.rec, status=200)
        self.start_chunked(200, "text/event-stream")
        sent = 0
        try:
            for i, ev in enumerate(events):
                if disconnect_after is not None and sent >= disconnect_after:
                    owner._update(self.rec, outcome="disconnected", end=time.monotonic())
                    self.cut()
                    return
                if i and delay_s:
                    self.sleep(delay_s)
                self.write_chunk(ev)
                sent += 1
                owner._update(self.rec, events_sent=sent,
                              event_times=self.rec["event_times"] + [time.time()])
            owner._update(self.rec, outcome="ok", end=time.monotonic())
            self.end_chunked()
        except Aborted:
            owner._update(self.rec, outcome="aborted", end=time.monotonic())
            self.cut()
        except OSError:
            owner._update(self.rec, outcome="client_gone", end=time.monotonic())
            self.cut()

    @staticmethod
    def _sse_data(obj):
        return b"data: " + _compact(obj).encode() + b"\n\n"

    @staticmethod
    def _sse_event(name, obj):
        return b"event: " + name.encode() + b"\ndata: " + _compact(obj).encode() + b"\n\n"

    def _openai_events(self, r, model, seq, include_usage):
        created = int(time.time())

        def chunk(delta, finish=None):
            c = {"id": "chatcmpl-fake%06d" % seq, "object": "chat.completion.chunk",
                 "created": created, "model": model, "system_fingerprint": "fp_fake",
                 "choices": [{"index": 0, "delta": delta, "logprobs": None,
                              "finish_reason": finish}]}
            if include_usage:
                c["usage"] = None
            return self._sse_data(c)

        out = [chunk({"role": "assistant", "content": ""})]
        for w in split_words(r.thinking):
            out.append(chunk({"reasoning_content": w}))
        for w in split_words(r.content):
            out.append(chunk({"content": w}))
        for i, c in enumerate(r.tool_calls):
            out.append(chunk({"tool_calls": [{"index": i, "id": c["id"], "type": "function",
                                              "function": {"name": c["name"], "arguments": ""}}]}))
            for frag in split_fragments(c["arguments"]):
                out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": frag}}]}))
        out.append(chunk({}, "tool_calls" if r.tool_calls else "stop"))
        if include_usage:
            out.append(self._sse_data({
                "id": "chatcmpl-fake%06d" % seq, "object": "chat.completion.chunk",
                "created": created, "model": model, "system_fingerprint": "fp_fake",
                "choices": [], "usage": r.openai_usage()}))
        out.append(b"data: [DONE]\n\n")
        return out

    def _openai_message(self, r, model, seq):
        msg = {"role": "assistant", "content": r.content if (r.content or not r.tool_calls) else None}
        if r.thinking:
            msg["reasoning_content"] = r.thinking
        if r.tool_calls:
            msg["tool_calls"] = [{"id": c["id"], "type": "function",
                                  "function": {"name": c["name"], "arguments": c["arguments"]}}
                                 for c in r.tool_calls]
        return {"id": "chatcmpl-fake%06d" % seq, "object": "chat.completion",
                "created": int(time.time()), "model": model, "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "message": msg, "logprobs": None,
                             "finish_reason": "tool_calls" if r.tool_calls else "stop"}],
                "usage": r.openai_usage()}

    def _anthropic_events(self, r, model, seq):
        ev = self._sse_event
        out = [ev("message_start", {"type": "message_start", "message": {
            "id": "msg_fake%06d" % seq, "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": r.anthropic_input_tokens,
                      "cache_creation_input_tokens": r.cache_write_tokens,
                      "cache_read_input_tokens": r.cached_tokens,
                      "output_tokens": 1}}}),
            ev("ping", {"type": "ping"})]
        idx = 0
        if r.thinking:
            out.append(ev("content_block_start", {"type": "content_block_start", "index": idx,
                                                  "content_block": {"type": "thinking",
                                                                    "thinking": "",
                                                                    "signature": ""}}))
            for w in split_words(r.thinking):
                out.append(ev("content_block_delta", {"type": "content_block_delta", "index": idx,
                                                      "delta": {"type": "thinking_delta",
                                                                "thinking": w}}))
            out.append(ev("content_block_delta", {"type": "content_block_delta", "index": idx,
                                                  "delta": {"type": "signature_delta",
                                                            "signature": "sig_fake%06d" % seq}}))
            out.append(ev("content_block_stop", {"type": "content_block_stop", "index": idx}))
            idx += 1
        if r.content or not r.tool_calls:
            out.append(ev("content_block_start", {"type": "content_block_start", "index": idx,
                                                  "content_block": {"type": "text", "text": ""}}))
            for w in split_words(r.content):
                out.append(ev("content_block_delta", {"type": "content_block_delta", "index": idx,
                                                      "delta": {"type": "text_delta", "text": w}}))
            out.append(ev("content_block_stop", {"type": "content_block_stop", "index": idx}))
            idx += 1
        for c in r.tool_calls:
            out.append(ev("content_block_start", {"type": "content_block_start", "index": idx,
                                                  "content_block": {"type": "tool_use", "id": c["id"],
                                                                    "name": c["name"], "input": {}}}))
            for frag in split_fragments(c["arguments"]):
                out.append(ev("content_block_delta", {"type": "content_block_delta", "index": idx,
                                                      "delta": {"type": "input_json_delta",
                                                                "partial_json": frag}}))
            out.append(ev("content_block_stop", {"type": "content_block_stop", "index": idx}))
            idx += 1
        out.append(ev("message_delta", {"type": "message_delta",
                                        "delta": {"stop_reason": "tool_use" if r.tool_calls else "end_turn",
                                                  "stop_sequence": None},
                                        "usage": {"output_tokens": r.completion_tokens}}))
        out.append(ev("message_stop", {"type": "message_stop"}))
        return out

    def _anthropic_message(self, r, model, seq):
        content = []
        if r.thinking:
            content.append({"type": "thinking", "thinking": r.thinking,
                            "signature": "sig_fake%06d" % seq})
        if r.content or not r.tool_calls:
            content.append({"type": "text", "text": r.content})
        for c in r.tool_calls:
            try:
                inp = json.loads(c["arguments"])
            except ValueError:
                inp = c["arguments"]
            content.append({"type": "tool_use", "id": c["id"], "name": c["name"], "input": inp})
        return {"id": "msg_fake%06d" % seq, "type": "message", "role": "assistant",
                "model": model, "content": content,
                "stop_reason": "tool_use" if r.tool_calls else "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": r.anthropic_input_tokens,
                          "cache_creation_input_tokens": r.cache_write_tokens,
                          "cache_read_input_tokens": r.cached_tokens,
                          "output_tokens": r.completion_tokens}}


class FakeProvider(LoopbackServer):
    """A scripted OpenAI + Anthropic provider on http://127.0.0.1:PORT.

    FakeProvider(chunk_delay_ms=0, api_keys=None, strict=True, verbose=False)

    - chunk_delay_ms: default delay between SSE events (a turn's "chunk_delay_ms"
      overrides it).
    - api_keys: when a collection, requests whose key (Bearer token or x-api-key) is
      not in it get 401 in the provider's error format (no turn consumed).
    - strict: Anthropic requests without x-api-key (401), anthropic-version (400) or
      an integer max_tokens (400) are refused as the real API would.

    Use ``url`` + "/v1" as an OpenAI base_url (``openai_base_url``) and ``url`` as an
    Anthropic base_url (``anthropic_base_url``); both ``/v1/...`` and bare paths work.
    """

    handler_class = _ProviderHandler

    def __init__(self, chunk_delay_ms=0, api_keys=None, strict=True, verbose=False):
        super().__init__()
        self.chunk_delay_ms = chunk_delay_ms
        self.api_keys = set(api_keys) if api_keys is not None else None
        self.strict = strict
        self.verbose = verbose
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._scripts = {}
        self._requests = []
        self._seq = 0

    @property
    def openai_base_url(self):
        return self.url + "/v1"

    @property
    def anthropic_base_url(self):
        return self.url

    # -- scripting ---------------------------------------------------------

    def script(self, model, turns):
        """Sets (replaces) the script of `model` ("*": any model without its own
        script); requests for it consume the turns in order."""
        turns = list(turns)
        for t in turns:
            _validate_turn(t)
        with self._lock:
            self._scripts[model] = _Script(turns)
        return self

    def extend(self, model, turns):
        """Appends turns to the script of `model` (creating it)."""
        turns = list(turns)
        for t in turns:
            _validate_turn(t)
        with self._lock:
            s = self._scripts.setdefault(model, _Script([]))
            s.turns.extend(turns)
        return self

    def remaining(self, model):
        """Turns of `model`'s script not yet (fully) consumed."""
        with self._lock:
            s = self._scripts.get(model)
            return 0 if s is None else max(0, len(s.turns) - s.pos)

    def _next_turn(self, model):
        with self._lock:
            s = self._scripts.get(model)
            if s is None:
                s = self._scripts.get("*")
            if s is None:
                return {"echo": True}, None
            while s.pos < len(s.turns):
                index, turn = s.pos, s.turns[s.pos]
                if "fail" in turn:
                    times = int(turn["fail"].get("times", 1))
                    if s.fail_used >= times:
                        s.pos, s.fail_used = s.pos + 1, 0
                        continue
                    s.fail_used += 1
                    if s.fail_used >= times:
                        s.pos, s.fail_used = s.pos + 1, 0
                    return turn, index
                s.pos += 1
                return turn, index
            return {"content": ""}, s.pos

    def _model_names(self):
        with self._lock:
            return sorted(m for m in self._scripts if m != "*")

    # -- recording ---------------------------------------------------------

    def _record(self, path, headers, body, model, api, key, stream):
        with self._cond:
            self._seq += 1
            rec = {"seq": self._seq, "path": path, "api": api, "headers": headers, "body": body,
                   "model": model, "key": key, "stream": stream, "time": time.time(),
                   "mono": time.monotonic(), "turn": None, "status": None, "outcome": None,
                   "events_sent": 0, "event_times": [], "end": None}
            self._requests.append(rec)
            self._cond.notify_all()
            return rec

    def _update(self, rec, **kw):
        with self._cond:
            rec.update(kw)
            self._cond.notify_all()

    @property
    def requests(self):
        """A snapshot: one dict per request, in arrival order, with keys
        seq, path, api ("openai"|"anthropic"|None), headers (lowercased names),
        body (parsed JSON or None), model, key (Bearer token or x-api-key), stream,
        time (time.time()), mono (time.monotonic()), turn (script index or None),
        status, outcome ("ok"|"failed"|"rejected"|"disconnected"|"client_gone"|
        "aborted"|None while running), events_sent, event_times (time.time() of
        each streamed event as it was written: the benchmark's first-token time),
        end (monotonic or None)."""
        with self._lock:
            return [dict(r) for r in self._requests]

    def calls(self, model=None):
        """Number of requests (for `model`, or all)."""
        with self._lock:
            return sum(1 for r in self._requests if model is None or r["model"] == model)

    def keys(self, model=None):
        """The API key of every request (for `model`, or all), in order."""
        with self._lock:
            return [r["key"] for r in self._requests if model is None or r["model"] == model]

    def last(self, model=None):
        """The last request (for `model`, or any) or None."""
        with self._lock:
            for r in reversed(self._requests):
                if model is None or r["model"] == model:
                    return dict(r)
        return None

    def wait_calls(self, model, n, timeout=10.0):
        """Blocks until at least `n` requests for `model` (None: any) arrived;
        returns True, or False after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while sum(1 for r in self._requests if model is None or r["model"] == model) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def wait_done(self, model=None, timeout=10.0):
        """Blocks until every request (for `model`, or all) has an outcome;
        returns True, or False after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while any(r["outcome"] is None for r in self._requests
                      if model is None or r["model"] == model):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def reset(self):
        """Forgets all scripts and recorded requests."""
        with self._lock:
            self._scripts.clear()
            self._requests = []
