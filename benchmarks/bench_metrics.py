"""Masked multi-task report and grouped NDCG against scikit-learn loops.

Run: ``python benchmarks/bench_metrics.py`` (full: 1M rows, 50k groups) or
``--quick`` (a smoke test). Prints seconds and the speed-up ratio.
"""

import argparse
import time

import numpy as np
from sklearn import metrics as skm

from mtlclassic.metrics import multitask_report, ndcg_at_k


def _timed(func, repeat=1):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - start)
    return best, out


def sklearn_report_loop(Y, P, kinds):
    rows = []
    for t, kind in enumerate(kinds):
        m = ~np.isnan(Y[:, t])
        y, p = Y[m, t], P[m, t]
        if kind == "regression":
            rows.append(
                (
                    np.sqrt(skm.mean_squared_error(y, p)),
                    skm.mean_absolute_error(y, p),
                    skm.r2_score(y, p),
                )
            )
        else:
            rows.append(
                (
                    skm.roc_auc_score(y, p),
                    skm.log_loss(y, p),
                    skm.average_precision_score(y, p),
                )
            )
    return rows


def sklearn_ndcg_loop(y, s, g, k):
    order = np.argsort(g, kind="stable")
    y, s, g = y[order], s[order], g[order]
    bounds = np.flatnonzero(np.diff(g)) + 1
    values = []
    for yy, ss in zip(np.split(y, bounds), np.split(s, bounds)):
        if yy.sum() > 0 and yy.size > 1:
            values.append(skm.ndcg_score(yy[None], ss[None], k=k))
    return float(np.mean(values))


def main(quick=False):
    rng = np.random.RandomState(0)
    n, n_groups = (20_000, 1_000) if quick else (1_000_000, 50_000)
    kinds = ["regression", "binary", "binary", "regression"]
    Y = np.column_stack(
        [
            rng.normal(size=n)
            if k == "regression"
            else rng.binomial(1, 0.3, size=n).astype(float)
            for k in kinds
        ]
    )
    P = np.column_stack(
        [
            Y[:, t] + rng.normal(size=n)
            if k == "regression"
            else rng.uniform(0.01, 0.99, size=n)
            for t, k in enumerate(kinds)
        ]
    )
    Y[rng.uniform(size=Y.shape) < 0.3] = np.nan
    ours, report = _timed(lambda: multitask_report(Y, P, tasks=kinds), repeat=3)
    ref, rows = _timed(lambda: sklearn_report_loop(Y, P, kinds), repeat=3)
    np.testing.assert_allclose(
        report.loc["task_0", ["rmse", "mae", "r2"]].to_numpy(float), rows[0]
    )
    print(
        f"multitask_report  {n:>9,} rows x {len(kinds)} tasks: mtlclassic {ours:.3f}s, "
        f"scikit-learn loop per task {ref:.3f}s, ratio {ours / ref:.2f}"
    )

    g = rng.randint(0, n_groups, size=n)
    y = rng.randint(0, 4, size=n) * (rng.uniform(size=n) < 0.3)
    s = rng.normal(size=n)
    ours, value = _timed(lambda: ndcg_at_k(y, s, g, k=10), repeat=3)
    ref, expected = _timed(lambda: sklearn_ndcg_loop(y, s, g, 10))
    np.testing.assert_allclose(value, expected, rtol=1e-10)
    print(
        f"ndcg_at_k         {n:>9,} rows, {n_groups:,} groups: mtlclassic {ours:.3f}s, "
        f"sklearn.metrics.ndcg_score per group {ref:.3f}s, speed-up {ref / ours:.0f}x"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small smoke-test sizes")
    main(parser.parse_args().quick)
