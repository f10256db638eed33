"""The body of ``mtlclassic demo``: models, baselines and the printed report."""

import time

import numpy as np
import pandas as pd

from ._targets import check_targets
from .metrics import multitask_report, ndcg_at_k, precision_at_k
from .model_selection import TemporalSplit


def temporal_holdout(X, Y, time_col="timestamp"):
    """Train on the oldest 80% of events, test on the newest 20%."""
    if time_col not in X.columns:
        rng = np.random.RandomState(0)
        test = rng.uniform(size=len(X)) < 0.2
        return np.flatnonzero(~test), np.flatnonzero(test)
    *_, (train, test) = TemporalSplit(time_col=time_col, n_splits=4).split(X)
    return train, test


def _lightgbm_per_task(X_train, Y_train, X_test, kinds, seed, quick):
    """Baseline: one plain LightGBM per task on the raw columns."""
    from ._compat import import_lightgbm

    lgb = import_lightgbm()
    P = np.empty((len(X_test), Y_train.shape[1]))
    for t, kind in enumerate(kinds):
        rows = ~np.isnan(Y_train[:, t])
        model = (lgb.LGBMRegressor if kind == "regression" else lgb.LGBMClassifier)(
            n_estimators=100 if quick else 300,
            learning_rate=0.05,
            num_leaves=31,
            random_state=seed,
            n_jobs=1,
            verbose=-1,
        )
        model.fit(X_train[rows], Y_train[rows, t])
        P[:, t] = (
            model.predict(X_test)
            if kind == "regression"
            else model.predict_proba(X_test)[:, 1]
        )
    return P


def run(X, Y, *, quick=False, seed=0, progress=print):
    """Fit the models on a temporal holdout; return the printed report."""
    Yf, _, kinds, names = check_targets(Y)
    train, test = temporal_holdout(X, Y)
    X_train, X_test = X.iloc[train], X.iloc[test]
    progress(f"temporal holdout: {train.size:,} train rows, {test.size:,} test rows")
    results = {}
    start = time.perf_counter()
    const = np.nanmean(Yf[train], axis=0)
    results["constant"] = (np.tile(const, (test.size, 1)), time.perf_counter() - start)
    progress("fitting per-task LightGBM on the raw features")
    start = time.perf_counter()
    P = _lightgbm_per_task(X_train, Yf[train], X_test, kinds, seed, quick)
    results["lightgbm_per_task"] = (P, time.perf_counter() - start)

    lines = []
    Y_test = pd.DataFrame(Yf[test], columns=names)
    for model, (P, seconds) in results.items():
        report = multitask_report(Y_test, P, tasks=kinds)
        lines.append(f"== {model}  (fit + predict {seconds:.1f}s)")
        lines.append(report.to_string(float_format=lambda v: f"{v:.4f}"))
        if "user_id" in X.columns:
            users = X_test["user_id"].to_numpy()
            for t, kind in enumerate(kinds):
                if kind == "regression":
                    continue
                lab = ~np.isnan(Yf[test, t])
                y, s, g = Yf[test, t][lab], P[lab, t], users[lab]
                lines.append(
                    f"   {names[t]}: NDCG@10 {ndcg_at_k(y, s, g, k=10):.4f}  "
                    f"precision@10 {precision_at_k(y, s, g, k=10):.4f} "
                    "(test events ranked per user)"
                )
    return "\n".join(lines)
