r"""Datafit of the task-relationship linear models: masked multi-task losses.

The datafit is

.. math::

    f(W, b) = \sum_t \omega_t L_t(w_t, b_t), \qquad
    L_t = \sum_{i \in I_t} a_{it}\, \ell_t(y_{it}, x_i^\top w_t + b_t),

where :math:`I_t` are the rows labelled for task ``t`` (the NaN mask),
:math:`a_{it} = s_{it} / n_t` with the sample weights :math:`s_{it}` normalised
to sum to :math:`n_t = |I_t|`, so :math:`\sum_i a_{it} = 1`, and
:math:`\ell_t(y, z) = (y - z)^2 / 2` for a regression task,
:math:`\log(1 + e^{-(2y - 1) z})` for a binary task.

Two evaluation paths give the same numbers:

- *Gram* (squared-loss tasks): ``G_t = X_a^T diag(a_t) X_a`` and
  ``c_t = X_a^T (a_t * y_t)`` (``X_a`` is ``X`` with a column of ones) are
  cached once, grouped over tasks that share their rows and weights, so an
  evaluation costs ``O(d^2 T)`` and nothing in ``n``;
- *entries* (binary tasks, or squared tasks when the Gram matrices would not
  fit in memory): the labelled (row, task) pairs, ``O(n_labels d)`` per
  evaluation (``O(nnz)`` for sparse ``X``).
"""

import hashlib

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

# Above this many float64 numbers, per-task Gram matrices are not cached.
_GRAM_BUDGET = 2.5e7
# Use whole-matrix products when at least this fraction of (row, task) is labelled.
_FULL_DENSITY = 0.3


class _Entries:
    """The labelled (row, task) pairs of a subset of tasks, sorted by task."""

    def __init__(self, X, rows, tasks, y, weights, n_tasks: int, squared: np.ndarray):
        n = X.shape[0]
        # most (row, task) pairs labelled: products with the whole X (BLAS 3)
        # beat gathering one row of X per label
        self.full = rows.size >= _FULL_DENSITY * n * n_tasks
        if self.full:
            self.X = X
            self.n_rows = n
        order = np.lexsort((rows, tasks))
        self.rows = rows[order]
        self.tasks = tasks[order]
        self.y = y[order]
        self.a = weights[order]
        self.squared = squared[self.tasks]  # bool per entry
        self.sign = 2.0 * self.y - 1.0
        self.n_tasks = n_tasks
        self.sparse = sp.issparse(X)
        if self.full:
            return
        if self.sparse:
            Xe = sp.csr_matrix(X)[self.rows]
            Xe.sort_indices()
            self.data = Xe.data
            self.cols = Xe.indices
            self.entry_of_nnz = np.repeat(np.arange(Xe.shape[0]), np.diff(Xe.indptr))
            self.task_of_nnz = self.tasks[self.entry_of_nnz]
            self.n_features = X.shape[1]
        else:
            self.Xe = np.ascontiguousarray(X[self.rows])
            present = np.unique(self.tasks)
            self.present = present
            self.starts = np.searchsorted(self.tasks, present)

    def linear(self, W: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Return ``z_k = x_{r_k} . w_{t_k} + b_{t_k}`` for every entry."""
        if self.full:
            Z = np.asarray(self.X @ W)
            return Z[self.rows, self.tasks] + b[self.tasks]
        if self.sparse:
            prod = self.data * W[self.cols, self.task_of_nnz]
            z = np.bincount(self.entry_of_nnz, weights=prod, minlength=self.y.size)
        else:
            z = np.einsum("kd,kd->k", self.Xe, W.T[self.tasks])
        return z + b[self.tasks]

    def adjoint(self, g: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(sum_k g_k x_{r_k} e_{t_k}^T, per-task sums of g)``."""
        T = self.n_tasks
        gb = np.bincount(self.tasks, weights=g, minlength=T)
        if self.full:
            R = np.zeros((self.n_rows, T))
            R[self.rows, self.tasks] = g
            return np.asarray(self.X.T @ R), gb
        if self.sparse:
            flat = np.bincount(
                self.task_of_nnz * d + self.cols,
                weights=g[self.entry_of_nnz] * self.data,
                minlength=T * d,
            )
            return flat.reshape(T, d).T, gb
        GW = np.zeros((T, d))
        GW[self.present] = np.add.reduceat(self.Xe * g[:, None], self.starts, axis=0)
        return GW.T, gb

    def losses(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-entry loss and derivative in ``z``."""
        loss = np.empty_like(z)
        deriv = np.empty_like(z)
        sq = self.squared
        r = z[sq] - self.y[sq]
        loss[sq] = 0.5 * r * r
        deriv[sq] = r
        lg = ~sq
        m = self.sign[lg] * z[lg]
        loss[lg] = np.logaddexp(0.0, -m)
        deriv[lg] = expit(z[lg]) - self.y[lg]
        return loss, deriv


def _label_means(Y, mask, A):
    """Weighted mean label of every task (``A`` sums to one per task), two-pass."""
    Y0 = np.where(mask, Y, 0.0)
    mean = np.einsum("it,it->t", A, Y0)
    return mean + np.einsum("it,it->t", A, np.where(mask, Y0 - mean, 0.0))


def _group_equal_columns(A: np.ndarray, task_ids: np.ndarray) -> list:
    """Group the tasks whose weight columns ``A[:, t]`` are identical."""
    sub = A if task_ids.size == A.shape[1] else A[:, task_ids]
    if task_ids.size and (sub == sub[:, :1]).all():
        return [np.asarray(task_ids)]  # complete Y, no sample weights: one group
    groups: dict[bytes, list[int]] = {}
    for t in task_ids:
        key = hashlib.blake2b(np.ascontiguousarray(A[:, t]).tobytes()).digest()
        groups.setdefault(key, []).append(int(t))
    return [np.asarray(g) for g in groups.values()]


# A sparse column whose squared mean exceeds this many times its variance has its
# centred moments computed from the centred column itself: X^T A X - mu mu^T
# keeps about 16 - log10(mu^2 / var) digits of them (a 1e7 offset on a unit
# spread left none, and the coefficient came out 0.084 for 1.403)
_OFFSET_RATIO = 1e6


def _recentre_offset_columns(X, a, mu, Y, gram, xty):
    """Recompute, in place, the centred moments of ``X``'s offset columns.

    ``X``: sparse rows (n, d), ``a``: their weights (sum 1), ``mu = a @ X``,
    ``Y``: the labels (n, k); ``gram`` (d, d) and ``xty`` (d, k) hold the
    moments centred by subtraction. Columns with ``mu_j^2 > _OFFSET_RATIO *
    var_j`` are centred as dense columns (such a column is nearly all stored
    entries, so the dense copy costs about what its sparse one does).
    """
    Xc = sp.csc_matrix(X)
    d = Xc.shape[1]
    col = np.repeat(np.arange(d), np.diff(Xc.indptr))
    a_nz = a[Xc.indices]
    spread = np.bincount(col, weights=a_nz * (Xc.data - mu[col]) ** 2, minlength=d)
    unstored = np.maximum(1.0 - np.bincount(col, weights=a_nz, minlength=d), 0.0)
    var = spread + mu**2 * unstored  # rows without an entry sit at 0
    offset = np.flatnonzero(mu**2 > _OFFSET_RATIO * var)
    if not offset.size:
        return
    C = Xc[:, offset].toarray() - mu[offset]
    aC = C * a[:, None]
    cross = np.asarray(Xc.T @ aC) - np.outer(mu, aC.sum(axis=0))
    cross[offset] = C.T @ aC
    gram[:, offset] = cross
    gram[offset, :] = cross.T
    xty[offset] = aC.T @ Y - np.outer(aC.sum(axis=0), a @ Y)


class _GramGroups:
    """Cached ``X_a^T diag(a) X_a`` per group of squared-loss tasks."""

    def __init__(self, X, Y, A, groups: list, fit_intercept: bool):
        self.groups = groups
        task_ids = np.sort(np.concatenate(groups))
        self.task_ids = task_ids
        d = X.shape[1]
        p = d + 1
        n_groups = len(self.groups)
        self.G = np.empty((n_groups, p, p))
        self.C = np.zeros((p, Y.shape[1]))  # c_t for every task (zeros elsewhere)
        self.const = np.zeros(Y.shape[1])  # y^T diag(a) y / 2
        n, T = Y.shape
        self.centers = np.zeros((d, T))  # weighted mean row of every task
        for g, members in enumerate(self.groups):
            a = A[:, members[0]]
            rows = np.flatnonzero(a > 0)
            every_row = rows.size == n
            Xr = X if every_row else X[rows]
            ar = a[rows]
            if every_row and members.size == T:
                Yr = Y  # no NaN: every row labelled for every task
            elif every_row:
                Yr = Y[:, members]
            else:
                Yr = Y[np.ix_(rows, members)]
            y_mean = ar @ Yr
            if sp.issparse(Xr):
                Xw = sp.csr_matrix(Xr.multiply(ar[:, None]))
                gram = np.asarray((Xr.T @ Xw).todense())
                col_sum = np.asarray(Xw.sum(axis=0)).ravel()
                xty = np.asarray(Xw.T @ Yr)
                if fit_intercept:  # centre the moments (keeps X sparse)
                    self.centers[:, members] = col_sum[:, None]
                    gram = gram - np.outer(col_sum, col_sum)
                    xty = xty - np.outer(col_sum, y_mean)
                    _recentre_offset_columns(Xr, ar, col_sum, Yr, gram, xty)
            else:
                if fit_intercept:  # centre the rows first (exact)
                    mu = ar @ Xr
                    self.centers[:, members] = mu[:, None]
                    Xr = Xr - mu
                Xw = Xr * ar[:, None]
                gram = Xr.T @ Xw
                col_sum = Xw.sum(axis=0)
                xty = Xw.T @ Yr
            if fit_intercept:
                # centred coordinates b' = b + mu^T w (mu: the weighted mean
                # row): the Gram matrix is block diagonal, [[S - mu mu^T, 0],
                # [0, 1]], so un-centred features do not slow the solver down
                col_sum = np.zeros(d)
            self.G[g, :d, :d] = gram
            self.G[g, d, :d] = col_sum
            self.G[g, :d, d] = col_sum
            self.G[g, d, d] = ar.sum()
            self.C[:d, members] = xty
            self.C[d, members] = y_mean
            self.const[members] = 0.5 * np.einsum("i,it,it->t", ar, Yr, Yr)
        self.fit_intercept = fit_intercept
        # a per-task stack when that is cheap (many singleton groups)
        self.singletons = all(g.size == 1 for g in self.groups)
        if self.singletons:
            self.order = np.concatenate(self.groups)

    def apply(self, Wa: np.ndarray) -> np.ndarray:
        """Return ``G_t @ wa_t`` for the tasks of the groups, as a (p, T) array."""
        out = np.zeros_like(Wa)
        if self.singletons:
            cols = Wa[:, self.order].T[:, :, None]
            out[:, self.order] = np.matmul(self.G, cols)[:, :, 0].T
        else:
            for g, members in enumerate(self.groups):
                out[:, members] = self.G[g] @ Wa[:, members]
        return out

    def max_eigenvalues(self) -> np.ndarray:
        """Largest eigenvalue of every group's Gram matrix, shape (n_groups,)."""
        if getattr(self, "_max_eig", None) is None:  # data only: once per fit/path
            d = self.G.shape[1] - 1
            G = self.G if self.fit_intercept else self.G[:, :d, :d]
            self._max_eig = np.linalg.eigvalsh(G)[:, -1]
        return self._max_eig


class BaseDatafit:
    """The datafit protocol: what :class:`._solvers.MultiTaskProblem` calls.

    A datafit is the weighted sum of per-task losses ``f(W, b) = sum_t
    omega_t L_t(w_t, b_t)`` over each task's labelled rows, in centred
    intercept coordinates (``intercepts_from`` / ``centred_from`` map them
    to the model's intercepts). It exposes ``n_features``, ``n_tasks``,
    ``fit_intercept``, ``task_weights`` (omega, may change between solves),
    ``squared`` (bool per task: squared loss), ``n_effective`` (effective
    labelled rows per task), ``all_centers`` (the weighted mean rows, or
    None), and:

    - ``value(W, b)``, ``value_and_gradient(W, b)`` (gradients in ``W`` and
      ``b``), ``task_losses(W, b)`` (unweighted ``L_t``);
    - ``hessian_bound_matvec(W, b)`` (an upper bound of the Hessian applied
      to a direction, for the Lipschitz estimate) and ``gram_lipschitz()``
      (the exact constant when it is cheap, else None);
    - ``squared_dual_terms(W, b)`` (for the certified duality gap; squared
      loss only).

    :class:`MultiTaskDatafit` is the one implementation (squared, logistic or
    mixed losses with masks and sample weights).
    """


class MultiTaskDatafit(BaseDatafit):
    r"""Masked multi-task squared / logistic / mixed loss.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_tasks)
        NaN where a task has no label.
    mask : ndarray of shape (n_samples, n_tasks), bool
    kinds : list of str
        ``"regression"`` (squared loss) or ``"binary"`` (logistic loss).
    sample_weight : ndarray of shape (n_samples, n_tasks)
    task_weights : ndarray of shape (n_tasks,)
        The :math:`\omega_t`; may be changed between solves.
    fit_intercept : bool
    """

    def __init__(
        self, X, Y, mask, kinds, sample_weight, task_weights, fit_intercept=True
    ):
        n, d = X.shape
        T = Y.shape[1]
        self.n_features, self.n_tasks = d, T
        self.fit_intercept = fit_intercept
        self.task_weights = np.asarray(task_weights, dtype=np.float64)
        self.squared = np.array([k == "regression" for k in kinds])
        S = np.where(mask, sample_weight, 0.0)
        totals = S.sum(axis=0)
        if np.any(totals <= 0):
            bad = np.flatnonzero(totals <= 0).tolist()
            raise ValueError(
                f"sample_weight is zero on every labelled row of tasks {bad}."
            )
        n_t = mask.sum(axis=0)
        # a_it = s_it / n_t with s normalised to sum n_t: a sums to one per task
        A = S / totals
        self.n_labels = n_t
        # Kish's effective number of labelled rows (free of the weights' scale)
        self.n_effective = totals**2 / np.maximum((S * S).sum(axis=0), 1e-300)
        # squared-loss labels enter centred on their weighted mean (the model's
        # intercept takes it back): sum a y^2 / 2 and w^T G w cancel in the
        # loss otherwise, and labels around 1e8 with a unit spread left the
        # duality gap rounding noise (stopped "converged" at 10 iterations)
        self.label_shift = np.zeros(T)
        if fit_intercept and self.squared.any():
            self.label_shift = _label_means(Y, mask, A) * self.squared
            Y = Y - self.label_shift
        sq_ids = np.flatnonzero(self.squared)
        p = d + 1
        groups = _group_equal_columns(A, sq_ids)
        self.gram = None
        if sq_ids.size and len(groups) * p * p <= _GRAM_BUDGET:
            self.gram = _GramGroups(X, Y, A, groups, fit_intercept)
        entry_tasks = np.ones(T, bool) if self.gram is None else ~self.squared
        self.entry_tasks = entry_tasks
        self.entries = None
        # weighted mean row of every task: the solver works in the centred
        # coordinates b'_t = b_t + mu_t^T w_t (see intercepts_from)
        self.centers = None
        if fit_intercept and entry_tasks.any():
            A_e = A if np.mean(A > 0) >= _FULL_DENSITY else sp.csc_matrix(A)
            M = X.T @ A_e
            self.centers = M.toarray() if sp.issparse(M) else np.asarray(M)
            self.centers[:, ~entry_tasks] = 0.0  # Gram tasks are centred already
        self.all_centers = None
        if fit_intercept:
            self.all_centers = np.zeros((d, T))
            if self.centers is not None:
                self.all_centers += self.centers
            if self.gram is not None:
                self.all_centers += self.gram.centers
        if entry_tasks.any():
            sel = (A > 0) & entry_tasks[None, :]
            rows, tasks = np.nonzero(sel)
            self.entries = _Entries(
                X, rows, tasks, Y[rows, tasks], A[rows, tasks], T, self.squared
            )

    # ---------------------------------------------------- centred intercepts
    def _uncentre(self, W, b):
        if self.centers is None:
            return b
        return b - np.einsum("dt,dt->t", self.centers, W)

    def _centre_gradient(self, gW, gb):
        if self.centers is None:
            return gW
        return gW - self.centers * gb[None, :]

    def intercepts_from(self, W, b):
        """Model intercepts from the solver's centred ones ``b' = b - m + mu^T w``.

        ``mu_t`` is the weighted mean row of task ``t`` and ``m_t`` its
        weighted mean label (``label_shift``; 0 for binary tasks). The solver
        works with ``b'`` so that un-centred features and labels leave it well
        conditioned (the change of variables does not touch the penalty on
        ``W``).
        """
        if self.all_centers is None:
            return np.array(b, dtype=np.float64)
        return b + self.label_shift - np.einsum("dt,dt->t", self.all_centers, W)

    def centred_from(self, W, intercept):
        """Inverse of :meth:`intercepts_from`."""
        if self.all_centers is None:
            return np.array(intercept, dtype=np.float64)
        shifted = intercept - self.label_shift
        return shifted + np.einsum("dt,dt->t", self.all_centers, W)

    # ------------------------------------------------------------------ core
    def _eval(self, W, b, need_grad=True):
        """Per-task losses, per-task ``sum a r y`` (squared tasks), gradients."""
        d, T = self.n_features, self.n_tasks
        task_loss = np.zeros(T)
        gW = np.zeros((d, T)) if need_grad else None
        gb = np.zeros(T) if need_grad else None
        if self.gram is not None:
            gr = self.gram
            ids = gr.task_ids
            Wa = np.zeros((d + 1, T))
            Wa[:d, ids] = W[:, ids]
            Wa[d, ids] = b[ids]
            GWa = gr.apply(Wa)
            quad = np.einsum("pt,pt->t", Wa, GWa)
            lin = np.einsum("pt,pt->t", Wa, gr.C)
            task_loss[ids] = (0.5 * quad - lin + gr.const)[ids]
            if need_grad:
                H = GWa - gr.C
                gW[:, ids] = H[:d, ids]
                gb[ids] = H[d, ids]
        if self.entries is not None:
            e = self.entries
            z = e.linear(W, self._uncentre(W, b))
            loss, deriv = e.losses(z)
            task_loss += np.bincount(e.tasks, weights=e.a * loss, minlength=T)
            if need_grad:
                gWe, gbe = e.adjoint(e.a * deriv, d)
                gW += self._centre_gradient(gWe, gbe)
                gb += gbe
        if need_grad:
            gW *= self.task_weights
            gb *= self.task_weights
            if not self.fit_intercept:
                gb[:] = 0.0
        return task_loss, gW, gb

    # --------------------------------------------------------------- public
    def task_losses(self, W, b) -> np.ndarray:
        """Unweighted per-task losses ``L_t``, shape (n_tasks,)."""
        return self._eval(W, b, need_grad=False)[0]

    def value(self, W, b) -> float:
        """Return ``f(W, b)``."""
        return float(self.task_losses(W, b) @ self.task_weights)

    def value_and_gradient(self, W, b):
        """Return ``f(W, b)``, its gradient in ``W`` (d, T) and in ``b`` (T,)."""
        losses, gW, gb = self._eval(W, b)
        return float(losses @ self.task_weights), gW, gb

    def hessian_bound_matvec(self, W, b):
        """Apply an upper bound of the Hessian (exact for squared loss)."""
        d, T = self.n_features, self.n_tasks
        gW = np.zeros((d, T))
        gb = np.zeros(T)
        if self.gram is not None:
            ids = self.gram.task_ids
            Wa = np.zeros((d + 1, T))
            Wa[:d, ids] = W[:, ids]
            Wa[d, ids] = b[ids]
            H = self.gram.apply(Wa)
            gW[:, ids] = H[:d, ids]
            gb[ids] = H[d, ids]
        if self.entries is not None:
            e = self.entries
            z = e.linear(W, self._uncentre(W, b))
            z = z * np.where(e.squared, 1.0, 0.25) * e.a
            gWe, gbe = e.adjoint(z, d)
            gW += self._centre_gradient(gWe, gbe)
            gb += gbe
        gW *= self.task_weights
        gb *= self.task_weights
        if not self.fit_intercept:
            gb[:] = 0.0
        return gW, gb

    def squared_dual_terms(self, W, b):
        """Per-task ``L_t`` and ``sum_i a_it r_it y_it`` (squared tasks only).

        With residuals ``r = y - X w_t - b_t``; used by the duality gap.
        """
        T = self.n_tasks
        losses, gW, gb = self._eval(W, b)
        ry = np.zeros(T)
        if self.gram is not None:
            gr = self.gram
            ids = gr.task_ids
            Wa = np.vstack([W, b[None, :]])
            ry[ids] = (2.0 * gr.const - np.einsum("pt,pt->t", Wa, gr.C))[ids]
        if self.entries is not None:
            e = self.entries
            r = e.y - e.linear(W, self._uncentre(W, b))
            ry += np.bincount(e.tasks, weights=e.a * r * e.y, minlength=T)
        return losses, ry, gW, gb

    def lipschitz(self, n_power_iter: int = 30, seed: int = 0) -> float:
        """Lipschitz constant of the gradient in ``(W, b)``.

        Exact with cached Gram matrices (:meth:`gram_lipschitz`), otherwise a
        power-iteration estimate on :meth:`hessian_bound_matvec`.
        """
        exact = self.gram_lipschitz()
        if exact is not None:
            return exact
        d, T = self.n_features, self.n_tasks
        rng = np.random.RandomState(seed)
        W = rng.standard_normal((d, T))
        b = rng.standard_normal(T) if self.fit_intercept else np.zeros(T)
        lam = 0.0
        for _ in range(n_power_iter):
            norm = np.sqrt(np.sum(W * W) + np.sum(b * b))
            if norm == 0:
                return 1.0
            W, b = W / norm, b / norm
            W, b = self.hessian_bound_matvec(W, b)
            lam = np.sqrt(np.sum(W * W) + np.sum(b * b))
        return float(max(lam, 1e-12))

    def gram_lipschitz(self):
        """Exact Lipschitz constant when every task uses cached Gram matrices.

        The Hessian is block diagonal over tasks, so the constant is
        ``max_t omega_t lambda_max(G_t)``; None when some task is not cached.
        """
        if self.gram is None or self.entries is not None:
            return None
        lam = self.gram.max_eigenvalues()
        omega = np.array([self.task_weights[g].max() for g in self.gram.groups])
        return float(np.max(lam * omega))
