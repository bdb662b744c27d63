"""Rows the run tests need, written straight into the database as root, so
run creation can be tested independently of the agents API."""

import json
import os
import time
import uuid


def uuid7():
    ms = int(time.time() * 1000)
    rand = int.from_bytes(os.urandom(10), "big")
    b = ms.to_bytes(6, "big") + rand.to_bytes(10, "big")
    b = bytearray(b)
    b[6] = 0x70 | (b[6] & 0x0F)
    b[8] = 0x80 | (b[8] & 0x3F)
    return str(uuid.UUID(bytes=bytes(b)))


def q(s):
    """A SQL string literal (test data only, never user input)."""
    if s is None:
        return "NULL"
    return "'" + str(s).replace("\\", "\\\\").replace("'", "''") + "'"


def make_agent(stack, tenant, key=None, versions=(("active", None),), model=None):
    """Creates an agent with versions [(status, input_schema)...]; returns
    (agent_id, key, [version_id...])."""
    agent_id = uuid7()
    key = key or "agent-" + agent_id[-8:]
    model = model or {"provider": "scripted", "name": "echo"}
    stack.sql("INSERT INTO agents (id, workspace_id, `key`, name) VALUES (%s, %s, %s, %s)" % (
        q(agent_id), q(tenant.id), q(key), q(key)))
    vids = []
    for n, (status, schema) in enumerate(versions, start=1):
        vid = uuid7()
        stack.sql(
            "INSERT INTO agent_versions (id, workspace_id, agent_id, version, status, model,"
            " system_prompt, input_schema, tools, limits, retry, approval) VALUES"
            " (%s, %s, %s, %d, %s, %s, 'be brief', %s, '[]', '{}', '{}', '{}')" % (
                q(vid), q(tenant.id), q(agent_id), n, q(status), q(json.dumps(model)),
                q(json.dumps(schema)) if schema is not None else "NULL"))
        vids.append(vid)
    return agent_id, key, vids
