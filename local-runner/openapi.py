#!/usr/bin/env python3
"""Writes local-runner/ui/openapi.json, the OpenAPI 3.1 description of the whole HTTP API: the
template's routes (answered by the functions) and the runner's own. The schemas mirror the Swift
types that encode each answer (named beside each one); keep them in step when those change.

    python3 local-runner/openapi.py            # rewrite the file
    python3 local-runner/openapi.py --check    # fail if the file is not what this script writes
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUTPUT = os.path.join(HERE, "ui", "openapi.json")


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required=(), description=None, **properties):
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def strict(schema):
    """A request body: the functions refuse any other key with 400 (Core/Events/AcceptedKeys.swift)."""
    schema["additionalProperties"] = False
    return schema


def t(kind, description=None, **extra):
    schema = {"type": kind, **extra}
    if description:
        schema["description"] = description
    return schema


def nullable(kind, description=None, **extra):
    return t([kind, "null"], description, **extra)


def array(items, description=None):
    return t("array", description, items=items)


def any_json(description):
    return {"description": description}


INTEGER, NUMBER, STRING, BOOLEAN = "integer", "number", "string", "boolean"
TIME = {"type": ["string", "null"], "description": "UTC time, ISO 8601 (2026-11-27T03:39:12Z)"}

SCHEMAS = {
    # Core/Support/FunctionError.swift
    "Error": obj(["error"], "The functions' one error shape.", error=obj(
        ["code", "message", "details"],
        code=t(STRING, "invalid_input, not_found, method_not_allowed, conflict, too_large, unprocessable, dependency_unavailable, internal"),
        message=t(STRING, "What went wrong, in words"),
        details=t("object", "Extra facts, e.g. run_id or missing_movie_ids", additionalProperties=True))),
    "GatewayMessage": obj(["message"], "What the gateway itself answers when no function did: 404, 405, 429, 502, 504.",
                          message=t(STRING, examples=["Not Found", "Too Many Requests", "Internal Server Error", "Endpoint request timed out"])),
    # Core/Predict/Recommendations.swift
    "PredictRequest": strict(obj(["user_id"],
                          user_id=t(INTEGER, "A user, known or new (new users get popularity or fold-in)", minimum=1, maximum=268435455),
                          top_n=t(INTEGER, "How many movies", minimum=1, maximum=100, default=5),
                          n_recommendations=t(INTEGER, "Alias of top_n (the reference system's name); send one of the two",
                                              minimum=1, maximum=100),
                          genres=array(t(STRING), "Only movies of these genres (at most 20 names)"),
                          movie_id=t(INTEGER, "Predict this one movie's rating instead of a top-N list", minimum=1))),
    "Recommendation": obj(["movie_id", "title", "genres", "score", "movie"],
                          movie_id=t(INTEGER), title=t(STRING), genres=t(STRING, "Pipe-separated, as in MovieLens"),
                          score=t(NUMBER, "Predicted rating (or popularity score for the popularity methods)"),
                          movie=t(STRING, "The title again, under the reference system's name")),
    "RecommendationList": obj(["user_id", "recommendations", "method"],
                              user_id=t(INTEGER), recommendations=array(ref("Recommendation")),
                              method=t(STRING, "svd, svd_fold_in, knn_user, knn_item, popularity_cold_start, popularity, popularity_no_model"),
                              model_version=nullable(INTEGER, "The champion version that answered"),
                              top_score=nullable(NUMBER)),
    "SinglePrediction": obj(["user_id", "movie_id", "score", "was_impossible", "method"],
                            user_id=t(INTEGER), movie_id=t(INTEGER), title=nullable(STRING), score=t(NUMBER),
                            was_impossible=t(BOOLEAN, "KNN fell back to the global mean"), method=t(STRING),
                            model_version=nullable(INTEGER), actual_rating=nullable(NUMBER, "The user's own rating, when they gave one")),
    "BatchRequest": strict(obj(["user_ids"], user_ids=array(t(INTEGER, minimum=1), "1..100000 users"),
                        top_n=t(INTEGER, minimum=1, maximum=100, default=10),
                        n_recommendations=t(INTEGER, "Alias of top_n (the reference system's name)", minimum=1, maximum=100))),
    "BatchResult": obj(["users", "rows", "key", "location", "methods", "seconds"],
                       users=t(INTEGER), rows=t(INTEGER), key=t(STRING, "Artifact key of the CSV (predictions/batch/ID.csv)"),
                       location=t(STRING, "s3:// URL of the CSV"), methods=t("object", additionalProperties=t(INTEGER)), seconds=t(NUMBER)),
    # Core/Ingest/Ratings.swift
    "RateRequest": strict(obj(["user_id", "ratings"], user_id=t(INTEGER, minimum=1),
                       ratings=array(strict(obj(["movie_id", "rating"], movie_id=t(INTEGER, minimum=1),
                                         rating=t(NUMBER, "Half stars", minimum=0.5, maximum=5, multipleOf=0.5))), "1..1000 ratings"))),
    "RateResult": obj(["user_id", "inserted", "updated", "new_user", "timestamp"], user_id=t(INTEGER), inserted=t(INTEGER),
                      updated=t(INTEGER), new_user=t(BOOLEAN), timestamp=t(INTEGER, "Epoch seconds")),
    "GenerateResult": obj(["requested", "inserted", "shift", "timestamp"], requested=t(INTEGER), inserted=t(INTEGER), shift=t(NUMBER),
                          timestamp=t(INTEGER), mean_rating=nullable(NUMBER)),
    "RandomRating": obj(["user_id", "movie_id", "title", "genres", "rating", "timestamp"], user_id=t(INTEGER), movie_id=t(INTEGER),
                        title=t(STRING), genres=t(STRING), rating=t(NUMBER), timestamp=t(INTEGER)),
    "RandomRatings": obj(["count", "ratings"], count=t(INTEGER), ratings=array(ref("RandomRating"))),
    "Stats": obj(["users", "movies", "ratings"], users=t(INTEGER), movies=t(INTEGER), ratings=t(INTEGER),
                 average_rating=nullable(NUMBER), last_import=TIME),
    # Core/Ingest/ImportTypes.swift, DatasetSynthesizer.swift
    "ImportRequest": strict(obj([], source=t(STRING, "A directory or s3://bucket/prefix/ holding the MovieLens CSV files"),
                         dataset=t(STRING, "Alone: the GroupLens dataset to download and import (ml-latest-small, ml-100k, ml-1m, ml-20m, "
                                   "ml-25m, ml-32m), cached for later imports. With source: a label for it"), on_error=t(STRING, enum=["fail", "skip"], default="fail"),
                         force=t(BOOLEAN, "Import even when these exact files were the last import", default=False))),
    "RowIssue": obj(["file", "line", "reason"], file=t(STRING), line=t(INTEGER), column=nullable(STRING), value=nullable(STRING), reason=t(STRING)),
    "ImportResult": obj(["import_id", "status", "message", "source", "fingerprint", "files", "tables", "rejected", "first_errors",
                         "duration_seconds", "phase_seconds"],
                        import_id=t(INTEGER), status=t(STRING, enum=["succeeded", "unchanged"]), message=t(STRING), source=t(STRING),
                        dataset=nullable(STRING), fingerprint=t(STRING),
                        files=t("object", additionalProperties=obj(["size", "hash"], size=t(INTEGER), hash=t(STRING))),
                        tables=t("object", additionalProperties=t(INTEGER)), rejected=t("object", additionalProperties=t(INTEGER)),
                        first_errors=array(ref("RowIssue")), duration_seconds=t(NUMBER), phase_seconds=t("object", additionalProperties=t(NUMBER))),
    "SynthesizeRequest": strict(obj(["output", "ratings"], output=t(STRING, "Directory (or s3:// prefix) to write the CSVs to"),
                             ratings=t(INTEGER, "How many ratings"), users=t(INTEGER, minimum=1), movies=t(INTEGER, minimum=1),
                             seed=t(INTEGER), tags=t(BOOLEAN, "Also write tags"), links=t(BOOLEAN, "Also write links"),
                             genome=t(BOOLEAN, "Also write genome files"))),
    "SynthesizeResult": t("object", "What was written: files, counts and time (Core/Ingest/DatasetSynthesizer.swift).", additionalProperties=True),
    # Core/Training/TrainRequest.swift, Core/Registry/Registry.swift, Core/Training/TrainingPipeline.swift
    "TrainRequest": strict(obj([], force=t(BOOLEAN, "Promote the best candidate even when it does not beat the champion", default=False),
                        models=array(t(STRING, enum=["normal", "svd", "knn"]), "Candidates (default all three)"),
                        folds=t(INTEGER, minimum=2, maximum=20, default=3), seed=t(INTEGER, default=42),
                        metric=t(STRING, enum=["rmse", "mae"], default="rmse"), min_user_ratings=t(INTEGER, minimum=0),
                        min_movie_ratings=t(INTEGER, minimum=0), sample_size=t(INTEGER, minimum=1),
                        trigger=t(STRING, "What started the run, as recorded with it and in MLflow (POST /training/ records api)",
                                  enum=["manual", "nightly", "api"], default="manual"),
                        svd=strict(obj([], "SVD parameters", factors=t(INTEGER), epochs=t(INTEGER), lr=t(NUMBER), reg=t(NUMBER),
                                       init_mean=t(NUMBER), init_std=t(NUMBER), seed=t(INTEGER), threads=t(INTEGER))),
                        knn=strict(obj([], "KNNBasic parameters", k=t(INTEGER), min_k=t(INTEGER), user_based=t(BOOLEAN),
                                       neighbour_limit=t(INTEGER))),
                        ranking_users=t(INTEGER, minimum=0, maximum=100000, default=200))),
    "IdleStatus": strict(obj(["status"], "GET /training/status before the first run: no run fields.", status=t(STRING, const="idle"))),
    "TrainingAccepted": obj(["run_id", "status", "status_url"], run_id=t(STRING, "The invocation's request id; poll status with it"),
                            status=t(STRING, const="queued"), status_url=t(STRING)),
    "Candidate": obj(["algorithm", "name", "folds", "rmse_mean", "rmse_std", "mae_mean", "mae_std"],
                     algorithm=t(STRING), name=t(STRING), variant=nullable(STRING),
                     folds=array(obj(["fold", "rmse", "mae"], fold=t(INTEGER), rmse=t(NUMBER), mae=t(NUMBER), impossible=t(INTEGER),
                                     fit_seconds=t(NUMBER), test_seconds=t(NUMBER))),
                     rmse_mean=t(NUMBER), rmse_std=t(NUMBER), mae_mean=t(NUMBER), mae_std=t(NUMBER),
                     fit_seconds_mean=t(NUMBER), test_seconds_mean=t(NUMBER), ranking={"oneOf": [ref("RankingMetrics"), {"type": "null"}]}),
    "RankingMetrics": obj(["precision_at_10", "recall_at_10", "ndcg_at_10", "catalog_coverage", "users_evaluated"],
                          precision_at_10=t(NUMBER), recall_at_10=t(NUMBER), ndcg_at_10=t(NUMBER), catalog_coverage=t(NUMBER),
                          users_evaluated=t(INTEGER)),
    "Decision": obj(["promoted", "reason", "challenger"], promoted=t(BOOLEAN), reason=t(STRING, "Why, with both models' scores"),
                    challenger=ref("DecisionMetric"), champion={"oneOf": [ref("DecisionMetric"), {"type": "null"}]}),
    "DecisionMetric": obj(["algorithm", "rmse", "mae"], version=nullable(INTEGER), algorithm=t(STRING), rmse=t(NUMBER), mae=t(NUMBER)),
    "TrainingRun": obj(["run_id", "status", "stage", "progress"],
                       run_id=t(STRING), status=t(STRING, enum=["queued", "running", "succeeded", "failed"]), stage=t(STRING),
                       progress=t(NUMBER, "Percent, 0..100"), eta_seconds=nullable(NUMBER),
                       parameters=any_json("The request as sent"), data=any_json("ratings, users, movies, max_timestamp, hash, all_ratings"),
                       candidates={"oneOf": [array(ref("Candidate")), {"type": "null"}]}, best=nullable(STRING),
                       decision={"oneOf": [ref("Decision"), {"type": "null"}]}, model_version=nullable(INTEGER), error=nullable(STRING),
                       created_at=TIME, started_at=TIME, finished_at=TIME, duration_seconds=nullable(NUMBER),
                       mlflow=any_json("What the MLflow mirror holds of the run: status (mirrored or failed), run_id, experiment_id, "
                                       "model_version, url (the run's page), tracking_uri, error, attempts, at; absent without MLflow")),
    "RunList": obj(["runs"], runs=array(ref("TrainingRun"))),
    "ModelVersion": obj(["name", "version", "algorithm", "artifact", "artifact_key", "artifact_size", "artifact_checksum", "aliases"],
                        name=t(STRING), version=t(INTEGER), algorithm=t(STRING), variant=nullable(STRING), run_id=nullable(STRING),
                        metrics=any_json("metric, best, rmse, mae, holdout_rmse, holdout_mae, ranking, candidates, final_fit_seconds"),
                        parameters=any_json("folds, seed, metric, svd, knn"), data=any_json("The training data's size and fingerprint"),
                        artifact=t(STRING, "s3:// URL of model.bin"), artifact_key=t(STRING), artifact_size=t(INTEGER),
                        artifact_checksum=t(STRING), created_at=TIME, aliases=array(t(STRING), "e.g. [\"champion\"]")),
    "ModelList": obj(["name", "versions"], name=t(STRING, const="Best_Film_Recommender"),
                     champion={"oneOf": [ref("ModelVersion"), {"type": "null"}]}, versions=array(ref("ModelVersion"))),
    # Core/Drift/*
    "WindowSpec": obj([], **{"from": t(INTEGER, "Epoch seconds, inclusive"), "to": t(INTEGER, "Epoch seconds"),
                             "last_ratings": t(INTEGER, "The most recent N ratings of the range")}),
    "FeatureDrift": obj(["name", "type", "method", "statistic", "threshold", "drifted", "psi", "reference_size", "current_size", "unique_values"],
                        name=t(STRING, "rating, hour_of_day, day_of_week, genre, movie_popularity, user_activity"),
                        type=t(STRING, enum=["numerical", "categorical"]),
                        method=t(STRING, enum=["ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"]),
                        statistic=t(NUMBER), p_value=nullable(NUMBER), threshold=t(NUMBER), drifted=t(BOOLEAN), psi=t(NUMBER),
                        reference_size=t(NUMBER), current_size=t(NUMBER), unique_values=t(INTEGER)),
    "WindowSummary": obj(["window", "rows"], window=ref("WindowSpec"), rows=t(INTEGER), created_at=TIME),
    "DriftResult": obj(["drift_detected", "share_drifted", "drifted_features", "drift_share_threshold", "features", "baseline_id",
                        "reference", "current", "seconds"],
                       drift_detected=t(BOOLEAN), share_drifted=t(NUMBER), drifted_features=t(INTEGER), drift_share_threshold=t(NUMBER),
                       features=array(ref("FeatureDrift")), baseline_id=t(INTEGER), reference=ref("WindowSummary"),
                       current=ref("WindowSummary"), report_id=nullable(INTEGER), report=nullable(STRING), seconds=t(NUMBER)),
    "FeatureDistribution": obj(["name", "kind", "values", "labels", "counts"], name=t(STRING),
                               kind=t(STRING, enum=["numerical", "categorical"]), values=array(t(NUMBER), "Numerical: sorted distinct values"),
                               labels=array(t(STRING), "Categorical: the categories"), counts=array(t(NUMBER))),
    "Baseline": obj(["baseline_id", "window", "rows", "features"], baseline_id=t(INTEGER), created_at=TIME, window=ref("WindowSpec"),
                    rows=t(INTEGER), features=array(ref("FeatureDistribution")), artifact=nullable(STRING)),
    "RatingStats": obj(["from", "users", "movies", "ratings", "distinct_days"], days=t(INTEGER, "The window in days, when given by days"),
                       last_ratings=t(INTEGER, "The window in ratings, when given by last_ratings"),
                       **{"from": t(INTEGER, "Epoch seconds")}, users=t(INTEGER), movies=t(INTEGER), ratings=t(INTEGER),
                       mean=nullable(NUMBER), std=nullable(NUMBER), min=nullable(NUMBER), max=nullable(NUMBER), distinct_days=t(INTEGER)),
    "RecommendationQuality": obj(["days", "requests", "items", "distinct_items", "methods", "mean_score_by_method"],
                                 days=t(INTEGER), requests=t(INTEGER), items=t(INTEGER), distinct_items=t(INTEGER),
                                 intra_list_genre_diversity=nullable(NUMBER, "1 - Jaccard of genre sets, mean over pairs and lists"),
                                 novelty=nullable(NUMBER, "Share of items outside the 100 most-rated movies"),
                                 catalog_coverage=nullable(NUMBER), methods=t("object", additionalProperties=t(INTEGER)),
                                 mean_score_by_method=t("object", additionalProperties=t(NUMBER))),
    # the runner: local-runner/Sources/RunnerKit
    "Health": obj(["status", "database", "functions", "routes"], status=t(STRING, enum=["ok", "degraded"]),
                  database=t(STRING, "ok, error or not checked"), storage=t(STRING, "ok or what is wrong"),
                  functions=t("object", "Per function: workers, busy, queued, invocations, cold_starts",
                              additionalProperties=t("object", additionalProperties=t(INTEGER))),
                  routes=array(t(STRING), "The template's routes, \"METHOD /path\"")),
    "ScheduleRunStep": obj(["name", "status"], name=t(STRING), status=t(STRING), attempts=t(INTEGER), error=nullable(STRING)),
    "ScheduleRun": obj(["id", "schedule", "trigger", "status", "started_at"], id=t(STRING), schedule=t(STRING),
                       trigger=t(STRING, enum=["schedule", "manual"]), status=t(STRING, enum=["running", "succeeded", "failed"]),
                       started_at=TIME, finished_at=TIME, steps=array(ref("ScheduleRunStep"))),
    "Schedule": obj(["name", "expression", "next_fire", "targets"], name=t(STRING), expression=t(STRING, "cron(...) or rate(...), UTC"),
                    next_fire=TIME, targets=array({"description": "A function the schedule invokes, with its input"}),
                    last_run={"oneOf": [ref("ScheduleRun"), {"type": "null"}]}),
    "ScheduleList": obj(["schedules"], schedules=array(ref("Schedule"))),
    "ScheduleRuns": obj(["runs"], runs=array(ref("ScheduleRun"))),
    "Accepted": obj(["run_id"], run_id=t(STRING)),
}


def json_body(schema, description="OK"):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": json_body(ref("Error"), "Invalid input: the message names the field. An unknown body field or query parameter is "
                     "refused too, with the accepted names and a suggestion (details.unknown, details.accepted, details.suggestions)"),
    "404": json_body({"oneOf": [ref("Error"), ref("GatewayMessage")]}, "Unknown thing, or no such route"),
    "429": json_body(ref("GatewayMessage"), "Every worker of the function is busy for 2 s"),
    "502": json_body(ref("GatewayMessage"), "The function failed or crashed"),
    "503": json_body(ref("Error"), "A dependency (database, storage, model artifact) is down"),
    "504": json_body(ref("GatewayMessage"), "The function did not answer within its timeout"),
}


def query(name, kind, description, **extra):
    return {"name": name, "in": "query", "required": False, "description": description, "schema": t(kind, **extra)}


def operation(tag, summary, description, responses, parameters=(), body=None, errors=("400", "429", "502", "504")):
    op = {"tags": [tag], "summary": summary, "description": description, "responses": dict(responses)}
    op["operationId"] = None  # filled in by route()
    if parameters:
        op["parameters"] = list(parameters)
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    for code in errors:
        op["responses"].setdefault(code, ERRORS[code])
    return op


PATHS = {}


def route(method, path, op):
    op["operationId"] = (method + "_" + path.strip("/").replace("/", "_").replace("-", "_").replace("{", "").replace("}", "")) or method + "_root"
    PATHS.setdefault(path, {})[method.lower()] = op


WINDOW = [query("days", INTEGER, "The last N days (default 7)", minimum=1, maximum=36500),
          query("last_ratings", INTEGER, "Instead: the most recent N ratings", minimum=1),
          query("from", INTEGER, "Instead: from this epoch second", minimum=0), query("to", INTEGER, "... to this one", minimum=0),
          query("method", STRING, "Force one test for every feature", enum=["ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"]),
          query("threshold", NUMBER, "The test's threshold (p-value or distance)"),
          query("threshold_pct", NUMBER, "The reference system's parameter: threshold as a percentage"),
          query("drift_share", NUMBER, "Share of drifted features from which the dataset counts as drifted (default 0.5)")]
DAYS = [query("days", INTEGER, "The last N days (default 7)", minimum=1, maximum=36500)]
CONFLICT = json_body(ref("Error"), "Conflict (e.g. no baseline yet, no ratings in the window)")

# ingest
route("POST", "/ingest", operation("ingest", "Import a MovieLens dataset",
      "All or nothing: the reference tables are replaced in one transaction. Importing the same files again answers status unchanged.",
      {"200": json_body(ref("ImportResult")), "422": json_body(ref("Error"), "A bad row: file, line, column, value")},
      body=ref("ImportRequest")))
route("POST", "/ingest/synthesize", operation("ingest", "Write a synthetic MovieLens-format dataset",
      "Deterministic from the seed; any size.", {"200": json_body(ref("SynthesizeResult"))}, body=ref("SynthesizeRequest")))
route("POST", "/ratings", operation("ingest", "Record a user's ratings",
      "Upsert of up to 1000 ratings; a new user is created. The next prediction folds them in.",
      {"200": json_body(ref("RateResult")), "413": json_body(ref("Error"), "More than 1000 ratings"),
       "422": json_body(ref("Error"), "Unknown movie ids (details.missing_movie_ids)")}, body=ref("RateRequest")))
route("POST", "/generate-ratings", operation("ingest", "Add synthetic ratings",
      "Follows the stored ratings on every drift feature: users and times of day drawn from stored ratings, movies as popular as "
      "real users pick them, weekdays filling the window to the stored mix. shift moves every rating by that many stars: "
      "only the rating feature is meant to drift with it.",
      {"200": json_body(ref("GenerateResult")), "409": CONFLICT},
      [query("batch_size", INTEGER, "How many (default 1000)", minimum=1, maximum=100000),
       query("shift", NUMBER, "Stars added to each rating (drift)", minimum=-4.5, maximum=4.5),
       query("seed", INTEGER, "Repeatable draws", minimum=0), query("spread_days", INTEGER, "Timestamps inside the N days before now (default 7: every weekday fits)", minimum=1, maximum=365)]))
route("GET", "/get-random-ratings", operation("ingest", "A random sample of ratings with titles", "Block sampling, no full-table sort.",
      {"200": json_body(ref("RandomRatings"))},
      [query("n", INTEGER, "How many (default 10)", minimum=1, maximum=1000), query("user_id", INTEGER, "Only this user's", minimum=1)],
      errors=("400", "404", "429", "502", "504")))
route("GET", "/stats", operation("ingest", "Totals", "Users, movies, ratings, average rating, last import: O(1), kept by triggers.",
      {"200": json_body(ref("Stats"))}))
# train
route("POST", "/training/", operation("training", "Start a training run",
      "The run is recorded as queued and handed to the train function as an Event invocation (Lambda Invoke API): 202 at once "
      "with the run id; poll GET /training/status?run_id=. One run at a time: while one is queued or running, 409 names it.",
      {"202": json_body(ref("TrainingAccepted"), "Accepted"),
       "409": json_body(ref("Error"), "A run is already queued or running (details.run_id, details.status, details.status_url)"),
       "503": json_body(ref("Error"), "The database is down, or the Invoke API refused the hand-over (the run is marked failed)")},
      body=ref("TrainRequest"), errors=("400", "404", "429")))
route("GET", "/training/status", operation("training", "A run's stage, progress and decision",
      "The latest run without run_id; {\"status\": \"idle\"} before the first run.",
      {"200": json_body({"oneOf": [ref("TrainingRun"), ref("IdleStatus")]})}, [query("run_id", STRING, "The run id from POST /training/")],
      errors=("400", "404", "429", "502", "504")))
route("GET", "/training/runs", operation("training", "Run history", "Newest first.", {"200": json_body(ref("RunList"))},
      [query("limit", INTEGER, "How many (default 50)", minimum=1, maximum=1000)]))
route("GET", "/models", operation("training", "Model versions and the champion", "Every version of Best_Film_Recommender, newest first.",
      {"200": json_body(ref("ModelList"))}))
# predict
route("POST", "/predict/", operation("predict", "Top-N recommendations (or one predicted rating)",
      "Movies the user has not rated, from the champion; fold-in for users newer than the model; popularity for unknown users. "
      "With movie_id: one predicted rating.",
      {"200": json_body({"oneOf": [ref("RecommendationList"), ref("SinglePrediction")]}), "404": json_body(ref("Error"), "Unknown movie"),
       "503": ERRORS["503"]}, body=ref("PredictRequest")))
route("POST", "/predict/batch", operation("predict", "Top-N for many users, as a CSV in the artifact store", "The CSV's key in the answer.",
      {"200": json_body(ref("BatchResult")), "413": json_body(ref("Error"), "More than 100000 users"), "503": ERRORS["503"]},
      body=ref("BatchRequest")))
# drift
route("GET", "/monitoring/drift", operation("monitoring", "Drift verdict per feature and for the dataset",
      "The current window against the latest baseline; tests chosen as Evidently does by default.",
      {"200": json_body(ref("DriftResult")), "409": CONFLICT}, WINDOW))
route("POST", "/monitoring/drift/baseline", operation("monitoring", "Take the baseline (reference window)",
      "Every rating up to now by default. Parameters in the query or as a JSON body.",
      {"201": json_body(ref("Baseline"), "Created"), "409": CONFLICT},
      [query("from", INTEGER, "From this epoch second", minimum=0), query("to", INTEGER, "To this epoch second (default now)", minimum=0),
       query("last_ratings", INTEGER, "The most recent N ratings", minimum=1)]))
route("GET", "/monitoring/drift/baseline", operation("monitoring", "The latest baseline", "Its window and feature distributions.",
      {"200": json_body(ref("Baseline"))}, errors=("404", "429", "502", "504")))
REPORT = {"200": {"description": "A self-contained HTML page (inline SVG histograms), also stored under reports/drift/",
                  "content": {"text/html": {"schema": t(STRING)}}}, "409": CONFLICT}
route("GET", "/monitoring/drift/report", operation("monitoring", "The HTML drift report", "Same parameters as /monitoring/drift.", REPORT, WINDOW))
route("GET", "/monitoring/drift/evidently", operation("monitoring", "The HTML drift report (the reference system's name)",
      "Alias of /monitoring/drift/report.", REPORT, WINDOW))
route("GET", "/monitoring/stats", operation("monitoring", "Rating statistics over a window", "Users, movies, ratings, mean, std, min, max, days.",
      {"200": json_body(ref("RatingStats"))},
      DAYS + [query("last_ratings", INTEGER, "Instead of days: the most recent N ratings, whenever they were made", minimum=1, maximum=100000000)]))
route("GET", "/monitoring/recommendations", operation("monitoring", "Recommendation quality over a window",
      "Requests, diversity, novelty, coverage, methods, from the recommendation log.", {"200": json_body(ref("RecommendationQuality"))}, DAYS))
# the runner's own
route("GET", "/health", operation("runner", "Liveness and dependencies",
      "503 with the same document when degraded. The local runner answers it with its pools, the database and the champion; "
      "a deployed stack routes it to the ingest function's health action (database, artifact bucket, champion).",
      {"200": json_body(ref("Health")), "503": json_body(ref("Health"), "Degraded")}, errors=()))
route("GET", "/metrics", operation("runner", "Prometheus metrics", "Text exposition format 0.0.4.",
      {"200": {"description": "Metrics", "content": {"text/plain": {"schema": t(STRING)}}}}, errors=()))
route("GET", "/schedules", operation("runner", "The template's schedules", "Expression, next fire time (UTC), targets, last run.",
      {"200": json_body(ref("ScheduleList"))}, errors=()))
NAME = {"name": "name", "in": "path", "required": True, "description": "The schedule's name (e.g. nightly-train)", "schema": t(STRING)}
route("GET", "/schedules/{name}/runs", operation("runner", "A schedule's runs", "Newest first, with each step's attempts and error.",
      {"200": json_body(ref("ScheduleRuns")), "404": json_body(ref("GatewayMessage"), "No such schedule")}, [NAME], errors=()))
route("POST", "/schedules/{name}/run", operation("runner", "Run a schedule now", "Fires the schedule's targets in the background.",
      {"202": json_body(ref("Accepted"), "Accepted"), "404": json_body(ref("GatewayMessage"), "No such schedule")}, [NAME], errors=()))
FUNCTION = {"name": "name", "in": "path", "required": True, "description": "ingest, train, predict, drift (or the logical id, or an ARN)",
            "schema": t(STRING)}
route("POST", "/2015-03-31/functions/{name}/invocations", {
    **operation("runner", "Lambda Invoke API", "What `aws lambda invoke --endpoint-url` sends: the function's own event in, its answer out.",
                {"200": {"description": "The answer; X-Amz-Function-Error: Unhandled when the function failed",
                         "content": {"application/json": {"schema": {"description": "Whatever the function answers"}}}},
                 "202": {"description": "Event: accepted, runs in the background"}, "204": {"description": "DryRun"},
                 "404": {"description": "ResourceNotFoundException (x-amzn-ErrorType)"},
                 "429": {"description": "TooManyRequestsException"}},
                [FUNCTION, {"name": "X-Amz-Invocation-Type", "in": "header", "required": False,
                            "schema": t(STRING, enum=["RequestResponse", "Event", "DryRun"], default="RequestResponse")}], errors=()),
    "requestBody": {"required": False, "content": {"application/json": {"schema": {"description": "The function's direct event, e.g. {\"user_id\": 1}"}}}},
})

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "MovieRec Functions", "version": "1.0.0",
             "description": "Movie recommendations as four functions behind one HTTP API (the SAM template's routes), plus the local "
                            "runner's own endpoints. Functions' errors: {\"error\": {\"code\", \"message\", \"details\"}}; the gateway's "
                            "own: {\"message\"} for 404/429/502/504."},
    "servers": [{"url": "http://127.0.0.1:8080", "description": "local-runner"}],
    "tags": [{"name": "predict", "description": "Recommendations"}, {"name": "ingest", "description": "Data"},
             {"name": "training", "description": "Training and the model registry"},
             {"name": "monitoring", "description": "Drift and quality"}, {"name": "runner", "description": "The local runner's own endpoints"}],
    "paths": PATHS,
    "components": {"schemas": SCHEMAS},
}

if __name__ == "__main__":
    text = json.dumps(DOCUMENT, indent=1) + "\n"
    if sys.argv[1:] == ["--check"]:
        current = open(OUTPUT).read() if os.path.exists(OUTPUT) else ""
        if current != text:
            sys.exit(f"{OUTPUT} is stale: run python3 local-runner/openapi.py")
        print(f"{OUTPUT} is up to date")
    else:
        open(OUTPUT, "w").write(text)
        print(f"wrote {OUTPUT}: {sum(len(v) for v in PATHS.values())} operations")
