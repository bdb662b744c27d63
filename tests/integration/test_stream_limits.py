"""agentrun-stream on its own, without nginx: past stream.max_connections a
clear 503 JSON error; event lists asked without SSE are answered as JSON
(through the API worker); the worker stops cleanly on SIGTERM."""

import json
import os
import signal
import time

import pytest

from executor_helpers import new_agent, start, wait_status
from fcgi_client import open_request, read_response
from extra_daemons import extra_stream


@pytest.fixture
def small_stream(stack):
    with extra_stream(stack, "stream-small", max_connections=3) as (proc, sock, _):
        yield proc, sock


def params(path, key, accept="text/event-stream", method="GET"):
    return {"REQUEST_METHOD": method, "REQUEST_URI": path, "DOCUMENT_URI": path.split("?")[0],
            "QUERY_STRING": path.partition("?")[2], "HTTP_AUTHORIZATION": "Bearer " + key,
            "HTTP_ACCEPT": accept, "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_LENGTH": "0"}


def test_over_max_connections_is_a_clear_503(stack, ws_a, small_stream):
    proc, sock = small_stream
    api = ws_a.api()
    run = wait_status(api, start(api, new_agent(api)), "completed")
    path = "/api/v1/sessions/%s/events?after_seq=999" % run["session_id"]
    held = [open_request(sock, params(path, ws_a.admin_key)) for _ in range(3)]
    time.sleep(0.3)
    extra = open_request(sock, params(path, ws_a.admin_key))
    status, headers, body = read_response(extra)
    assert status == 503, body
    err = json.loads(body)["error"]
    assert err["code"] == "INTERNAL_ERROR" and "max_connections" in err["message"]
    assert headers.get("retry-after") == "1"
    for s in held:
        s.close()
    time.sleep(0.3)
    again = open_request(sock, params(path, ws_a.admin_key))
    again.settimeout(2)
    first = again.recv(65536)
    assert b"text/event-stream" in first
    again.close()


def test_json_event_list_without_sse(stack, ws_a, small_stream):
    proc, sock = small_stream
    api = ws_a.api()
    run = wait_status(api, start(api, new_agent(api)), "completed")
    s = open_request(sock, params("/api/v1/runs/%s/events?limit=2" % run["id"], ws_a.admin_key,
                                  accept="application/json"))
    status, headers, body = read_response(s)
    assert status == 200, body
    page = json.loads(body)
    assert len(page["data"]) == 2 and page["has_more"] is True


def test_sigterm_stops_cleanly(stack, ws_a, small_stream):
    proc, sock = small_stream
    api = ws_a.api()
    run = wait_status(api, start(api, new_agent(api)), "completed")
    held = open_request(sock, params("/api/v1/sessions/%s/events" % run["session_id"],
                                     ws_a.admin_key))
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert not os.path.exists(sock)
    held.close()
