"""Rows for the run-reading and run-steering tests, written as the database
root so the tests depend on no run-creating endpoint: an agent with an
active version, sessions, runs in any status (active or queued), events.

    seed = Seed(stack, tenant)
    sid = seed.session()
    rid = seed.run(sid, status="waiting_for_input", active=True)
    seed.events(sid, rid, ["run.created", "run.started"])
    seed.row("runs", rid, "status, queued")  ->  ["waiting_for_input", "0"]
"""

import json
import os
import threading
import time

_lock = threading.Lock()
_last = [0, 0]  # ms, counter


def uuid7():
    """A lowercase UUIDv7, strictly increasing within this process (the
    12-bit rand_a counts up within a millisecond)."""
    with _lock:
        ms = int(time.time() * 1000)
        if ms <= _last[0]:
            ms, seq = _last[0], _last[1] + 1
            if seq > 0xFFF:
                ms, seq = ms + 1, 0
        else:
            seq = 0
        _last[0], _last[1] = ms, seq
    b = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
    b[6] = 0x70 | (seq >> 8)
    b[7] = seq & 0xFF
    b[8] = 0x80 | (b[8] & 0x3F)
    h = b.hex()
    return "%s-%s-%s-%s-%s" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])


def q(v):
    """An SQL literal."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (dict, list)):
        v = json.dumps(v)
    return "'" + str(v).replace("\\", "\\\\").replace("'", "''") + "'"


TERMINAL = ("completed", "failed", "timeout", "cancelled", "rejected")



_ZERO_USAGE = {"prompt_tokens": 0, "cached_tokens": 0, "cache_write_tokens": 0,
               "completion_tokens": 0, "total_tokens": 0}
# A minimal payload of each event type, as the writers make it (docs/openapi.yaml).
SEED_DATA = {
    "run.created": {"status": "pending", "queued": False},
    "run.started": {"attempt": 1},
    "step.started": {"step": 0, "kind": "llm", "name": "echo", "attempt": 1},
    "message.delta": {"content": "x"},
    "message.completed": {"role": "assistant", "content": "x"},
    "run.cancel_requested": {"by": ""},
    "run.completed": {"usage": _ZERO_USAGE, "cost_usd": 0, "output": {"response": "x"}},
    "run.failed": {"usage": _ZERO_USAGE, "cost_usd": 0, "output": None,
                   "error": {"code": "PROVIDER_ERROR", "message": "x"}},
    "run.cancelled": {"usage": _ZERO_USAGE, "cost_usd": 0},
}

class Seed:
    def __init__(self, stack, tenant, key="agent"):
        self.stack = stack
        self.tenant = tenant
        self.ws = tenant.id
        self.user = tenant.admin_user
        self.agent_id, self.version_id = self.agent(key)

    def sql(self, query):
        return self.stack.sql(query)

    def agent(self, key):
        """An agent with version 1 active; returns (agent_id, version_id)."""
        aid, vid = uuid7(), uuid7()
        key = "%s-%s" % (key, aid[-12:])
        self.sql(
            "INSERT INTO agents (id, workspace_id, `key`, name) VALUES (%s, %s, %s, %s);"
            "INSERT INTO agent_versions (id, workspace_id, agent_id, version, status, model,"
            " activated_at) VALUES (%s, %s, %s, 1, 'active', %s, NOW(3));" % (
                q(aid), q(self.ws), q(key), q(key), q(vid), q(self.ws), q(aid),
                q({"provider": "scripted", "name": "echo"})))
        return aid, vid

    def session(self, status="open", agent=None):
        sid = uuid7()
        agent_id, version_id = agent or (self.agent_id, self.version_id)
        self.sql(
            "INSERT INTO sessions (id, workspace_id, agent_id, agent_version, agent_version_id,"
            " status, closed_at) VALUES (%s, %s, %s, 1, %s, %s, %s)" % (
                q(sid), q(self.ws), q(agent_id), q(version_id), q(status),
                "NOW(3)" if status == "closed" else "NULL"))
        return sid

    def run(self, session, status="pending", active=False, queued=False, agent=None, **cols):
        """Inserts a run of the session. active=True makes it the session's
        active run; queued=True queues it behind the active one. cols
        override or add columns (values are quoted with q())."""
        rid = uuid7()
        agent_id, version_id = agent or (self.agent_id, self.version_id)
        row = {
            "id": rid, "workspace_id": self.ws, "agent_id": agent_id, "agent_version": 1,
            "agent_version_id": version_id, "session_id": session, "status": status,
            "provider": "scripted", "model": "echo", "input": {"prompt": "hi"},
            "metadata": {}, "trace_id": os.urandom(16).hex(),
            "telemetry_span_id": os.urandom(8).hex(), "created_by_user_id": self.user,
            "queued": 1 if queued else 0,
        }
        row.update(cols)
        names = list(row)
        values = [q(row[n]) for n in names]

        def default(name, expr):
            if name not in cols:
                names.append(name)
                values.append(expr)

        if status != "pending":
            default("started_at", "NOW(3) - INTERVAL 2 SECOND")
        if status in TERMINAL:
            default("ended_at", "NOW(3)")
            stamp = {"completed": "completed_at", "failed": "failed_at",
                     "timeout": "failed_at", "cancelled": "cancelled_at"}.get(status)
            if stamp:
                default(stamp, "NOW(3)")
        stmt = "INSERT INTO runs (%s) VALUES (%s);" % (
            ", ".join(names), ", ".join(values))
        if active:
            stmt += "UPDATE sessions SET active_run_id = %s WHERE id = %s;" % (
                q(rid), q(session))
        self.sql(stmt)
        return rid

    def events(self, session, run, types, data=None):
        """Appends events of run (may be None) to the session's log, as the
        event writer would; returns their seqs. Without data each event gets
        the payload its type has (SEED_DATA, so it conforms to
        docs/openapi.yaml) plus "n": its seq."""
        last = int(self.sql("SELECT last_seq FROM sessions WHERE id = %s" % q(session))[0][0])
        seqs = list(range(last + 1, last + 1 + len(types)))
        rows = ["(%s, %d, %s, %s, %s, %s)" % (
                    q(session), s, q(self.ws), q(run), q(t),
                    q(data if data is not None else dict(SEED_DATA.get(t, {}), n=s)))
                for s, t in zip(seqs, types)]
        # One command-line argument stays well under the kernel's 128 KiB.
        for i in range(0, len(rows), 200):
            self.sql("INSERT INTO events (session_id, seq, workspace_id, run_id, type, data)"
                     " VALUES " + ", ".join(rows[i:i + 200]))
        self.sql("UPDATE sessions SET last_seq = %d WHERE id = %s" % (seqs[-1], q(session)))
        return seqs

    def row(self, table, id_, cols):
        """The columns (SQL list) of one row as strings ("NULL" for NULL)."""
        rows = self.sql("SELECT %s FROM %s WHERE id = %s" % (cols, table, q(id_)))
        assert len(rows) == 1, rows
        return rows[0]

    def event_count(self, run=None, session=None):
        where = "run_id = %s" % q(run) if run else "session_id = %s" % q(session)
        return int(self.sql("SELECT COUNT(*) FROM events WHERE " + where)[0][0])

    def run_events(self, run):
        """[(seq, type, data)] of the run, in seq order."""
        rows = self.sql("SELECT seq, type, data FROM events WHERE run_id = %s ORDER BY seq"
                        % q(run))
        return [(int(s), t, json.loads(d)) for s, t, d in rows]
