"""The default pipeline's LightGBM heads: test metrics and fit time of head
settings on the same shared features, on MovieLens-1M and Book-Crossing.

The heads are the default pipeline's last step, ``MultiTaskLGBM``; everything
before them (the cross-fitted FM and ALS) is fitted once per seed and split,
and every setting of ``--set`` trains the heads on the same out-of-fold
training features and predicts the same test features, as ``Pipeline.fit``
and ``predict`` would. A setting is ``name:param=value,param=value`` of
``MultiTaskLGBM`` parameters (values read as Python literals); ``default`` is
always run first.

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
import pandas as pd
from sklearn.base import clone

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_real import book_crossing, generated, movielens, score_task  # noqa: E402

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


def run(name, X, Y, settings, seeds, quick):
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
        extra = (
            dict(n_estimators=30, factors=8, iterations=3, fm_n_iter=6) if quick else {}
        )
        model = make_multitask_recommender(random_state=seed, n_jobs=1, **extra)
        front = model[:-1]
        start = time.perf_counter()
        Ztr = front.fit_transform(Xtr, Ytr)
        front_s = time.perf_counter() - start
        Zte = front.transform(Xte)
        for setting, params in settings:
            head = clone(model.steps[-1][1]).set_params(**params)
            start = time.perf_counter()
            head.fit(Ztr, Ytr)
            seconds = time.perf_counter() - start
            P = head.predict(Zte)
            row = {"data": name, "setting": setting, "seed": seed,
                   "embedders_s": front_s, "heads_s": seconds,
                   "trees": int(sum(head.best_iteration_.values()))}  # fmt: skip
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
    summary = frame.groupby("setting", sort=False)[metrics + ["heads_s", "trees"]].agg(
        ["mean", "std"]
    )
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
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--set", dest="settings", nargs="*", default=[])
    args = parser.parse_args(argv)
    settings = [("default", {})] + [parse_setting(s) for s in args.settings]
    if args.quick:
        X, Y = generated(np.random.RandomState(0))
        run("generated stand-in (--quick)", X, Y, settings, [0], quick=True)
        return 0
    loaders = {"movielens": movielens, "book-crossing": book_crossing}
    names = list(loaders) if args.dataset == "all" else [args.dataset]
    for name in names:
        data = loaders[name](args.n_events, np.random.RandomState(0))
        if data is None:
            print(f"{name}: files not found (../shared/data/get_dev_data.sh); skipped")
            continue
        run(name, *data, settings, args.seeds, quick=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
