"""Daemons beside the stack's own (a second agentrun-stream or agentrun-api
on its own socket, same database), started and always stopped by the test."""

import contextlib
import os
import signal
import subprocess
import time


@contextlib.contextmanager
def daemon_running(argv, env, sock, log_path, timeout=30):
    """Starts argv (its output appended to log_path), waits until it listens
    on sock, yields the process; SIGTERM (then SIGKILL) at the end."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not os.path.exists(sock):
            assert proc.poll() is None, "%s exited at start (%s)" % (argv[0], log_path)
            assert time.monotonic() < deadline, "%s did not start (%s)" % (argv[0], log_path)
            time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@contextlib.contextmanager
def extra_stream(stack, name, **settings):
    """A second agentrun-stream with its own doorbell (nobody rings it: it
    finds new events by its poll timer) and AGENTRUN_STREAM_* settings.
    Yields (process, socket path, log path)."""
    sock = os.path.join(stack.dir, "run", name + ".sock")
    log_path = os.path.join(stack.dir, "log", name + ".log")
    env = dict(stack.env, AGENTRUN_STREAM_LISTEN=sock,
               AGENTRUN_DOORBELL_STREAM=os.path.join(stack.dir, "run", name + ".bell"))
    env.update({"AGENTRUN_STREAM_" + k.upper(): str(v) for k, v in settings.items()})
    binary = os.path.join(stack.env["AGENTRUN_BUILD_DIR"], "src", "stream", "agentrun-stream")
    with daemon_running([binary, "-c", stack.config], env, sock, log_path, timeout=20) as proc:
        yield proc, sock, log_path
