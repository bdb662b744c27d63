"""Walking `before` cursors newest-first while other runs are being created
sees every run that existed when the walk began exactly once (API.md §1)."""

import threading

from runs_fixtures import make_agent


def test_cursor_walk_under_concurrent_creation(stack, ws_a):
    agent_id, _, _ = make_agent(stack, ws_a)
    api = ws_a.api()
    # each run gets its own session, so none is refused for an active run
    existing = set()
    for _ in range(45):
        r = api.post("/api/v1/runs", json={"agent_id": agent_id, "experiment_id": "walk"})
        assert r.status == 201, r
        existing.add(r.json()["id"])

    stop = threading.Event()
    created = []

    def writer():
        client = ws_a.api()
        for _ in range(200):
            if stop.is_set():
                return
            r = client.post("/api/v1/runs", json={"agent_id": agent_id,
                                                  "experiment_id": "walk"})
            if r.status == 201:
                created.append(r.json()["id"])

    t = threading.Thread(target=writer)
    t.start()
    try:
        seen = []
        before = None
        for _ in range(200):
            q = {"limit": 7, "experiment_id": "walk"}
            if before:
                q["before"] = before
            r = api.get("/api/v1/runs", query=q)
            assert r.status == 200, r
            page = r.json()
            if not page:
                break
            ids = [x["id"] for x in page]
            assert ids == sorted(ids, reverse=True)
            seen.extend(ids)
            before = ids[-1]
    finally:
        stop.set()
        t.join(60)
    assert len(seen) == len(set(seen)), "a run was listed twice"
    assert existing <= set(seen), "runs missing: %s" % (existing - set(seen))
    assert created, "the writer created nothing meanwhile"
