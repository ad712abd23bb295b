#!/usr/bin/env python3
"""Checks that every metric the alert rules and the Grafana dashboards query is
exported by the wallboard server.

    python3 dashboards/check-exprs.py SCRAPE.txt
    python3 dashboards/check-exprs.py SCRAPE.txt --except wallboard_cluster_   # a single server's scrape
    python3 dashboards/check-exprs.py --list      # the names it extracts, and where
    curl -s localhost:8080/metrics > /tmp/scrape.txt && python3 dashboards/check-exprs.py /tmp/scrape.txt

SCRAPE.txt is a Prometheus text-format scrape of the server's /metrics. The
script extracts the metric names used in the PromQL of
dashboards/prometheus/rules/*.yml (`expr:`) and dashboards/grafana/dashboards/*.json
(every `expr`, and the queries of template variables), leaving out PromQL
functions and keywords, label names, recording-rule names defined in the rules,
and the series Prometheus makes itself (up, ALERTS, scrape_*). It prints every
name the scrape lacks, with where it is used, and exits 1; exit 0 when all are
there. Finding no names to check (or a scrape with no samples) is a failure
too, never a pass. A histogram (or summary) used by its base name counts as present when
its _bucket, _sum or _count series are.

Note: the server must export every series it can, including counters that
are still 0 and every label value of a bounded label (result, reason, state),
or a scrape taken before the first event of a kind will miss them.

Standard library only.
"""

import json
import os
import re
import sys
from pathlib import Path

# The dashboards folder (CHECK_EXPRS_ROOT for tests of the check itself).
ROOT = Path(os.environ.get("CHECK_EXPRS_ROOT") or Path(__file__).resolve().parent)
RULE_FILES = sorted((ROOT / "prometheus" / "rules").glob("*.yml")) + sorted(
    (ROOT / "prometheus" / "rules").glob("*.yaml")
)
DASHBOARD_FILES = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))

# Series that Prometheus itself creates, never in a target's scrape.
SYNTHETIC = {
    "up",
    "ALERTS",
    "ALERTS_FOR_STATE",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "scrape_timeout_seconds",
    "scrape_sample_limit",
    "scrape_body_size_bytes",
}
KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
    "group_right", "offset", "bool", "inf", "nan", "atan2", "start", "end",
}
LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]")
TOKEN = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*|\d[\w.]*")
HIST_SUFFIXES = ("_bucket", "_sum", "_count")


def promql_metrics(expr):
    """The metric names in one PromQL expression."""
    expr = re.sub(r"#[^\n]*", "", expr)  # comments
    expr = STRING.sub('""', expr)  # label values, regexes, label_replace arguments
    expr = GRAFANA_VAR.sub("1", expr)  # $queue, ${window}, $__rate_interval
    expr = re.sub(r"\{[^{}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\[\]]*\]", "", expr)  # ranges and subqueries
    expr = LABEL_LIST.sub(" ", expr)  # by (queue), on (kpi, queue), group_left (x)
    names = set()
    for m in TOKEN.finditer(expr):
        tok = m.group(0)
        if tok[0].isdigit():
            continue  # a number or a duration
        if tok.lower() in KEYWORDS:
            continue
        if re.match(r"\s*\(", expr[m.end():]):
            continue  # a function or an aggregation
        names.add(tok)
    return names


def grafana_query_metrics(query):
    """Template variable queries: label_values(metric, label), query_result(promql),
    label_names(), metrics(regex); anything else is PromQL."""
    query = query.strip()
    m = re.fullmatch(r"label_values\((.*),\s*\w+\s*\)", query, re.S)
    if m:
        return promql_metrics(m.group(1))
    if re.fullmatch(r"label_values\(\s*\w+\s*\)", query) or re.match(r"(label_names|metrics)\(", query):
        return set()
    m = re.fullmatch(r"query_result\((.*)\)", query, re.S)
    if m:
        return promql_metrics(m.group(1))
    return promql_metrics(query)


def rule_exprs(path):
    """(kind, text) for every `expr:` and `record:` of a rules file; a small reader
    for the subset of YAML these files use (plain, quoted and block scalars)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(?:-\s+)?(expr|record):\s*(.*)$", lines[i])
        if not m:
            i += 1
            continue
        key_indent = len(m.group(1))
        kind, value = m.group(2), m.group(3).strip()
        i += 1
        if value[:1] in ("|", ">"):
            block = []
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > key_indent):
                block.append(lines[i])
                i += 1
            value = "\n".join(block)
        elif value[:1] in ('"', "'"):
            quote = value[0]
            while not (len(value) > 1 and value.endswith(quote)) and i < len(lines):
                value += " " + lines[i].strip()
                i += 1
            value = json.loads(value) if quote == '"' else value[1:-1].replace("''", "'")
        else:
            # a plain scalar may go on over more-indented lines
            while i < len(lines) and lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) > key_indent \
                    and not re.match(r"\s*(-\s+)?\w+:", lines[i]):
                value += " " + lines[i].strip()
                i += 1
        out.append((kind, value))
    return out


def dashboard_exprs(node):
    """Every `expr` of panel targets and the queries of template variables."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield "expr", value
            elif key == "templating" and isinstance(value, dict):
                for var in value.get("list", []):
                    if var.get("type") != "query":
                        continue
                    q = var.get("query")
                    if isinstance(q, dict):
                        q = q.get("query")
                    if isinstance(q, str) and q:
                        yield "variable", q
            else:
                yield from dashboard_exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from dashboard_exprs(item)


def used_metrics():
    """{metric name: set of files using it}, and the recording-rule names."""
    used = {}
    recorded = set()
    for path in RULE_FILES:
        for kind, text in rule_exprs(path):
            if kind == "record":
                recorded.add(text.strip())
            else:
                for name in promql_metrics(text):
                    used.setdefault(name, set()).add(path.relative_to(ROOT.parent).as_posix())
    for path in DASHBOARD_FILES:
        doc = json.loads(path.read_text(encoding="utf-8"))
        for kind, text in dashboard_exprs(doc):
            names = grafana_query_metrics(text) if kind == "variable" else promql_metrics(text)
            for name in names:
                used.setdefault(name, set()).add(path.relative_to(ROOT.parent).as_posix())
    return used, recorded


def scraped_metrics(text):
    """The sample names in a text-format scrape (a declared metric without a
    sample does not count: Prometheus would store nothing for it)."""
    samples = set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line)
        if m:
            samples.add(m.group(0))
    return samples


def present(name, samples):
    # directly, or a histogram / summary named by its base name
    return name in samples or any(name + s in samples for s in HIST_SUFFIXES)


def main(argv):
    if len(argv) == 2 and argv[1] == "--list":
        used, recorded = used_metrics()
        for name in sorted(used):
            kind = " (recording rule)" if name in recorded else " (Prometheus)" if name in SYNTHETIC else ""
            print(f"{name}{kind}  {', '.join(sorted(used[name]))}")
        return 0
    # `--except PREFIX`: names a scrape of this kind cannot hold (a single
    # server's has no wallboard_cluster_*); another scrape checks them.
    excepted = []
    while len(argv) >= 4 and argv[-2] == "--except":
        excepted.append(argv[-1])
        argv = argv[:-2]
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        text = Path(argv[1]).read_text(encoding="utf-8")
    except OSError as e:
        print(f"check-exprs: cannot read {argv[1]}: {e}", file=sys.stderr)
        return 2
    samples = scraped_metrics(text)
    used, recorded = used_metrics()
    used = {n: where for n, where in used.items() if not any(n.startswith(p) for p in excepted)}
    missing = sorted(
        name for name in used
        if name not in recorded and name not in SYNTHETIC and not present(name, samples)
    )
    checked = len([n for n in used if n not in recorded and n not in SYNTHETIC])
    if checked == 0:
        # Nothing to check is not a pass: the files moved, or the
        # extraction broke.
        print("check-exprs: found no metric names in the rules and dashboards "
              f"({len(RULE_FILES)} rule files, {len(DASHBOARD_FILES)} dashboards)", file=sys.stderr)
        return 1
    if not samples:
        print(f"check-exprs: {argv[1]} holds no samples", file=sys.stderr)
        return 1
    if missing:
        print(f"check-exprs: {len(missing)} of {checked} metric names used by the rules and dashboards "
              f"are not in {argv[1]}:")
        for name in missing:
            print(f"  {name}  (used in {', '.join(sorted(used[name]))})")
        return 1
    print(f"check-exprs: all {checked} metric names used by the rules and dashboards are in {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
