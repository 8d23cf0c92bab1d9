#!/usr/bin/env python3
"""Checks the Grafana dashboard against the metrics the runner exports: every metric named in a
panel's PromQL must be exported, and every panel must have a datasource and a query.

    python3 Tests/support/check-dashboard.py [template/grafana/dashboards/movierec.json] [metrics.txt]

metrics.txt is a running runner's GET /metrics text; without it the names come from EXPORTED
below (the runner's contract). Histograms count with their _bucket, _sum and _count series.
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "template", "grafana", "dashboards", "movierec.json")
METRICS_TEXT = sys.argv[2] if len(sys.argv) > 2 else None

# The runner's metrics: name -> type.
EXPORTED = {
    "api_requests_total": "counter", "api_request_duration_seconds": "histogram", "recommendations_total": "counter",
    "training_runs_total": "counter", "data_drift_detected": "gauge", "drift_feature_score": "gauge",
    "drift_feature_detected": "gauge", "champion_model_version": "gauge", "champion_model_rmse": "gauge",
    "function_invocations_total": "counter", "function_errors_total": "counter", "function_cold_starts_total": "counter",
    "function_throttles_total": "counter", "function_duration_seconds": "histogram", "function_warm_workers": "gauge",
    "function_busy_workers": "gauge", "schedule_runs_total": "counter",
}

# Words of PromQL that are not metric names.
KEYWORDS = {
    "sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group",
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
    "rate", "irate", "increase", "delta", "idelta", "deriv", "histogram_quantile", "clamp_min", "clamp_max", "clamp",
    "abs", "ceil", "floor", "round", "sqrt", "exp", "ln", "log2", "log10", "time", "vector", "scalar", "absent",
    "label_replace", "label_join", "sort", "sort_desc", "changes", "resets", "predict_linear", "timestamp",
    "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time", "last_over_time", "inf", "nan",
}


def exported_series(text):
    """Series names a /metrics text exposes, with histogram and summary suffixes."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            names.add(name)
            if kind.strip() in ("histogram", "summary"):
                names |= {name + "_bucket", name + "_sum", name + "_count"}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def metric_names(expr):
    """Metric names in a PromQL expression: identifiers left after strings, label matchers,
    grouping clauses, ranges, numbers and function names are taken out."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)            # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)                        # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)  # grouping labels
    expr = re.sub(r"\[[^\]]*\]", "", expr)                       # range selectors
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        word = match.group(0)
        following = expr[match.end():].lstrip()
        if word.lower() in KEYWORDS or following.startswith("("):
            continue
        if re.fullmatch(r"\d+(e\d+)?", word) or (match.start() > 0 and (expr[match.start() - 1].isdigit() or expr[match.start() - 1] == ".")):
            continue  # the exponent of 1e-9 and the like
        names.add(word)
    return names


if METRICS_TEXT:
    available = exported_series(open(METRICS_TEXT).read())
else:
    available = set()
    for name, kind in EXPORTED.items():
        available.add(name)
        if kind == "histogram":
            available |= {name + "_bucket", name + "_sum", name + "_count"}

dashboard = json.load(open(DASHBOARD))
assert dashboard.get("uid") == "movierec-functions", "the dashboard needs its fixed uid"
problems, used = [], set()


def panels(items):
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


for panel in panels(dashboard.get("panels", [])):
    if panel.get("type") == "row":
        continue
    title = panel.get("title", f"panel {panel.get('id')}")
    targets = panel.get("targets") or []
    if not panel.get("datasource") and not all(t.get("datasource") for t in targets):
        problems.append(f"{title}: no datasource")
    queries = [t.get("expr", "").strip() for t in targets if t.get("expr", "").strip()]
    if not queries:
        problems.append(f"{title}: no query")
    for expr in queries:
        for name in metric_names(expr):
            used.add(name)
            if name not in available:
                problems.append(f"{title}: {name} is not exported (in {expr})")

if problems:
    sys.exit("dashboard problems:\n  " + "\n  ".join(problems))
source = METRICS_TEXT or "the runner's metric list"
print(f"{DASHBOARD}: {sum(1 for _ in panels(dashboard['panels']))} panels, {len(used)} metrics, all exported ({source})")
