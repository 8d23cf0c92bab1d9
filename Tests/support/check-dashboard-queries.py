#!/usr/bin/env python3
"""Runs every PromQL query of the Grafana dashboard in a real Prometheus (Debian's package)
that scrapes a running local runner, and fails on any query Prometheus refuses, or one that
finds no series although the runner exports its metric.

    python3 Tests/support/check-dashboard-queries.py http://127.0.0.1:8080 [dashboard.json]
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = sys.argv[1].rstrip("/")
DASHBOARD = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "template", "grafana", "dashboards", "movierec.json")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


target = urllib.parse.urlparse(RUNNER).netloc
work = tempfile.mkdtemp(prefix="movierec-prometheus-")
config = os.path.join(work, "prometheus.yml")
with open(config, "w") as f:
    f.write(f"global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: runner\n    static_configs: [{{targets: ['{target}']}}]\n")
port = free_port()
prometheus = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={work}/data",
                               f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
api = f"http://127.0.0.1:{port}/api/v1"
failures = []
try:
    # Ready once the runner has been scraped a few times (rate() needs two samples).
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            result = get(f"{api}/query?query=" + urllib.parse.quote("count_over_time(up[1m])"))["data"]["result"]
            if result and float(result[0]["value"][1]) >= 4:
                break
        except Exception:
            pass
        time.sleep(0.5)
    else:
        sys.exit("Prometheus did not scrape the runner in time")
    up = get(f"{api}/query?query=up")["data"]["result"]
    assert up and up[0]["value"][1] == "1", f"the runner's /metrics is not up in Prometheus: {up}"
    exported = set(get(f"{api}/label/__name__/values")["data"])
    queries = 0
    for panel in json.load(open(DASHBOARD))["panels"]:
        for target_ in panel.get("targets", []):
            expression = target_.get("expr")
            if not expression:
                continue
            queries += 1
            # Grafana's $__rate_interval and friends: a plain range here.
            expression = re.sub(r"\$__\w+", "1m", expression)
            answer = get(f"{api}/query?query=" + urllib.parse.quote(expression))
            if answer.get("status") != "success":
                failures.append(f"{panel['title']}: {expression}: {answer}")
                continue
            names = set(re.findall(r"\b([a-z_]+_(?:total|seconds_bucket|detected|score|version|rmse|workers))\b", expression))
            if names <= exported and not answer["data"]["result"]:
                failures.append(f"{panel['title']}: {expression}: no series although {sorted(names)} are exported")
    print(f"{DASHBOARD}: {queries} queries run in Prometheus against {RUNNER}: {len(failures)} failed")
finally:
    prometheus.terminate()
    prometheus.wait()
    shutil.rmtree(work, ignore_errors=True)
if failures:
    sys.exit("\n".join(failures))
