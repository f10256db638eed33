"""Stability of the default pipeline: do test metrics jump when the data barely moves?

Data: MovieLens-1M (``../shared/data/get_dev_data.sh``; skipped with a message when
absent), a seeded subset of whole users with about ``--n-events`` ratings, sorted by
time. The default pipeline ``make_multitask_recommender(random_state=s)`` is fitted on

- the first ``cut - 1``, ``cut`` and ``cut + 1`` events by time (``cut`` = 80% of the
  events), with ``random_state=0``;
- the first ``cut`` events with ``random_state`` 0, 1 and 2;

and every fit is scored on the same test rows (the events after ``cut + 1``): rating R²
and liked ROC AUC. It prints each fit and the spread (max - min) over the cuts and
over the seeds; the goal of issue 19 is < 0.01 R² and < 0.005 AUC.

Run: ``python benchmarks/bench_stability.py``; ``--quick`` runs a small generated
stand-in (used by the tests); ``--check`` exits 1 when a spread misses the goal.
"""

import argparse
import ast
import sys
import time

import numpy as np
from bench_real import data_dir, movielens
from sklearn.metrics import r2_score, roc_auc_score

from mtlclassic import make_multitask_recommender, make_multitask_recsys

GOAL = {"r2": 0.01, "auc": 0.005}


def evaluate(Y_test, pred, tasks):
    out = {}
    for t, task in enumerate(tasks):
        y = Y_test[task].to_numpy()
        rows = ~np.isnan(y)
        binary = set(np.unique(y[rows])) <= {0.0, 1.0}
        if binary:
            out[f"{task} AUC"] = roc_auc_score(y[rows], pred[rows, t])
        else:
            out[f"{task} R2"] = r2_score(y[rows], pred[rows, t])
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--n-events", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, default=3, help="random_state 0..N-1")
    parser.add_argument(
        "--cuts", type=int, default=1, help="cuts at n-K..n+K events (default K=1)"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another make_multitask_recommender parameter (a Python literal), "
        "e.g. --param fm_n_iter=200 --param multitasklgbm__refit=False",
    )
    parser.add_argument(
        "--cold-user-fraction", type=float, default=None,
        help="make_multitask_recommender(cold_user_fraction=...) (default: its own)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    kw = {}
    if args.cold_user_fraction is not None:
        kw["cold_user_fraction"] = args.cold_user_fraction
    for item in args.param:
        name, _, value = item.partition("=")
        kw[name] = ast.literal_eval(value)
    if args.quick:
        X, Y = make_multitask_recsys(
            n_users=150, n_items=80, n_events=3000, random_state=0
        )
        kw |= {"fm_n_iter": 10, "iterations": 3, "n_estimators": 50}
    else:
        data = movielens(args.n_events, np.random.RandomState(0))
        if data is None:
            print(
                f"skipped: MovieLens-1M not found under {data_dir()} "
                "(run ../shared/data/get_dev_data.sh)"
            )
            return 0
        X, Y = data
    order = np.argsort(X["timestamp"].to_numpy(), kind="stable")
    X, Y = X.iloc[order].reset_index(drop=True), Y.iloc[order].reset_index(drop=True)
    cut = int(0.8 * len(X))
    test = slice(cut + args.cuts, None)
    tasks = list(Y.columns)
    n_cold = (~X["user_id"][test].isin(X["user_id"][:cut])).mean()
    print(
        f"{len(X):,} events by time; train = first {cut:,} (+-{args.cuts}), test = "
        f"the last {len(X) - cut - args.cuts:,} ({n_cold:.0%} of them by users "
        f"absent from train); parameters {kw}"
    )
    fits = [("cut", cut + d, 0) for d in range(-args.cuts, args.cuts + 1)]
    fits += [("seed", cut, s) for s in range(1, args.seeds)]
    rows = []
    for kind, n, seed in fits:
        start = time.perf_counter()
        model = make_multitask_recommender(random_state=seed, **kw)
        model.fit(X[:n], Y[:n])
        scores = evaluate(Y[test], model.predict(X[test]), tasks)
        rows.append((kind, n, seed, scores))
        print(
            f"  train {n:,} events, random_state={seed}: "
            + ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
            + f"  ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    failed = False
    metrics = list(rows[0][3])
    for group, members in [
        (f"{2 * args.cuts + 1} cuts", [r for r in rows if r[0] == "cut"]),
        (f"{args.seeds} seeds", [r for r in rows if r[1] == cut]),
    ]:
        verdicts = []
        for m in metrics:
            values = [r[3][m] for r in members]
            s = np.ptp(values)
            goal = GOAL["auc" if m.endswith("AUC") else "r2"]
            failed |= s >= goal
            verdicts.append(
                f"{m} {s:.4f} ({'ok' if s < goal else 'MISSES'} < {goal}; "
                f"mean {np.mean(values):.4f}, sd {np.std(values, ddof=1):.4f})"
            )
        print(f"spread (max - min) over {group}: " + ", ".join(verdicts))
    return int(failed and args.check)


if __name__ == "__main__":
    sys.exit(main())
