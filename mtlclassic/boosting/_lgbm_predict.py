"""MultiTaskLGBM's predictions and gains from its fitted boosters."""

import weakref

import numpy as np
import pandas as pd
from scipy.special import expit

from .._compat import effective_n_jobs

# objectives whose predict is the raw score (ConvertOutput is the identity)
IDENTITY_OBJECTIVES = (
    "regression", "regression_l1", "huber", "fair", "quantile", "mape",
    "lambdarank", "rank_xendcg", "custom", "none",
)  # fmt: skip


_LINKS = weakref.WeakKeyDictionary()  # booster -> its link, read once


def objective_link(booster):
    """Return the link LightGBM's ``predict`` applies to a booster's raw score.

    ``(kind, sigma)`` with kind ``"identity"``, ``"sqrt"`` (``reg_sqrt``:
    ``sign(x) x^2``), ``"sigmoid"`` (``binary``, ``cross_entropy``:
    ``1 / (1 + exp(-sigma x))``), ``"softplus"`` (``cross_entropy_lambda``:
    ``log(1 + exp(x))``), ``"exp"`` (``poisson``, ``gamma``, ``tweedie``) or
    ``"other"`` (multiclass and the like), read from the model's objective
    line as LightGBM's objective functions' ``ConvertOutput`` do.
    """
    try:
        return _LINKS[booster]
    except (KeyError, TypeError):
        pass
    link = _read_link(booster)
    try:
        _LINKS[booster] = link  # dump_model costs ms with many categories
    except TypeError:
        pass
    return link


def _read_link(booster):
    text = str(booster.dump_model(num_iteration=1).get("objective", "") or "none")
    name, *options = text.split()
    if name in IDENTITY_OBJECTIVES:
        return ("sqrt" if "sqrt" in options else "identity"), 1.0, text
    if name in ("binary", "cross_entropy", "xentropy"):
        sigma = next((float(o.split(":")[1]) for o in options
                      if o.startswith("sigmoid:")), 1.0)  # fmt: skip
        return "sigmoid", sigma, text
    if name in ("cross_entropy_lambda", "xentlambda"):
        return "softplus", 1.0, text
    if name in ("poisson", "gamma", "tweedie"):
        return "exp", 1.0, text
    return "other", 1.0, text


def apply_link(link, raw):
    """Apply :func:`objective_link`'s link to raw scores (a new array)."""
    kind, sigma, text = link
    if kind == "identity":
        return raw
    if kind == "sqrt":
        return np.sign(raw) * raw * raw
    if kind == "sigmoid":
        return expit(sigma * raw)
    if kind == "softplus":
        return np.logaddexp(0.0, raw)
    if kind == "exp":
        return np.exp(raw)
    raise ValueError(
        f"an init_score offset cannot be added to a booster with the LightGBM "
        f"objective {text!r}: its output is not one score per row."
    )


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
        if offset is not None:  # added to the raw score, before the link
            link = objective_link(est.boosters_[name])  # read once per booster
        if offset is not None and est.best_iteration_[name] == 0:
            raw = offset_column(est, features, offset, name).copy()  # beat every tree
            return apply_link(link, raw)
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
        return apply_link(link, raw)
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
    if est.chain_:  # named apart from a column of X called so
        taken = set(map(str, columns))
        for n in names[:-1]:
            name, k = f"pred_{n}", 1
            while name in taken:
                name, k = f"pred_{n}_{k}", k + 1
            taken.add(name)
            columns.append(name)
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
