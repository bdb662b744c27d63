"""Fixtures for the integration suite.

One private stack (mariadbd, agentrun-api/-stream/-executor, nginx) per
session, started with scripts/stack in a fresh /tmp/ar-XXXX directory on free
loopback ports, and always stopped again (pytest finalizer, atexit and a
SIGTERM handler). Tenants are created through the real CLI (agentrunctl).
"""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import openapi_check
from client import Client

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.abspath(os.environ.get("AGENTRUN_SRCDIR") or os.path.join(HERE, "..", ".."))
BUILD_DIR = os.path.abspath(os.environ.get("AGENTRUN_BUILD_DIR") or SRCDIR)

API_WORKERS = 3
# nginx limit_req per API key (Authorization header value). Ordinary tests use
# a key for at most a few dozen requests a second, and the load tests give each
# thread its own key and pace it well below RATE; the rate-limit test sends up
# to 3000 requests on one key from 32 threads, which overflows the bucket
# (BURST + RATE x elapsed) as soon as it goes faster than ~400 requests/s.
RATE = 300
BURST = 600
# nginx limit_req per client address for requests without a well-formed key
# (none, another scheme, a malformed token): a few parametrised 401 tests
# send a few dozen such requests in a row, the limit test thousands.
UNAUTH_RATE = 50
UNAUTH_BURST = 300

STACK_UP_TIMEOUT = 180
STACK_DOWN_TIMEOUT = 150
CMD_TIMEOUT = 60
LOG_TAIL_LINES = 40

# Filled by the hooks below; printed at the end of the run.
_state = {"failed": False, "logs": ""}


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _clean_env():
    """The caller's environment without any AGENTRUN_* override (a stray
    AGENTRUN_DATABASE_SOCKET would redirect the daemons)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTRUN_")}
    path = env.get("PATH", "/usr/bin:/bin")
    for extra in ("/usr/sbin", "/sbin", "/usr/bin", "/bin"):
        if extra not in path.split(":"):
            path += ":" + extra
    env["PATH"] = path
    return env


class CommandError(AssertionError):
    pass


def _pid_alive(pid):
    """True while pid runs (a zombie, awaiting its parent, counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


class Tenant:
    """A workspace with users and keys made through agentrunctl."""

    def __init__(self, stack, name):
        self.stack = stack
        self.name = name
        self.id = stack.ctl("workspace", "create", name).strip()
        self.admin_user = self.new_user("admin")
        self.admin_key_id, self.admin_key = self.new_key(self.admin_user, "admin", "admin")

    def new_user(self, label):
        self.stack._seq += 1
        email = "%s-%d@%s.example" % (label, self.stack._seq, self.name)
        return self.stack.ctl("user", "create", "--workspace", self.id, "--email", email,
                              "--name", label).strip()

    def new_key(self, user_id=None, role="member", name="test"):
        """Creates a key with the CLI; returns (key_id, secret)."""
        out = self.stack.ctl("key", "create", "--user", user_id or self.admin_user,
                             "--role", role, "--name", name).strip()
        parts = out.split()
        assert len(parts) == 2, "key create printed %r" % out
        return parts[0], parts[1]

    def api(self, key=None, **kw):
        return self.stack.client(key or self.admin_key, **kw)


class Stack:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ar-", dir="/tmp")
        self.port = _free_port()
        self.db_port = _free_port()
        while self.db_port == self.port:
            self.db_port = _free_port()
        self.env = _clean_env()
        self.env.update({
            "AGENTRUN_BUILD_DIR": BUILD_DIR,
            "AGENTRUN_PORT": str(self.port),
            "AGENTRUN_DB_PORT": str(self.db_port),
            "AGENTRUN_API_WORKERS": str(API_WORKERS),
            "AGENTRUN_RATE": str(RATE),
            "AGENTRUN_BURST": str(BURST),
            "AGENTRUN_UNAUTH_RATE": str(UNAUTH_RATE),
            "AGENTRUN_UNAUTH_BURST": str(UNAUTH_BURST),
            # Every test request comes from 127.0.0.1: the API's per-address limit of
            # lookups finding no key is tested on an API of its own (test_auth.py).
            "AGENTRUN_API_UNKNOWN_KEYS_PER_ADDRESS": "0",
            # The fake tool server and provider listen on loopback.
            "AGENTRUN_TOOLS_ALLOW_PRIVATE": "true",
            # Routes name the fake provider's loopback base URL (providers.allow_hosts).
            "AGENTRUN_PROVIDERS_ALLOW_HOSTS": "127.0.0.1",
            # Short leases so lease-expiry tests take seconds, not minutes.
            "AGENTRUN_EXECUTOR_LEASE_S": "4",
            "AGENTRUN_EXECUTOR_POLL_MS": "200",
            # Idle SSE streams get a keep-alive comment this often (contract: 15 s).
            "AGENTRUN_STREAM_KEEPALIVE_S": "2",
        })
        self.script = os.path.join(SRCDIR, "scripts", "stack")
        self.ctl_bin = os.path.join(BUILD_DIR, "src", "ctl", "agentrunctl")
        self.workers = API_WORKERS
        self.rate = RATE
        self.burst = BURST
        self.unauth_rate = UNAUTH_RATE
        self.unauth_burst = UNAUTH_BURST
        self.url = None
        self.config = None
        self.stack_env = {}
        self._seq = 0
        self._lock = threading.Lock()
        self._stopped = False
        self._up_started = False
        self.sanitizer_reports = []

    # --- lifecycle -----------------------------------------------------------

    def up(self):
        self._up_started = True
        try:
            p = subprocess.run([self.script, "up", self.dir], env=self.env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=STACK_UP_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            raise CommandError("scripts/stack up timed out after %ds:\n%s" % (
                STACK_UP_TIMEOUT, (e.output or b"").decode("utf-8", "replace")))
        out = p.stdout.decode("utf-8", "replace")
        if p.returncode != 0:
            raise CommandError("scripts/stack up %s exited %d:\n%s" % (
                self.dir, p.returncode, out))
        env_file = os.path.join(self.dir, "stack.env")
        with open(env_file) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.split("=", 1)
                    self.stack_env[k] = v
        self.url = self.stack_env["AGENTRUN_URL"]
        self.config = self.stack_env["AGENTRUN_CONFIG"]
        return out

    def down(self):
        """Idempotent; safe from a finalizer, atexit and a signal handler."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        ok = True
        if self._up_started:
            try:
                p = subprocess.run([self.script, "down", self.dir], env=self.env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=STACK_DOWN_TIMEOUT)
                if p.returncode != 0:
                    ok = False
                    sys.stderr.write("scripts/stack down exited %d:\n%s\n" % (
                        p.returncode, p.stdout.decode("utf-8", "replace")))
            except (subprocess.TimeoutExpired, OSError) as e:
                ok = False
                sys.stderr.write("scripts/stack down failed: %s\n" % e)
        self.sanitizer_reports = self.scan_sanitizer_reports()
        if _state["failed"] or self.sanitizer_reports:
            _state["logs"] += self.log_tails()
        if ok and not os.environ.get("AGENTRUN_TEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            sys.stderr.write("stack directory kept for inspection: %s\n" % self.dir)

    def scan_sanitizer_reports(self):
        """Lines where ASan, LSan or UBSan reported from any daemon (the
        debug build runs them all under the sanitizers)."""
        found = []
        logdir = os.path.join(self.dir, "log")
        try:
            names = sorted(os.listdir(logdir))
        except OSError:
            return found
        for n in names:
            try:
                with open(os.path.join(logdir, n), "rb") as f:
                    for line in f:
                        text = line.decode("utf-8", "replace")
                        if ("ERROR: AddressSanitizer" in text or "ERROR: LeakSanitizer" in text
                                or "runtime error:" in text):
                            found.append("%s: %s" % (n, text.strip()))
            except OSError:
                continue
        return found

    def log_tails(self, lines=LOG_TAIL_LINES):
        logdir = os.path.join(self.dir, "log")
        out = []
        try:
            names = sorted(n for n in os.listdir(logdir) if n.endswith(".log"))
        except OSError:
            return ""
        for n in names:
            path = os.path.join(logdir, n)
            try:
                with open(path, "rb") as f:
                    f.seek(0, os.SEEK_END)
                    size = f.tell()
                    f.seek(max(0, size - 64 * 1024))
                    tail = f.read().decode("utf-8", "replace").splitlines()[-lines:]
            except OSError:
                continue
            out.append("---- %s (last %d lines) ----\n%s\n" % (path, len(tail), "\n".join(tail)))
        return "".join(out)

    # --- helpers for tests ----------------------------------------------------

    def client(self, key=None, **kw):
        return Client(self.url, key=key, **kw)

    def run(self, argv, check=True, timeout=CMD_TIMEOUT):
        p = subprocess.run(argv, env=self.env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        if check and p.returncode != 0:
            raise CommandError("%s exited %d\nstdout: %s\nstderr: %s" % (
                " ".join(argv), p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace")))
        return p

    def ctl(self, *args, check=True):
        p = self.run([self.ctl_bin, "-c", self.config] + list(args), check=check)
        return p if not check else p.stdout.decode("utf-8")

    def script_run(self, *args, check=False):
        return self.run([self.script] + list(args), check=check)

    def sql(self, query):
        """Runs SQL as the database root (unix-socket auth as the OS user who
        started mariadbd); returns rows as lists of strings."""
        p = self.run(["mariadb", "--no-defaults",
                      "--socket=" + os.path.join(self.dir, "run", "mysqld.sock"),
                      "-uroot", "--batch", "--skip-column-names", "agentrun", "-e", query])
        rows = []
        for line in p.stdout.decode("utf-8").splitlines():
            rows.append(line.split("\t"))
        return rows

    def pidfile(self, name):
        return os.path.join(self.dir, "run", name + ".pid")

    def read_pid(self, name):
        with open(self.pidfile(name)) as f:
            return int(f.read().strip())

    def api_master(self):
        return self.read_pid("api")

    def api_children(self):
        p = subprocess.run(["pgrep", "-P", str(self.api_master())], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=CMD_TIMEOUT)
        return sorted(int(x) for x in p.stdout.split())

    def new_tenant(self, name):
        return Tenant(self, name)

    # --- faults: a component killed, then the stack brought back -----------------

    def crash(self, name, sig=signal.SIGKILL, timeout=30.0):
        """Sends sig to one component ("executor", "mariadb", …, as named by
        scripts/stack) and waits, bounded, until it is gone. A crash, not a
        shutdown: restore() brings the stack back for the tests after."""
        pid = self.read_pid(name)
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid):
            if time.monotonic() > deadline:
                raise CommandError("%s (pid %d) outlived signal %d for %ds" % (
                    name, pid, sig, timeout))
            time.sleep(0.05)

    def restore(self, timeout=STACK_UP_TIMEOUT):
        """scripts/stack up again: it starts whatever is not running (the same
        ports, data directory, secrets and config) and waits for /healthz.
        Then waits, bounded, until the API answers from the database (its
        workers reconnect on their own after a database restart)."""
        out = self.run([self.script, "up", self.dir], timeout=timeout).stdout
        deadline = time.monotonic() + 60
        while True:
            r = None
            try:
                r = self.client().get("/healthz")
            except OSError:
                pass
            if r is not None and r.status == 200:
                return out
            if time.monotonic() > deadline:
                raise CommandError("the stack did not answer /healthz after restore: %r" % r)
            time.sleep(0.2)


_active_stack = None


def _stop_active_stack():
    global _active_stack
    s = _active_stack
    if s is not None:
        s.down()


def _on_sigterm(signum, frame):
    s = _active_stack
    if s is not None:
        with s._lock:
            busy = s._stopped
        if busy:
            return  # a teardown is already running; let it finish
        _state["failed"] = True  # an interrupted run: show the logs
        try:
            s.down()
        finally:
            _uncaptured_write("integration suite: terminated by signal %d; stack %s stopped\n%s"
                              % (signum, s.dir, _state["logs"]))
            os._exit(128 + signum)
    os._exit(128 + signum)


def _uncaptured_write(text):
    """Writes to the real stderr even while pytest captures output."""
    capman = _state.get("capman")
    if capman is not None:
        try:
            capman.suspend_global_capture(in_=False)
        except Exception:
            pass
    sys.stderr.write(text)
    sys.stderr.flush()


@pytest.fixture(scope="session")
def stack(request):
    global _active_stack
    for tool in ("nginx", "mariadbd", "mariadb"):
        if shutil.which(tool, path=_clean_env()["PATH"]) is None:
            pytest.skip("%s is not installed" % tool)
    s = Stack()
    _active_stack = s
    atexit.register(_stop_active_stack)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    def finish():
        s.down()
        reports = getattr(s, "sanitizer_reports", [])
        if reports:
            raise AssertionError("sanitizer reports in the daemons' logs:\n" +
                                 "\n".join(reports[:20]))

    request.addfinalizer(finish)
    try:
        s.up()
    except Exception:
        _state["failed"] = True
        raise
    return s


@pytest.fixture(scope="session")
def ws_a(stack):
    """A workspace with an admin key (admin_key/admin_key_id) and a member key."""
    t = stack.new_tenant("ws-a")
    t.member_user = t.new_user("member")
    t.member_key_id, t.member_key = t.new_key(t.member_user, "member", "member")
    return t


@pytest.fixture(scope="session")
def ws_b(stack):
    """Another workspace with an admin key."""
    return stack.new_tenant("ws-b")


@pytest.fixture
def api(stack):
    """An unauthenticated client."""
    return stack.client()


# --- reporting ------------------------------------------------------------------


def pytest_configure(config):
    _state["capman"] = config.pluginmanager.getplugin("capturemanager")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        _state["failed"] = True


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _state["logs"]:
        terminalreporter.section("stack logs (tails)")
        terminalreporter.write(_state["logs"])
    if openapi_check.available():
        checked, events, violations = openapi_check.summary()
        terminalreporter.write_line(
            "openapi: %d responses and %d SSE events checked against docs/openapi.yaml, "
            "%d violations" % (checked, events, violations))
    else:
        terminalreporter.write_line("openapi: responses NOT checked (python3-jsonschema "
                                    "is missing: scripts/deps installs it)")


def pytest_sessionfinish(session, exitstatus):
    """A violation no test was failed for (a thread that outlived its test)
    still fails the run."""
    if openapi_check.available() and not os.environ.get("AGENTRUN_OPENAPI_LOG"):
        openapi_check.drain()
        if openapi_check.summary()[2] and session.exitstatus == 0:
            session.exitstatus = 1


@pytest.fixture(autouse=True)
def openapi_conformance():
    """Fails the test during which a response that does not conform to
    docs/openapi.yaml was received and not already reported by its own
    AssertionError (a worker thread's response, or one the test caught)."""
    pos = openapi_check.mark()
    yield
    openapi_check.drain()
    missed = openapi_check.unraised_since(pos)
    if missed and not os.environ.get("AGENTRUN_OPENAPI_LOG"):
        pytest.fail("%d response(s) did not conform to docs/openapi.yaml:\n%s" % (
            len(missed), "\n".join("  %s %s -> %s: %s" % (
                v["method"], v["path"], v["status"], "; ".join(v["problems"]))
                for v in missed[:10])), pytrace=False)


@pytest.fixture(scope="session")
def toolserver():
    """The fake HTTP tool server (tests/integration/fakes), on loopback."""
    from fakes.toolserver import ToolServer

    ts = ToolServer()
    ts.start()
    yield ts
    ts.stop()


@pytest.fixture(scope="session")
def provider():
    """The fake OpenAI/Anthropic provider (tests/integration/fakes), on loopback."""
    from fakes.provider import FakeProvider

    fp = FakeProvider()
    fp.start()
    yield fp
    fp.stop()


@pytest.fixture(scope="module")
def executor_paused(stack):
    """For modules that test the API's own state machine on runs they seed or
    create: the executor is stopped (SIGSTOP) so it does not advance those
    runs meanwhile, and continued afterwards. The executor's own behaviour is
    tested with it running (test_executor*.py)."""
    import signal as _signal

    pid = stack.read_pid("executor")
    os.kill(pid, _signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, _signal.SIGCONT)
