"""Cross-validated task-relationship models against pooling and per-task ridge.

Issue 15's benchmark: does choosing ``alpha`` by cross-validation make the
task-relationship models at least as good as the better of the two obvious
baselines, and better where the task structure is theirs?

Models (every ``alpha`` chosen by 5-fold CV on the training rows, the
library's defaults otherwise: features and labels standardised, features
clipped to their training range at prediction):

- ``pooled``: one ridge over all tasks with per-task intercepts (RidgeCV on
  ``[X, onehot(task)]``, a task's rows stacked, each task's labels z-scored);
- ``per_task``: one RidgeCV per task;
- ``mean_reg``: :class:`MeanRegularizedMultiTaskCV`;
- ``trace`` / ``trace_unshared``: :class:`TraceNormMultiTaskCV` with
  ``shared=True`` (the default) / ``False``;
- ``l21`` / ``l21_unshared``: :class:`L21MultiTaskCV`, likewise;
- ``clustered``: :class:`ClusteredMultiTaskCV` (``n_clusters=3``).

Data:

- generated, one row per (example, task) as in school data (each row labelled
  for one task): 30 tasks, 10 features, 25 training rows per task, structures
  ``identical`` (one w), ``clustered`` (3 clusters), ``low_rank`` (rank 2),
  ``unrelated`` (independent w);
- real, from ``../shared/data/get_dev_data.sh`` (skipped when absent):
  ``rf1`` (8 river-flow targets, 64 features, the published split: a later
  period), ``rf1_random`` (30 % of all RF1 rows at random for training) and
  ``ml_users`` (MovieLens-1M, 139 users as tasks, see
  :func:`movielens_users`). Each real set also prints an ablation of the
  defaults ``clip`` and ``standardize_targets``.
- ``school_like``: the cold fit and CV timings of the issue (generated).

Metric: test R² per task, averaged over tasks. Run: ``python
benchmarks/bench_linear_cv.py`` (about 2 minutes); ``--quick`` (the tests)
runs one small generated structure.
"""

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV

from mtlclassic.linear_model import (
    ClusteredMultiTaskCV,
    L21MultiTaskCV,
    MeanRegularizedMultiTaskCV,
    TraceNormMultiTask,
    TraceNormMultiTaskCV,
    trace_norm_path,
)

RIDGE_ALPHAS = np.logspace(-4, 4, 25)


def generated(structure, n_tasks, n_features, n_train, n_test, rng):
    """Rows labelled for one task each; W (n_features, n_tasks) by ``structure``."""
    if structure == "identical":
        W = np.tile(rng.standard_normal((n_features, 1)), n_tasks)
    elif structure == "clustered":
        centres = rng.standard_normal((n_features, 3))
        W = centres[:, rng.randint(3, size=n_tasks)]
        W = W + 0.1 * rng.standard_normal(W.shape)
    elif structure == "low_rank":
        W = rng.standard_normal((n_features, 2)) @ rng.standard_normal((2, n_tasks))
    else:
        W = rng.standard_normal((n_features, n_tasks))
    out = []
    for n in (n_train, n_test):
        task = np.repeat(np.arange(n_tasks), n)
        X = rng.standard_normal((task.size, n_features))
        y = np.einsum("ij,ji->i", X, W[:, task]) + 1.5 * rng.standard_normal(task.size)
        Y = np.full((task.size, n_tasks), np.nan)
        Y[np.arange(task.size), task] = y
        out += [X, Y]
    return out


def dev_data(name):
    return (
        Path(
            os.environ.get(
                "MTLCLASSIC_DEV_DATA",
                Path.home() / ".cache" / "mtlclassic" / "dev-data",
            )
        )
        / name
    )


def rf1(split="given", seed=0):
    """RF1: the published train/test split (a later period), or ``"random"``.

    ``"random"``: 30 % of all rows, drawn at random, for training: the same
    river, no change of period (2 % of the test rows have a feature outside
    the training range instead of 89 %).
    """
    path = dev_data("rf1")
    if not (path / "rf1_train.parquet.brotli").is_file():
        return None
    train = pd.read_parquet(path / "rf1_train.parquet.brotli")
    test = pd.read_parquet(path / "rf1_test.parquet.brotli")
    if split == "random":
        rows = pd.concat([train, test], ignore_index=True)
        pick = np.random.RandomState(seed).rand(len(rows)) < 0.3
        train, test = rows[pick], rows[~pick]
    targets = [c for c in train.columns if "_48H__" in c]
    features = [c for c in train.columns if c not in targets]
    mean, std = train[features].mean(), train[features].std()
    Xtr = ((train[features] - mean) / std).fillna(0.0).to_numpy()
    Xte = ((test[features] - mean) / std).fillna(0.0).to_numpy()
    return Xtr, train[targets].to_numpy(), Xte, test[targets].to_numpy()


def movielens_users(n_tasks=139, seed=0):
    """MovieLens-1M, one task per user: school-like real data.

    ``n_tasks`` users with 40 to 400 ratings (seeded draw), one row per
    rating labelled for its user's task only, 30 % of the rows for training
    (9 to 122 per user). Features: the 18 genre flags, the release year, and
    the film's mean rating and log count over the *other* users (leak-free).
    """
    from mtlclassic.datasets import load_movielens

    path = dev_data("ml-1m")
    if not (path / "ratings.dat").is_file():
        return None
    X, Y = load_movielens(path)
    rng = np.random.RandomState(seed)
    counts = X["user_id"].value_counts()
    pool = counts.index[(counts >= 40) & (counts <= 400)]
    users = rng.choice(pool, n_tasks, replace=False)
    inside = X["user_id"].isin(users).to_numpy()
    other = pd.DataFrame({"item_id": X["item_id"][~inside], "r": Y["rating"][~inside]})
    stats = other.groupby("item_id")["r"].agg(["mean", "count"])
    D = X[inside].join(stats, on="item_id")
    D["mean"] = D["mean"].fillna(other["r"].mean())
    D["count"] = np.log1p(D["count"].fillna(0.0))
    genres = [c for c in X.columns if c.startswith("genre_")]
    F = D[genres + ["release_year", "mean", "count"]].to_numpy(float)
    task = pd.Categorical(D["user_id"], categories=users).codes
    Yt = np.full((len(D), n_tasks), np.nan)
    Yt[np.arange(len(D)), task] = Y["rating"][inside].to_numpy()
    train = rng.rand(len(D)) < 0.3
    return F[train], Yt[train], F[~train], Yt[~train]


def task_r2(Y, P):
    scores = []
    for t in range(Y.shape[1]):
        rows = ~np.isnan(Y[:, t])
        y = Y[rows, t]
        scores.append(1 - np.mean((y - P[rows, t]) ** 2) / np.var(y))
    return float(np.mean(scores))


def _standardised(Xtr, Xte):
    mean, std = Xtr.mean(axis=0), Xtr.std(axis=0)
    std[std == 0] = 1.0
    return (Xtr - mean) / std, (Xte - mean) / std


def pooled(Xtr, Ytr, Xte):
    """One RidgeCV over every task's rows, per-task intercepts, task z-scores."""
    Xtr, Xte = _standardised(Xtr, Xte)
    m, sd = np.nanmean(Ytr, axis=0), np.nanstd(Ytr, axis=0)
    sd[~(sd > 0)] = 1.0
    Z = (Ytr - m) / sd
    rows, tasks = np.nonzero(~np.isnan(Ytr))
    T = Ytr.shape[1]

    def design(X, r, t):
        onehot = np.zeros((r.size, T))
        onehot[np.arange(r.size), t] = 1.0
        return np.hstack([X[r], onehot])

    model = RidgeCV(alphas=RIDGE_ALPHAS).fit(design(Xtr, rows, tasks), Z[rows, tasks])
    n = Xte.shape[0]
    r, t = np.repeat(np.arange(n), T), np.tile(np.arange(T), n)
    return model.predict(design(Xte, r, t)).reshape(n, T) * sd + m


def per_task(Xtr, Ytr, Xte):
    """One RidgeCV per task on its labelled rows (standardised features)."""
    Xtr, Xte = _standardised(Xtr, Xte)
    P = np.empty((Xte.shape[0], Ytr.shape[1]))
    for t in range(Ytr.shape[1]):
        rows = ~np.isnan(Ytr[:, t])
        P[:, t] = RidgeCV(alphas=RIDGE_ALPHAS).fit(Xtr[rows], Ytr[rows, t]).predict(Xte)
    return P


def models(n_alphas, n_tasks):
    kw = dict(n_alphas=n_alphas, cv=5)
    return {
        "pooled": pooled,
        "per_task": per_task,
        "mean_reg": MeanRegularizedMultiTaskCV(**kw),
        "trace": TraceNormMultiTaskCV(shared=True, **kw),
        "trace_unshared": TraceNormMultiTaskCV(shared=False, **kw),
        "l21": L21MultiTaskCV(shared=True, **kw),
        "l21_unshared": L21MultiTaskCV(shared=False, **kw),
        "clustered": ClusteredMultiTaskCV(n_clusters=min(3, n_tasks), **kw),
    }


def run(name, Xtr, Ytr, Xte, Yte, n_alphas):
    row = {"data": name}
    for label, model in models(n_alphas, Ytr.shape[1]).items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if callable(model) and not hasattr(model, "fit"):
                P = model(Xtr, Ytr, Xte)
            else:
                P = model.fit(Xtr, Ytr).predict(Xte)
        row[label] = task_r2(Yte, P)
        row[f"{label}_s"] = time.perf_counter() - start
    scores = {k: v for k, v in row.items() if k != "data" and not k.endswith("_s")}
    row["best_baseline"] = max(scores["pooled"], scores["per_task"])
    print(
        f"{name:>10}: "
        + "  ".join(f"{k} {v:.3f} ({row[k + '_s']:.1f}s)" for k, v in scores.items()),
        flush=True,
    )
    return row


def ablation(name, Xtr, Ytr, Xte, Yte, n_alphas):
    """The defaults ``standardize_targets`` and ``clip``, each switched off."""
    variants = {
        "defaults": {},
        "no_clip": dict(clip=False),
        "no_target_scale": dict(standardize_targets=False),
        "neither": dict(clip=False, standardize_targets=False),
    }
    for label, cls in (
        ("mean_reg", MeanRegularizedMultiTaskCV),
        ("trace", TraceNormMultiTaskCV),
    ):
        scores = {}
        for variant, params in variants.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = cls(n_alphas=n_alphas, cv=5, **params).fit(Xtr, Ytr)
            scores[variant] = task_r2(Yte, model.predict(Xte))
        print(
            f"ablation {name:>10} {label:>8}: "
            + "  ".join(f"{k} {v:.3f}" for k, v in scores.items()),
            flush=True,
        )


def intercept_pooling(name, Xtr, Ytr, Xte, Yte, n_alphas):
    """``intercept_alpha`` (prior rows) in {0, 5, 20, 100}, mean-regularised CV."""
    scores = {}
    for value in (0.0, 5.0, 20.0, 100.0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = MeanRegularizedMultiTaskCV(
                n_alphas=n_alphas, cv=5, intercept_alpha=value
            ).fit(Xtr, Ytr)
        scores[value] = task_r2(Yte, model.predict(Xte))
    print(
        f"intercept_alpha {name:>10} mean_reg: "
        + "  ".join(f"{k:g} {v:.3f}" for k, v in scores.items()),
        flush=True,
    )


def school_like(rng):
    """139 tasks, 23 0/1 features and 4 numeric ones on 0-100 scales (school-like).

    Prints a cold ``TraceNormMultiTask(1.0)`` fit (time, iterations) and a
    25-alpha ``TraceNormMultiTaskCV`` on raw features and with
    ``standardize=True``.
    """
    n_t = rng.randint(20, 250, 139)
    task = np.repeat(np.arange(139), n_t)
    n = task.size
    flags = (rng.rand(n, 23) < 0.3).astype(float)
    numeric = np.column_stack(
        [
            rng.uniform(0, 100, n),
            rng.uniform(0, 50, n),
            rng.uniform(0, 1, n),
            rng.normal(50, 20, n),
        ]
    )
    X = np.hstack([flags, numeric])
    W = rng.standard_normal((X.shape[1], 3)) @ rng.standard_normal((3, 139)) * 0.2
    y = np.einsum("ij,ij->i", X / X.std(0), W[:, task].T) + rng.normal(0, 1, n)
    Y = np.full((n, 139), np.nan)
    Y[np.arange(n), task] = y
    train = rng.rand(n) < 0.3
    Xs = X[train] / X[train].std(axis=0)
    start = time.perf_counter()
    trace_norm_path(Xs, Y[train], n_alphas=25, shared=True)
    print(
        "school-like: one 25-alpha warm path (trace_norm_path, standardised "
        f"features, shared=True) {time.perf_counter() - start:.2f} s",
        flush=True,
    )
    for standardize in (False, True):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            model = TraceNormMultiTask(1.0, standardize=standardize)
            model.fit(X[train], Y[train])
            cold = time.perf_counter() - start
        start = time.perf_counter()
        cv = TraceNormMultiTaskCV(
            n_alphas=25, cv=3, shared=True, standardize=standardize
        )
        cv.fit(X[train], Y[train])
        print(
            f"school-like, standardize={standardize}: cold alpha=1 fit "
            f"{cold * 1000:.0f} ms, {model.n_iter_} iterations"
            + (" (did not converge)" if caught else "")
            + f"; CV 25 alphas x 3 folds {time.perf_counter() - start:.1f} s, "
            f"test score {cv.score(X[~train], Y[~train]):.3f}",
            flush=True,
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.RandomState(args.seed)
    if args.quick:
        data = generated("low_rank", 6, 5, 20, 20, rng)
        run("low_rank", *data, n_alphas=4)
        return
    rows = []
    for structure in ("identical", "clustered", "low_rank", "unrelated"):
        data = generated(structure, 30, 10, 25, 200, rng)
        rows.append(run(structure, *data, n_alphas=15))
    real = {
        "rf1": lambda: rf1("given"),
        "rf1_random": lambda: rf1("random", args.seed),
        "ml_users": lambda: movielens_users(seed=args.seed),
    }
    for name, load in real.items():
        data = load()
        if data is None:
            print(f"skipped {name}: not found (run ../shared/data/get_dev_data.sh)")
        else:
            rows.append(run(name, *data, n_alphas=15))
            ablation(name, *data, n_alphas=15)
            if name == "ml_users":  # many tasks with few rows: where pooling could help
                intercept_pooling(name, *data, n_alphas=15)
    school_like(np.random.RandomState(args.seed))
    table = pd.DataFrame(rows).set_index("data")
    keep = [c for c in table.columns if not c.endswith("_s")]
    print(table[keep].round(3).to_string())


if __name__ == "__main__":
    main()
