"""Task-relationship linear models: trace norm, L2,1 and clustered MTL.

The estimators only assemble a datafit (:mod:`._datafits`), a penalty
(:mod:`._penalties`) and the FISTA solver (:mod:`._solvers`).
"""

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils.metaestimators import available_if

from .._compat import (
    Interval,
    StrOptions,
    _fit_context,
    check_is_fitted,
    limit_threads,
    validate_data,
)
from .._targets import check_targets, check_task_sample_weight
from ..metrics._masked import MultiTaskScoreMixin
from ._datafits import MultiTaskDatafit
from ._penalties import (
    ClusteredNorm,
    GraphLaplacian,
    L21Norm,
    SquaredFrobenius,
    TraceNorm,
)
from ._solvers import MultiTaskProblem, ZeroPenalty, solve, warn_not_converged

#: Singular values below ``RANK_RTOL * singular_values_[0]`` do not count in ``rank_``.
RANK_RTOL = 1e-6

_ALLOWED_KINDS = ("regression", "binary")
_UNCERTAINTY_MAX_ROUNDS = 20
_UNCERTAINTY_RTOL = 1e-3
#: standardize_targets: below this spread of the tasks' true log label scales,
#: the tasks share one unit and one scale (see _target_scale).
_SAME_UNIT_LOG_SPREAD = 0.5


@dataclass
class _PreparedFit:
    """The validated data of a fit (shared by every ``alpha`` of a path)."""

    datafit: MultiTaskDatafit
    omega: np.ndarray  # the initial task weights
    scale: np.ndarray  # feature_scale_
    y_scale: np.ndarray  # target_scale_
    data_min: np.ndarray
    data_max: np.ndarray
    names: list
    kinds: list
    y_ndim: int


def _targets_ndim(y):
    """Return 1 for a 1-D ``y`` (one task), else 2 (works on array-likes)."""
    if isinstance(y, pd.DataFrame):
        return 2
    return 1 if np.asarray(y).ndim == 1 else 2


def _has_binary_task(estimator):
    check_is_fitted(estimator)
    return "binary" in estimator.task_kinds_


def _check_X(estimator, X, reset):
    return validate_data(
        estimator, X, accept_sparse="csr", dtype=np.float64, reset=reset
    )


def _column_scale(X, row_weight=None):
    """Return the (weighted) standard deviation of every column (1 if constant)."""
    total = 0.0 if row_weight is None else float(row_weight.sum())
    a = row_weight / total if total > 0 else None  # all zero: the datafit says so
    if sp.issparse(X):
        if a is None:
            mean = np.asarray(X.mean(axis=0)).ravel()
            var = np.asarray(X.multiply(X).mean(axis=0)).ravel() - mean**2
        else:
            mean = np.asarray(X.T @ a).ravel()
            var = np.asarray(X.multiply(X).T @ a).ravel() - mean**2
    elif a is None:
        var = X.var(axis=0)
    else:
        mean = a @ X
        var = a @ (X - mean) ** 2
    std = np.sqrt(np.maximum(var, 0.0))
    return np.where(std > 1e-12 * max(1.0, float(np.max(std, initial=0.0))), std, 1.0)


def _column_range(X, row_weight=None):
    """Training minimum and maximum of every column, two arrays (n_features,).

    Over the rows of positive weight (a zero weight is an absent row).
    """
    if row_weight is not None:
        X = X[np.flatnonzero(row_weight > 0)]
    if X.shape[0] == 0:
        return np.full(X.shape[1], -np.inf), np.full(X.shape[1], np.inf)
    low, high = X.min(axis=0), X.max(axis=0)
    if sp.issparse(X):
        low, high = low.toarray().ravel(), high.toarray().ravel()
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


def _clipped(X, low, high):
    """``X`` with every column clipped to ``[low, high]`` (a copy).

    For a sparse ``X`` the stored values are clipped; implicit zeros stay.
    """
    if sp.issparse(X):
        X = X.tocsr(copy=True)
        cols = X.indices
        X.data = np.clip(X.data, low[cols], high[cols])
        return X
    return np.clip(X, low, high)


def _target_scale(Y, mask, kinds, sample_weight):
    r"""Each regression task's label scale: its standard deviation, shrunk.

    Empirical Bayes on the log scale (the James-Stein / Efron-Morris
    estimator): the log of task ``t``'s weighted label standard deviation
    ``l_t`` has sampling variance about ``v_t = 1 / (2 (n_t - 1))``, with
    ``n_t`` Kish's effective number of its labelled rows
    (``(sum w)^2 / sum w^2``: ``n_t`` rows for equal weights, whatever their
    scale). The spread of the true log scales is estimated as
    ``tau^2 = max(0, var(l) - mean(v))`` and each task is shrunk towards
    their precision-weighted mean ``m`` by ``B_t = v_t / (v_t + tau^2)``:
    ``log s_t = B_t m + (1 - B_t) l_t``.

    When ``tau`` is below ``_SAME_UNIT_LOG_SPREAD`` (0.5: the true scales
    spread by less than a factor 1.65) the tasks are taken to share one unit
    and every one gets ``exp(m)``: their differences in spread are signal
    strength, not units, and scaling them apart re-weights the tasks (on
    school-like data, 139 tasks in one unit, ``tau`` = 0.3, that cost the
    trace norm 0.018 R²; MovieLens users: 0.19; RF1's river flows, 0.5 to 37
    m³/s: 1.2 to 1.4). Tasks in different units keep their own scales, and a
    task with few rows is shrunk towards the others. A regression task with
    fewer than two labels or constant labels gets ``exp(m)``; binary tasks 1.
    """
    T = Y.shape[1]
    log_sd = np.full(T, np.nan)
    n_eff = np.zeros(T)
    regression = np.array([k == "regression" for k in kinds])
    for t in np.flatnonzero(regression):
        rows = mask[:, t]
        w = sample_weight[rows, t]
        if rows.sum() < 2 or w.sum() <= 0:
            continue
        y = Y[rows, t]
        mean = np.average(y, weights=w)
        sd = float(np.sqrt(np.average((y - mean) ** 2, weights=w)))
        n = float(w.sum() ** 2 / (w * w).sum())
        if n > 1.0 and sd > 1e-12 * max(1.0, float(np.max(np.abs(y)))):
            log_sd[t], n_eff[t] = np.log(sd), n
    defined = ~np.isnan(log_sd)
    scale = np.ones(T)
    if not defined.any():
        return scale
    lv = log_sd[defined]
    v = 1.0 / (2.0 * (n_eff[defined] - 1.0))
    tau2 = max(0.0, float(np.var(lv)) - float(np.mean(v))) if lv.size > 1 else 0.0
    precision = 1.0 / (v + tau2)
    m = float(precision @ lv / precision.sum())
    # one unit: the true scales spread by less than a factor exp(0.5) = 1.65
    same_unit = np.sqrt(tau2) < _SAME_UNIT_LOG_SPREAD
    B = np.ones_like(v) if same_unit else v / (v + tau2)
    scale[regression] = np.exp(m)
    scale[defined] = np.exp(B * m + (1.0 - B) * lv)
    return scale


def _scaled(X, scale):
    return X @ sp.diags(1.0 / scale) if sp.issparse(X) else X / scale


def _resolve_task_weights(task_weights, n_tasks):
    """Return the initial task weights (ones for None and "uncertainty")."""
    if task_weights is None or isinstance(task_weights, str):
        return np.ones(n_tasks)
    w = np.asarray(task_weights, dtype=np.float64)
    if w.shape != (n_tasks,):
        raise ValueError(
            f"task_weights must have one weight per task, shape ({n_tasks},); "
            f"got shape {w.shape}."
        )
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError("task_weights must be finite and strictly positive.")
    return w.copy()


def _uncertainty_weights(losses, squared):
    """``1 / (2 sigma_t^2)`` rescaled to mean one.

    ``sigma_t^2`` is the mean squared residual (``2 L_t``) of a regression task
    and the mean logistic loss (``L_t``) of a binary task.
    """
    sigma2 = np.where(squared, 2.0 * losses, losses)
    sigma2 = np.maximum(sigma2, 1e-12 * max(sigma2.max(), 1e-300))
    w = 1.0 / (2.0 * sigma2)
    return w * (w.size / w.sum())


def _zero_intercepts(datafit):
    """Optimal intercepts at ``W = 0``: weighted means (logits for binary tasks)."""
    T = datafit.n_tasks
    if not datafit.fit_intercept:
        return np.zeros(T)
    # the gradient in b at (0, 0) is -omega_t * (weighted mean of y_t) for squared
    # loss and omega_t * (1/2 - weighted mean) for logistic loss
    _, _, gb = datafit.value_and_gradient(
        np.zeros((datafit.n_features, T)), np.zeros(T)
    )
    g = gb / datafit.task_weights
    mean = np.where(datafit.squared, -g, 0.5 - g)
    b = mean.copy()
    binary = ~datafit.squared
    b[binary] = logit(np.clip(mean[binary], 1e-12, 1 - 1e-12))
    return b


class _TaskRelationshipModel(
    MultiTaskScoreMixin, MultiOutputMixin, RegressorMixin, BaseEstimator
):
    """Shared fit / predict of the task-relationship linear models."""

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "tasks": [None, list, tuple, dict, str],
        "fit_intercept": ["boolean"],
        "intercept_alpha": [Interval(Real, 0, None, closed="left")],
        "standardize": ["boolean"],
        "standardize_targets": ["boolean"],
        "clip": ["boolean"],
        "task_weights": [None, "array-like", StrOptions({"uncertainty"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "n_jobs": [None, Integral],
    }

    def _make_penalty(self, n_tasks):  # pragma: no cover - abstract
        raise NotImplementedError

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Numeric features.
        y : array-like or DataFrame of shape (n_samples, n_tasks) or (n_samples,)
            Labels ``Y``, NaN where a row has no label for a task.
        sample_weight : array-like of shape (n_samples,) or (n_samples, n_tasks), \
default=None
            Normalised to sum to ``n_t`` over the labelled rows of each task.

        Returns
        -------
        self : object
            The fitted model.
        """
        data = self._prepare(X, y, sample_weight)
        x = self._warm_start_x(data)
        problem, x, n_iter, history = self._solve_prepared(data, x)
        self._set_fitted(data, problem, x, n_iter, history)
        return self

    def _prepare(self, X, y, sample_weight):
        """Validate the data once: the datafit and what the attributes need.

        A path over ``alpha`` (the CV estimators) reuses it for every fit.
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )
        X = _check_X(self, X, reset=True)
        n_samples, n_features = X.shape
        Yf, mask, kinds, names = check_targets(
            y, self.tasks, n_samples=n_samples, allow_kinds=_ALLOWED_KINDS
        )
        n_tasks = Yf.shape[1]
        sw = check_task_sample_weight(sample_weight, n_samples, n_tasks)
        # one weight per row for the feature statistics: an integer weight k
        # on every task is the row repeated k times
        row_weight = None if sample_weight is None else sw.mean(axis=1)
        data_min, data_max = _column_range(X, row_weight)
        scale = np.ones(n_features)
        if self.standardize:
            scale = _column_scale(X, row_weight)
            X = _scaled(X, scale)
        y_scale = np.ones(n_tasks)
        if self.standardize_targets:
            y_scale = _target_scale(Yf, mask, kinds, sw)
            Yf = Yf / y_scale
        omega = _resolve_task_weights(self.task_weights, n_tasks)
        datafit = MultiTaskDatafit(
            X, Yf, mask, kinds, sw, omega, fit_intercept=self.fit_intercept
        )
        return _PreparedFit(
            datafit,
            omega,
            scale,
            y_scale,
            data_min,
            data_max,
            list(names),
            list(kinds),
            _targets_ndim(y),
        )

    def _problem(self, data):
        shared = self._is_shared(data.datafit.n_tasks)
        return MultiTaskProblem(
            data.datafit,
            self._make_penalty(data.datafit.n_tasks),
            shared=shared,
            intercept_alpha=getattr(self, "intercept_alpha", 0.0),
        )

    def _is_shared(self, n_tasks):
        """Whether the fit has a shared vector: ``shared`` with two tasks or more.

        With one task ``w0`` and ``V`` are the same vector and an unpenalised
        ``w0`` would leave the penalty nothing to do: the penalty applies to
        ``W`` itself.
        """
        return bool(getattr(self, "shared", False)) and n_tasks > 1

    def _start_x(self, data, problem):
        datafit = data.datafit
        d, T = datafit.n_features, datafit.n_tasks
        return problem.pack(np.zeros((d, T)), np.zeros(d), _zero_intercepts(datafit))

    def _warm_start_x(self, data):
        if not (self.warm_start and hasattr(self, "coef_")):
            return None
        datafit, scale = data.datafit, data.scale
        if self.coef_.shape != (datafit.n_tasks, datafit.n_features):
            return None
        w0 = self.shared_coef_ * scale
        W = self.coef_.T * scale[:, None] / data.y_scale
        b = datafit.centred_from(W, self.intercept_ / data.y_scale)
        return self._problem(data).pack(W - w0[:, None], w0, b)

    def _solve_prepared(self, data, x=None):
        """Solve at ``self.alpha`` from ``x`` (None: a cold start).

        Returns ``(problem, x, n_iter, history)``; warns when not converged.
        """
        datafit = data.datafit
        datafit.task_weights = data.omega.copy()
        problem = self._problem(data)
        if x is None:
            x = self._start_x(data, problem)
        n_iter, history, converged = 0, [], True
        with limit_threads(self.n_jobs):
            rounds = (
                _UNCERTAINTY_MAX_ROUNDS if isinstance(self.task_weights, str) else 1
            )
            for round_ in range(rounds):
                x, it, hist, conv = solve(
                    problem,
                    x,
                    max_iter=self.max_iter,
                    tol=self.tol,
                    verbose=self.verbose,
                )
                n_iter += it
                history.extend(hist if not history else hist[1:])
                converged = conv
                if round_ == rounds - 1:
                    break
                W, b = problem.coef(x)
                new = _uncertainty_weights(datafit.task_losses(W, b), datafit.squared)
                change = np.max(np.abs(new - datafit.task_weights)) / new.max()
                if change <= _UNCERTAINTY_RTOL:
                    break  # task_weights_ are the weights of the final solve
                datafit.task_weights = new
        if not converged:
            warn_not_converged(self.max_iter, self.tol)
        return problem, x, n_iter, history

    @staticmethod
    def _unscaled(data, problem, x):
        """``coef_ (T, d)``, ``intercept_ (T,)`` and ``shared_coef_`` of ``x``."""
        V, w0, b = problem.unpack(x)
        intercept = data.datafit.intercepts_from(V + w0[:, None], b) * data.y_scale
        coef = ((V + w0[:, None]) / data.scale[:, None] * data.y_scale).T.copy()
        return coef, intercept, w0 / data.scale

    def _set_fitted(self, data, problem, x, n_iter, history):
        self.coef_, self.intercept_, self.shared_coef_ = self._unscaled(
            data, problem, x
        )
        self.feature_scale_ = data.scale
        self.target_scale_ = data.y_scale
        self.data_min_, self.data_max_ = data.data_min, data.data_max
        self.n_iter_ = int(n_iter)
        self.objective_ = np.asarray(history)
        self.task_weights_ = data.datafit.task_weights.copy()
        self.task_names_ = list(data.names)
        self.task_kinds_ = list(data.kinds)
        self._y_ndim = data.y_ndim
        V = problem.unpack(x)[0]
        s = np.linalg.svd(V, compute_uv=False) if V.size else np.zeros(0)
        self.singular_values_ = s
        self.rank_ = int(np.sum(s > RANK_RTOL * s[0])) if s.size and s[0] > 0 else 0
        self.task_similarity_ = _cosine_similarity(self.coef_)
        self._set_extra_attributes(problem.penalty, V)

    def _set_extra_attributes(self, penalty, V):
        pass

    def _linear(self, X):
        check_is_fitted(self)
        X = _check_X(self, X, reset=False)
        if self.clip and hasattr(self, "data_min_"):  # files saved before clip:
            X = _clipped(X, self.data_min_, self.data_max_)  # no range, no clip
        Z = np.asarray(X @ self.coef_.T) + self.intercept_
        return Z.ravel() if self._y_ndim == 1 else Z

    @available_if(_has_binary_task)
    def decision_function(self, X):
        """Linear scores ``X W + b`` for every task (logits of binary tasks).

        Defined when the model has at least one binary task (for regression
        tasks it equals ``predict``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples, n_tasks) or (n_samples,)
            1-D when the model was fitted on a 1-D ``y``.
        """
        return self._linear(X)

    def predict(self, X):
        """Predict ``E[y_t | x]``: linear for regression, probability for binary.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        Y_pred : ndarray of shape (n_samples, n_tasks) or (n_samples,)
            1-D when the model was fitted on a 1-D ``y``.
        """
        return _mean_from_linear(self._linear(X), self.task_kinds_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.target_tags.required = True
        return tags


def _mean_from_linear(Z, kinds):
    """Probabilities (``expit``) in the columns of binary tasks, ``Z`` elsewhere."""
    binary = np.array([k == "binary" for k in kinds])
    if not binary.any():
        return Z
    Z = np.array(Z, dtype=np.float64)
    if Z.ndim == 1:
        return expit(Z)
    Z[:, binary] = expit(Z[:, binary])
    return Z


def _fill_doc(cls):
    """Insert the shared docstring parts into an estimator's docstring."""
    parts = {
        "<LOSSES>": _LOSSES_DOC,
        "<PARAMS>": _COMMON_PARAMS_DOC,
        "<ATTRS>": _COMMON_ATTRS_DOC,
        "<NOTES>": _NOTES_DOC,
    }
    doc = cls.__doc__
    for marker, text in parts.items():
        doc = doc.replace(marker, text)
    cls.__doc__ = doc
    return cls


def _cosine_similarity(coef):
    norms = np.linalg.norm(coef, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    unit = coef / safe[:, None]
    S = unit @ unit.T
    np.fill_diagonal(S, 1.0)
    return S


_COMMON_PARAMS_DOC = r"""tasks : None, list of str or dict, default=None
        Task kinds, ``"regression"`` (squared loss) or ``"binary"`` (logistic
        loss); None infers them from the labels ({0, 1} gives binary).
    fit_intercept : bool, default=True
        Fit an intercept per task.
    intercept_alpha : float, default=0.0
        Partial pooling of the intercepts, in rows of prior weight: adds
        ``sum_t intercept_alpha / (2 n_t) * (b_t - mean(b))^2`` with the mean
        over the tasks of the same kind (regression levels and binary logits
        are pooled apart) and ``n_t`` the task's effective number of labelled
        rows (in the standardised labels' units). An intercept-only regression
        task is then shrunk towards the common level by ``intercept_alpha /
        (n_t + intercept_alpha)``: a task with 5 rows borrows much, one with
        5,000 almost nothing. 0: unpenalised intercepts.
    standardize : bool, default=True
        Fit on every feature divided by its (sample-weighted) standard deviation
        and un-scale the coefficients after (``feature_scale_``): predictions
        do not depend on the features' units, the penalty weighs every feature
        alike, and the solver is well conditioned (on school-like data with
        features from 0/1 to 0-100, a cold ``TraceNormMultiTask(1.0)``
        converged in 130 iterations / 55 ms instead of not in 1,000).
    standardize_targets : bool, default=True
        Fit every regression task on its labels divided by a scale
        (``target_scale_``; as glmnet's ``standardize.response``) and scale
        its coefficients and intercept back, so tasks measured in different
        units (river flows with standard deviations of 0.5 and 37) share ``W``
        on equal terms. The scale is each task's label standard deviation,
        shrunk on the log scale by empirical Bayes; tasks whose spreads differ
        by less than a factor of about 1.65 are taken to be in one unit and
        share one scale (see ``target_scale_``). Binary tasks are not scaled.
        Labels in other common units give predictions in those units, and one
        task's units do not change the others' predictions. With ``clip``, on
        RF1 it took the CV models' mean test R² from 0.274 to 0.339
        (mean-regularised) and from -0.754 to 0.280 (trace norm); on
        MovieLens users as tasks (one rating scale) and school-like data it
        changes nothing (``benchmarks/bench_linear_cv.py``).
    clip : bool, default=True
        At prediction, clip every feature to its training range
        (``data_min_``, ``data_max_``; scikit-learn's ``MinMaxScaler(clip=True)``),
        so a linear model never extrapolates beyond what it saw (sensor
        glitches, a future year), as the FM does. On RF1, where 89 % of the
        test rows have a feature outside the training range, it took the CV
        models' test R² from 0.104 to 0.339 (mean-regularised) and from
        -0.241 to 0.280 (trace norm; ``benchmarks/bench_linear_cv.py``). For
        a sparse ``X`` only the stored values are clipped. False: plain
        ``X W + b``.
    task_weights : None, array-like of shape (n_tasks,) or "uncertainty", default=None
        The weights :math:`\omega_t` of the tasks' losses. None gives equal
        weights. ``"uncertainty"`` re-estimates :math:`\omega_t \propto
        1 / (2 \sigma_t^2)` from the residuals (:math:`\sigma_t^2` is the mean
        squared residual of a regression task, the mean logistic loss of a
        binary task), rescaled to mean one so ``alpha`` keeps its scale,
        alternating with the fit of ``W`` (at most 20 rounds, until the weights
        change by less than 0.1 percent).
    max_iter : int, default=1000
        Maximum number of FISTA iterations (per round of uncertainty weighting).
    tol : float, default=1e-4
        Stopping tolerance (see Notes).
    warm_start : bool, default=False
        Start from the previous solution when refitting data of the same shape.
    verbose : int, default=0
        Print the objective and the stopping criterion every 10 iterations.
    n_jobs : int, default=None
        Threads for BLAS (None means 1, -1 all cores)."""

_COMMON_ATTRS_DOC = r"""coef_ : ndarray of shape (n_tasks, n_features)
        Task weight vectors (rows), ``W^T``.
    intercept_ : ndarray of shape (n_tasks,)
    n_iter_ : int
        Number of FISTA iterations run (summed over uncertainty rounds).
    objective_ : ndarray of shape (n_iter_ + 1,)
        Objective after each iteration (index 0: at the starting point).
    singular_values_ : ndarray of shape (min(n_features, n_tasks),)
        Singular values of the penalised weight matrix, in decreasing order (a
        plain array, ready for ``plt.plot``).
    rank_ : int
        Number of singular values above ``1e-6 * singular_values_[0]``.
    task_similarity_ : ndarray of shape (n_tasks, n_tasks)
        Cosine similarity of the rows of ``coef_`` (0 where a task's weight
        vector is zero; ones on the diagonal), ready for ``plt.imshow``.
    task_weights_ : ndarray of shape (n_tasks,)
        The task weights :math:`\omega_t` used at the end of the fit (of the
        losses in ``target_scale_`` units).
    feature_scale_ : ndarray of shape (n_features,)
        The features' standard deviations (ones with ``standardize=False``).
    target_scale_ : ndarray of shape (n_tasks,)
        The scale each regression task's labels were divided by (ones for
        binary tasks and with ``standardize_targets=False``). With ``l_t`` the
        log of task ``t``'s (weighted) label standard deviation and ``n_t``
        Kish's effective number of its labelled rows, ``v_t = 1/(2(n_t-1))``
        (the sampling variance of ``l_t``), ``tau^2 = max(0, var(l) -
        mean(v))`` and ``m`` the ``1/(v_t + tau^2)``-weighted mean of ``l``:
        ``exp(m)`` for every task when ``tau < 0.5`` (one unit), else
        ``exp(B_t m + (1 - B_t) l_t)`` with ``B_t = v_t / (v_t + tau^2)``
        (Efron-Morris shrinkage). Tasks with fewer than two labels or
        constant labels get ``exp(m)``.
    data_min_, data_max_ : ndarray of shape (n_features,)
        Training range of every feature (``clip``).
    task_names_ : list of str
    task_kinds_ : list of str
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string column names."""

_LOSSES_DOC = r"""over the labelled rows :math:`I_t` of each task (``NaN`` in ``Y``
    means no label), :math:`n_t = |I_t|`, with sample weights :math:`s_{it}`
    normalised to sum to :math:`n_t`:

    - regression task: :math:`L_t = \frac{1}{2 n_t} \sum_{i \in I_t}
      s_{it} (y_{it} - x_i^\top w_t - b_t)^2` (scikit-learn's
      ``MultiTaskLasso`` scaling);
    - binary task: :math:`L_t = \frac{1}{n_t} \sum_{i \in I_t} s_{it}
      \log(1 + \exp(-\sigma_{it} (x_i^\top w_t + b_t)))` with
      :math:`\sigma_{it} = 2 y_{it} - 1 \in \{-1, +1\}`.

    ``W`` is n_features x n_tasks (``coef_`` is its transpose), ``b`` is not
    penalised."""

_NOTES_DOC = r"""The solver is FISTA with backtracking on the Lipschitz constant and
    adaptive restart. For squared loss on every task, no shared component and
    ``alpha > 0``, it stops on a certified duality gap, ``gap <= tol * P0``
    with ``P0`` the objective at ``W = 0`` (checked every 10 iterations);
    otherwise when the gradient-mapping norm is at most ``tol`` times the
    gradient norm at zero and the relative objective change is at most
    ``tol``. For squared-loss tasks ``X^T diag(a_t) X`` is cached per group of
    tasks sharing their rows, so an iteration costs ``O(d^2 T)`` and nothing
    in ``n``; other tasks cost ``O(n_labels d)`` (``O(nnz)`` for sparse
    ``X``).

    To choose ``alpha``, use the path (``trace_norm_path``) or
    ``GridSearchCV`` (``score`` is the masked multi-task score)::

        from sklearn.model_selection import GridSearchCV
        search = GridSearchCV(TraceNormMultiTask(), {"alpha": alphas}, cv=5)
        search.fit(X, Y)"""


class _SharedComponentModel(_TaskRelationshipModel):
    """Parameters of the models that take a shared component (``shared=True``)."""

    _parameter_constraints: dict = {
        **_TaskRelationshipModel._parameter_constraints,
        "shared": ["boolean"],
    }

    def __init__(
        self,
        alpha=1.0,
        *,
        shared=False,
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
        self.alpha = alpha
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


@_fill_doc
class TraceNormMultiTask(_SharedComponentModel):
    r"""Multi-task linear model with a trace-norm penalty (tasks share a subspace).

    Minimises

    .. math::

        \min_{W, b}\ \sum_t \omega_t L_t(w_t, b_t) + \alpha \|V\|_*

    <LOSSES>

    where :math:`\|V\|_*` is the trace norm (sum of singular values) and
    ``W = V`` (``shared=False``) or ``W = w_0 1^T + V`` with an unpenalised
    shared vector :math:`w_0` (``shared=True``): the tasks' deviations from a
    common model then lie in a low-dimensional subspace. Regression and binary
    tasks can be mixed; rows may be labelled for some tasks only.

    Parameters
    ----------
    alpha : float, default=1.0
        Strength of the trace norm. ``alpha = 0`` gives independent per-task
        least squares / logistic regressions.
    shared : bool, default=False
        Add an unpenalised shared weight vector ``shared_coef_`` (ignored
        with one task, where it would leave nothing to penalise).
    <PARAMS>

    Attributes
    ----------
    <ATTRS>
    shared_coef_ : ndarray of shape (n_features,)
        The shared vector :math:`w_0` (zeros when ``shared=False``);
        ``singular_values_`` and ``rank_`` are those of ``V = W - w_0 1^T``.
        In the units of the standardised labels: task ``t``'s coefficients
        are ``target_scale_[t] * (shared_coef_ + v_t)`` (with
        ``standardize_targets=False``, the labels' own units).

    See Also
    --------
    L21MultiTask : Shared feature selection (L2,1 penalty).
    ClusteredMultiTask : Tasks grouped in clusters.
    trace_norm_path : Solutions along a grid of ``alpha``.

    Notes
    -----
    <NOTES>

    References
    ----------
    S. Ji and J. Ye, "An accelerated gradient method for trace norm
    minimization", ICML 2009.

    A. Beck and M. Teboulle, "A fast iterative shrinkage-thresholding
    algorithm for linear inverse problems", SIAM J. Imaging Sci., 2009.

    Examples
    --------
    >>> import numpy as np
    >>> from mtlclassic.linear_model import TraceNormMultiTask
    >>> rng = np.random.RandomState(0)
    >>> X = rng.standard_normal((200, 6))
    >>> W = np.outer(rng.standard_normal(6), rng.standard_normal(4))  # rank 1
    >>> Y = X @ W + 0.1 * rng.standard_normal((200, 4))
    >>> Y[rng.rand(200, 4) < 0.3] = np.nan  # missing labels
    >>> model = TraceNormMultiTask(alpha=0.05).fit(X, Y)
    >>> model.coef_.shape, model.rank_
    ((4, 6), 1)
    """

    def _make_penalty(self, n_tasks):
        return TraceNorm(self.alpha)


@_fill_doc
class L21MultiTask(_SharedComponentModel):
    r"""Multi-task linear model with an L2,1 penalty (tasks share features).

    Minimises

    .. math::

        \min_{W, b}\ \sum_t \omega_t L_t(w_t, b_t) + \alpha \sum_j \|V_{j,:}\|_2

    <LOSSES>

    The penalty is the sum over features of the Euclidean norm of that
    feature's weights across tasks (features are kept or dropped for all tasks
    together), with ``W = V`` or, with ``shared=True``, ``W = w_0 1^T + V``
    and :math:`w_0` unpenalised. On complete ``Y`` with squared loss this is
    scikit-learn's ``MultiTaskLasso`` objective, with the same ``alpha``.

    Parameters
    ----------
    alpha : float, default=1.0
        Strength of the L2,1 penalty.
    shared : bool, default=False
        Add an unpenalised shared weight vector ``shared_coef_`` (ignored
        with one task, where it would leave nothing to penalise).
    <PARAMS>

    Attributes
    ----------
    <ATTRS>
    shared_coef_ : ndarray of shape (n_features,)
        The shared vector :math:`w_0` (zeros when ``shared=False``). In the units
        of the standardised labels: task ``t``'s coefficients are
        ``target_scale_[t] * (shared_coef_ + v_t)`` (with
        ``standardize_targets=False``, the labels' own units).

    See Also
    --------
    TraceNormMultiTask : Low-rank task weights.
    sklearn.linear_model.MultiTaskLasso : Same penalty, complete ``Y``,
        squared loss only.

    Notes
    -----
    <NOTES>

    References
    ----------
    G. Obozinski, B. Taskar and M. Jordan, "Joint covariate selection and
    joint subspace selection for multiple classification problems",
    Statistics and Computing, 2010.

    Examples
    --------
    >>> import numpy as np
    >>> from mtlclassic.linear_model import L21MultiTask
    >>> rng = np.random.RandomState(0)
    >>> X = rng.standard_normal((200, 8))
    >>> W = np.zeros((8, 3))
    >>> W[:2] = rng.standard_normal((2, 3))  # two relevant features
    >>> Y = X @ W + 0.1 * rng.standard_normal((200, 3))
    >>> model = L21MultiTask(alpha=0.05).fit(X, Y)
    >>> np.flatnonzero(np.abs(model.coef_).sum(axis=0)).tolist()
    [0, 1]
    """

    def _make_penalty(self, n_tasks):
        return L21Norm(self.alpha)


@_fill_doc
class MeanRegularizedMultiTask(_TaskRelationshipModel):
    r"""Mean-regularised multi-task learning (Evgeniou & Pontil, KDD 2004).

    Minimises

    .. math::

        \min_{w_0, V, b}\ \sum_t \omega_t L_t(w_0 + v_t, b_t)
        + \alpha \|V\|_F^2

    <LOSSES>

    Every task's weights are a common vector :math:`w_0` (unpenalised) plus a
    deviation :math:`v_t` shrunk towards zero: ``alpha -> 0`` gives independent
    per-task models, ``alpha -> inf`` one pooled model with per-task
    intercepts. It is the strong, simple baseline of task-relationship
    learning: the trace norm, L2,1 and clustered penalties must beat it.
    Regression and binary tasks can be mixed; rows may be labelled for some
    tasks only. The objective is smooth, solved by the same accelerated
    gradient method as the other models.

    With ``task_graph`` (a symmetric, non-negative task adjacency ``A``) the
    penalty is instead :math:`\alpha \sum_{s<t} A_{st} \|w_s - w_t\|^2` (graph
    regularisation, MALSAR's SRMTL): only linked tasks are pulled together.

    Parameters
    ----------
    alpha : float, default=1.0
        Strength of the pull towards the common vector (per unit of each
        task's mean loss).
    task_graph : array-like of shape (n_tasks, n_tasks) or None, default=None
        Task adjacency for the graph penalty; None: every task pulled towards
        the common vector (the mean-regularised penalty).
    <PARAMS>

    Attributes
    ----------
    <ATTRS>
    shared_coef_ : ndarray of shape (n_features,)
        The common vector :math:`w_0` (zeros with ``task_graph``). In the units
        of the standardised labels: task ``t``'s coefficients are
        ``target_scale_[t] * (shared_coef_ + v_t)`` (with
        ``standardize_targets=False``, the labels' own units).

    See Also
    --------
    TraceNormMultiTask : Deviations in a shared low-dimensional subspace.
    ClusteredMultiTask : Tasks grouped in clusters.

    Notes
    -----
    <NOTES>

    References
    ----------
    T. Evgeniou and M. Pontil, "Regularized multi-task learning", KDD 2004.

    Examples
    --------
    >>> import numpy as np
    >>> from mtlclassic.linear_model import MeanRegularizedMultiTask
    >>> rng = np.random.RandomState(0)
    >>> X = rng.standard_normal((300, 5))
    >>> w0 = rng.standard_normal(5)
    >>> W = w0[:, None] + 0.1 * rng.standard_normal((5, 6))  # similar tasks
    >>> Y = X @ W + 0.5 * rng.standard_normal((300, 6))
    >>> # labels in one unit: keep it, so shared_coef_ is in that unit
    >>> model = MeanRegularizedMultiTask(alpha=1.0, standardize_targets=False)
    >>> bool(np.abs(model.fit(X, Y).shared_coef_ - w0).max() < 0.15)
    True
    """

    @property
    def shared(self):
        """``W = w0 1^T + V`` without a graph; a graph penalty needs no w0."""
        return self.task_graph is None

    _parameter_constraints: dict = {
        **_TaskRelationshipModel._parameter_constraints,
        "task_graph": [None, "array-like"],
    }

    def __init__(
        self,
        alpha=1.0,
        *,
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
        self.alpha = alpha
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

    def _make_penalty(self, n_tasks):
        if self.task_graph is None:
            return SquaredFrobenius(self.alpha)
        A = np.asarray(self.task_graph, dtype=np.float64)
        if A.shape != (n_tasks, n_tasks):
            raise ValueError(
                f"task_graph must be of shape (n_tasks, n_tasks) = ({n_tasks}, "
                f"{n_tasks}); got {A.shape}."
            )
        if not np.allclose(A, A.T) or (A < 0).any() or not np.isfinite(A).all():
            raise ValueError(
                "task_graph must be a symmetric adjacency with finite, "
                "non-negative weights."
            )
        return GraphLaplacian(self.alpha, A)


@_fill_doc
class ClusteredMultiTask(_TaskRelationshipModel):
    r"""Clustered multi-task learning (convex relaxation, as MALSAR's CMTL).

    Minimises

    .. math::

        \min_{W, b}\ \sum_t \omega_t L_t(w_t, b_t) + \alpha \eta (1 + \eta)
        \min_{M \in \mathcal{M}_k} \operatorname{tr}(W (\eta I + M)^{-1} W^\top)

    <LOSSES>

    with :math:`\eta = \beta / \alpha` and
    :math:`\mathcal{M}_k = \{M : \operatorname{tr} M = k,\ 0 \preceq M
    \preceq I\}` (``M`` is n_tasks x n_tasks, ``k = n_clusters``). For a
    cluster-indicator ``M`` the penalty is ``(alpha + beta)`` times the
    within-cluster spread of the task vectors plus ``beta`` times the squared
    norm of the cluster means; the convex set :math:`\mathcal{M}_k` relaxes
    the clusterings (Jacob, Bach & Vert 2008; Zhou, Chen & Ye 2011). The
    minimum over ``M`` is solved in closed form from the singular values of
    ``W``, so the penalty is smooth and the problem is solved by FISTA on
    ``(W, b)``. ``alpha = 0`` gives per-task ridge: ``beta ||W||_F^2``.

    Parameters
    ----------
    alpha : float, default=1.0
        Strength of the clustering (:math:`\rho_1` in MALSAR).
    beta : float, default=0.1
        Ridge strength on the cluster centres (:math:`\rho_2` in MALSAR), > 0.
        In the units of the standardised features and labels (the defaults),
        0.1 was best or within 0.02 of the best of {0.001, 0.01, 0.1, 1} on
        four generated task structures, MovieLens users as tasks and RF1
        (``benchmarks/bench_linear_cv.py``); 1 lost everywhere.
    n_clusters : int, default=2
        Number of task clusters ``k``, at most the number of tasks.
    <PARAMS>

    Attributes
    ----------
    <ATTRS>
    task_relationship_ : ndarray of shape (n_tasks, n_tasks)
        The optimal ``M`` at the solution (about ``1/|c|`` between tasks of a
        cluster ``c``, 0 across clusters).
    task_clusters_ : ndarray of shape (n_tasks,)
        Cluster label of every task: Ward agglomerative clustering
        (deterministic) of the rows of the top ``n_clusters`` eigenvectors of
        ``task_relationship_`` (of the rows of ``coef_`` when ``alpha = 0``).

    See Also
    --------
    TraceNormMultiTask : Low-rank task weights.

    Notes
    -----
    <NOTES>

    References
    ----------
    L. Jacob, F. Bach and J.-P. Vert, "Clustered multi-task learning: a
    convex formulation", NeurIPS 2008.

    J. Zhou, J. Chen and J. Ye, "Clustered multi-task learning via
    alternating structure optimization", NeurIPS 2011 (MALSAR's CMTL).

    Examples
    --------
    >>> import numpy as np
    >>> from mtlclassic.linear_model import ClusteredMultiTask
    >>> rng = np.random.RandomState(0)
    >>> X = rng.standard_normal((300, 5))
    >>> centres = rng.standard_normal((5, 2)) * 3
    >>> W = centres[:, [0, 0, 0, 1, 1, 1]]  # two clusters of three tasks
    >>> Y = X @ W + 0.1 * rng.standard_normal((300, 6))
    >>> model = ClusteredMultiTask(1.0, beta=0.01, n_clusters=2).fit(X, Y)
    >>> model.task_clusters_.tolist() in ([0, 0, 0, 1, 1, 1], [1, 1, 1, 0, 0, 0])
    True
    """

    _parameter_constraints: dict = {
        **_TaskRelationshipModel._parameter_constraints,
        "beta": [Interval(Real, 0, None, closed="neither")],
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        alpha=1.0,
        *,
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
        self.alpha = alpha
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

    def _make_penalty(self, n_tasks):
        if self.n_clusters > n_tasks:
            raise ValueError(
                f"n_clusters={self.n_clusters} must be at most the number of tasks "
                f"({n_tasks})."
            )
        return ClusteredNorm(self.alpha, self.beta, self.n_clusters, n_tasks)

    def _set_extra_attributes(self, penalty, V):
        from sklearn.cluster import AgglomerativeClustering

        M = penalty.relationship(V)
        self.task_relationship_ = M
        k = self.n_clusters
        T = M.shape[0]
        if k == 1:
            self.task_clusters_ = np.zeros(T, dtype=np.intp)
            return
        if self.alpha == 0.0:
            points = self.coef_
        else:
            _, vecs = np.linalg.eigh(M)
            points = vecs[:, -k:]
        ward = AgglomerativeClustering(n_clusters=k, linkage="ward").fit(points)
        self.task_clusters_ = ward.labels_.astype(np.intp)


def trace_norm_path(
    X,
    Y,
    alphas=None,
    *,
    n_alphas=20,
    eps=1e-3,
    tasks=None,
    sample_weight=None,
    shared=False,
    fit_intercept=True,
    max_iter=1000,
    tol=1e-4,
    n_jobs=None,
):
    """Trace-norm multi-task solutions along a decreasing grid of ``alpha``.

    Solves the objective of :class:`TraceNormMultiTask` for every ``alpha``,
    from the largest down, each warm-started from the previous solution (as
    scikit-learn's ``lasso_path`` does). The default grid is ``n_alphas``
    values log-spaced from ``alpha_max`` down to ``eps * alpha_max``, where
    ``alpha_max`` is the smallest ``alpha`` with ``V = 0``: the spectral norm
    of the gradient in ``V`` at ``V = 0`` with optimal intercepts (and
    optimal shared vector when ``shared=True``), times ``1 + 1e-9`` so that
    rounding errors leave ``V`` exactly zero there.

    Like ``lasso_path``, it solves the objective as written, on ``X`` and
    ``Y`` as given: none of the estimator's ``standardize``,
    ``standardize_targets`` or ``clip`` (scale ``X`` first when its columns
    are in different units; :class:`TraceNormMultiTaskCV` runs the scaled
    path and chooses ``alpha``).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    Y : array-like or DataFrame of shape (n_samples, n_tasks)
        NaN where a row has no label for a task.
    alphas : array-like, default=None
        Values of ``alpha`` (sorted in decreasing order before solving).
    n_alphas : int, default=20
    eps : float, default=1e-3
    tasks, sample_weight, shared, fit_intercept, max_iter, tol, n_jobs
        As in :class:`TraceNormMultiTask`.

    Returns
    -------
    alphas : ndarray of shape (n_alphas,)
        Decreasing.
    coefs : ndarray of shape (n_alphas, n_tasks, n_features)
        ``coef_`` at every ``alpha``.
    intercepts : ndarray of shape (n_alphas, n_tasks)

    Examples
    --------
    >>> import numpy as np
    >>> from mtlclassic.linear_model import trace_norm_path
    >>> rng = np.random.RandomState(0)
    >>> X = rng.standard_normal((100, 5))
    >>> Y = X @ rng.standard_normal((5, 3)) + rng.standard_normal((100, 3))
    >>> alphas, coefs, intercepts = trace_norm_path(X, Y, n_alphas=5)
    >>> coefs.shape, bool(np.all(coefs[0] == 0))
    ((5, 3, 5), True)
    """
    model = TraceNormMultiTask(tasks=tasks, shared=shared, fit_intercept=fit_intercept)
    X = _check_X(model, X, reset=True)
    n_samples, n_features = X.shape
    Yf, mask, kinds, _ = check_targets(
        Y, tasks, n_samples=n_samples, allow_kinds=_ALLOWED_KINDS
    )
    n_tasks = Yf.shape[1]
    sw = check_task_sample_weight(sample_weight, n_samples, n_tasks)
    datafit = MultiTaskDatafit(
        X, Yf, mask, kinds, sw, np.ones(n_tasks), fit_intercept=fit_intercept
    )
    with limit_threads(n_jobs):
        x = _pooled_start(datafit, shared, max_iter, tol)
        if alphas is None:
            problem = MultiTaskProblem(datafit, TraceNorm(1.0), shared=shared)
            _, g = problem.smooth_value_and_gradient(x)
            alpha_max = TraceNorm.dual_norm(
                g[: n_features * n_tasks].reshape(n_features, n_tasks)
            )
            # 1 + 1e-9: rounding must not leave a 1e-16 singular value at alpha_max
            alpha_max *= 1.0 + 1e-9
            alphas = alpha_max * np.logspace(0, np.log10(eps), n_alphas)
        alphas = np.sort(np.asarray(alphas, dtype=np.float64))[::-1]
        if np.any(alphas < 0):
            raise ValueError("alphas must be non-negative.")
        coefs = np.empty((alphas.size, n_tasks, n_features))
        intercepts = np.empty((alphas.size, n_tasks))
        for i, alpha in enumerate(alphas):
            problem = MultiTaskProblem(datafit, TraceNorm(alpha), shared=shared)
            x, _, _, converged = solve(problem, x, max_iter=max_iter, tol=tol)
            if not converged:
                warn_not_converged(max_iter, tol)
            W, b = problem.coef(x)
            coefs[i] = W.T
            intercepts[i] = datafit.intercepts_from(W, b)
    return alphas, coefs, intercepts


def _pooled_start(datafit, shared, max_iter, tol):
    """Solution with ``V = 0``: intercepts (and the shared vector if shared)."""
    d, T = datafit.n_features, datafit.n_tasks
    problem = MultiTaskProblem(datafit, ZeroPenalty(), shared=shared)
    x = problem.pack(np.zeros((d, T)), np.zeros(d), _zero_intercepts(datafit))
    if shared or not np.all(datafit.squared):
        x, _, _, _ = solve(problem, x, max_iter=max_iter, tol=min(tol, 1e-8))
    return x
