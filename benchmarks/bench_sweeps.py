"""How many Gibbs sweeps the default pipeline needs: test metrics and fit time
against ``fm_n_iter``, on MovieLens-1M and Book-Crossing.

``fm_n_iter`` is the FM's sweeps on all training rows; each of the ``fm_cv``
(``--fm-cv``, default 3) warm cross-fitting folds then runs
``max(10, fm_n_iter // 4)`` sweeps from the full chain's state at the end of
its burn-in (``FMEmbedder(crossfit="warm")``), so the sampler's total is about
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_real import (  # noqa: E402
    data_arguments,
    generated,
    real_data,
    record,
    seeded_splits,
    summarize,
)

from mtlclassic import make_multitask_recommender  # noqa: E402


def total_sweeps(n_iter, folds=3):
    """The Gibbs sweeps of one default fit: full chain plus warm folds."""
    return n_iter + folds * min(n_iter, max(10, n_iter // 4))


def run(name, X, Y, sweeps, seeds, quick, fm_cvs=(3,)):
    rows = []
    for seed, Xtr, Xte, Ytr, Yte in seeded_splits(X, Y, seeds):
        for n_iter, fm_cv in [(n, c) for n in sweeps for c in fm_cvs]:
            extra = dict(n_estimators=30, factors=8, iterations=3) if quick else {}
            model = make_multitask_recommender(
                fm_n_iter=n_iter, fm_cv=fm_cv, random_state=seed, n_jobs=1, **extra
            )
            start = time.perf_counter()
            model.fit(Xtr, Ytr)
            seconds = time.perf_counter() - start
            row = {"data": name, "fm_n_iter": n_iter, "fm_cv": fm_cv,
                   "sweeps": total_sweeps(n_iter, fm_cv),
                   "seed": seed, "fit_s": seconds}  # fmt: skip
            record(rows, row, Yte, model.predict(Xte))
    by = ["data", "fm_n_iter", "fm_cv", "sweeps"]
    return summarize(rows, name, by, ["fit_s"], len(seeds))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    data_arguments(parser)
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
    for name, X, Y in real_data(args):
        run(name, X, Y, args.sweeps, args.seeds, quick=False, fm_cvs=args.fm_cv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
