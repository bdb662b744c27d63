"""docs/openapi.yaml as client authors use it, with their common tools (npm,
pinned by examples/typescript/package-lock.json and installed with `npm ci`
into the build tree, which stays writable under distcheck):

- `redocly lint` finds no error and no warning (redocly.yaml turns rules off,
  each with its reason);
- openapi-typescript generates types from it, and the example client
  (examples/typescript/quickstart.mts, openapi-fetch) compiles with
  `tsc --strict`;
- the compiled client runs the quick start against the test stack.
"""

import json
import os
import shutil
import subprocess

import pytest

from conftest import BUILD_DIR, SRCDIR

EXAMPLE = os.path.join(SRCDIR, "examples", "typescript")
TOOLS = os.path.join(BUILD_DIR, "var", "openapi-tools")
NPM_TIMEOUT = 300
# No telemetry or update checks from the tools: CI has no network but npm's.
TOOL_ENV = dict(os.environ, REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true",
                NO_UPDATE_NOTIFIER="1", NODE_OPTIONS="")


def run(argv, cwd, timeout=120):
    p = subprocess.run(argv, cwd=cwd, env=TOOL_ENV, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def tools():
    """The pinned npm tools in the build tree: `npm ci` when the lock file
    changed or nothing is installed yet (offline from npm's cache when it can)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed (scripts/deps installs them)")
    os.makedirs(TOOLS, exist_ok=True)
    lock = os.path.join(EXAMPLE, "package-lock.json")
    have = os.path.join(TOOLS, "package-lock.json")
    current = (os.path.isdir(os.path.join(TOOLS, "node_modules", ".bin"))
               and os.path.exists(have) and open(lock, "rb").read() == open(have, "rb").read())
    if not current:
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(os.path.join(EXAMPLE, name), os.path.join(TOOLS, name))
        rc, out = run(["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund",
                       "--loglevel=error"], TOOLS, timeout=NPM_TIMEOUT)
        assert rc == 0, "npm ci of examples/typescript's tools failed:\n" + out[-3000:]
    return TOOLS


def tool(tools, name):
    return os.path.join(tools, "node_modules", ".bin", name)


def test_redocly_lint_is_clean(tools):
    rc, out = run([tool(tools, "redocly"), "lint", "--config", "redocly.yaml",
                   "docs/openapi.yaml"], SRCDIR)
    assert rc == 0, "redocly lint failed:\n" + out[-6000:]
    assert "Your API description is valid" in out, out[-3000:]
    assert "warning" not in out.split("Your API description is valid")[1].lower(), out[-3000:]


@pytest.fixture(scope="module")
def compiled(tools):
    """Generates schema.d.ts from docs/openapi.yaml and compiles the example
    with tsc --strict; returns the path of the compiled quickstart.mjs."""
    for name in ("quickstart.mts", "tsconfig.json"):
        shutil.copyfile(os.path.join(EXAMPLE, name), os.path.join(tools, name))
    # Fields with a default stay optional in request bodies.
    rc, out = run([tool(tools, "openapi-typescript"), os.path.join(SRCDIR, "docs", "openapi.yaml"),
                   "--default-non-nullable", "false", "-o", os.path.join(tools, "schema.d.ts")],
                  tools)
    assert rc == 0, "openapi-typescript failed:\n" + out[-4000:]
    rc, out = run([tool(tools, "tsc"), "-p", "tsconfig.json", "--strict"], tools)
    assert rc == 0, "tsc --strict failed on examples/typescript:\n" + out[-6000:]
    return os.path.join(tools, "dist", "quickstart.mjs")


def test_typescript_client_compiles_strict(compiled):
    assert os.path.exists(compiled)
    schema = open(os.path.join(TOOLS, "schema.d.ts")).read()
    # A free-form object without additionalProperties generates
    # Record<string, never>, which no client can fill (issue 16).
    never = [line.strip() for line in schema.splitlines() if "Record<string, never>" in line
             and not line.startswith("export type ")]
    assert not never, "objects no client can fill: %s" % never[:10]
    for name in ("Event", "ExecutionFrame", "RunStatus", "ErrorCode", "EventType"):
        assert "        %s:" % name in schema, "no %s type generated" % name


def test_typescript_quickstart_runs_against_the_stack(stack, ws_a, compiled):
    prompt = "typed clients read the contract"
    p = subprocess.run(["node", compiled, stack.url, ws_a.admin_key, prompt], env=TOOL_ENV,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    out, err = p.stdout.decode(), p.stderr.decode()
    assert p.returncode == 0, "quickstart exited %d\nstdout:\n%s\nstderr:\n%s" % (
        p.returncode, out, err)
    steps = {}
    deltas = []
    for line in out.splitlines():
        rec = json.loads(line)
        if rec["step"] == "delta":
            deltas.append(rec["content"])
        else:
            steps[rec["step"]] = rec
    assert set(steps) == {"agent", "version", "run", "events", "cost"}, out
    assert steps["version"] == {"step": "version", "version": 1, "status": "active"}
    assert steps["run"]["status"] == "pending" and steps["run"]["replayed_same_run"] is True
    assert steps["events"]["types"][0] == "run.created", steps["events"]
    assert steps["events"]["terminal"] == "run.completed", steps["events"]
    assert "".join(deltas) == prompt
    cost = steps["cost"]
    assert cost["status"] == "completed" and cost["response"] == prompt, cost
    assert cost["total_tokens"] > 0 and cost["models"] == ["scripted/echo"], cost
    assert cost["total_cost_usd"] == cost["cost_usd"], cost
    # The run the client made, read through the suite's own (validating) client.
    run = ws_a.api().get("/api/v1/runs/" + steps["run"]["id"]).json()
    assert run["output"] == {"response": prompt} and run["cost_usd"] == cost["cost_usd"]
