#!/usr/bin/env python3
"""Evaluate a scikit-surprise algorithm on a fixed train/test split.

Reference numbers for the Swift recommender: train on TRAIN.csv, predict every
rating in TEST.csv, and print ONE line of JSON with RMSE, MAE, timings, the
number of impossible predictions and the peak RSS.

Both CSV files use the MovieLens header `userId,movieId,rating,timestamp`
(e.g. as written by split_folds.py in this folder).

Usage:
    pip install scikit-surprise
    python3 Tests/Benchmarks/surprise_eval.py --train TRAIN.csv --test TEST.csv \
        --algorithm {svd,knn,normal} [--factors 100] [--epochs 20] [--lr 0.005] \
        [--reg 0.02] [--k 40] [--min-k 1] [--user-based true|false] [--seed 0] \
        [--scale-min 0.5 --scale-max 5.0]

pandas is used when installed; otherwise the csv module reads the files (the
ids are then strings, which gives the same results: Surprise maps raw ids to
inner ids in order of first appearance).
"""
import argparse
import csv
import json
import random
import resource
import sys
import time

import numpy as np
from surprise import SVD, Dataset, KNNBasic, NormalPredictor, Reader, accuracy

try:
    import pandas as pd
except ImportError:
    pd = None

COLUMNS = ["userId", "movieId", "rating"]


def str2bool(value):
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--algorithm", required=True, choices=["svd", "knn", "normal"])
    p.add_argument("--factors", type=int, default=100)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.005)
    p.add_argument("--reg", type=float, default=0.02)
    p.add_argument("--k", type=int, default=40)
    p.add_argument("--min-k", type=int, default=1)
    p.add_argument("--user-based", type=str2bool, default=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale-min", type=float, default=0.5)
    p.add_argument("--scale-max", type=float, default=5.0)
    return p.parse_args()


def load(train_path, test_path, reader):
    """Return (trainset, testset) with testset a list of (uid, iid, r)."""
    if pd is not None:
        train_df = pd.read_csv(train_path)[COLUMNS]
        test_df = pd.read_csv(test_path)[COLUMNS]
        data = Dataset.load_from_df(train_df, reader)
        testset = [(u, i, float(r)) for u, i, r in test_df.itertuples(index=False)]
    else:
        # Same parsing as load_from_df, without pandas: ids stay strings.
        data = Dataset.load_from_file(train_path, reader)
        with open(test_path, newline="") as f:
            testset = [(row["userId"], row["movieId"], float(row["rating"]))
                       for row in csv.DictReader(f)]
    return data.build_full_trainset(), testset


def make_algorithm(args):
    if args.algorithm == "svd":
        return SVD(n_factors=args.factors, n_epochs=args.epochs, lr_all=args.lr,
                   reg_all=args.reg, random_state=args.seed)
    if args.algorithm == "knn":
        return KNNBasic(k=args.k, min_k=args.min_k, verbose=False,
                        sim_options={"name": "msd", "user_based": args.user_based})
    # NormalPredictor draws from numpy's global generator.
    np.random.seed(args.seed)
    random.seed(args.seed)
    return NormalPredictor()


def main():
    args = parse_args()
    scale = (args.scale_min, args.scale_max)
    if pd is not None:
        reader = Reader(rating_scale=scale)
    else:
        reader = Reader(line_format="user item rating timestamp", sep=",",
                        skip_lines=1, rating_scale=scale)
    trainset, testset = load(args.train, args.test, reader)
    algo = make_algorithm(args)

    start = time.perf_counter()
    algo.fit(trainset)
    fit_seconds = time.perf_counter() - start

    start = time.perf_counter()
    predictions = algo.test(testset)
    test_seconds = time.perf_counter() - start

    result = {
        "algorithm": args.algorithm,
        "rmse": accuracy.rmse(predictions, verbose=False),
        "mae": accuracy.mae(predictions, verbose=False),
        "fit_seconds": fit_seconds,
        "test_seconds": test_seconds,
        "train_ratings": trainset.n_ratings,
        "test_ratings": len(testset),
        "impossible": sum(1 for p in predictions if p.details.get("was_impossible")),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
