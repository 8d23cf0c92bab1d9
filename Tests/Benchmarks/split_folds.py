#!/usr/bin/env python3
"""Split a MovieLens ratings.csv into k train/test folds, like Surprise's KFold.

Usage:
    python3 Tests/Benchmarks/split_folds.py --ratings ratings.csv --out DIR \
        --folds 3 --seed 42

Writes DIR/fold{i}_train.csv and DIR/fold{i}_test.csv for i in 0..k-1, each
with the header `userId,movieId,rating,timestamp`.

Row indices are shuffled with numpy.random.default_rng(seed).permutation, then
cut as surprise.model_selection.KFold does: fold i is the slice
perm[start:stop], of size floor(N/k) plus one for the first N mod k folds. The
test file holds perm[start:stop]; the train file holds perm[:start] followed by
perm[stop:], in that order (the order KFold hands to Surprise). Lines are copied
verbatim, so no value is reformatted. Needs only numpy (no pandas).
"""
import argparse
import os

import numpy as np

HEADER = "userId,movieId,rating,timestamp"


def fold_bounds(n, k):
    """Yield (start, stop) of each test fold, as surprise's KFold computes them."""
    stop = 0
    for i in range(k):
        start = stop
        stop += n // k + (1 if i < n % k else 0)
        yield start, stop


def write_rows(path, lines, indices):
    with open(path, "w") as f:
        f.write(HEADER + "\n")
        f.writelines(lines[j] for j in indices)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ratings", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args()
    if args.folds < 2:
        p.error("--folds must be at least 2")

    with open(args.ratings) as f:
        header = f.readline().strip()
        if header != HEADER:
            raise SystemExit(f"unexpected header {header!r}, expected {HEADER!r}")
        lines = [line if line.endswith("\n") else line + "\n"
                 for line in f if line.strip()]
    n = len(lines)
    if n < args.folds:
        raise SystemExit(f"{n} ratings cannot make {args.folds} folds")

    perm = np.random.default_rng(args.seed).permutation(n)
    os.makedirs(args.out, exist_ok=True)
    for i, (start, stop) in enumerate(fold_bounds(n, args.folds)):
        write_rows(os.path.join(args.out, f"fold{i}_test.csv"), lines, perm[start:stop])
        train = np.concatenate([perm[:start], perm[stop:]])
        write_rows(os.path.join(args.out, f"fold{i}_train.csv"), lines, train)
        print(f"fold {i}: {n - (stop - start)} train, {stop - start} test")


if __name__ == "__main__":
    main()
