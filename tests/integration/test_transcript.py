"""Each run answers its own turn (docs/api.md, "Transcript"): a run queued or
interrupting behind another run of its session sees the conversation as it
stood when it started, then its own user turn, and never takes the earlier
run's reply for its own."""

from executor_helpers import new_agent, wait_status

FIRST = "one two three four five six seven eight"
SECOND = "second question here"


def slow_echo(api, chunk_ms=100):
    return new_agent(api, model={"provider": "scripted", "name": "echo",
                                 "params": {"chunk_ms": chunk_ms}})


def history_seen(stack, run_id):
    """The roles and texts of the conversation the run's model call was given,
    as the echo model saw it: the run's own messages come last."""
    return stack.sql("SELECT role, content FROM messages WHERE run_id = '%s' ORDER BY id"
                     % run_id)


def test_enqueued_run_answers_its_own_turn(stack, ws_a):
    api = ws_a.api()
    agent = slow_echo(api)
    r1 = api.post("/api/v1/runs", json={"agent_id": agent, "input": {"prompt": FIRST}},
                  headers={"Idempotency-Key": "t-enq-1-" + agent})
    assert r1.status == 201, r1
    sid = r1.json()["session_id"]
    r2 = api.post("/api/v1/sessions/%s/runs" % sid,
                  json={"input": {"prompt": SECOND}, "multitask": "enqueue"})
    assert r2.status == 201, r2
    one = wait_status(api, r1.json()["id"], "completed")
    two = wait_status(api, r2.json()["id"], "completed")
    assert one["output"] == {"response": FIRST}
    assert two["output"] == {"response": SECOND}, two
    assert two["steps"] >= 1 and two["usage"]["completion_tokens"] > 0, two
    assert history_seen(stack, two["id"]) == [["user", SECOND], ["assistant", SECOND]]
    # R2's model call saw R1's whole turn first (R1 finished before R2 started):
    # its prompt counts R1's question and answer as well as its own question.
    calls = stack.sql("SELECT prompt_tokens FROM llm_calls WHERE run_id = '%s'" % two["id"])
    alone = stack.sql("SELECT prompt_tokens FROM llm_calls WHERE run_id = '%s'" % one["id"])
    assert int(calls[0][0]) > int(alone[0][0]), (calls, alone)


def test_interrupting_run_answers_its_own_turn(stack, ws_a):
    api = ws_a.api()
    agent = slow_echo(api)
    r1 = api.post("/api/v1/runs", json={"agent_id": agent, "input": {"prompt": FIRST}})
    assert r1.status == 201, r1
    sid = r1.json()["session_id"]
    wait_status(api, r1.json()["id"], "running")
    r2 = api.post("/api/v1/sessions/%s/runs" % sid,
                  json={"input": {"prompt": SECOND}, "multitask": "interrupt"})
    assert r2.status == 201, r2
    one = wait_status(api, r1.json()["id"], "cancelled")
    two = wait_status(api, r2.json()["id"], "completed")
    assert one["status"] == "cancelled"
    assert two["output"] == {"response": SECOND}, two
    assert two["steps"] >= 1, two


def test_later_turns_are_not_seen_by_an_earlier_run(stack, ws_a):
    """Three runs queued on one session: each echoes its own prompt, and the
    first does not see the two questions queued behind it."""
    api = ws_a.api()
    agent = slow_echo(api, chunk_ms=30)
    r1 = api.post("/api/v1/runs", json={"agent_id": agent, "input": {"prompt": "alpha beta"}})
    sid = r1.json()["session_id"]
    ids = [r1.json()["id"]]
    for text in ("gamma delta", "epsilon zeta"):
        r = api.post("/api/v1/sessions/%s/runs" % sid,
                     json={"input": {"prompt": text}, "multitask": "enqueue"})
        assert r.status == 201, r
        ids.append(r.json()["id"])
    outs = [wait_status(api, i, "completed")["output"]["response"] for i in ids]
    assert outs == ["alpha beta", "gamma delta", "epsilon zeta"]
    # Each model call saw more of the conversation than the one before.
    prompts = [int(stack.sql("SELECT prompt_tokens FROM llm_calls WHERE run_id = '%s'" % i)[0][0])
               for i in ids]
    assert prompts[0] < prompts[1] < prompts[2], prompts
    # GET …/messages lists them as they were written, each with its run.
    msgs = api.get("/api/v1/sessions/%s/messages" % sid,
                   query={"limit": 100, "order": "asc"}).json()
    assert [(m["run_id"], m["role"]) for m in msgs] == (
        [(i, "user") for i in ids] + [(i, "assistant") for i in ids]), msgs
