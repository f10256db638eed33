r"""Field-block coordinate descent for (multi-task) factorization machines.

The model of task :math:`t` on a design row :math:`z \in \mathbb{R}^p` is

.. math::

    \hat y_t(z) = b_t + \sum_j w_{tj} z_j
                + s_t \sum_{j < l} \langle v_j, v_l \rangle z_j z_l ,

with factors :math:`V \in \mathbb{R}^{p \times k}` shared by every task. The
solver minimises

.. math::

    \sum_t \sum_{i \in \Omega_t} a_{it}\, \ell_t(y_{it}, \hat y_t(z_i))
    + \frac{\alpha_w}{2} \sum_t \lVert w_t \rVert^2
    + \frac{\alpha_v}{2} \lVert V \rVert_F^2
    + \frac{\alpha_w}{2} \sum_t (s_t - 1)^2 ,

where :math:`\Omega_t` are the labelled rows of task ``t``, :math:`a_{it}`
the sample weights, :math:`\ell_t(y, \hat y) = \tfrac12 (y - \hat y)^2` for a
regression task and the logistic loss
:math:`\log(1 + e^{\hat y}) - y \hat y` for a binary task. The scale term is
only present when the scales are learned (several tasks); otherwise
:math:`s_t = 1`.

Every parameter enters :math:`\hat y` linearly when the others are fixed, so
a coordinate step is :math:`\theta \leftarrow \theta - (\sum a g h +
\alpha\theta) / (\sum a c h^2 + \alpha)` with :math:`h = \partial \hat
y/\partial\theta`, :math:`g = \hat y - y` (resp. :math:`\sigma(\hat y) - y`)
and :math:`c = 1` (resp. :math:`1/4`, the logistic loss's largest
curvature): the exact minimiser for squared loss, and for the logistic loss
the minimiser of a quadratic upper bound (Böhning and Lindsay, 1988), so the
objective never increases. Newton's :math:`\sigma(1-\sigma)` (Rendle, 2011)
vanishes as predictions saturate, and its steps diverged from a wide
initialisation, unscaled columns or a warm start on other labels.

The design is organised in *fields*: the features one input column produced.
Within a field a row has at most one non-zero (one-hot of a categorical
column; a numeric column is a one-feature field), so the coordinates
:math:`v_{lf}` of all features ``l`` of a field touch disjoint rows and are
updated at once, exactly, with ``np.bincount``. An epoch costs
:math:`O(\mathrm{nnz} \cdot (k + T))`.
"""

from dataclasses import dataclass

import numpy as np

from .design import FMDesign
from .model import datafit_derivatives, datafit_value, fm_parts


@dataclass
class FMResult:
    """Fitted parameters and solver trace."""

    intercept: np.ndarray
    coef: np.ndarray
    factors: np.ndarray
    scale: np.ndarray
    n_iter: int
    objective: list
    converged: bool


# --------------------------------------------------------------------------
# solver


class FMCoordinateDescent:
    """State of the field-block coordinate descent; one method per update.

    Parameters
    ----------
    design : FMDesign
    Y : ndarray (n_samples, n_tasks)
        Labels, any value where unlabelled (their weight is 0).
    weight : ndarray (n_samples, n_tasks)
        Sample weight times the label mask.
    binary : ndarray of bool (n_tasks,)
        Which tasks use the logistic loss.
    intercept, coef, factors, scale : ndarray
        Starting point (copied).
    alpha_w, alpha_v : float
        L2 strengths.
    learn_scale : bool
        Whether the interaction scales ``s_t`` are parameters.

    Notes
    -----
    Row-wise caches are task-major, ``(n_tasks, n_samples)``: the predictions
    ``pred``, the weighted gradient ``grad`` and curvature ``curv``; the
    factor sums ``q`` are ``(n_components, n_samples)`` and ``phi`` is the
    interaction term. A field covering every row is addressed by a slice, so
    its updates work on views.
    """

    def __init__(
        self,
        design: FMDesign,
        Y: np.ndarray,
        weight: np.ndarray,
        binary: np.ndarray,
        intercept: np.ndarray,
        coef: np.ndarray,
        factors: np.ndarray,
        scale: np.ndarray,
        *,
        alpha_w: float,
        alpha_v: float,
        learn_scale: bool,
    ):
        self.design = design
        weight = np.asarray(weight, dtype=np.float64)
        self.weight = np.ascontiguousarray(weight.T)
        self.Y = np.ascontiguousarray(np.where(weight > 0, np.nan_to_num(Y), 0.0).T)
        self.binary = np.asarray(binary, dtype=bool)
        self.intercept = np.array(intercept, dtype=np.float64)
        self.coef = np.array(coef, dtype=np.float64)
        self.factors = np.array(factors, dtype=np.float64)
        self.scale = np.array(scale, dtype=np.float64)
        self.alpha_w = float(alpha_w)
        self.alpha_v = float(alpha_v)
        self.learn_scale = learn_scale
        n = design.n_samples
        self.selectors = [
            slice(None) if r.size == n else r for r in design.rows
        ]  # a field's rows are increasing, so size n means all rows
        self.unit = [bool(np.all(v == 1.0)) for v in design.vals]
        self.shift_groups = self._shift_groups()
        self.grad = np.zeros_like(self.weight)
        # rows labelled for each binary task, when it is a minority of rows
        self._labelled = [
            np.flatnonzero(w > 0) if b and np.mean(w > 0) < 0.5 else None
            for w, b in zip(self.weight, self.binary)
        ]
        self._work = np.empty((5, n))  # scratch vectors for the hot loops
        self.curv = self.weight.copy()  # the regression curvature; binary rewritten
        # Regression-only problems keep just the weighted residuals ``grad``
        # up to date inside an epoch (``pred`` is rebuilt by ``refresh``).
        self.regression_only = not self.binary.any()
        self.unit_weight = bool(np.all(self.weight == 1.0))
        self.refresh()

    # caches ---------------------------------------------------------------
    def refresh(self):
        """Recompute the caches (predictions, q, phi, derivatives) from scratch."""
        linear, q, phi = fm_parts(self.design.tocsr(), self.coef, self.factors)
        self.q = np.ascontiguousarray(q.T)
        self.phi = phi
        pred = self.intercept[None, :] + linear + phi[:, None] * self.scale[None, :]
        self.pred = np.ascontiguousarray(pred.T)
        self._refresh_rows(slice(None))
        self._update_row_curvature()

    def _update_row_curvature(self):
        """Cache ``sum_t s_t^2 a_t c_t`` per row when it is constant (regression).

        None when it changes with the predictions (a binary task); the string
        ``"ones"`` when it is 1 everywhere (one task, unit weights, s = 1).
        """
        self._row_curvature = None
        if self.regression_only:
            if self.unit_weight and self.scale.size == 1 and self.scale[0] == 1.0:
                self._row_curvature = "ones"
            else:
                self._row_curvature = (self.scale**2) @ self.curv

    def _add_to_prediction(self, rows, change):
        """Add ``change`` (n_tasks, n_rows) to the predictions at ``rows``."""
        if self.regression_only:
            if not self.unit_weight:
                change = change * self.weight[:, rows]
            self.grad[:, rows] += change
        else:
            self.pred[:, rows] += change
            self._refresh_rows(rows)

    def _add_to_interaction(self, rows, dphi):
        """Add ``dphi`` to the interaction term at ``rows`` (``dphi`` is scratch)."""
        if self.learn_scale:
            self.phi[rows] += dphi
        if self.scale.size > 1:
            self._add_to_prediction(rows, self.scale[:, None] * dphi[None, :])
            return
        if self.scale[0] != 1.0:
            dphi *= self.scale[0]
        if self.regression_only:
            if not self.unit_weight:
                dphi *= self.weight[0, rows]
            self.grad[0, rows] += dphi
        else:
            self.pred[0, rows] += dphi
            self._refresh_rows(rows)

    def _refresh_rows(self, rows):
        datafit_derivatives(
            self.pred,
            self.Y,
            self.weight,
            self.binary,
            self.grad,
            self.curv,
            rows,
            self._work[:2],
            self._labelled,
        )

    def objective(self) -> float:
        """Penalised objective at the current parameters (from the caches)."""
        if self.regression_only:  # grad = a (pred - y), so a loss = grad^2 / 2a
            labelled = self.weight > 0
            value = 0.5 * float(
                np.sum(self.grad[labelled] ** 2 / self.weight[labelled])
            )
        else:
            value = datafit_value(self.pred, self.Y, self.weight, self.binary)
        value += 0.5 * self.alpha_w * float(np.sum(self.coef**2))
        value += 0.5 * self.alpha_v * float(np.sum(self.factors**2))
        if self.learn_scale:
            value += 0.5 * self.alpha_w * float(np.sum((self.scale - 1.0) ** 2))
        return value

    @staticmethod
    def _step(num, den, alpha, theta):
        den = den + alpha
        safe = den > 0
        return np.where(safe, -(num + alpha * theta) / np.where(safe, den, 1.0), 0.0)

    # updates ----------------------------------------------------------------
    def update_intercept(self):
        """Exact (squared loss) or bounded (logistic) step on every intercept."""
        delta = self._step(self.grad.sum(axis=1), self.curv.sum(axis=1), 0.0, 0.0)
        self.intercept += delta
        self._add_to_prediction(
            slice(None), np.broadcast_to(delta[:, None], self.grad.shape)
        )

    def update_linear(self, F: int):
        """Exact/bounded step on the linear weights of field ``F``, all tasks."""
        d = self.design
        sel, cols, vals = self.selectors[F], d.cols[F], d.vals[F]
        lo, hi = d.offsets[F], d.offsets[F + 1]
        width = hi - lo
        n_tasks = self.grad.shape[0]
        num = np.empty((n_tasks, width))
        den = np.empty((n_tasks, width))
        sq = None if self.unit[F] else vals * vals
        for t in range(n_tasks):
            g, c = self.grad[t, sel], self.curv[t, sel]
            num[t] = np.bincount(cols, g if sq is None else g * vals, width)
            den[t] = np.bincount(cols, c if sq is None else c * sq, width)
        delta = self._step(num, den, self.alpha_w, self.coef[:, lo:hi])
        self.coef[:, lo:hi] += delta
        if cols.size:
            change = delta[:, cols]
            if sq is not None:
                change *= vals
            self._add_to_prediction(sel, change)

    def _shift_groups(self) -> dict:
        """Return the one-hot input columns, keyed by their last field.

        Each value is ``(lo, hi, uncovered)``: the design columns of the
        input column and the rows with none of its categories (None if
        every row has one).
        """
        d = self.design
        parents = d.parents()
        groups = {}
        for p in np.unique(parents):
            members = np.flatnonzero(parents == p)
            lo, hi = d.offsets[members[0]], d.offsets[members[-1] + 1]
            if hi - lo < 2 or not all(self.unit[F] for F in members):
                continue
            covered = np.zeros(d.n_samples, dtype=bool)
            for F in members:
                covered[d.rows[F]] = True
            uncovered = None if covered.all() else np.flatnonzero(~covered)
            groups[int(members[-1])] = (lo, hi, uncovered)
        return groups

    def update_field_shift(self, F: int):
        """Exact/bounded step moving a one-hot column's mean weight into the intercept.

        Along ``b + c, w_F - c`` the prediction of a row that has a category
        of the input column is unchanged; only rows without one (and the
        penalty) move. This direction is nearly flat for one-hot columns,
        where plain coordinate descent on ``b`` and ``w_F`` zig-zags; one exact
        step along it removes that slow mode. ``F`` is the last field of the
        input column (a no-op for any other field).
        """
        if F not in self.shift_groups or self.alpha_w == 0:
            return
        lo, hi, uncovered = self.shift_groups[F]
        num = -self.alpha_w * self.coef[:, lo:hi].sum(axis=1)
        den = np.full(num.shape, self.alpha_w * (hi - lo))
        if uncovered is not None:
            num += self.grad[:, uncovered].sum(axis=1)
            den += self.curv[:, uncovered].sum(axis=1)
        delta = self._step(num, den, 0.0, 0.0)
        self.intercept += delta
        self.coef[:, lo:hi] -= delta[:, None]
        if uncovered is not None:
            change = np.repeat(delta[:, None], uncovered.size, axis=1)
            self._add_to_prediction(uncovered, change)

    def factor_step(self, F: int, f: int):
        """Return the block step for ``V[field F, f]`` and the row slopes ``h``."""
        d = self.design
        sel, cols, vals = self.selectors[F], d.cols[F], d.vals[F]
        lo, hi = d.offsets[F], d.offsets[F + 1]
        v = self.factors[lo:hi, f]
        m = cols.size
        # preallocated buffers, in-place ops (see datafit_derivatives)
        h, G = self._work[2, :m], self._work[3, :m]
        single = hi - lo == 1
        if single:  # a numeric field: ordinary coordinate descent
            h.fill(v[0])
        else:
            np.take(v, cols, out=h)
        if self.unit[F]:
            np.subtract(self.q[f, sel], h, out=h)
        else:
            h *= vals
            np.subtract(self.q[f, sel], h, out=h)
            h *= vals
        if self.scale.size == 1:
            np.multiply(self.grad[0, sel], h, out=G)
            if self.scale[0] != 1.0:
                G *= self.scale[0]
        else:
            np.matmul(self.scale, self.grad[:, sel], out=G)
            G *= h
        if isinstance(self._row_curvature, str):  # "ones"
            H = None
        elif self._row_curvature is not None:
            H = self._row_curvature[sel]
        else:
            H = np.matmul(self.scale**2, self.curv[:, sel], out=self._work[4, :m])
        if single:
            num = np.array([G.sum()])
            np.multiply(h, h, out=G)
            den = np.array([G.sum() if H is None else H @ G])
            return self._step(num, den, self.alpha_v, v), h
        num = np.bincount(cols, G, hi - lo)
        np.multiply(h, h, out=G)
        if H is not None:
            G *= H
        den = np.bincount(cols, G, hi - lo)
        return self._step(num, den, self.alpha_v, v), h

    def update_factor(self, F: int, f: int):
        """Exact/bounded step on every ``v_{lf}`` of field ``F`` at once."""
        d = self.design
        sel, cols, vals = self.selectors[F], d.cols[F], d.vals[F]
        delta, h = self.factor_step(F, f)
        self.factors[d.offsets[F] : d.offsets[F + 1], f] += delta
        if cols.size == 0:
            return
        if delta.size == 1:  # a one-feature field
            h *= delta[0]  # h becomes the change of phi
            if self.unit[F]:
                self.q[f, sel] += delta[0]
            else:
                self.q[f, sel] += delta[0] * vals
        else:
            step = self._work[3, : cols.size]
            np.take(delta, cols, out=step)
            h *= step  # h becomes the change of phi
            if not self.unit[F]:
                step *= vals
            self.q[f, sel] += step
        self._add_to_interaction(sel, h)

    def update_scale(self):
        """Exact/bounded step on the per-task interaction scales."""
        num = self.grad @ self.phi
        den = self.curv @ (self.phi**2)
        delta = self._step(num, den, self.alpha_w, self.scale - 1.0)
        self.scale += delta
        self._add_to_prediction(slice(None), delta[:, None] * self.phi[None, :])
        self._update_row_curvature()

    def epoch(self):
        """One sweep: intercepts, linear weights, factors, scales."""
        self.update_intercept()
        for F in range(self.design.n_fields):
            self.update_linear(F)
            self.update_field_shift(F)
        for f in range(self.factors.shape[1]):
            for F in range(self.design.n_fields):
                self.update_factor(F, f)
        if self.learn_scale:
            self.update_scale()


def initial_parameters(
    n_features, n_tasks, n_components, Y, weight, binary, *, init_stdev, random_state
):
    """Zero weights, per-task base-rate intercepts, N(0, init_stdev²) factors."""
    total = weight.sum(axis=0)
    mean = np.where(
        total > 0,
        (weight * np.nan_to_num(Y)).sum(axis=0) / np.where(total > 0, total, 1.0),
        0.0,
    )
    intercept = mean.copy()
    clipped = np.clip(mean, 1e-6, 1 - 1e-6)
    intercept[binary] = np.log(clipped[binary] / (1 - clipped[binary]))
    factors = random_state.normal(scale=init_stdev, size=(n_features, n_components))
    return (
        intercept,
        np.zeros((n_tasks, n_features)),
        factors,
        np.ones(n_tasks),
    )


def solve_fm(
    design: FMDesign,
    Y: np.ndarray,
    weight: np.ndarray,
    binary: np.ndarray,
    init: tuple,
    *,
    alpha_w: float,
    alpha_v: float,
    n_iter: int,
    tol: float,
    learn_scale: bool,
    field_block: bool = True,
    verbose: int = 0,
) -> FMResult:
    """Run coordinate-descent epochs until the objective stalls.

    With ``field_block`` (the default), consecutive fields that share no
    row are first merged into one block (see :meth:`FMDesign.merged_disjoint`);
    otherwise every feature is updated on its own (the reference solver).
    Stops when the relative decrease of the objective over one epoch is at
    most ``tol`` (``converged=True``) or after ``n_iter`` epochs (always when
    ``tol=0``).
    """
    design = design.merged_disjoint() if field_block else design.one_feature_fields()
    state = FMCoordinateDescent(
        design, Y, weight, binary, *init,
        alpha_w=alpha_w, alpha_v=alpha_v, learn_scale=learn_scale,
    )  # fmt: skip
    history = [state.objective()]
    converged = False
    it = 0
    for it in range(1, n_iter + 1):
        state.epoch()
        if it % 10 == 0:
            state.refresh()  # bound the drift of the incremental caches
        history.append(state.objective())
        if verbose:
            print(f"[FM] epoch {it:4d}  objective {history[-1]:.6e}")
        if tol > 0 and abs(history[-2] - history[-1]) <= tol * abs(history[-2]):
            converged = True
            break
    return FMResult(
        state.intercept,
        state.coef,
        state.factors,
        state.scale,
        it,
        history,
        converged,
    )
