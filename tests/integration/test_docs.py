"""docs/openapi.yaml and docs/api.md describe every route the API worker
(src/api/routes.c) and the stream worker (src/stream/server.c) serve, with
every method; and they describe them alike: the same operations (method +
path) and, per operation, the same statuses."""

import os
import re

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.environ.get("AGENTRUN_SRCDIR") or os.path.join(HERE, "..", ".."))

METHODS = {"G": ["get"], "P": ["post"], "HTTP_GET": ["get"], "HTTP_POST": ["post"],
           "HTTP_PATCH": ["patch"], "HTTP_DELETE": ["delete"], "HTTP_PUT": ["put"]}
HTTP_METHODS = ("get", "post", "patch", "delete", "put")


def served_routes(source=os.path.join("src", "api", "routes.c")):
    text = open(os.path.join(SRC, source)).read()
    out = []
    for m in re.finditer(r'\{\s*([A-Z_ |]+),\s*(SESSIONS|THREADS)?\(?\s*"([^"]*)"\)?\s*,\s*[hr]_\w+',
                         text):
        methods, macro, path = m.group(1), m.group(2), m.group(3)
        if macro == "SESSIONS":
            path = "/api/v1/sessions" + path
        elif macro == "THREADS":
            path = "/api/v1/threads" + path
        verbs = []
        for tok in methods.split("|"):
            verbs += METHODS[tok.strip()]
        out.append((path, verbs))
    return out


def stream_routes():
    return served_routes(os.path.join("src", "stream", "server.c"))


def norm(path):
    """A path as the document writes it: relative to the /api/v1 server,
    parameters unnamed."""
    if path.startswith("/api/v1/"):
        path = path[len("/api/v1"):]
    return re.sub(r"\{[^}]+\}", "{}", path)


def spec():
    return yaml.safe_load(open(os.path.join(SRC, "docs", "openapi.yaml")))


def spec_operations():
    """{(METHOD, normalised path): operation}; x-all-parameters adds the path
    item's parameters to the operation's."""
    out = {}
    doc = spec()
    for path, item in doc["paths"].items():
        for m in HTTP_METHODS:
            if m in item:
                op = dict(item[m])
                params = item.get("parameters", []) + op.get("parameters", [])
                op["x-all-parameters"] = [
                    doc["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
                    if "$ref" in p else p for p in params]
                out[(m.upper(), norm(path))] = op
    return out


def test_routes_table_parses():
    routes = served_routes()
    assert len(routes) > 30
    assert ("/healthz", ["get"]) in routes
    assert len(stream_routes()) == 6


def test_openapi_documents_every_route_and_method():
    ops = spec_operations()
    missing = []
    for path, verbs in served_routes() + stream_routes():
        for v in verbs:
            if (v.upper(), norm(path)) not in ops:
                missing.append("%s %s" % (v.upper(), path))
    assert not missing, "undocumented in docs/openapi.yaml: %s" % missing


def test_openapi_documents_only_served_routes():
    served = {(v.upper(), norm(p)) for p, verbs in served_routes() + stream_routes()
              for v in verbs}
    # "{id}:cancel" is served as "{id}/cancel" (http_normalize_path).
    extra = [k for k in spec_operations()
             if k not in served and (k[0], k[1].replace("{}:cancel", "{}/cancel")) not in served]
    assert not extra, "documented but not served: %s" % extra


def test_api_md_mentions_every_path():
    text = open(os.path.join(SRC, "docs", "api.md")).read()
    missing = [p for p, _ in served_routes()
               if re.sub(r"\{[^}]+\}", "{}", p) not in re.sub(r"\{[^}]+\}", "{}", text)]
    assert not missing, "docs/api.md does not mention: %s" % missing


def test_every_operation_has_an_id_and_tags():
    ids = []
    for key, op in spec_operations().items():
        assert op.get("operationId"), "%s %s has no operationId" % key
        assert op.get("tags"), "%s %s has no tags" % key
        ids.append(op["operationId"])
    assert len(ids) == len(set(ids)), "operationIds repeat"
    declared = {t["name"] for t in spec().get("tags", [])}
    used = {t for op in spec_operations().values() for t in op["tags"]}
    assert used <= declared, "tags not declared at the top: %s" % (used - declared)


def test_every_component_is_referenced():
    """redocly's no-unused-components is off (redocly.yaml: some components
    are referenced only from x-sse-data and info.x-generic-responses, which it
    does not follow); this is the same check over the whole text."""
    text = open(os.path.join(SRC, "docs", "openapi.yaml")).read()
    unused = []
    for kind, names in spec()["components"].items():
        for name in names:
            if "#/components/%s/%s'" % (kind, name) not in text and kind != "securitySchemes":
                unused.append("%s/%s" % (kind, name))
    assert not unused, "components nothing refers to: %s" % unused


def test_no_flow_mapping_splits_a_description():
    """An unquoted description with a comma inside {…} turns into bogus keys
    (issue 16): every key under a schema's properties has a value that is a
    mapping, and no mapping has a key with a space in it."""
    bad = []

    def walk(node, where):
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(k, str) and " " in k and not where.endswith(("/paths", "/mapping",
                                                                              "/tags")):
                    if "/x-" not in where and not where.endswith(("/responses", "/examples")):
                        bad.append("%s/%s" % (where, k))
                walk(v, "%s/%s" % (where, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, "%s/%d" % (where, i))

    doc = spec()
    walk(doc["components"], "#/components")
    walk(doc["paths"], "#/paths")
    bad = [b for b in bad if "/example" not in b and "/headers/" not in b.rsplit("/", 1)[0][-9:]]
    assert not bad, "keys with spaces (a split description?): %s" % bad


# --- api.md and openapi.yaml: the same operations, the same statuses ----------

# Statuses docs/api.md states once, in Conventions, for every operation of a
# kind rather than under each: 401 (every authenticated route), 429 (the rate
# limit), 500 and 503 (server trouble), 400 and 413 (a body that is not JSON,
# or too large, on every POST/PATCH), 400 (a bad query parameter), 404 (an
# unknown or foreign object named in the path), 403 (a member key on an admin
# route), 200 (a read whose section names no other success). 405 is never an
# operation's own: it is the generic answer to another method.
def convention_statuses(method, path, admin, op, named):
    out = {"500", "503"}
    if path != "/healthz":
        out |= {"401", "429"}
    if method in ("POST", "PATCH"):
        out |= {"400", "413"}
    if any(p.get("in") == "query" for p in op["x-all-parameters"]):
        out.add("400")
    if "{}" in path:
        out.add("404")
    if admin:
        out.add("403")
    if method == "GET" and not any(s.startswith("2") for s in named):
        out.add("200")
    return out


OP_RE = re.compile(r"`(GET|POST|PATCH|DELETE|PUT) (/[^`\s]*)`")
STATUS_RE = re.compile(r"`([1-5]\d\d)\b")


def api_md_operations():
    """{(METHOD, normalised path): (statuses named in its section, admin,
    statuses its family's introduction names)}.

    An operation is a `METHOD /path` in a ### heading (its section runs to the
    next heading), or in the first column of the "Creating runs" table (its
    section is the whole ## Creating runs, whose rules apply to every row;
    "(and `/sessions/{id}/runs`)" names the same operation on the other
    family). A heading's "`/logs`" continues the path before it."""
    text = open(os.path.join(SRC, "docs", "api.md")).read()
    lines = text.split("\n")
    ops = {}
    admin = False

    intro = set()

    def add(method, path, statuses, is_admin):
        key = (method, norm(path))
        have = ops.get(key, (set(), is_admin, set()))
        ops[key] = (have[0] | (statuses - {"405"}), have[1] or is_admin, have[2] | intro)

    def section(i, level):
        out = []
        for line in lines[i + 1:]:
            m = re.match(r"^(#+) ", line)
            if m and len(m.group(1)) <= level and not line.startswith("### `"):
                break
            if m and len(m.group(1)) <= level and level == 3:
                break
            out.append(line)
        return "\n".join(out)

    for i, line in enumerate(lines):
        if line.startswith("## "):
            admin = "(admin)" in line
            # What a family's introduction (before its first ###) says
            # applies to each of its operations.
            head = []
            for later in lines[i + 1:]:
                if later.startswith("#"):
                    break
                head.append(later)
            intro = set(STATUS_RE.findall("\n".join(head)))
            if line.startswith("## Creating runs"):
                body = section(i, 2)
                statuses = set(STATUS_RE.findall(body))
                for row in body.split("\n"):
                    if not row.startswith("| `"):
                        continue
                    first = row.split("|")[1]
                    for m in OP_RE.finditer(first):
                        add(m.group(1), m.group(2), statuses, False)
                        other = re.search(r"\(and `(/[^`]+)`\)", first)
                        if other:
                            add(m.group(1), "/api/v1" + other.group(1), statuses, False)
            continue
        if not line.startswith("### "):
            continue
        statuses = set(STATUS_RE.findall(section(i, 3)))
        method, base = None, None
        for tok in re.finditer(r"`(?:(GET|POST|PATCH|DELETE|PUT) )?(/[^`\s]*)`", line):
            if tok.group(1):
                method, base = tok.group(1), tok.group(2)
                add(method, base, statuses, admin)
            elif method and tok.group(2).count("/") == 1 and base:
                # "`/logs`": the last segment of the previous path replaced,
                # "`/threads/{id}/events`": a path of its own under /api/v1.
                add(method, base.rsplit("/", 1)[0] + tok.group(2), statuses, admin)
            elif method:
                add(method, "/api/v1" + tok.group(2), statuses, admin)
    return ops


def test_api_md_and_openapi_list_the_same_operations():
    md = set(api_md_operations())
    oa = set(spec_operations())
    assert not (oa - md), "in openapi.yaml, not in api.md: %s" % sorted(oa - md)
    assert not (md - oa), "in api.md, not in openapi.yaml: %s" % sorted(md - oa)


def test_api_md_and_openapi_give_each_operation_the_same_statuses():
    md = api_md_operations()
    problems = []
    for key, op in sorted(spec_operations().items()):
        if key not in md:
            continue
        named, admin, intro = md[key]
        documented = {s for s in op["responses"] if s.isdigit()}
        implied = convention_statuses(key[0], key[1], admin, op, named) | intro
        if named - documented:
            problems.append("%s %s: api.md names %s, openapi.yaml does not" % (
                key[0], key[1], sorted(named - documented)))
        if documented - named - implied:
            problems.append("%s %s: openapi.yaml lists %s, api.md does not say when" % (
                key[0], key[1], sorted(documented - named - implied)))
    assert not problems, "\n".join(problems)


def test_examples_match_their_schemas():
    """Every example in the document is checked as a response would be: a
    schema's example against the schema, an SSE example event by event."""
    import openapi_check

    if not openapi_check.available():
        import pytest
        pytest.skip("python3-jsonschema is missing")
    doc = spec()
    problems = []
    checked = 0
    for name, schema in doc["components"]["schemas"].items():
        if "example" in schema:
            checked += 1
            errs = openapi_check._schema_errors({"$ref": "#/components/schemas/" + name},
                                                schema["example"])
            problems += ["%s: %s" % (name, e) for e in errs]
    media = [doc["components"]["responses"]["Events"]["content"]["text/event-stream"],
             doc["paths"]["/executions/{id}/stream"]["get"]["responses"]["200"]["content"][
                 "text/event-stream"]]
    for m in media:
        events = openapi_check.parse_sse(m["example"])
        assert events, m["example"]
        for ev_name, data, _ in events:
            checked += 1
            problems += openapi_check.check_sse_event(m, ev_name, data)
    assert checked >= 15
    assert not problems, "\n".join(problems)
