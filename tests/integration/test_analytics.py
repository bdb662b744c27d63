"""Analytics, billing, the price table and the SQL report views (API.md §4, §6;
docs/reports.md).

One tenant gets a fixed set of runs that really execute (the scripted model
and the fake OpenAI/Anthropic provider) with exact token counts: cached and
cache-write tokens, four models (one without a price), three users, runs
moved (as the database root) to yesterday and the day before, and one run
that was created yesterday and made its second model call today. Every
figure of every endpoint, view and `agentrunctl report` is compared with
the costs worked out by hand below.
"""

import csv
import datetime
import io
import json
import math
import os
import pwd
import time
import uuid

import pytest

from executor_helpers import new_agent, script_agent, start, wait_status

# Unit prices in nano-dollars per token ($1/Mtok = 1000 nusd per token).
SCRIPTED = (1000, 100, 1250, 2000)  # seeded scripted/*: $1 in, $0.10 cached, $1.25 write, $2 out
OA_PRICES = ("0.5", "0.05", "0.5", "1.5")  # set below with agentrunctl price set
OA = (500, 50, 500, 1500)
CL_PRICES = ("3", "0.3", "3.75", "15")
CL = (3000, 300, 3750, 15000)
FREE = (0, 0, 0, 0)  # a model without a price

SFX = uuid.uuid4().hex[:8]
OA_MODEL = "an-oa-" + SFX
CL_MODEL = "an-cl-" + SFX
FREE_MODEL = "an-free-" + SFX

FIELDS = ("runs", "calls", "prompt_tokens", "cached_tokens", "cache_write_tokens",
          "completion_tokens", "cost_nusd")
PRICES_TTL_S = 5.5  # the executor reloads the price table every 5 s


def usage(prompt, cached=0, cache_write=0, completion=0):
    return {"prompt_tokens": prompt, "cached_tokens": cached, "cache_write_tokens": cache_write,
            "completion_tokens": completion}


def call_cost(u, p):
    """API.md §6: (prompt − cached − cache_write) × in + cached × cached_in
    + cache_write × write + completion × out."""
    return ((u["prompt_tokens"] - u["cached_tokens"] - u["cache_write_tokens"]) * p[0]
            + u["cached_tokens"] * p[1] + u["cache_write_tokens"] * p[2]
            + u["completion_tokens"] * p[3])


# The calls each agent makes, with their cost worked out by hand.
U_S1 = usage(1000, 400, 100, 50)  # 500*1000 + 400*100 + 100*1250 + 50*2000
C_S1 = 765000
U_S2 = usage(1200, 600, 0, 80)  # 600*1000 + 600*100 + 80*2000
C_S2 = 820000
U_OA = usage(2000, 1500, 0, 10)  # 500*500 + 1500*50 + 10*1500
C_OA = 340000
U_CL = usage(1000, 600, 300, 20)  # 100*3000 + 600*300 + 300*3750 + 20*15000
C_CL = 1905000
U_FREE = usage(100, 0, 0, 5)  # no price: 0
U_Y = usage(300, 0, 0, 30)  # 300*1000 + 30*2000
C_Y = 360000
U_X1 = usage(500, 0, 0, 10)  # 500*1000 + 10*2000
C_X1 = 520000
U_X2 = usage(700, 100, 200, 40)  # 400*1000 + 100*100 + 200*1250 + 40*2000
C_X2 = 740000
U_D = usage(10, 0, 0, 1)  # 10*1000 + 1*2000
C_D = 12000
U_R = usage(20, 0, 0, 2)  # 20*1000 + 2*2000
C_R = 24000
DURATIONS_MS = [400, 100, 1000, 300, 200]  # p50 300, p95 400 + 0.8 * 600 = 880, mean 400

NO_RETRY_WAIT = {"max_attempts": 2, "initial_backoff_ms": 0, "max_backoff_ms": 0,
                 "multiplier": 1}


def test_costs_worked_out_by_hand_follow_the_formula():
    for u, p, c in [(U_S1, SCRIPTED, C_S1), (U_S2, SCRIPTED, C_S2), (U_OA, OA, C_OA),
                    (U_CL, CL, C_CL), (U_FREE, FREE, 0), (U_Y, SCRIPTED, C_Y),
                    (U_X1, SCRIPTED, C_X1), (U_X2, SCRIPTED, C_X2), (U_D, SCRIPTED, C_D),
                    (U_R, SCRIPTED, C_R)]:
        assert call_cost(u, p) == c


class Run:
    """What the test knows about one run: who, which model, which calls on
    which day (0 = today, -1 = yesterday, …) and what each cost."""

    def __init__(self, rid, agent, user, pm, created=0, calls=(), status="completed"):
        self.id, self.agent, self.user, self.pm = rid, agent, user, pm
        self.created, self.calls, self.status = created, list(calls), status

    @property
    def cost(self):
        return sum(c for _, _, c in self.calls)


def zero():
    return dict.fromkeys(FIELDS, 0)


def add_call(g, u, cost):
    g["calls"] += 1
    for k in ("prompt_tokens", "cached_tokens", "cache_write_tokens", "completion_tokens"):
        g[k] += u[k]
    g["cost_nusd"] += cost


def expected(runs, lo, hi, key):
    """Groups over the days lo..hi (offsets, inclusive): a run counts on its
    creation day, a call on its own day. key(run, day) names the group."""
    groups = {}
    for r in runs:
        if lo <= r.created <= hi:
            groups.setdefault(key(r, r.created), zero())["runs"] += 1
        for day, u, cost in r.calls:
            if lo <= day <= hi:
                add_call(groups.setdefault(key(r, day), zero()), u, cost)
    return groups


def total_of(groups):
    t = zero()
    for g in groups.values():
        for k in FIELDS:
            t[k] += g[k]
    return t


def credits(nusd, per_usd=1000):
    return math.ceil(nusd * per_usd / 10**9)


def check_sums(got, want):
    """An API/CLI JSON group against the expected integer sums."""
    assert {k: got[k] for k in FIELDS} == want
    assert round(got["cost_usd"] * 1e9) == want["cost_nusd"]
    assert got["credits_used"] == credits(want["cost_nusd"])


def os_user():
    return pwd.getpwuid(os.getuid()).pw_name


def admin_config(stack):
    """A config whose database user is the MariaDB administrator: the OS user
    that owns the stack's mariadbd, over the socket (docs/reports.md)."""
    path = os.path.join(stack.dir, "admin.conf")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write("[database]\nsocket = %s\nuser = %s\nname = agentrun\n" % (
                os.path.join(stack.dir, "run", "mysqld.sock"), os_user()))
        os.chmod(path, 0o600)
    return path


def ctl_as(stack, config, *args):
    return stack.run([stack.ctl_bin, "-c", config] + list(args), check=False)


def as_user(stack, user, password, query):
    """Runs SQL as another MariaDB account; returns the CompletedProcess."""
    return stack.run(["mariadb", "--no-defaults",
                      "--socket=" + os.path.join(stack.dir, "run", "mysqld.sock"),
                      "-u" + user, "-p" + password, "--batch", "--skip-column-names",
                      "agentrun", "-e", query], check=False)


def utc_today(stack):
    return datetime.date.fromisoformat(stack.sql("SELECT UTC_DATE()")[0][0])


def avoid_midnight(stack):
    """The fixture compares days: do not straddle a real UTC midnight."""
    left = int(stack.sql("SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), "
                         "UTC_DATE() + INTERVAL 1 DAY)")[0][0])
    if left < 240:
        time.sleep(left + 2)


def route_agent(admin, fake, provider, model, **kw):
    base = fake.openai_base_url if provider == "openai" else fake.anthropic_base_url
    r = admin.post("/api/v1/routes", json={"provider": provider, "model": model,
                                           "base_url": base, "api_key": "sk-test"})
    assert r.status == 201, r
    return new_agent(admin, model={"provider": provider, "name": model,
                                   "route_id": r.json()["id"]}, **kw)


class Data:
    pass


@pytest.fixture(scope="module")
def data(stack, provider, toolserver):
    avoid_midnight(stack)
    d = Data()
    d.t = t = stack.new_tenant("analytics")
    d.u1 = t.new_user("u1")
    d.u2 = t.new_user("u2")
    d.k1 = t.new_key(d.u1, "member", "u1")[1]
    d.k2 = t.new_key(d.u2, "member", "u2")[1]
    admin, m1, m2 = t.api(), t.api(d.k1), t.api(d.k2)
    U0, U1, U2 = t.admin_user, d.u1, d.u2

    for model, prices in ((OA_MODEL, OA_PRICES), (CL_MODEL, CL_PRICES)):
        provider_name = "openai" if model == OA_MODEL else "anthropic"
        stack.ctl("price", "set", provider_name, model, *prices)
    time.sleep(PRICES_TTL_S)

    tool = {"type": "http", "name": "lookup", "url": toolserver.url + "/tools/lookup"}
    a_s = script_agent(admin, [{"tool_call": {"name": "lookup", "arguments": {}}, "usage": U_S1},
                               {"content": "done", "usage": U_S2}], tools=[tool])
    provider.script(OA_MODEL, [{"content": "oa", "usage": U_OA}])
    provider.script(CL_MODEL, [{"content": "cl", "usage": U_CL}])
    provider.script(FREE_MODEL, [{"content": "free", "usage": U_FREE}])
    a_o = route_agent(admin, provider, "openai", OA_MODEL)
    a_c = route_agent(admin, provider, "anthropic", CL_MODEL)
    a_f = route_agent(admin, provider, "openai", FREE_MODEL)
    a_y = script_agent(admin, [{"content": "y", "usage": U_Y}])
    a_x = script_agent(admin, [{"tool_call": {"name": "lookup", "arguments": {}}, "usage": U_X1},
                               {"content": "x", "usage": U_X2}], tools=[tool])
    a_d = script_agent(admin, [{"content": "d", "usage": U_D}])
    # reliability: v1 completes after one retry, v2 fails after two attempts,
    # v3 waits for an approval and is cancelled
    a_r = script_agent(admin, [{"fail": {"status": 500, "times": 1}},
                               {"content": "r", "usage": U_R}], retry=NO_RETRY_WAIT)
    for body in ({"model": {"provider": "scripted", "name": "script",
                            "params": {"turns": [{"fail": {"status": 500, "times": 5}}]}},
                  "retry": NO_RETRY_WAIT},
                 {"model": {"provider": "scripted", "name": "script",
                            "params": {"turns": [{"content": "never"}]}},
                  "approval": {"required": True, "before_tools": []}}):
        r = admin.post("/api/v1/agents/%s/versions" % a_r, json=body)
        assert r.status == 201, r
        n = r.json()["version"]
        assert admin.post("/api/v1/agents/%s/versions/%d/activate" % (a_r, n)).status == 200
    d.agents = {"s": a_s, "o": a_o, "c": a_c, "f": a_f, "y": a_y, "x": a_x, "d": a_d, "r": a_r}

    S, SS = "scripted/script", "scripted"
    runs = []

    def run(api, agent, user, pm, calls, status="completed", path=None):
        if path is None:
            rid = start(api, agent)
        else:
            r = api.post(path, json={"prompt": "go"})
            assert r.status == 201, r
            rid = r.json()["id"]
        runs.append(Run(rid, agent, user, pm, 0, [(0, u, c) for u, c in calls], status))
        return runs[-1]

    d.r1 = run(admin, a_s, U0, S, [(U_S1, C_S1), (U_S2, C_S2)])
    d.r2 = run(m1, a_s, U1, S, [(U_S1, C_S1), (U_S2, C_S2)])
    d.r3 = run(m1, a_o, U1, "openai/" + OA_MODEL, [(U_OA, C_OA)])
    d.r4 = run(m2, a_c, U2, "anthropic/" + CL_MODEL, [(U_CL, C_CL)])
    d.r5 = run(m2, a_f, U2, "openai/" + FREE_MODEL, [(U_FREE, 0)])
    d.r6 = run(m1, a_y, U1, S, [(U_Y, C_Y)])
    d.r7 = run(m2, a_x, U2, S, [(U_X1, C_X1), (U_X2, C_X2)])
    d.r8 = run(admin, a_y, U0, S, [(U_Y, C_Y)])
    d.dur = [run(admin, a_d, U0, S, [(U_D, C_D)]) for _ in DURATIONS_MS]
    d.rr1 = run(admin, a_r, U0, S, [(U_R, C_R)], path="/api/v1/agents/%s/versions/1/runs" % a_r)
    d.rr2 = run(admin, a_r, U0, S, [], "failed", path="/api/v1/agents/%s/versions/2/runs" % a_r)
    d.rr3 = run(admin, a_r, U0, S, [], "cancelled",
                path="/api/v1/agents/%s/versions/3/runs" % a_r)
    wait_status(admin, d.rr3.id, "awaiting_approval")
    assert admin.post("/api/v1/runs/%s/cancel" % d.rr3.id, json={}).status == 200
    for r in runs:
        got = wait_status(admin, r.id, r.status)
        assert round(got["cost_usd"] * 1e9) == r.cost, r.id

    # Another workspace's run, which must never show up.
    d.other = stack.new_tenant("analytics-other")
    oapi = d.other.api()
    oa = script_agent(oapi, [{"content": "o", "usage": usage(5000, 0, 0, 500)}])
    d.other_run = wait_status(oapi, start(oapi, oa), "completed")["id"]

    today = utc_today(stack)
    ws = t.id
    # r6 happened entirely yesterday, r8 the day before (their agent and user
    # pairs are their own, so their rollup rows move whole).
    for r, days, user in ((d.r6, 1, U1), (d.r8, 2, U0)):
        stack.sql("UPDATE runs SET created_at = created_at - INTERVAL %d DAY, "
                  "started_at = started_at - INTERVAL %d DAY, ended_at = ended_at - INTERVAL %d DAY,"
                  " completed_at = completed_at - INTERVAL %d DAY WHERE id = '%s'"
                  % (days, days, days, days, r.id))
        stack.sql("UPDATE llm_calls SET created_at = created_at - INTERVAL %d DAY "
                  "WHERE run_id = '%s'" % (days, r.id))
        stack.sql("UPDATE usage_daily SET day = day - INTERVAL %d DAY WHERE workspace_id = '%s'"
                  " AND agent_id = '%s' AND user_id = '%s' AND day = UTC_DATE()"
                  % (days, ws, a_y, user))
        r.created = -days
        r.calls = [(-days, u, c) for _, u, c in r.calls]
    # r7 was created yesterday and made its first call then; its second call
    # is today's. Its rollup row is split the same way.
    stack.sql("UPDATE runs SET created_at = created_at - INTERVAL 1 DAY WHERE id = '%s'" % d.r7.id)
    stack.sql("UPDATE llm_calls SET created_at = created_at - INTERVAL 1 DAY WHERE run_id = '%s'"
              " ORDER BY created_at, step_id LIMIT 1" % d.r7.id)
    stack.sql("UPDATE usage_daily SET runs = runs - 1, calls = calls - 1, "
              "prompt_tokens = prompt_tokens - 500, completion_tokens = completion_tokens - 10, "
              "cost_nusd = cost_nusd - 520000 WHERE workspace_id = '%s' AND agent_id = '%s' "
              "AND day = UTC_DATE()" % (ws, a_x))
    stack.sql("INSERT INTO usage_daily (workspace_id, day, agent_id, user_id, provider, model, "
              "runs, calls, prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens, "
              "cost_nusd) VALUES ('%s', UTC_DATE() - INTERVAL 1 DAY, '%s', '%s', 'scripted', "
              "'script', 1, 1, 500, 0, 0, 10, 520000)" % (ws, a_x, U2))
    d.r7.created = -1
    d.r7.calls = [(-1, U_X1, C_X1), (0, U_X2, C_X2)]
    # Known durations for agent d.
    for r, ms in zip(d.dur, DURATIONS_MS):
        stack.sql("UPDATE runs SET started_at = created_at, ended_at = created_at + INTERVAL %d "
                  "MICROSECOND, completed_at = created_at + INTERVAL %d MICROSECOND "
                  "WHERE id = '%s'" % (ms * 1000, ms * 1000, r.id))

    if utc_today(stack) != today:
        pytest.skip("UTC midnight passed while the runs were made")
    d.today = today
    d.day = lambda off: (today + datetime.timedelta(days=off)).isoformat()
    d.runs = runs
    d.admin, d.m1, d.m2 = admin, m1, m2
    d.users = (U0, U1, U2)
    return d


KEYS = {
    "day": lambda d: (lambda r, day: d.day(day)),
    "agent": lambda d: (lambda r, day: r.agent),
    "model": lambda d: (lambda r, day: r.pm),
    "user": lambda d: (lambda r, day: r.user),
}


# --- the figures by hand ----------------------------------------------------------


def test_hand_totals(data):
    """The whole dataset, summed by hand: today, yesterday, the day before."""
    by_day = expected(data.runs, -2, 0, KEYS["day"](data))
    today, yday, before = by_day[data.day(0)], by_day[data.day(-1)], by_day[data.day(-2)]
    # today: r1 + r2 (1585000 each), r3 340000, r4 1905000, r5 0, 5 x 12000,
    # rr1 24000, r7's second call 740000
    assert today["cost_nusd"] == 6239000
    assert today["runs"] == 13 and today["calls"] == 14
    assert yday["cost_nusd"] == 880000 and yday["runs"] == 2 and yday["calls"] == 2
    assert before["cost_nusd"] == 360000 and before["runs"] == 1 and before["calls"] == 1
    assert total_of(by_day)["cost_nusd"] == 7479000
    # credits: per day 7 + 1 + 1, but ceil(7.479) = 8 for the total
    assert [credits(g["cost_nusd"]) for g in (today, yday, before)] == [7, 1, 1]
    assert credits(7479000) == 8


# --- /analytics/runs/{id}/costs ------------------------------------------------------


def test_run_costs_every_run(data):
    for r in data.runs:
        resp = data.m1.get("/api/v1/analytics/runs/%s/costs" % r.id)  # any key of the workspace
        assert resp.status == 200, resp
        body = resp.json()
        assert body["run_id"] == r.id
        assert body["total_cost_nusd"] == r.cost
        assert round(body["total_cost_usd"] * 1e9) == r.cost
        run = data.admin.get("/api/v1/runs/" + r.id).json()
        assert round(run["cost_usd"] * 1e9) == r.cost  # exactly the run's cost
        if not r.calls:
            assert body["models"] == []
            continue
        provider, model = r.pm.split("/", 1)
        want = {"provider": provider, "model": model, "calls": len(r.calls), "cost_nusd": r.cost,
                "priced": model != FREE_MODEL}
        for k in ("prompt_tokens", "cached_tokens", "cache_write_tokens", "completion_tokens"):
            want[k] = sum(u[k] for _, u, _ in r.calls)
        assert len(body["models"]) == 1
        got = body["models"][0]
        assert round(got.pop("cost_usd") * 1e9) == r.cost
        assert got == want


def test_run_costs_literal(data):
    body = data.admin.get("/api/v1/analytics/runs/%s/costs" % data.r7.id).json()
    assert body["total_cost_nusd"] == 1260000  # 520000 yesterday + 740000 today
    assert body["total_cost_usd"] == pytest.approx(0.00126, abs=1e-12)
    assert body["models"] == [{
        "provider": "scripted", "model": "script", "calls": 2, "prompt_tokens": 1200,
        "cached_tokens": 100, "cache_write_tokens": 200, "completion_tokens": 50,
        "cost_usd": pytest.approx(0.00126, abs=1e-12), "cost_nusd": 1260000, "priced": True}]
    free = data.admin.get("/api/v1/analytics/runs/%s/costs" % data.r5.id).json()
    assert free["models"][0]["priced"] is False and free["total_cost_nusd"] == 0


def test_run_costs_not_found(data, stack):
    api = data.admin
    assert api.get("/api/v1/analytics/runs/%s/costs" % data.other_run).status == 404
    assert api.get("/api/v1/analytics/runs/not-an-id/costs").status == 404
    assert api.get("/api/v1/analytics/runs/%s/costs" % str(uuid.uuid4())).status == 404
    r = data.other.api().get("/api/v1/analytics/runs/%s/costs" % data.r1.id)
    assert r.status == 404 and r.json()["error"]["code"] == "RESOURCE_NOT_FOUND"
    assert stack.client().get("/api/v1/analytics/runs/%s/costs" % data.r1.id).status == 401
    assert api.post("/api/v1/analytics/runs/%s/costs" % data.r1.id, json={}).status == 405


# --- /analytics/usage ----------------------------------------------------------------


@pytest.mark.parametrize("group_by", ["day", "agent", "model", "user"])
def test_usage_groups(data, group_by):
    resp = data.m2.get("/api/v1/analytics/usage", query={
        "from": data.day(-2), "to": data.day(0), "group_by": group_by})
    assert resp.status == 200, resp
    body = resp.json()
    assert (body["from"], body["to"], body["group_by"]) == (data.day(-2), data.day(0), group_by)
    want = expected(data.runs, -2, 0, KEYS[group_by](data))
    assert [g["key"] for g in body["groups"]] == sorted(want)
    for g in body["groups"]:
        check_sums(g, want[g["key"]])
    check_sums(body["totals"], total_of(want))
    assert body["totals"]["cost_nusd"] == 7479000 and body["totals"]["credits_used"] == 8


def test_usage_by_model_literal(data):
    body = data.admin.get("/api/v1/analytics/usage", query={
        "from": data.day(-2), "group_by": "model"}).json()
    got = {g["key"]: (g["runs"], g["calls"], g["cost_nusd"]) for g in body["groups"]}
    assert got == {
        "anthropic/" + CL_MODEL: (1, 1, 1905000),
        "openai/" + FREE_MODEL: (1, 1, 0),
        "openai/" + OA_MODEL: (1, 1, 340000),
        # runs r1, r2, r6, r7, r8, five d, three r; calls 2 + 2 + 1 + 2 + 1 + 5 + 1
        "scripted/script": (13, 14, 2 * 1585000 + 2 * 360000 + 1260000 + 5 * 12000 + 24000),
    }


def test_usage_default_range_is_the_last_30_days(data):
    body = data.admin.get("/api/v1/analytics/usage").json()
    assert body["to"] == data.day(0) and body["from"] == data.day(-29)
    assert body["group_by"] == "day"
    assert body["totals"]["cost_nusd"] == 7479000
    only_to = data.admin.get("/api/v1/analytics/usage", query={"to": data.day(-1)}).json()
    assert only_to["from"] == data.day(-30) and only_to["totals"]["cost_nusd"] == 880000 + 360000


@pytest.mark.parametrize("lo,hi", [(-1, -1), (-2, -2), (0, 0), (-2, -1), (-1, 0), (-5, -3)])
def test_usage_boundaries_are_inclusive_utc_days(data, lo, hi):
    body = data.admin.get("/api/v1/analytics/usage", query={
        "from": data.day(lo), "to": data.day(hi), "group_by": "user"}).json()
    want = expected(data.runs, lo, hi, KEYS["user"](data))
    assert {g["key"]: {k: g[k] for k in FIELDS} for g in body["groups"]} == want
    check_sums(body["totals"], total_of(want))


def test_usage_yesterday_literal(data):
    body = data.admin.get("/api/v1/analytics/usage", query={
        "from": data.day(-1), "to": data.day(-1)}).json()
    # r6 (360000) and r7 created yesterday with its first call (520000)
    assert body["totals"]["runs"] == 2 and body["totals"]["calls"] == 2
    assert body["totals"]["cost_nusd"] == 880000
    assert [g["key"] for g in body["groups"]] == [data.day(-1)]


@pytest.mark.parametrize("query,field", [
    ({"from": "2026-02-30"}, "from"),
    ({"from": "yesterday"}, "from"),
    ({"to": "2026-1-01"}, "to"),
    ({"to": ""}, "to"),
    ({"from": "2026-01-02", "to": "2026-01-01"}, "from"),
    ({"from": "2024-01-01", "to": "2025-01-01"}, "from"),  # 367 days
    ({"from": "1969-12-31", "to": "1970-01-01"}, "from"),
    ({"group_by": "week"}, "group_by"),
    ({"group_by": ""}, "group_by"),
])
def test_usage_bad_parameters(data, query, field):
    r = data.admin.get("/api/v1/analytics/usage", query=query)
    assert r.status == 400, r
    err = r.json()["error"]
    assert err["code"] == "INVALID_INPUT" and err["details"]["field"] == field


def test_usage_span_of_366_days_is_allowed(data):
    r = data.admin.get("/api/v1/analytics/usage", query={"from": "2024-01-01",
                                                         "to": "2024-12-31"})
    assert r.status == 200 and r.json()["groups"] == []


def test_other_workspace_sees_only_its_own(data):
    body = data.other.api().get("/api/v1/analytics/usage", query={"group_by": "agent"}).json()
    assert len(body["groups"]) == 1
    assert body["totals"]["runs"] == 1 and body["totals"]["cost_nusd"] == 6000000
    # and the tenant's totals never include it (checked throughout): agent keys
    mine = data.admin.get("/api/v1/analytics/usage", query={
        "from": data.day(-2), "group_by": "agent"}).json()
    assert {g["key"] for g in mine["groups"]} == set(data.agents.values())


# --- /analytics/billing --------------------------------------------------------------


def test_billing_every_day_with_zeros(data):
    resp = data.m1.get("/api/v1/analytics/billing", query={"from": data.day(-4),
                                                          "to": data.day(0)})
    assert resp.status == 200, resp
    body = resp.json()
    assert (body["from"], body["to"]) == (data.day(-4), data.day(0))
    want = expected(data.runs, -4, 0, KEYS["day"](data))
    assert [x["date"] for x in body["days"]] == [data.day(o) for o in range(-4, 1)]
    for x in body["days"]:
        check_sums(x, want.get(x["date"], zero()))
    assert [x["cost_nusd"] for x in body["days"]] == [0, 0, 360000, 880000, 6239000]
    assert [x["credits_used"] for x in body["days"]] == [0, 0, 1, 1, 7]
    assert body["total_cost_nusd"] == 7479000
    assert round(body["total_cost_usd"] * 1e9) == 7479000
    check_sums(body["totals"], total_of(want))
    assert body["totals"]["credits_used"] == 8  # from the summed nusd, not the days' credits


def test_billing_defaults_and_errors(data):
    body = data.admin.get("/api/v1/analytics/billing").json()
    assert len(body["days"]) == 30 and body["days"][-1]["date"] == data.day(0)
    assert body["total_cost_nusd"] == 7479000
    one = data.admin.get("/api/v1/analytics/billing", query={"from": data.day(-2),
                                                            "to": data.day(-2)}).json()
    assert [x["date"] for x in one["days"]] == [data.day(-2)] and one["total_cost_nusd"] == 360000
    r = data.admin.get("/api/v1/analytics/billing", query={"to": "2026-13-01"})
    assert r.status == 400 and r.json()["error"]["details"]["field"] == "to"


# --- /models ---------------------------------------------------------------------------


def test_models_price_table(data, stack):
    resp = data.m2.get("/api/v1/models")
    assert resp.status == 200, resp
    rows = resp.json()
    assert isinstance(rows, list)
    keys = [(m["provider"], m["model"]) for m in rows]
    assert keys == sorted(keys)
    by = {(m["provider"], m["model"]): m for m in rows}
    assert set(by[("scripted", "script")]) >= {"input_per_mtok_usd", "cached_input_per_mtok_usd",
                                               "cache_write_per_mtok_usd", "output_per_mtok_usd"}
    want = {("scripted", "script"): (1.0, 0.1, 1.25, 2.0),
            ("openai", "gpt-4o-mini"): (0.15, 0.075, 0.15, 0.6),
            ("anthropic", "claude-opus-4-0"): (15.0, 1.5, 18.75, 75.0),
            ("openai", OA_MODEL): (0.5, 0.05, 0.5, 1.5),
            ("anthropic", CL_MODEL): (3.0, 0.3, 3.75, 15.0)}
    for k, prices in want.items():
        m = by[k]
        assert (m["input_per_mtok_usd"], m["cached_input_per_mtok_usd"],
                m["cache_write_per_mtok_usd"], m["output_per_mtok_usd"]) == prices
    assert ("openai", FREE_MODEL) not in by
    db = stack.sql("SELECT COUNT(*) FROM models")[0][0]
    assert len(rows) == int(db)
    assert stack.client().get("/api/v1/models").status == 401


# --- the report views ----------------------------------------------------------------


def view_rows(stack, view, cols, ws, order):
    return stack.sql("SELECT %s FROM %s WHERE workspace_id = '%s' ORDER BY %s"
                     % (", ".join(cols), view, ws, order))


def usd(nusd):
    return "%d.%09d" % divmod(nusd, 10**9)


@pytest.mark.parametrize("view,keycols,group", [
    ("report_billing_daily", ["day"], "day"),
    ("report_usage_by_model", ["day", "CONCAT(provider, '/', model)"], "model"),
    ("report_usage_by_agent", ["day", "agent_id"], "agent"),
    ("report_usage_by_user", ["day", "user_id"], "user"),
])
def test_usage_views(data, stack, view, keycols, group):
    rows = view_rows(stack, view, keycols + list(FIELDS) + ["cost_usd"], data.t.id,
                     ", ".join(keycols))
    want = {}
    for off in (-2, -1, 0):
        for k, g in expected(data.runs, off, off, KEYS[group](data)).items():
            want[(data.day(off), k) if group != "day" else (data.day(off),)] = g
    got = {}
    for row in rows:
        key = tuple(row[:len(keycols)])
        vals = [int(x) for x in row[len(keycols):-1]]
        got[key] = dict(zip(FIELDS, vals))
        assert row[-1] == usd(got[key]["cost_nusd"])  # DECIMAL(20,9), exact
    assert got == want
    assert sum(g["cost_nusd"] for g in got.values()) == 7479000


def test_billing_view_names_the_workspace(data, stack):
    rows = stack.sql("SELECT DISTINCT workspace_name FROM report_billing_daily "
                     "WHERE workspace_id = '%s'" % data.t.id)
    assert rows == [["analytics"]]
    other = stack.sql("SELECT CAST(SUM(cost_nusd) AS SIGNED), CAST(SUM(runs) AS SIGNED) "
                      "FROM report_billing_daily WHERE workspace_id = '%s'" % data.other.id)
    assert other == [["6000000", "1"]]


def test_run_costs_view(data, stack):
    rows = view_rows(stack, "report_run_costs",
                     ["run_id", "CONCAT(provider, '/', model)", "calls", "prompt_tokens",
                      "cached_tokens", "cache_write_tokens", "completion_tokens", "cost_nusd",
                      "cost_usd", "priced", "agent_id", "user_id", "run_status"],
                     data.t.id, "run_id")
    want = []
    for r in sorted(data.runs, key=lambda r: r.id):
        if not r.calls:
            continue
        sums = [sum(u[k] for _, u, _ in r.calls) for k in
                ("prompt_tokens", "cached_tokens", "cache_write_tokens", "completion_tokens")]
        want.append([r.id, r.pm, str(len(r.calls))] + [str(x) for x in sums] +
                    [str(r.cost), usd(r.cost), "0" if FREE_MODEL in r.pm else "1",
                     r.agent, r.user, r.status])
    assert rows == want
    # the views, the endpoint and the calls agree
    assert stack.sql("SELECT CAST(SUM(cost_nusd) AS SIGNED) FROM llm_calls WHERE workspace_id = "
                     "'%s'" % data.t.id) == [["7479000"]]


def test_top_runs_view(data, stack):
    rows = view_rows(stack, "report_top_runs", ["cost_rank", "run_id", "cost_nusd", "cost_usd",
                                                "agent_id", "user_id", "status"],
                     data.t.id, "cost_rank")
    order = sorted(data.runs, key=lambda r: (-r.cost, r.id))
    assert rows == [[str(i + 1), r.id, str(r.cost), usd(r.cost), r.agent, r.user, r.status]
                    for i, r in enumerate(order)]
    assert rows[0][1] == data.r4.id and rows[0][2] == "1905000"
    top3 = stack.sql("SELECT run_id FROM report_top_runs WHERE workspace_id = '%s' AND "
                     "cost_rank <= 3 ORDER BY cost_rank" % data.t.id)
    assert [x[0] for x in top3] == [r.id for r in order[:3]]
    other = stack.sql("SELECT cost_rank, run_id FROM report_top_runs WHERE workspace_id = '%s'"
                      % data.other.id)
    assert other == [["1", data.other_run]]


def test_agent_reliability_view(data, stack):
    cols = ["runs", "finished", "completed", "failed", "timed_out", "cancelled", "rejected",
            "step_attempts", "retries", "runs_with_retries", "failure_rate", "retry_rate",
            "cancellation_rate"]
    rel = stack.sql("SELECT %s FROM report_agent_reliability WHERE workspace_id = '%s' AND "
                    "agent_id = '%s'" % (", ".join(cols), data.t.id, data.agents["r"]))
    # v1: step 0 failed once, then completed (2 attempts); v2: step 0 failed
    # twice; v3: cancelled before any step
    assert dict(zip(cols, rel[0])) == {
        "runs": "3", "finished": "3", "completed": "1", "failed": "1", "timed_out": "0",
        "cancelled": "1", "rejected": "0", "step_attempts": "4", "retries": "3",
        "runs_with_retries": "2", "failure_rate": "0.3333", "retry_rate": "0.7500",
        "cancellation_rate": "0.3333"}
    s = stack.sql("SELECT runs, completed, step_attempts, retries, failure_rate, retry_rate, "
                  "cancellation_rate FROM report_agent_reliability WHERE agent_id = '%s'"
                  % data.agents["s"])
    # two runs of llm, tool, llm steps
    assert s == [["2", "2", "6", "0", "0.0000", "0.0000", "0.0000"]]
    agents = stack.sql("SELECT agent_id FROM report_agent_reliability WHERE workspace_id = '%s'"
                       % data.t.id)
    assert sorted(a[0] for a in agents) == sorted(data.agents.values())


def test_run_durations_view(data, stack):
    rows = stack.sql("SELECT day, runs, p50_ms, p95_ms, avg_ms, min_ms, max_ms FROM "
                     "report_run_durations WHERE workspace_id = '%s' AND agent_id = '%s'"
                     % (data.t.id, data.agents["d"]))
    # sorted 100 200 300 400 1000: p50 = 300; p95 at rank 0.95 * 4 = 3.8:
    # 400 + 0.8 * (1000 - 400) = 880; mean 2000 / 5 = 400
    assert rows == [[data.day(0), "5", "300.000", "880.000", "400.000", "100", "1000"]]
    y = stack.sql("SELECT day, runs FROM report_run_durations WHERE workspace_id = '%s' AND "
                  "agent_id = '%s' ORDER BY day" % (data.t.id, data.agents["y"]))
    assert y == [[data.day(-2), "1"], [data.day(-1), "1"]]


# --- agentrunctl report ----------------------------------------------------------------


def test_report_usage_formats_agree_with_the_api(data, stack):
    args = ["report", "usage", "--from", data.day(-2), "--to", data.day(0), "--workspace",
            data.t.id]
    for group in ("day", "agent", "model", "user"):
        api = data.admin.get("/api/v1/analytics/usage", query={
            "from": data.day(-2), "to": data.day(0), "group_by": group}).json()
        js = json.loads(stack.ctl(*(args + ["--group-by", group, "--format", "json"])))
        assert (js["from"], js["to"], js["group_by"], js["workspace_id"]) == (
            data.day(-2), data.day(0), group, data.t.id)
        assert js["groups"] == api["groups"] and js["totals"] == api["totals"]

        text = stack.ctl(*(args + ["--group-by", group, "--format", "csv"]))
        rows = list(csv.reader(io.StringIO(text)))
        header = rows[0]
        assert header[1:] == list(FIELDS) + ["cost_usd", "credits_used"]
        assert len(rows) - 1 == len(api["groups"])
        for row, g in zip(rows[1:], api["groups"]):
            assert row[0] == g["key"]
            assert [int(x) for x in row[1:8]] == [g[k] for k in FIELDS]
            assert row[8] == usd(g["cost_nusd"]) and int(row[9]) == g["credits_used"]

        table = stack.ctl(*(args + ["--group-by", group])).splitlines()
        assert table[0].split() == header
        body = [line.split() for line in table[1:]]
        assert [r[0] for r in body] == [g["key"] for g in api["groups"]] + ["total"]
        assert body[-1][1:] == [str(api["totals"][k]) for k in FIELDS] + [
            usd(api["totals"]["cost_nusd"]), str(api["totals"]["credits_used"])]


def test_report_billing_formats(data, stack):
    args = ["report", "billing", "--from", data.day(-3), "--to", data.day(0), "--workspace",
            data.t.id]
    api = data.admin.get("/api/v1/analytics/billing", query={"from": data.day(-3),
                                                            "to": data.day(0)}).json()
    js = json.loads(stack.ctl(*(args + ["--format", "json"])))
    assert js["days"] == api["days"] and js["totals"] == api["totals"]
    assert js["total_cost_nusd"] == 7479000
    rows = list(csv.reader(io.StringIO(stack.ctl(*(args + ["--format", "csv"])))))
    assert rows[0][0] == "date"
    assert [(r[0], int(r[7]), r[8], int(r[9])) for r in rows[1:]] == [
        (data.day(-3), 0, usd(0), 0), (data.day(-2), 360000, "0.000360000", 1),
        (data.day(-1), 880000, "0.000880000", 1), (data.day(0), 6239000, "0.006239000", 7)]
    table = stack.ctl(*args).splitlines()
    # tokens by hand: 300 + 800 + (2 x 2200 + 2000 + 1000 + 100 + 5 x 10 + 20 + 700) prompt,
    # 2 x 1000 + 1500 + 600 + 100 cached, 2 x 100 + 300 + 200 written,
    # 30 + 40 + (2 x 130 + 10 + 20 + 5 + 5 x 1 + 2 + 40) completion (docs/reports.md)
    assert table[-1].split() == ["total", "16", "17", "9370", "4200", "700", "412", "7479000",
                                 "0.007479000", "8"]
    assert [table[i].split()[3] for i in (2, 3, 4)] == ["300", "800", "8270"]


def test_report_all_workspaces_and_errors(data, stack):
    out = json.loads(stack.ctl("report", "usage", "--from", data.day(-2), "--group-by",
                               "workspace", "--format", "json"))
    by = {g["key"]: g for g in out["groups"]}
    assert by[data.t.id]["cost_nusd"] == 7479000 and by[data.other.id]["cost_nusd"] == 6000000
    assert out["workspace_id"] is None
    bad = [["report", "usage", "--from", "2026-02-30"],
           ["report", "usage", "--from", "2026-01-02", "--to", "2026-01-01"],
           ["report", "usage", "--group-by", "week"],
           ["report", "billing", "--group-by", "agent"],
           ["report", "usage", "--format", "xml"],
           ["report", "taxes"],
           ["report", "usage", "--from"]]
    for argv in bad:
        p = stack.ctl(*argv, check=False)
        assert p.returncode == 2, (argv, p.stderr)
    p = stack.ctl("report", "usage", "--workspace", str(uuid.uuid4()), check=False)
    assert p.returncode == 1 and b"not found" in p.stderr


# --- agentrunctl price set ---------------------------------------------------------------


def test_price_change_applies_to_future_calls_only(stack, provider):
    t = stack.new_tenant("analytics-prices")
    api = t.api()
    model = "an-px-" + SFX
    u = usage(1000, 200, 0, 100)
    stack.ctl("price", "set", "openai", model, "1", "0.5", "1", "2")
    time.sleep(PRICES_TTL_S)
    provider.script(model, [{"content": "a", "usage": u}, {"content": "b", "usage": u}])
    agent = route_agent(api, provider, "openai", model)
    first = wait_status(api, start(api, agent), "completed")
    old = 800 * 1000 + 200 * 500 + 100 * 2000  # 1100000
    assert round(first["cost_usd"] * 1e9) == old

    p = stack.ctl("price", "set", "openai", model, "2.000", "1", "2", "4.5", check=False)
    assert p.returncode == 0, p.stderr
    time.sleep(PRICES_TTL_S)
    second = wait_status(api, start(api, agent), "completed")
    new = 800 * 2000 + 200 * 1000 + 100 * 4500  # 2250000
    assert round(second["cost_usd"] * 1e9) == new

    # the first run keeps its cost, everywhere
    assert round(api.get("/api/v1/runs/" + first["id"]).json()["cost_usd"] * 1e9) == old
    costs = api.get("/api/v1/analytics/runs/%s/costs" % first["id"]).json()
    assert costs["total_cost_nusd"] == old
    assert stack.sql("SELECT cost_nusd, input_per_mtok_nusd, output_per_mtok_nusd FROM llm_calls "
                     "WHERE run_id = '%s'" % first["id"]) == [["1100000", "1000000000",
                                                              "2000000000"]]
    assert stack.sql("SELECT cost_nusd, input_per_mtok_nusd, output_per_mtok_nusd FROM llm_calls "
                     "WHERE run_id = '%s'" % second["id"]) == [["2250000", "2000000000",
                                                               "4500000000"]]
    usage_body = api.get("/api/v1/analytics/usage").json()
    assert usage_body["totals"]["cost_nusd"] == old + new
    hist = stack.sql("SELECT input_per_mtok_nusd, cached_input_per_mtok_nusd, "
                     "cache_write_per_mtok_nusd, output_per_mtok_nusd, note FROM "
                     "model_price_history WHERE provider = 'openai' AND model = '%s' "
                     "ORDER BY effective_from" % model)
    assert hist == [["1000000000", "500000000", "1000000000", "2000000000",
                     "agentrunctl price set"],
                    ["2000000000", "1000000000", "2000000000", "4500000000",
                     "agentrunctl price set"]]
    m = [x for x in api.get("/api/v1/models").json() if x["model"] == model]
    assert [(x["input_per_mtok_usd"], x["output_per_mtok_usd"]) for x in m] == [(2.0, 4.5)]

    # the same prices again change nothing
    p = stack.ctl("price", "set", "openai", model, "2", "1.0", "2", "4.50", check=False)
    assert p.returncode == 0 and b"unchanged" in p.stderr
    assert len(stack.sql("SELECT id FROM model_price_history WHERE model = '%s'" % model)) == 2
    listed = stack.ctl("price", "list")
    assert any(line.split() == ["openai", model, "2.00", "1.00", "2.00", "4.50"]
               for line in listed.splitlines())


@pytest.mark.parametrize("argv", [
    ["openai", "m", "1.2.3", "0", "0", "0"],
    ["openai", "m", "-1", "0", "0", "0"],
    ["openai", "m", "1e3", "0", "0", "0"],
    ["openai", "m", "0.0000000001", "0", "0", "0"],
    ["openai", "m", "1001", "0", "0", "0"],
    ["openai", "m", "1", "0", "0", ""],
    ["mistral", "m", "1", "1", "1", "1"],
    ["openai", "", "1", "1", "1", "1"],
    ["openai", "m", "1", "1", "1"],
])
def test_price_set_rejects(stack, argv):
    p = stack.ctl("price", "set", *argv, check=False)
    assert p.returncode == 2, p.stderr
    assert stack.sql("SELECT COUNT(*) FROM models WHERE model = 'm'") == [["0"]]


def test_price_set_exact_decimals(stack):
    model = "an-exact-" + SFX
    stack.ctl("price", "set", "anthropic", model, "0.000000001", "0.1", "18.75", "999.999999999")
    assert stack.sql("SELECT input_per_mtok_nusd, cached_input_per_mtok_nusd, "
                     "cache_write_per_mtok_nusd, output_per_mtok_nusd FROM models "
                     "WHERE model = '%s'" % model) == [["1", "100000000", "18750000000",
                                                        "999999999999"]]


# --- agentrunctl reporting-user -------------------------------------------------------------


def test_reporting_user_reads_views_only(data, stack):
    conf = admin_config(stack)
    name = "rep_" + SFX
    # the service's own database user may not create accounts
    p = stack.ctl("reporting-user", "create", "--name", name, check=False)
    assert p.returncode == 1 and b"administrator" in p.stderr
    p = ctl_as(stack, conf, "reporting-user", "create", "--name", name)
    assert p.returncode == 0, p.stderr
    password = p.stdout.decode().strip()
    assert len(password) == 48

    ok = as_user(stack, name, password,
                 "SELECT CAST(SUM(cost_nusd) AS SIGNED) FROM report_billing_daily "
                 "WHERE workspace_id = '%s'" % data.t.id)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.decode().split() == ["7479000"]
    for view in ("report_usage_by_model", "report_usage_by_agent", "report_usage_by_user",
                 "report_run_costs", "report_top_runs", "report_agent_reliability",
                 "report_run_durations"):
        r = as_user(stack, name, password, "SELECT COUNT(*) FROM %s" % view)
        assert r.returncode == 0, (view, r.stderr)
    top = as_user(stack, name, password, "SELECT run_id FROM report_top_runs WHERE "
                  "workspace_id = '%s' AND cost_rank = 1" % data.t.id)
    assert top.stdout.decode().split() == [data.r4.id]

    for q in ("SELECT * FROM api_keys", "SELECT * FROM routes", "SELECT * FROM runs",
              "SELECT * FROM llm_calls", "SELECT * FROM mysql.user",
              "INSERT INTO usage_daily (workspace_id, day, agent_id, user_id, provider, model) "
              "VALUES ('x', '2026-01-01', 'a', 'u', 'p', 'm')",
              "UPDATE models SET input_per_mtok_nusd = 0",
              "DELETE FROM report_top_runs",
              "UPDATE report_billing_daily SET runs = 0",
              "CREATE TABLE x (i INT)",
              "DROP VIEW report_top_runs",
              "CREATE OR REPLACE VIEW report_top_runs AS SELECT 1"):
        r = as_user(stack, name, password, q)
        assert r.returncode != 0, q
        assert b"denied" in r.stderr, (q, r.stderr)
    grants = as_user(stack, name, password, "SHOW GRANTS").stdout.decode()
    lines = [x for x in grants.splitlines() if x.strip()]
    assert len(lines) == 1 + 8  # USAGE (login) and one SELECT per view
    assert all("GRANT SELECT ON `agentrun`.`report_" in x for x in lines[1:])
    assert "GRANT USAGE ON *.*" in lines[0]

    # an existing account is not touched; bad input never reaches SQL
    again = ctl_as(stack, conf, "reporting-user", "create", "--name", name)
    assert again.returncode == 1 and b"already exists" in again.stderr
    for args in (["--name", "bad-name"], ["--name", "x'; DROP USER root; --"],
                 ["--password", "short"], ["--password", "has'quote" * 2],
                 ["--host", "a b"], ["--bogus", "1"]):
        r = ctl_as(stack, conf, "reporting-user", "create", *args)
        assert r.returncode == 2, (args, r.stderr)
    p = ctl_as(stack, conf, "reporting-user", "create", "--name", name + "b", "--password",
               "Report-Pass_42")
    assert p.returncode == 0 and p.stdout.decode().strip() == "Report-Pass_42"
    assert as_user(stack, name + "b", "Report-Pass_42", "SELECT 1 FROM report_run_costs "
                   "LIMIT 1").returncode == 0


# --- sums too large to represent (issue 14: money never wraps) -------------------------


HUGE = 6 * 10**18  # two of these overflow BIGINT (2^63 - 1 = 9223372036854775807)
FAR_DAY = "2001-01-01"  # outside every default range, so other tests never sum these rows


def seed_huge(stack, ws, rows):
    """usage_daily rows (agent, user, day, cost_nusd) no executor could have
    written since usage is clamped, as a very long history would add up."""
    values = ", ".join("('%s', '%s', '%s', '%s', 'scripted', 'echo', 1, 1, %d)"
                       % (ws, day, agent, user, cost) for agent, user, day, cost in rows)
    stack.sql("INSERT INTO usage_daily (workspace_id, day, agent_id, user_id, provider, model,"
              " runs, calls, cost_nusd) VALUES " + values)


def test_usage_sums_past_bigint_are_an_error_not_a_wrapped_number(stack):
    """Two days' rows that each fit in BIGINT but not their sum: the API
    used to answer the sum cast to BIGINT (saturated at 2^63 - 1) or a
    wrapped, negative total; the views saturated; agentrunctl printed it."""
    t = stack.new_tenant("analytics-huge")
    api = t.api()
    a1, a2, u = str(uuid.uuid4()), str(uuid.uuid4()), t.admin_user
    seed_huge(stack, t.id, [(a1, u, FAR_DAY, HUGE), (a2, u, FAR_DAY, HUGE),
                            (a1, u, "2001-01-02", 5)])
    try:
        q = {"from": FAR_DAY, "to": FAR_DAY}
        # one group's sum does not fit
        r = api.get("/api/v1/analytics/usage", query=dict(q, group_by="day"))
        assert r.status == 500, r
        err = r.json()["error"]
        assert err["code"] == "INTERNAL_ERROR" and err["details"]["field"] == "cost_nusd"
        assert "too large to represent" in err["message"]
        # each group fits, the total does not
        r = api.get("/api/v1/analytics/usage", query=dict(q, group_by="agent"))
        assert r.status == 500, r
        assert r.json()["error"]["details"]["field"] == "total_cost_nusd"
        r = api.get("/api/v1/analytics/billing", query=q)
        assert r.status == 500 and r.json()["error"]["code"] == "INTERNAL_ERROR", r
        # a range that fits still answers exactly
        r = api.get("/api/v1/analytics/usage", query={"from": "2001-01-02", "to": "2001-01-02",
                                                       "group_by": "agent"})
        assert r.status == 200 and r.json()["totals"]["cost_nusd"] == 5, r

        # the views sum exactly, in DECIMAL
        rows = stack.sql("SELECT cost_nusd, cost_usd, runs FROM report_billing_daily "
                         "WHERE workspace_id = '%s' AND day = '%s'" % (t.id, FAR_DAY))
        assert rows == [["12000000000000000000", "12000000000.000000000", "2"]]
        rows = stack.sql("SELECT SUM(cost_nusd) FROM report_usage_by_agent "
                         "WHERE workspace_id = '%s'" % t.id)
        assert rows == [["12000000000000000005"]]

        # agentrunctl report: an error, nothing printed
        for argv in (["report", "billing", "--from", FAR_DAY, "--to", FAR_DAY],
                     ["report", "usage", "--from", FAR_DAY, "--to", "2001-01-02",
                      "--group-by", "agent", "--format", "json"]):
            p = stack.ctl(*(argv + ["--workspace", t.id]), check=False)
            assert p.returncode == 1, (argv, p.stdout, p.stderr)
            assert b"too large to represent" in p.stderr and p.stdout == b"", p.stderr
    finally:
        stack.sql("DELETE FROM usage_daily WHERE workspace_id = '%s'" % t.id)


def test_run_cost_sums_past_bigint_are_an_error(stack):
    """A run's recorded calls whose costs add up past BIGINT: the per-run
    breakdown answered the sum cast to BIGINT (saturated), and so did the
    report_run_costs view."""
    t = stack.new_tenant("analytics-huge-run")
    api = t.api()
    agent = new_agent(api)
    run = wait_status(api, start(api, agent), "completed", timeout=30)
    calls = ", ".join(
        "(UUID(), '%s', '%s', '%s:huge:%d', '%s', '%s', 'scripted', 'echo', %d)"
        % (t.id, run["id"], run["id"], i, agent, t.admin_user, HUGE) for i in (1, 2))
    stack.sql("INSERT INTO llm_calls (id, workspace_id, run_id, step_id, agent_id, user_id,"
              " provider, model, cost_nusd) VALUES " + calls)
    try:
        r = api.get("/api/v1/analytics/runs/%s/costs" % run["id"])
        assert r.status == 500, r
        err = r.json()["error"]
        assert err["code"] == "INTERNAL_ERROR" and err["details"]["field"] == "cost_nusd"
        rows = stack.sql("SELECT cost_nusd FROM report_run_costs WHERE run_id = '%s'"
                         % run["id"])
        assert rows == [[str(2 * HUGE + int(run["cost_usd"] * 1e9 + 0.5))]], rows
    finally:
        stack.sql("DELETE FROM llm_calls WHERE step_id LIKE '%s:huge:%%'" % run["id"])
