"""Tests of the fake servers themselves (fakes/provider.py, fakes/toolserver.py).

No agentrun stack: every test drives a fake over loopback with http.client (or a
raw socket where the HTTP framing itself is under test). Every socket has a
timeout; every server is stopped by its fixture's finalizer.
"""

import http.client
import json
import socket
import time

import pytest

from fakes import FakeProvider as FakeProviderLazy
from fakes.provider import FakeProvider, split_fragments, split_words
from fakes.toolserver import ToolServer

TIMEOUT = 10.0
ANTHROPIC_HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}


# --------------------------------------------------------------------------
# fixtures and helpers

@pytest.fixture
def provider():
    p = FakeProvider()
    p.start()
    try:
        yield p
    finally:
        assert p.stop(timeout=5.0) or True


@pytest.fixture
def tools():
    t = ToolServer()
    t.start()
    try:
        yield t
    finally:
        t.stop(timeout=5.0)


def _conn(server, timeout=TIMEOUT):
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)


def post(server, path, body, headers=None, timeout=TIMEOUT, conn=None):
    """POST JSON; returns (status, headers dict lowercased, body bytes)."""
    own = conn is None
    c = conn or _conn(server, timeout)
    try:
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        c.request("POST", path, body=json.dumps(body).encode(), headers=h)
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        if own:
            c.close()


def sse(server, path, body, headers=None, timeout=TIMEOUT):
    """POST and read an SSE response event by event.

    Returns (status, headers, events) with events as dicts
    {"event": name or None, "data": str, "t": monotonic arrival time}."""
    c = _conn(server, timeout)
    try:
        h = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        h.update(headers or {})
        t0 = time.monotonic()
        c.request("POST", path, body=json.dumps(body).encode(), headers=h)
        r = c.getresponse()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if r.status != 200:
            return r.status, hdrs, [{"event": None, "data": r.read().decode(), "t": t0}]
        events, name, data = [], None, []
        while True:
            line = r.readline()
            if not line:
                break
            line = line.decode("utf-8").rstrip("\r\n")
            if line == "":
                if data or name:
                    events.append({"event": name, "data": "\n".join(data), "t": time.monotonic()})
                name, data = None, []
            elif line.startswith(":"):
                continue
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        return r.status, hdrs, events
    finally:
        c.close()


class RawResponse:
    def __init__(self):
        self.status = None
        self.headers = {}
        self.chunks = []      # (monotonic time, bytes) per HTTP chunk
        self.complete = False  # saw the terminating zero-size chunk
        self.t_first_byte = None


def raw_stream(server, path, body, headers=None, timeout=TIMEOUT):
    """POST over a raw socket and decode the chunked response by hand, keeping
    the HTTP chunk boundaries and their arrival times."""
    s = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    out = RawResponse()
    try:
        payload = json.dumps(body).encode()
        h = {"Host": "127.0.0.1", "Content-Type": "application/json",
             "Content-Length": str(len(payload)), "Connection": "close"}
        h.update(headers or {})
        req = "POST %s HTTP/1.1\r\n" % path + "".join("%s: %s\r\n" % kv for kv in h.items())
        s.sendall(req.encode() + b"\r\n" + payload)
        f = s.makefile("rb")
        status_line = f.readline()
        out.t_first_byte = time.monotonic()
        out.status = int(status_line.split()[1])
        while True:
            line = f.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, v = line.decode().split(":", 1)
            out.headers[k.strip().lower()] = v.strip()
        assert out.headers.get("transfer-encoding") == "chunked"
        while True:
            size_line = f.readline()
            if not size_line:
                break  # connection closed mid-stream
            size = int(size_line.strip(), 16)
            if size == 0:
                f.readline()
                out.complete = True
                break
            data = f.read(size)
            crlf = f.readline()
            if len(data) < size or crlf != b"\r\n":
                break
            out.chunks.append((time.monotonic(), data))
        return out
    finally:
        s.close()


def openai_chunks(events):
    """The JSON chunks of an OpenAI stream; asserts the [DONE] terminator."""
    assert events, "no events"
    assert events[-1]["data"] == "[DONE]"
    chunks = []
    for ev in events[:-1]:
        assert ev["event"] is None
        obj = json.loads(ev["data"])  # every other data line is JSON
        chunks.append(obj)
    assert all(e["data"] != "[DONE]" for e in events[:-1])
    return chunks


def anthropic_events(events):
    out = []
    for ev in events:
        obj = json.loads(ev["data"])
        assert ev["event"] == obj["type"], ev
        out.append(obj)
    return out


def oa_body(model, text="hi", stream=True, usage=True, **kw):
    b = {"model": model, "messages": [{"role": "system", "content": "be brief"},
                                      {"role": "user", "content": text}]}
    if stream:
        b["stream"] = True
        if usage:
            b["stream_options"] = {"include_usage": True}
    b.update(kw)
    return b


def an_body(model, text="hi", stream=True, **kw):
    b = {"model": model, "max_tokens": 256, "system": "be brief",
         "messages": [{"role": "user", "content": text}]}
    if stream:
        b["stream"] = True
    b.update(kw)
    return b


OA = "/v1/chat/completions"
AN = "/v1/messages"
OA_AUTH = {"Authorization": "Bearer sk-route-key"}


# --------------------------------------------------------------------------
# helpers of the fake

def test_split_helpers_roundtrip():
    for text in ["", "one", "Hello there, world!", "  lead and trail  ", "a\nb  c"]:
        assert "".join(split_words(text)) == text
    assert split_words("Hello big world") == ["Hello ", "big ", "world"]
    for s in ["{}", '{"a":1}', '{"city":"Paris","days":[1,2,3]}']:
        frags = split_fragments(s)
        assert len(frags) >= 2 and "".join(frags) == s


def test_lazy_package_exports():
    assert FakeProviderLazy is FakeProvider
    import fakes
    assert fakes.ToolServer is ToolServer


# --------------------------------------------------------------------------
# provider: lifecycle

def test_provider_context_manager_and_bounded_stop():
    with FakeProvider() as p:
        assert p.url == "http://127.0.0.1:%d" % p.port and p.port > 0
        assert p.openai_base_url == p.url + "/v1"
        st, _, _ = post(p, OA, oa_body("m", stream=False))
        assert st == 200
        port = p.port
    # stopped: the port no longer accepts
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_provider_stop_while_streaming_and_idle_keepalive_is_bounded():
    p = FakeProvider().start()
    try:
        p.script("slow", [{"content": " ".join(["w"] * 200), "chunk_delay_ms": 200}])
        idle = _conn(p)
        post(p, OA, oa_body("other", stream=False), conn=idle)  # keep-alive left open
        s = socket.create_connection(("127.0.0.1", p.port), timeout=TIMEOUT)
        payload = json.dumps(oa_body("slow")).encode()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                  % len(payload) + payload)
        assert p.wait_calls("slow", 1, timeout=5)
        t0 = time.monotonic()
        assert p.stop(timeout=5.0) is True
        assert time.monotonic() - t0 < 3.0
        assert p.last("slow")["outcome"] == "aborted"
        s.close()
        idle.close()
    finally:
        p.stop()


# --------------------------------------------------------------------------
# provider: OpenAI Chat Completions

def test_openai_stream_text_thinking_and_usage(provider):
    provider.script("fake-1", [{
        "thinking": "Let me think about it.",
        "content": "Hello there, general Kenobi.",
        "usage": {"prompt_tokens": 120, "cached_tokens": 100, "completion_tokens": 7},
    }])
    st, hdrs, events = sse(provider, OA, oa_body("fake-1"), OA_AUTH)
    assert st == 200
    assert hdrs["content-type"].startswith("text/event-stream")
    assert hdrs["transfer-encoding"] == "chunked"
    chunks = openai_chunks(events)
    for c in chunks:
        assert c["object"] == "chat.completion.chunk" and c["model"] == "fake-1"
        assert c["id"] == chunks[0]["id"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    body_chunks = [c for c in chunks if c["choices"]]
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content", "") for c in body_chunks)
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in body_chunks)
    assert reasoning == "Let me think about it."
    assert content == "Hello there, general Kenobi."
    # content arrives in several word chunks
    assert sum(1 for c in body_chunks if c["choices"][0]["delta"].get("content")) == 4
    # reasoning comes before content
    first_content = next(i for i, c in enumerate(body_chunks)
                         if c["choices"][0]["delta"].get("content"))
    last_reasoning = max(i for i, c in enumerate(body_chunks)
                         if c["choices"][0]["delta"].get("reasoning_content"))
    assert last_reasoning < first_content
    finishes = [c["choices"][0]["finish_reason"] for c in body_chunks]
    assert finishes[-1] == "stop" and all(f is None for f in finishes[:-1])
    # usage: the last chunk before [DONE], with no choices
    last = chunks[-1]
    assert last["choices"] == []
    assert last["usage"] == {"prompt_tokens": 120, "completion_tokens": 7, "total_tokens": 127,
                             "prompt_tokens_details": {"cached_tokens": 100},
                             "completion_tokens_details": {"reasoning_tokens": 0}}
    assert all(c["usage"] is None for c in chunks[:-1])
    # recorded
    rec = provider.last("fake-1")
    assert rec["path"] == OA and rec["api"] == "openai" and rec["stream"] is True
    assert rec["key"] == "sk-route-key"
    assert rec["headers"]["authorization"] == "Bearer sk-route-key"
    assert rec["body"]["messages"][1]["content"] == "hi"
    assert rec["outcome"] == "ok" and rec["status"] == 200 and rec["turn"] == 0


def test_openai_stream_without_include_usage_has_no_usage(provider):
    provider.script("fake-1", [{"content": "ok then"}])
    st, _, events = sse(provider, OA, oa_body("fake-1", usage=False))
    chunks = openai_chunks(events)
    assert st == 200 and all("usage" not in c for c in chunks)
    assert all(c["choices"] for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_openai_stream_tool_call_fragments(provider):
    args = {"city": "Paris", "days": [1, 2, 3], "note": "naïve \"quoted\""}
    provider.script("fake-1", [{"tool_call": {"name": "weather", "arguments": args}}])
    _, _, events = sse(provider, OA, oa_body("fake-1"))
    chunks = openai_chunks(events)
    tc_chunks = [c for c in chunks if c["choices"] and "tool_calls" in c["choices"][0]["delta"]]
    first = tc_chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first["index"] == 0 and first["type"] == "function"
    assert first["id"].startswith("call_") and first["function"]["name"] == "weather"
    frags = [c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
             for c in tc_chunks[1:]]
    assert len([f for f in frags if f]) >= 2
    assert all("id" not in c["choices"][0]["delta"]["tool_calls"][0] for c in tc_chunks[1:])
    assert json.loads(first["function"]["arguments"] + "".join(frags)) == args
    finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finish) == 1 and finish[0]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] >= 1


def test_openai_stream_parallel_tool_calls(provider):
    calls = [{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": {"y": "two"}}]
    provider.script("fake-1", [{"content": "Calling tools.", "tool_calls": calls}])
    _, _, events = sse(provider, OA, oa_body("fake-1"))
    chunks = openai_chunks(events)
    got = {}
    content = ""
    for c in chunks:
        if not c["choices"]:
            continue
        d = c["choices"][0]["delta"]
        content += d.get("content") or ""
        for tc in d.get("tool_calls", []):
            slot = got.setdefault(tc["index"], {"id": None, "name": None, "args": ""})
            if "id" in tc:
                slot["id"] = tc["id"]
                slot["name"] = tc["function"]["name"]
            slot["args"] += tc["function"].get("arguments", "")
    assert content == "Calling tools."
    assert sorted(got) == [0, 1]
    assert got[0]["name"] == "a" and json.loads(got[0]["args"]) == {"x": 1}
    assert got[1]["name"] == "b" and json.loads(got[1]["args"]) == {"y": "two"}
    assert got[0]["id"] != got[1]["id"]


def test_openai_non_stream_completion(provider):
    provider.script("fake-1", [
        {"content": "plain answer", "usage": {"prompt_tokens": 10, "cached_tokens": 4,
                                              "completion_tokens": 2}},
        {"tool_call": {"name": "t", "arguments": {"q": 1}, "id": "call_fixed"}},
    ])
    st, hdrs, data = post(provider, OA, oa_body("fake-1", stream=False))
    assert st == 200 and hdrs["content-type"] == "application/json"
    obj = json.loads(data)
    assert obj["object"] == "chat.completion"
    assert obj["choices"][0]["message"] == {"role": "assistant", "content": "plain answer"}
    assert obj["choices"][0]["finish_reason"] == "stop"
    assert obj["usage"]["prompt_tokens"] == 10
    assert obj["usage"]["prompt_tokens_details"]["cached_tokens"] == 4
    obj = json.loads(post(provider, OA, oa_body("fake-1", stream=False))[2])
    msg = obj["choices"][0]["message"]
    assert msg["content"] is None and obj["choices"][0]["finish_reason"] == "tool_calls"
    assert msg["tool_calls"] == [{"id": "call_fixed", "type": "function",
                                  "function": {"name": "t", "arguments": '{"q":1}'}}]


def test_openai_echo_past_end_and_bare_path(provider):
    # no script: echo the last user message (string or text parts)
    body = oa_body("nosuch", stream=False)
    body["messages"].append({"role": "assistant", "content": "prev"})
    body["messages"].append({"role": "user", "content": [{"type": "text", "text": "echo "},
                                                          {"type": "text", "text": "me"}]})
    obj = json.loads(post(provider, "/chat/completions", body)[2])
    assert obj["choices"][0]["message"]["content"] == "echo me"
    assert provider.last()["turn"] is None and provider.last()["path"] == "/chat/completions"
    # past the end of a script: ""
    provider.script("fake-1", [{"content": "only"}])
    _, _, ev = sse(provider, OA, oa_body("fake-1"))
    _, _, ev2 = sse(provider, OA, oa_body("fake-1"))
    text = lambda evs: "".join((c["choices"][0]["delta"].get("content") or "")
                               for c in openai_chunks(evs) if c["choices"])
    assert text(ev) == "only" and text(ev2) == ""
    assert provider.remaining("fake-1") == 0


def test_default_usage_is_deterministic(provider):
    b = oa_body("nosuch", text="abcd" * 10)
    _, _, e1 = sse(provider, OA, b)
    _, _, e2 = sse(provider, OA, b)
    u1, u2 = openai_chunks(e1)[-1]["usage"], openai_chunks(e2)[-1]["usage"]
    assert u1 == u2
    assert u1["completion_tokens"] == 10  # ceil(40 bytes / 4)
    assert u1["prompt_tokens"] > 10 and u1["prompt_tokens_details"]["cached_tokens"] == 0


def test_scripts_are_per_model_and_fallback(provider):
    provider.script("m1", [{"content": "one-a"}, {"content": "one-b"}])
    provider.script("m2", [{"content": "two-a"}])
    provider.script("*", [{"content": "any"}])
    get = lambda m: json.loads(post(provider, OA, oa_body(m, stream=False))[2])[
        "choices"][0]["message"]["content"]
    assert get("m1") == "one-a"
    assert get("m2") == "two-a"
    assert get("m1") == "one-b"
    assert get("zzz") == "any"
    assert provider.calls("m1") == 2 and provider.calls("m2") == 1 and provider.calls() == 4
    assert [r["model"] for r in provider.requests] == ["m1", "m2", "m1", "zzz"]
    provider.reset()
    assert provider.requests == [] and provider.calls() == 0
    assert get("m1") == "hi"  # scripts forgotten: echo


def test_script_validation(provider):
    with pytest.raises(ValueError):
        provider.script("m", [{"contnet": "typo"}])
    with pytest.raises(ValueError):
        provider.script("m", [{"fail": {"times": 1}}])
    with pytest.raises(TypeError):
        provider.script("m", ["text"])


def test_openai_keys_recorded_and_enforced():
    with FakeProvider(api_keys={"sk-good"}) as p:
        p.script("m", [{"content": "yes"}])
        st, _, data = post(p, OA, oa_body("m", stream=False), {"Authorization": "Bearer sk-bad"})
        err = json.loads(data)["error"]
        assert st == 401 and err["code"] == "invalid_api_key" and "message" in err
        st, _, data = post(p, OA, oa_body("m", stream=False), {"Authorization": "Bearer sk-good"})
        assert st == 200 and json.loads(data)["choices"][0]["message"]["content"] == "yes"
        assert p.keys("m") == ["sk-bad", "sk-good"]
        assert [r["outcome"] for r in p.requests] == ["rejected", "ok"]


def test_openai_scripted_failures_with_retry_after(provider):
    provider.script("fake-1", [
        {"fail": {"status": 429, "times": 2, "retry_after_s": 2}},
        {"fail": {"status": 500, "times": 1, "retry_after_s": 0.5}},
        {"content": "recovered"},
    ])
    for _ in range(2):
        st, hdrs, data = post(provider, OA, oa_body("fake-1"))
        assert st == 429 and hdrs["retry-after"] == "2" and hdrs["retry-after-ms"] == "2000"
        err = json.loads(data)["error"]
        assert err["code"] == "rate_limit_exceeded" and err["message"]
    st, hdrs, data = post(provider, OA, oa_body("fake-1"))
    assert st == 500 and hdrs["retry-after"] == "0.5" and hdrs["retry-after-ms"] == "500"
    assert json.loads(data)["error"]["type"] == "server_error"
    st, _, events = sse(provider, OA, oa_body("fake-1"))
    assert st == 200
    assert "".join(c["choices"][0]["delta"].get("content") or ""
                   for c in openai_chunks(events) if c["choices"]) == "recovered"
    assert [r["turn"] for r in provider.requests] == [0, 0, 1, 2]
    assert [r["outcome"] for r in provider.requests] == ["failed"] * 3 + ["ok"]


def test_fail_400_without_retry_after(provider):
    provider.script("fake-1", [{"fail": {"status": 400}}, {"content": "next"}])
    st, hdrs, data = post(provider, OA, oa_body("fake-1"))
    assert st == 400 and "retry-after" not in hdrs
    assert json.loads(data)["error"]["type"] == "invalid_request_error"
    assert provider.remaining("fake-1") == 1


def test_each_sse_event_is_its_own_http_chunk(provider):
    provider.script("fake-1", [{"content": "a b c", "thinking": "t u",
                                "tool_call": {"name": "x", "arguments": {"k": "v"}}}])
    r = raw_stream(provider, OA, oa_body("fake-1"))
    assert r.status == 200 and r.complete
    for _, data in r.chunks:
        assert data.startswith(b"data: ") and data.endswith(b"\n\n")
        assert data.count(b"\n\n") == 1
    assert r.chunks[-1][1] == b"data: [DONE]\n\n"
    provider.script("fake-2", [{"content": "a b", "thinking": "t"}])
    r = raw_stream(provider, AN, an_body("fake-2"), ANTHROPIC_HEADERS)
    assert r.complete
    for _, data in r.chunks:
        assert data.startswith(b"event: ") and data.count(b"\n\n") == 1


def test_disconnect_after_cuts_the_stream(provider):
    provider.script("fake-1", [{"content": "one two three four five six", "disconnect_after": 3},
                               {"content": "whole"}])
    r = raw_stream(provider, OA, oa_body("fake-1"))
    assert r.status == 200
    assert len(r.chunks) == 3 and not r.complete  # no terminating chunk: a truncated transfer
    assert all(b"[DONE]" not in d for _, d in r.chunks)
    assert provider.wait_done("fake-1", timeout=5)
    rec = provider.last("fake-1")
    assert rec["outcome"] == "disconnected" and rec["events_sent"] == 3
    # http.client sees the truncation as an error
    provider.script("fake-1", [{"content": "one two three", "disconnect_after": 2}])
    c = _conn(provider)
    try:
        c.request("POST", OA, body=json.dumps(oa_body("fake-1")).encode(),
                  headers={"Content-Type": "application/json"})
        resp = c.getresponse()
        with pytest.raises(http.client.IncompleteRead):
            resp.read()
    finally:
        c.close()
    # the script goes on afterwards
    provider.script("fake-1", [{"content": "x", "disconnect_after": 0}, {"content": "whole"}])
    r = raw_stream(provider, OA, oa_body("fake-1"))
    assert r.status == 200 and r.chunks == [] and not r.complete
    r = raw_stream(provider, OA, oa_body("fake-1"))
    assert r.complete


def test_disconnect_after_on_non_stream_request(provider):
    provider.script("fake-1", [{"content": "x", "disconnect_after": 0}, {"content": "y"}])
    c = _conn(provider)
    try:
        c.request("POST", OA, body=json.dumps(oa_body("fake-1", stream=False)).encode(),
                  headers={"Content-Type": "application/json"})
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            c.getresponse()
    finally:
        c.close()
    st, hdrs, data = post(provider, OA, oa_body("fake-1", stream=False))
    assert st == 200 and hdrs["server"] == "fake/1.0"
    assert json.loads(data)["choices"][0]["message"]["content"] == "y"
    assert [r["outcome"] for r in provider.requests] == ["disconnected", "ok"]


def test_chunk_delay_is_applied(provider):
    delay = 0.08
    provider.script("fake-1", [{"content": "a b c d e", "chunk_delay_ms": int(delay * 1000)}])
    r = raw_stream(provider, OA, oa_body("fake-1", usage=False))
    assert r.complete
    times = [t for t, _ in r.chunks]
    n = len(times)  # role + 5 words + finish + [DONE]
    assert n == 8
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= delay * 0.8, gaps
    total = times[-1] - times[0]
    assert (n - 1) * delay * 0.95 <= total < (n - 1) * delay + 2.0


def test_default_chunk_delay_and_hang():
    with FakeProvider(chunk_delay_ms=50) as p:
        p.script("m", [{"content": "a b c", "hang_ms": 300}, {"content": "a b", "chunk_delay_ms": 0}])
        t0 = time.monotonic()
        r = raw_stream(p, OA, oa_body("m", usage=False))
        assert r.t_first_byte - t0 >= 0.28
        gaps = [b - a for (a, _), (b, _) in zip(r.chunks, r.chunks[1:])]
        assert min(gaps) >= 0.04
        t0 = time.monotonic()
        r = raw_stream(p, OA, oa_body("m", usage=False))
        assert r.t_first_byte - t0 < 0.25 and r.chunks[-1][0] - r.chunks[0][0] < 0.25


def test_hang_applies_to_fail_turns(provider):
    provider.script("fake-1", [{"fail": {"status": 503, "hang_ms": 250}}])
    t0 = time.monotonic()
    st, _, _ = post(provider, OA, oa_body("fake-1"))
    assert st == 503 and time.monotonic() - t0 >= 0.23


def test_client_gone_mid_stream_is_recorded(provider):
    provider.script("fake-1", [{"content": " ".join(["w"] * 100), "chunk_delay_ms": 30}])
    s = socket.create_connection(("127.0.0.1", provider.port), timeout=TIMEOUT)
    payload = json.dumps(oa_body("fake-1")).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
              % len(payload) + payload)
    assert s.recv(1024).startswith(b"HTTP/1.1 200")
    s.close()  # a cancel: the client walks away mid-stream
    assert provider.wait_done("fake-1", timeout=8)
    rec = provider.last("fake-1")
    assert rec["outcome"] == "client_gone" and rec["events_sent"] < 100


def test_keepalive_serves_several_requests_on_one_connection(provider):
    provider.script("m", [{"content": "first"}, {"content": "second"}])
    c = _conn(provider)
    try:
        for want in ("first", "second"):
            c.request("POST", OA, body=json.dumps(oa_body("m")).encode(),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            text = r.read().decode()
            assert 'data: [DONE]' in text and want in text
    finally:
        c.close()


def test_unknown_path_bad_json_and_models(provider):
    st, _, data = post(provider, "/v1/nope", {"model": "m"})
    assert st == 404 and "error" in json.loads(data)
    c = _conn(provider)
    try:
        c.request("POST", OA, body=b"{not json", headers={"Content-Type": "application/json"})
        r = c.getresponse()
        assert r.status == 400 and json.loads(r.read())["error"]["message"]
    finally:
        c.close()
    provider.script("m-a", [])
    c = _conn(provider)
    try:
        c.request("GET", "/v1/models")
        r = c.getresponse()
        assert r.status == 200 and [m["id"] for m in json.loads(r.read())["data"]] == ["m-a"]
    finally:
        c.close()


def test_wait_calls_times_out(provider):
    t0 = time.monotonic()
    assert provider.wait_calls("never", 1, timeout=0.2) is False
    assert 0.15 <= time.monotonic() - t0 < 2


# --------------------------------------------------------------------------
# provider: Anthropic Messages

def _blocks(evs):
    """Groups content blocks: index -> {"start": block, "deltas": [...], "stopped"}."""
    blocks = {}
    for e in evs:
        if e["type"] == "content_block_start":
            assert e["index"] not in blocks
            blocks[e["index"]] = {"start": e["content_block"], "deltas": [], "stopped": False}
        elif e["type"] == "content_block_delta":
            assert not blocks[e["index"]]["stopped"]
            blocks[e["index"]]["deltas"].append(e["delta"])
        elif e["type"] == "content_block_stop":
            blocks[e["index"]]["stopped"] = True
    assert all(b["stopped"] for b in blocks.values())
    assert sorted(blocks) == list(range(len(blocks)))
    return blocks


def _check_anthropic_order(evs):
    types = [e["type"] for e in evs]
    assert types[0] == "message_start"
    assert types[-2:] == ["message_delta", "message_stop"]
    assert types.count("message_start") == 1 and types.count("message_delta") == 1
    middle = [t for t in types[1:-2] if t != "ping"]
    assert set(middle) <= {"content_block_start", "content_block_delta", "content_block_stop"}
    # blocks are sequential: start, deltas, stop, next start, ...
    open_idx = None
    for e in evs[1:-2]:
        if e["type"] == "content_block_start":
            assert open_idx is None
            open_idx = e["index"]
        elif e["type"] == "content_block_delta":
            assert e["index"] == open_idx
        elif e["type"] == "content_block_stop":
            assert e["index"] == open_idx
            open_idx = None
    assert open_idx is None


def test_anthropic_stream_thinking_text_usage(provider):
    provider.script("claude-fake", [{
        "thinking": "Hmm, let me see.",
        "content": "The answer is 42.",
        "usage": {"prompt_tokens": 1000, "cached_tokens": 700, "cache_write_tokens": 200,
                  "completion_tokens": 33},
    }])
    st, hdrs, raw = sse(provider, AN, an_body("claude-fake"), ANTHROPIC_HEADERS)
    assert st == 200 and hdrs["content-type"].startswith("text/event-stream")
    evs = anthropic_events(raw)
    _check_anthropic_order(evs)
    assert "ping" in [e["type"] for e in evs]
    msg = evs[0]["message"]
    assert msg["role"] == "assistant" and msg["model"] == "claude-fake" and msg["content"] == []
    assert msg["usage"] == {"input_tokens": 100, "cache_read_input_tokens": 700,
                            "cache_creation_input_tokens": 200, "output_tokens": 1}
    blocks = _blocks(evs)
    assert [b["start"]["type"] for b in blocks.values()] == ["thinking", "text"]
    th = blocks[0]["deltas"]
    assert "".join(d["thinking"] for d in th if d["type"] == "thinking_delta") == "Hmm, let me see."
    assert th[-1]["type"] == "signature_delta" and th[-1]["signature"]
    assert all(d["type"] == "text_delta" for d in blocks[1]["deltas"])
    assert len(blocks[1]["deltas"]) == 4
    assert "".join(d["text"] for d in blocks[1]["deltas"]) == "The answer is 42."
    md = evs[-2]
    assert md["delta"]["stop_reason"] == "end_turn" and md["usage"]["output_tokens"] == 33
    rec = provider.last("claude-fake")
    assert rec["api"] == "anthropic" and rec["key"] == "sk-ant-test"
    assert rec["headers"]["x-api-key"] == "sk-ant-test"
    assert rec["headers"]["anthropic-version"] == "2023-06-01"


def test_anthropic_stream_tool_use(provider):
    args = {"query": "weather in Paris", "units": "metric", "n": [1, 2]}
    provider.script("claude-fake", [{"content": "Let me check.", "tool_calls": [
        {"name": "search", "arguments": args}, {"name": "noargs", "arguments": {}}]}])
    _, _, raw = sse(provider, AN, an_body("claude-fake"), ANTHROPIC_HEADERS)
    evs = anthropic_events(raw)
    _check_anthropic_order(evs)
    blocks = _blocks(evs)
    assert [b["start"]["type"] for b in blocks.values()] == ["text", "tool_use", "tool_use"]
    for i, (name, want) in enumerate([("search", args), ("noargs", {})], start=1):
        b = blocks[i]
        assert b["start"]["name"] == name and b["start"]["id"].startswith("toolu_")
        assert b["start"]["input"] == {}
        parts = [d["partial_json"] for d in b["deltas"]]
        assert all(d["type"] == "input_json_delta" for d in b["deltas"])
        assert len(parts) >= 2
        assert json.loads("".join(parts)) == want
    assert blocks[1]["start"]["id"] != blocks[2]["start"]["id"]
    assert evs[-2]["delta"]["stop_reason"] == "tool_use"


def test_anthropic_tool_only_turn_has_no_text_block(provider):
    provider.script("c", [{"tool_call": {"name": "t", "arguments": {"a": 1}}}])
    evs = anthropic_events(sse(provider, AN, an_body("c"), ANTHROPIC_HEADERS)[2])
    assert [b["start"]["type"] for b in _blocks(evs).values()] == ["tool_use"]


def test_anthropic_non_stream_message(provider):
    provider.script("c", [{"thinking": "hm", "content": "ok",
                           "tool_call": {"name": "t", "arguments": {"a": 1}, "id": "toolu_x"},
                           "usage": {"prompt_tokens": 50, "cached_tokens": 20,
                                     "completion_tokens": 5}}])
    st, _, data = post(provider, AN, an_body("c", stream=False), ANTHROPIC_HEADERS)
    obj = json.loads(data)
    assert st == 200 and obj["type"] == "message" and obj["stop_reason"] == "tool_use"
    assert [b["type"] for b in obj["content"]] == ["thinking", "text", "tool_use"]
    assert obj["content"][2] == {"type": "tool_use", "id": "toolu_x", "name": "t",
                                 "input": {"a": 1}}
    assert obj["usage"] == {"input_tokens": 30, "cache_read_input_tokens": 20,
                            "cache_creation_input_tokens": 0, "output_tokens": 5}


def test_anthropic_required_headers(provider):
    st, _, data = post(provider, AN, an_body("c"), {"anthropic-version": "2023-06-01"})
    err = json.loads(data)
    assert st == 401 and err["type"] == "error" and err["error"]["type"] == "authentication_error"
    st, _, data = post(provider, AN, an_body("c"), {"x-api-key": "k"})
    assert st == 400 and json.loads(data)["error"]["type"] == "invalid_request_error"
    body = an_body("c")
    del body["max_tokens"]
    st, _, _ = post(provider, AN, body, ANTHROPIC_HEADERS)
    assert st == 400
    assert [r["outcome"] for r in provider.requests] == ["rejected"] * 3
    with FakeProvider(strict=False) as lax:
        st, _, data = post(lax, AN, an_body("c", stream=False))
        assert st == 200 and json.loads(data)["content"][0]["text"] == "hi"


def test_anthropic_scripted_failure_format(provider):
    provider.script("c", [{"fail": {"status": 429, "retry_after_s": 1}},
                          {"fail": {"status": 529, "times": 1}},
                          {"fail": {"status": 500}}, {"content": "fine"}])
    st, hdrs, data = post(provider, AN, an_body("c"), ANTHROPIC_HEADERS)
    assert st == 429 and hdrs["retry-after"] == "1"
    assert json.loads(data) == {"type": "error", "error": {"type": "rate_limit_error",
                                                           "message": "scripted failure"}}
    st, _, data = post(provider, AN, an_body("c"), ANTHROPIC_HEADERS)
    assert st == 529 and json.loads(data)["error"]["type"] == "overloaded_error"
    st, _, data = post(provider, AN, an_body("c"), ANTHROPIC_HEADERS)
    assert st == 500 and json.loads(data)["error"]["type"] == "api_error"
    evs = anthropic_events(sse(provider, AN, an_body("c"), ANTHROPIC_HEADERS)[2])
    assert "".join(d["text"] for b in _blocks(evs).values() for d in b["deltas"]) == "fine"


def test_anthropic_echo_with_blocks_and_disconnect(provider):
    body = an_body("nosuch", stream=False)
    body["messages"] = [{"role": "user", "content": [{"type": "text", "text": "block text"}]}]
    obj = json.loads(post(provider, AN, body, ANTHROPIC_HEADERS)[2])
    assert obj["content"] == [{"type": "text", "text": "block text"}]
    provider.script("c", [{"content": "a b c d", "disconnect_after": 4}])
    r = raw_stream(provider, AN, an_body("c"), ANTHROPIC_HEADERS)
    assert len(r.chunks) == 4 and not r.complete
    assert all(b"message_stop" not in d for _, d in r.chunks)


# --------------------------------------------------------------------------
# tool server

def call_tool(ts, name, args, key=None, run_id="run-1", call_id="call-1", timeout=TIMEOUT):
    body = {"run_id": run_id, "call_id": call_id, "name": name, "arguments": args}
    headers = {}
    if key is not None:
        headers["Idempotency-Key"] = key
    return post(ts, "/tools/%s" % name, body, headers, timeout=timeout)


def test_toolserver_default_echo_and_records(tools):
    assert tools.tool_url("echo") == tools.url + "/tools/echo"
    st, hdrs, data = call_tool(tools, "echo", {"a": 1}, key="run-1:call-1")
    assert st == 200 and hdrs["content-type"] == "application/json"
    assert json.loads(data) == {"ok": True, "echo": {"a": 1}}
    (rec,) = tools.requests
    assert rec["key"] == "run-1:call-1" and rec["name"] == "echo"
    assert rec["body"] == {"run_id": "run-1", "call_id": "call-1", "name": "echo",
                           "arguments": {"a": 1}}
    assert rec["headers"]["idempotency-key"] == "run-1:call-1"
    assert rec["status"] == 200 and rec["effect"] is True and rec["time"] > 0
    assert tools.effect_log() == [{"key": "run-1:call-1", "name": "echo", "seq": 1,
                                   "run_id": "run-1", "call_id": "call-1",
                                   "arguments": {"a": 1}, "time": rec["time"]}]


def test_toolserver_idempotency_same_key_one_effect(tools):
    st1, _, d1 = call_tool(tools, "charge", {"amount": 5}, key="r:c1")
    st2, _, d2 = call_tool(tools, "charge", {"amount": 999}, key="r:c1")
    assert st1 == st2 == 200 and d1 == d2  # the stored first response
    assert tools.effects("r:c1") == 1 and tools.deliveries("r:c1") == 2
    call_tool(tools, "charge", {"amount": 7}, key="r:c2")
    assert tools.effect_count() == 2 and tools.deliveries() == 3
    assert tools.keys_seen() == ["r:c1", "r:c2"]
    assert [r["replay"] for r in tools.requests] == [False, True, False]
    assert [e["arguments"] for e in tools.effect_log("charge")] == [{"amount": 5}, {"amount": 7}]


def test_toolserver_without_key_applies_every_time(tools):
    call_tool(tools, "t", {})
    call_tool(tools, "t", {})
    assert tools.effect_count() == 2 and tools.keys_seen() == [] and tools.deliveries() == 2


def test_toolserver_failures_then_success(tools):
    tools.behave("flaky", [{"status": 500, "times": 2}, {"status": 429, "retry_after_s": 3}])
    assert tools.pending("flaky") == 3
    for want in (500, 500):
        st, hdrs, data = call_tool(tools, "flaky", {"x": 1}, key="k")
        assert st == want and "retry-after" not in hdrs and json.loads(data)["status"] == want
    st, hdrs, _ = call_tool(tools, "flaky", {"x": 1}, key="k")
    assert st == 429 and hdrs["retry-after"] == "3"
    assert tools.effect_count() == 0  # failures apply nothing
    st, _, data = call_tool(tools, "flaky", {"x": 1}, key="k")
    assert st == 200 and json.loads(data)["echo"] == {"x": 1}
    assert tools.effects("k") == 1 and tools.deliveries("k") == 4
    assert [r["status"] for r in tools.requests] == [500, 500, 429, 200]


def test_toolserver_404_and_text_body_and_json(tools):
    tools.behave("t", [{"status": 404}, {"body": "plain words", "content_type": "text/plain"},
                       {"json": {"temp": 21}}])
    assert call_tool(tools, "t", {}, key="a")[0] == 404
    st, hdrs, data = call_tool(tools, "t", {}, key="b")
    assert st == 200 and hdrs["content-type"] == "text/plain" and data == b"plain words"
    st, hdrs, data = call_tool(tools, "t", {}, key="c")
    assert json.loads(data) == {"temp": 21}
    # replay of "b" returns the stored text even though the queue is empty now
    assert call_tool(tools, "t", {}, key="b")[2] == b"plain words"


def test_toolserver_size(tools):
    tools.behave("big", [{"size": 3 * 1024 * 1024 + 5}])
    st, hdrs, data = call_tool(tools, "big", {}, key="k")
    assert st == 200 and len(data) == 3 * 1024 * 1024 + 5
    assert hdrs["content-length"] == str(len(data))


def test_toolserver_redirect(tools):
    tools.behave("r", [{"redirect": "http://127.0.0.1:9/elsewhere"}])
    st, hdrs, data = call_tool(tools, "r", {}, key="k")
    assert st == 302 and hdrs["location"] == "http://127.0.0.1:9/elsewhere" and data == b""
    assert tools.effect_count() == 0


def test_toolserver_delay_timeout_then_retry_same_key(tools):
    tools.behave("slow", [{"delay_ms": 1500}])
    t0 = time.monotonic()
    with pytest.raises((socket.timeout, TimeoutError)):
        call_tool(tools, "slow", {"n": 1}, key="r:c", timeout=0.3)
    assert time.monotonic() - t0 < 1.2
    # the slow server applied the effect; the retry gets the stored response fast
    t0 = time.monotonic()
    st, _, data = call_tool(tools, "slow", {"n": 1}, key="r:c")
    assert st == 200 and time.monotonic() - t0 < 1.0
    assert json.loads(data) == {"ok": True, "echo": {"n": 1}}
    assert tools.effects("r:c") == 1 and tools.deliveries("r:c") == 2
    assert tools.wait_deliveries(2, timeout=5)


def test_toolserver_delay_bounds_and_default(tools):
    tools.default("slowish", {"delay_ms": 200})
    for i in range(2):
        t0 = time.monotonic()
        st, _, _ = call_tool(tools, "slowish", {}, key="k%d" % i)
        el = time.monotonic() - t0
        assert st == 200 and 0.18 <= el < 2.0
    tools.default("slowish", None)
    t0 = time.monotonic()
    call_tool(tools, "slowish", {}, key="k9")
    assert time.monotonic() - t0 < 0.18
    assert tools.calls("slowish") == 3


def test_toolserver_bad_requests(tools):
    c = _conn(tools)
    try:
        c.request("GET", "/tools/x")
        r = c.getresponse()
        r.read()
        assert r.status == 405 and r.getheader("Allow") == "POST"
        c.request("POST", "/other", body=b"{}", headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        assert r.status == 404
        c.request("POST", "/tools/x", body=b"nope", headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        assert r.status == 400
    finally:
        c.close()
    assert tools.effect_count() == 0 and tools.deliveries() == 2


def test_toolserver_behaviour_validation_and_reset(tools):
    with pytest.raises(ValueError):
        tools.behave("t", [{"stauts": 500}])
    with pytest.raises(ValueError):
        tools.behave("t", [{"status": 500, "times": 0}])
    tools.behave("t", [{"status": 500}])
    call_tool(tools, "t", {}, key="a")
    tools.reset()
    assert tools.requests == [] and tools.pending("t") == 0
    assert call_tool(tools, "t", {}, key="a")[0] == 200  # stored responses forgotten too
    assert tools.effects("a") == 1


def test_toolserver_stop_is_bounded_during_slow_response():
    ts = ToolServer().start()
    try:
        ts.behave("slow", [{"delay_ms": 30000}])
        s = socket.create_connection(("127.0.0.1", ts.port), timeout=TIMEOUT)
        body = json.dumps({"run_id": "r", "call_id": "c", "name": "slow", "arguments": {}}).encode()
        s.sendall(b"POST /tools/slow HTTP/1.1\r\nHost: x\r\nIdempotency-Key: r:c\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        deadline = time.monotonic() + 5
        while ts.deliveries() < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        t0 = time.monotonic()
        assert ts.stop(timeout=5.0) is True
        assert time.monotonic() - t0 < 3.0
        assert s.recv(100) == b""  # cut without an answer
        s.close()
        assert ts.requests[0]["outcome"] == "aborted"
    finally:
        ts.stop()


def test_toolserver_context_manager():
    with ToolServer() as ts:
        assert ts.running
        assert call_tool(ts, "x", {"v": 1}, key="k")[0] == 200
    assert not ts.running
