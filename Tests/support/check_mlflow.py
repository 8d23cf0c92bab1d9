#!/usr/bin/env python3
"""Checks, with MLflow's own Python client, what the MovieRec mirror wrote to a tracking server.

    check_mlflow.py EXPECTED.json [--ui SCREENSHOT.png]

EXPECTED.json: {"tracking_uri", "experiment", "runs": [{"run_id", "version", "model_file"}],
"champion_version", "models": ["NormalPredictor", "SVD"]}. model_file is our model.bin as read
from our bucket; the artifact in MLflow must be byte-identical. With --ui, the experiment's page
is opened in headless Chromium and must list the runs. Prints "ok" or what failed; exit 1 on failure.
"""
import json
import os
import sys
import tempfile

import mlflow
from mlflow.tracking import MlflowClient

expected = json.load(open(sys.argv[1]))
mlflow.set_tracking_uri(expected["tracking_uri"])
client = MlflowClient()
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


experiment = client.get_experiment_by_name(expected["experiment"])
check(experiment is not None, f"no experiment {expected['experiment']}")
if experiment is None:
    print("FAILED:", failures)
    sys.exit(1)

runs = client.search_runs([experiment.experiment_id], max_results=1000)
parents = {r.data.tags.get("movierec.run_id"): r for r in runs if "mlflow.parentRunId" not in r.data.tags}
children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
check(len(parents) == len(expected["runs"]), f"{len(parents)} parent runs, expected {len(expected['runs'])}")
mlflow_versions = {}
for ours in expected["runs"]:
    parent = parents.get(ours["run_id"])
    if parent is None:
        failures.append(f"no parent run for {ours['run_id']}")
        continue
    check(parent.info.status == "FINISHED", f"parent {ours['run_id']} is {parent.info.status}")
    for key in ("folds", "seed", "metric", "svd.factors", "models", "data.hash", "data.ratings", "data.users", "data.movies"):
        check(key in parent.data.params, f"param {key} missing from {ours['run_id']}: {sorted(parent.data.params)}")
    for key in ("rmse", "mae", "holdout_rmse", "duration_seconds"):
        check(key in parent.data.metrics, f"metric {key} missing from {ours['run_id']}")
    check(parent.data.tags.get("movierec.trigger") in ("manual", "nightly", "api"), f"trigger tag: {parent.data.tags.get('movierec.trigger')}")
    check(parent.data.tags.get("movierec.promoted") == ("true" if ours["promoted"] else "false"), f"promoted tag of {ours['run_id']}")
    check(bool(parent.data.tags.get("movierec.decision")), "decision reason tag missing")
    mine = [c for c in children if c.data.tags["mlflow.parentRunId"] == parent.info.run_id]
    check(sorted(c.info.run_name for c in mine) == sorted(expected["models"]), f"child runs {[c.info.run_name for c in mine]}")
    for child in mine:
        history = client.get_metric_history(child.info.run_id, "rmse")
        check(sorted(m.step for m in history) == list(range(int(parent.data.params["folds"]))), f"rmse steps of {child.info.run_name}: {history}")
        for key in ("rmse_mean", "rmse_std", "mae_mean", "mae_std", "fit_seconds_mean", "test_seconds_mean"):
            check(key in child.data.metrics, f"{key} missing from child {child.info.run_name}")
        check(any(k.startswith("ranking.") for k in child.data.metrics), f"no ranking metrics on {child.info.run_name}")
    with tempfile.TemporaryDirectory() as directory:
        listed = sorted(a.path for a in client.list_artifacts(parent.info.run_id)) + sorted(a.path for a in client.list_artifacts(parent.info.run_id, "model"))
        check({"metrics.json", "run.json", "model/model.bin"} <= set(listed), f"artifacts {listed}")
        path = client.download_artifacts(parent.info.run_id, "model/model.bin", directory)
        check(open(path, "rb").read() == open(ours["model_file"], "rb").read(), f"model.bin of {ours['run_id']} differs from our bucket's")
    versions = client.search_model_versions(f"name='Best_Film_Recommender' and run_id='{parent.info.run_id}'")
    check(len(versions) == 1, f"{len(versions)} model versions for {ours['run_id']}")
    if versions:
        check(versions[0].tags.get("movierec.version") == str(ours["version"]), f"version tag {versions[0].tags}")
        mlflow_versions[ours["version"]] = versions[0].version

champion = client.get_model_version_by_alias("Best_Film_Recommender", "champion")
check(champion.tags.get("movierec.version") == str(expected["champion_version"]),
      f"alias champion is MLflow version {champion.version} (ours {champion.tags.get('movierec.version')}), expected ours {expected['champion_version']}")

if len(sys.argv) > 3 and sys.argv[2] == "--ui":
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    try:
        driver.get(f"{expected['tracking_uri']}/#/experiments/{experiment.experiment_id}/runs")
        names = [f"v{ours['version']}" for ours in expected["runs"]]
        try:
            WebDriverWait(driver, 60, poll_frequency=0.5).until(lambda d: all(n in d.find_element("tag name", "body").text for n in names))
        except Exception:
            failures.append(f"the MLflow UI's experiment page does not show the runs {names}: {driver.find_element('tag name', 'body').text[:500]!r}")
        driver.save_screenshot(sys.argv[3])
    finally:
        driver.quit()

if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
print(json.dumps({"ok": True, "experiment_id": experiment.experiment_id, "mlflow_versions": mlflow_versions}))
