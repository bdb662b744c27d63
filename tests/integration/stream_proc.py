"""A second agentrun-stream beside the stack's, on its own socket and
doorbell (nobody rings it: it finds new events by its poll timer), with
AGENTRUN_STREAM_* settings of the test's choosing."""

import contextlib
import os
import subprocess
import time


@contextlib.contextmanager
def extra_stream(stack, name, **settings):
    """Yields (process, socket path, log path); stops the process at the end."""
    sock = os.path.join(stack.dir, "run", name + ".sock")
    log_path = os.path.join(stack.dir, "log", name + ".log")
    env = dict(stack.env, AGENTRUN_STREAM_LISTEN=sock,
               AGENTRUN_DOORBELL_STREAM=os.path.join(stack.dir, "run", name + ".bell"))
    env.update({"AGENTRUN_STREAM_" + k.upper(): str(v) for k, v in settings.items()})
    binary = os.path.join(stack.env["AGENTRUN_BUILD_DIR"], "src", "stream", "agentrun-stream")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([binary, "-c", stack.config], env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not os.path.exists(sock) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    try:
        yield proc, sock, log_path
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
