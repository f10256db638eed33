"""The shared fit / predict of the task-relationship linear models.

:class:`_TaskRelationshipModel` validates the data once (``_prepare``), builds
a :class:`._solvers.MultiTaskProblem` from a datafit (:mod:`._datafits`) and
the model's penalty (:mod:`._penalties`), solves it by FISTA
(``_solve_prepared``) and stores the fitted attributes (``_set_fitted``); the
CV forms (:mod:`._cv`) reuse the prepared data along a path of ``alpha``.
The estimators themselves are in :mod:`._estimators`.
"""

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd
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
from .._targets import check_targets, check_task_sample_weight, refuse_reordered_rows
from .._task_weights import check_task_weights, mgda_weights, uncertainty_weights
from ..metrics._masked import MultiTaskScoreMixin
from ._datafits import MultiTaskDatafit
from ._scaling import (
    _clipped,
    _column_range,
    _column_scale,
    _scaled,
    _target_scale,
    check_magnitudes,
)
from ._solvers import MultiTaskProblem, solve, warn_not_converged

#: Singular values below ``RANK_RTOL * singular_values_[0]`` do not count in ``rank_``.
RANK_RTOL = 1e-6

_ALLOWED_KINDS = ("regression", "binary")
_UNCERTAINTY_MAX_ROUNDS = 20
_UNCERTAINTY_RTOL = 1e-3


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


def _mgda_weights(datafit, W, b, shared):
    """MGDA's weights from the tasks' unweighted gradients at ``(W, b)``.

    Task ``t``'s gradient is non-zero in its own coefficients and intercept
    (and, with a shared vector ``w0``, in ``w0``, where it equals its
    coefficients' part), so the Gram matrix is diagonal up to the ``w0``
    inner products.
    """
    weights = datafit.task_weights
    datafit.task_weights = np.ones_like(weights)  # each task's own gradient
    try:
        _, gW, gb = datafit.value_and_gradient(W, b)
    finally:
        datafit.task_weights = weights
    G = np.diag(np.sum(gW * gW, axis=0) + gb * gb)
    if shared:
        G = G + gW.T @ gW
    return mgda_weights(G)


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
        "task_weights": [None, "array-like", dict, StrOptions({"uncertainty", "mgda"})],
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
            A DataFrame with named columns is matched to the tasks by name.

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
        refuse_reordered_rows(X, y=y, sample_weight=sample_weight)
        X = _check_X(self, X, reset=True)
        n_samples, n_features = X.shape
        Yf, mask, kinds, names = check_targets(
            y, self.tasks, n_samples=n_samples, allow_kinds=_ALLOWED_KINDS
        )
        n_tasks = Yf.shape[1]
        sw = check_task_sample_weight(
            sample_weight, n_samples, n_tasks, task_names=names
        )
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
        # every row: the solver's products read rows of weight 0 too
        check_magnitudes(X, Yf, mask, getattr(self, "feature_names_in_", None), names,
                         (self.standardize, self.standardize_targets))  # fmt: skip
        omega, _ = check_task_weights(self.task_weights, list(names))
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
                if self.task_weights == "mgda":
                    new = _mgda_weights(datafit, W, b, problem.shared)
                else:
                    new = uncertainty_weights(
                        datafit.task_losses(W, b), datafit.squared
                    )
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
    task_weights : None, array-like of shape (n_tasks,), dict, "uncertainty" or \
"mgda", default=None
        The weights :math:`\omega_t` of the tasks' losses. None gives equal
        weights; an array or a dict ``{task: weight}`` (tasks left out weigh
        1) fixed ones. ``"uncertainty"`` (Kendall et al., 2018) re-estimates
        :math:`\omega_t \propto 1 / (2 \sigma_t^2)` from the residuals
        (:math:`\sigma_t^2` is the mean squared residual of a regression task,
        the mean logistic loss of a binary task); ``"mgda"`` (Sener & Koltun,
        2018) re-estimates them as the min-norm convex combination of the
        tasks' loss gradients in the coefficients (they overlap only through
        a shared vector ``w0``; solved exactly, see
        :func:`mtlclassic._task_weights.min_norm_weights`; a task it leaves
        out keeps a weight of 1e-8). Both are rescaled
        to mean one so ``alpha`` keeps its scale and alternate with the fit
        of ``W`` (at most 20 rounds, until the weights change by less than
        0.1 percent).
    max_iter : int, default=1000
        Maximum number of FISTA iterations (per round of dynamic task weights).
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
        Number of FISTA iterations run (summed over task-weight rounds).
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
