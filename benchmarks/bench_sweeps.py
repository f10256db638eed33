"""How many Gibbs sweeps the default pipeline needs: test metrics and fit time
against ``fm_n_iter``, on MovieLens-1M and Book-Crossing.

``fm_n_iter`` is the FM's sweeps on all training rows; each of the ``fm_cv``
(``--fm-cv``, default 3) warm cross-fitting folds then runs
``max(10, fm_n_iter // 4)`` sweeps from the full chain's last sample
(``FMEmbedder(crossfit="warm")``), so the sampler's total is about
``fm_n_iter + fm_cv * max(10, fm_n_iter // 4)`` sweeps.

Data and split are ``bench_real.py``'s (a seeded subset of users with about
``--n-events`` events, a seeded random 80/20 split of the events); metrics per
task: RMSE (regression) and ROC AUC (binary) on the test events, and the fit
seconds (one thread). Each setting runs with ``--seeds`` seeds (the pipeline's
``random_state`` and the split), so the spread between seeds says which
differences are noise.

Run: ``python benchmarks/bench_sweeps.py [--dataset movielens|book-crossing|all]
[--sweeps 100 60 40 25] [--seeds 0 1] [--fm-cv 5 3]``; ``--quick`` runs a small
generated stand-in in seconds (used by the tests).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_real import book_crossing, generated, movielens, score_task  # noqa: E402

from mtlclassic import make_multitask_recommender  # noqa: E402


def total_sweeps(n_iter, folds=3):
    """The Gibbs sweeps of one default fit: full chain plus warm folds."""
    return n_iter + folds * min(n_iter, max(10, n_iter // 4))


def run(name, X, Y, sweeps, seeds, quick, fm_cvs=(3,)):
    tasks = list(Y.columns)
    kinds = [
        "binary" if set(np.unique(Y[t].dropna())) <= {0.0, 1.0} else "regression"
        for t in tasks
    ]
    rows = []
    for seed in seeds:
        test = np.random.RandomState(seed).rand(len(X)) < 0.2
        Xtr, Xte = X[~test].reset_index(drop=True), X[test].reset_index(drop=True)
        Ytr, Yte = Y[~test].reset_index(drop=True), Y[test].reset_index(drop=True)
        for n_iter, fm_cv in [(n, c) for n in sweeps for c in fm_cvs]:
            extra = dict(n_estimators=30, factors=8, iterations=3) if quick else {}
            model = make_multitask_recommender(
                fm_n_iter=n_iter, fm_cv=fm_cv, random_state=seed, n_jobs=1, **extra
            )
            start = time.perf_counter()
            model.fit(Xtr, Ytr)
            seconds = time.perf_counter() - start
            P = model.predict(Xte)
            row = {"data": name, "fm_n_iter": n_iter, "fm_cv": fm_cv,
                   "sweeps": total_sweeps(n_iter, fm_cv),
                   "seed": seed, "fit_s": seconds}  # fmt: skip
            for t, (task, kind) in enumerate(zip(tasks, kinds)):
                scores = score_task(kind, Yte[task].to_numpy(), P[:, t])
                metric = "rmse" if kind == "regression" else "auc"
                row[f"{task} {metric}"] = scores[metric]
            rows.append(row)
            cells = [f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in row.items()]  # fmt: skip
            print("  " + ", ".join(cells), flush=True)
    frame = pd.DataFrame(rows)
    metrics = [c for c in frame.columns if c.endswith(("rmse", "auc"))]
    summary = frame.groupby(["data", "fm_n_iter", "fm_cv", "sweeps"], sort=False)[
        metrics + ["fit_s"]
    ].agg(["mean", "std"])
    print(f"\n== {name}: mean (std over {len(seeds)} seeds)")
    print(summary.round(4).to_string())
    return frame


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--dataset", default="all", choices=["movielens", "book-crossing", "all"]
    )
    parser.add_argument("--n-events", type=int, default=100_000)
    parser.add_argument("--sweeps", type=int, nargs="+", default=[100, 60, 40, 25])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--fm-cv", type=int, nargs="+", default=[3],
                        help="the FM's folds (fm_cv) to compare")  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick:
        X, Y = generated(np.random.RandomState(0))
        run(
            "generated stand-in (--quick)", X, Y, [6, 3], [0], quick=True, fm_cvs=[3, 2]
        )
        return 0
    loaders = {"movielens": movielens, "book-crossing": book_crossing}
    names = list(loaders) if args.dataset == "all" else [args.dataset]
    for name in names:
        data = loaders[name](args.n_events, np.random.RandomState(0))
        if data is None:
            print(f"{name}: files not found (../shared/data/get_dev_data.sh); skipped")
            continue
        run(name, *data, args.sweeps, args.seeds, quick=False, fm_cvs=args.fm_cv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
