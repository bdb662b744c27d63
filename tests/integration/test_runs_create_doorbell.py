"""A create wakes the executor and the stream worker (their doorbells) before
it answers: once per create with api.threads = 1, once per group commit
with request threads (createnew.c rings after the commit, the handler does
not ring again). Read from an agentrun-api of the test's own, whose
doorbells are datagram sockets the test binds."""

import contextlib
import json
import os
import socket
import threading
import time

import pytest

from extra_daemons import daemon_running
from fcgi_client import api_request
from runs_fixtures import make_agent

pytestmark = pytest.mark.usefixtures("executor_paused")


def bell(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if os.path.exists(path):
        os.unlink(path)
    s.bind(path)
    s.setblocking(False)
    return s


def rings(s):
    """Datagrams waiting on s (read now, without waiting)."""
    n = 0
    while True:
        try:
            s.recv(64)
        except BlockingIOError:
            return n
        n += 1


@contextlib.contextmanager
def api_with_bells(stack, threads):
    """Yields (socket, executor bell, stream bell) of a one-worker agentrun-api."""
    run = os.path.join(stack.dir, "run")
    sock = os.path.join(run, "api-bells-%d.sock" % threads)
    pidfile = os.path.join(run, "api-bells-%d.pid" % threads)
    bells = [bell(os.path.join(run, "test-%s-%d.bell" % (name, threads)))
             for name in ("executor", "stream")]
    env = dict(stack.env, AGENTRUN_API_LISTEN=sock, AGENTRUN_API_WORKERS="1",
               AGENTRUN_API_THREADS=str(threads),
               AGENTRUN_DOORBELL_EXECUTOR=bells[0].getsockname(),
               AGENTRUN_DOORBELL_STREAM=bells[1].getsockname())
    binary = os.path.join(stack.env["AGENTRUN_BUILD_DIR"], "src", "api", "agentrun-api")
    try:
        with daemon_running([binary, "-c", stack.config, "-p", pidfile], env, sock,
                            os.path.join(stack.dir, "log", "api-bells.log")):
            time.sleep(0.3)  # the worker is forked and listening
            yield sock, bells[0], bells[1]
    finally:
        for b in bells:
            path = b.getsockname()
            b.close()
            os.unlink(path)


def create(sock, key, agent_id):
    body = json.dumps({"agent_id": agent_id, "prompt": "ring"}).encode()
    status, _, out = api_request(sock, "POST", "/api/v1/runs", key, body, timeout=60)
    assert status == 201, out[:300]


def test_one_create_per_commit_rings_each_doorbell_once_before_answering(stack):
    tenant = stack.new_tenant("bells1")
    agent_id, _, _ = make_agent(stack, tenant)
    with api_with_bells(stack, 1) as (sock, executor_bell, stream_bell):
        for _ in range(12):
            create(sock, tenant.admin_key, agent_id)
            # Rung before the answer left: the datagrams are already here.
            assert (rings(executor_bell), rings(stream_bell)) == (1, 1)


def test_group_commits_ring_once_per_commit_before_answering(stack):
    tenant = stack.new_tenant("bells16")
    agent_id, _, _ = make_agent(stack, tenant)
    with api_with_bells(stack, 16) as (sock, executor_bell, stream_bell):
        create(sock, tenant.admin_key, agent_id)
        assert (rings(executor_bell), rings(stream_bell)) == (1, 1)
        total, errors = 96, []

        def client(n):
            try:
                for _ in range(n):
                    create(sock, tenant.admin_key, agent_id)
            except AssertionError as e:
                errors.append(e)

        threads = [threading.Thread(target=client, args=(total // 16,)) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors[:2]
        got = (rings(executor_bell), rings(stream_bell))
        # At least one ring, and fewer than creates: creates that shared a
        # commit shared its ring (one per create would be 96).
        assert got[0] == got[1] and 1 <= got[0] < total, got
