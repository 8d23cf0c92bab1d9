#!/usr/bin/env python3
"""Surprise's own training pipeline, as its best user would run it, timed from start to end:
read ratings.csv, `cross_validate(SVD(), data, cv=FOLDS, measures=["rmse", "mae"])`, then
`fit` on the full trainset. Prints one line of JSON.

    python3 Tests/Benchmarks/surprise_pipeline.py RATINGS.csv [FOLDS]
"""
import json, sys, time

start = time.monotonic()
from surprise import SVD, Dataset, Reader
from surprise.model_selection import cross_validate

path, folds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
reader = Reader(line_format="user item rating timestamp", sep=",", skip_lines=1, rating_scale=(0.5, 5.0))
data = Dataset.load_from_file(path, reader)
results = cross_validate(SVD(random_state=0), data, cv=folds, measures=["rmse", "mae"])
model = SVD(random_state=0)
model.fit(data.build_full_trainset())
print(json.dumps({"seconds": time.monotonic() - start, "rmse_mean": float(results["test_rmse"].mean()),
                  "mae_mean": float(results["test_mae"].mean()), "folds": folds}))
