#!/usr/bin/python3
"""Sums MariaDB's slow query log by statement shape: how many times each
statement ran and the server time it took (Query_time, Lock_time). With
long_query_time = 0 every statement is logged, which is how
docs/performance.md attributes the database's time per run:

    SET GLOBAL slow_query_log_file = '/path/slow.log';
    SET GLOBAL long_query_time = 0; SET GLOBAL slow_query_log = 1;
    (new connections only: reload the API with SIGHUP / restart the executor)
    ... load ...
    SET GLOBAL slow_query_log = 0;
    tests/bench/slowlog.py /path/slow.log [PER]   # PER: divide counts/times by this

Literals are folded ('...' -> ?, numbers -> N) so executions of one
prepared statement group together.
"""

import re
import sys

STR = re.compile(r"'(?:[^'\\]|\\.)*'")
NUM = re.compile(r"\b\d+(?:\.\d+)?\b")
LIST = re.compile(r"\((?:\s*\?\s*,)+\s*\?\s*\)")


def shape(sql):
    s = STR.sub("?", sql)
    s = NUM.sub("N", s)
    s = LIST.sub("(?,...)", s)
    s = re.sub(r"\s+", " ", s).strip()
    return s[:150]


def main(argv):
    if not argv:
        sys.stderr.write(__doc__)
        return 2
    per = float(argv[1]) if len(argv) > 1 else 1.0
    agg = {}
    qt = lt = None
    buf = []
    with open(argv[0], errors="replace") as f:
        for line in f:
            if line.startswith("# Query_time:"):
                m = re.search(r"Query_time: ([\d.]+)\s+Lock_time: ([\d.]+)", line)
                qt, lt = float(m.group(1)), float(m.group(2))
                buf = []
                continue
            if line.startswith("#") or line.startswith("SET timestamp=") or \
                    line.startswith("use "):
                continue
            if qt is None:
                continue
            buf.append(line.rstrip("\n"))
            if line.rstrip().endswith(";"):
                k = shape(" ".join(buf).rstrip(";"))
                a = agg.setdefault(k, [0, 0.0, 0.0])
                a[0] += 1
                a[1] += qt
                a[2] += lt
                qt = None
    total = sum(a[1] for a in agg.values()) or 1
    print("%10s %10s %8s %6s  %s" % ("count/per", "ms/per", "us/stmt", "share", "statement"))
    for k, (n, t, lk) in sorted(agg.items(), key=lambda kv: -kv[1][1])[:40]:
        print("%10.2f %10.3f %8.1f %5.1f%%  %s" % (n / per, t * 1e3 / per, t / n * 1e6,
                                                   100 * t / total, k))
    n = sum(a[0] for a in agg.values())
    print("%10.2f %10.3f %8.1f %5.1f%%  (all)" % (n / per, total * 1e3 / per, total / n * 1e6,
                                                  100.0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
