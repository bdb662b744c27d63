"""Poison-pill runs (issue 14, item 5): usage figures are clamped at the
edge and absurd scripted usage is refused when a version is saved; a run
whose writes the database refuses ends `failed` without holding up the runs
committed with it; a run that keeps losing its executor is not resumed
forever (executor.max_takeovers). docs/operations.md, "Poison-pill runs"."""

import json
import re
import signal
import time

from executor_helpers import ExtraExecutor, new_agent, script_agent, start, wait_status

TERMINAL = {"completed", "failed", "timeout", "cancelled", "rejected"}
TOKENS_MAX = 100000000  # MONEY_TOKENS_MAX, per figure and model call
INT64_MAX = 9223372036854775807


def script_version(turns):
    return {"model": {"provider": "scripted", "name": "script", "params": {"turns": turns}}}


def test_absurd_scripted_usage_is_refused_when_a_version_is_saved(ws_a):
    api = ws_a.api()
    bad = [
        ({"prompt_tokens": INT64_MAX}, "usage.prompt_tokens"),
        ({"prompt_tokens": 10, "completion_tokens": -1}, "usage.completion_tokens"),
        ({"cached_tokens": TOKENS_MAX + 1}, "usage.cached_tokens"),
        ({"cache_write_tokens": 1.5}, "usage.cache_write_tokens"),
    ]
    for usage, field in bad:
        turns = [{"content": "fine"}, {"content": "x", "usage": usage}]
        r = api.post("/api/v1/agents", json={"key": "poison-%d" % abs(hash(field)),
                                             "version": script_version(turns)})
        assert r.status == 400, (usage, r)
        err = r.json()["error"]
        assert err["code"] == "INVALID_INPUT"
        assert err["details"]["field"] == "version.model.params.turns[1]." + field
        assert err["message"].startswith("version.model.params.turns[1]." + field +
                                         ": must be an integer from 0 to 100000000"), err
    r = api.post("/api/v1/agents", json={"key": "poison-ok",
                                         "version": script_version([{"content": "x"}])})
    assert r.status == 201, r
    agent = r.json()["id"]
    # a new version, and a usage that is not an object
    r = api.post("/api/v1/agents/%s/versions" % agent,
                 json=script_version([{"content": "x", "usage": [1, 2]}]))
    assert r.status == 400, r
    assert r.json()["error"]["details"]["field"] == "model.params.turns[0].usage"
    # the maximum itself is a usage a call may report
    most = {"prompt_tokens": TOKENS_MAX, "cached_tokens": 0, "cache_write_tokens": 0,
            "completion_tokens": TOKENS_MAX}
    r = api.post("/api/v1/agents/%s/versions" % agent,
                 json=script_version([{"content": "x", "usage": most}]))
    assert r.status == 201, r
    # other providers' params are theirs: not checked
    r = api.post("/api/v1/agents/%s/versions" % agent,
                 json={"model": {"provider": "openai", "name": "gpt-4o",
                                 "params": {"turns": [{"usage": {"prompt_tokens": -1}}]}}})
    assert r.status == 201, r


def test_scripted_usage_saved_before_the_check_is_clamped(stack, ws_a):
    """A version stored before the API refused absurd usage (here written by
    hand) used to make the run's commit fail on the CHECK constraints (a
    negative count) or the rollup overflow, and the run was picked up again
    forever. The executor clamps each figure to 0..10^8 and cached tokens to
    the prompt."""
    api = ws_a.api()
    agent = script_agent(api, [{"content": "clamped", "usage": {"prompt_tokens": 1}}])
    turns = [{"content": "clamped",
              "usage": {"prompt_tokens": 9000000000000000000, "cached_tokens": 2 * 10**18,
                        "cache_write_tokens": 5, "completion_tokens": -7}}]
    model = {"provider": "scripted", "name": "script", "route_id": None,
             "params": {"turns": turns}}
    stack.sql("UPDATE agent_versions SET model = '%s' WHERE agent_id = '%s'"
              % (json.dumps(model), agent))
    run = wait_status(api, start(api, agent), TERMINAL, timeout=30)
    assert run["status"] == "completed", run
    assert run["usage"]["prompt_tokens"] == TOKENS_MAX
    assert run["usage"]["cached_tokens"] == TOKENS_MAX  # at most the prompt
    assert run["usage"]["cache_write_tokens"] == 0
    assert run["usage"]["completion_tokens"] == 0
    # 10^8 cached tokens at $0.10 per million: $10, exactly
    calls = stack.sql("SELECT prompt_tokens, cached_tokens, cache_write_tokens, "
                      "completion_tokens, cost_nusd FROM llm_calls WHERE run_id = '%s'"
                      % run["id"])
    assert calls == [[str(TOKENS_MAX), str(TOKENS_MAX), "0", "0", "10000000000"]]
    assert run["attempts"] == 1


def test_a_run_whose_writes_fail_ends_failed_and_its_batch_commits(stack, ws_a,
                                                                   executor_paused):
    """The rollup row of one run's agent is one call away from overflowing
    BIGINT (error 1690). Its batch fails; the other runs of the batch commit
    run by run; the poisoned run's own commit fails alone three times and it
    ends failed with INTERNAL_ERROR, its refused call unrecorded. It used to
    be given up, taken over after its lease, and fail again, forever."""
    api = ws_a.api()
    ok = new_agent(api)
    poison = new_agent(api)
    ids = [start(api, ok, prompt="fine %d" % i) for i in range(8)]
    bad = start(api, poison, prompt="poisoned")
    stack.sql(
        "INSERT INTO usage_daily (workspace_id, day, agent_id, user_id, provider, model, slot,"
        " cost_nusd) SELECT workspace_id, UTC_DATE(), agent_id, created_by_user_id, provider,"
        " model, 0, %d FROM runs WHERE id = '%s'"
        " ON DUPLICATE KEY UPDATE cost_nusd = VALUES(cost_nusd)" % (INT64_MAX - 10, bad))
    name = "poison-batch"
    try:
        with ExtraExecutor(stack, name, env={"AGENTRUN_EXECUTOR_WRITERS": "1"}):
            runs = {i: wait_status(api, i, TERMINAL, timeout=30) for i in ids}
            failed = wait_status(api, bad, TERMINAL, timeout=20)
    finally:
        stack.sql("UPDATE usage_daily SET cost_nusd = 0 WHERE agent_id = '%s'" % poison)
    assert {r["status"] for r in runs.values()} == {"completed"}
    assert failed["status"] == "failed", failed
    assert failed["error"]["code"] == "INTERNAL_ERROR"
    assert "refused to record a step" in failed["error"]["message"]
    assert "1690" in failed["error"]["message"]
    assert failed["attempts"] == 1, "the run was picked up again"
    # nothing of the refused step was written; its end was, once
    assert stack.sql("SELECT COUNT(*) FROM llm_calls WHERE run_id = '%s'" % bad) == [["0"]]
    assert failed["usage"]["prompt_tokens"] == 0 and failed["cost_usd"] == 0
    ends = stack.sql("SELECT type FROM events WHERE run_id = '%s' AND type LIKE 'run.%%'"
                     " ORDER BY seq" % bad)
    assert ends == [["run.created"], ["run.started"], ["run.failed"]], ends
    session = stack.sql("SELECT active_run_id IS NULL FROM sessions WHERE id = '%s'"
                        % failed["session_id"])
    assert session == [["1"]]
    with open("%s/log/%s.log" % (stack.dir, name), errors="replace") as f:
        log = f.read()
    assert "batch commit failed, retrying run by run" in log
    # the failed batches held other runs, which committed one by one
    sizes = [int(m) for m in re.findall(r'batch commit failed, retrying run by run" runs=(\d+)',
                                        log)]
    assert max(sizes) > 1, sizes
    assert "run's writes refused, ending it" in log
    assert "abandoning" not in log, log[-3000:]


def test_a_run_taken_over_too_often_ends_failed(stack, ws_a, executor_paused):
    """Each executor that holds the run is killed; the next one takes it
    over once the lease (4 s on the test stack) expires. With
    executor.max_takeovers = 2 the third takeover ends the run failed
    instead of resuming it once more."""
    api = ws_a.api()
    agent = script_agent(api, [{"content": "slow words " * 400}], chunk_ms=100,
                         limits={"timeout_s": 600})
    run_id = start(api, agent)
    env = {"AGENTRUN_EXECUTOR_MAX_TAKEOVERS": "2", "AGENTRUN_EXECUTOR_POLL_MS": "100"}
    for pickup in (1, 2, 3):
        with ExtraExecutor(stack, "takeover-%d" % pickup, env=env) as ex:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                run = api.get("/api/v1/runs/" + run_id).json()
                if run["attempts"] == pickup and run["status"] == "running":
                    break
                time.sleep(0.1)
            assert run["attempts"] == pickup and run["status"] == "running", run
            time.sleep(0.3)  # it streams a few words
            ex.kill(signal.SIGKILL)
            ex.proc.wait(10)
    with ExtraExecutor(stack, "takeover-4", env=env):
        run = wait_status(api, run_id, TERMINAL, timeout=20)
    assert run["status"] == "failed", run
    assert stack.sql("SELECT takeovers FROM runs WHERE id = '%s'" % run_id) == [["3"]]
    assert run["error"]["code"] == "INTERNAL_ERROR"
    assert "taken over 3 times" in run["error"]["message"], run["error"]
    assert "executor.max_takeovers" in run["error"]["message"]
    assert run["attempts"] == 4
    # a run parked and answered is picked up afresh: not a takeover
    asker = new_agent(api, model={"provider": "scripted", "name": "script", "params": {
        "turns": [{"tool_call": {"name": "ask_user", "arguments": {"question": "q?"}}},
                  {"content": "thanks"}]}}, tools=[{"type": "ask_user"}])
    with ExtraExecutor(stack, "takeover-5", env=env):
        parked = start(api, asker)
        wait_status(api, parked, "waiting_for_input", timeout=20)
        r = api.post("/api/v1/runs/%s/input" % parked, json={"content": "a"})
        assert r.status == 200, r
        done = wait_status(api, parked, TERMINAL, timeout=20)
    assert done["status"] == "completed", done
    assert stack.sql("SELECT takeovers FROM runs WHERE id = '%s'" % parked) == [["0"]]
