"""The FM fitted on a sample of users, the rest folded in: accuracy and time.

For data too large for one Gibbs chain over every event, a way out is to fit
:class:`~mtlclassic.MultiTaskFM` on the events of a random sample of users and
learn the other users' events with ``update`` (new users get factors from
their own events with everything else fixed; known items are re-estimated
from their prior and the new events; see ``_BaseFM.update``). This script
measures what that costs in accuracy against the fit on every training event.

Data and split are ``bench_real.py``'s (a seeded subset of users with about
``--n-events`` events, a seeded random 80/20 split of the events). For each
``--fractions`` value f: ``MultiTaskFM(categorical_features=["user_id",
"item_id"])`` with its defaults is fitted on the training events of a seeded
sample of f of the users, then ``update(X_rest, Y_rest)`` (one pass) learns
every other training event, in ``--chunks`` calls; f = 1 is the ordinary fit.
Printed per task: RMSE (regression) or ROC AUC (binary) on all test events and
on the test events of users outside the sample, and the seconds of the fit
plus the updates (one thread), mean and standard deviation over ``--seeds``.

Run: ``python benchmarks/bench_fm_sample.py [--dataset movielens]
[--fractions 1 0.5 0.25] [--seeds 0 1 2]``; ``--quick`` runs a small
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

from mtlclassic import MultiTaskFM  # noqa: E402

IDS = ["user_id", "item_id"]


def fit_on_sample(X, Y, fraction, seed, chunks, **fm_params):
    """Return the FM fitted on a ``fraction`` of users, the rest folded in, and
    the sampled users."""
    users = np.random.RandomState(seed).permutation(X["user_id"].unique())
    sampled = users[: max(1, int(round(fraction * users.size)))]
    inside = X["user_id"].isin(sampled).to_numpy()
    model = MultiTaskFM(categorical_features=IDS, random_state=seed, **fm_params)
    model.fit(X[inside], Y[inside])
    rest = np.flatnonzero(~inside)
    for part in np.array_split(rest, chunks) if rest.size else []:
        model.update(X.iloc[part], Y.iloc[part])
    return model, sampled


def run(name, X, Y, fractions, seeds, chunks, quick):
    rows = []
    fm_params = dict(n_iter=10) if quick else {}
    for seed, Xtr, Xte, Ytr, Yte in seeded_splits(X, Y, seeds):
        for fraction in fractions:
            start = time.perf_counter()
            model, sampled = fit_on_sample(Xtr, Ytr, fraction, seed, chunks,
                                           **fm_params)  # fmt: skip
            seconds = time.perf_counter() - start
            P = model.predict(Xte)
            row = {"data": name, "fraction": fraction, "fit_s": seconds}
            record(rows, row, Yte, P)
            outside = ~Xte["user_id"].isin(sampled).to_numpy()
            if fraction < 1 and outside.any():
                row2 = {"data": name, "fraction": f"{fraction} (users outside)",
                        "fit_s": seconds}  # fmt: skip
                record(rows, row2, Yte[outside], P[outside])
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    data_arguments(parser)
    parser.add_argument("--fractions", type=float, nargs="+", default=[1, 0.5, 0.25])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--chunks", type=int, default=5)
    args = parser.parse_args(argv)
    if args.quick:
        sets = [("generated", *generated(np.random.RandomState(0)))]
        seeds, fractions = [0], [1, 0.5]
    else:
        sets, seeds, fractions = real_data(args), args.seeds, args.fractions
    for name, X, Y in sets:
        rows = run(name, X, Y, fractions, seeds, args.chunks, args.quick)
        summarize(rows, name, ["data", "fraction"], ["fit_s"], len(seeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
