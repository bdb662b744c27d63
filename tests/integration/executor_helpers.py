"""Shared by the executor tests: agents through the API, bounded waits."""

import time
import uuid

TERMINAL = {"completed", "failed", "timeout", "cancelled", "rejected"}


def new_agent(api, model=None, tools=None, limits=None, retry=None, approval=None,
              system_prompt="be brief", prompt_template=None):
    version = {"model": model or {"provider": "scripted", "name": "echo"},
               "system_prompt": system_prompt, "tools": tools or []}
    if limits:
        version["limits"] = limits
    if retry:
        version["retry"] = retry
    if approval:
        version["approval"] = approval
    if prompt_template:
        version["prompt_template"] = prompt_template
    r = api.post("/api/v1/agents", json={"key": "x-" + uuid.uuid4().hex[:12],
                                         "version": version, "activate": True})
    assert r.status == 201, r
    return r.json()["id"]


def script_agent(api, turns, **kw):
    params = {"turns": turns}
    if "chunk_ms" in kw:
        params["chunk_ms"] = kw.pop("chunk_ms")
    return new_agent(api, model={"provider": "scripted", "name": "script", "params": params},
                     **kw)


def start(api, agent_id, prompt="hello there", **body):
    body = dict(body, agent_id=agent_id, prompt=prompt)
    r = api.post("/api/v1/runs", json=body)
    assert r.status == 201, r
    return r.json()["id"]


def wait_status(api, run_id, statuses, timeout=30.0):
    """Polls the run until its status is in statuses; returns the run."""
    if isinstance(statuses, str):
        statuses = {statuses}
    deadline = time.monotonic() + timeout
    run = None
    while time.monotonic() < deadline:
        r = api.get("/api/v1/runs/" + run_id)
        assert r.status == 200, r
        run = r.json()
        if run["status"] in statuses:
            return run
        if run["status"] in TERMINAL:
            break
        time.sleep(0.05)
    raise AssertionError("run %s is %s, not %s (error %s)" % (
        run_id, run and run["status"], statuses, run and run["error"]))


def events(api, run_id):
    out, after = [], 0
    for _ in range(100):
        r = api.get("/api/v1/runs/%s/events" % run_id, query={"after_seq": after, "limit": 1000})
        assert r.status == 200, r
        page = r.json()
        out.extend(page["data"])
        after = page["last_seq"]
        if not page["has_more"]:
            return out
    raise AssertionError("too many events")


def types(evs):
    return [e["type"] for e in evs]


class ExtraExecutor:
    """Another agentrun-executor on the same database (its own doorbell and
    pid file), for crash, lease and scale-out tests. Always stopped by the
    caller (use it as a context manager)."""

    def __init__(self, stack, name, env=None):
        import os
        import subprocess
        self.stack = stack
        self.name = name
        self.pidfile = os.path.join(stack.dir, "run", name + ".pid")
        self.log = open(os.path.join(stack.dir, "log", name + ".log"), "ab")
        e = dict(stack.env)
        e["AGENTRUN_DOORBELL_EXECUTOR"] = os.path.join(stack.dir, "run", name + ".bell")
        e.update(env or {})
        binary = os.path.join(stack.env["AGENTRUN_BUILD_DIR"], "src", "executor",
                              "agentrun-executor")
        self.proc = subprocess.Popen([binary, "-c", stack.config, "-p", self.pidfile],
                                     env=e, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def kill(self, sig):
        import os
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self, timeout=30):
        import signal
        import subprocess
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
