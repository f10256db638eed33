"""Masked per-task metrics: each task scored on its labelled rows only."""

import warnings

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from .._targets import check_targets, refuse_reordered_rows, task_columns


def _true_names(Y_true, names):
    """Task names a DataFrame ``Y_pred`` is matched to: ``Y_true``'s columns, if any."""
    return [str(n) for n in names] if hasattr(Y_true, "columns") else None


def _pred_matrix(Y_pred, shape, true_names=None) -> np.ndarray:
    """``Y_pred`` as a float matrix of ``shape``, its columns in ``Y_true``'s order.

    A DataFrame ``Y_pred`` with named columns is matched to ``true_names``
    (``Y_true``'s task columns) by name: ``ValueError`` names the tasks it
    lacks. Unnamed columns (0, 1, ...) and arrays are read by position.
    """
    if true_names is not None and isinstance(Y_pred, pd.DataFrame):
        Y_pred = task_columns(Y_pred, true_names, "Y_pred")
    P = np.asarray(
        Y_pred.to_numpy() if hasattr(Y_pred, "to_numpy") else Y_pred, dtype=np.float64
    )
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


def _task_metric(kind: str, metric: str, y: np.ndarray, p: np.ndarray, w=None) -> float:
    """One metric on one task's labelled rows; NaN where it is undefined."""
    if y.size == 0:
        return np.nan
    if metric == "rmse":
        return float(np.sqrt(skm.mean_squared_error(y, p, sample_weight=w)))
    if metric == "mae":
        return float(skm.mean_absolute_error(y, p, sample_weight=w))
    if metric == "r2":
        if y.size < 2:
            return np.nan
        value = float(skm.r2_score(y, p, sample_weight=w, force_finite=False))
        return value if np.isfinite(value) else np.nan  # constant labels: undefined
    positive = y > 0
    if positive.all() or not positive.any():
        return np.nan
    if metric == "roc_auc":
        return float(skm.roc_auc_score(positive, p, sample_weight=w))
    if metric == "average_precision":
        return float(skm.average_precision_score(positive, p, sample_weight=w))
    if metric == "log_loss":
        return float(
            skm.log_loss(
                positive,
                np.clip(p, 1e-15, 1 - 1e-15),
                sample_weight=w,
                labels=[False, True],
            )
        )
    raise ValueError(f"Unknown metric {metric!r}.")


# relative rounding of a weighted mean label: below it, labels are constant
_ROUNDING = 100 * np.finfo(np.float64).eps


def _task_scores(Y, mask, P, kinds, w=None):
    """Every task's R² (regression) or ROC AUC (other kinds), shape (n_tasks,).

    Each on its labelled rows, NaN where undefined; the R² of all regression
    tasks at once (as ``r2_score(force_finite=False)``, vectorised: the CV
    paths score thousands of (alpha, task) pairs). Labels constant up to
    rounding (a spread below about 1e-14 of their size: total sum of squares
    at most ``(100 eps)^2`` of the sum of squared labels) give NaN, where
    ``r2_score`` with weights returns about -1e30; labels around 1e6 with a
    spread of 0.5 are not constant.
    """
    T = Y.shape[1]
    out = np.full(T, np.nan)
    reg = np.array([k == "regression" for k in kinds], dtype=bool)
    if reg.any():
        if w is None:
            A = np.where(mask[:, reg], 1.0, 0.0)
        else:
            A = np.where(mask[:, reg], w[:, None] if w.ndim == 1 else w[:, reg], 0.0)
        y = np.where(mask[:, reg], Y[:, reg], 0.0)
        total = A.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (A * y).sum(axis=0) / total
            ss_tot = (A * (y - mean) ** 2).sum(axis=0)
            ss_res = (A * (y - np.where(mask[:, reg], P[:, reg], 0.0)) ** 2).sum(0)
            r2 = 1.0 - ss_res / ss_tot
        n = mask[:, reg].sum(axis=0)
        # constant labels (up to rounding of the weighted mean): undefined
        varies = ss_tot > _ROUNDING**2 * (A * y * y).sum(axis=0)
        out[reg] = np.where((n >= 2) & varies & np.isfinite(r2), r2, np.nan)
    for t in np.flatnonzero(~reg):
        rows = mask[:, t]
        out[t] = _task_metric(
            kinds[t], "roc_auc", Y[rows, t], P[rows, t], _weights_of(w, rows, t)
        )
    return out


def _row_weights(sample_weight, n_samples, task_names):
    """``sample_weight`` checked: None, (n_samples,) or (n_samples, n_tasks).

    A 2-D weight gives each task its own column (as the estimators' ``fit``
    takes them): a DataFrame matched to the tasks by name, an array in their
    order.

    Raises
    ------
    ValueError
        If it has another shape, or holds a NaN, an infinity or a negative
        weight.
    """
    if sample_weight is None:
        return None
    if isinstance(sample_weight, pd.DataFrame):
        sample_weight = task_columns(sample_weight, task_names, "sample_weight")
    w = np.asarray(sample_weight, dtype=float)
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    T = len(task_names)
    if not (
        (w.ndim == 1 and w.shape[0] == n_samples)
        or (w.ndim == 2 and w.shape == (n_samples, T))
    ):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},), one weight per row of "
            f"Y_true, or ({n_samples}, {T}), one per row and task; got shape "
            f"{w.shape}."
        )
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        first = int(np.argmax(bad.reshape(n_samples, -1).any(axis=1)))
        raise ValueError(
            f"sample_weight has {int(bad.sum())} NaN, infinite or negative weight(s), "
            f"the first at row {first}."
        )
    return w


def _weights_of(w, rows, t):
    """Task ``t``'s weights of ``rows`` (1-D: every task's; 2-D: column t)."""
    if w is None:
        return None
    return w[rows] if w.ndim == 1 else w[rows, t]


def masked_metric(metric, Y_true, Y_pred, *, tasks=None, sample_weight=None):
    """Compute ``metric`` per task on the labelled rows of each task.

    Returns an array of shape (n_tasks,); NaN where the metric is undefined
    for a task (e.g. AUC of a task with one class).
    """
    refuse_reordered_rows(Y_true, "Y_true", Y_pred=Y_pred, sample_weight=sample_weight)
    Y, mask, kinds, names = check_targets(Y_true, tasks)
    P = _pred_matrix(Y_pred, Y.shape, _true_names(Y_true, names))
    w = _row_weights(sample_weight, Y.shape[0], names)
    out = np.empty(Y.shape[1])
    for t in range(Y.shape[1]):
        rows = mask[:, t]
        out[t] = _task_metric(
            kinds[t], metric, Y[rows, t], P[rows, t], _weights_of(w, rows, t)
        )
    return out


def multitask_score(Y_true, Y_pred, *, tasks=None, sample_weight=None, task_names=None):
    """Mean over tasks of R² (regression) and ROC AUC (binary, ranking).

    This is what every multi-task estimator's ``score`` returns (see
    DESIGN.md): each task is scored on its labelled rows; for a ranking task
    the AUC of ``relevance > 0`` against the prediction. Tasks where the
    metric is undefined (no labelled row, a single class) are left out of the
    mean, with a ``UserWarning`` naming them. ``task_names`` names the columns
    of ``Y_pred`` (an estimator's tasks): a DataFrame ``Y_true`` with the same
    tasks in another order is then matched by name; other names raise
    ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.array([[1.0, 0], [2.0, 1], [np.nan, 1], [4.0, 0]])
    >>> P = np.array([[1.0, 0.1], [2.0, 0.9], [0.0, 0.8], [4.0, 0.2]])
    >>> float(multitask_score(Y, P))
    1.0
    """
    refuse_reordered_rows(Y_true, "Y_true", Y_pred=Y_pred, sample_weight=sample_weight)
    tasks, order = align_tasks(Y_true, tasks, task_names)
    Y, mask, kinds, names = check_targets(Y_true, tasks, allow_empty=True)
    if order is None:
        P = _pred_matrix(Y_pred, Y.shape, _true_names(Y_true, names))
    else:
        P = _pred_matrix(Y_pred, (Y.shape[0], len(order)))[:, order]
    w = _weights_in_order(_row_weights(sample_weight, Y.shape[0], names),
                          sample_weight, order)  # fmt: skip
    scores = _task_scores(Y, mask, P, kinds, w)
    warn_left_out(names, scores)
    if np.all(np.isnan(scores)):
        return np.nan
    return float(np.nanmean(scores))


def _weights_in_order(w, sample_weight, order):
    """Per-task weights ``w`` in ``Y_true``'s column order.

    A 2-D array is in the estimator's task order, as its fit takes it
    (``order``: :func:`align_tasks`'s, None when the orders agree); a
    DataFrame was matched by name already.
    """
    if (
        w is not None
        and w.ndim == 2
        and order is not None
        and not isinstance(sample_weight, pd.DataFrame)
    ):
        return w[:, order]
    return w


def align_tasks(Y_true, tasks, task_names):
    """Match a DataFrame ``Y_true`` to predictions whose columns are ``task_names``.

    Returns ``(tasks, order)``: the task kinds keyed by name (when ``tasks``
    is a list aligned with ``task_names``) and the columns of the predictions
    in ``Y_true``'s order (None when no reordering applies).
    """
    if task_names is None or not hasattr(Y_true, "columns"):
        return tasks, None
    names = [str(c) for c in Y_true.columns]
    fitted = [str(n) for n in task_names]
    if names == fitted:
        return tasks, None
    if sorted(names) != sorted(fitted):
        raise ValueError(
            f"Y has the tasks {names} but the model predicts {fitted}; pass the "
            "same task columns (in any order)."
        )
    if tasks is not None and not isinstance(tasks, dict | str):
        tasks = dict(zip(fitted, tasks))
    return tasks, [fitted.index(n) for n in names]


def warn_left_out(names, scores):
    """Warn about the tasks whose metric is undefined here (left out of a mean)."""
    left_out = [n for n, v in zip(names, scores) if np.isnan(v)]
    if left_out:
        warnings.warn(
            f"Tasks {left_out} have no labelled row, a single class, a single "
            "row or constant labels here: their metric is undefined and they "
            "are left out of the multi-task mean.",
            UserWarning,
            stacklevel=3,
        )


def _per_task_doc(metric, what):
    def func(Y_true, Y_pred, *, tasks=None, sample_weight=None):
        return masked_metric(
            metric, Y_true, Y_pred, tasks=tasks, sample_weight=sample_weight
        )

    func.__name__ = metric
    func.__qualname__ = metric
    func.__doc__ = f"""{what} of each task, on that task's labelled rows.

    Parameters
    ----------
    Y_true : DataFrame or array-like of shape (n_samples, n_tasks)
        Labels, NaN where a row has no label for a task.
    Y_pred : array-like of shape (n_samples, n_tasks)
        Predictions (probabilities for binary tasks).
    tasks : None, list or dict, default=None
        Task kinds, as everywhere in mtlclassic.
    sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
default=None
        One weight per row, or per row and task (a DataFrame matched to the
        tasks by name). NaN, infinite or negative weights are a ``ValueError``.

    Returns
    -------
    ndarray of shape (n_tasks,)
        NaN for a task where the metric is undefined (a single class, or a
        single labelled row for R²).
    """
    return func


rmse = _per_task_doc("rmse", "Root mean squared error")
mae = _per_task_doc("mae", "Mean absolute error")
r2 = _per_task_doc("r2", "Coefficient of determination R²")
roc_auc = _per_task_doc("roc_auc", "ROC AUC of ``y > 0`` against the prediction")
log_loss = _per_task_doc("log_loss", "Logistic loss of the predicted probabilities")
average_precision = _per_task_doc(
    "average_precision", "Average precision of ``y > 0`` against the prediction"
)

KIND_METRICS = {
    "regression": ("rmse", "mae", "r2"),
    "binary": ("roc_auc", "log_loss", "average_precision"),
    "ranking": ("roc_auc", "average_precision"),
}
REPORT_COLUMNS = ("rmse", "mae", "r2", "roc_auc", "log_loss", "average_precision")


def multitask_report(Y_true, Y_pred, tasks=None):
    """One row per task: its kind, labelled count and the kind's metrics.

    Regression tasks get ``rmse``, ``mae``, ``r2``; binary tasks ``roc_auc``,
    ``log_loss``, ``average_precision``; ranking tasks ``roc_auc`` and
    ``average_precision`` of ``relevance > 0`` (use the ranking metrics with
    groups for NDCG). Other cells are NaN. Each task is scored on its
    labelled rows only.

    Parameters
    ----------
    Y_true : DataFrame or array-like of shape (n_samples, n_tasks)
    Y_pred : array-like or DataFrame of shape (n_samples, n_tasks)
        A DataFrame with named columns is matched to a DataFrame ``Y_true``'s
        tasks by name (``ValueError`` if one has no column); arrays by position.
    tasks : None, list or dict, default=None

    Returns
    -------
    DataFrame
        Indexed by task name, columns ``kind``, ``n_labelled``, then
        ``rmse``, ``mae``, ``r2``, ``roc_auc``, ``log_loss``,
        ``average_precision``.

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.array([[1.0, 0], [2.0, 1], [np.nan, 1], [4.0, 0]])
    >>> P = np.array([[1.5, 0.1], [2.0, 0.9], [0.0, 0.8], [4.0, 0.2]])
    >>> report = multitask_report(Y, P)
    >>> cols = ["kind", "n_labelled", "mae", "roc_auc"]
    >>> report[cols]  # doctest: +NORMALIZE_WHITESPACE
                  kind  n_labelled       mae  roc_auc
    task
    task_0  regression           3  0.166667      NaN
    task_1      binary           4       NaN      1.0
    """
    refuse_reordered_rows(Y_true, "Y_true", Y_pred=Y_pred)
    Y, mask, kinds, names = check_targets(Y_true, tasks)
    P = _pred_matrix(Y_pred, Y.shape, _true_names(Y_true, names))
    rows = []
    for t, kind in enumerate(kinds):
        lab = mask[:, t]
        row = {"kind": kind, "n_labelled": int(lab.sum())}
        for metric in REPORT_COLUMNS:
            row[metric] = (
                _task_metric(kind, metric, Y[lab, t], P[lab, t])
                if metric in KIND_METRICS[kind]
                else np.nan
            )
        rows.append(row)
    report = pd.DataFrame(rows, index=pd.Index(names, name="task"))
    report["n_labelled"] = report["n_labelled"].astype("int64")
    return report


class MultiTaskScoreMixin:
    """``score``: the masked multi-task score of ``predict`` (tasks by name).

    For estimators with fitted ``task_names_`` and ``task_kinds_``.
    """

    def score(self, X, y, sample_weight=None):
        """Mean over tasks of R² (regression) and ROC AUC (binary).

        Each task is scored on its labelled rows (see
        :func:`mtlclassic.metrics.multitask_score`); a DataFrame ``y`` is
        matched to the fitted tasks by column name.

        Parameters
        ----------
        X : DataFrame, array-like or sparse matrix of shape (n_samples, n_features)
        y : array-like or DataFrame of shape (n_samples, n_tasks) or (n_samples,)
            True labels, NaN where missing.
        sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
default=None
            One weight per row, or per row and task (the weights ``fit``
            takes, in the estimator's task order; a DataFrame by name).

        Returns
        -------
        score : float
        """
        return multitask_score(
            y, self.predict(X), tasks=self.task_kinds_, sample_weight=sample_weight,
            task_names=self.task_names_,
        )  # fmt: skip
