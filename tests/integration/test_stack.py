"""scripts/stack status and the daemons' pid files."""

import os

import pytest

COMPONENTS = ("mariadb", "executor", "stream", "api", "nginx")
PATTERN = {"mariadb": "mariadbd", "executor": "agentrun-executor",
           "stream": "agentrun-stream", "api": "agentrun-api", "nginx": "nginx"}


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().replace(b"\0", b" ").decode("utf-8", "replace")


def test_status_lists_every_component(stack):
    p = stack.script_run("status", stack.dir)
    out = p.stdout.decode()
    assert p.returncode == 0, (p.returncode, out, p.stderr.decode())
    lines = {}
    for line in out.splitlines():
        parts = line.split()
        if parts:
            lines[parts[0]] = line
    for c in COMPONENTS:
        assert c in lines, "status does not list %s:\n%s" % (c, out)
        assert "running" in lines[c] and "stopped" not in lines[c], lines[c]
        assert str(stack.read_pid(c)) in lines[c], (c, lines[c])


@pytest.mark.parametrize("name", COMPONENTS)
def test_pid_file_points_to_a_live_process(stack, name):
    pid = stack.read_pid(name)
    assert pid > 1
    assert _alive(pid), "%s pid %d is not running" % (name, pid)
    assert PATTERN[name] in _cmdline(pid), (name, _cmdline(pid))


def test_stack_env_and_config(stack):
    env = stack.stack_env
    assert env["AGENTRUN_URL"] == "http://127.0.0.1:%d" % stack.port
    assert env["AGENTRUN_PORT"] == str(stack.port)
    assert env["AGENTRUN_DB_PORT"] == str(stack.db_port)
    assert env["AGENTRUN_CONFIG"] == os.path.join(stack.dir, "agentrun.conf")
    assert os.path.isfile(env["AGENTRUN_CONFIG"])
    # The config holds the database password: not readable by others.
    assert os.stat(stack.dir).st_mode & 0o077 == 0
    assert os.stat(env["AGENTRUN_CONFIG"]).st_mode & 0o077 == 0


def test_up_again_is_a_no_op(stack):
    pids = {c: stack.read_pid(c) for c in COMPONENTS}
    p = stack.script_run("up", stack.dir)
    assert p.returncode == 0, (p.stdout.decode(), p.stderr.decode())
    assert {c: stack.read_pid(c) for c in COMPONENTS} == pids
