"""Multi-task scorers for ``GridSearchCV`` and ``cross_validate``.

A scorer is a callable ``scorer(estimator, X, Y) -> float`` (greater is better)
that scores every task on its labelled rows only.
"""

import warnings

import numpy as np
import pandas as pd
from sklearn.utils.metadata_routing import MetadataRequest

from .._targets import check_targets, fitted_tasks
from ._masked import (
    _pred_matrix,
    _row_weights,
    _task_metric,
    _weights_in_order,
    _weights_of,
    align_tasks,
    warn_left_out,
)
from ._ranking import ndcg_at_k

SCORER_METRICS = (
    "auto",
    "r2",
    "roc_auc",
    "average_precision",
    "neg_rmse",
    "neg_mae",
    "neg_log_loss",
    "ndcg",
)


def _check_metric(metric):
    if metric not in SCORER_METRICS:
        raise ValueError(
            f"metric must be one of {list(SCORER_METRICS)}; got {metric!r}."
        )


def _check_fold_targets(Y, tasks, estimator):
    """Validate one fold's Y; a task may have no label there (it is left out).

    Kinds come from ``tasks``, else from the fitted estimator (a fold without
    labels cannot show a task's kind), else are inferred.
    """
    if tasks is None:
        fitted = fitted_tasks(estimator)
        names = list(Y.columns) if hasattr(Y, "columns") else None
        if fitted and names is not None and sorted(map(str, names)) == sorted(fitted):
            tasks = fitted
        elif (
            fitted
            and names is None
            and (
                np.ndim(Y) == 2
                and np.shape(Y)[1] == len(fitted)
                or np.ndim(Y) == 1
                and len(fitted) == 1
            )
        ):  # a 1-D y of a one-task model (a Series, an array): its fitted kind
            tasks = list(fitted.values())
    return check_targets(Y, tasks, allow_empty=True)


class _TaskScoring:
    """Scores one task's labelled rows with a named metric."""

    def __init__(self, metric, group_col, k):
        _check_metric(metric)
        self.metric = metric
        self.group_col = group_col
        self.k = k

    def resolve(self, kind):
        if self.metric != "auto":
            return self.metric
        return {"regression": "r2", "binary": "roc_auc", "ranking": "ndcg"}[kind]

    def __call__(self, kind, y, p, X, rows, name, w=None):
        metric = self.resolve(kind)
        if metric == "ndcg":
            if w is not None:
                raise ValueError(
                    f"Scoring task {name!r} by NDCG takes no sample_weight (each "
                    "query counts once); score it without weights."
                )
            if self.group_col is None:
                raise ValueError(
                    f"Scoring task {name!r} by NDCG needs group_col (the query/user "
                    "column of X) in the scorer."
                )
            if isinstance(X, pd.DataFrame):
                groups = X[self.group_col].to_numpy()[rows]
            else:  # an array (query_col given as a position): a column, not a row
                groups = np.asarray(X)[:, self.group_col][rows]
            return ndcg_at_k(y, p, groups, k=self.k)
        sign = -1.0 if metric.startswith("neg_") else 1.0
        return sign * _task_metric(kind, metric.removeprefix("neg_"), y, p, w)


class _WeightRequest:
    """``set_score_request(sample_weight=...)`` for metadata routing.

    With ``sklearn.set_config(enable_metadata_routing=True)``, search and
    ``cross_validate`` pass ``sample_weight`` to a scorer that asks for it,
    as scikit-learn's own scorers.
    """

    _weight_request = None

    def set_score_request(self, *, sample_weight=None):
        """Ask for ``sample_weight`` (True, False, None or an alias); return self."""
        self._weight_request = sample_weight
        return self

    def get_metadata_routing(self):
        """Return the metadata this scorer takes: ``sample_weight`` when asked."""
        request = MetadataRequest(owner=type(self).__name__)
        request.score.add_request(param="sample_weight", alias=self._weight_request)
        return request


def _predict_matrix(estimator, X, Y, shape, sample_weight, names):
    """Predictions and weights with one column per task of ``Y``, matched by name.

    Returns ``(P, w)``: a 2-D ``sample_weight`` array is in the estimator's
    task order, as :meth:`score` and :func:`multitask_score` read it.
    """
    fitted = list(fitted_tasks(estimator))
    _, order = align_tasks(Y, None, fitted or None)
    w = _weights_in_order(_row_weights(sample_weight, shape[0], names),
                          sample_weight, order)  # fmt: skip
    if order is None:
        return _pred_matrix(estimator.predict(X), shape), w
    return _pred_matrix(estimator.predict(X), (shape[0], len(order)))[:, order], w


class MultitaskScorer(_WeightRequest):
    """Mean over tasks of a per-task metric; see :func:`make_multitask_scorer`."""

    def __init__(
        self, metric="auto", average="macro", tasks=None, group_col=None, k=10
    ):
        if average not in ("macro", "weighted"):
            raise ValueError(f"average must be 'macro' or 'weighted'; got {average!r}.")
        self._scoring = _TaskScoring(metric, group_col, k)
        self.average = average
        self.tasks = tasks

    def __call__(self, estimator, X, Y, sample_weight=None):
        Yf, mask, kinds, names = _check_fold_targets(Y, self.tasks, estimator)
        P, w = _predict_matrix(estimator, X, Y, Yf.shape, sample_weight, names)
        scores, counts = [], []
        for t, kind in enumerate(kinds):
            rows = mask[:, t]
            score = np.nan
            if rows.any():
                score = self._scoring(kind, Yf[rows, t], P[rows, t], X, rows, names[t],
                                      _weights_of(w, rows, t))  # fmt: skip
            scores.append(score)
            counts.append(rows.sum())
        scores, counts = np.asarray(scores, dtype=float), np.asarray(counts, float)
        warn_left_out(names, scores)
        ok = ~np.isnan(scores)
        if not ok.any():
            return np.nan
        weights = counts[ok] if self.average == "weighted" else None
        return float(np.average(scores[ok], weights=weights))

    def __repr__(self):
        return (
            f"make_multitask_scorer(metric={self._scoring.metric!r}, "
            f"average={self.average!r})"
        )


class TaskScorer(_WeightRequest):
    """One task's metric; see :func:`make_task_scorer`."""

    def __init__(self, task, metric="auto", tasks=None, group_col=None, k=10):
        self._scoring = _TaskScoring(metric, group_col, k)
        self.task = task
        self.tasks = tasks

    def __call__(self, estimator, X, Y, sample_weight=None):
        Yf, mask, kinds, names = _check_fold_targets(Y, self.tasks, estimator)
        if isinstance(self.task, int | np.integer):
            if not 0 <= self.task < len(names):
                raise ValueError(
                    f"task index {self.task} out of range for {len(names)} tasks."
                )
            t = int(self.task)
        elif str(self.task) in names:
            t = names.index(str(self.task))
        else:
            raise ValueError(f"task {self.task!r} is not a task of Y; tasks: {names}.")
        P, w = _predict_matrix(estimator, X, Y, Yf.shape, sample_weight, names)
        rows = mask[:, t]
        score = np.nan  # no label for this task here
        if rows.any():
            score = self._scoring(kinds[t], Yf[rows, t], P[rows, t], X, rows, names[t],
                                  _weights_of(w, rows, t))  # fmt: skip
        if np.isnan(score):
            warnings.warn(
                f"Task {names[t]!r} has no labelled row, a single class or constant "
                "labels here: its score is undefined (NaN).",
                UserWarning,
                stacklevel=2,
            )
        return float(score)

    def __repr__(self):
        return f"make_task_scorer({self.task!r}, metric={self._scoring.metric!r})"


def make_multitask_scorer(
    metric="auto", average="macro", tasks=None, *, group_col=None, k=10
):
    """Build a masked multi-task scorer for ``GridSearchCV`` / ``cross_validate``.

    Parameters
    ----------
    metric : str, default="auto"
        One of ``"auto"`` (R² for regression, ROC AUC for binary, NDCG@k for
        ranking tasks), ``"r2"``, ``"roc_auc"``, ``"average_precision"``,
        ``"neg_rmse"``, ``"neg_mae"``, ``"neg_log_loss"``, ``"ndcg"``.
        Greater is better for every one.
    average : {"macro", "weighted"}, default="macro"
        Mean over tasks, or weighted by each task's labelled count. Tasks where
        the metric is undefined in a fold (a single class) are left out.
    tasks : None, list or dict, default=None
        Task kinds; None infers them from each fold's ``Y``.
    group_col : str or int, default=None
        Column of ``X`` holding the query/user id, needed for NDCG (a
        position for an array ``X``, as ``MultiTaskLGBM(query_col=)``).
    k : int, default=10
        Cut-off of NDCG.

    Returns
    -------
    scorer : callable ``(estimator, X, Y) -> float``

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyRegressor
    >>> Y = np.array([[1.0, 2.0], [3.0, np.nan], [5.0, 6.0]])
    >>> est = DummyRegressor().fit(np.zeros((3, 1)), np.nan_to_num(Y))
    >>> scorer = make_multitask_scorer(metric="neg_mae")
    >>> round(scorer(est, np.zeros((3, 1)), Y), 3)
    -1.667
    """
    return MultitaskScorer(metric, average, tasks, group_col, k)


def make_task_scorer(task, metric="auto", tasks=None, *, group_col=None, k=10):
    """Build a scorer of one task (by name or column index), on its labelled rows.

    Use several in a ``scoring={...}`` dict with ``refit=`` the name to pick by.

    Examples
    --------
    >>> scoring = {"mean": make_multitask_scorer(),
    ...            "click": make_task_scorer("click")}
    """
    return TaskScorer(task, metric, tasks, group_col, k)


def make_multitask_scoring(
    task_names, metric="auto", tasks=None, *, group_col=None, k=10
):
    """Build a ``scoring`` dict: ``"mean"`` (macro) plus one scorer per task.

    Examples
    --------
    >>> sorted(make_multitask_scoring(["rating", "click"]))
    ['click', 'mean', 'rating']
    """
    scoring = {
        "mean": make_multitask_scorer(metric, "macro", tasks, group_col=group_col, k=k)
    }
    for name in task_names:
        if name == "mean":
            raise ValueError("A task named 'mean' clashes with the mean scorer.")
        scoring[str(name)] = make_task_scorer(
            name, metric, tasks, group_col=group_col, k=k
        )
    return scoring
