"""Task-relationship linear models: trace norm, L2,1, mean-regularised, clustered.

The estimators only choose a penalty (:mod:`._penalties`); the fit, the
scaling and the FISTA solve are shared (:mod:`._base`).
"""

from numbers import Integral, Real

import numpy as np
from sklearn.cluster import AgglomerativeClustering

from .._compat import Interval, limit_threads
from .._targets import check_targets, check_task_sample_weight
from ._base import (
    _ALLOWED_KINDS,
    _check_X,
    _fill_doc,
    _SharedComponentModel,
    _TaskRelationshipModel,
    _zero_intercepts,
)
from ._datafits import MultiTaskDatafit
from ._penalties import (
    ClusteredNorm,
    GraphLaplacian,
    L21Norm,
    SquaredFrobenius,
    TraceNorm,
)
from ._solvers import MultiTaskProblem, ZeroPenalty, solve, warn_not_converged

__all__ = [
    "ClusteredMultiTask",
    "L21MultiTask",
    "MeanRegularizedMultiTask",
    "TraceNormMultiTask",
    "trace_norm_path",
]


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
    Yf, mask, kinds, names = check_targets(
        Y, tasks, n_samples=n_samples, allow_kinds=_ALLOWED_KINDS
    )
    n_tasks = Yf.shape[1]
    sw = check_task_sample_weight(sample_weight, n_samples, n_tasks, task_names=names)
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
