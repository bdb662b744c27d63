"""A reference model of the contract's session/run state machine
(/work/shared/API.md §3, docs/api.md "One active run per session",
"Transcript", cancel, input, approvals, events), with no I/O.

test_session_model.py drives the real stack at random and hands what it
observes to this module, which says whether the observation is one the
contract allows. Keeping the model free of HTTP and SQL keeps it readable and
lets its rules be checked on their own (test_session_model.py's
test_model_* tests need no stack).
"""

TERMINAL = frozenset({"completed", "failed", "timeout", "cancelled", "rejected"})
PARKED = frozenset({"waiting_for_input", "awaiting_approval"})
# Statuses of a run that holds its session's turn once it has started.
STARTED = frozenset({"running", "waiting_for_input", "awaiting_approval", "approved"})

# §3 Lifecycle, one edge per committed transition. running -> running is a
# pick-up after a crash, an input answer being picked up, or a resume.
EDGES = {
    "pending": {"running", "cancelled", "awaiting_approval"},
    "running": {"running", "completed", "failed", "timeout", "cancelled",
                "waiting_for_input", "awaiting_approval"},
    "waiting_for_input": {"running", "cancelled", "timeout"},
    "awaiting_approval": {"approved", "rejected", "cancelled", "timeout"},
    "approved": {"running", "cancelled", "timeout"},
}
for _t in TERMINAL:
    EDGES[_t] = set()


def reachable(src):
    """Every status a run in src may show later (reflexive, transitive): an
    observer that polls sees a path of EDGES with steps skipped."""
    seen, todo = {src}, [src]
    while todo:
        for nxt in EDGES[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


# The status an event leaves its run in (§5); None: the status is unchanged.
EVENT_STATUS = {
    "run.created": "pending",
    "run.started": "running",
    "run.waiting_for_input": "waiting_for_input",
    "input.received": "running",
    "run.awaiting_approval": "awaiting_approval",
    "run.approved": "approved",
    "run.completed": "completed",
    "run.failed": "failed",
    "run.timeout": "timeout",
    "run.cancelled": "cancelled",
    "run.rejected": "rejected",
}
TERMINAL_EVENTS = frozenset("run." + s for s in TERMINAL)


class ModelError(AssertionError):
    """An observation the contract does not allow; the message says which
    property and shows the evidence."""


def fail(prop, fmt, *args):
    raise ModelError("[%s] %s" % (prop, fmt % args if args else fmt))


# --- agents ------------------------------------------------------------------------

# What each kind of agent answers, for the "output derives from its own input"
# property: echo-like kinds answer the run's own user turn, script kinds a
# fixed text (their input shows in the tool result instead).
ASK_REPLY = "thanks for the answer"
APPROVE_REPLY = "deployed it"


class Kind:
    """One agent of the model test: how its runs behave when left alone."""

    def __init__(self, name, echoes, natural, reply=None, waits=None):
        self.name = name
        self.echoes = echoes        # the reply is the run's own prompt
        self.natural = natural      # final status when nobody steps in
        self.reply = reply          # the fixed reply of a script agent
        self.waits = waits          # the parked status it stops in, if any

    def expected_reply(self, run):
        return run.prompt if self.echoes else self.reply


KINDS = {
    "echo": Kind("echo", True, "completed"),
    # An echo agent with limits.timeout_s = 1 and a reply of ~4 s.
    "slow": Kind("slow", True, "timeout"),
    # ask_user, then ASK_REPLY; the input becomes the tool result.
    "ask": Kind("ask", False, "completed", ASK_REPLY, "waiting_for_input"),
    # An http tool in approval.before_tools, then APPROVE_REPLY.
    "approve": Kind("approve", False, "completed", APPROVE_REPLY, "awaiting_approval"),
}


# --- the model's view of runs and sessions --------------------------------------


class Run:
    """What the driver asked of one run, and what it last saw of it."""

    def __init__(self, run_id, session, kind, prompt, order):
        self.id = run_id
        self.session = session
        self.kind = KINDS[kind]
        self.prompt = prompt
        self.order = order          # creation order in the model (ids agree)
        self.status = "pending"     # last status observed
        self.doomed = False         # a cancel was accepted: it must end cancelled
        self.answer = None          # the input content given (ask)
        self.decision = None        # "approve" / "reject"
        self.terminal_seen = None   # the first terminal status observed

    def expected_final(self):
        """The terminal status the contract promises, or a set when it
        leaves a choice; None while it may still stay parked."""
        if self.doomed:
            # A cancel of a running run drains its in-flight step; a slow run's
            # step is bounded by the run's own timeout, which may fire first.
            return {"cancelled", "timeout"} if self.kind.name == "slow" else {"cancelled"}
        if self.decision == "reject":
            return {"rejected"}
        if self.kind.waits == "waiting_for_input" and self.answer is None:
            return None
        if self.kind.waits == "awaiting_approval" and self.decision is None:
            return None
        return {self.kind.natural}

    def __repr__(self):
        return "Run(%s %s %r %s%s)" % (self.id[-8:], self.kind.name, self.prompt[:24],
                                      self.status, " doomed" if self.doomed else "")


class Session:
    """A session of the model: its runs in creation order."""

    def __init__(self, session_id, base_kind):
        self.id = session_id
        self.base_kind = base_kind  # the kind of the agent it was created with
        self.runs = []
        self.closed = False
        self.events = []            # every event read so far, in seq order
        self.messages = []          # (content) of run:false messages

    def unfinished(self):
        return [r for r in self.runs if r.status not in TERMINAL]


# --- checks of observations --------------------------------------------------------


def observe_status(run, status):
    """A newly read status of run: it must be reachable from the last one
    and never leave a terminal state."""
    if run.terminal_seen is not None and status != run.terminal_seen:
        fail("terminal-once", "%r left terminal %s for %s", run, run.terminal_seen, status)
    if status not in reachable(run.status):
        fail("lifecycle", "%r went %s -> %s", run, run.status, status)
    run.status = status
    if status in TERMINAL:
        run.terminal_seen = status


def check_output(run, api_run):
    """The run's output derives from its own input: an echo run's (partial)
    response is a prefix of its own prompt, a script run's a prefix of its
    script's reply; a completed run's is all of it."""
    out = api_run.get("output")
    want = run.kind.expected_reply(run)
    if out is None:
        if api_run["status"] == "completed":
            fail("own-output", "%r completed without output", run)
        return
    resp = out.get("response")
    if resp is None:
        return
    if not want.startswith(resp):
        fail("own-output", "%r answered %r, not (a prefix of) %r", run, resp, want)
    if api_run["status"] == "completed" and resp != want:
        fail("own-output", "%r completed with %r, wanted %r", run, resp, want)


SLOW_TIMEOUT_S = 1  # limits.timeout_s of the "slow" agent


def check_timeout(run, api_run):
    """A timeout fires no earlier than limits.timeout_s after the run's own
    started_at (docs/api.md, Limits): a `timeout` run's duration_ms is at
    least the limit."""
    if api_run["status"] == "timeout" and api_run["duration_ms"] < SLOW_TIMEOUT_S * 1000:
        fail("timeout-early", "%r timed out after %d ms (limit %d s)", run,
             api_run["duration_ms"], SLOW_TIMEOUT_S)


def check_final(run):
    """A run that has ended ended as the model predicts. (One that has not
    is the liveness check's business: it may be parked, or queued behind a
    parked run, until its session is cancelled.)"""
    want = run.expected_final()
    if want is None or run.status not in TERMINAL:
        return
    if run.status not in want:
        fail("final-status", "%r ended %s, the model expects %s", run, run.status,
             sorted(want))


def check_event_page(session, page_events):
    """Events read after the ones already seen: seqs continue without a gap
    or a repeat (the log of a session is 1..last_seq)."""
    last = session.events[-1]["seq"] if session.events else 0
    for e in page_events:
        if e["seq"] != last + 1:
            fail("event-seq", "session %s: seq %d after %d", session.id, e["seq"], last)
        last = e["seq"]
    session.events.extend(page_events)


def replay(events):
    """Run statuses from a session's event log, checking every transition is
    an edge of the lifecycle and every run's events come once: run.created
    first and once, at most one terminal event and nothing after it, each
    step completed once, each tool call answered once. Returns
    (statuses by run id, first run.started seq by run id, terminal seq by
    run id)."""
    status, started, ended = {}, {}, {}
    steps, results = set(), set()
    for e in events:
        rid, typ = e["run_id"], e["type"]
        if rid is None:
            continue
        if rid in ended:
            fail("event-once", "run %s: %s (seq %d) after its terminal event", rid, typ,
                 e["seq"])
        if typ == "run.created":
            if rid in status:
                fail("event-once", "run %s created twice (seq %d)", rid, e["seq"])
            status[rid] = "pending"
            continue
        if rid not in status:
            fail("event-once", "run %s: %s (seq %d) before run.created", rid, typ, e["seq"])
        if typ == "step.completed":
            key = (rid, e["data"].get("step"))
            if key in steps:
                fail("event-once", "run %s: step %s completed twice", rid, key[1])
            steps.add(key)
        elif typ == "tool.result":
            key = (rid, e["data"].get("call_id"))
            if key in results:
                fail("event-once", "run %s: tool call %s answered twice", rid, key[1])
            results.add(key)
        nxt = EVENT_STATUS.get(typ)
        if nxt is None:
            continue
        if nxt not in EDGES[status[rid]]:
            fail("replay", "run %s: %s (seq %d) in status %s", rid, typ, e["seq"],
                 status[rid])
        status[rid] = nxt
        if typ == "run.started":
            started.setdefault(rid, e["seq"])
        if typ in TERMINAL_EVENTS:
            ended[rid] = e["seq"]
    return status, started, ended


def check_turns(session_id, run_ids, started, ended):
    """At most one active run per session, queued runs start in order: the
    spans [first run.started, terminal event] of a session's runs do not
    overlap, and runs start in creation (id) order."""
    spans = sorted((started[r], ended.get(r, float("inf")), r) for r in started)
    for (s1, e1, r1), (s2, _, r2) in zip(spans, spans[1:]):
        if s2 < e1:
            fail("one-active", "session %s: run %s started (seq %d) while run %s was "
                 "active (ended at %s)", session_id, r2, s2, r1, e1)
    order = [r for r in run_ids if r in started]
    by_start = [r for _, _, r in spans]
    if order != by_start:
        fail("queue-order", "session %s: runs started in order %s, created %s",
             session_id, by_start, order)
