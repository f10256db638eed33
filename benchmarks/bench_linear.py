"""Task-relationship linear models: speed against MultiTaskLasso, low-rank recovery.

Run: ``python benchmarks/bench_linear.py`` (full, about 2 minutes; ``--heavy``
adds a 1,000 tasks x 500 correlated features case, 2.5 more minutes) or
``--quick`` (smoke test).

1. L2,1 against scikit-learn's ``MultiTaskLasso`` (same objective, same
   ``alpha``), both at ``tol=1e-6``, one thread each. MultiTaskLasso needs
   every task labelled on every row, so the comparison is on complete ``Y``
   (the classical "school-like" shape: 140 tasks x 30 features x 15k rows, and
   a larger 1,000 tasks x 500 features). The two ``tol`` are defined
   differently (sklearn: duality gap relative to ``||Y||^2``; ours: duality
   gap relative to the objective at ``W = 0``), so the script also reports the
   relative suboptimality each solver reached, against a reference optimum
   computed with ``tol=1e-12``. Then our time on the masked version of the
   school-like problem (one task labelled per row), which MultiTaskLasso
   cannot fit.
2. Trace norm on a planted low-rank ``W`` (one task labelled per row): rank
   recovered and test MSE against independent per-task ``RidgeCV`` and one
   pooled ``RidgeCV`` (with per-task intercepts), ``alpha`` chosen on a
   validation split along ``trace_norm_path``.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import MultiTaskLasso, RidgeCV
from threadpoolctl import threadpool_limits

from mtlclassic.linear_model import L21MultiTask, TraceNormMultiTask, trace_norm_path


def _timed(func, repeat=1):
    """Best wall time over ``repeat`` runs (the machine is shared)."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - start)
    return best, out


def l21_problem(n, d, T, seed=0, correlation=0.0):
    """Row-sparse W; features AR(1)-correlated (``correlation``) when > 0."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if correlation:
        for j in range(1, d):
            X[:, j] = correlation * X[:, j - 1] + np.sqrt(1 - correlation**2) * X[:, j]
    W = np.zeros((d, T))
    active = rng.choice(d, size=max(d // 3, 1), replace=False)
    W[active] = rng.standard_normal((active.size, T))
    Y = X @ W + rng.standard_normal((n, T)) + rng.standard_normal(T)
    return X, Y


def l21_objective(X, Y, coef, intercept, alpha):
    R = Y - X @ coef.T - intercept
    return 0.5 * np.sum(R * R) / X.shape[0] + alpha * np.linalg.norm(coef, axis=0).sum()


def bench_l21(n, d, T, alpha_ratio=0.1, label="", correlation=0.0):
    X, Y = l21_problem(n, d, T, correlation=correlation)
    Yc = Y - Y.mean(axis=0)
    alpha = alpha_ratio * np.sqrt(((X.T @ Yc / n) ** 2).sum(axis=1)).max()
    repeat = 3 if n * d * T < 1e8 else 1
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t_sk, sk = _timed(
            lambda: MultiTaskLasso(alpha=alpha, tol=1e-6, max_iter=10_000).fit(X, Y),
            repeat,
        )
        t_us, us = _timed(
            lambda: L21MultiTask(alpha, tol=1e-6, max_iter=10_000, n_jobs=1).fit(X, Y),
            repeat,
        )
        ref = L21MultiTask(
            alpha, tol=1e-12, max_iter=100_000, warm_start=True, n_jobs=1
        )
        ref.coef_, ref.intercept_ = us.coef_.copy(), us.intercept_.copy()
        ref.shared_coef_ = np.zeros(d)
        ref.fit(X, Y)
    best = min(l21_objective(X, Y, m.coef_, m.intercept_, alpha) for m in (sk, us, ref))
    sub_sk = l21_objective(X, Y, sk.coef_, sk.intercept_, alpha) / best - 1
    sub_us = l21_objective(X, Y, us.coef_, us.intercept_, alpha) / best - 1
    print(
        f"L2,1 {label} n={n} d={d} T={T} (complete Y), alpha={alpha:.4g} "
        f"({alpha_ratio} alpha_max), feature correlation {correlation}\n"
        f"  MultiTaskLasso : {t_sk:8.3f} s  ({sk.n_iter_} CD epochs, "
        f"suboptimality {sub_sk:.1e})\n"
        f"  L21MultiTask   : {t_us:8.3f} s  ({us.n_iter_} FISTA iterations, "
        f"suboptimality {sub_us:.1e})\n"
        f"  speed-up       : {t_sk / t_us:8.1f}x (best of {repeat})"
    )
    return t_sk, t_us


def bench_l21_masked(n, d, T, alpha_ratio=0.1):
    X, Y = l21_problem(n, d, T)
    rng = np.random.default_rng(1)
    task = rng.integers(0, T, size=n)
    Ym = np.full_like(Y, np.nan)
    Ym[np.arange(n), task] = Y[np.arange(n), task]
    alpha = alpha_ratio * 0.3  # a moderate penalty on this scale
    with threadpool_limits(1):
        t_us, us = _timed(
            lambda: L21MultiTask(alpha, tol=1e-6, max_iter=10_000, n_jobs=1).fit(X, Ym),
            3,
        )
    print(
        f"L2,1 masked n={n} d={d} T={T} (one task labelled per row): "
        f"{t_us:.3f} s, {us.n_iter_} iterations "
        "(MultiTaskLasso cannot fit missing labels)"
    )


def low_rank_problem(T, d, rank, n_per_task, n_test_per_task, shared, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((d, rank)) @ rng.standard_normal((rank, T)) / np.sqrt(rank)
    if shared:
        W = 0.5 * W + 1.5 * rng.standard_normal((d, 1))
    b = rng.standard_normal(T)

    def draw(per_task):
        n = per_task * T
        X = rng.standard_normal((n, d))
        task = np.repeat(np.arange(T), per_task)
        y = np.einsum("nd,dn->n", X, W[:, task]) + b[task]
        y += 2.0 * rng.standard_normal(n)
        Y = np.full((n, T), np.nan)
        Y[np.arange(n), task] = y
        return X, Y, task, y

    return draw(n_per_task), draw(n_test_per_task)


def test_mse(predict, X, task, y):
    P = predict(X)
    return np.mean((P[np.arange(len(y)), task] - y) ** 2)


def bench_low_rank(T, d, rank, n_per_task, shared):
    (X, Y, task, y), (Xt, _, task_t, y_t) = low_rank_problem(
        T, d, rank, n_per_task, 200, shared
    )
    alphas_ridge = np.logspace(-3, 4, 15)
    results = {}

    def per_task():
        models = [
            RidgeCV(alphas=alphas_ridge).fit(X[task == t], y[task == t])
            for t in range(T)
        ]
        return lambda Z: np.column_stack([m.predict(Z) for m in models])

    def pooled():
        onehot = np.eye(T)[task]
        m = RidgeCV(alphas=alphas_ridge).fit(np.hstack([X, onehot]), y)
        return lambda Z: np.column_stack(
            [
                m.predict(np.hstack([Z, np.tile(np.eye(T)[t], (len(Z), 1))]))
                for t in range(T)
            ]
        )

    def trace(shared_flag):
        rng = np.random.default_rng(3)
        val = rng.random(len(y)) < 0.2
        alphas, coefs, intercepts = trace_norm_path(
            X[~val], Y[~val], n_alphas=15, eps=1e-3, shared=shared_flag, tol=1e-5
        )
        errors = [
            np.mean(
                (np.einsum("nd,nd->n", X[val], c[task[val]]) + b_[task[val]] - y[val])
                ** 2
            )
            for c, b_ in zip(coefs, intercepts)
        ]
        alpha = alphas[int(np.argmin(errors))]
        model = TraceNormMultiTask(alpha, shared=shared_flag, tol=1e-5).fit(X, Y)
        s = model.singular_values_
        results[f"trace norm{' (shared)' if shared_flag else ''}"] = (
            f"rank_ {model.rank_}, singular values above 10% of the largest: "
            f"{int(np.sum(s > 0.1 * s[0]))} (alpha {alpha:.3g})"
        )
        return model.predict

    for name, build in [
        ("per-task RidgeCV", per_task),
        ("pooled RidgeCV", pooled),
        ("TraceNormMultiTask", lambda: trace(False)),
        ("TraceNormMultiTask(shared=True)", lambda: trace(True)),
    ]:
        seconds, predict = _timed(build)
        print(
            f"  {name:32s} test MSE {test_mse(predict, Xt, task_t, y_t):7.3f}  "
            f"({seconds:.2f} s)"
        )
    for key, value in results.items():
        print(f"  {key}: {value}; planted rank {rank}")


def main(quick, heavy):
    if quick:
        bench_l21(600, 10, 8, label="(quick)")
        bench_l21_masked(600, 10, 8)
        print("Planted low rank (quick), T=8, d=6, rank 2, 30 rows per task")
        bench_low_rank(8, 6, 2, 30, shared=False)
        return
    bench_l21(15_000, 30, 140, label="school-like")
    bench_l21(15_000, 30, 140, alpha_ratio=0.01, label="school-like")
    bench_l21(15_000, 30, 140, alpha_ratio=0.01, label="school-like", correlation=0.9)
    bench_l21(3_000, 500, 1_000, label="large")
    if heavy:  # about 2.5 minutes, almost all of it in MultiTaskLasso
        bench_l21(3_000, 500, 1_000, label="large", correlation=0.9)
    bench_l21_masked(15_000, 30, 140)
    for shared in (False, True):
        kind = "shared + low-rank deviations" if shared else "low rank"
        print(f"Planted {kind}, T=100, d=40, rank 3, 30 train rows per task")
        bench_low_rank(100, 40, 3, 30, shared=shared)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke-test sizes")
    parser.add_argument(
        "--heavy", action="store_true", help="add the large correlated L2,1 case"
    )
    args = parser.parse_args()
    main(args.quick, args.heavy)
