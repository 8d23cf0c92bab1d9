#!/usr/bin/env python3
"""Drives the operator UI in headless Chromium against a running runner and checks that each
page shows the API's real data and that one interaction per page works. Saves a screenshot of
every step.

    python3 Tests/ui/check-ui.py http://127.0.0.1:8080 /tmp/ui-screenshots
    PAGES=monitoring-historical python3 Tests/ui/check-ui.py ...   # a runner on a historical dataset

Needs Debian's chromium and chromium-driver, and `pip install selenium`. Starts a training run
and changes the drift baseline: point it at a throwaway runner, not one whose data matters.
"""
import json
import os
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

BASE = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else "http://127.0.0.1:8080"
SHOTS = sys.argv[2] if len(sys.argv) > 2 else "ui-screenshots"
os.makedirs(SHOTS, exist_ok=True)


def call(method, path, body=None):
    """The API itself, to compare the page with."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000", "--disable-gpu"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)


driver = browser()
wait = WebDriverWait(driver, 30)
failures = []


def text(css):
    return driver.find_element(By.CSS_SELECTOR, css).text


def until(description, predicate, timeout=30):
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(lambda _: predicate())
    except Exception as error:  # timeout: say what was awaited
        raise AssertionError(f"timed out waiting for {description}") from error


def shot(name):
    """A full-page screenshot: the window is stretched to the document's height first."""
    height = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    driver.set_window_size(1280, min(max(height + 40, 800), 6000))
    path = os.path.join(SHOTS, f"{name}.png")
    driver.save_screenshot(path)
    driver.set_window_size(1280, 1000)
    print(f"  screenshot {path}")


def script_errors():
    """JavaScript exceptions in the console (failed fetches that the page reports in words are fine)."""
    errors = []
    for entry in driver.get_log("browser"):
        if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]:
            errors.append(entry["message"])
    return errors


def check(name, steps):
    print(f"== {name}")
    try:
        steps()
        errors = script_errors()
        assert not errors, f"script errors: {errors}"
        print("  ok")
    except Exception as error:  # report every page, then fail
        failures.append(f"{name}: {error}")
        print(f"  FAILED: {error}")
        try:
            shot(f"{name}-failed")
        except Exception:
            pass


def home():
    stats = call("GET", "/stats")
    champion = call("GET", "/models")["champion"]
    driver.get(BASE + "/#home")
    until("the ratings count", lambda: f"{stats['ratings']:,}" in text("#home-counts"))
    until("the champion", lambda: f"v{champion['version']}" in text("#home-status"))
    status = text("#home-status")
    assert "DATABASE" in status.upper() and "ok" in status, status
    shot("1-home")
    # Interaction: new ratings arrive; Refresh shows the new count.
    added = call("POST", "/generate-ratings?batch_size=250")["inserted"]
    driver.find_element(By.ID, "home-refresh").click()
    until("the new ratings count", lambda: f"{stats['ratings'] + added:,}" in text("#home-counts"))
    shot("1-home-refreshed")
    # Interaction: run the nightly pipeline by hand and see its steps succeed.
    before = len(call("GET", "/schedules/nightly/runs")["runs"])
    driver.find_element(By.CSS_SELECTOR, "button.run-now[data-schedule='nightly']").click()
    def ended():
        runs = call("GET", "/schedules/nightly/runs")["runs"]
        return len(runs) == before + 1 and runs[0]["status"] != "running"
    until("the nightly run to end", ended, timeout=300)
    run = call("GET", "/schedules/nightly/runs")["runs"][0]
    assert run["status"] == "succeeded", run
    until("the run's steps on the page", lambda: "GenerateRatings: succeeded" in text("#home-schedules") and "Retrain: succeeded" in text("#home-schedules"))
    shot("1-home-nightly-run")


def recommendations():
    driver.get(BASE + "/#recommendations")
    until("user 1's list", lambda: "Top 10 for user 1" in text("#rec-result"))
    # Interaction: pick another user; the page must show what the API answers for them.
    user = call("GET", "/get-random-ratings?n=1")["ratings"][0]["user_id"]
    field = driver.find_element(By.ID, "rec-user")
    field.clear()
    field.send_keys(str(user))
    Select(driver.find_element(By.ID, "rec-topn")).select_by_visible_text("5")
    driver.find_element(By.CSS_SELECTOR, "#rec-form button[type=submit]").click()
    until(f"user {user}'s list", lambda: f"for user {user}" in text("#rec-result"))
    expected = call("POST", "/predict/", {"user_id": user, "top_n": 5})
    shown = text("#rec-result")
    for item in expected["recommendations"]:
        assert item["title"] in shown, f"{item['title']} missing from the page"
        # Predicted ratings with two decimals: 4.96 must not read "5".
        assert f"{item['score']:.2f}" in shown, f"score {item['score']:.2f} of {item['title']} not shown"
    assert expected["method"] in shown, f"method {expected['method']} not shown"
    until("the user's own ratings", lambda: "own ratings" in text("#rec-history"))
    shot("2-recommendations-user")

    # Interaction: a new visitor picks genres, rates a movie, and the list changes at once.
    driver.find_element(By.ID, "visitor-new").click()
    for genre in ("Comedy", "Drama"):
        driver.find_element(By.CSS_SELECTOR, f"#visitor-genres input[value='{genre}']").click()
    driver.find_element(By.CSS_SELECTOR, "#visitor-form button[type=submit]").click()
    until("the visitor's cold-start list", lambda: "popularity_cold_start" in text("#visitor-result"))
    before = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#visitor-result tbody tr")]
    assert before, "no movies for the new visitor"
    shot("2-recommendations-visitor-before")
    for row in range(3):  # rate the first movie shown, three times over (each rating refreshes the list)
        stars = driver.find_elements(By.CSS_SELECTOR, "#visitor-result tbody tr:first-child .star")
        stars[4 if row % 2 == 0 else 1].click()
        until(f"{row + 1} rating(s) saved", lambda: f"after {row + 1} rating" in text("#visitor-result"))
    until("a fold-in answer", lambda: "_fold_in" in text("#visitor-result"))  # svd_fold_in or knn_*_fold_in: whichever model is champion
    after = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#visitor-result tbody tr")]
    assert after != before, "the list did not change after rating"
    assert "Your ratings" in text("#visitor-rated")
    shot("2-recommendations-visitor-after")


def training():
    runs_before = len(call("GET", "/training/runs")["runs"])
    driver.get(BASE + "/#training")
    until("the runs table", lambda: len(driver.find_elements(By.CSS_SELECTOR, "#train-runs tbody tr")) == runs_before)
    until("the accuracy chart", lambda: driver.find_elements(By.CSS_SELECTOR, "#train-chart svg path"))
    assert "champion" in text("#train-models")
    shot("3-training")
    # Interaction: start a forced run and follow it to the end.
    driver.find_element(By.ID, "train-force").click()
    driver.find_element(By.CSS_SELECTOR, "#train-form button[type=submit]").click()
    until("the run to be queued", lambda: "queued" in text("#train-live") or driver.find_elements(By.CSS_SELECTOR, "#train-live progress"))
    until("live progress", lambda: driver.find_elements(By.CSS_SELECTOR, "#train-live progress"), timeout=60)
    shot("3-training-running")
    until("the run to finish", lambda: "succeeded" in text("#train-live") or "failed" in text("#train-live"), timeout=600)
    assert "succeeded" in text("#train-live"), text("#train-live")
    assert "Promoted" in text("#train-live") or "Not promoted" in text("#train-live"), "no decision shown"
    until("the new run in the history", lambda: len(driver.find_elements(By.CSS_SELECTOR, "#train-runs tbody tr")) == runs_before + 1)
    shot("3-training-finished")


def monitoring():
    driver.get(BASE + "/#monitoring")
    expected = call("GET", "/monitoring/drift?days=7")
    until("the drift verdict", lambda: "drift" in text("#mon-verdict").lower() and "features drifted" in text("#mon-verdict"))
    rows = driver.find_elements(By.CSS_SELECTOR, "#mon-features tbody tr")
    assert len(rows) == len(expected["features"]), f"{len(rows)} feature rows, API has {len(expected['features'])}"
    until("histograms of both windows", lambda: len(driver.find_elements(By.CSS_SELECTOR, "#mon-histograms figure")) >= 3
          and "current" in text("#mon-histograms"))
    until("rating statistics", lambda: "RATINGS" in text("#mon-stats").upper())
    until("recommendation quality", lambda: "REQUESTS" in text("#mon-quality").upper())
    shot("4-monitoring")
    # Interaction: widen the window to 30 days; then take a new baseline.
    Select(driver.find_element(By.ID, "mon-days")).select_by_value("30")
    wide = call("GET", "/monitoring/stats?days=30")
    until("the 30-day statistics", lambda: f"{wide['ratings']:,}" in text("#mon-stats"))
    assert driver.find_element(By.ID, "mon-report").get_attribute("href").endswith("days=30")
    baseline = call("GET", "/monitoring/drift/baseline")["baseline_id"]
    Select(driver.find_element(By.ID, "baseline-window")).select_by_value("10000")
    driver.find_element(By.CSS_SELECTOR, "#baseline-form button[type=submit]").click()
    until("the new baseline", lambda: f"Baseline #{baseline + 1}" in text("#mon-baseline"))
    assert "10,000 ratings" in text("#mon-baseline"), text("#mon-baseline")
    until("the verdict against the new baseline", lambda: f"baseline #{baseline + 1}" in text("#mon-verdict"))
    shot("4-monitoring-new-baseline")


def training_mlflow():
    """With MLflow: each mirrored run links to its page there."""
    runs = [r for r in call("GET", "/training/runs")["runs"] if (r.get("mlflow") or {}).get("status") == "mirrored"]
    assert runs, "no run mirrored into MLflow"
    driver.get(BASE + "/#training")
    until("the MLflow links", lambda: len(driver.find_elements(By.LINK_TEXT, "open run")) == len(runs))
    links = [a.get_attribute("href") for a in driver.find_elements(By.LINK_TEXT, "open run")]
    assert links == [r["mlflow"]["url"] for r in runs], f"{links} != {[r['mlflow']['url'] for r in runs]}"
    assert "api" in text("#train-runs"), "the trigger column does not show api"
    shot("3-training-mlflow")


def monitoring_historical():
    """A dataset whose newest rating is years old, as MovieLens is: the default 7-day window is
    empty, so the page falls back to the latest 10,000 ratings and says so, with no error box."""
    assert call("GET", "/monitoring/stats?days=7")["ratings"] == 0, "this check needs a historical dataset"
    latest = call("GET", "/monitoring/stats?last_ratings=10000")
    expected = call("GET", "/monitoring/drift?last_ratings=10000")
    driver.get(BASE + "/#monitoring")
    until("the fallback notice", lambda: "No ratings in the last 7 days" in text("#mon-window"))
    assert "latest 10,000 ratings instead" in text("#mon-window"), text("#mon-window")
    until("the drift verdict", lambda: "features drifted" in text("#mon-verdict"))
    assert f"Current window: {expected['current']['rows']:,} ratings" in text("#mon-verdict"), text("#mon-verdict")
    until("rating statistics", lambda: f"{latest['ratings']:,}" in text("#mon-stats"))
    until("histograms of both windows", lambda: "current (latest 10,000 ratings)" in text("#mon-histograms"))
    assert driver.find_element(By.ID, "mon-report").get_attribute("href").endswith("last_ratings=10000")
    errors = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#view-monitoring .error")]
    assert not errors, f"error boxes on the page: {errors}"
    shot("4-monitoring-historical")
    # "all time" holds ratings: no fallback then.
    Select(driver.find_element(By.ID, "mon-days")).select_by_value("36500")
    until("the notice gone", lambda: text("#mon-window") == "")
    until("the all-time window", lambda: f"{call('GET', '/monitoring/stats?days=36500')['ratings']:,}" in text("#mon-stats"))


def docs():
    spec = call("GET", "/openapi.json")
    operations = sum(1 for item in spec["paths"].values() for method in item if method in ("get", "post", "put", "delete", "patch", "head"))
    driver.get(BASE + "/docs")
    until("every operation", lambda: len(driver.find_elements(By.CSS_SELECTOR, ".operation")) == operations)
    assert "POST /predict/" in driver.find_element(By.TAG_NAME, "main").text
    shot("5-docs")
    # Interaction: the table of contents jumps to an operation.
    driver.find_element(By.PARTIAL_LINK_TEXT, "/monitoring/drift").click()
    until("the anchor", lambda: "#" in driver.current_url)
    shot("5-docs-anchor")


try:
    only = os.environ.get("PAGES", "home recommendations training monitoring docs").split()
    for name, steps in (("home", home), ("recommendations", recommendations), ("training", training),
                        ("monitoring", monitoring), ("monitoring-historical", monitoring_historical),
                        ("training-mlflow", training_mlflow), ("docs", docs)):
        if name not in only:
            continue
        check(name, steps)
finally:
    driver.quit()

if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
print(f"all pages ok; screenshots in {SHOTS}")
