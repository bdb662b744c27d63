"""docs/openapi.yaml and docs/api.md describe every route the API worker
serves (src/api/routes.c), with every method."""

import os
import re

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.environ.get("AGENTRUN_SRCDIR") or os.path.join(HERE, "..", ".."))

METHODS = {"G": ["get"], "P": ["post"], "HTTP_GET": ["get"], "HTTP_POST": ["post"],
           "HTTP_PATCH": ["patch"], "HTTP_DELETE": ["delete"], "HTTP_PUT": ["put"]}


def served_routes():
    text = open(os.path.join(SRC, "src", "api", "routes.c")).read()
    out = []
    for m in re.finditer(r'\{\s*([A-Z_ |]+),\s*(SESSIONS|THREADS)?\(?\s*"([^"]*)"\)?\s*,\s*h_\w+',
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


def norm(path):
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_routes_table_parses():
    routes = served_routes()
    assert len(routes) > 30
    assert ("/healthz", ["get"]) in routes


def test_openapi_documents_every_route_and_method():
    spec = yaml.safe_load(open(os.path.join(SRC, "docs", "openapi.yaml")))
    documented = {norm(p): ops for p, ops in spec["paths"].items()}
    missing = []
    for path, verbs in served_routes():
        ops = documented.get(norm(path))
        for v in verbs:
            if ops is None or v not in ops:
                missing.append("%s %s" % (v.upper(), path))
    assert not missing, "undocumented in docs/openapi.yaml: %s" % missing


def test_api_md_mentions_every_path():
    text = open(os.path.join(SRC, "docs", "api.md")).read()
    missing = [p for p, _ in served_routes() if norm(p) not in norm(text)]
    assert not missing, "docs/api.md does not mention: %s" % missing
