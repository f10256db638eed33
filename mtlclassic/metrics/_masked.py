"""Masked per-task metrics: each task scored on its labelled rows only."""

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from .._targets import check_targets


def _pred_matrix(Y_pred, shape) -> np.ndarray:
    P = np.asarray(Y_pred.to_numpy() if hasattr(Y_pred, "to_numpy") else Y_pred,
                   dtype=np.float64)
    if P.ndim == 1:
        P = P[:, None]
    if P.shape != shape:
        raise ValueError(
            f"Y_pred has shape {P.shape} but Y_true has shape {shape}; they must "
            "match (one column per task)."
        )
    if not np.all(np.isfinite(P)):
        raise ValueError("Y_pred contains NaN or inf.")
    return P


def _task_metric(kind: str, metric: str, y: np.ndarray, p: np.ndarray,
                 w=None) -> float:
    """One metric on one task's labelled rows; NaN where it is undefined."""
    if metric == "rmse":
        return float(np.sqrt(skm.mean_squared_error(y, p, sample_weight=w)))
    if metric == "mae":
        return float(skm.mean_absolute_error(y, p, sample_weight=w))
    if metric == "r2":
        if y.size < 2:
            return np.nan
        return float(skm.r2_score(y, p, sample_weight=w))
    positive = y > 0
    if positive.all() or not positive.any():
        return np.nan
    if metric == "roc_auc":
        return float(skm.roc_auc_score(positive, p, sample_weight=w))
    if metric == "average_precision":
        return float(skm.average_precision_score(positive, p, sample_weight=w))
    if metric == "log_loss":
        return float(skm.log_loss(positive, np.clip(p, 1e-15, 1 - 1e-15),
                                  sample_weight=w, labels=[False, True]))
    raise ValueError(f"Unknown metric {metric!r}.")


def masked_metric(metric, Y_true, Y_pred, *, tasks=None, sample_weight=None):
    """Compute ``metric`` per task on the labelled rows of each task.

    Returns an array of shape (n_tasks,); NaN where the metric is undefined
    for a task (e.g. AUC of a task with one class).
    """
    Y, mask, kinds, _ = check_targets(Y_true, tasks)
    P = _pred_matrix(Y_pred, Y.shape)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    out = np.empty(Y.shape[1])
    for t in range(Y.shape[1]):
        rows = mask[:, t]
        out[t] = _task_metric(kinds[t], metric, Y[rows, t], P[rows, t],
                              None if w is None else w[rows])
    return out


def multitask_score(Y_true, Y_pred, *, tasks=None, sample_weight=None):
    """Mean over tasks of R² (regression) and ROC AUC (binary, ranking).

    This is what every multi-task estimator's ``score`` returns (see
    DESIGN.md): each task is scored on its labelled rows; for a ranking task
    the AUC of ``relevance > 0`` against the prediction. Tasks where the
    metric is undefined are left out of the mean.

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.array([[1.0, 0], [2.0, 1], [np.nan, 1], [4.0, 0]])
    >>> P = np.array([[1.0, 0.1], [2.0, 0.9], [0.0, 0.8], [4.0, 0.2]])
    >>> float(multitask_score(Y, P))
    1.0
    """
    Y, mask, kinds, _ = check_targets(Y_true, tasks)
    P = _pred_matrix(Y_pred, Y.shape)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    scores = []
    for t, kind in enumerate(kinds):
        rows = mask[:, t]
        metric = "r2" if kind == "regression" else "roc_auc"
        scores.append(_task_metric(kind, metric, Y[rows, t], P[rows, t],
                                   None if w is None else w[rows]))
    scores = np.asarray(scores)
    if np.all(np.isnan(scores)):
        return np.nan
    return float(np.nanmean(scores))


__all__ = ["masked_metric", "multitask_score", "pd"]
