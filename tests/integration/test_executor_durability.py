"""Durability of execution: executors killed at arbitrary points resume
without duplicates, several executors share work with each run executed
once, and an executor paused past its lease writes nothing when it wakes
(ARCHITECTURE.md: claims, leases, fencing)."""

import collections
import os
import random
import signal
import subprocess
import time

import pytest

from executor_helpers import (ExtraExecutor, events, new_agent, script_agent, start,
                              wait_status)

TERMINAL = {"completed", "failed", "timeout", "cancelled", "rejected"}


def statuses(api, ids):
    out = {}
    for run_id in ids:
        r = api.get("/api/v1/runs/" + run_id)
        assert r.status == 200, r
        out[run_id] = r.json()
    return out


def wait_all(api, ids, status="completed", timeout=120.0):
    deadline = time.monotonic() + timeout
    pending = set(ids)
    runs = {}
    while pending and time.monotonic() < deadline:
        for run_id in list(pending):
            r = api.get("/api/v1/runs/" + run_id)
            if r.status == 429:  # polling 500 runs outruns the test stack's per-key limit
                time.sleep(float(r.header("Retry-After") or 1))
                continue
            assert r.status == 200, r
            run = r.json()
            if run["status"] in TERMINAL:
                runs[run_id] = run
                pending.discard(run_id)
        if pending:
            time.sleep(0.2)
    assert not pending, "%d runs not terminal: %s" % (len(pending), sorted(pending)[:5])
    bad = {k: (v["status"], v["error"]) for k, v in runs.items() if v["status"] != status}
    assert not bad, bad
    return runs


def assert_no_duplicates(stack, api, run_id):
    evs = events(api, run_id)
    once = collections.Counter()
    for e in evs:
        if e["type"] == "step.completed":
            once[("step", e["data"]["step"])] += 1
        elif e["type"] == "tool.result":
            once[("tool", e["data"]["call_id"])] += 1
        elif e["type"].startswith("run.") and e["type"] not in ("run.started",
                                                                   "run.cancel_requested"):
            once[(e["type"], 0)] += 1
    dup = {k: n for k, n in once.items() if n > 1}
    assert not dup, (run_id, dup)
    seqs = [e["seq"] for e in evs]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    rows = stack.sql("SELECT COUNT(*), COUNT(DISTINCT step_id) FROM llm_calls "
                     "WHERE run_id = '%s'" % run_id)
    assert rows[0][0] == rows[0][1]
    msgs = stack.sql("SELECT COUNT(*) FROM messages WHERE run_id = '%s' AND role = 'assistant'"
                     % run_id)
    run = api.get("/api/v1/runs/" + run_id).json()
    llm_steps = len([e for e in evs if e["type"] == "step.completed"
                     and e["data"]["kind"] == "llm"])
    assert int(msgs[0][0]) == llm_steps
    assert int(rows[0][0]) == llm_steps
    return run


def test_sigkill_at_many_points_resumes_without_duplicates(stack, ws_a, toolserver,
                                                           executor_paused):
    api = ws_a.api()
    tool = {"type": "http", "name": "effect", "url": toolserver.url + "/tools/effect"}
    toolserver.behave("effect", [{"delay_ms": 150, "times": 1000}])
    turns = [{"content": "let me check " * 4,
              "tool_call": {"name": "effect", "arguments": {"n": 1}}},
             {"tool_call": {"name": "effect", "arguments": {"n": 2}}},
             {"content": "all done now " * 3}]
    agent = script_agent(api, turns, tools=[tool], chunk_ms=15,
                         retry={"max_attempts": 10, "initial_backoff_ms": 10,
                                "max_backoff_ms": 50, "multiplier": 2})
    ids = [start(api, agent) for _ in range(6)]
    rng = random.Random(7)
    kills = 0
    deadline = time.monotonic() + 90
    while kills < 22 and time.monotonic() < deadline:
        with ExtraExecutor(stack, "crashy") as ex:
            time.sleep(rng.uniform(0.05, 0.6))
            ex.kill(signal.SIGKILL)
            ex.proc.wait(10)
            kills += 1
        # runs held by the dead executor come back when their lease expires
        if all(r["status"] in TERMINAL for r in statuses(api, ids).values()):
            break
    assert kills >= 20 or all(r["status"] == "completed" for r in statuses(api, ids).values())
    with ExtraExecutor(stack, "finisher"):
        runs = wait_all(api, ids, "completed", timeout=120)
    for run_id in ids:
        run = assert_no_duplicates(stack, api, run_id)
        assert run["output"]["response"] == "all done now " * 3
    for key in toolserver.keys_seen():
        if key.split(":")[0] in ids:
            assert toolserver.effects(key) == 1, key
    assert len([k for k in toolserver.keys_seen() if k.split(":")[0] in ids]) == 2 * len(ids)
    assert max(r["attempts"] for r in runs.values()) >= 2, "no run was ever resumed"


def test_two_executors_share_500_runs_each_once(stack, ws_a):
    api = ws_a.api()
    agent = script_agent(api, [{"content": "ok"}])
    with ExtraExecutor(stack, "second"):
        ids = [start(api, agent, prompt="p%d" % i) for i in range(500)]
        runs = wait_all(api, ids, "completed", timeout=180)
    assert all(r["attempts"] == 1 for r in runs.values()), \
        [r["id"] for r in runs.values() if r["attempts"] != 1][:5]
    counts = stack.sql("SELECT COUNT(*), COUNT(DISTINCT run_id) FROM llm_calls "
                       "WHERE run_id IN (%s)" % ",".join("'%s'" % i for i in ids))
    assert counts == [["500", "500"]]
    done = stack.sql("SELECT COUNT(*) FROM events WHERE type = 'run.completed' AND run_id IN (%s)"
                     % ",".join("'%s'" % i for i in ids))
    assert done == [["500"]]


def test_paused_executor_past_its_lease_writes_nothing(stack, ws_a, executor_paused):
    api = ws_a.api()
    agent = script_agent(api, [{"content": " ".join(["slow"] * 200)}], chunk_ms=25)
    with ExtraExecutor(stack, "sleepy") as a:
        run_id = start(api, agent)
        wait_status(api, run_id, "running")
        time.sleep(0.3)
        a.kill(signal.SIGSTOP)
        owner_a = stack.sql("SELECT owner FROM runs WHERE id = '%s'" % run_id)[0][0]
        with ExtraExecutor(stack, "taker"):
            run = wait_status(api, run_id, "completed", timeout=60)
            owner_b = stack.sql("SELECT COUNT(*) FROM steps WHERE run_id = '%s'" % run_id)
            before = events(api, run_id)
            a.kill(signal.SIGCONT)
            time.sleep(3)
            after = events(api, run_id)
    assert owner_a != "NULL"
    assert run["attempts"] == 2
    assert [e["seq"] for e in after] == [e["seq"] for e in before], "the stale executor wrote"
    assert stack.sql("SELECT status FROM runs WHERE id = '%s'" % run_id) == [["completed"]]
    assert owner_b == stack.sql("SELECT COUNT(*) FROM steps WHERE run_id = '%s'" % run_id)


def test_executor_frozen_inside_a_transaction_releases_its_rows(stack, ws_a, executor_paused):
    """An executor stopped while its writer holds the session row in an open
    transaction (claims skip locked rows, commits wait for them) must not
    block the executor that takes its runs over: MariaDB ends the idle
    transaction after executor.lease_s (idle_transaction_timeout)."""
    api = ws_a.api()
    agent = script_agent(api, [{"content": " ".join(["slow"] * 200)}], chunk_ms=25)
    with ExtraExecutor(stack, "frozen") as a:
        run_id = start(api, agent)
        run = wait_status(api, run_id, "running")
        time.sleep(0.3)
        # Hold the run's session row for 3 s: the streaming writer's next
        # commit waits for it, inside its transaction.
        holder = subprocess.Popen(
            ["mariadb", "--no-defaults", "--socket=" + os.path.join(stack.dir, "run",
                                                                   "mysqld.sock"),
             "-uroot", "agentrun", "-e",
             "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION;"
             " SELECT id FROM sessions WHERE id = '%s' FOR UPDATE; SELECT SLEEP(3); COMMIT;"
             % run["session_id"]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 2.5
            # The writer's lock of the session (wrbatch.c, step 1) is waiting.
            while stack.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE"
                            " info LIKE 'SELECT id, workspace_id, last_seq, active_run_id"
                            " FROM sessions %'") == [["0"]]:
                assert time.monotonic() < deadline, "the writer never waited for the row"
                time.sleep(0.05)
            a.kill(signal.SIGSTOP)  # frozen while waiting: it gets the row, then sits on it
        finally:
            holder.wait(30)
        before_takeover = events(api, run_id)
        with ExtraExecutor(stack, "thawed-taker"):
            done = wait_status(api, run_id, "completed", timeout=40)
            after = events(api, run_id)
            a.kill(signal.SIGCONT)
            time.sleep(3)
            later = events(api, run_id)
    assert done["attempts"] == 2
    assert len(after) > len(before_takeover)
    assert [e["seq"] for e in later] == [e["seq"] for e in after], "the stale executor wrote"


def test_tool_addresses_are_guarded(stack, ws_a, toolserver, executor_paused):
    api = ws_a.api()
    tool = {"type": "http", "name": "internal", "url": toolserver.url + "/tools/internal"}
    agent = script_agent(api, [{"tool_call": {"name": "internal", "arguments": {}}},
                               {"content": "after"}], tools=[tool])
    with ExtraExecutor(stack, "guarded", env={"AGENTRUN_TOOLS_ALLOW_PRIVATE": "false"}):
        run_id = start(api, agent)
        wait_status(api, run_id, "completed", timeout=60)
    res = [e for e in events(api, run_id) if e["type"] == "tool.result"][0]["data"]
    assert res["is_error"] is True and "not allowed" in res["output"]
    assert toolserver.deliveries("%s:%s" % (run_id, res["call_id"])) == 0


def test_workspace_concurrency_limit(stack, ws_b, executor_paused):
    api = ws_b.api()
    agent = script_agent(api, [{"content": "a b c d e f g h"}], chunk_ms=40)
    env = {"AGENTRUN_EXECUTOR_WORKSPACE_CONCURRENCY": "2"}
    with ExtraExecutor(stack, "limited", env=env):
        ids = [start(api, agent) for _ in range(6)]
        peak = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            held = int(stack.sql("SELECT COUNT(*) FROM runs WHERE workspace_id = '%s' AND "
                                 "owner IS NOT NULL" % ws_b.id)[0][0])
            peak = max(peak, held)
            if all(r["status"] in TERMINAL for r in statuses(api, ids).values()):
                break
            time.sleep(0.05)
        wait_all(api, ids, "completed", timeout=60)
    assert 1 <= peak <= 2, peak


def test_workspace_at_its_limit_does_not_hide_other_workspaces(stack, ws_a, ws_b,
                                                               executor_paused):
    """A claim takes a quarter of the capacity (here 16) and looks past a
    workspace at its concurrency limit: ws_a's 30 older runs, of which only 2
    may run at once, must not keep ws_b's newer run waiting behind them."""
    api_a, api_b = ws_a.api(), ws_b.api()
    slow = script_agent(api_a, [{"content": "a b c d e f g h"}], chunk_ms=100)
    quick = script_agent(api_b, [{"content": "done"}])
    env = {"AGENTRUN_EXECUTOR_WORKSPACE_CONCURRENCY": "2", "AGENTRUN_EXECUTOR_CAPACITY": "16"}
    flood = [start(api_a, slow) for _ in range(30)]
    other = start(api_b, quick)
    try:
        with ExtraExecutor(stack, "fair", env=env):
            wait_all(api_b, [other], "completed", timeout=20)
            done_a = sum(r["status"] in TERMINAL for r in statuses(api_a, flood).values())
            assert done_a < 8, "ws_b's run waited for ws_a's flood (%d done first)" % done_a
    finally:
        for run_id in flood:
            api_a.post("/api/v1/runs/%s/cancel" % run_id)


def test_writer_lanes_of_two_executors_keep_usage_exact(stack, ws_a):
    """Each executor commits through executor.writers (2) lanes, each with its
    own transactions; the lanes of both executors add to the same usage_daily
    rows. Nothing may be lost or counted twice: the rollups sum to exactly
    the model calls recorded, and every session's event log is gapless."""
    api = ws_a.api()
    agent = script_agent(api, [{"content": "counted once"}])
    with ExtraExecutor(stack, "second"):
        # One session per run: the sessions spread over every lane.
        ids = [start(api, agent, prompt="prompt number %d %s" % (i, "x" * (i % 7)))
               for i in range(300)]
        wait_all(api, ids, "completed", timeout=180)
    calls = stack.sql("SELECT COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), "
                      "SUM(cost_nusd) FROM llm_calls WHERE agent_id = '%s'" % agent)
    usage = stack.sql("SELECT SUM(calls), SUM(prompt_tokens), SUM(completion_tokens), "
                      "SUM(cost_nusd), SUM(runs) FROM usage_daily WHERE agent_id = '%s'"
                      % agent)
    assert calls[0][0] == "300"
    assert usage[0][:4] == calls[0], (usage, calls)
    assert usage[0][4] == "300"
    gaps = stack.sql("SELECT s.id, s.last_seq, COUNT(e.seq), MAX(e.seq) FROM sessions s "
                     "JOIN runs r ON r.session_id = s.id "
                     "JOIN events e ON e.session_id = s.id "
                     "WHERE r.agent_id = '%s' GROUP BY s.id, s.last_seq "
                     "HAVING COUNT(e.seq) <> s.last_seq OR MAX(e.seq) <> s.last_seq" % agent)
    assert gaps == [], gaps[:5]


def test_room_freed_by_ended_runs_is_claimed_at_once(stack, ws_a, executor_paused):
    """An executor claims again as soon as runs it held end, not at its next
    poll: with capacity 1, a poll interval of a minute and no doorbell (an
    extra executor has its own, which the API does not ring), eight instant
    runs still finish one after another within seconds."""
    api = ws_a.api()
    agent = script_agent(api, [{"content": "next please"}])
    ids = [start(api, agent, prompt="q%d" % i) for i in range(8)]
    env = {"AGENTRUN_EXECUTOR_CAPACITY": "1", "AGENTRUN_EXECUTOR_POLL_MS": "60000"}
    t0 = time.monotonic()
    with ExtraExecutor(stack, "one-at-a-time", env=env):
        wait_all(api, ids, "completed", timeout=45)
    assert time.monotonic() - t0 < 30


def test_a_batch_of_failed_and_completed_runs_commits_as_one(stack, ws_a, executor_paused):
    """A commit holding a failed run (error_code set) beside a completed one
    (error_code NULL) is one transaction: it used to fail with MariaDB's
    error 1267 (collations of the derived table's error_code and the
    ascii_bin column) and fall back to a transaction per run."""
    api = ws_a.api()
    ok = new_agent(api)
    bad = new_agent(api, model={"provider": "scripted", "name": "no-such-script"})
    ids = [start(api, ok if i % 2 else bad, prompt="m%d" % i) for i in range(20)]
    name = "mixed-batch"
    with ExtraExecutor(stack, name):
        deadline = time.monotonic() + 60
        runs = {}
        while len(runs) < len(ids) and time.monotonic() < deadline:
            for run_id in ids:
                run = api.get("/api/v1/runs/" + run_id).json()
                if run["status"] in TERMINAL:
                    runs[run_id] = run
            time.sleep(0.2)
    assert sorted(r["status"] for r in runs.values()) == ["completed"] * 10 + ["failed"] * 10
    assert {r["error"]["code"] for r in runs.values() if r["status"] == "failed"} == \
        {"PROVIDER_ERROR"}
    with open(os.path.join(stack.dir, "log", name + ".log"), errors="replace") as f:
        log = f.read()
    assert "batch commit failed" not in log, log[-2000:]
