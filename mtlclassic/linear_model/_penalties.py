"""Penalties on the weight matrix ``W`` (n_features, n_tasks): value, prox, dual norm.

Each penalty holds its regularisation strength. Non-smooth penalties give a
proximal operator (``prox``) and the dual norm used by the duality gap and by
``alpha_max``; the clustered-MTL penalty is smooth and gives a gradient.
"""

import numpy as np


def _thin_svd(V: np.ndarray):
    """Thin SVD ``V = U diag(s) Vt`` (LAPACK gesdd on the smaller side)."""
    if V.shape[0] >= V.shape[1]:
        return np.linalg.svd(V, full_matrices=False)
    U, s, Vt = np.linalg.svd(V.T, full_matrices=False)
    return Vt.T, s, U.T


class BasePenalty:
    """The penalty protocol: what :class:`._solvers.MultiTaskProblem` calls.

    A penalty acts on the penalised block ``V`` (n_features, n_tasks) of the
    weights and holds its strength ``alpha``. It is one of two kinds:

    - non-smooth (``smooth = False``): ``value(V)`` and ``prox(V, step)``,
      the proximal operator of ``step * Omega``, returning ``(V', value at
      V')``; optionally the static ``dual_norm(G)``, which gives the
      certified duality gap (squared loss) and ``alpha_max`` of a CV path;
    - smooth (``smooth = True``): ``value(V)``, ``value_and_gradient(V)`` and
      the property ``lipschitz`` (of the gradient), added to the datafit's.

    A new penalty implements one kind and the estimator's ``_make_penalty``
    returns it; nothing else changes (as skglm's ``BasePenalty``).
    """

    smooth: bool = False
    alpha: float = 0.0

    def value(self, V: np.ndarray) -> float:  # pragma: no cover - protocol
        """Return ``Omega(V)``."""
        raise NotImplementedError


class TraceNorm(BasePenalty):
    """``alpha * sum of singular values of W``; prox = singular value thresholding."""

    smooth = False

    def __init__(self, alpha: float):
        self.alpha = float(alpha)

    def value(self, W: np.ndarray) -> float:
        """Return ``alpha * ||W||_*``."""
        if W.size == 0:
            return 0.0
        return self.alpha * float(np.linalg.svd(W, compute_uv=False).sum())

    def prox(self, W: np.ndarray, step: float) -> tuple[np.ndarray, float]:
        """Return ``prox_{step * alpha ||.||_*}(W)`` and the penalty at it."""
        if self.alpha == 0.0:
            return W, 0.0
        U, s, Vt = _thin_svd(W)
        s = np.maximum(s - step * self.alpha, 0.0)
        keep = s > 0
        out = (U[:, keep] * s[keep]) @ Vt[keep]
        return out, self.alpha * float(s.sum())

    @staticmethod
    def dual_norm(G: np.ndarray) -> float:
        """Spectral norm (largest singular value)."""
        if G.size == 0:
            return 0.0
        return float(np.linalg.svd(G, compute_uv=False)[0])


class L21Norm(BasePenalty):
    """``alpha * sum_j ||W[j, :]||_2`` (rows = features); group soft-thresholding."""

    smooth = False

    def __init__(self, alpha: float):
        self.alpha = float(alpha)

    def value(self, W: np.ndarray) -> float:
        """Return ``alpha * ||W||_{2,1}``."""
        return self.alpha * float(np.sqrt((W * W).sum(axis=1)).sum())

    def prox(self, W: np.ndarray, step: float) -> tuple[np.ndarray, float]:
        """Return the row-wise group soft-thresholding of ``W`` and its penalty."""
        if self.alpha == 0.0:
            return W, 0.0
        norms = np.sqrt((W * W).sum(axis=1))
        shrunk = np.maximum(norms - step * self.alpha, 0.0)
        scale = np.divide(shrunk, norms, out=np.zeros_like(norms), where=norms > 0)
        return W * scale[:, None], self.alpha * float(shrunk.sum())

    @staticmethod
    def dual_norm(G: np.ndarray) -> float:
        """Largest row norm (the dual of the L2,1 norm)."""
        if G.size == 0:
            return 0.0
        return float(np.sqrt((G * G).sum(axis=1)).max())


def _cluster_relaxation(s: np.ndarray, n_tasks: int, k: int, eta: float):
    """Optimal eigenvalues ``m`` of ``M`` for singular values ``s`` of ``W``.

    Solves ``min_m sum_i s_i^2 / (eta + m_i)`` s.t. ``0 <= m_i <= 1``,
    ``sum m_i = k`` over the ``n_tasks`` eigenvalues (``s`` padded with zeros).
    The KKT conditions give ``m_i = clip(nu * s_i - eta, 0, 1)``; the total is
    piecewise linear in ``nu`` with breakpoints ``eta / s_i`` and
    ``(1 + eta) / s_i``, so ``nu`` is found exactly on the right segment.
    Mass on zero singular values does not change the value and is not
    returned.
    """
    pos = s > 0
    if pos.sum() <= k:
        return np.where(pos, 1.0, 0.0)
    sp_ = s[pos]
    knots = np.sort(np.concatenate([eta / sp_, (1.0 + eta) / sp_]))
    totals = np.clip(knots[:, None] * sp_[None, :] - eta, 0.0, 1.0).sum(axis=1)
    j = int(np.searchsorted(totals, k))  # totals[j - 1] < k <= totals[j]
    j = min(max(j, 1), knots.size - 1)
    lo, hi = knots[j - 1], knots[j]
    t_lo, t_hi = totals[j - 1], totals[j]
    nu = hi if t_hi == t_lo else lo + (k - t_lo) * (hi - lo) / (t_hi - t_lo)
    return np.clip(nu * s - eta, 0.0, 1.0)


class ClusteredNorm(BasePenalty):
    r"""Convex relaxation of clustered MTL (Jacob, Bach & Vert 2008; MALSAR CMTL).

    .. math::

        \Omega(W) = \alpha\,\eta(1 + \eta) \min_{M}
        \operatorname{tr}\big(W (\eta I + M)^{-1} W^\top\big)
        \quad \text{s.t.}\ \operatorname{tr}(M) = k,\ 0 \preceq M \preceq I,

    with ``eta = beta / alpha`` (``W`` is n_features x n_tasks, ``M`` is
    n_tasks x n_tasks). The minimum over ``M`` is in closed form in the
    singular values of ``W``, so :math:`\Omega` is a smooth convex spectral
    function whose gradient is ``2 c U diag(s / (eta + m)) V^T``
    (``c = alpha eta (1 + eta)``) with Lipschitz constant ``2 (alpha + beta)``.
    With ``alpha = 0`` it is ``beta ||W||_F^2`` (ridge).
    """

    smooth = True

    def __init__(self, alpha: float, beta: float, n_clusters: int, n_tasks: int):
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = int(n_clusters)
        self.n_tasks = int(n_tasks)

    @property
    def lipschitz(self) -> float:
        """Lipschitz constant of the gradient."""
        return 2.0 * (self.alpha + self.beta)

    def _parts(self, W):
        U, s, Vt = _thin_svd(W)
        eta = self.beta / self.alpha
        m = _cluster_relaxation(s, self.n_tasks, self.k, eta)
        return U, s, Vt, m, eta

    def value_and_gradient(self, W: np.ndarray) -> tuple[float, np.ndarray]:
        """Return the penalty and its gradient in ``W``."""
        if self.alpha == 0.0:
            return self.beta * float((W * W).sum()), 2.0 * self.beta * W
        U, s, Vt, m, eta = self._parts(W)
        c = self.alpha * eta * (1.0 + eta)
        value = c * float((s * s / (eta + m)).sum())
        grad = 2.0 * c * (U * (s / (eta + m))) @ Vt
        return value, grad

    def value(self, W: np.ndarray) -> float:
        """Return the penalty."""
        return self.value_and_gradient(W)[0]

    def relationship(self, W: np.ndarray) -> np.ndarray:
        """Return the optimal ``M`` (n_tasks, n_tasks) for ``W``."""
        T = self.n_tasks
        if self.alpha == 0.0:
            return np.full((T, T), 0.0)
        U, s, Vt, m, eta = self._parts(W)
        M = (Vt.T * m) @ Vt
        rest = self.k - m.sum()
        if rest > 1e-12:  # mass on directions where W vanishes
            P = np.eye(T) - Vt.T[:, s > 0] @ Vt[s > 0]
            free = max(T - int((s > 0).sum()), 1)
            M = M + P * (rest / free)
        return M


class SquaredFrobenius(BasePenalty):
    r"""``alpha * ||V||_F^2``: the mean-regularised MTL penalty (smooth).

    With ``W = w_0 1^T + V`` and ``w_0`` unpenalised, it pulls every task's
    weights towards their common mean (Evgeniou & Pontil, KDD 2004). Gradient
    ``2 alpha V``, Lipschitz constant ``2 alpha``.
    """

    smooth = True

    def __init__(self, alpha: float):
        self.alpha = float(alpha)

    @property
    def lipschitz(self) -> float:
        """Lipschitz constant of the gradient."""
        return 2.0 * self.alpha

    def value_and_gradient(self, W: np.ndarray) -> tuple[float, np.ndarray]:
        """Return the penalty and its gradient in ``W``."""
        return self.alpha * float((W * W).sum()), 2.0 * self.alpha * W

    def value(self, W: np.ndarray) -> float:
        """Return the penalty."""
        return self.alpha * float((W * W).sum())


class GraphLaplacian(BasePenalty):
    r"""``alpha * sum_{s<t} A_st ||v_s - v_t||^2 = alpha * tr(V L V^T)`` (smooth).

    ``A`` is a symmetric, non-negative task adjacency (n_tasks, n_tasks) and
    ``L = D - A`` its Laplacian: linked tasks are pulled together (MALSAR's
    SRMTL, the "Graph" penalty of RMTL). Gradient ``2 alpha V L``, Lipschitz
    constant ``2 alpha lambda_max(L)``.
    """

    smooth = True

    def __init__(self, alpha: float, adjacency: np.ndarray):
        self.alpha = float(alpha)
        A = np.asarray(adjacency, dtype=np.float64)
        self.laplacian = np.diag(A.sum(axis=1)) - A
        self._lmax = float(np.linalg.eigvalsh(self.laplacian)[-1]) if A.size else 0.0

    @property
    def lipschitz(self) -> float:
        """Lipschitz constant of the gradient."""
        return 2.0 * self.alpha * self._lmax

    def value_and_gradient(self, W: np.ndarray) -> tuple[float, np.ndarray]:
        """Return the penalty and its gradient in ``W``."""
        WL = W @ self.laplacian
        return self.alpha * float((W * WL).sum()), 2.0 * self.alpha * WL

    def value(self, W: np.ndarray) -> float:
        """Return the penalty."""
        return self.value_and_gradient(W)[0]
