"""agentrun-stream's fan-out, read straight from its FastCGI socket: every
listener of a watch gets the very same bytes, whatever its speed, whatever
the size of an event, under its own FastCGI request id (hub.c formats each
event once and hands the same records to every listener; server.c sends
them at once, or queues what a full socket did not take)."""

import json
import os
import struct
import time

import pytest

from executor_helpers import events, script_agent, start, wait_status
from fcgi_client import open_request
from extra_daemons import extra_stream


def io_uring_allowed():
    try:
        with open("/proc/sys/kernel/io_uring_disabled") as f:
            return f.read().strip() == "0"
    except OSError:
        return True  # kernels before 6.6 have no such switch


@pytest.fixture(params=["io_uring", "send"])
def stream_sock(request, stack):
    """The stack's stream worker (stream.io_uring on: sends batched through
    io_uring), and one with stream.io_uring = false (a send() per listener);
    each says in its start line which it uses."""
    if request.param == "io_uring":
        log = os.path.join(stack.dir, "log", "stream.log")
        with open(log) as f:
            started = [line for line in f if "msg=started" in line]
        want = "sends=io_uring" if io_uring_allowed() else "sends=send"
        assert started and want in started[-1], started[-1:]
        yield os.path.join(stack.dir, "run", "stream.sock")
        return
    with extra_stream(stack, "stream-send", io_uring="false") as (_, sock, log):
        yield sock
        with open(log) as f:
            assert "sends=send" in f.read()


def params(path, key):
    return {"REQUEST_METHOD": "GET", "REQUEST_URI": path, "DOCUMENT_URI": path.split("?")[0],
            "QUERY_STRING": path.partition("?")[2], "HTTP_AUTHORIZATION": "Bearer " + key,
            "HTTP_ACCEPT": "text/event-stream", "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_LENGTH": "0"}


def read_records(s, req_id, timeout=60.0):
    """Reads one whole response; checks every record's framing and id.
    Returns (stdout bytes, number of STDOUT records)."""
    s.settimeout(timeout)
    buf, out, nrec, ended = b"", b"", 0, False
    while not ended:
        chunk = s.recv(1 << 20)
        assert chunk, "closed before END_REQUEST"
        buf += chunk
        while len(buf) >= 8:
            ver, rtype, rid, clen, pad = struct.unpack("!BBHHB", buf[:7])
            if len(buf) < 8 + clen + pad:
                break
            assert ver == 1 and rid == req_id, (ver, rid, req_id)
            content, buf = buf[8:8 + clen], buf[8 + clen + pad:]
            if rtype == 6:
                if clen == 0:
                    assert len(buf) >= 8 and buf[1] == 3, "STDOUT ended before the end"
                else:
                    out += content
                    nrec += 1
            elif rtype == 3:
                ended = True
                assert not buf, "bytes after END_REQUEST"
    s.close()
    return out, nrec


def sse_body(out):
    head, sep, body = out.partition(b"\r\n\r\n")
    assert sep and b"text/event-stream" in head, head[:200]
    return body


def sse_ids(body):
    return [int(block.split(b"\n", 1)[0][4:]) for block in body.split(b"\n\n") if block]


def test_slow_fast_and_renumbered_listeners_get_the_same_bytes(stack, ws_a, stream_sock):
    api = ws_a.api()
    # ~600 KB of reply: the deltas, the message and the run's output repeat it,
    # several events are over one FastCGI record (64 KiB), and far more than
    # a unix socket holds waits for the slow listener.
    words = ["w%03d" % i + "x" * 2400 for i in range(250)]
    agent = script_agent(api, [{"content": " ".join(words)}], chunk_ms=4)
    run_id = start(api, agent)
    path = "/api/v1/runs/%s/events" % run_id
    sock = stream_sock
    fast = open_request(sock, params(path, ws_a.admin_key))
    renumbered = open_request(sock, params(path, ws_a.admin_key), req_id=513)
    slow = open_request(sock, params(path, ws_a.admin_key))
    execution = open_request(sock, params("/api/v1/executions/%s/stream" % run_id,
                                          ws_a.admin_key), req_id=7)
    got_fast, nrec = read_records(fast, 1)
    got_renumbered, _ = read_records(renumbered, 513)
    wait_status(api, run_id, "completed", timeout=60)
    time.sleep(0.5)  # the slow listener has not read a byte so far
    got_slow, _ = read_records(slow, 1)
    body = sse_body(got_fast)
    assert sse_body(got_renumbered) == body
    assert sse_body(got_slow) == body
    listed = events(api, run_id)
    assert sse_ids(body) == [e["seq"] for e in listed], "gap or repeat"
    assert len(body) > 1500000 and nrec > len(listed), (len(body), nrec, len(listed))
    last = body.rstrip(b"\n").rsplit(b"\n\n", 1)[-1]
    assert b"event: run.completed\n" in last
    frames, _ = read_records(execution, 7)
    blocks = [b for b in sse_body(frames).split(b"\n\n") if b]
    assert blocks[-1].split(b"\n")[1] == b"event: done"
    content = "".join(json.loads(b.split(b"\ndata: ", 1)[1])["content"] for b in blocks
                      if b.split(b"\n")[1] == b"event: content")
    assert content == " ".join(words)
