r"""Accelerated proximal gradient (FISTA) for datafit + penalty problems.

The problem assembled by :class:`MultiTaskProblem` is

.. math::

    \min_{V, w_0, b}\ f(V + w_0 1^\top, b) + \Omega(V),

with ``w_0`` present only for ``shared=True`` and ``b`` only with an
intercept; both are unpenalised. :func:`solve` checks its inputs and calls
:func:`_solve`, which iterates FISTA (Beck & Teboulle 2009; Ji & Ye 2009 for
the trace norm) with backtracking on the Lipschitz constant and gradient-based
adaptive restart (O'Donoghue & Candes 2015).

Stopping rule, tested every ``check_every`` iterations:

- squared loss on every task, a non-smooth penalty, ``alpha > 0`` and no
  shared component: the duality gap, certified (``gap <= tol * P(0)``, with
  ``P(0)`` the objective at ``W = 0`` and optimal intercepts);
- otherwise: the gradient-mapping norm ``L ||x_{k+1} - y_k||`` at most
  ``tol`` times the gradient norm at zero, and the relative objective change
  at most ``tol``.
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._penalties import BasePenalty


class ZeroPenalty(BasePenalty):
    """Indicator of ``V = 0`` (the pooled model when ``shared=True``)."""

    smooth = False
    alpha = np.inf

    def value(self, W):
        """Return 0 (``V`` is kept at zero by the prox)."""
        return 0.0

    def prox(self, W, step):
        """Project on ``V = 0``."""
        return np.zeros_like(W), 0.0


class MultiTaskProblem:
    """Assemble a datafit, a penalty and the (V, w0, b) parametrisation."""

    def __init__(self, datafit, penalty, *, shared=False, intercept_alpha=0.0):
        self.datafit = datafit
        self.penalty = penalty
        self.shared = bool(shared)
        # partial pooling of the model's (un-centred) intercepts, within each
        # kind of task: sum_t intercept_alpha / (2 n_t) * (b_t - mean_kind(b))^2
        self.intercept_alpha = float(intercept_alpha) if datafit.fit_intercept else 0.0
        self._pool_weight = self.intercept_alpha / (2.0 * datafit.n_effective)
        self._pool_groups = [
            np.flatnonzero(datafit.squared == kind)
            for kind in (True, False)
            if np.any(datafit.squared == kind)
        ]
        self.d = datafit.n_features
        self.T = datafit.n_tasks
        self.fit_intercept = datafit.fit_intercept
        self.size = self.d * self.T + (self.d if self.shared else 0) + self.T
        # w0 is stored as u = sqrt(T) w0: the map (u, V) -> u 1^T / sqrt(T) + V
        # then has norm sqrt(2) instead of sqrt(T + 1), so the step size is not
        # divided by the number of tasks
        self._w0_scale = 1.0 / np.sqrt(self.T)

    # ---------------------------------------------------------- parameters
    def unpack(self, x):
        """Return ``V (d, T)``, ``w0 (d,)`` (zeros if not shared), ``b (T,)``."""
        d, T = self.d, self.T
        V = x[: d * T].reshape(d, T)
        w0 = x[d * T : d * T + d] * self._w0_scale if self.shared else np.zeros(d)
        b = x[-T:]
        return V, w0, b

    def pack(self, V, w0, b):
        """Inverse of :meth:`unpack`."""
        parts = [np.ravel(V)]
        if self.shared:
            parts.append(np.asarray(w0, dtype=np.float64) / self._w0_scale)
        parts.append(np.asarray(b, dtype=np.float64))
        return np.concatenate(parts)

    def coef(self, x):
        """Return the full weight matrix ``W = V + w0 1^T`` and ``b``."""
        V, w0, b = self.unpack(x)
        return V + w0[:, None], b

    # ------------------------------------------------------------- pieces
    def _pack_grad(self, gW, gb):
        parts = [gW.ravel()]
        if self.shared:
            parts.append(gW.sum(axis=1) * self._w0_scale)
        parts.append(gb if self.fit_intercept else np.zeros_like(gb))
        return np.concatenate(parts)

    def _intercept_pooling(self, W, b):
        """Return ``sum_t d_t (c_t - mean_kind(c))^2`` and its gradients.

        ``c``: the model's intercepts; ``d_t = intercept_alpha / (2 n_t)``
        (``n_t``: effective labelled rows), so an intercept-only regression
        task is shrunk towards its kind's mean by ``intercept_alpha /
        (n_t + intercept_alpha)`` at a fixed mean.
        """
        c = self.datafit.intercepts_from(W, b)
        d = self._pool_weight
        value = 0.0
        gc = np.zeros_like(c)
        for group in self._pool_groups:
            r = c[group] - c[group].mean()
            dr = d[group] * r
            value += float(dr @ r)
            gc[group] = 2.0 * (dr - dr.mean())  # C^T D C c, C the centring
        centers = self.datafit.all_centers
        gW = np.zeros_like(W) if centers is None else -centers * gc[None, :]
        return value, gW, gc

    def smooth_value_and_gradient(self, x):
        """Value and gradient of the smooth part (datafit + smooth penalty)."""
        V, w0, b = self.unpack(x)
        f, gW, gb = self.datafit.value_and_gradient(V + w0[:, None], b)
        if self.intercept_alpha > 0:
            pf, pW, pb = self._intercept_pooling(V + w0[:, None], b)
            f, gW, gb = f + pf, gW + pW, gb + pb
        g = self._pack_grad(gW, gb)
        if self.penalty.smooth:
            pv, pg = self.penalty.value_and_gradient(V)
            f += pv
            g[: self.d * self.T] += pg.ravel()
        return f, g

    def smooth_value(self, x):
        """Value of the smooth part."""
        V, w0, b = self.unpack(x)
        f = self.datafit.value(V + w0[:, None], b)
        if self.intercept_alpha > 0:
            f += self._intercept_pooling(V + w0[:, None], b)[0]
        if self.penalty.smooth:
            f += self.penalty.value(V)
        return f

    def prox(self, x, step):
        """Prox of the non-smooth penalty on the ``V`` block; value at the result."""
        if self.penalty.smooth:
            return x, 0.0
        n = self.d * self.T
        V, value = self.penalty.prox(x[:n].reshape(self.d, self.T), step)
        out = x.copy()
        out[:n] = V.ravel()
        return out, value

    def objective(self, x):
        """Full objective ``f + Omega``."""
        V, _, _ = self.unpack(x)
        value = self.smooth_value(x)
        if not self.penalty.smooth:
            value += self.penalty.value(V)
        return value

    def lipschitz(self, n_power_iter=30, seed=0):
        """Lipschitz constant of the gradient: exact for cached Gram matrices.

        Otherwise a power-iteration estimate (backtracking corrects it).
        """
        pooling = 0.0
        if self.intercept_alpha > 0:
            centers = self.datafit.all_centers
            mu = 0.0 if centers is None else float((centers**2).sum(axis=0).max())
            pooling = 2.0 * float(self._pool_weight.max()) * (1.0 + mu)
        exact = None if self.shared else self.datafit.gram_lipschitz()
        if exact is not None:
            lam = exact + pooling
            if self.penalty.smooth:
                lam += self.penalty.lipschitz
            return float(max(lam, 1e-10))
        # the datafit's part depends on the data, the task weights and the
        # parametrisation only: estimated once per path, not once per alpha
        cache = self.datafit.__dict__.setdefault("_power_lipschitz", {})
        key = (self.shared, self.datafit.task_weights.tobytes(), n_power_iter, seed)
        if key not in cache:
            rng = np.random.RandomState(seed)
            x = rng.standard_normal(self.size)
            lam = 0.0
            for _ in range(n_power_iter):
                norm = np.linalg.norm(x)
                if norm == 0.0:
                    break
                x = x / norm
                V, w0, b = self.unpack(x)
                gW, gb = self.datafit.hessian_bound_matvec(V + w0[:, None], b)
                x = self._pack_grad(gW, gb)
                lam = np.linalg.norm(x)
            cache[key] = lam
        lam = cache[key]
        if self.penalty.smooth:
            lam += self.penalty.lipschitz
        return float(max(lam + pooling, 1e-10))

    @property
    def is_quadratic(self):
        """Whether the smooth part is quadratic (squared loss, no smooth penalty)."""
        return bool(np.all(self.datafit.squared)) and not self.penalty.smooth

    # -------------------------------------------------------- certificates
    @property
    def has_duality_gap(self):
        """Whether the certified duality gap applies to this problem."""
        return (
            bool(np.all(self.datafit.squared))
            and not self.penalty.smooth
            and not self.shared
            and hasattr(self.penalty, "dual_norm")
            and self.penalty.alpha > 0
            and self.intercept_alpha == 0
        )

    def optimal_intercepts(self, W, b):
        """Optimal ``b`` for fixed ``W`` (squared loss on every task)."""
        if not self.fit_intercept:
            return b
        _, _, gb = self.datafit.value_and_gradient(W, b)
        return b - gb / self.datafit.task_weights

    def duality_gap(self, x):
        """Return ``(gap, primal)`` at ``x`` with intercepts profiled out."""
        V, _, b = self.unpack(x)
        b = self.optimal_intercepts(V, b)
        df = self.datafit
        losses, ry, gW, _ = df.squared_dual_terms(V, b)
        omega = df.task_weights
        primal = float(losses @ omega) + self.penalty.value(V)
        dual_norm = self.penalty.dual_norm(gW)
        alpha = self.penalty.alpha
        scale = 1.0 if dual_norm <= alpha else alpha / dual_norm
        dual = float(omega @ (scale * ry - scale * scale * losses))
        return primal - dual, primal, b

    def zero_start_objective(self):
        """Objective at ``W = 0`` with optimal intercepts (squared loss)."""
        x0 = np.zeros(self.size)
        V, w0, b = self.unpack(x0)
        b = self.optimal_intercepts(V, b)
        return self.datafit.value(V, b)


def solve(problem, x0=None, *, max_iter=1000, tol=1e-4, check_every=10, verbose=0):
    """Minimise ``problem`` by FISTA; check the inputs, then iterate.

    Returns
    -------
    x : ndarray
        The solution (packed).
    n_iter : int
    history : list of float
        Objective after every iteration (index 0: at ``x0``).
    converged : bool
    """
    if x0 is None:
        x0 = np.zeros(problem.size)
    x0 = np.array(x0, dtype=np.float64, copy=True)
    if x0.shape != (problem.size,):
        raise ValueError(
            f"x0 has shape {x0.shape}; expected ({problem.size},) for this problem."
        )
    if not np.all(np.isfinite(x0)):
        raise ValueError("x0 (the warm start) contains NaN or inf.")
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1; got {max_iter}.")
    if tol < 0:
        raise ValueError(f"tol must be >= 0; got {tol}.")
    return _solve(problem, x0, max_iter, tol, check_every, verbose)


def _solve(problem, x0, max_iter, tol, check_every, verbose):
    L = problem.lipschitz() * 1.01
    x = x0
    y = x0.copy()
    t = 1.0
    F_prev = problem.objective(x)
    history = [F_prev]
    use_gap = problem.has_duality_gap
    if use_gap:
        gap_scale = max(problem.zero_start_objective(), np.finfo(float).tiny)
    else:
        g0 = problem.smooth_value_and_gradient(np.zeros(problem.size))[1]
        grad_scale = max(np.linalg.norm(g0), 1e-12)
    converged = False
    n_iter = 0
    # For a quadratic smooth part the gradient is affine, so the gradient (and
    # value) at the extrapolated point y follow from those at the last two
    # iterates: one datafit evaluation per iteration instead of two.
    quadratic = problem.is_quadratic
    f_y, g_y = problem.smooth_value_and_gradient(y)
    g_x = g_y
    for n_iter in range(1, max_iter + 1):
        if n_iter > 1 and not quadratic:
            f_y, g_y = problem.smooth_value_and_gradient(y)
        while True:
            x_new, pen_new = problem.prox(y - g_y / L, 1.0 / L)
            dx = x_new - y
            if quadratic:
                f_new, g_new = problem.smooth_value_and_gradient(x_new)
            else:
                f_new = problem.smooth_value(x_new)
            upper = f_y + g_y @ dx + 0.5 * L * (dx @ dx)
            if f_new <= upper + 1e-13 * abs(f_y) or L > 1e300:
                break
            if not (np.isfinite(f_new) and np.isfinite(upper)):
                raise FloatingPointError(
                    f"The objective is not finite at iteration {n_iter} (f={f_new}, "
                    f"bound={upper}): the data overflow float64 arithmetic; scale "
                    "the features and labels."
                )
            L *= 1.5
        F_new = f_new + pen_new
        history.append(F_new)
        # gradient-based adaptive restart of the momentum
        if (y - x_new) @ (x_new - x) > 0:
            t = 1.0
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        beta = (t - 1.0) / t_new
        y = x_new + beta * (x_new - x)
        if quadratic:
            delta = beta * (x_new - x)
            H_delta = beta * (g_new - g_x)
            f_y = f_new + g_new @ delta + 0.5 * (delta @ H_delta)
            g_y = g_new + H_delta
            g_x = g_new
        x_prev, x, t = x, x_new, t_new
        if use_gap:
            if n_iter % check_every == 0 or n_iter == max_iter:
                gap, _, b_star = problem.duality_gap(x)
                if verbose:
                    print(f"iter {n_iter}: objective {F_new:.10g}, gap {gap:.3e}")
                if gap <= tol * gap_scale:
                    x = x.copy()
                    x[-problem.T :] = b_star
                    history[-1] = problem.objective(x)
                    converged = True
                    break
        else:
            grad_map = L * np.linalg.norm(dx)
            rel_change = abs(F_prev - F_new) / max(abs(F_new), np.finfo(float).tiny)
            if verbose and n_iter % check_every == 0:
                print(
                    f"iter {n_iter}: objective {F_new:.10g}, gradient mapping "
                    f"{grad_map:.3e}"
                )
            if grad_map <= tol * grad_scale and rel_change <= tol:
                converged = True
                break
            if np.all(x == x_prev) and np.all(dx == 0):
                converged = True
                break
        F_prev = F_new
    return x, n_iter, history, converged


def warn_not_converged(n_iter, tol):
    """Emit the ConvergenceWarning of the family."""
    warnings.warn(
        f"FISTA did not converge in max_iter={n_iter} iterations (tol={tol}); "
        "increase max_iter, loosen tol or scale the features.",
        ConvergenceWarning,
        stacklevel=3,
    )
