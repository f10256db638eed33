"""Cross-validated task-relationship models against pooling and per-task ridge.

Issue 15's benchmark: does choosing ``alpha`` by cross-validation make the
task-relationship models at least as good as the better of the two obvious
baselines, and better where the task structure is theirs?

Models (every ``alpha`` chosen by 5-fold CV on the training rows):

- ``pooled``: one ridge over all tasks with per-task intercepts (RidgeCV on
  ``[X, onehot(task)]``, a task's rows stacked);
- ``per_task``: one RidgeCV per task;
- ``mean_reg``: :class:`MeanRegularizedMultiTaskCV`;
- ``trace``: :class:`TraceNormMultiTaskCV` (``shared=True``);
- ``l21``: :class:`L21MultiTaskCV`;
- ``clustered``: :class:`ClusteredMultiTaskCV` (``n_clusters=3``, ``beta=1e-3``).

Data:

- generated, one row per (example, task) as in school data (each row labelled
  for one task): 30 tasks, 10 features, 25 training rows per task, structures
  ``identical`` (one w), ``clustered`` (3 clusters), ``low_rank`` (rank 2),
  ``unrelated`` (independent w);
- RF1 (``../shared/data/get_dev_data.sh``, 8 river-flow targets, 64
  features; skipped when absent), features standardised on the training rows
  and missing values imputed by training means.

Metric: test R² per task, averaged over tasks. Run: ``python
benchmarks/bench_linear_cv.py``; ``--quick`` (the tests) runs one small
generated structure.
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


def rf1():
    path = (
        Path(
            os.environ.get(
                "MTLCLASSIC_DEV_DATA",
                Path.home() / ".cache" / "mtlclassic" / "dev-data",
            )
        )
        / "rf1"
    )
    if not (path / "rf1_train.parquet.brotli").is_file():
        return None
    train = pd.read_parquet(path / "rf1_train.parquet.brotli")
    test = pd.read_parquet(path / "rf1_test.parquet.brotli")
    targets = [c for c in train.columns if "_48H__" in c]
    features = [c for c in train.columns if c not in targets]
    mean, std = train[features].mean(), train[features].std()
    Xtr = ((train[features] - mean) / std).fillna(0.0).to_numpy()
    Xte = ((test[features] - mean) / std).fillna(0.0).to_numpy()
    return Xtr, train[targets].to_numpy(), Xte, test[targets].to_numpy()


def task_r2(Y, P):
    scores = []
    for t in range(Y.shape[1]):
        rows = ~np.isnan(Y[:, t])
        y = Y[rows, t]
        scores.append(1 - np.mean((y - P[rows, t]) ** 2) / np.var(y))
    return float(np.mean(scores))


def pooled(Xtr, Ytr, Xte):
    rows, tasks = np.nonzero(~np.isnan(Ytr))
    T = Ytr.shape[1]

    def design(X, r, t):
        onehot = np.zeros((r.size, T))
        onehot[np.arange(r.size), t] = 1.0
        return np.hstack([X[r], onehot])

    model = RidgeCV(alphas=RIDGE_ALPHAS).fit(design(Xtr, rows, tasks), Ytr[rows, tasks])
    n = Xte.shape[0]
    r, t = np.repeat(np.arange(n), T), np.tile(np.arange(T), n)
    return model.predict(design(Xte, r, t)).reshape(n, T)


def per_task(Xtr, Ytr, Xte):
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
        "l21": L21MultiTaskCV(**kw),
        "clustered": ClusteredMultiTaskCV(n_clusters=min(3, n_tasks), beta=1e-3, **kw),
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
    data = rf1()
    if data is None:
        print("skipped RF1: not found (run ../shared/data/get_dev_data.sh)")
    else:
        rows.append(run("rf1", *data, n_alphas=15))
    school_like(np.random.RandomState(args.seed))
    table = pd.DataFrame(rows).set_index("data")
    keep = [c for c in table.columns if not c.endswith("_s")]
    print(table[keep].round(3).to_string())


if __name__ == "__main__":
    main()
