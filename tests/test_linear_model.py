"""Numerical oracles for the task-relationship linear models.

Every test compares against something independent of the solver: a reference
convex solver (cvxpy + Clarabel), scikit-learn (MultiTaskLasso, Lasso,
LinearRegression, LogisticRegression, Ridge), a closed form, or optimality
conditions computed here from the data.
"""

import warnings

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from scipy.special import expit
from sklearn.base import clone
from sklearn.linear_model import (
    Lasso,
    LinearRegression,
    LogisticRegression,
    MultiTaskLasso,
    Ridge,
)

from mtlclassic.linear_model import (
    ClusteredMultiTask,
    L21MultiTask,
    MeanRegularizedMultiTask,
    TraceNormMultiTask,
    _datafits,
    trace_norm_path,
)
from mtlclassic.linear_model._penalties import ClusteredNorm

# The objective as written (raw features and labels, no clipping at predict):
# the oracles below are about it; the defaults' scaling is tested on its own.
RAW = dict(standardize=False, standardize_targets=False, clip=False)
TIGHT = dict(tol=1e-12, max_iter=50_000, **RAW)


# --------------------------------------------------------------------- data
def make_problem(kinds, n=20, d=5, missing=0.25, seed=0, noise=0.5):
    """Small random problem; NaN labels at rate ``missing``."""
    rng = np.random.RandomState(seed)
    T = len(kinds)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d, T))
    Z = X @ W + noise * rng.standard_normal((n, T))
    Y = np.empty((n, T))
    for t, kind in enumerate(kinds):
        Y[:, t] = (Z[:, t] > 0).astype(float) if kind == "binary" else Z[:, t] + 1.0
    drop = rng.rand(n, T) < missing
    drop[:3] = False  # every task keeps labels of both classes
    Y[drop] = np.nan
    return X, Y


KINDS = {
    "squared": ["regression", "regression", "regression"],
    "logistic": ["binary", "binary", "binary"],
    "mixed": ["regression", "binary", "regression"],
}


def task_weights_matrix(Y, sample_weight):
    """``a_it``: sample weights on labelled rows, normalised to sum one per task."""
    mask = ~np.isnan(Y)
    S = np.where(mask, sample_weight[:, None], 0.0)
    return S / S.sum(axis=0)


def datafit_value(X, Y, kinds, W, b, sample_weight=None, omega=None):
    """The documented datafit, written independently of the package."""
    n, T = Y.shape
    sw = np.ones(n) if sample_weight is None else sample_weight
    omega = np.ones(T) if omega is None else omega
    A = task_weights_matrix(Y, sw)
    total = 0.0
    for t in range(T):
        rows = ~np.isnan(Y[:, t])
        z = X[rows] @ W[:, t] + b[t]
        y = Y[rows, t]
        if kinds[t] == "regression":
            loss = 0.5 * (y - z) ** 2
        else:
            loss = np.logaddexp(0.0, -(2 * y - 1) * z)
        total += omega[t] * np.sum(A[rows, t] * loss)
    return total


def datafit_gradient(X, Y, kinds, W, b, sample_weight=None):
    n, T = Y.shape
    sw = np.ones(n) if sample_weight is None else sample_weight
    A = task_weights_matrix(Y, sw)
    G = np.zeros_like(W)
    gb = np.zeros(T)
    for t in range(T):
        rows = ~np.isnan(Y[:, t])
        z = X[rows] @ W[:, t] + b[t]
        y = Y[rows, t]
        deriv = z - y if kinds[t] == "regression" else expit(z) - y
        G[:, t] = X[rows].T @ (A[rows, t] * deriv)
        gb[t] = np.sum(A[rows, t] * deriv)
    return G, gb


def cvxpy_datafit(X, Y, kinds, W, b, sample_weight=None, omega=None):
    n, T = Y.shape
    sw = np.ones(n) if sample_weight is None else sample_weight
    omega = np.ones(T) if omega is None else omega
    A = task_weights_matrix(Y, sw)
    terms = []
    for t in range(T):
        rows = ~np.isnan(Y[:, t])
        z = X[rows] @ W[:, t] + b[t]
        y = Y[rows, t]
        if kinds[t] == "regression":
            loss = 0.5 * cp.square(y - z)
        else:
            loss = cp.logistic(-cp.multiply(2 * y - 1, z))
        terms.append(omega[t] * cp.sum(cp.multiply(A[rows, t], loss)))
    return cp.sum(cp.hstack(terms))


def clustered_penalty_cvxpy(W, alpha, beta, k):
    """``alpha eta (1 + eta) min_M tr(W (eta I + M)^-1 W^T)`` by an SDP."""
    T = W.shape[1]
    eta = beta / alpha
    M = cp.Variable((T, T), symmetric=True)
    cons = [M >> 0, np.eye(T) - M >> 0, cp.trace(M) == k]
    expr = cp.matrix_frac(W.T, eta * np.eye(T) + M)
    prob = cp.Problem(cp.Minimize(expr), cons)
    prob.solve(solver=cp.CLARABEL)
    return alpha * eta * (1 + eta) * prob.value


def solve_cvxpy(
    X,
    Y,
    kinds,
    penalty,
    alpha,
    *,
    shared=False,
    beta=None,
    k=None,
    sample_weight=None,
    omega=None,
):
    n, d = X.shape
    T = Y.shape[1]
    V = cp.Variable((d, T))
    b = cp.Variable(T)
    cons = []
    if shared:
        w0 = cp.Variable(d)
        W = V + cp.reshape(w0, (d, 1), order="F") @ np.ones((1, T))
    else:
        W = V
    f = cvxpy_datafit(X, Y, kinds, W, b, sample_weight, omega)
    if penalty == "trace":
        pen = alpha * cp.normNuc(V)
    elif penalty == "l21":
        pen = alpha * cp.sum(cp.norm(V, 2, axis=1))
    else:
        eta = beta / alpha
        M = cp.Variable((T, T), symmetric=True)
        cons = [M >> 0, np.eye(T) - M >> 0, cp.trace(M) == k]
        pen = alpha * eta * (1 + eta) * cp.matrix_frac(V.T, eta * np.eye(T) + M)
    prob = cp.Problem(cp.Minimize(f + pen), cons)
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return prob.value


def penalty_value(name, V, alpha, beta=None, k=None):
    if name == "trace":
        return alpha * np.linalg.svd(V, compute_uv=False).sum()
    if name == "l21":
        return alpha * np.sqrt((V**2).sum(axis=1)).sum()
    # closed form (checked against the SDP in test_clustered_closed_form_...)
    return ClusteredNorm(alpha, beta, k, V.shape[1]).value(V)


MODELS = {
    "trace": lambda alpha, **kw: TraceNormMultiTask(alpha, **kw),
    "l21": lambda alpha, **kw: L21MultiTask(alpha, **kw),
    "clustered": lambda alpha, **kw: ClusteredMultiTask(
        alpha, beta=0.05, n_clusters=2, **kw
    ),
}


# ------------------------------------------------------------ cvxpy oracle
@pytest.mark.parametrize("penalty", ["trace", "l21", "clustered"])
@pytest.mark.parametrize("loss", ["squared", "logistic", "mixed"])
def test_objective_matches_cvxpy(penalty, loss):
    """Our minimum equals the convex solver's to 1e-6 (relative), missing labels."""
    kinds = KINDS[loss]
    X, Y = make_problem(kinds, seed=1)
    alpha = 0.1
    model = MODELS[penalty](alpha, **TIGHT).fit(X, Y)
    assert model.task_kinds_ == kinds
    W, b = model.coef_.T, model.intercept_
    ours = datafit_value(X, Y, kinds, W, b) + penalty_value(
        penalty, W, alpha, beta=0.05, k=2
    )
    reference = solve_cvxpy(X, Y, kinds, penalty, alpha, beta=0.05, k=2)
    assert ours == pytest.approx(reference, rel=1e-6)
    # the recorded objective is the documented one
    assert model.objective_[-1] == pytest.approx(ours, rel=1e-9)


@pytest.mark.parametrize("penalty", ["trace", "l21"])
def test_shared_component_matches_cvxpy(penalty):
    """``shared=True``: W = w0 1^T + V with w0 unpenalised (mixed, weights)."""
    kinds = KINDS["mixed"]
    X, Y = make_problem(kinds, seed=2)
    rng = np.random.RandomState(0)
    sw = rng.uniform(0.5, 2.0, size=X.shape[0])
    omega = np.array([1.0, 2.0, 0.5])
    alpha = 0.05
    model = MODELS[penalty](alpha, shared=True, task_weights=omega, **TIGHT)
    model.fit(X, Y, sample_weight=sw)
    W, b = model.coef_.T, model.intercept_
    V = W - model.shared_coef_[:, None]
    ours = datafit_value(X, Y, kinds, W, b, sw, omega) + penalty_value(
        penalty, V, alpha
    )
    reference = solve_cvxpy(
        X, Y, kinds, penalty, alpha, shared=True, sample_weight=sw, omega=omega
    )
    assert ours == pytest.approx(reference, rel=1e-6)


@pytest.mark.parametrize("penalty", ["trace", "l21"])
def test_weighted_squared_loss_matches_cvxpy(penalty):
    """Sample and task weights on the duality-gap path (squared loss only)."""
    kinds = KINDS["squared"]
    X, Y = make_problem(kinds, seed=3)
    sw = np.random.RandomState(5).uniform(0.2, 3.0, size=X.shape[0])
    omega = np.array([0.5, 1.0, 3.0])
    model = MODELS[penalty](0.1, task_weights=omega, **TIGHT)
    model.fit(X, Y, sample_weight=sw)
    W, b = model.coef_.T, model.intercept_
    ours = datafit_value(X, Y, kinds, W, b, sw, omega) + penalty_value(penalty, W, 0.1)
    reference = solve_cvxpy(X, Y, kinds, penalty, 0.1, sample_weight=sw, omega=omega)
    assert ours == pytest.approx(reference, rel=1e-6)


def test_clustered_closed_form_penalty_matches_sdp():
    """The closed-form minimum over M equals the SDP's (k = 1, 2, 3)."""
    rng = np.random.RandomState(3)
    W = rng.standard_normal((5, 4))
    for k in (1, 2, 3):
        pen = ClusteredNorm(0.3, 0.1, k, 4)
        assert pen.value(W) == pytest.approx(
            clustered_penalty_cvxpy(W, 0.3, 0.1, k), rel=1e-6
        )
    # rank-deficient W (fewer non-zero singular values than k)
    W1 = np.outer(rng.standard_normal(5), rng.standard_normal(4))
    pen = ClusteredNorm(0.3, 0.1, 2, 4)
    assert pen.value(W1) == pytest.approx(
        clustered_penalty_cvxpy(W1, 0.3, 0.1, 2), rel=1e-6
    )


# ----------------------------------------------------------- scikit-learn
@pytest.mark.parametrize("sparse", [False, True])
def test_l21_equals_sklearn_multitask_lasso(sparse):
    """Complete Y, squared loss: the MultiTaskLasso objective, same alpha."""
    rng = np.random.RandomState(0)
    X = rng.standard_normal((60, 10))
    W = np.zeros((10, 4))
    W[:3] = rng.standard_normal((3, 4))
    Y = X @ W + 0.3 * rng.standard_normal((60, 4)) + 2.0
    ref = MultiTaskLasso(alpha=0.05, tol=1e-14, max_iter=100_000).fit(X, Y)
    Xfit = sp.csr_matrix(X) if sparse else X
    model = L21MultiTask(0.05, **TIGHT).fit(Xfit, Y)
    assert_allclose(model.coef_, ref.coef_, atol=1e-8)
    assert_allclose(model.intercept_, ref.intercept_, atol=1e-8)


def test_one_task_l21_is_lasso():
    """With one task the L2,1 norm is the L1 norm: sklearn's Lasso."""
    rng = np.random.RandomState(1)
    X = rng.standard_normal((50, 8))
    y = X @ rng.standard_normal(8) + rng.standard_normal(50)
    ref = Lasso(alpha=0.1, tol=1e-14, max_iter=100_000).fit(X, y)
    model = L21MultiTask(0.1, **TIGHT).fit(X, y)
    assert model.coef_.shape == (1, 8)
    assert model.predict(X).shape == (50,)
    assert_allclose(model.coef_[0], ref.coef_, atol=1e-8)
    assert_allclose(model.intercept_[0], ref.intercept_, atol=1e-8)


@pytest.mark.parametrize("model_cls", [TraceNormMultiTask, L21MultiTask])
def test_alpha_zero_is_per_task_regression(model_cls):
    """alpha = 0: independent least squares / logistic regression per task."""
    kinds = KINDS["mixed"]
    # noisy labels: the binary task is not separable, so its MLE exists
    X, Y = make_problem(kinds, n=100, seed=4, noise=3.0)
    sw = np.random.RandomState(1).uniform(0.5, 2.0, size=100)
    model = model_cls(0.0, **TIGHT).fit(X, Y, sample_weight=sw)
    for t, kind in enumerate(kinds):
        rows = ~np.isnan(Y[:, t])
        if kind == "regression":
            ref = LinearRegression().fit(X[rows], Y[rows, t], sample_weight=sw[rows])
        else:
            ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000)
            ref.fit(X[rows], Y[rows, t], sample_weight=sw[rows])
        coef = np.ravel(ref.coef_)
        assert_allclose(model.coef_[t], coef, rtol=1e-5, atol=1e-6)
        assert_allclose(model.intercept_[t], np.ravel(ref.intercept_)[0], atol=1e-6)


def test_clustered_alpha_zero_is_per_task_ridge():
    """alpha = 0: the penalty is beta ||W||_F^2, i.e. Ridge(2 beta n_t) per task."""
    X, Y = make_problem(KINDS["squared"], n=40, seed=5)
    beta = 0.2
    model = ClusteredMultiTask(0.0, beta=beta, n_clusters=2, **TIGHT).fit(X, Y)
    for t in range(Y.shape[1]):
        rows = ~np.isnan(Y[:, t])
        ref = Ridge(alpha=2 * beta * rows.sum()).fit(X[rows], Y[rows, t])
        assert_allclose(model.coef_[t], ref.coef_, atol=1e-8)
        assert_allclose(model.intercept_[t], ref.intercept_, atol=1e-8)


def test_shared_with_huge_alpha_is_pooled_model():
    """shared=True and V forced to 0: one pooled regression, per-task intercepts."""
    X, Y = make_problem(KINDS["squared"], n=40, seed=6)
    model = TraceNormMultiTask(1e6, shared=True, **TIGHT).fit(X, Y)
    assert_allclose(model.singular_values_, 0.0, atol=1e-12)
    # pooled least squares with one-hot task intercepts; rows weighted 1 / n_t
    rows, tasks = np.nonzero(~np.isnan(Y))
    T = Y.shape[1]
    design = np.hstack([X[rows], np.eye(T)[tasks]])
    n_t = (~np.isnan(Y)).sum(axis=0)
    ref = LinearRegression(fit_intercept=False).fit(
        design, Y[rows, tasks], sample_weight=1.0 / n_t[tasks]
    )
    assert_allclose(model.shared_coef_, ref.coef_[:5], atol=1e-7)
    assert_allclose(model.intercept_, ref.coef_[5:], atol=1e-7)
    assert_allclose(model.coef_, np.tile(ref.coef_[:5], (T, 1)), atol=1e-7)


# ------------------------------------------------------------- closed forms
def test_one_task_trace_norm_closed_form():
    """One task: ||w||_* = ||w||_2; orthogonal design gives w = (1 - a/|z|)+ z."""
    rng = np.random.RandomState(7)
    n, d = 40, 6
    Q, _ = np.linalg.qr(rng.standard_normal((n, d)))
    X = np.sqrt(n) * Q  # X^T X / n = I
    y = X @ rng.standard_normal(d) + rng.standard_normal(n)
    z = X.T @ y / n
    for alpha in (0.1, 0.5 * np.linalg.norm(z), 2 * np.linalg.norm(z)):
        model = TraceNormMultiTask(alpha, fit_intercept=False, **TIGHT).fit(X, y)
        expected = max(1 - alpha / np.linalg.norm(z), 0.0) * z
        assert_allclose(model.coef_[0], expected, atol=1e-10)


@pytest.mark.parametrize("penalty", ["trace", "l21"])
def test_alpha_max(penalty):
    """W = 0 iff alpha >= the dual norm of the gradient at 0 (optimal intercepts)."""
    kinds = KINDS["mixed"]
    X, Y = make_problem(kinds, n=40, seed=8)
    # intercepts optimal at W = 0: mean (regression) and logit of the mean (binary)
    b0 = np.array(
        [
            np.nanmean(Y[:, t])
            if k == "regression"
            else np.log(np.nanmean(Y[:, t]) / (1 - np.nanmean(Y[:, t])))
            for t, k in enumerate(kinds)
        ]
    )
    G, _ = datafit_gradient(X, Y, kinds, np.zeros((5, 3)), b0)
    if penalty == "trace":
        alpha_max = np.linalg.norm(G, 2)
        path_alphas, _, _ = trace_norm_path(X, Y, n_alphas=3, tol=1e-10)
        assert path_alphas[0] == pytest.approx(alpha_max, rel=1e-8)
    else:
        alpha_max = np.sqrt((G**2).sum(axis=1)).max()
    above = MODELS[penalty](alpha_max * 1.001, **TIGHT).fit(X, Y)
    assert np.all(above.coef_ == 0.0)
    assert above.rank_ == 0
    assert_allclose(above.intercept_, b0, atol=1e-8)
    below = MODELS[penalty](alpha_max * 0.99, **TIGHT).fit(X, Y)
    assert np.abs(below.coef_).max() > 0


# ---------------------------------------------------------------- KKT
def test_trace_norm_kkt():
    """-grad/alpha is in the subdifferential of the trace norm at W."""
    kinds = KINDS["mixed"]
    X, Y = make_problem(kinds, n=80, d=6, seed=9)
    alpha = 0.4
    model = TraceNormMultiTask(alpha, **TIGHT).fit(X, Y)
    W, b = model.coef_.T, model.intercept_
    G, gb = datafit_gradient(X, Y, kinds, W, b)
    assert_allclose(gb, 0.0, atol=1e-8)  # intercepts are optimal
    r = model.rank_
    assert 0 < r < 3
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    U, Vt = U[:, :r], Vt[:r]
    S = -G / alpha
    # S = U V^T + Z with U^T Z = 0, Z V = 0, ||Z||_2 <= 1
    assert_allclose(U.T @ S @ Vt.T, np.eye(r), atol=1e-6)
    Z = S - U @ Vt
    assert_allclose(U.T @ Z, 0.0, atol=1e-6)
    assert_allclose(Z @ Vt.T, 0.0, atol=1e-6)
    assert np.linalg.norm(Z, 2) <= 1 + 1e-6


def test_l21_kkt():
    """Non-zero rows: -g_j / alpha = w_j / ||w_j||; zero rows: ||g_j|| <= alpha."""
    kinds = KINDS["mixed"]
    X, Y = make_problem(kinds, n=80, d=8, seed=10)
    alpha = 0.5
    model = L21MultiTask(alpha, **TIGHT).fit(X, Y)
    W, b = model.coef_.T, model.intercept_
    G, _ = datafit_gradient(X, Y, kinds, W, b)
    norms = np.linalg.norm(W, axis=1)
    active = norms > 0
    assert 0 < active.sum() < 8
    assert_allclose(-G[active] / alpha, W[active] / norms[active, None], atol=1e-6)
    assert np.all(np.linalg.norm(G[~active], axis=1) <= alpha * (1 + 1e-6))


def test_clustered_stationarity():
    """Smooth problem: grad f + grad Omega = 0 and optimal intercepts."""
    kinds = KINDS["mixed"]
    X, Y = make_problem(kinds, n=60, seed=15)
    model = ClusteredMultiTask(0.3, beta=0.05, n_clusters=2, **TIGHT).fit(X, Y)
    W, b = model.coef_.T, model.intercept_
    G, gb = datafit_gradient(X, Y, kinds, W, b)
    _, grad_pen = ClusteredNorm(0.3, 0.05, 2, 3).value_and_gradient(W)
    assert_allclose(G + grad_pen, 0.0, atol=1e-8)
    assert_allclose(gb, 0.0, atol=1e-8)


# ------------------------------------------------------ implementation paths
@pytest.mark.parametrize("penalty", ["trace", "l21", "clustered"])
def test_dense_sparse_and_gram_entry_paths_agree(penalty, monkeypatch):
    """Dense/sparse X, cached Gram, gathered entries and whole-X products agree."""
    kinds = KINDS["mixed"]
    X, Y = make_problem(kinds, n=50, seed=11)
    X[np.abs(X) < 0.5] = 0.0
    reference = MODELS[penalty](0.05, **TIGHT).fit(X, Y)
    fits = [MODELS[penalty](0.05, **TIGHT).fit(sp.csr_matrix(X), Y)]
    monkeypatch.setattr(_datafits, "_GRAM_BUDGET", 0)
    for density in (0.0, 2.0):  # whole-X products always / never
        monkeypatch.setattr(_datafits, "_FULL_DENSITY", density)
        fits.append(MODELS[penalty](0.05, **TIGHT).fit(X, Y))
        fits.append(MODELS[penalty](0.05, **TIGHT).fit(sp.csc_matrix(X), Y))
    for other in fits:
        assert_allclose(other.coef_, reference.coef_, atol=1e-8)
        assert_allclose(other.intercept_, reference.intercept_, atol=1e-8)


@pytest.mark.parametrize("penalty", ["trace", "l21", "clustered"])
def test_shifted_features_identity(penalty):
    """X + 100 gives the same W and intercepts shifted by -100 sum(w): the
    intercepts are solved in centred coordinates, so it converges as fast."""
    kinds = KINDS["mixed"]
    X, Y = make_problem(kinds, n=50, seed=16)
    base = MODELS[penalty](0.05, **TIGHT).fit(X, Y)
    shifted = MODELS[penalty](0.05, tol=1e-12, max_iter=2_000, **RAW)
    shifted.fit(X + 100.0, Y)
    assert_allclose(shifted.coef_, base.coef_, atol=1e-8)
    expected = base.intercept_ - 100.0 * base.coef_.sum(axis=1)
    assert_allclose(shifted.intercept_, expected, atol=1e-6)


@pytest.mark.parametrize("penalty", ["trace", "l21", "clustered"])
@pytest.mark.parametrize("path", ["gram", "entries"])
def test_shifted_labels_identity(penalty, path, monkeypatch):
    """Y + 1e8 on the regression tasks gives the same W and intercepts + 1e8.

    The labels enter the squared loss centred on their mean: uncentred, the
    Gram objective's terms cancelled and a spurious duality gap stopped the
    solver after 10 iterations with W 37% off, without a warning."""
    if path == "entries":
        monkeypatch.setattr(_datafits, "_GRAM_BUDGET", 0)
    kinds = KINDS["mixed"]
    X, Y = make_problem(kinds, n=50, seed=17)
    sw = np.random.RandomState(3).uniform(0.5, 2, size=50)
    base = MODELS[penalty](0.05, **TIGHT).fit(X, Y, sample_weight=sw)
    shift = np.array([1e8, 0.0, -3e7])  # the binary task keeps its 0/1 labels
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning either
        shifted = MODELS[penalty](0.05, tol=1e-10, max_iter=5_000, **RAW)
        shifted.fit(X, Y + shift, sample_weight=sw)
    assert_allclose(shifted.coef_, base.coef_, atol=1e-6)
    assert_allclose(shifted.intercept_ - shift, base.intercept_, atol=1e-5)


def test_sparse_column_with_a_large_offset():
    """A sparse column of mean 1e8 and unit spread: the same fit as dense X.

    Its centred moments X^T A X - mu mu^T kept no digit (coefficient 0.084
    for 1.403); they are now computed from the centred column."""
    rng = np.random.RandomState(0)
    n = 300
    X = np.c_[rng.randn(n) + 1e8, np.where(rng.rand(n) < 0.7, 0, rng.randn(n)),
              rng.randn(n)]  # fmt: skip
    y = (X[:, 0] - 1e8) * 1.5 + X[:, 1] - 2 * X[:, 2] + rng.randn(n)
    lasso = Lasso(alpha=0.05, tol=1e-12).fit(X, y)
    for Xs in (sp.csr_matrix(X), sp.csc_matrix(X)):
        model = L21MultiTask(0.05, **TIGHT).fit(Xs, y)
        assert_allclose(model.coef_[0], lasso.coef_, atol=1e-6)
        dense = L21MultiTask(0.05).fit(X, y)  # the defaults (standardize)
        assert_allclose(L21MultiTask(0.05).fit(Xs, y).coef_, dense.coef_, rtol=1e-6)


def test_datafit_gradient_finite_differences():
    """The datafit's gradient matches central finite differences."""
    kinds = KINDS["mixed"]
    X, Y = make_problem(kinds, n=30, seed=12)
    sw = np.random.RandomState(2).uniform(0.5, 2, size=30)
    mask = ~np.isnan(Y)
    df = _datafits.MultiTaskDatafit(
        X, Y, mask, kinds, np.repeat(sw[:, None], 3, 1), np.array([1.0, 2.0, 0.5])
    )
    rng = np.random.RandomState(3)
    W, b = rng.standard_normal((5, 3)), rng.standard_normal(3)
    f, gW, gb = df.value_and_gradient(W, b)
    # the solver's intercepts are centred: b' = b + mu^T w
    intercepts = df.intercepts_from(W, b)
    assert_allclose(df.centred_from(W, intercepts), b, rtol=1e-12)
    assert f == pytest.approx(
        datafit_value(X, Y, kinds, W, intercepts, sw, np.array([1.0, 2.0, 0.5])),
        rel=1e-12,
    )
    eps = 1e-6
    for j, t in [(0, 0), (3, 1), (4, 2)]:
        E = np.zeros_like(W)
        E[j, t] = eps
        fd = (df.value(W + E, b) - df.value(W - E, b)) / (2 * eps)
        assert gW[j, t] == pytest.approx(fd, rel=1e-6)
    for t in range(3):
        e = np.zeros(3)
        e[t] = eps
        fd = (df.value(W, b + e) - df.value(W, b - e)) / (2 * eps)
        assert gb[t] == pytest.approx(fd, rel=1e-6)


def test_datafit_lipschitz_constant(monkeypatch):
    """Exact (cached Gram) and power-iteration (entries) constants agree with
    the largest eigenvalue of the Hessian in centred coordinates."""
    rng = np.random.RandomState(17)
    X = rng.standard_normal((40, 4)) * [1.0, 2.0, 3.0, 0.5] + 5.0
    Y = rng.standard_normal((40, 2))
    mask = np.ones_like(Y, dtype=bool)
    omega = np.array([1.0, 3.0])
    Xc = X - X.mean(axis=0)
    expected = 3.0 * max(np.linalg.eigvalsh(Xc.T @ Xc / 40)[-1], 1.0)
    args = (X, Y, mask, ["regression"] * 2, np.ones_like(Y), omega)
    exact = _datafits.MultiTaskDatafit(*args)
    assert exact.lipschitz() == pytest.approx(expected, rel=1e-12)
    monkeypatch.setattr(_datafits, "_GRAM_BUDGET", 0)
    estimate = _datafits.MultiTaskDatafit(*args).lipschitz(n_power_iter=200)
    assert estimate == pytest.approx(expected, rel=1e-6)


def test_clustered_penalty_gradient_finite_differences():
    pen = ClusteredNorm(0.4, 0.1, 2, 4)
    rng = np.random.RandomState(4)
    W = rng.standard_normal((5, 4))
    _, grad = pen.value_and_gradient(W)
    eps = 1e-6
    for j, t in [(0, 0), (2, 3), (4, 1)]:
        E = np.zeros_like(W)
        E[j, t] = eps
        fd = (pen.value(W + E) - pen.value(W - E)) / (2 * eps)
        assert grad[j, t] == pytest.approx(fd, rel=1e-5)


# ----------------------------------------------------------- what it learns
def test_clustered_recovers_planted_clusters():
    rng = np.random.RandomState(13)
    X = rng.standard_normal((400, 6))
    centres = 3 * rng.standard_normal((6, 3))
    truth = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    W = centres[:, truth] + 0.1 * rng.standard_normal((6, 8))
    Y = X @ W + 0.5 * rng.standard_normal((400, 8))
    Y[rng.rand(400, 8) < 0.5] = np.nan
    model = ClusteredMultiTask(1.0, beta=0.01, n_clusters=3).fit(X, Y)
    labels = model.task_clusters_
    # same partition up to label names
    same_truth = truth[:, None] == truth[None, :]
    assert np.array_equal(labels[:, None] == labels[None, :], same_truth)
    assert model.task_relationship_.trace() == pytest.approx(3.0)


def test_trace_norm_recovers_planted_rank():
    rng = np.random.RandomState(14)
    X = rng.standard_normal((1000, 10))
    W = rng.standard_normal((10, 2)) @ rng.standard_normal((2, 12))
    Y = X @ W + rng.standard_normal((1000, 12))
    Y[rng.rand(1000, 12) < 0.6] = np.nan
    model = TraceNormMultiTask(0.3, **RAW).fit(X, Y)
    assert model.rank_ == 2
    # rank_ follows the documented threshold on singular_values_
    s = model.singular_values_
    assert model.rank_ == np.sum(s > 1e-6 * s[0])
    assert_allclose(s, np.linalg.svd(model.coef_, compute_uv=False), atol=1e-12)


def _mean_regularized_closed_form(X, Y, alpha, weights=None, intercept_alpha=0.0):
    """Ridge on ``[X, X (x) onehot(task), onehot(task)]``, the datafit's scaling.

    Minimises sum_t sum_{i labelled} a_it (y_it - x_i (w0 + v_t) - b_t)^2 / 2
    + alpha sum_t |v_t|^2, a_it = s_it / sum_i s_it, by its normal equations.
    """
    n, d = X.shape
    T = Y.shape[1]
    s = np.ones((n, T)) if weights is None else np.asarray(weights, float)
    Z, y, a = [], [], []
    for t in range(T):
        lab = ~np.isnan(Y[:, t])
        block = np.zeros((lab.sum(), d * (T + 1) + T))
        block[:, :d] = X[lab]
        block[:, d * (t + 1) : d * (t + 2)] = X[lab]
        block[:, d * (T + 1) + t] = 1.0
        Z.append(block)
        y.append(Y[lab, t])
        a.append(s[lab, t] / s[lab, t].sum())
    Z, y, a = np.vstack(Z), np.concatenate(y), np.concatenate(a)
    penalty = np.zeros((Z.shape[1], Z.shape[1]))
    penalty[d : d * (T + 1), d : d * (T + 1)] = 2.0 * alpha * np.eye(d * T)
    # partial pooling: sum_t intercept_alpha / (2 n_t) (C b)_t^2, C = I - 11^T/T
    # (centring), n_t = (sum s)^2 / sum s^2 over the task's labelled rows
    C = np.eye(T) - np.full((T, T), 1.0 / T)
    n_eff = np.array(
        [
            s[~np.isnan(Y[:, t]), t].sum() ** 2 / (s[~np.isnan(Y[:, t]), t] ** 2).sum()
            for t in range(T)
        ]
    )
    D = np.diag(intercept_alpha / (2.0 * n_eff))
    penalty[d * (T + 1) :, d * (T + 1) :] = 2.0 * C.T @ D @ C
    theta = np.linalg.solve(Z.T @ (a[:, None] * Z) + penalty, Z.T @ (a * y))
    W = theta[:d][None, :] + theta[d : d * (T + 1)].reshape(T, d)
    return W, theta[d * (T + 1) :]


@pytest.mark.parametrize("alpha", [0.01, 1.0, 100.0])
def test_mean_regularized_equals_the_ridge_on_task_interactions(alpha):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((200, 4))
    Y = X @ rng.standard_normal((4, 3)) + rng.standard_normal((200, 3))
    Y[rng.rand(200, 3) < 0.3] = np.nan
    W, b = _mean_regularized_closed_form(X, Y, alpha)
    model = MeanRegularizedMultiTask(alpha=alpha, tol=1e-12, max_iter=100_000, **RAW)
    model.fit(X, Y)
    assert_allclose(model.coef_, W, atol=1e-9)
    assert_allclose(model.intercept_, b, atol=1e-9)
    # integer sample weights are repeated rows (the closed form with weights)
    w = rng.randint(1, 4, size=(200, 3)).astype(float)
    W, b = _mean_regularized_closed_form(X, Y, alpha, w)
    model.fit(X, Y, sample_weight=w)
    assert_allclose(model.coef_, W, atol=1e-9)


def test_mean_regularized_limits_are_per_task_ols_and_the_pooled_model():
    rng = np.random.RandomState(1)
    X = rng.standard_normal((300, 3))
    Y = X @ rng.standard_normal((3, 4)) + 0.5 * rng.standard_normal((300, 4))
    Y[rng.rand(300, 4) < 0.2] = np.nan
    tight = dict(tol=1e-12, max_iter=200_000, **RAW)
    free = MeanRegularizedMultiTask(alpha=1e-9, **tight).fit(X, Y)
    for t in range(4):
        lab = ~np.isnan(Y[:, t])
        ols = LinearRegression().fit(X[lab], Y[lab, t])
        assert_allclose(free.coef_[t], ols.coef_, atol=1e-5)
    pooled = MeanRegularizedMultiTask(alpha=1e4, **tight).fit(X, Y)
    W, b = _mean_regularized_closed_form(X, Y, 1e4)
    assert_allclose(pooled.coef_, W, atol=1e-8)
    assert_allclose(pooled.intercept_, b, atol=1e-8)
    # alpha -> inf: one weight vector for every task (per-task intercepts)
    W, b = _mean_regularized_closed_form(X, Y, 1e12)
    assert_allclose(W, np.tile(W[0], (4, 1)), atol=1e-9)
    assert_allclose(pooled.coef_, W, atol=1e-3)
    assert_allclose(pooled.intercept_, b, atol=1e-3)


@pytest.mark.parametrize(
    "cv_cls, base, extra",
    [
        ("TraceNormMultiTaskCV", TraceNormMultiTask, dict(shared=True)),
        ("L21MultiTaskCV", L21MultiTask, dict(shared=True)),
        ("L21MultiTaskCV", L21MultiTask, dict(shared=False)),
        ("MeanRegularizedMultiTaskCV", MeanRegularizedMultiTask, {}),
    ],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_cv_models_equal_a_grid_search_on_the_same_folds(cv_cls, base, extra, weighted):
    from sklearn.metrics import r2_score
    from sklearn.model_selection import GridSearchCV, KFold

    import mtlclassic.linear_model as lm

    rng = np.random.RandomState(0)
    X = rng.standard_normal((240, 6))
    W = np.outer(rng.standard_normal(6), rng.standard_normal(5))
    W += 0.3 * rng.standard_normal((6, 5))
    Y = X @ W + rng.standard_normal((240, 5))
    Y[rng.rand(240, 5) < 0.3] = np.nan
    # weights that change the choice: the held-out scores were unweighted
    # (alpha_ 1000x off GridSearchCV's, which weighs them in score)
    sw = np.where(rng.rand(240) < 0.5, 20.0, 1.0) if weighted else None
    fit = {} if sw is None else {"sample_weight": sw}
    folds = KFold(4, shuffle=True, random_state=1)
    model = getattr(lm, cv_cls)(
        n_alphas=6, eps=1e-3, cv=folds, selection="fold_mean", **extra, **TIGHT
    ).fit(X, Y, **fit)
    assert model.alphas_.shape == (6,) and np.all(np.diff(model.alphas_) < 0)
    assert model.cv_scores_.shape == (6, 4)
    assert model.cv_task_scores_.shape == (6, 5, 4)
    # oracle: cold fits at every alpha through scikit-learn's GridSearchCV
    search = GridSearchCV(
        base(**extra, **TIGHT), {"alpha": list(model.alphas_)}, cv=folds
    ).fit(X, Y, **fit)
    assert_allclose(
        model.mean_cv_score_, search.cv_results_["mean_test_score"], atol=1e-7
    )
    # the out-of-fold score at alpha_: scikit-learn's weighted R² per task
    P = np.empty_like(Y)
    for train, test in folds.split(X):
        part = {} if sw is None else {"sample_weight": sw[train]}
        fold = base(alpha=model.alpha_, **extra, **TIGHT)
        P[test] = fold.fit(X[train], Y[train], **part).predict(X[test])
    best = int(np.flatnonzero(model.alphas_ == model.alpha_)[0])
    r2 = []
    for t in range(5):
        rows = ~np.isnan(Y[:, t])
        w = None if sw is None else sw[rows]
        r2.append(r2_score(Y[rows, t], P[rows, t], sample_weight=w))
    assert_allclose(model.oof_score_[best], np.mean(r2), atol=1e-7)
    assert model.alpha_ == search.best_params_["alpha"]
    assert_allclose(model.coef_, search.best_estimator_.coef_, atol=1e-7)
    assert_allclose(model.predict(X), search.predict(X), atol=1e-7)
    # per-task path scores average to the multi-task score (no undefined task)
    assert_allclose(
        np.nanmean(model.cv_task_scores_, axis=1), model.cv_scores_, atol=1e-12
    )


def test_trace_norm_cv_grid_starts_where_v_vanishes():
    from mtlclassic.linear_model import TraceNormMultiTaskCV

    rng = np.random.RandomState(2)
    X = rng.standard_normal((150, 5))
    Y = X @ rng.standard_normal((5, 4)) + rng.standard_normal((150, 4))
    model = TraceNormMultiTaskCV(n_alphas=4, cv=3, shared=False, **RAW).fit(X, Y)
    alphas, coefs, _ = trace_norm_path(X, Y, n_alphas=4)
    assert_allclose(model.alphas_, alphas)
    assert np.all(coefs[0] == 0) and np.any(coefs[1] != 0)


def test_oof_selection_scores_every_out_of_fold_prediction_at_once():
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold, cross_val_predict

    from mtlclassic.linear_model import MeanRegularizedMultiTaskCV

    rng = np.random.RandomState(3)
    X = rng.standard_normal((200, 4))
    Y = X @ rng.standard_normal((4, 3)) + rng.standard_normal((200, 3))
    Y[rng.rand(200, 3) < 0.4] = np.nan
    folds = KFold(5, shuffle=True, random_state=0)
    model = MeanRegularizedMultiTaskCV(n_alphas=5, cv=folds, **TIGHT).fit(X, Y)
    assert model.selection == "oof"
    for a, alpha in enumerate(model.alphas_):
        P = cross_val_predict(
            MeanRegularizedMultiTask(alpha=alpha, **TIGHT), X, Y, cv=folds
        )
        for t in range(3):
            rows = ~np.isnan(Y[:, t])
            expected = r2_score(Y[rows, t], P[rows, t])
            assert_allclose(model.oof_task_scores_[a, t], expected, atol=1e-7)
    assert model.alpha_ == model.alphas_[np.argmax(model.oof_score_)]


@pytest.mark.parametrize("intercept_alpha", [10.0, 200.0])
def test_partial_pooling_of_intercepts_equals_its_closed_form(intercept_alpha):
    rng = np.random.RandomState(4)
    X = rng.standard_normal((150, 3)) + 2.0  # un-centred: the centring matters
    Y = X @ rng.standard_normal((3, 4)) + rng.normal(0, 1, 4) * 3
    Y = Y + rng.standard_normal((150, 4))
    Y[rng.rand(150, 4) < 0.5] = np.nan
    W, b = _mean_regularized_closed_form(X, Y, 0.1, intercept_alpha=intercept_alpha)
    model = MeanRegularizedMultiTask(
        alpha=0.1, intercept_alpha=intercept_alpha, tol=1e-12, max_iter=200_000, **RAW
    ).fit(X, Y)
    assert_allclose(model.coef_, W, atol=1e-8)
    assert_allclose(model.intercept_, b, atol=1e-8)
    free = MeanRegularizedMultiTask(alpha=0.1, tol=1e-12, max_iter=200_000, **RAW)
    free.fit(X, Y)
    assert np.std(model.intercept_) < np.std(free.intercept_)  # pulled together


def test_huge_intercept_pooling_gives_one_intercept_with_the_trace_norm():
    rng = np.random.RandomState(5)
    X = rng.standard_normal((200, 4))
    Y = X @ rng.standard_normal((4, 3)) + np.array([-2.0, 0.0, 3.0])
    Y = Y + rng.standard_normal((200, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # converges
        model = TraceNormMultiTask(
            0.01, intercept_alpha=1e5, tol=1e-8, max_iter=20_000
        ).fit(X, Y)
    assert np.ptp(model.intercept_) < 0.1
    free = TraceNormMultiTask(0.01, **TIGHT).fit(X, Y)
    assert np.ptp(free.intercept_) > 4


def test_partial_pooling_shrinks_small_tasks_more_and_keeps_kinds_apart():
    rng = np.random.RandomState(8)
    sizes, levels = [2000, 2000, 5, 5], [0.0, 4.0, 0.0, 4.0]
    task = np.repeat(np.arange(4), sizes)
    X = rng.standard_normal((task.size, 2))
    Y = np.full((task.size, 4), np.nan)
    Y[np.arange(task.size), task] = np.take(levels, task) + rng.standard_normal(
        task.size
    )
    params = dict(alpha=1.0, tol=1e-12, max_iter=100_000, **RAW)
    free = MeanRegularizedMultiTask(**params).fit(X, Y)
    pooled = MeanRegularizedMultiTask(intercept_alpha=20.0, **params).fit(X, Y)
    W, b = _mean_regularized_closed_form(X, Y, 1.0, intercept_alpha=20.0)
    assert_allclose(pooled.intercept_, b, atol=1e-8)
    centre = pooled.intercept_.mean()
    shrink = 1 - (pooled.intercept_ - centre) / (free.intercept_ - centre)
    assert shrink[2] > 10 * shrink[0] and shrink[3] > 10 * shrink[1]
    assert 0.5 < shrink[2] < 0.9 and shrink[0] < 0.1
    # one regression and one binary task: nothing to pool within a kind
    Yb = np.column_stack([Y[:, 0], (rng.rand(task.size) < 0.3).astype(float)])
    Yb[np.isnan(Y[:, 0]), 0] = np.nan
    alone = MeanRegularizedMultiTask(**params).fit(X, Yb)
    kinds = MeanRegularizedMultiTask(intercept_alpha=1e4, **params).fit(X, Yb)
    assert_allclose(kinds.intercept_, alone.intercept_, atol=1e-8)


def test_task_graph_penalty_equals_its_closed_form():
    rng = np.random.RandomState(6)
    n, d, T = 160, 3, 4
    X = rng.standard_normal((n, d))
    Y = X @ rng.standard_normal((d, T)) + rng.standard_normal((n, T))
    Y[rng.rand(n, T) < 0.3] = np.nan
    A = np.array([[0, 1, 0, 0], [1, 0, 2, 0], [0, 2, 0, 0], [0, 0, 0, 0]], float)
    alpha = 0.2
    # closed form: W = V (no shared vector), penalty alpha tr(V L V^T)
    L = np.diag(A.sum(1)) - A
    Z, y, a = [], [], []
    for t in range(T):
        lab = ~np.isnan(Y[:, t])
        block = np.zeros((lab.sum(), d * T + T))
        block[:, d * t : d * (t + 1)] = X[lab]
        block[:, d * T + t] = 1.0
        Z.append(block)
        y.append(Y[lab, t])
        a.append(np.full(lab.sum(), 1.0 / lab.sum()))
    Z, y, a = np.vstack(Z), np.concatenate(y), np.concatenate(a)
    penalty = np.zeros((d * T + T, d * T + T))
    penalty[: d * T, : d * T] = 2.0 * alpha * np.kron(L, np.eye(d))
    theta = np.linalg.solve(Z.T @ (a[:, None] * Z) + penalty, Z.T @ (a * y))
    model = MeanRegularizedMultiTask(
        alpha=alpha, task_graph=A, tol=1e-12, max_iter=200_000, **RAW
    ).fit(X, Y)
    assert_allclose(model.coef_, theta[: d * T].reshape(T, d), atol=1e-8)
    assert_allclose(model.intercept_, theta[d * T :], atol=1e-8)
    assert np.all(model.shared_coef_ == 0)
    # task 3 has no link: it is its own least squares
    lab = ~np.isnan(Y[:, 3])
    ols = LinearRegression().fit(X[lab], Y[lab, 3])
    assert_allclose(model.coef_[3], ols.coef_, atol=1e-8)
    with pytest.raises(ValueError, match="symmetric adjacency"):
        MeanRegularizedMultiTask(task_graph=A - np.eye(4) * 0 + np.triu(A)).fit(X, Y)
    with pytest.raises(ValueError, match=r"shape \(n_tasks, n_tasks\) = \(4, 4\)"):
        MeanRegularizedMultiTask(task_graph=np.ones((3, 3))).fit(X, Y)


@pytest.mark.parametrize("sparse_input", [False, True])
def test_standardize_makes_predictions_invariant_to_feature_units(sparse_input):
    rng = np.random.RandomState(7)
    X = rng.standard_normal((200, 5)) * np.array([1.0, 10.0, 0.1, 100.0, 1.0])
    Y = X / X.std(0) @ rng.standard_normal((5, 4)) + rng.standard_normal((200, 4))
    Y[rng.rand(200, 4) < 0.3] = np.nan
    units = np.array([1000.0, 0.01, 3.0, 1.0, 7.0])
    conv = lambda A: sp.csr_matrix(A) if sparse_input else A  # noqa: E731
    for model in (
        TraceNormMultiTask(0.05, **{**TIGHT, "standardize": True}),
        MeanRegularizedMultiTask(0.1, **{**TIGHT, "standardize": True}),
        L21MultiTask(0.05, shared=True, **{**TIGHT, "standardize": True}),
    ):
        a = model.fit(conv(X), Y).predict(conv(X))
        b = model.fit(conv(X * units), Y).predict(conv(X * units))
        assert_allclose(a, b, atol=1e-7)
        # and it equals the model fitted on standardised features by hand
        scale = X.std(0)
        ref = clone(model).set_params(standardize=False).fit(X / scale, Y)
        assert_allclose(model.fit(conv(X), Y).coef_, ref.coef_ / scale, atol=1e-7)
        assert_allclose(model.intercept_, ref.intercept_, atol=1e-7)


def _eb_log_scales(Y):
    """The documented empirical-Bayes log scales, by hand (unit weights)."""
    cols = [Y[~np.isnan(Y[:, t]), t] for t in range(Y.shape[1])]
    lv = np.log([c.std() for c in cols])
    v = np.array([1.0 / (2.0 * (c.size - 1)) for c in cols])
    tau2 = max(0.0, lv.var() - v.mean())
    m = np.sum(lv / (v + tau2)) / np.sum(1.0 / (v + tau2))
    if np.sqrt(tau2) < 0.5:
        return np.full(lv.size, m)
    B = v / (v + tau2)
    return B * m + (1 - B) * lv


def test_standardize_targets_scales_each_task_by_its_shrunk_label_scale():
    """target_scale_ is the documented empirical-Bayes scale (by hand here).

    The fit equals the raw model on the labels divided by it, coefficients
    multiplied back; labels in other common units give predictions in those
    units; multiplying the sample weights by a constant changes nothing.
    """
    rng = np.random.RandomState(21)
    X = rng.standard_normal((120, 4))
    Y = X @ rng.standard_normal((4, 3)) + rng.standard_normal((120, 3))
    Y[rng.rand(120, 3) < 0.25] = np.nan
    Y[:, 2] *= 50.0  # a task in other units: its own scale
    for model in (
        TraceNormMultiTask(0.05, **{**TIGHT, "standardize_targets": True}),
        MeanRegularizedMultiTask(0.1, **{**TIGHT, "standardize_targets": True}),
    ):
        a = model.fit(X, Y).predict(X)
        expected = np.exp(_eb_log_scales(Y))
        assert_allclose(model.target_scale_, expected, rtol=1e-12)
        assert model.target_scale_[2] > 20 * model.target_scale_[0]
        ref = clone(model).set_params(standardize_targets=False)
        ref.fit(X, Y / expected)
        assert_allclose(model.coef_, ref.coef_ * expected[:, None], atol=1e-7)
        assert_allclose(model.intercept_, ref.intercept_ * expected, atol=1e-7)
        b = clone(model).fit(X, Y * 1000.0).predict(X)
        assert_allclose(b, a * 1000.0, rtol=1e-7, atol=1e-9)
        w = rng.uniform(0.5, 2.0, 120)
        one = clone(model).fit(X, Y, sample_weight=w).predict(X)
        tiny = clone(model).fit(X, Y, sample_weight=w / 1000.0).predict(X)
        assert_allclose(tiny, one, rtol=1e-7, atol=1e-9)


def test_standardize_targets_gives_tasks_in_one_unit_one_scale():
    """Spreads within a factor 1.65 are one unit; binary, constant: see doc."""
    rng = np.random.RandomState(23)
    X = rng.standard_normal((200, 3))
    Y = X @ rng.standard_normal((3, 4)) * [1.0, 1.3, 0.8, 1.0]
    Y = Y + rng.standard_normal((200, 4))
    Y[:, 3] = 7.0  # constant labels
    Yb = np.column_stack([Y, (rng.rand(200) < 0.4).astype(float)])
    model = TraceNormMultiTask(0.05).fit(X, Yb)
    common = np.exp(_eb_log_scales(Y[:, :3]))
    assert np.ptp(common) == 0
    assert_allclose(model.target_scale_, [*common, common[0], 1.0], rtol=1e-12)


@pytest.mark.parametrize("sparse_input", [False, True])
def test_clip_bounds_new_features_to_the_training_range(sparse_input):
    rng = np.random.RandomState(22)
    X = rng.uniform(1.0, 2.0, size=(60, 3))
    Y = X @ rng.standard_normal((3, 2)) + 0.1 * rng.standard_normal((60, 2))
    conv = lambda A: sp.csr_matrix(A) if sparse_input else A  # noqa: E731
    model = TraceNormMultiTask(0.01).fit(conv(X), Y)
    assert_allclose(model.data_min_, X.min(0))
    assert_allclose(model.data_max_, X.max(0))
    new = np.array([[0.5, 1.5, 9.0], [1.2, 1.3, 1.4]])
    expected = np.clip(new, X.min(0), X.max(0)) @ model.coef_.T + model.intercept_
    assert_allclose(model.predict(conv(new)), expected, atol=1e-12)
    assert_allclose(model.predict(conv(X)), X @ model.coef_.T + model.intercept_)
    free = clone(model).set_params(clip=False).fit(conv(X), Y)
    assert_allclose(free.predict(conv(new)), new @ free.coef_.T + free.intercept_)


@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_and_dense_scale_a_constant_column_alike(weighted):
    from mtlclassic import TraceNormMultiTask
    from mtlclassic.linear_model._scaling import _column_scale

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    X[rng.random((300, 4)) < 0.5] = 0.0
    X[:, 1], X[:, 2] = 5.0, 3.7  # E[x^2] - E[x]^2 left ~1e-13 here
    w = rng.uniform(0.1, 2.0, 300) if weighted else None
    assert_allclose(_column_scale(sp.csr_matrix(X), w), _column_scale(X, w), rtol=1e-12)
    assert _column_scale(sp.csr_matrix(X), w)[1:3].tolist() == [1.0, 1.0]
    for seed in range(20):  # E[x^2] - E[x]^2 failed for most weightings
        other = np.random.default_rng(seed).uniform(0.1, 2.0, 300) if weighted else None
        assert _column_scale(sp.csr_matrix(X), other)[1:3].tolist() == [1.0, 1.0]
    Y = np.c_[X[:, 0] + rng.standard_normal(300), X[:, 3] + rng.standard_normal(300)]
    dense = TraceNormMultiTask(alpha=0.01).fit(X, Y, sample_weight=w)
    sparse = TraceNormMultiTask(alpha=0.01).fit(sp.csr_matrix(X), Y, sample_weight=w)
    assert_allclose(sparse.coef_, dense.coef_, atol=1e-8)
    assert (
        np.abs(sparse.coef_[:, 1:3]).max() < 1e-8
    )  # a constant column explains nothing


@pytest.mark.parametrize("name", ["TraceNormMultiTask", "L21MultiTask",
                                  "MeanRegularizedMultiTask"])  # fmt: skip
def test_huge_finite_values_are_scaled_or_refused_by_name(name):
    """Features near 1e200 made L21MultiTask loop for ever (a NaN step size) and
    the trace norm raise LinAlgError; labels near 1e160 a NaN 'warm start'."""
    import pandas as pd

    import mtlclassic

    cls = getattr(mtlclassic, name)
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    Y = np.c_[2 * X.a + rng.normal(size=300), X.b + rng.normal(size=300)]
    base = cls(alpha=0.01).fit(X, Y).predict(X)
    # standardized, the fit is the same in any unit (oracle: the unit fit)
    for c in (1e200, 1e-200):
        assert_allclose(cls(alpha=0.01).fit(X * c, Y).predict(X * c), base,
                        rtol=1e-9, atol=1e-12)  # fmt: skip
    assert_allclose(cls(alpha=0.01).fit(X, Y * 1e200).predict(X) / 1e200, base,
                    rtol=1e-9, atol=1e-12)  # fmt: skip
    with pytest.raises(ValueError, match=r"X column 'a' has values up to .*e\+200"):
        cls(alpha=0.01, standardize=False).fit(X.assign(a=X.a * 1e200), Y)
    with pytest.raises(ValueError, match=r"Task 'task_1' has labels up to .*e\+160"):
        cls(alpha=0.01, standardize_targets=False).fit(X, Y * [1, 1e160])
    # a constant column or task stays constant in any unit
    five = cls(alpha=0.01).fit(X.assign(c=5.0), Y).predict(X.assign(c=5.0))
    got = cls(alpha=0.01).fit(X.assign(c=5e200), Y).predict(X.assign(c=5e200))
    assert_allclose(got, five, rtol=1e-9, atol=1e-12)
    flat = cls(alpha=0.01).fit(X, np.c_[np.full(300, 3e200), Y[:, 1]]).predict(X)
    assert np.isfinite(flat).all() and np.allclose(flat[:, 0], 3e200, rtol=0.1)
    # rows of weight 0 are absent: their values do not set a column's scale
    w = np.r_[np.zeros(5), np.ones(295)]
    far = X.copy()
    far.loc[:4, "a"] = 1e13
    kept = cls(alpha=0.01).fit(X.iloc[5:], Y[5:]).predict(X.iloc[5:])
    got = cls(alpha=0.01).fit(far, Y, sample_weight=w).predict(X.iloc[5:])
    assert_allclose(got, kept, rtol=1e-9, atol=1e-12)
    far.loc[:4, "a"] = 1e200  # the solver's products still read those rows
    with pytest.raises(ValueError, match=r"X column 'a' has values up to"):
        cls(alpha=0.01).fit(far, Y, sample_weight=w)
