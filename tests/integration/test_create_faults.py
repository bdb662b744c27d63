"""Creates under database faults (issue 15, item 4): a create answered 503,
502 or 504 may have been committed. The API answers its own 503 before
nginx gives up (api.db_deadline_s), says when the outcome is unknown, and
docs/operations.md tells clients to retry with the same Idempotency-Key.

An agentrun-api of its own (one worker, a 2 s deadline and io timeout) on
the suite's database, driven over FastCGI as nginx would."""

import json
import os
import signal
import subprocess
import time
import uuid

import pytest

from conftest import BUILD_DIR
from executor_helpers import new_agent
from extra_daemons import daemon_running
from fcgi_client import api_request


@pytest.fixture(scope="module")
def quick_api(stack):
    sock = os.path.join(stack.dir, "run", "api-deadline.sock")
    env = dict(stack.env, AGENTRUN_API_LISTEN=sock, AGENTRUN_API_WORKERS="1",
               AGENTRUN_API_DB_DEADLINE_S="2", AGENTRUN_DATABASE_IO_TIMEOUT_S="2")
    with daemon_running([os.path.join(BUILD_DIR, "src", "api", "agentrun-api"), "-c",
                         stack.config, "-p", os.path.join(stack.dir, "run", "api-deadline.pid")],
                        env, sock, os.path.join(stack.dir, "log", "api-deadline.log")):
        yield sock


def _post(sock, key, uri, body, idem=None, timeout=30):
    # fcgi_client sends no Idempotency-Key header; add it as nginx would.
    from fcgi_client import open_request, read_response
    params = {"REQUEST_METHOD": "POST", "REQUEST_URI": uri, "DOCUMENT_URI": uri,
              "QUERY_STRING": "", "HTTP_AUTHORIZATION": "Bearer " + key,
              "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
              "REMOTE_ADDR": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1"}
    if idem is not None:
        params["HTTP_IDEMPOTENCY_KEY"] = idem
    t0 = time.monotonic()
    status, headers, payload = read_response(open_request(sock, params, body, timeout=timeout))
    return status, payload, time.monotonic() - t0


def _runs_of(api, agent):
    r = api.get("/api/v1/runs", query={"agent_id": agent, "limit": 100})
    assert r.status == 200, r
    return r.json()["data"] if isinstance(r.json(), dict) else r.json()


def _wait_stopped(pid):
    """SIGSTOP is asynchronous: wait until every thread of pid is stopped."""
    deadline = time.monotonic() + 5
    while True:
        states = []
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
        if all(st == "T" for st in states):
            return
        assert time.monotonic() < deadline, states
        time.sleep(0.02)


def _hold_global_read_lock(stack, seconds):
    return subprocess.Popen(
        ["mariadb", "--no-defaults", "--socket=" + os.path.join(stack.dir, "run", "mysqld.sock"),
         "-uroot", "-e", "FLUSH TABLES WITH READ LOCK; SELECT SLEEP(%d)" % seconds],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.parametrize("idem", [False, True], ids=["new-session", "idempotency-key"])
def test_create_behind_a_write_lock_answers_our_503_in_time(stack, ws_a, quick_api, idem):
    """During a 70 s write lock nginx answered 504 after 60 s and the
    create committed when the lock went. Now the create's database work
    ends at api.db_deadline_s (server-side max_statement_time interrupts
    the lock wait): 503 of our own, and nothing is written."""
    api = ws_a.api()
    agent = new_agent(api)
    body = json.dumps({"agent_id": agent, "prompt": "hi"}).encode()
    key = "k-" + uuid.uuid4().hex if idem else None
    status, payload, _ = _post(quick_api, ws_a.admin_key, "/api/v1/runs", body, idem=key)
    assert status == 201, payload  # warm: connection, key cache, agent cache
    before = len(_runs_of(api, agent))
    holder = _hold_global_read_lock(stack, 8)
    try:
        time.sleep(0.5)
        status, payload, took = _post(quick_api, ws_a.admin_key, "/api/v1/runs", body,
                                      idem=("k-" + uuid.uuid4().hex) if idem else None)
    finally:
        holder.wait(30)
    assert status == 503, (status, payload, took)
    assert took < 5.0, took
    err = json.loads(payload)["error"]
    assert err["code"] == "INTERNAL_ERROR"
    assert "did not answer in time" in err["message"], err
    assert len(_runs_of(api, agent)) == before


def test_create_whose_answer_is_lost_says_the_outcome_is_unknown(stack, ws_a, quick_api):
    """mariadbd frozen after the create was sent: the API cannot know if it
    committed (it often did, once the server woke). The 503 says so and
    tells the client to retry with the same Idempotency-Key."""
    api = ws_a.api()
    agent = new_agent(api)
    body = json.dumps({"agent_id": agent, "prompt": "hi"}).encode()
    status, payload, _ = _post(quick_api, ws_a.admin_key, "/api/v1/runs", body)
    assert status == 201, payload
    pid = stack.read_pid("mariadb")
    os.kill(pid, signal.SIGSTOP)
    try:
        _wait_stopped(pid)
        status, payload, took = _post(quick_api, ws_a.admin_key, "/api/v1/runs", body)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert status == 503, (status, payload, took)
    assert took < 8.0, took
    err = json.loads(payload)["error"]
    assert err["details"] == {"outcome": "unknown"}, err
    assert "outcome is unknown" in err["message"] and "Idempotency-Key" in err["message"], err
    # The stack recovers.
    deadline = time.monotonic() + 20
    while api.get("/healthz").status != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_readme_examples_send_an_idempotency_key():
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")) as f:
        readme = f.read()
    quick = readme.split("## Quick start", 1)[1].split("## Building by hand", 1)[0]
    commands = quick.replace("\\\n", " ").splitlines()
    posts = [c for c in commands if "curl" in c and " -d " in c]
    assert len(posts) >= 2, quick
    for c in posts:
        assert "Idempotency-Key" in c, c
