#!/usr/bin/python3
"""The agentrun benchmark suite (issue 7). Run it through scripts/bench:

    ./scripts/bench                 # every benchmark
    ./scripts/bench read create     # some of them
    BENCH_SCALE=0.1 ./scripts/bench execute

Each benchmark starts its own private stack under $BENCH_WORK/<name>
(default var/bench/<name>) on free loopback ports, measures, prints a table
(figure, value, target, verdict) and tears the stack down. Each compares
itself with a baseline measured in the same run (absolute figures drift on a
shared machine). Slow figures never fail: the exit status is 0 when every
benchmark ran, 1 when one could not run, 2 on a usage error.

Knobs (environment): see tests/bench/README.md.
"""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import (REPO, HERE, TERMINAL, BenchError, Http, Perf, Sampler, Stack, Table,  # noqa: E402
                      build_is_sanitized, build_release, compile_tool, cpu_s, fmt, log,
                      nproc, os_user, parallel_posts, proc_status, raise_nofile, rss_kb,
                      stop_popen, verdict, wrk, children, free_port)

NAMES = ("read", "create", "execute", "concurrency", "fanout", "memory", "latency")


def env_float(name, default):
    v = os.environ.get(name)
    return float(v) if v not in (None, "") else default


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default


SCALE = env_float("BENCH_SCALE", 1.0)
DURATION = env_float("BENCH_DURATION", 10.0)  # seconds of each wrk measurement
ROUNDS = env_int("BENCH_ROUNDS", 2)
WARMUP = min(2.0, DURATION)  # seconds of wrk before measuring  # baseline/app alternations for read and create
CONNS = env_int("BENCH_CONNECTIONS", 64)
WORKERS = env_int("BENCH_API_WORKERS", 2 * nproc())  # the API's default (api.workers = 0)
WORK = os.path.abspath(os.environ.get("BENCH_WORK") or os.path.join(REPO, "var", "bench"))
TOOLS = os.path.join(WORK, "tools")
RESULTS = os.path.join(WORK, "results")
KIB = 1024
MIB = 1024 * 1024

ACTIVE = []  # stacks to stop on the way out


def scaled(n, minimum):
    return max(minimum, int(round(n * SCALE)))


def mib(kb):
    return kb / 1024.0


# --- shared steps -----------------------------------------------------------------


def new_stack(name, env=None):
    env = dict(env or {})
    if os.environ.get("BENCH_API_THREADS"):  # api.threads of every stack (1 = no group commit)
        env["AGENTRUN_API_THREADS"] = os.environ["BENCH_API_THREADS"]
    s = Stack(name, WORK, BUILD, WORKERS, env)
    ACTIVE.append(s)
    s.up()
    return s


def finish_stack(s):
    try:
        s.down(keep=os.environ.get("BENCH_KEEP") == "1")
    finally:
        if s in ACTIVE:
            ACTIVE.remove(s)


def new_agent(h, params=None, limits=None, name="echo"):
    model = {"provider": "scripted", "name": name}
    if params:
        model["params"] = params
    version = {"model": model, "system_prompt": "be brief", "tools": []}
    if limits:
        version["limits"] = limits
    status, doc = h.request("POST", "/api/v1/agents", {
        "key": "bench-" + uuid.uuid4().hex[:12], "version": version, "activate": True})
    if status != 201:
        raise BenchError("creating the agent failed: %s %r" % (status, doc))
    return doc["id"]


def create_runs(s, key, agent, n, prompt="hello there", threads=16):
    t0 = time.monotonic()
    docs = parallel_posts(s.port, key, "/api/v1/runs",
                          [{"agent_id": agent, "prompt": prompt}] * n, threads=threads,
                          timeout=max(120, n // 20))
    dt = time.monotonic() - t0
    log("%s: created %d runs in %.1f s (%.0f/s, %d client threads)" % (
        s.name, n, dt, n / dt if dt else 0, threads))
    return [d["id"] for d in docs]


OPEN = ("pending", "running", "waiting_for_input", "awaiting_approval", "approved")


def count_terminal(s, agent, n):
    """How many of the agent's n runs have ended. Counts the open ones over
    the (workspace_id, status, id) index, so polling does not scan the table
    (a scan per poll would show up in the benchmarks' row counters)."""
    ws = s.scalar("SELECT workspace_id FROM agents WHERE id = '%s'" % agent)
    open_ = int(s.scalar("SELECT COUNT(*) FROM runs WHERE workspace_id = '%s' AND status IN (%s)"
                         " AND agent_id = '%s'" % (ws, ",".join("'%s'" % t for t in OPEN), agent)))
    return n - open_


def wait_terminal(s, agent, n, timeout, every=0.5):
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        done = count_terminal(s, agent, n)
        if done >= n:
            return done
        time.sleep(every)
    return done


def status_delta(a, b, keys):
    return {k: int(b.get(k, 0)) - int(a.get(k, 0)) for k in keys}


# MariaDB 10.11 names: rows written are Handler_write / Handler_update /
# Handler_delete (temporary tables count separately, as Handler_tmp_*).
STATUS_KEYS = ("Com_commit", "Handler_commit", "Com_rollback", "Questions", "Com_select",
               "Com_insert", "Com_update", "Com_delete", "Com_insert_select",
               "Handler_write", "Handler_update", "Handler_delete", "Rows_read",
               "Handler_read_key", "Handler_read_next", "Handler_read_rnd_next",
               "Innodb_data_fsyncs", "Innodb_log_writes", "Innodb_row_lock_waits",
               "Innodb_row_lock_time")


def cpu_of(pids):
    return sum(cpu_s(p) for p in pids)


class CpuMeter:
    """CPU seconds each group of processes spent between start() and stop()."""

    def __init__(self, groups):
        self.groups = groups

    def start(self):
        self.t0 = time.monotonic()
        self.c0 = {n: cpu_of(p) for n, p in self.groups.items()}
        return self

    def stop(self):
        self.wall = time.monotonic() - self.t0
        self.used = {n: cpu_of(p) - self.c0[n] for n, p in self.groups.items()}
        return self


def baseline_setup(s):
    """The baseline FastCGI program behind the same nginx, on its own port."""
    tool = compile_tool("baseline_fcgi", TOOLS, ["mariadb", "fcgi"])
    s.sql_script("CREATE DATABASE IF NOT EXISTS agentrun_bench;\n"
                 "CREATE TABLE IF NOT EXISTS agentrun_bench.items ("
                 " id CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,"
                 " body LONGTEXT NOT NULL, created_at DATETIME(3) NOT NULL"
                 ") ENGINE=InnoDB;\n")
    sock = os.path.join(s.run_dir, "baseline.sock")
    p = s.spawn("baseline", [tool, "-l", sock, "-w", str(WORKERS), "-S", s.sock,
                             "-u", os_user()])
    deadline = time.monotonic() + 20
    while not os.path.exists(sock):
        if p.poll() is not None or time.monotonic() > deadline:
            raise BenchError("baseline_fcgi did not start (see %s/baseline.log)" % s.log_dir)
        time.sleep(0.05)
    port = free_port(avoid=(s.port, s.db_port))
    params = "\n        ".join(s.fastcgi_params())
    s.render_nginx(extra_http="""
# bench-only: the baseline FastCGI program (tests/bench/baseline_fcgi.c) behind
# the same nginx, with the same FastCGI parameters, rate-limit check and logs.
upstream bench_baseline {
    server unix:%s;
}
server {
    listen 127.0.0.1:%d;
    server_tokens off;
    client_max_body_size 1m;
    client_body_buffer_size 1m;
    limit_req zone=agentrun_per_key burst=1000000 nodelay;
        %s
    location /bench/ {
        fastcgi_pass bench_baseline;
    }
}
""" % (sock, port, params))
    time.sleep(0.3)
    return p, port


def baseline_workers(p):
    return children(p.pid)


def wrk_env(method, paths, key, body=None):
    e = {"BENCH_METHOD": method, "BENCH_PATHS": ",".join(paths), "BENCH_KEY": key or ""}
    if body is not None:
        e["BENCH_BODY"] = json.dumps(body)
    return e


WRK_LUA = os.path.join(HERE, "wrk.lua")


def save(name, table, data):
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, name + ".json"), "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    with open(os.path.join(RESULTS, name + ".md"), "w") as f:
        f.write("### %s\n\n" % table.title)
        f.write(table.markdown())
        for n in table.notes:
            f.write("\n- %s" % n)
        f.write("\n")
    sys.stdout.write(table.render())
    sys.stdout.flush()


def ms(us):
    return us / 1000.0


# --- 1. read ------------------------------------------------------------------------------


def bench_read():
    s = new_stack("read")
    try:
        ws, key = s.tenant()
        h = Http(s.port, key)
        agent = new_agent(h)
        n = scaled(100, 10)
        ids = create_runs(s, key, agent, n, threads=8)
        wait_terminal(s, agent, n, 60)
        h.close()
        s.stop_executor()  # nothing else runs while reading
        bp, bport = baseline_setup(s)
        app_url, base_url = s.url, "http://127.0.0.1:%d" % bport
        app_env = wrk_env("GET", ["/api/v1/runs/" + i for i in ids], key)
        base_env = wrk_env("GET", ["/bench/runs/" + i for i in ids], None)
        # Warm both up (caches, statement preparation in every worker).
        wrk(app_url, WRK_LUA, app_env, WARMUP, CONNS)
        wrk(base_url, WRK_LUA, base_env, WARMUP, CONNS)
        groups = {"nginx": s.nginx_workers(), "api workers": s.api_children(),
                  "baseline workers": baseline_workers(bp), "mariadbd": [s.pid("mariadb")]}
        rounds = []
        for r in range(ROUNDS):
            cm = CpuMeter(groups).start()
            with Perf(os.path.join(s.dir, "perf-read-baseline-%d" % r)):
                b = wrk(base_url, WRK_LUA, base_env, DURATION, CONNS)
            b["cpu"] = cm.stop().used
            cm = CpuMeter(groups).start()
            with Perf(os.path.join(s.dir, "perf-read-app-%d" % r)):
                a = wrk(app_url, WRK_LUA, app_env, DURATION, CONNS)
            a["cpu"] = cm.stop().used
            log("read round %d: app %.0f req/s, baseline %.0f req/s" % (r + 1, a["rps"],
                                                                         b["rps"]))
            rounds.append({"app": a, "baseline": b})
        a_rps = sum(x["app"]["rps"] for x in rounds) / len(rounds)
        b_rps = sum(x["baseline"]["rps"] for x in rounds) / len(rounds)
        ratio = sum(x["app"]["rps"] / x["baseline"]["rps"] for x in rounds) / len(rounds)
        last = rounds[-1]
        t = Table("read: GET /api/v1/runs/{id} through nginx, %d connections, %d API workers"
                  % (CONNS, WORKERS))
        t.add("app req/s (mean of %d x %ds)" % (ROUNDS, DURATION), fmt(a_rps))
        t.add("app latency p50 / p99", "%.2f / %.2f ms" % (ms(last["app"]["p50_us"]),
                                                          ms(last["app"]["p99_us"])))
        t.add("baseline req/s (FastCGI + 1 PK SELECT)", fmt(b_rps), "(issue: ~17k here)")
        t.add("baseline latency p50 / p99", "%.2f / %.2f ms" % (
            ms(last["baseline"]["p50_us"]), ms(last["baseline"]["p99_us"])))
        t.add("ratio app / baseline", "%.2f" % ratio, ">= 0.70", verdict(ratio >= 0.7))
        bad = sum(x["app"]["non2xx"] + x["app"]["socket_errors"] for x in rounds)
        badb = sum(x["baseline"]["non2xx"] + x["baseline"]["socket_errors"] for x in rounds)
        t.add("non-2xx / socket errors (app, baseline)", "%d, %d" % (bad, badb), "0",
              verdict(bad == 0 and badb == 0))
        for side in ("app", "baseline"):
            reqs = sum(x[side]["requests"] for x in rounds)
            cpu = {g: sum(x[side]["cpu"][g] for x in rounds) for g in groups}
            t.add("CPU per request, %s run" % side, ", ".join(
                "%s %.0f us" % (g, cpu[g] / reqs * 1e6) for g in groups
                if cpu[g] / reqs * 1e6 >= 0.5))
        t.note("%d runs read round robin; executor stopped; wrk on the same 2 cores" % n)
        save("read", t, {"rounds": rounds, "app_rps": a_rps, "baseline_rps": b_rps,
                         "ratio": ratio, "connections": CONNS, "workers": WORKERS})
    finally:
        finish_stack(s)


# --- 2. create ---------------------------------------------------------------------------


def bench_create():
    s = new_stack("create")
    try:
        ws, key = s.tenant()
        h = Http(s.port, key)
        agent = new_agent(h)
        h.close()
        s.stop_executor()  # the API's figure alone; runs stay pending
        bp, bport = baseline_setup(s)
        app_url, base_url = s.url, "http://127.0.0.1:%d" % bport
        body = {"agent_id": agent, "prompt": "hello there"}
        app_env = wrk_env("POST", ["/api/v1/runs"], key, body)
        base_env = wrk_env("POST", ["/bench/items"], None, body)
        wrk(app_url, WRK_LUA, app_env, WARMUP, CONNS)
        wrk(base_url, WRK_LUA, base_env, WARMUP, CONNS)
        groups = {"nginx": s.nginx_workers(), "api workers": s.api_children(),
                  "baseline workers": baseline_workers(bp), "mariadbd": [s.pid("mariadb")]}
        rounds = []
        for r in range(ROUNDS):
            st0 = s.status()
            cm = CpuMeter(groups).start()
            b = wrk(base_url, WRK_LUA, base_env, DURATION, CONNS)
            b["cpu"] = cm.stop().used
            st1 = s.status()
            n0 = int(s.scalar("SELECT COUNT(*) FROM runs"))
            cm = CpuMeter(groups).start()
            with Perf(os.path.join(s.dir, "perf-create-app-%d" % r)):
                a = wrk(app_url, WRK_LUA, app_env, DURATION, CONNS)
            a["cpu"] = cm.stop().used
            st2 = s.status()
            n1 = int(s.scalar("SELECT COUNT(*) FROM runs"))
            a["created"] = n1 - n0
            a["db"] = status_delta(st1, st2, STATUS_KEYS)
            b["db"] = status_delta(st0, st1, STATUS_KEYS)
            log("create round %d: app %.0f runs/s, baseline %.0f inserts/s" % (
                r + 1, a["rps"], b["rps"]))
            rounds.append({"app": a, "baseline": b})
        slow = None
        if os.environ.get("BENCH_SLOWLOG") == "1":
            slow = slowlog_round(s, lambda: wrk(app_url, WRK_LUA, app_env, min(DURATION, 5),
                                                CONNS), "create",
                                 lambda: int(s.scalar("SELECT COUNT(*) FROM runs")), reload=True)
        a_rps = sum(x["app"]["created"] / (x["app"]["duration_us"] / 1e6) for x in rounds) / len(
            rounds)
        b_rps = sum(x["baseline"]["rps"] for x in rounds) / len(rounds)
        ratio = a_rps / b_rps if b_rps else 0
        created = sum(x["app"]["created"] for x in rounds)
        db = {k: sum(x["app"]["db"][k] for x in rounds) for k in STATUS_KEYS}
        bdb = {k: sum(x["baseline"]["db"][k] for x in rounds) for k in STATUS_KEYS}
        breqs = sum(x["baseline"]["requests"] for x in rounds)
        last = rounds[-1]
        t = Table("create: POST /api/v1/runs (new session per run) through nginx, %d connections"
                  % CONNS)
        t.add("runs created/s (mean of %d x %ds)" % (ROUNDS, DURATION), fmt(a_rps), ">= 4,000",
              verdict(a_rps >= 4000))
        t.add("app latency p50 / p99", "%.2f / %.2f ms" % (ms(last["app"]["p50_us"]),
                                                          ms(last["app"]["p99_us"])))
        t.add("baseline inserts/s (FastCGI + 1 INSERT, autocommit)", fmt(b_rps))
        t.add("baseline latency p50 / p99", "%.2f / %.2f ms" % (
            ms(last["baseline"]["p50_us"]), ms(last["baseline"]["p99_us"])))
        t.add("ratio app / baseline", "%.2f" % ratio)
        bad = sum(x["app"]["non2xx"] + x["app"]["socket_errors"] for x in rounds)
        t.add("non-2xx / socket errors", str(bad), "0", verdict(bad == 0))
        if created:
            t.add("Com_commit per run", "%.2f" % (db["Com_commit"] / created))
            t.add("Handler_commit per run", "%.2f" % (db["Handler_commit"] / created))
            t.add("rollbacks per run", "%.3f" % (db["Com_rollback"] / created))
            t.add("statements (Questions) per run", "%.1f" % (db["Questions"] / created))
            t.add("rows inserted / updated per run", "%.1f / %.1f" % (
                db["Handler_write"] / created, db["Handler_update"] / created))
            t.add("InnoDB fsyncs / log writes per run", "%.2f / %.2f" % (
                db["Innodb_data_fsyncs"] / created, db["Innodb_log_writes"] / created))
            t.add("row lock waits per run", "%.3f" % (db["Innodb_row_lock_waits"] / created))
        if breqs:
            t.add("baseline Handler_commit / fsyncs / log writes per insert",
                  "%.2f / %.2f / %.2f" % (bdb["Handler_commit"] / breqs,
                                          bdb["Innodb_data_fsyncs"] / breqs,
                                          bdb["Innodb_log_writes"] / breqs))
        for side in ("app", "baseline"):
            reqs = sum(x[side]["requests"] for x in rounds)
            cpu = {g: sum(x[side]["cpu"][g] for x in rounds) for g in groups}
            if reqs:
                t.add("CPU per request, %s run" % side, ", ".join(
                    "%s %.0f us" % (g, cpu[g] / reqs * 1e6) for g in groups
                if cpu[g] / reqs * 1e6 >= 0.5))
        t.note("executor stopped during the measurement (API alone); runs counted in the database")
        if slow:
            t.note("statement breakdown (slow log, per run): %s" % slow)
        save("create", t, {"rounds": rounds, "app_runs_per_s": a_rps, "baseline_rps": b_rps,
                           "ratio": ratio, "created": created, "db": db})
    finally:
        finish_stack(s)


# --- 3. execute ----------------------------------------------------------------------------

FLOOR_EVENTS = [
    ("run.started", '{"attempt":1}'),
    ("step.started", '{"step":0,"kind":"llm","name":"echo","attempt":1}'),
    ("message.delta", '{"content":"hello there"}'),
    ("message.completed", '{"role":"assistant","content":"hello there"}'),
    ("step.completed", '{"step":0,"kind":"llm","name":"echo","attempt":1,"duration_ms":0}'),
]


def floor_script(agent, user, ws, batches, batch):
    """The execute benchmark's baseline: the same rows an echo run writes
    (6 events, 1 message, 1 step, 1 llm_call, the usage rollup, the run and
    session rows), written set-based by one SQL client in the executor's
    transaction shape: per batch a claim, a step and a terminal transaction."""
    ev = " UNION ALL ".join("SELECT %d n, '%s' t, '%s' d" % (i + 1, t, d)
                            for i, (t, d) in enumerate(FLOOR_EVENTS))
    head = """
CREATE TEMPORARY TABLE fb (
  id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin PRIMARY KEY,
  session_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  workspace_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  seq BIGINT NOT NULL DEFAULT 0) ENGINE=InnoDB;
SET time_zone = '+00:00';
SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;
"""
    one = """
START TRANSACTION;
DELETE FROM fb;
INSERT INTO fb (id, session_id, workspace_id)
  SELECT id, session_id, workspace_id FROM runs
  WHERE agent_id = '{a}' AND runnable_at <= NOW(3) ORDER BY runnable_at LIMIT {b} FOR UPDATE;
UPDATE runs r JOIN fb ON fb.id = r.id SET r.owner = 'floor', r.lease_token = fb.id,
  r.lease_until = NOW(3) + INTERVAL 30 SECOND, r.runnable_at = NOW(3) + INTERVAL 30 SECOND,
  r.attempts = r.attempts + 1;
COMMIT;
START TRANSACTION;
UPDATE sessions s JOIN fb ON fb.session_id = s.id SET s.last_seq = s.last_seq + 5,
  s.updated_at = NOW(3);
UPDATE fb JOIN sessions s ON s.id = fb.session_id SET fb.seq = s.last_seq - 5;
INSERT INTO events (session_id, seq, workspace_id, run_id, type, data, created_at)
  SELECT fb.session_id, fb.seq + k.n, fb.workspace_id, fb.id, k.t, k.d, NOW(3)
  FROM fb JOIN ({ev}) k;
INSERT INTO messages (id, workspace_id, session_id, run_id, role, content, dedup_key, created_at)
  SELECT UUID(), workspace_id, session_id, id, 'assistant', 'hello there',
  CONCAT(id, ':0:assistant'), NOW(3) FROM fb;
INSERT INTO steps (id, run_id, workspace_id, step_index, attempt, kind, name, status,
  started_at, finished_at, duration_ms)
  SELECT CONCAT(id, ':0:1'), id, workspace_id, 0, 1, 'llm', 'echo', 'completed', NOW(3),
  NOW(3), 0 FROM fb;
INSERT INTO llm_calls (id, workspace_id, run_id, step_id, session_id, agent_id, user_id,
  provider, model, prompt_tokens, completion_tokens, cost_nusd, priced, duration_ms, created_at)
  SELECT UUID(), workspace_id, id, CONCAT(id, ':0:1'), session_id, '{a}', '{u}', 'scripted',
  'echo', 6, 3, 0, 1, 0, NOW(3) FROM fb;
INSERT INTO usage_daily (workspace_id, day, agent_id, user_id, provider, model, runs, calls,
  prompt_tokens, completion_tokens)
  SELECT '{w}', UTC_DATE(), '{a}', '{u}', 'scripted', 'echo', 0, COUNT(*), 6 * COUNT(*),
  3 * COUNT(*) FROM fb
  ON DUPLICATE KEY UPDATE calls = calls + VALUES(calls),
  prompt_tokens = prompt_tokens + VALUES(prompt_tokens),
  completion_tokens = completion_tokens + VALUES(completion_tokens);
UPDATE runs r JOIN fb ON fb.id = r.id SET r.status = 'running',
  r.started_at = COALESCE(r.started_at, NOW(3)), r.deadline_at = NOW(3) + INTERVAL 600 SECOND,
  r.output = '{{"response":"hello there"}}', r.steps = r.steps + 1, r.prompt_tokens = 6,
  r.completion_tokens = 3, r.updated_at = NOW(3);
COMMIT;
START TRANSACTION;
UPDATE sessions s JOIN fb ON fb.session_id = s.id SET s.last_seq = s.last_seq + 1,
  s.active_run_id = NULL, s.updated_at = NOW(3);
INSERT INTO events (session_id, seq, workspace_id, run_id, type, data, created_at)
  SELECT fb.session_id, fb.seq + 6, fb.workspace_id, fb.id, 'run.completed',
  '{{"usage":{{"prompt_tokens":6,"completion_tokens":3}},"cost_usd":0}}', NOW(3) FROM fb;
UPDATE runs r JOIN fb ON fb.id = r.id SET r.status = 'completed', r.ended_at = NOW(3),
  r.completed_at = NOW(3), r.owner = NULL, r.lease_token = NULL, r.lease_until = NULL,
  r.runnable_at = NULL, r.queued = 0, r.updated_at = NOW(3);
COMMIT;
""".format(a=agent, u=user, w=ws, b=batch, ev=ev)
    return head + one * batches


def run_stats(s, agent):
    row = s.sql("SELECT COUNT(*), SUM(status = 'completed'),"
                " TIMESTAMPDIFF(MICROSECOND, MIN(started_at), MAX(ended_at)),"
                " MIN(started_at), MAX(ended_at) FROM runs WHERE agent_id = '%s'" % agent)[0]
    return {"runs": int(row[0]), "completed": int(row[1] or 0),
            "span_s": int(row[2]) / 1e6 if row[2] not in (None, "NULL") else None,
            "first_start": row[3], "last_end": row[4]}


def bench_execute():
    n = scaled(20000, 20)
    m = max(20, n // 4)
    cap = env_int("BENCH_EXEC_CAPACITY", 4096)
    s = new_stack("execute")
    try:
        ws, key = s.tenant()
        user = s.scalar("SELECT user_id FROM api_keys LIMIT 1")
        h = Http(s.port, key)
        agent = new_agent(h)
        floor_agent = new_agent(h)
        h.close()
        s.stop_executor()

        # The floor: the same writes, set-based, from one SQL client.
        create_runs(s, key, floor_agent, m)
        # 512 rows a batch, as the executor shape had it; a larger batch
        # flatters the floor without telling more (it is one client's SQL).
        batch = env_int("BENCH_FLOOR_BATCH", 512)
        st0 = s.status()
        t0 = time.monotonic()
        s.sql_script(floor_script(floor_agent, user, ws, int(math.ceil(m / batch)), batch),
                     timeout=600)
        floor_wall = time.monotonic() - t0
        st1 = s.status()
        fstats = run_stats(s, floor_agent)
        if fstats["completed"] != m:
            raise BenchError("the floor script completed %d of %d runs" % (fstats["completed"], m))
        fdb = status_delta(st0, st1, STATUS_KEYS)
        floor_rate = m / fstats["span_s"] if fstats["span_s"] else m / floor_wall

        # The executor.
        create_runs(s, key, agent, n)
        groups = {"executor": [], "mariadbd": [s.pid("mariadb")]}
        st2 = s.status()
        mcpu0 = cpu_of(groups["mariadbd"])
        env = {"AGENTRUN_EXECUTOR_CAPACITY": str(cap),
               "AGENTRUN_EXECUTOR_WORKSPACE_CONCURRENCY": str(cap)}
        if os.environ.get("BENCH_PROFILE") == "callgrind":
            env["BENCH_WRAP"] = "callgrind"
        if os.environ.get("BENCH_EXEC_WRITERS"):
            env["AGENTRUN_EXECUTOR_WRITERS"] = os.environ["BENCH_EXEC_WRITERS"]
        if os.environ.get("BENCH_EXEC_DEBUG") == "1":
            # Claims and commits with their sizes and times, in log/executor.log.
            env["AGENTRUN_LOG_LEVEL"] = "debug"
        slow_path = None
        if os.environ.get("BENCH_SLOWLOG") == "1":
            slow_path = os.path.join(s.log_dir, "slow-execute.log")
            s.slowlog(True, slow_path)
        ex = start_executor_maybe_profiled(s, env)
        t0 = time.monotonic()
        with Sampler({"executor": [ex.pid]}), Perf(os.path.join(s.dir, "perf-execute")):
            done = wait_terminal(s, agent, n, timeout=max(120, n / 20.0), every=1.0)
        wall = time.monotonic() - t0
        ex_cpu = cpu_s(ex.pid)
        ex_hwm = proc_status(ex.pid).get("VmHWM", 0)
        mcpu = cpu_of(groups["mariadbd"]) - mcpu0
        st3 = s.status()
        s.stop_executor()
        if slow_path:
            s.slowlog(False)
            summarize_slowlog(slow_path, n, os.path.join(RESULTS, "execute-statements.txt"))
        stats = run_stats(s, agent)
        db = status_delta(st2, st3, STATUS_KEYS)
        rate = n / stats["span_s"] if stats["span_s"] else 0
        t = Table("execute: %d runs on scripted echo (chunk_ms 0), one executor, capacity %d"
                  % (n, cap))
        t.add("runs completed/s (first start to last end)", fmt(rate), ">= 4,000",
              verdict(rate >= 4000))
        t.add("completed / terminal / total", "%d / %d / %d" % (stats["completed"], done, n),
              "all", verdict(stats["completed"] == n))
        t.add("floor runs/s (same rows, set-based SQL, %d/batch)" % batch, fmt(floor_rate))
        t.add("ratio executor / floor", "%.2f" % (rate / floor_rate if floor_rate else 0))
        t.add("transactions per run (Com_commit)", "%.3f" % (db["Com_commit"] / n),
              "few", "")
        t.add("Handler_commit per run", "%.3f" % (db["Handler_commit"] / n))
        t.add("statements per run (Questions)", "%.1f" % (db["Questions"] / n))
        t.add("rows inserted / updated per run", "%.1f / %.1f" % (
            db["Handler_write"] / n, db["Handler_update"] / n))
        t.add("index lookups per run (Handler_read_key)", "%.1f" % (db["Handler_read_key"] / n))
        t.add("InnoDB fsyncs / log writes per run", "%.2f / %.2f" % (
            db["Innodb_data_fsyncs"] / n, db["Innodb_log_writes"] / n))
        t.add("floor: commits / statements / rows ins+upd per run", "%.3f / %.3f / %.1f+%.1f" % (
            fdb["Com_commit"] / m, fdb["Questions"] / m, fdb["Handler_write"] / m,
            fdb["Handler_update"] / m))
        t.add("executor CPU per run", "%.0f us" % (ex_cpu / n * 1e6))
        t.add("mariadbd CPU per run", "%.0f us" % (mcpu / n * 1e6))
        t.add("executor peak RSS", "%.1f MiB" % mib(ex_hwm))
        t.note("%d runs created through the API with the executor stopped, then one executor "
               "started; workspace_concurrency = capacity (one workspace)" % n)
        t.note("floor: %d runs, %d batches of %d, 3 transactions per batch" % (
            m, int(math.ceil(m / batch)), batch))
        save("execute", t, {"n": n, "rate": rate, "floor_rate": floor_rate, "stats": stats,
                            "floor": fstats, "db": db, "floor_db": fdb, "executor_cpu_s": ex_cpu,
                            "mariadbd_cpu_s": mcpu, "executor_hwm_kb": ex_hwm, "wall_s": wall,
                            "capacity": cap})
    finally:
        finish_stack(s)


def summarize_slowlog(path, per, out):
    """tests/bench/slowlog.py over path, per run, into out; returns out."""
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        subprocess.run(["/usr/bin/python3", os.path.join(HERE, "slowlog.py"), path, str(per)],
                       stdout=f, stderr=subprocess.STDOUT, timeout=600)
    log("statement breakdown: %s" % out)
    return out


def slowlog_round(s, load, name, count, reload=False):
    """One more measurement with every statement in the slow log (slower:
    for the breakdown only, never for the figures)."""
    path = os.path.join(s.log_dir, "slow-%s.log" % name)
    s.slowlog(True, path)
    try:
        if reload:
            s.reload_api()
        n0 = count()
        load()
        n1 = count()
    finally:
        s.slowlog(False)
    return summarize_slowlog(path, max(1, n1 - n0), os.path.join(RESULTS,
                                                                 "%s-statements.txt" % name))


def start_executor_maybe_profiled(s, env):
    """start_executor(), or under valgrind --tool=callgrind with BENCH_WRAP."""
    if env.pop("BENCH_WRAP", None) != "callgrind":
        return s.start_executor(env)
    s.stop_executor()
    pidfile = os.path.join(s.run_dir, "executor.pid")
    bell = os.path.join(s.run_dir, "executor.bell")
    for f in (pidfile, bell):
        try:
            os.unlink(f)
        except FileNotFoundError:
            pass
    out = os.path.join(s.dir, "callgrind.out.executor")
    binary = os.path.join(BUILD, "src", "executor", "agentrun-executor")
    p = s.spawn("executor", ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                             binary, "-c", s.config, "-p", pidfile], env=env,
                log_name="executor")
    deadline = time.monotonic() + 120
    while not os.path.exists(bell):
        if p.poll() is not None or time.monotonic() > deadline:
            raise BenchError("the executor did not start under valgrind")
        time.sleep(0.1)
    log("executor under callgrind; profile: %s" % out)
    return p


# --- 4. concurrency ---------------------------------------------------------------------


def peak_overlap(rows):
    """Most runs in flight at once, from (started_at, ended_at) strings."""
    evs = []
    for st, en in rows:
        if st in ("NULL", None) or en in ("NULL", None):
            continue
        evs.append((st, 1))
        evs.append((en, -1))
    evs.sort(key=lambda e: (e[0], e[1]))
    cur = best = 0
    for _, d in evs:
        cur += d
        best = max(best, cur)
    return best


def bench_concurrency():
    n = scaled(10000, 10)
    secs = env_float("BENCH_CONC_SECONDS", 10.0)
    chunk = env_int("BENCH_CONC_CHUNK_MS", 500)
    words = max(1, int(round(secs * 1000 / chunk)))
    prompt = " ".join("w%d" % i for i in range(words))
    s = new_stack("concurrency")
    try:
        ws, key = s.tenant()
        h = Http(s.port, key)
        agent = new_agent(h, params={"chunk_ms": chunk})
        one_agent = new_agent(h, params={"chunk_ms": chunk})
        h.close()
        s.stop_executor()
        env = {"AGENTRUN_EXECUTOR_CAPACITY": str(max(n, 512)),
               "AGENTRUN_EXECUTOR_WORKSPACE_CONCURRENCY": str(max(n, 512))}

        # Baseline: one such run alone.
        create_runs(s, key, one_agent, 1, prompt=prompt, threads=1)
        s.start_executor(env)
        wait_terminal(s, one_agent, 1, timeout=secs * 5 + 30, every=0.2)
        one = s.sql("SELECT TIMESTAMPDIFF(MICROSECOND, started_at, ended_at) / 1e6, status"
                    " FROM runs WHERE agent_id = '%s'" % one_agent)[0]
        one_s = float(one[0]) if one[0] != "NULL" else None
        s.stop_executor()

        # N at once.
        create_runs(s, key, agent, n, prompt=prompt)
        mpid = s.pid("mariadb")
        mcpu0 = cpu_s(mpid)
        st0 = s.status()
        ex = s.start_executor(env)
        t0 = time.monotonic()
        timeout = max(120, secs * 6 + n * 0.03)
        with Sampler({"executor": [ex.pid]}, every=0.2), \
                Perf(os.path.join(s.dir, "perf-concurrency")):
            done = wait_terminal(s, agent, n, timeout=timeout, every=1.0)
        wall = time.monotonic() - t0
        ex_cpu = cpu_s(ex.pid)
        hwm = proc_status(ex.pid).get("VmHWM", 0)
        mcpu = cpu_s(mpid) - mcpu0
        st1 = s.status()
        s.stop_executor()
        rows = s.sql("SELECT started_at, ended_at,"
                     " TIMESTAMPDIFF(MICROSECOND, started_at, ended_at) / 1e6, status"
                     " FROM runs WHERE agent_id = '%s'" % agent)
        peak = peak_overlap([(r[0], r[1]) for r in rows])
        durs = sorted(float(r[2]) for r in rows if r[2] != "NULL")
        completed = sum(1 for r in rows if r[3] == "completed")
        stats = run_stats(s, agent)
        db = status_delta(st0, st1, STATUS_KEYS)

        def q(p):
            return durs[min(len(durs) - 1, int(p * (len(durs) - 1) + 0.5))] if durs else None

        t = Table("concurrency: %d runs streaming %.0f s each (echo, %d words, chunk_ms %d) in"
                  " one executor" % (n, secs, words, chunk))
        full = n >= 10000
        t.add("runs in flight at once (peak, from started/ended)", fmt(peak), ">= 10,000",
              verdict(peak >= 10000) if full else "n/a (scaled)")
        t.add("all finished (completed / total)", "%d / %d" % (completed, n), "all",
              verdict(completed == n))
        t.add("executor peak RSS (VmHWM)", "%.1f MiB" % mib(hwm), "< 1 GiB",
              verdict(hwm < 1024 * 1024))
        t.add("executor RSS per run in flight", "%.1f KiB" % (hwm / max(peak, 1)))
        t.add("executor CPU seconds", "%.1f s" % ex_cpu)
        t.add("mariadbd CPU seconds", "%.1f s" % mcpu)
        t.add("first start to last end", "%.1f s" % (stats["span_s"] or 0))
        starts = s.sql("SELECT TIMESTAMPDIFF(MICROSECOND, MIN(started_at), MAX(started_at)) / 1e6"
                       " FROM runs WHERE agent_id = '%s'" % agent)[0][0]
        starts = float(starts) if starts not in (None, "NULL") else 0.0
        t.add("first start to last start (claiming all %d)" % n, "%.1f s (%.0f runs/s)" % (
            starts, n / starts if starts else 0))
        t.add("run duration p50 / p99 / max", "%.1f / %.1f / %.1f s" % (q(0.5), q(0.99),
                                                                        durs[-1] if durs else 0))
        t.add("baseline: one such run alone", "%.1f s" % one_s if one_s else "-")
        if one_s and durs:
            t.add("ratio alone / p99 under load", "%.2f" % (one_s / q(0.99)))
        t.add("rows inserted / updated per run", "%.1f / %.1f" % (
            db["Handler_write"] / n, db["Handler_update"] / n))
        t.add("transactions (Com_commit) per second", "%.1f" % (db["Com_commit"] / wall))
        save("concurrency", t, {"n": n, "peak": peak, "completed": completed, "hwm_kb": hwm,
                                "executor_cpu_s": ex_cpu, "mariadbd_cpu_s": mcpu,
                                "span_s": stats["span_s"], "one_s": one_s,
                                "p50_s": q(0.5), "p99_s": q(0.99), "db": db, "wall_s": wall,
                                "claim_span_s": starts,
                                "terminal": done})
    finally:
        finish_stack(s)


# --- 5. fan-out ----------------------------------------------------------------------------


def listener_counts():
    v = os.environ.get("BENCH_LISTENERS")
    if v:
        return [int(x) for x in v.split(",") if x.strip()]
    return [scaled(1000, 5), scaled(10000, 10)]


def bench_fanout():
    counts = listener_counts()
    window = env_float("BENCH_FANOUT_SECONDS", 15.0)
    warmup = env_float("BENCH_FANOUT_WARMUP", 2.0)
    biggest = max(counts)
    raise_nofile(4 * biggest + 4096)
    tool = compile_tool("sse_listen", TOOLS)
    s = new_stack("fanout", env={"AGENTRUN_STREAM_MAX_CONNECTIONS": str(2 * biggest + 1000)})
    try:
        s.render_nginx(worker_connections=2 * biggest + 2048, rlimit_nofile=4 * biggest + 4096)
        ws, key = s.tenant()
        h = Http(s.port, key)
        # ~100 words/s from the model; the executor coalesces deltas (~every 50 ms).
        agent = new_agent(h, params={"chunk_ms": 10})
        words = int((window + warmup + 10) * 100)
        prompt = " ".join(["w"] * words)
        phases = []
        for count in [1] + counts:
            phases.append(fanout_phase(s, h, key, agent, prompt, tool, count, window, warmup))
        h.close()
        t = Table("fan-out: 1 run streaming (scripted echo, chunk_ms 10) watched over SSE"
                  " through nginx")
        base = phases[0]
        for ph in phases:
            c = ph["client"]
            n = ph["listeners"]
            tag = "%s listener%s" % (fmt(n), "" if n == 1 else "s")
            judged = n > 1  # the targets are for 10,000; smaller counts are judged too
            t.add("%s: connected / failed" % tag, "%d / %d" % (c["connected"], c["failed"]),
                  "all", verdict(c["connected"] == n))
            t.add("%s: delivery p50 / p99 / max" % tag, "%.1f / %.1f / %.1f ms" % (
                c["p50_ms"], c["p99_ms"], c["max_ms"]), "p99 < 100 ms" if n > 1 else "",
                  verdict(c["p99_ms"] < 100) if judged else "")
            t.add("%s: events/s per listener (min / max events in run)" % tag,
                  "%.1f (%d / %d)" % (ph["events_per_s"], c["events_per_listener_min"],
                                      c["events_per_listener_max"]))
            if n > 1:
                t.add("%s: stream RSS per listener" % tag, "%.2f KiB" % ph["stream_kib_per"],
                      "< 16 KiB", verdict(ph["stream_kib_per"] < 16) if judged else "")
                t.add("%s: nginx RSS per listener" % tag, "%.2f KiB" % ph["nginx_kib_per"])
            t.add("%s: DB queries/s (Questions; Com_select)" % tag, "%.1f; %.1f" % (
                ph["questions_per_s"], ph["selects_per_s"]),
                  "independent of listeners" if n > 1 else "",
                  verdict(ph["questions_per_s"] <= 1.25 * base["questions_per_s"] + 5)
                  if n > 1 else "")
            t.add("%s: CPU s in window (stream; nginx; client)" % tag, "%.1f; %.1f; %.1f" % (
                ph["cpu"]["stream"], ph["cpu"]["nginx"], ph["cpu"]["client"]))
            # Per event received: under overload a stage that falls behind reads
            # several events at once, so these fall as the load rises.
            got = max(1, ph["client"]["samples"])
            t.add("%s: CPU us per delivery (stream; nginx; client)" % tag,
                  "%.1f; %.1f; %.1f" % tuple(ph["cpu"][k] * 1e6 / got
                                             for k in ("stream", "nginx", "client")))
        if len(phases) > 1:
            last = phases[-1]["client"]
            t.add("ratio p99(%s) / p99(1 listener)" % fmt(phases[-1]["listeners"]),
                  "%.2f" % (last["p99_ms"] / base["client"]["p99_ms"]
                            if base["client"]["p99_ms"] > 0 else 0))
        t.note("latency = receive time - event created_at (MariaDB NOW(3) at insert, before "
               "commit); listeners connect before the run starts, %ds warm-up, %ds window"
               % (warmup, window))
        t.note("the scripted model emits ~100 words/s; the executor coalesces message.delta to "
               "one event per run per ~50 ms, so listeners see ~20 deltas/s")
        save("fanout", t, {"phases": phases})
    finally:
        finish_stack(s)


def fanout_phase(s, h, key, agent, prompt, tool, count, window, warmup):
    s.stop_executor()
    status, doc = h.request("POST", "/api/v1/runs", {"agent_id": agent, "prompt": prompt})
    if status != 201:
        raise BenchError("creating the fan-out run failed: %s %r" % (status, doc))
    run_id = doc["id"]
    after = int(s.scalar("SELECT last_seq FROM sessions WHERE id = '%s'" % doc["session_id"]))
    spid = s.pid("stream")
    rss0 = rss_kb(spid)
    nginx0 = sum(rss_kb(p) for p in s.nginx_workers())
    path = "/api/v1/runs/%s/events?after_seq=%d" % (run_id, after)
    client = s.spawn("listen%d" % count, [tool, "-p", str(s.port), "-P", path, "-k", key,
                                          "-n", str(count), "-c", "256", "-W", str(warmup),
                                          "-d", str(window), "-T", "300"],
                     stdout=subprocess.PIPE)
    lines = []
    got = {}

    def reader():
        for raw in client.stdout:
            line = raw.decode("utf-8", "replace").strip()
            lines.append(line)
            if line.startswith("connected"):
                got["connected"] = time.monotonic()
            elif line == "window start":
                got["start"] = time.monotonic()
            elif line == "window end":
                got["end"] = time.monotonic()

    rt = threading.Thread(target=reader, daemon=True)
    rt.start()
    deadline = time.monotonic() + 320
    while "connected" not in got:
        if client.poll() is not None or time.monotonic() > deadline:
            raise BenchError("the SSE client did not connect: %s" % "\n".join(lines[-5:]))
        time.sleep(0.05)
    rss_idle = rss_kb(spid)
    s.start_executor()  # the run starts streaming now
    groups = {"stream": [spid], "nginx": s.nginx_workers(), "client": [client.pid]}
    while "start" not in got:
        if client.poll() is not None or time.monotonic() > deadline:
            raise BenchError("the SSE client stopped early: %s" % "\n".join(lines[-5:]))
        time.sleep(0.01)
    st0 = s.status()
    cm = CpuMeter(groups).start()
    peak = {"stream": 0, "nginx": 0}
    with Perf(os.path.join(s.dir, "perf-fanout-%d" % count)):
        window_deadline = time.monotonic() + window + 60
        while "end" not in got:
            peak["stream"] = max(peak["stream"], rss_kb(spid))
            peak["nginx"] = max(peak["nginx"], sum(rss_kb(p) for p in s.nginx_workers()))
            if client.poll() is not None or time.monotonic() > window_deadline:
                break
            time.sleep(0.2)
    cm.stop()
    st1 = s.status()
    try:
        client.wait(60)
    except subprocess.TimeoutExpired:
        stop_popen(client, "sse client")
    rt.join(10)
    result = None
    for line in lines:
        if line.startswith("{"):
            result = json.loads(line)
    if result is None:
        raise BenchError("the SSE client printed no result: %s" % "\n".join(lines[-5:]))
    # End the run (it is long on purpose): cancel it and stop the executor,
    # which hands it back; the next executor to claim it ends it at once
    # (waiting here would wait for the step in flight, the whole reply).
    h.request("POST", "/api/v1/runs/%s/cancel" % run_id, {})
    s.stop_executor()
    db = status_delta(st0, st1, STATUS_KEYS)
    wall = cm.wall or 1
    n = count
    return {
        "listeners": n, "client": result, "run_id": run_id,
        "stream_rss_before_kb": rss0, "stream_rss_connected_kb": rss_idle,
        "stream_rss_peak_kb": peak["stream"],
        "stream_kib_per": (peak["stream"] - rss0) / n,
        "stream_kib_per_idle": (rss_idle - rss0) / n,
        "nginx_kib_per": (peak["nginx"] - nginx0) / n,
        "questions_per_s": db["Questions"] / wall, "selects_per_s": db["Com_select"] / wall,
        "events_per_s": result["samples"] / max(1, result["connected"]) / max(
            0.001, result["window_s"]),
        "cpu": cm.used, "window_wall_s": wall, "db": db,
    }


def wait_run(s, run_id, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = s.scalar("SELECT status FROM runs WHERE id = '%s'" % run_id)
        if st in TERMINAL:
            return st
        time.sleep(0.2)
    return None


# --- 6. memory ----------------------------------------------------------------------------


def bench_memory():
    dur = env_float("BENCH_MEMORY_SECONDS", DURATION)
    listeners = env_int("BENCH_MEMORY_LISTENERS", scaled(100, 5))
    raise_nofile(4 * listeners + 4096)
    tool = compile_tool("sse_listen", TOOLS)
    s = new_stack("memory")
    try:
        ws, key = s.tenant()
        h = Http(s.port, key)
        agent = new_agent(h)
        stream_agent = new_agent(h, params={"chunk_ms": 10})
        ids = create_runs(s, key, agent, scaled(100, 10), threads=8)
        wait_terminal(s, agent, len(ids), 60)
        bp, bport = baseline_setup(s)
        wrk("http://127.0.0.1:%d" % bport, WRK_LUA,
            wrk_env("GET", ["/bench/runs/" + i for i in ids], None), 1, 8)
        time.sleep(2)
        groups = s.process_groups()
        groups["baseline workers"] = baseline_workers(bp)
        idle = {g: [rss_kb(p) for p in pids] for g, pids in groups.items()}

        # Load: reads, creates (executed as they come), SSE listeners, baseline reads.
        status, doc = h.request("POST", "/api/v1/runs", {
            "agent_id": stream_agent, "prompt": " ".join(["w"] * int((dur + 10) * 100))})
        if status != 201:
            raise BenchError("creating the streaming run failed: %s" % status)
        stream_run = doc["id"]
        h.close()
        client = s.spawn("listen-mem", [tool, "-p", str(s.port), "-P",
                                        "/api/v1/runs/%s/events" % stream_run, "-k", key,
                                        "-n", str(listeners), "-W", "0", "-d", str(dur + 2),
                                        "-T", "60"], stdout=subprocess.DEVNULL)
        jobs = [
            ("app reads", s.url, wrk_env("GET", ["/api/v1/runs/" + i for i in ids], key), 24),
            ("app creates", s.url, wrk_env("POST", ["/api/v1/runs"], key,
                                           {"agent_id": agent, "prompt": "hello there"}), 24),
            ("baseline reads", "http://127.0.0.1:%d" % bport,
             wrk_env("GET", ["/bench/runs/" + i for i in ids], None), 16),
        ]
        out = {}

        def job(name, url, env, conns):
            try:
                out[name] = wrk(url, WRK_LUA, env, dur, conns, threads=1)
            except BenchError as e:
                out[name] = {"error": str(e)}

        groups = s.process_groups()
        groups["baseline workers"] = baseline_workers(bp)
        with Sampler(groups, every=0.2) as smp:
            ts = [threading.Thread(target=job, args=j, daemon=True) for j in jobs]
            for th in ts:
                th.start()
            for th in ts:
                th.join(dur + 90)
        stop_popen(client, "sse client")
        h = Http(s.port, key)
        h.request("POST", "/api/v1/runs/%s/cancel" % stream_run, {})
        h.close()
        t = Table("memory: RSS per process, idle and under load (%ds: reads, creates being "
                  "executed, %d SSE listeners, baseline reads)" % (dur, listeners))
        for g in ("nginx master", "nginx workers", "api master", "api workers", "stream",
                  "executor", "mariadbd", "baseline workers"):
            pids = groups.get(g) or []
            if not pids:
                continue
            idle_max = max(idle.get(g) or [0])
            peak = smp.peak[g]
            target, ok = "", ""
            if g == "api workers":
                target, ok = "< 16 MiB each", verdict(peak < 16 * 1024)
            t.add("%s (%d): idle / peak under load, each" % (g, len(pids)),
                  "%.1f / %.1f MiB" % (mib(idle_max), mib(peak)), target, ok)
        bw = smp.peak.get("baseline workers") or 0
        aw = smp.peak.get("api workers") or 0
        if bw:
            t.add("ratio API worker / baseline FastCGI worker (peak RSS)", "%.2f" % (aw / bw))
        for name, r in out.items():
            if "error" in r:
                t.add("load: %s" % name, "failed: %s" % r["error"][:60])
            else:
                t.add("load: %s" % name, "%s req/s, non-2xx %d" % (fmt(r["rps"]), r["non2xx"]))
        t.note("peak = highest VmRSS sampled every 200 ms; 'each' = the largest member of the "
               "group; nginx workers and api workers are summed in the JSON")
        save("memory", t, {"idle_kb": idle, "peak_kb": smp.peak, "peak_sum_kb": smp.peak_sum,
                           "load": out})
    finally:
        finish_stack(s)


# --- 7. latency -----------------------------------------------------------------------------


def baseline_executor_build():
    """The executor of the latency baseline: BENCH_LATENCY_BASELINE_BUILD (a
    release build directory), else a release build of BENCH_LATENCY_BASELINE_REV
    (default: the commit before leading-edge commits, 76a012d) made from `git
    archive` under WORK/baseline-<rev>. Only the executor is swapped: the rest
    of the stack is the build under test."""
    given = os.environ.get("BENCH_LATENCY_BASELINE_BUILD")
    if given:
        return os.path.abspath(given)
    rev = os.environ.get("BENCH_LATENCY_BASELINE_REV", "76a012d")
    root = os.path.join(WORK, "baseline-" + rev)
    src, build = os.path.join(root, "src"), os.path.join(root, "build")
    binary = os.path.join(build, "src", "executor", "agentrun-executor")
    if os.path.exists(binary):
        return build
    log("latency: building the baseline executor at %s in %s" % (rev, root))
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(src)
    os.makedirs(build)
    archive = subprocess.run(["git", "-C", REPO, "archive", rev], stdout=subprocess.PIPE,
                             timeout=120)
    if archive.returncode != 0:
        raise BenchError("git archive %s failed" % rev)
    subprocess.run(["tar", "-x", "-C", src], input=archive.stdout, check=True, timeout=120)
    with open(os.path.join(root, "build.log"), "wb") as lf:
        for argv, cwd in ((["autoreconf", "-fi"], src),
                          ([os.path.join(src, "configure"), "CFLAGS=-O2 -g"], build),
                          (["make", "-j%d" % nproc(), "src/executor/agentrun-executor"], build)):
            if subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=lf,
                              stderr=subprocess.STDOUT, timeout=900).returncode != 0:
                raise BenchError("baseline build failed (%s); see %s/build.log" % (
                    " ".join(argv[:1]), root))
    return build


def latency_round(s, h, key, agent, fake, n):
    """n sequential runs, each on a fresh session whose SSE stream is open
    before the create: when run.started and the first message.delta reach
    the client, against the POST's send time and the fake provider's first
    content token (same clock, time.time())."""
    sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
    from sse import SSE  # noqa: E402 (the integration suite's raw SSE reader)

    started, first_delta = [], []
    for i in range(n):
        status, sess = h.request("POST", "/api/v1/sessions", {"agent_id": agent})
        if status != 201:
            raise BenchError("creating a session failed: %s %r" % (status, sess))
        stream = SSE("127.0.0.1", s.port, "/api/v1/sessions/%s/events" % sess["id"], key=key)
        before = len(fake.requests)
        t0 = time.time()
        status, run = h.request("POST", "/api/v1/sessions/%s/runs" % sess["id"],
                                {"input": {"prompt": "latency probe %d with a few words" % i}})
        if status != 201:
            raise BenchError("creating a run failed: %s %r" % (status, run))
        seen = {}

        def mark(ev):
            seen.setdefault(ev["event"], time.time())
            return ev["event"] in ("run.completed", "run.failed", "run.cancelled",
                                   "run.timeout")
        stream.events(until=mark, timeout=30)
        stream.close()
        if "run.started" not in seen or "message.delta" not in seen:
            raise BenchError("run %s: no run.started or message.delta on its stream (%r)" % (
                run["id"], sorted(seen)))
        reqs = fake.requests[before:]
        times = reqs[0].get("event_times") if reqs else None
        if not times or len(times) < 2:
            raise BenchError("the fake provider recorded no token for run %s" % run["id"])
        started.append((seen["run.started"] - t0) * 1000)
        first_delta.append((seen["message.delta"] - times[1]) * 1000)  # [0] is the role chunk
    return started, first_delta


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def bench_latency():
    sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
    from fakes import FakeProvider  # noqa: E402

    n = scaled(200, 20)
    base_build = baseline_executor_build()
    fake = FakeProvider(chunk_delay_ms=20)
    fake.start()
    s = new_stack("latency", env={"AGENTRUN_OPENAI_BASE_URL": fake.openai_base_url,
                                  "AGENTRUN_OPENAI_API_KEY": "sk-bench"})
    try:
        ws, key = s.tenant()
        h = Http(s.port, key)
        status, doc = h.request("POST", "/api/v1/agents", {
            "key": "bench-lat-" + uuid.uuid4().hex[:8], "activate": True,
            "version": {"model": {"provider": "openai", "name": "fake-echo"},
                        "system_prompt": "be brief", "tools": []}})
        if status != 201:
            raise BenchError("creating the agent failed: %s %r" % (status, doc))
        agent = doc["id"]
        figures = {}
        # Alternate baseline and new executor in halves, so drift hits both alike.
        for label, build in (("baseline", base_build), ("new", BUILD),
                             ("baseline", base_build), ("new", BUILD)):
            s.build = build
            s.start_executor()
            st, fd = latency_round(s, h, key, agent, fake, max(1, n // 2))
            figures.setdefault(label, ([], []))
            figures[label][0].extend(st)
            figures[label][1].extend(fd)
        s.build = BUILD
        h.close()
        t = Table("latency: %d sequential runs each (fake OpenAI provider, 20 ms between "
                  "tokens), SSE open before the create" % (2 * max(1, n // 2)))
        new, base = figures["new"], figures["baseline"]
        t.add("POST -> run.started on SSE p50 / p99", "%.1f / %.1f ms" % (
            pct(new[0], 50), pct(new[0], 99)), "< 15 / < 40 ms",
            verdict(pct(new[0], 50) < 15 and pct(new[0], 99) < 40))
        t.add("  baseline (previous executor)", "%.1f / %.1f ms" % (
            pct(base[0], 50), pct(base[0], 99)))
        t.add("first token -> first message.delta on SSE p50 / p99", "%.1f / %.1f ms" % (
            pct(new[1], 50), pct(new[1], 99)), "p50 < 10 ms", verdict(pct(new[1], 50) < 10))
        t.add("  baseline (previous executor)", "%.1f / %.1f ms" % (
            pct(base[1], 50), pct(base[1], 99)))
        t.note("baseline executor: %s; the API, stream worker and nginx are the build under "
               "test in both" % base_build)
        save("latency", t, {"n": n, "new": {"started_ms": new[0], "first_delta_ms": new[1]},
                            "baseline": {"started_ms": base[0], "first_delta_ms": base[1]}})
    finally:
        finish_stack(s)
        fake.stop()


# --- main -----------------------------------------------------------------------------------

BENCHES = {"read": bench_read, "create": bench_create, "execute": bench_execute,
           "concurrency": bench_concurrency, "fanout": bench_fanout, "memory": bench_memory,
           "latency": bench_latency}


def machine():
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, timeout=10).stdout.decode().strip()
        except subprocess.SubprocessError:
            return ""
    return {
        "nproc": nproc(),
        "cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"),
        "mem": sh("free -h | awk '/Mem:/ {print $2}'"),
        "kernel": sh("uname -r"),
        "os": sh(". /etc/os-release && echo $PRETTY_NAME"),
        "mariadb": sh("mariadbd --version | awk '{print $3}'"),
        "nginx": sh("nginx -v 2>&1 | cut -d/ -f2"),
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "commit": sh("git -C '%s' rev-parse --short HEAD" % REPO),
        "src_changes": sh("git -C '%s' status --porcelain -- src | wc -l" % REPO),
    }


_signalled = []


def on_signal(signum, frame):
    # Once: a second signal (the terminal's Ctrl-C reaches both scripts/bench
    # and this process) must not interrupt the teardown the first one started.
    if _signalled:
        return
    _signalled.append(signum)
    raise KeyboardInterrupt("signal %d" % signum)


BUILD = None


def main(argv):
    global BUILD
    names = argv or list(NAMES)
    for n in names:
        if n not in BENCHES:
            sys.stderr.write("usage: scripts/bench [%s]...\n" % "|".join(NAMES))
            return 2
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    os.makedirs(WORK, exist_ok=True)
    failed = []
    try:
        BUILD = os.environ.get("BENCH_BUILD_DIR") or build_release(WORK)
        BUILD = os.path.abspath(BUILD)
        if build_is_sanitized(BUILD):
            log("note: %s is a sanitizer build; figures are not representative" % BUILD)
        info = machine()
        log("machine: %(nproc)s cores, %(mem)s RAM, kernel %(kernel)s, load %(loadavg)s; "
            "commit %(commit)s (+%(src_changes)s uncommitted files in src/)" % info)
        for n in names:
            t0 = time.monotonic()
            try:
                BENCHES[n]()
                log("%s: done in %.0f s" % (n, time.monotonic() - t0))
            except BenchError as e:
                log("%s: could not run: %s" % (n, e))
                failed.append(n)
        info["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, "machine.json"), "w") as f:
            json.dump(dict(info, build=BUILD, scale=SCALE, duration=DURATION, rounds=ROUNDS,
                           connections=CONNS, workers=WORKERS,
                           sanitized=build_is_sanitized(BUILD)), f, indent=1)
    except BenchError as e:
        log("could not run: %s" % e)
        failed.append("setup")
    except KeyboardInterrupt as e:
        log("interrupted (%s)" % e)
        failed.append("interrupted")
    finally:
        for s in list(ACTIVE):
            try:
                s.down()
            except Exception as e:  # noqa: BLE001
                log("teardown of %s failed: %s" % (s.name, e))
    if failed:
        log("did not run: %s" % ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
