"""The default pipeline's LightGBM heads: test metrics and fit time of head
settings on the same shared features, on MovieLens-1M and Book-Crossing.

The heads are the default pipeline's last step, ``MultiTaskLGBM``; everything
before them (the cross-fitted FM and ALS) is fitted once per seed and split,
and every setting of ``--set`` trains the heads on the same out-of-fold
training features and predicts the same test features, as ``Pipeline.fit``
and ``predict`` would. A setting is ``name:param=value,param=value`` of
``MultiTaskLGBM`` parameters (values read as Python literals), and
``drop_columns=REGEX`` trains and predicts the heads without the input
columns whose names match (e.g. ``^als_(user|item)_`` with ``--als-factors``,
which has the embedders give ALS's factors as well as ``als_score``); ``default``
is always run first.

Data and split are ``bench_real.py``'s (a seeded subset of users with about
``--n-events`` events, a seeded random 80/20 split of the events); metrics per
task: RMSE (regression) and ROC AUC (binary) on the test events, the heads' fit
seconds (one thread) and the trees they keep. Each setting runs with
``--seeds`` seeds (the pipeline's ``random_state`` and the split).

Run: ``python benchmarks/bench_heads.py [--dataset movielens|book-crossing|all]
[--seeds 0 1] [--set lr01:learning_rate=0.1 ...]``; ``--quick`` runs a small
generated stand-in in seconds (used by the tests).
"""

import argparse
import ast
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.base import clone

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


def parse_setting(text):
    """``"name:a=1,b=x"`` -> ``("name", {"a": 1, "b": "x"})``; a body that
    starts with ``{`` is read as a dict literal (for nested values)."""
    name, _, body = text.partition(":")
    if body.lstrip().startswith("{"):
        return name, ast.literal_eval(body)
    params = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        try:
            params[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            params[key.strip()] = value.strip()
    return name, params


def run(name, X, Y, settings, seeds, quick, als_factors=False):
    rows = []
    for seed, Xtr, Xte, Ytr, Yte in seeded_splits(X, Y, seeds):
        extra = (
            dict(n_estimators=30, factors=8, iterations=3, fm_n_iter=6) if quick else {}
        )
        if als_factors:  # the heads' input holds ALS's factors too (to drop them)
            extra["alsembedder__features"] = ("user", "item", "score")
        model = make_multitask_recommender(random_state=seed, n_jobs=1, **extra)
        front = model[:-1]
        start = time.perf_counter()
        Ztr = front.fit_transform(Xtr, Ytr)
        front_s = time.perf_counter() - start
        Zte = front.transform(Xte)
        for setting, params in settings:
            params = dict(params)
            keep = Ztr.columns
            if "drop_columns" in params:  # the heads without these input columns
                keep = keep[~keep.str.match(params.pop("drop_columns"))]
            head = clone(model.steps[-1][1]).set_params(**params)
            start = time.perf_counter()
            head.fit(Ztr[keep], Ytr)
            seconds = time.perf_counter() - start
            row = {"data": name, "setting": setting, "seed": seed,
                   "embedders_s": front_s, "heads_s": seconds,
                   "trees": int(sum(head.best_iteration_.values()))}  # fmt: skip
            record(rows, row, Yte, head.predict(Zte[keep]))
    return summarize(rows, name, "setting", ["heads_s", "trees"], len(seeds))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    data_arguments(parser)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--set", dest="settings", nargs="*", default=[])
    parser.add_argument(
        "--als-factors",
        action="store_true",
        help="the embedders give ALS's user and item factors too (the default "
        "pipeline's ALS step gives als_score alone)",
    )
    args = parser.parse_args(argv)
    settings = [("default", {})] + [parse_setting(s) for s in args.settings]
    if args.quick:
        X, Y = generated(np.random.RandomState(0))
        run(
            "generated stand-in (--quick)", X, Y, settings, [0], quick=True,
            als_factors=args.als_factors,
        )  # fmt: skip
        return 0
    for name, X, Y in real_data(args):
        run(name, X, Y, settings, args.seeds, quick=False, als_factors=args.als_factors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
