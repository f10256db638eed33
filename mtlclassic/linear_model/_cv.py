"""Cross-validated task-relationship models: choose ``alpha`` on a warm path.

The ``MultiTaskLassoCV`` pattern: for every fold, the base model is fitted
along a decreasing grid of ``alpha`` (each fit warm-started from the previous
one) and predicts the fold's held-out rows; the ``alpha`` whose out-of-fold
predictions score best (each task's R² / ROC AUC on its labelled rows, averaged
over tasks) is refitted on every row.
"""

import numbers
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import KFold, check_cv
from sklearn.utils.validation import indexable

from .._compat import Interval, StrOptions, _num_samples, _safe_indexing
from .._targets import check_targets, check_task_sample_weight
from ..metrics._masked import _task_scores
from ._base import _ALLOWED_KINDS, _check_X, _mean_from_linear
from ._estimators import (
    ClusteredMultiTask,
    L21MultiTask,
    MeanRegularizedMultiTask,
    TraceNormMultiTask,
    _pooled_start,
)
from ._penalties import L21Norm, TraceNorm
from ._scaling import _clipped
from ._solvers import MultiTaskProblem


def _alpha_grid(estimator, data, n_alphas, eps):
    """``n_alphas`` values log-spaced from the model's ``alpha_max`` down.

    Trace norm and L2,1: ``alpha_max`` is the smallest ``alpha`` with ``V = 0``
    (the dual norm of the gradient in ``V`` at the pooled solution), and
    ``eps=None`` means 1e-3. The smooth penalties (mean-regularised, clustered)
    never make ``V`` exactly zero: their grid starts at 10 times the datafit's
    Lipschitz constant ``L`` (``V`` shrunk about 20-fold along the best-determined
    direction, more along the others) and ``eps=None`` means 1e-6, down to
    where the tasks are practically independent.
    """
    datafit = data.datafit  # every row, scaled as the fits are
    n_tasks = datafit.n_tasks
    shared = estimator._is_shared(n_tasks)
    dual = {TraceNormMultiTask: TraceNorm, L21MultiTask: L21Norm}.get(type(estimator))
    if dual is None:
        alpha_max = 10.0 * max(datafit.lipschitz(), 1e-12)
        eps = 1e-6 if eps is None else eps
    else:
        eps = 1e-3 if eps is None else eps
        x = _pooled_start(datafit, shared, estimator.max_iter, estimator.tol)
        problem = MultiTaskProblem(datafit, dual(1.0), shared=shared)
        _, g = problem.smooth_value_and_gradient(x)
        d = datafit.n_features
        alpha_max = dual.dual_norm(g[: d * n_tasks].reshape(d, n_tasks))
        alpha_max = max(alpha_max, 1e-12) * (1.0 + 1e-9)
    return alpha_max * np.logspace(0, np.log10(eps), n_alphas)


def _fold_base(base, keep, names):
    """Return ``base`` restricted to the tasks ``keep`` (a boolean mask)."""
    if keep.all():
        return clone(base)
    model = clone(base).set_params(tasks=[k for k, on in zip(base.tasks, keep) if on])
    weights = base.task_weights
    if isinstance(weights, dict):
        kept = {n for n, on in zip(names, keep) if on}
        model.set_params(task_weights={k: v for k, v in weights.items() if k in kept})
    elif weights is not None and not isinstance(weights, str):
        model.set_params(task_weights=np.asarray(weights, dtype=float)[keep])
    if getattr(base, "task_graph", None) is not None:
        graph = np.asarray(base.task_graph, dtype=float)
        model.set_params(task_graph=graph[np.ix_(keep, keep)])
    if hasattr(base, "n_clusters"):
        model.set_params(n_clusters=min(base.n_clusters, int(keep.sum())))
    return model


def _path_scores(base, X, Y, sample_weight, train, test, alphas, fold, names):
    """Fit ``base`` along ``alphas`` (warm) on ``train``; scores on ``test``.

    ``Y`` is the float label matrix (NaN: no label), ``sample_weight`` None or
    per task (n_samples, n_tasks). A task without a labelled (positively
    weighted) training row in this fold is left out of the fold's fit, with a
    warning; its predictions there are NaN and its rows of the fold are not
    scored. Returns ``(mean_scores (n_alphas,), task_scores (n_alphas,
    n_tasks), predictions (n_alphas, n_test, n_tasks))``.
    """
    X_tr, X_te = _safe_indexing(X, train), _safe_indexing(X, test)
    Y_tr, Yt = Y[train], Y[test]
    sw = None if sample_weight is None else sample_weight[train]
    # held-out rows weighted as in fit (GridSearchCV passes them to score too)
    sw_te = None if sample_weight is None else sample_weight[test]
    labelled = ~np.isnan(Y_tr) if sw is None else ~np.isnan(Y_tr) & (sw > 0)
    keep = labelled.any(axis=0)
    T = Y.shape[1]
    mean = np.full(len(alphas), np.nan)
    per_task = np.full((len(alphas), T), np.nan)
    preds = np.full((len(alphas), len(test), T), np.nan)
    if not keep.all():
        warnings.warn(
            f"cv fold {fold}: tasks {[names[t] for t in np.flatnonzero(~keep)]} "
            "have no labelled training row in this fold; the fold is fitted "
            "without them, and their rows of this fold are not scored.",
            UserWarning,
            stacklevel=2,
        )
    if not keep.any():
        return mean, per_task, preds
    model = _fold_base(base, keep, names)
    data = model._prepare(
        X_tr, Y_tr[:, keep], None if sw is None else sw[:, keep]
    )  # validated and cached once per fold
    X_te = _check_X(model, X_te, reset=False)
    if model.clip:
        X_te = _clipped(X_te, data.data_min, data.data_max)
    x = None
    for a, alpha in enumerate(alphas):
        model.alpha = alpha
        problem, x, _, _ = model._solve_prepared(data, x)  # warm from the last
        coef, intercept, _ = model._unscaled(data, problem, x)
        preds[a][:, keep] = _mean_from_linear(
            np.asarray(X_te @ coef.T) + intercept, data.kinds
        )
        scores = _task_scores(Yt, ~np.isnan(Yt) & keep, preds[a], base.tasks, sw_te)
        per_task[a] = scores
        mean[a] = _nanmean(scores)  # model.score, without predicting again
    return mean, per_task, preds


def _oof_scores(Y, folds, predictions, kinds, sample_weight=None):
    """Each task's score on every out-of-fold prediction at once, per alpha.

    ``sample_weight``: None or per task (n_samples, n_tasks), as in fit.

    Returns ``(mean (n_alphas,), per_task (n_alphas, n_tasks))``.
    """
    n_alphas = predictions[0].shape[0]
    P = np.full((n_alphas,) + Y.shape, np.nan)
    for (_, test), pred in zip(folds, predictions):
        P[:, test] = pred
    per_task = np.array(
        [
            _task_scores(Y, ~np.isnan(Y) & ~np.isnan(P[a]), P[a], kinds, sample_weight)
            for a in range(n_alphas)
        ]
    )
    return np.array([_nanmean(row) for row in per_task]), per_task


def _nanmean(values):
    """Mean over the defined (non-NaN) values; NaN when there is none."""
    values = np.asarray(values)
    defined = ~np.isnan(values)
    return float(values[defined].mean()) if defined.any() else np.nan


class _MultiTaskCVMixin:
    """``fit``: cross-validate ``alpha`` on a warm path, then refit on every row."""

    _cv_constraints: dict = {
        "alphas": [None, "array-like"],
        "n_alphas": [Interval(numbers.Integral, 1, None, closed="left")],
        "eps": [None, Interval(numbers.Real, 0, 1, closed="neither")],
        "cv": [None, "cv_object"],
        "selection": [StrOptions({"oof", "fold_mean"})],
    }

    def _base(self):
        params = {
            k: v
            for k, v in self.get_params(deep=False).items()
            if k in self._base_class._get_param_names()
        }
        return self._base_class(alpha=1.0, **params)

    def fit(self, X, y, sample_weight=None, groups=None):
        """Choose ``alpha`` by cross-validation, then refit on every row.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like or DataFrame of shape (n_samples, n_tasks) or (n_samples,)
            NaN where a row has no label for a task.
        sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
default=None
        groups : array-like of shape (n_samples,), default=None
            Passed to ``cv.split`` (e.g. users for ``GroupKFold``).

        Returns
        -------
        self : object
            Fitted: ``alpha_``, ``alphas_``, ``cv_scores_``,
            ``cv_task_scores_``, and every attribute of the base model.
        """
        self._validate_params()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )
        n_samples = _num_samples(X)
        for name, value in (("y", y), ("sample_weight", sample_weight)):
            if value is not None and _num_samples(value) != n_samples:
                raise ValueError(
                    f"{name} has {_num_samples(value)} rows but X has {n_samples}."
                )
        X, y, sample_weight = indexable(X, y, sample_weight)
        base = self._base()
        # the labels once, on every row (kinds inferred here, not per fold;
        # pandas nullable dtypes become float with NaN)
        Yf, _, kinds, names = check_targets(
            y, base.tasks, n_samples=n_samples, allow_kinds=_ALLOWED_KINDS
        )
        base.set_params(tasks=list(kinds))
        sw = None
        if sample_weight is not None:
            sw = check_task_sample_weight(
                sample_weight, n_samples, len(kinds), task_names=names
            )
        # every row prepared once: for the grid of alpha and for the refit
        model = clone(base)
        data = model._prepare(X, y, sample_weight)
        if self.alphas is None:
            alphas = _alpha_grid(model, data, self.n_alphas, self.eps)
        else:
            alphas = np.sort(np.asarray(self.alphas, dtype=np.float64).ravel())[::-1]
            if (
                alphas.size == 0
                or not np.all(np.isfinite(alphas))
                or np.any(alphas < 0)
            ):
                raise ValueError(
                    "alphas must be a non-empty list of finite values >= 0; got "
                    f"{self.alphas!r}."
                )
        cv = self.cv if self.cv is not None else 5
        if isinstance(cv, numbers.Integral):  # shuffled: rows often come by task
            cv = KFold(int(cv), shuffle=True, random_state=0)
        cv = check_cv(cv)
        folds = list(cv.split(X, y, groups))
        results = Parallel(n_jobs=self.n_jobs)(
            delayed(_path_scores)(
                base, X, Yf, sw, train, test, alphas, fold, list(names)
            )
            for fold, (train, test) in enumerate(folds)
        )
        scores = np.array([r[0] for r in results])  # (n_folds, n_alphas)
        task_scores = np.array([r[1] for r in results])  # (n_folds, n_alphas, T)
        fold_mean = (
            np.nanmean(scores, axis=0) if np.isfinite(scores).any() else scores[0]
        )
        oof_mean, oof_tasks = _oof_scores(Yf, folds, [r[2] for r in results], kinds, sw)
        mean = oof_mean if self.selection == "oof" else fold_mean
        best = int(np.nanargmax(mean)) if np.isfinite(mean).any() else 0
        model.alpha = float(alphas[best])
        model._set_fitted(data, *model._solve_prepared(data))
        stale = [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]
        for name in stale:  # the previous fit's state (e.g. feature_names_in_)
            delattr(self, name)
        for name, value in vars(model).items():
            if name.endswith("_") and not name.startswith("__"):
                setattr(self, name, value)
        self._y_ndim = model._y_ndim
        self.alpha_ = float(alphas[best])
        self.alphas_ = alphas
        self.cv_scores_ = scores.T  # (n_alphas, n_folds)
        self.cv_task_scores_ = task_scores.transpose(1, 2, 0)  # (n_alphas, T, folds)
        self.mean_cv_score_ = fold_mean
        self.oof_score_ = oof_mean
        self.oof_task_scores_ = oof_tasks
        return self


_CV_DOC = r"""
    The ``MultiTaskLassoCV`` pattern: ``alphas=None`` gives ``n_alphas``
    values log-spaced from ``alpha_max`` down to ``eps * alpha_max``; on every
    fold of ``cv`` the base model runs the path from the largest ``alpha``
    down, each fit warm-started from the previous one, and is scored on the
    fold's held-out rows (R² / ROC AUC per task, each on its labelled rows,
    weighted by ``sample_weight`` as the fit is).
    The best ``alpha`` (``alpha_``, by ``selection``) is refitted on every
    row. With ``selection="fold_mean"`` this is exactly
    ``GridSearchCV(<base>, {"alpha": alphas}, cv=cv)`` on the same folds,
    faster by the warm starts.

    Parameters
    ----------
    alphas : array-like or None, default=None
    n_alphas : int, default=25
    eps : float or None, default=None
        ``alphas_[-1] / alphas_[0]``; None: 1e-3 for the trace and L2,1
        norms (from the ``alpha`` where ``V`` vanishes), 1e-6 for the smooth
        penalties (from 10 times the datafit's Lipschitz constant).
    cv : int, splitter or None, default=None
        None means 5; an int ``k`` is ``KFold(k, shuffle=True,
        random_state=0)`` over rows (every task's labelled rows are split with
        them; shuffled, because rows often come grouped by task and unshuffled
        folds would leave a task out of a training fold). A splitter is used
        as it is.
    selection : {"oof", "fold_mean"}, default="oof"
        How ``alpha_`` is chosen. ``"oof"``: each task's score (R² / ROC AUC)
        on all its out-of-fold predictions at once (as ``cross_val_predict``),
        averaged over tasks (``oof_score_``): stable when a task has few rows
        per fold. ``"fold_mean"``: the mean over folds of the multi-task score
        (``mean_cv_score_``), exactly ``GridSearchCV``'s choice.
    n_jobs : int or None, default=None
        Folds run in parallel (joblib); each fit's threads as in the base.
    Other parameters: as in the base model (``alpha`` aside).

    Attributes
    ----------
    alpha_ : float
    alphas_ : ndarray of shape (n_alphas,)
        Decreasing.
    cv_scores_ : ndarray of shape (n_alphas, n_folds)
        The multi-task score of every fold along the path.
    mean_cv_score_ : ndarray of shape (n_alphas,)
        Mean over folds of ``cv_scores_`` (GridSearchCV's ``mean_test_score``).
    oof_score_ : ndarray of shape (n_alphas,)
        Mean over tasks of ``oof_task_scores_``.
    oof_task_scores_ : ndarray of shape (n_alphas, n_tasks)
        Each task's score on its out-of-fold predictions.
    cv_task_scores_ : ndarray of shape (n_alphas, n_tasks, n_folds)
        Each task's score (R² or ROC AUC; NaN where undefined in a fold): the
        path plot per task.
    Every fitted attribute of the base model (``coef_``, ``intercept_``,
    ``task_similarity_``, ...), from the refit at ``alpha_``.
"""


def _constraints(base):
    return {
        k: v for k, v in base._parameter_constraints.items() if k != "alpha"
    } | _MultiTaskCVMixin._cv_constraints


_SHARED_NOTE = """

    ``shared`` defaults to True here (False in the base model): the tasks'
    common weight vector is unpenalised, so the largest ``alpha`` is the
    pooled model with per-task intercepts and the path runs from pooling to
    the penalised deviations. On MovieLens users as tasks (139 tasks, 9-122
    training rows each) shared was better (test R² 0.166 vs 0.146 for the
    trace norm, 0.171 vs 0.162 for L2,1); on RF1 (8 tasks, thousands of rows
    each) unshared was (0.423 vs 0.280): with few tasks and many rows per
    task, try ``shared=False``.
"""


def _cv_doc(what, base):
    return what + "\n" + _CV_DOC.replace("<base>", base.__name__)


class _SharedComponentCV(_MultiTaskCVMixin):
    """The ``__init__`` of the CV forms of the models with ``shared=``."""

    def __init__(
        self,
        *,
        alphas=None,
        n_alphas=25,
        eps=None,
        cv=None,
        selection="oof",
        shared=True,
        tasks=None,
        fit_intercept=True,
        intercept_alpha=0.0,
        standardize=True,
        standardize_targets=True,
        clip=True,
        task_weights=None,
        max_iter=1000,
        tol=1e-4,
        warm_start=False,
        verbose=0,
        n_jobs=None,
    ):
        self.alphas = alphas
        self.n_alphas = n_alphas
        self.eps = eps
        self.cv = cv
        self.selection = selection
        self.shared = shared
        self.tasks = tasks
        self.fit_intercept = fit_intercept
        self.intercept_alpha = intercept_alpha
        self.standardize = standardize
        self.standardize_targets = standardize_targets
        self.clip = clip
        self.task_weights = task_weights
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.verbose = verbose
        self.n_jobs = n_jobs


class TraceNormMultiTaskCV(_SharedComponentCV, TraceNormMultiTask):
    __doc__ = _cv_doc(
        "Trace-norm multi-task model with ``alpha`` chosen by cross-validation."
        + _SHARED_NOTE,
        TraceNormMultiTask,
    )
    _base_class = TraceNormMultiTask
    _parameter_constraints = _constraints(TraceNormMultiTask)


class L21MultiTaskCV(_SharedComponentCV, L21MultiTask):
    __doc__ = _cv_doc(
        "L2,1 multi-task model with ``alpha`` chosen by cross-validation."
        + _SHARED_NOTE,
        L21MultiTask,
    )
    _base_class = L21MultiTask
    _parameter_constraints = _constraints(L21MultiTask)


class ClusteredMultiTaskCV(_MultiTaskCVMixin, ClusteredMultiTask):
    __doc__ = _cv_doc(
        "Clustered multi-task model with ``alpha`` chosen by cross-validation "
        "(``beta`` and ``n_clusters`` fixed).",
        ClusteredMultiTask,
    )
    _base_class = ClusteredMultiTask
    _parameter_constraints = _constraints(ClusteredMultiTask)

    def __init__(
        self,
        *,
        alphas=None,
        n_alphas=25,
        eps=None,
        cv=None,
        selection="oof",
        beta=0.1,
        n_clusters=2,
        tasks=None,
        fit_intercept=True,
        intercept_alpha=0.0,
        standardize=True,
        standardize_targets=True,
        clip=True,
        task_weights=None,
        max_iter=1000,
        tol=1e-4,
        warm_start=False,
        verbose=0,
        n_jobs=None,
    ):
        self.alphas = alphas
        self.n_alphas = n_alphas
        self.eps = eps
        self.cv = cv
        self.selection = selection
        self.beta = beta
        self.n_clusters = n_clusters
        self.tasks = tasks
        self.fit_intercept = fit_intercept
        self.intercept_alpha = intercept_alpha
        self.standardize = standardize
        self.standardize_targets = standardize_targets
        self.clip = clip
        self.task_weights = task_weights
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.verbose = verbose
        self.n_jobs = n_jobs


class MeanRegularizedMultiTaskCV(_MultiTaskCVMixin, MeanRegularizedMultiTask):
    __doc__ = _cv_doc(
        "Mean-regularised multi-task model with ``alpha`` chosen by cross-validation.",
        MeanRegularizedMultiTask,
    )
    _base_class = MeanRegularizedMultiTask
    _parameter_constraints = _constraints(MeanRegularizedMultiTask)

    def __init__(
        self,
        *,
        alphas=None,
        n_alphas=25,
        eps=None,
        cv=None,
        selection="oof",
        task_graph=None,
        tasks=None,
        fit_intercept=True,
        intercept_alpha=0.0,
        standardize=True,
        standardize_targets=True,
        clip=True,
        task_weights=None,
        max_iter=1000,
        tol=1e-4,
        warm_start=False,
        verbose=0,
        n_jobs=None,
    ):
        self.alphas = alphas
        self.n_alphas = n_alphas
        self.eps = eps
        self.cv = cv
        self.selection = selection
        self.task_graph = task_graph
        self.tasks = tasks
        self.fit_intercept = fit_intercept
        self.intercept_alpha = intercept_alpha
        self.standardize = standardize
        self.standardize_targets = standardize_targets
        self.clip = clip
        self.task_weights = task_weights
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.verbose = verbose
        self.n_jobs = n_jobs
