"""A run streamed by the W3C EventSource client (npm `eventsource`, run by
Node.js): the standard client parses our frames and sees the same events,
in the same order, as the JSON list."""

import json
import os
import subprocess

import pytest

from executor_helpers import events, script_agent, start


def test_eventsource_client_streams_a_run(stack, ws_a):
    es_dir = os.environ.get("AGENTRUN_ES_DIR")
    if not es_dir:
        pytest.skip("run through tests/integration/run, which installs the EventSource client")
    api = ws_a.api()
    agent = script_agent(api, [{"thinking": "t", "content": "alpha beta gamma delta"}],
                         chunk_ms=40)
    run_id = start(api, agent)
    url = "%s/api/v1/runs/%s/events" % (stack.url, run_id)
    p = subprocess.run(["node", os.path.join(es_dir, "client.js"), url, ws_a.admin_key,
                        "30000"], cwd=es_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    got = [json.loads(line) for line in p.stdout.decode().splitlines()]
    listed = events(api, run_id)
    assert [int(e["id"]) for e in got] == [e["seq"] for e in listed]
    assert [e["type"] for e in got] == [e["type"] for e in listed]
    assert got[-1]["type"] == "run.completed"
    text = "".join(e["data"]["data"]["content"] for e in got if e["type"] == "message.delta")
    assert text == "alpha beta gamma delta"


def test_curl_streams_a_run_live(stack, ws_a):
    """curl -N, the everyday SSE client: frames arrive as they are written and
    the stream ends by itself after the run's terminal event."""
    api = ws_a.api()
    agent = script_agent(api, [{"content": "one two three four five six"}], chunk_ms=60)
    run_id = start(api, agent)
    p = subprocess.run(["curl", "-sN", "--max-time", "30", "-H", "Authorization: Bearer " +
                        ws_a.admin_key, "-H", "Accept: text/event-stream",
                        "%s/api/v1/runs/%s/events" % (stack.url, run_id)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    lines = p.stdout.decode().split("\n")
    ids = [int(l[4:]) for l in lines if l.startswith("id: ")]
    datas = [json.loads(l[6:]) for l in lines if l.startswith("data: ")]
    assert ids == [e["seq"] for e in events(api, run_id)]
    assert datas[-1]["type"] == "run.completed"
    deltas = [d for d in datas if d["type"] == "message.delta"]
    assert len(deltas) >= 3, "deltas were coalesced into too few frames to be live"
