"""Machinery shared by the benchmarks (tests/bench/bench.py): the release
build, private stacks, the database's counters, process sampling, wrk, the
C helpers and the result tables. Standard library only (/usr/bin/python3).

Every process started here is recorded and stopped by Stack.down() (also on
SIGINT/SIGTERM: bench.py turns both into an exception so the finally blocks
run); scripts/bench adds a shell trap on top as the last line of defence.
"""

import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.environ.get("AGENTRUN_SRCDIR") or os.path.join(HERE, "..", ".."))
STACK = os.path.join(REPO, "scripts", "stack")
OS_USER = None
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

STACK_UP_TIMEOUT = 180
STACK_DOWN_TIMEOUT = 150
CMD_TIMEOUT = 120
TERMINAL = ("completed", "failed", "timeout", "cancelled", "rejected")


class BenchError(Exception):
    """The benchmark could not run (as opposed to: it ran and was slow)."""


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


def os_user():
    global OS_USER
    if OS_USER is None:
        import pwd
        OS_USER = pwd.getpwuid(os.getuid()).pw_name
    return OS_USER


def nproc():
    return len(os.sched_getaffinity(0))


def free_port(avoid=()):
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in avoid:
            return port
    raise BenchError("no free port")


def clean_env():
    """The caller's environment without AGENTRUN_* (a stray override would
    redirect the daemons), with sbin on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTRUN_")}
    path = env.get("PATH", "/usr/bin:/bin")
    for extra in ("/usr/sbin", "/sbin", "/usr/bin", "/bin"):
        if extra not in path.split(":"):
            path += ":" + extra
    env["PATH"] = path
    return env


def run(argv, env=None, timeout=CMD_TIMEOUT, check=True, cwd=None, stdout=None):
    try:
        p = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                           stdout=stdout if stdout is not None else subprocess.PIPE,
                           stderr=subprocess.STDOUT if stdout is None else subprocess.STDOUT,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise BenchError("%s timed out after %ss" % (" ".join(argv[:3]), timeout)) from e
    out = p.stdout.decode("utf-8", "replace") if p.stdout is not None else ""
    if check and p.returncode != 0:
        raise BenchError("%s exited %d:\n%s" % (" ".join(argv), p.returncode, out[-4000:]))
    return out


def raise_nofile(n):
    """Raises this process's descriptor limit (children inherit it). Root may
    raise the hard limit too; others get what the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, n)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- the release build ----------------------------------------------------------

PROGRAMS = ("src/api/agentrun-api", "src/stream/agentrun-stream",
            "src/executor/agentrun-executor", "src/ctl/agentrunctl")
GENERATED = ("configure", "Makefile.in", "aclocal.m4", "config.h.in")
GENERATED_DIRS = ("build-aux", "m4")


def _snapshot_files():
    try:
        out = subprocess.run(["git", "-C", REPO, "ls-files", "-co", "--exclude-standard", "-z"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=60,
                             check=True).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise BenchError("cannot list the sources with git (needed to snapshot an "
                         "in-tree-configured checkout): %s" % e)
    files = [f for f in out.decode("utf-8", "replace").split("\0") if f]
    files += [f for f in GENERATED if os.path.isfile(os.path.join(REPO, f))]
    for d in GENERATED_DIRS:
        for root, _, names in os.walk(os.path.join(REPO, d)):
            for n in names:
                files.append(os.path.relpath(os.path.join(root, n), REPO))
    return sorted(set(f for f in files if not f.startswith(("var/", ".git/"))))


def snapshot_sources(dst):
    """Copies the sources (tracked and untracked-but-not-ignored files, plus
    the autotools output) to dst, touching only files that changed, so make
    in the build directory stays incremental."""
    copied = 0
    for rel in _snapshot_files():
        src = os.path.join(REPO, rel)
        if not os.path.isfile(src):
            continue
        out = os.path.join(dst, rel)
        try:
            st = os.stat(src)
            ot = os.stat(out)
            if ot.st_size == st.st_size and int(ot.st_mtime) == int(st.st_mtime):
                continue
        except FileNotFoundError:
            pass
        os.makedirs(os.path.dirname(out), exist_ok=True)
        shutil.copy2(src, out)
        copied += 1
    return copied


def build_release(work):
    """Configures (once) and makes the release build in WORK/build
    (CFLAGS="-O2 -g", no sanitizers). autoconf refuses an out-of-tree build
    from a source directory that is itself configured (the sanitizer build
    of scripts/test lives in the repo root), so in that case the sources are
    snapshotted to WORK/src first and configured from there."""
    build = os.path.join(work, "build")
    log_path = os.path.join(work, "build.log")
    os.makedirs(build, exist_ok=True)
    if os.path.exists(os.path.join(REPO, "config.status")):
        srcdir = os.path.join(work, "src")
        n = snapshot_sources(srcdir)
        log("sources snapshotted to %s (%d files changed)" % (srcdir, n))
    else:
        srcdir = REPO
    if not os.path.isfile(os.path.join(srcdir, "configure")):
        log("running autoreconf -fi in %s" % srcdir)
        run(["autoreconf", "-fi"], cwd=srcdir, timeout=300)
    marker = os.path.join(build, ".bench-srcdir")
    try:
        with open(marker) as f:
            if f.read().strip() != srcdir:
                shutil.rmtree(build)
                os.makedirs(build)
    except FileNotFoundError:
        pass
    with open(log_path, "ab") as lf:
        if not os.path.isfile(os.path.join(build, "Makefile")):
            log("configuring the release build in %s (CFLAGS=-O2 -g)" % build)
            p = subprocess.run([os.path.relpath(os.path.join(srcdir, "configure"), build),
                                "CFLAGS=-O2 -g"], cwd=build, stdin=subprocess.DEVNULL,
                               stdout=lf, stderr=subprocess.STDOUT, timeout=300)
            if p.returncode != 0:
                raise BenchError("configure failed; see %s" % log_path)
            with open(marker, "w") as f:
                f.write(srcdir + "\n")
        log("make -j%d (release build)" % nproc())
        p = subprocess.run(["make", "-j%d" % nproc()] + list(PROGRAMS), cwd=build,
                           stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                           timeout=900)
        if p.returncode != 0:
            raise BenchError("make failed; see %s" % log_path)
    return build


def build_is_sanitized(build):
    """True when the binaries in build link AddressSanitizer (the test build)."""
    try:
        out = run(["ldd", os.path.join(build, "src/api/agentrun-api")], check=False)
    except BenchError:
        return False
    return "libasan" in out


def compile_tool(name, out_dir, extra_libs=()):
    """Compiles tests/bench/NAME.c into out_dir (once per source change)."""
    src = os.path.join(HERE, name + ".c")
    out = os.path.join(out_dir, name)
    os.makedirs(out_dir, exist_ok=True)
    if os.path.exists(out) and os.stat(out).st_mtime >= os.stat(src).st_mtime:
        return out
    cflags = run(["mariadb_config", "--cflags"]).split() if "mariadb" in extra_libs else []
    libs = []
    for lib in extra_libs:
        if lib == "mariadb":
            libs += run(["mariadb_config", "--libs"]).split()
        else:
            libs.append("-l" + lib)
    run(["cc", "-std=c11", "-D_GNU_SOURCE", "-O2", "-g", "-Wall", "-Wextra", "-o", out + ".tmp",
         src] + cflags + libs, timeout=120)
    os.replace(out + ".tmp", out)
    return out


# --- processes --------------------------------------------------------------------


def proc_status(pid):
    """VmRSS / VmHWM of pid in KiB ({} when it is gone)."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return out


def rss_kb(pid):
    return proc_status(pid).get("VmRSS", 0)


def cpu_s(pid):
    """utime + stime of pid in seconds (0 when gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


class Sampler:
    """Samples VmRSS of named pids every `every` seconds in a thread and keeps
    the peak of each (groups: a name may map to several pids; the peak of a
    group is the peak of its largest member and of its sum)."""

    def __init__(self, groups, every=0.2):
        self.groups = groups  # name -> [pids]
        self.every = every
        self.peak = {n: 0 for n in groups}
        self.peak_sum = {n: 0 for n in groups}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            for n, pids in self.groups.items():
                vals = [rss_kb(p) for p in pids]
                if vals:
                    self.peak[n] = max(self.peak[n], max(vals))
                    self.peak_sum[n] = max(self.peak_sum[n], sum(vals))
            self._stop.wait(self.every)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(10)


# --- HTTP ---------------------------------------------------------------------------


class Http:
    """One keep-alive connection to nginx (use one per thread)."""

    def __init__(self, port, key=None, timeout=60):
        self.port = port
        self.key = key
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        h = {"Host": "127.0.0.1"}
        if self.key:
            h["Authorization"] = "Bearer " + self.key
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=h)
                r = self.conn.getresponse()
                raw = r.read()
                status = r.status
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        try:
            doc = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            doc = raw.decode("utf-8", "replace")
        return status, doc

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# --- a private stack ------------------------------------------------------------------


class Stack:
    """A private stack under WORK/NAME (scripts/stack), on free ports, with
    the binaries of `build`. Everything it starts is stopped by down()."""

    def __init__(self, name, work, build, workers, env=None):
        self.name = name
        self.dir = os.path.join(work, name)
        self.build = build
        self.workers = workers
        self.port = free_port()
        self.db_port = free_port(avoid=(self.port,))
        self.env = clean_env()
        self.env.update({
            "AGENTRUN_BUILD_DIR": build,
            "AGENTRUN_PORT": str(self.port),
            "AGENTRUN_DB_PORT": str(self.db_port),
            "AGENTRUN_API_WORKERS": str(workers),
            # nginx's per-key limit out of the way: one key drives all the load.
            "AGENTRUN_RATE": "1000000",
            "AGENTRUN_BURST": "1000000",
            # The stream worker's caps out of the way too: one key holds every listener.
            "AGENTRUN_STREAM_MAX_STREAMS_PER_KEY": "1000000",
            "AGENTRUN_STREAM_MAX_STREAMS_PER_WORKSPACE": "1000000",
        })
        if os.environ.get("BENCH_STREAM_IO_URING"):
            # stream.io_uring: compare the stream worker's batched sends with send().
            self.env["AGENTRUN_STREAM_IO_URING"] = os.environ["BENCH_STREAM_IO_URING"]
        self.env.update(env or {})
        self.procs = []  # (label, Popen) we started
        self.up_started = False
        self.ctl_bin = os.path.join(build, "src", "ctl", "agentrunctl")
        self.run_dir = os.path.join(self.dir, "run")
        self.log_dir = os.path.join(self.dir, "log")
        self.sock = os.path.join(self.run_dir, "mysqld.sock")
        self.config = os.path.join(self.dir, "agentrun.conf")

    # lifecycle
    def up(self):
        if os.path.isdir(os.path.join(self.dir, "run")):
            run([STACK, "down", self.dir], env=self.env, check=False, timeout=STACK_DOWN_TIMEOUT)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.up_started = True
        log("%s: stack up in %s (nginx 127.0.0.1:%d, build %s)" % (
            self.name, self.dir, self.port, self.build))
        run([STACK, "up", self.dir], env=self.env, timeout=STACK_UP_TIMEOUT)
        self.url = "http://127.0.0.1:%d" % self.port

    def down(self, keep=False):
        for label, p in reversed(self.procs):
            stop_popen(p, label)
        self.procs = []
        if self.up_started:
            self.up_started = False
            try:
                run([STACK, "down", self.dir], env=self.env, timeout=STACK_DOWN_TIMEOUT)
            except BenchError as e:
                log("%s: stack down: %s" % (self.name, e))
            if not keep:
                # The database files are large; logs are kept for a look.
                shutil.rmtree(os.path.join(self.dir, "mysql"), ignore_errors=True)

    def spawn(self, label, argv, env=None, stdout=None, log_name=None):
        """Starts a helper process that down() will stop."""
        lf = open(os.path.join(self.log_dir, (log_name or label) + ".log"), "ab")
        e = dict(self.env)
        e.update(env or {})
        try:
            p = subprocess.Popen(argv, env=e, stdin=subprocess.DEVNULL,
                                 stdout=stdout if stdout is not None else lf, stderr=lf,
                                 start_new_session=True)
        finally:
            lf.close()
        self.procs.append((label, p))
        with open(os.path.join(self.run_dir, "bench-%s.pid" % label), "w") as f:
            f.write("%d\n" % p.pid)
        return p

    # processes of the stack
    def pid(self, name):
        try:
            with open(os.path.join(self.run_dir, name + ".pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def api_children(self):
        m = self.pid("api")
        return children(m) if m else []

    def nginx_workers(self):
        m = self.pid("nginx")
        return children(m) if m else []

    def process_groups(self):
        g = {
            "nginx master": [self.pid("nginx")],
            "nginx workers": self.nginx_workers(),
            "api master": [self.pid("api")],
            "api workers": self.api_children(),
            "stream": [self.pid("stream")],
            "executor": [self.pid("executor")],
            "mariadbd": [self.pid("mariadb")],
        }
        return {k: [p for p in v if p] for k, v in g.items()}

    def stop_executor(self):
        pid = self.pid("executor")
        if pid is None or not pid_alive(pid):
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while pid_alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        # The stack's setsid wrapper reaps it; the pid file goes with a clean exit.

    def start_executor(self, env=None):
        """One agentrun-executor under the stack's pid file (so scripts/stack
        down stops it too), with extra AGENTRUN_EXECUTOR_* settings."""
        self.stop_executor()
        pidfile = os.path.join(self.run_dir, "executor.pid")
        bell = os.path.join(self.run_dir, "executor.bell")
        for f in (pidfile, bell):
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass
        binary = os.path.join(self.build, "src", "executor", "agentrun-executor")
        p = self.spawn("executor", [binary, "-c", self.config, "-p", pidfile], env=env,
                       log_name="executor")
        deadline = time.monotonic() + 30
        while not os.path.exists(bell):
            if p.poll() is not None or time.monotonic() > deadline:
                raise BenchError("the executor did not start (see %s/executor.log)" %
                                 self.log_dir)
            time.sleep(0.02)
        return p

    # the database
    def sql(self, query, db="agentrun", timeout=CMD_TIMEOUT):
        out = run(["mariadb", "--no-defaults", "--socket=" + self.sock, "-u" + os_user(),
                   "--batch", "--skip-column-names", db, "-e", query], timeout=timeout)
        return [line.split("\t") for line in out.splitlines()]

    def sql_script(self, script, db="agentrun", timeout=600):
        p = subprocess.run(["mariadb", "--no-defaults", "--socket=" + self.sock, "-u" + os_user(),
                            "--batch", "--skip-column-names", db], input=script.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        if p.returncode != 0:
            raise BenchError("SQL script failed: %s" % p.stdout.decode("utf-8", "replace")[-2000:])
        return p.stdout.decode()

    def slowlog(self, on, path=None):
        """Every statement into the slow log (long_query_time = 0), or off.
        Takes effect for connections opened afterwards."""
        if on:
            self.sql("SET GLOBAL slow_query_log_file = '%s'; SET GLOBAL long_query_time = 0;"
                     " SET GLOBAL slow_query_log = 1" % path)
        else:
            self.sql("SET GLOBAL slow_query_log = 0; SET GLOBAL long_query_time = 10")

    def reload_api(self, timeout=30):
        """SIGHUP: a new generation of API workers (new database connections)."""
        old = set(self.api_children())
        os.kill(self.pid("api"), signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = set(self.api_children())
            if len(now) >= self.workers and not (now & old):
                time.sleep(0.5)
                return
            time.sleep(0.1)
        raise BenchError("the API did not reload")

    def status(self):
        return {r[0]: r[1] for r in self.sql("SHOW GLOBAL STATUS") if len(r) == 2}

    def scalar(self, query):
        rows = self.sql(query)
        return rows[0][0] if rows and rows[0] else None

    # tenants
    def ctl(self, *args):
        return run([self.ctl_bin, "-c", self.config] + list(args), env=self.env).strip()

    def tenant(self, name="bench"):
        ws = self.ctl("workspace", "create", name).split()[-1]
        user = self.ctl("user", "create", "--workspace", ws, "--email",
                        "%s@bench.example" % name, "--name", name).split()[-1]
        kid, secret = self.ctl("key", "create", "--user", user, "--role", "admin",
                               "--name", name).split()[-2:]
        return ws, secret

    # nginx
    def render_nginx(self, extra_http="", worker_connections=None, rlimit_nofile=None):
        """Rewrites the stack's rendered nginx.conf for the benchmark (an
        extra include in http{}, more connections per worker) and reloads
        nginx; scripts/stack down still stops it (same pid file)."""
        ngx = os.path.join(self.dir, "nginx")
        conf = os.path.join(ngx, "nginx.conf")
        with open(conf) as f:
            text = f.read()
        if worker_connections:
            text = re.sub(r"worker_connections\s+\d+;", "worker_connections %d;" %
                          worker_connections, text)
        if os.environ.get("BENCH_NGINX_WORKERS"):
            text = re.sub(r"worker_processes\s+\w+;", "worker_processes %d;" %
                          int(os.environ["BENCH_NGINX_WORKERS"]), text)
        if rlimit_nofile:
            text = re.sub(r"worker_rlimit_nofile\s+\d+;", "worker_rlimit_nofile %d;" %
                          rlimit_nofile, text)
        if extra_http:
            extra = os.path.join(ngx, "bench-extra.conf")
            with open(extra, "w") as f:
                f.write(extra_http)
            if "bench-extra.conf" not in text:
                text = re.sub(r"(\n\s*include\s+[^;]*agentrun\.conf;)",
                              r"\1\n    include %s;" % extra, text, count=1)
        with open(conf, "w") as f:
            f.write(text)
        base = ["nginx", "-q", "-p", ngx, "-c", conf, "-e", os.path.join(self.log_dir,
                                                                         "nginx-error.log")]
        run(base + ["-t"], env=self.env)
        old = set(self.nginx_workers())
        run(base + ["-s", "reload"], env=self.env)
        # Reload is asynchronous: wait until the old workers are replaced.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = set(self.nginx_workers())
            if now and not (now & old):
                return
            time.sleep(0.1)
        raise BenchError("nginx did not reload")

    def fastcgi_params(self):
        """The fastcgi_param lines of the rendered agentrun.conf (the baseline
        location gets the very same set)."""
        with open(os.path.join(self.dir, "nginx", "agentrun.conf")) as f:
            return [l.strip() for l in f if l.strip().startswith("fastcgi_param")]


def stop_popen(p, label="", timeout=20):
    if p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except OSError:
        try:
            p.terminate()
        except OSError:
            return
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        log("%s (pid %d) ignored SIGTERM; killing it" % (label, p.pid))
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            p.kill()
        p.wait(10)


# --- wrk ---------------------------------------------------------------------------------


def wrk(url, script, env, duration, connections=64, threads=None, timeout_s=10):
    """Runs wrk with a Lua script whose done() prints a BENCHJSON line."""
    threads = threads or min(connections, max(1, nproc()))
    e = clean_env()
    e.update(env)
    argv = ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % max(1, int(duration)),
            "--timeout", "%ds" % timeout_s, "--latency", "-s", script, url]
    out = run(argv, env=e, timeout=duration + 60)
    m = re.search(r"^BENCHJSON (\{.*\})$", out, re.M)
    if not m:
        raise BenchError("wrk printed no result:\n%s" % out[-2000:])
    r = json.loads(m.group(1))
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0
    r["non2xx"] = r["status_errors"]
    r["socket_errors"] = (r["connect_errors"] + r["read_errors"] + r["write_errors"] +
                          r["timeouts"])
    return r


# --- parallel API calls --------------------------------------------------------------------


def parallel_posts(port, key, path, bodies, threads=16, timeout=600):
    """POSTs every body (a list) with `threads` keep-alive connections;
    returns the JSON answers in order. Raises when any answer is not 201."""
    results = [None] * len(bodies)
    errors = []
    lock = threading.Lock()
    nxt = [0]
    deadline = time.monotonic() + timeout

    def worker():
        h = Http(port, key)
        try:
            while not errors and time.monotonic() < deadline:
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= len(bodies):
                    return
                status, doc = h.request("POST", path, bodies[i])
                if status != 201:
                    errors.append("%s %s -> %s %r" % ("POST", path, status, doc))
                    return
                results[i] = doc
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))
        finally:
            h.close()

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(max(1, deadline - time.monotonic()))
    if errors:
        raise BenchError("creating runs failed: %s" % errors[0])
    if any(r is None for r in results):
        raise BenchError("creating runs did not finish within %ds" % timeout)
    return results


# --- results ---------------------------------------------------------------------------------


def fmt(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, float):
        if abs(v) >= 100:
            s = "{:,.0f}".format(v)
        elif abs(v) >= 10:
            s = "%.1f" % v
        else:
            s = "%.2f" % v
    elif isinstance(v, int):
        s = "{:,}".format(v)
    else:
        s = str(v)
    return s + (" " + unit if unit else "")


class Table:
    """Rows of (figure, value, target, verdict), printed aligned."""

    def __init__(self, title):
        self.title = title
        self.rows = []
        self.notes = []

    def add(self, figure, value, target="", verdict=""):
        self.rows.append((figure, value, target, verdict))

    def note(self, text):
        self.notes.append(text)

    def render(self):
        head = ("figure", "value", "target", "verdict")
        rows = [head] + [tuple(str(c) for c in r) for r in self.rows]
        w = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["", "== %s ==" % self.title]
        for i, r in enumerate(rows):
            lines.append("  ".join(r[k].ljust(w[k]) for k in range(4)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w[k] for k in range(4)))
        for n in self.notes:
            lines.append("note: " + n)
        return "\n".join(lines) + "\n"

    def markdown(self):
        lines = ["| figure | value | target | verdict |", "|---|---|---|---|"]
        for r in self.rows:
            lines.append("| %s |" % " | ".join(str(c).replace("|", "/") for c in r))
        return "\n".join(lines) + "\n"


def verdict(ok):
    if ok is None:
        return "n/a"
    return "met" if ok else "NOT met"


# --- profiling (optional: BENCH_PERF=1) -------------------------------------------------


class Perf:
    """perf record -e cpu-clock -a -g around a measured window, when
    BENCH_PERF=1 (hardware counters are not available on every VM; the
    cpu-clock software event is). Writes OUT.data and OUT.txt (by process,
    then the top symbols of each process)."""

    def __init__(self, out):
        self.out = out
        self.p = None
        self.enabled = os.environ.get("BENCH_PERF") == "1" and shutil.which("perf")

    def __enter__(self):
        if self.enabled:
            self.p = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "499",
                                       "-a", "-g", "-o", self.out + ".data"],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            time.sleep(0.3)
        return self

    def __exit__(self, *exc):
        if self.p is None:
            return
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(10)
        with open(self.out + ".txt", "w") as f:
            for sort in ("comm", "comm,dso,sym"):
                p = subprocess.run(["perf", "report", "-i", self.out + ".data", "--stdio",
                                    "--no-children", "-g", "none", "--sort", sort,
                                    "--percent-limit", "0.5"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   timeout=300)
                f.write(p.stdout.decode("utf-8", "replace"))
        log("perf profile: %s.txt" % self.out)
