"""MultiTaskLGBM's predictions and gains from its fitted boosters."""

import numpy as np
import pandas as pd
from scipy.special import expit

from .._compat import effective_n_jobs


def predict_matrix(est, features, todo=None, threads=None):
    """(n_samples, n_tasks) predictions of the tasks ``todo`` (others NaN).

    ``threads``: LightGBM's threads (None: from ``est.n_jobs``).
    """
    out = np.full((features.shape[0], len(est.tasks_)), np.nan)
    cache = {} if threads is None else {"threads": int(threads)}
    for t in range(len(est.tasks_)) if todo is None else todo:
        out[:, t] = predict_column(est, features, t, out, cache)
    return out


def predict_column(est, features, t, previous, cache):
    """Return the predictions of task ``t`` (``previous``: the earlier tasks')."""
    name = list(est.tasks_)[t]
    if "threads" not in cache:  # once per predict call, not per task
        cache["threads"] = effective_n_jobs(est.n_jobs)
    threads = cache["threads"]
    if name not in est.shared_init_score_:
        F = features
        if est.chain_ and t > 0:
            F = np.hstack([features, previous[:, :t]])
        offset = getattr(est, "init_score_columns_", {}).get(name)
        if offset is not None and est.best_iteration_[name] == 0:
            raw = offset_column(est, features, offset, name).copy()  # beat every tree
            return expit(raw) if est.tasks_[name] == "binary" else raw
        if offset is None:
            return est.boosters_[name].predict(
                F, num_iteration=est.best_iteration_[name], num_threads=threads
            )
        raw = est.boosters_[name].predict(
            F,
            raw_score=True,
            num_iteration=est.best_iteration_[name],
            num_threads=threads,
        )
        raw += offset_column(est, features, offset, name)
        return expit(raw) if est.tasks_[name] == "binary" else raw
    F = features
    if len(est.shared_tasks_) > 1:
        if "stacked" not in cache:  # one copy of X for every shared task
            n_samples, n_features = features.shape
            cache["stacked"] = np.empty((n_samples, n_features + 1))
            cache["stacked"][:, :n_features] = features
        F = cache["stacked"]
        F[:, -1] = t
    raw = est.shared_booster_.predict(
        F,
        raw_score=True,
        num_iteration=est.shared_best_iteration_,
        num_threads=threads,
    )
    raw += est.shared_init_score_[name]
    if name in est.boosters_:
        raw += est.boosters_[name].predict(
            features,
            raw_score=True,
            num_iteration=est.best_iteration_[name],
            num_threads=threads,
        )
    return expit(raw) if est.tasks_[name] == "binary" else raw


def offset_column(est, features, position, task):
    """Return the ``init_score`` column of ``task``, checked finite."""
    offset = features[:, position]
    if not np.isfinite(offset).all():
        raise ValueError(
            f"init_score column {est.features_[position]!r} (task {task!r}) "
            "has NaN or infinite values; an offset must be finite on every row."
        )
    return offset


def gain_table(est):
    """Return the total gain of each feature per task (tasks × features)."""
    names = list(est.tasks_)
    columns = list(est.features_)
    if est.chain_:
        columns += [f"pred_{n}" for n in names[:-1]]
    table = np.zeros((len(names), len(columns)))
    d = len(est.features_)
    shared_gain = None
    if est.shared_booster_ is not None:
        shared_gain = est.shared_booster_.feature_importance(
            "gain", iteration=est.shared_best_iteration_
        )[:d]
    for t, name in enumerate(names):
        if name in est.shared_init_score_:
            table[t, :d] += shared_gain
        offset_only = name in getattr(est, "init_score_columns_", {}) and (
            est.best_iteration_[name] == 0
        )  # the head kept no tree: predict uses the offset alone
        if name in est.boosters_ and not offset_only:
            gain = est.boosters_[name].feature_importance(
                "gain", iteration=est.best_iteration_[name] or None
            )
            table[t, : gain.size] += gain
    return pd.DataFrame(table, index=names, columns=columns)
