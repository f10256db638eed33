r"""Bayesian (multi-task) factorization machines by Gibbs sampling.

The model of task :math:`t` on a design row :math:`z` is the one of
:mod:`.coordinate_descent`,

.. math::

    \hat y_t(z) = b_t + \sum_j w_{tj} z_j
                + s_t \sum_{j < l} \langle v_j, v_l \rangle z_j z_l ,

with Gaussian noise :math:`y_{it} \sim N(\hat y_t(z_i), 1/(a_{it}\tau_t))`
for a regression task (:math:`a_{it}` the sample weight, :math:`\tau_t` the
task's noise precision) and the probit link :math:`P(y_{it} = 1) =
\Phi(\hat y_t(z_i))` for a binary one, sampled through Albert & Chib's
latent :math:`u_{it} \sim N(\hat y_t(z_i), 1)` truncated to the side of the
label (so :math:`\tau_t = 1` there).

Priors (Freudenthaler, Schmidt-Thieme & Rendle 2011; libFM's MCMC): every
parameter is Gaussian with a mean and a precision shared by its *group*
(the design columns of one categorical input column; all one-column numeric
fields together), per task for the linear weights and per factor dimension
for :math:`V`; each (mean, precision) pair has a Normal–Gamma hyperprior
(:math:`\mu_0 = 0`, :math:`\gamma_0 = 1`, :math:`\alpha_\lambda =
\beta_\lambda = 1`); :math:`\tau_t \sim \mathrm{Gamma}(1, 1)`
(shape–rate, halved as in libFM); :math:`b_t \sim N(0, 1/\lambda_b)` with a
fixed small :math:`\lambda_b`; :math:`s_t \sim N(1, 1)` when several tasks
share the factors.

Every parameter enters :math:`\hat y` linearly when the others are fixed, so
its conditional posterior is Gaussian with the precision :math:`\lambda +
\sum a \tau h^2` and the mean of the exact coordinate step of the ALS solver
(here with the prior mean). The coordinates :math:`v_{lf}` of a one-hot field
touch disjoint rows, so they are conditionally independent and drawn at once
with ``np.bincount``: a sweep costs :math:`O(\mathrm{nnz}\,(k + T))`, one
more normal draw per block than an ALS epoch.
"""

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from scipy.special import log_ndtr, logit, ndtr, ndtri, ndtri_exp

from .design import FMDesign, squared_csr
from .model import fm_parts
from .relational import (
    block_curvature,
    entity_blocks,
    linear_sums,
    sample_factor_block,
    sample_linear_block,
)

PRIOR_INTERCEPT_PRECISION = 1e-2  # b_t ~ N(0, 100): nearly flat
HYPER_SHAPE = 1.0  # alpha_lambda
HYPER_RATE = 1.0  # beta_lambda
HYPER_MEAN_PRECISION = 1.0  # gamma_0
NOISE_SHAPE = 1.0  # alpha_0 of the noise precision
NOISE_RATE = 1.0  # beta_0
SCALE_PRIOR_PRECISION = 1.0  # s_t ~ N(1, 1)
MIN_SHARED_ROWS = 30  # co-labelled rows needed to estimate a noise correlation
MAX_CORRELATION = 0.95
_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)
MIN_CLASS_ROWS = 10  # rows of each class needed for a biserial correlation
REFRESH_ROWS = 1 << 16  # rows per chunk of the sampler's row-chunked steps
_DEEP_TAIL = -35.0  # below it Phi(c) is subnormal: truncated draws in log space


@dataclass
class FMPosterior:
    """Kept Gibbs samples of a (multi-task) FM and their posterior means.

    ``intercept`` (S, T), ``coef`` (S, T, p), ``factors`` (S, p, k) and
    ``scale`` (S, T) hold the ``S`` kept samples; ``noise_precision`` (T,) is
    the posterior mean of every task's noise precision (1 for binary tasks);
    ``n_iter`` is the number of sweeps run; ``noise_correlation`` (T, T) the
    mean over kept samples of the tasks' noise correlation.
    """

    intercept: np.ndarray
    coef: np.ndarray
    factors: np.ndarray
    scale: np.ndarray
    noise_precision: np.ndarray
    n_iter: int
    noise_correlation: np.ndarray = None


def sample_truncated_normal(mean, positive, random_state, sd=None):
    """Draw ``u ~ N(mean, sd^2)`` truncated to ``u > 0`` (positive) or ``u <= 0``.

    Inverse-CDF sampling (``ndtri(U ndtr(c))``, in log space with
    ``log_ndtr``/``ndtri_exp`` in the deep tail), exact and finite for any
    ``mean``: a standard normal ``x`` truncated to ``x < c``
    is ``ndtri_exp(log U + log_ndtr(c))``; ``u > 0`` is ``-x`` with ``c = mean``,
    ``u <= 0`` is ``x`` with ``c = -mean``, each shifted by ``mean``.
    """
    sign = np.where(positive, -1.0, 1.0)
    unit = 1.0 if sd is None else sd
    bound = -sign * mean / unit  # c
    u = random_state.uniform(size=mean.shape)
    # ndtri(U Phi(c)) where Phi(c) is a normal double (twice as fast), the same
    # in log space below it
    x = ndtri(u * ndtr(bound))
    deep = bound < _DEEP_TAIL
    if deep.any():
        x[deep] = ndtri_exp(np.minimum(np.log(u[deep]) + log_ndtr(bound[deep]), 0.0))
    return mean + sign * unit * x


class _GatheredRows:
    """``table[:, codes]`` (T, n) read by ``[t]`` or ``[t, rows]``, not stored.

    The diagonal of the rows' precision matrices when every weight is 1: a
    row's comes from its labelling pattern (a byte), so the (T, n) array is
    gathered where it is read (contiguous, the same values) instead of kept
    for the life of the chain. Only the correlated-noise path reads it, and
    only so.
    """

    def __init__(self, table, codes):
        self.table, self.codes = table, codes

    def __getitem__(self, key):
        t, rows = key if isinstance(key, tuple) else (key, slice(None))
        return self.table[t][self.codes[rows]]  # np.take casts the bytes slowly


def _field_groups(design: FMDesign) -> np.ndarray:
    """Hyperprior group of every field: one per multi-column field, one for the rest."""
    widths = np.diff(design.offsets)
    groups = np.zeros(design.n_fields, dtype=np.int64)
    next_group = 1
    for F in range(design.n_fields):
        if widths[F] > 1:
            groups[F] = next_group
            next_group += 1
    if not np.any(widths == 1):  # no numeric group: renumber from 0
        groups -= 1
    return groups


class FMGibbsSampler:
    """State of the Gibbs sampler; one method per block of parameters.

    Parameters
    ----------
    design : FMDesign
        Fields merged where row-disjoint (see ``FMDesign.merged_disjoint``).
    Y : ndarray (n_samples, n_tasks)
        Labels (0/1 for binary tasks), any value where unlabelled.
    weight : ndarray (n_samples, n_tasks)
        Sample weight times the label mask; or the bool label mask itself
        (unit weights, kept as it is: a byte per row and task).
    binary : ndarray of bool (n_tasks,)
    factors : ndarray (n_features, n_components)
        Starting factors (copied); weights and intercepts start at 0.
    learn_scale : bool
        Whether the interaction scales :math:`s_t` are sampled (several tasks).
    random_state : RandomState
    relational : bool, default=True
        Draw the fields of an entity block (a key field such as the user id,
        with the side fields constant within each of its categories; see
        :mod:`.relational`) from per-entity sums. False draws every field
        from per-row sums (the reference); both scan the fields in the same
        order (blocks first, key first) and draw the same chain.

    Notes
    -----
    Row caches are task-major: ``target`` (the labels, or the latent
    utilities of binary tasks), ``resid`` = prediction minus target, the
    precision weights ``prec = a tau``; ``q`` (k, n) the factor sums and
    ``phi`` (n,) the interaction. With correlated noise, a row's unweighted
    precision matrix ``Q`` depends only on which tasks it has labels for (its
    pattern): ``Q`` is a (T, T, n_patterns) table and ``pattern_of_row`` (n,)
    the smallest integer type (one byte for up to 8 tasks); the weighted ``P``
    is materialised (T, T, n) only when some weight is not 1, else ``P`` is
    None and read from the table (:meth:`precision`). In the factor
    phase only the combined gradient ``g = sum_t s_t prec_t resid_t`` and
    curvature ``c = sum_t s_t^2 prec_t`` per row are needed: a change of
    ``phi`` moves ``g`` by ``c * dphi``, and the residuals are rebuilt once
    after the phase.
    """

    def __init__(self, design, Y, weight, binary, factors, *, learn_scale,
                 random_state, relational=True):  # fmt: skip
        self.design = design
        self.blocks = entity_blocks(design)
        in_blocks = [F for block in self.blocks for F in block.fields]
        self.row_fields = sorted(set(range(design.n_fields)) - set(in_blocks))
        self.scan = in_blocks + self.row_fields  # the order of the field draws
        self.relational = relational
        self.rng = random_state
        weight = np.asarray(weight)
        if weight.dtype != bool:  # a bool mask: unit weights, kept as one byte
            weight = weight.astype(np.float64, copy=False)
        self.weight = np.ascontiguousarray(weight.T)
        # every labelled row weighs 1: the weighted precisions P are read from
        # the per-pattern table Q (see _update_precision)
        self.unit_weights = weight.dtype == bool or bool(
            np.all((weight == 0.0) | (weight == 1.0))
        )
        labels = np.ascontiguousarray(np.where(weight > 0, np.nan_to_num(Y), 0).T)
        self.positive = labels > 0.5  # (T, n) the side of a binary task's label
        self.labelled = [np.flatnonzero(w > 0) for w in self.weight]
        # every row labelled: a slice (views, not gathers)
        self.labelled = [slice(None) if r.size == w.size else r
                         for r, w in zip(self.labelled, self.weight)]  # fmt: skip
        self.binary = np.asarray(binary, dtype=bool)
        self.learn_scale = learn_scale
        n_tasks, n = self.weight.shape
        p, k = factors.shape
        self.n_components = k
        self.intercept = np.zeros(n_tasks)
        self.coef = np.zeros((n_tasks, p))
        self.factors = np.array(factors, dtype=np.float64)
        self.scale = np.ones(n_tasks)
        self.noise_precision = np.ones(n_tasks)
        self.selectors = [slice(None) if r.size == n else r for r in design.rows]
        self.unit = [bool(np.all(v == 1.0)) for v in design.vals]
        self.groups = _field_groups(design)
        n_groups = int(self.groups.max()) + 1 if design.n_fields else 0
        self.group_of_feature = np.repeat(self.groups, np.diff(design.offsets))
        self.coef_mean = np.zeros((n_groups, n_tasks))
        self.coef_precision = np.ones((n_groups, n_tasks))
        self.factor_mean = np.zeros((n_groups, k))
        self.factor_precision = np.ones((n_groups, k))
        # binary targets start at the side of their label
        self.target = np.where(self.binary[:, None], 2.0 * labels - 1.0, labels)
        del labels
        # tasks labelled together on enough rows get a noise correlation
        mask = self.weight > 0
        self.pairs = [
            (t, u, slice(None) if both.all() else np.flatnonzero(both))
            for t in range(n_tasks)
            for u in range(t + 1, n_tasks)
            if np.count_nonzero(both := mask[t] & mask[u]) >= MIN_SHARED_ROWS
        ]
        self.correlated = bool(self.pairs)
        self.noise_correlation = np.eye(n_tasks)
        if self.correlated:
            codes = (mask.T * (1 << np.arange(n_tasks))).sum(axis=1)
            self.patterns, inverse = np.unique(codes, return_inverse=True)
            self.pattern_of_row = inverse.astype(
                np.min_scalar_type(self.patterns.size - 1)
            )
            del codes, inverse
        self.refresh()

    # caches ---------------------------------------------------------------
    def refresh(self):
        """Recompute ``q``, ``phi``, the linear part and the residuals.

        Row chunk by row chunk (:meth:`FMDesign.row_chunks`), into the caches
        in place: the products need a few bytes per row beyond the caches, and
        no CSR copy of the design is kept. Each row's values are the ones of
        :func:`fm_parts` on the whole design, to the bit.
        """
        n_tasks, n = self.weight.shape
        if getattr(self, "q", None) is None:
            self.q = np.empty((self.n_components, n))
            self.phi = np.empty(n)
            self.linear = np.empty((n_tasks, n))
        for start, stop, Z in self.design.row_chunks(REFRESH_ROWS):
            linear, q, phi = fm_parts(Z, self.coef, self.factors, squared_csr(Z))
            self.q[:, start:stop] = q.T
            self.phi[start:stop] = phi
            self.linear[:, start:stop] = linear.T + self.intercept[:, None]
        self._rebuild_residuals(precision=True)

    def _rebuild_residuals(self, precision=False):
        """Residuals from the caches; ``pr`` with them (and ``P`` if ``precision``).

        The precision matrices change only with the noise (``sample_noise``,
        or a chain started from another state, see ``refresh``).
        """
        # pred - target, pred = linear + s phi, in place (no (T, n) temporaries)
        resid = getattr(self, "resid", None)
        if resid is None:
            resid = np.empty_like(self.target)
        np.multiply(self.scale[:, None], self.phi[None, :], out=resid)
        resid += self.linear
        resid -= self.target
        self.resid = resid
        if precision:
            self._update_precision()
        else:
            self._weigh_residuals()

    def _update_precision(self):
        """Per-row noise precision ``P`` and the weighted residuals ``pr = P r``.

        Uncorrelated noise: ``P`` is diagonal, ``a_t tau_t``. Correlated noise
        (tasks sharing labelled rows): ``P_i = A_i^(1/2) (Sigma_LL)^-1
        A_i^(1/2)`` over the tasks ``L`` labelled on row ``i``, with ``Sigma =
        D R D``, ``D = diag(tau^-1/2)`` and ``R`` the noise correlation.
        """
        if not self.correlated:
            self.pdiag = self.weight * self.noise_precision[:, None]
            self._weigh_residuals()
            return
        n_tasks = self.weight.shape[0]
        sd = 1.0 / np.sqrt(self.noise_precision)
        cov = self.noise_correlation * np.outer(sd, sd)
        per_pattern = np.zeros((self.patterns.size, n_tasks, n_tasks))
        for j, code in enumerate(self.patterns):
            tasks = np.flatnonzero((code >> np.arange(n_tasks)) & 1)
            if tasks.size:
                per_pattern[j][np.ix_(tasks, tasks)] = np.linalg.inv(
                    cov[np.ix_(tasks, tasks)]
                )
        # task-major (T, T, n_patterns): a row's Q is column pattern_of_row
        self.Q = np.ascontiguousarray(per_pattern.transpose(1, 2, 0))
        diagonal = np.arange(n_tasks)
        if self.unit_weights:  # P = Q * 1 * 1 (Q is 0 where a task has no label)
            self.P = None
            self.pdiag = _GatheredRows(self.Q[diagonal, diagonal], self.pattern_of_row)
        else:
            root = np.sqrt(self.weight)  # (T, n)
            self.P = np.take(self.Q, self.pattern_of_row, axis=2)
            self.P *= root[:, None, :]
            self.P *= root[None, :, :]
            self.pdiag = np.ascontiguousarray(self.P[diagonal, diagonal])
        self._weigh_residuals()

    def precision(self, a, t, rows=slice(None)):
        """Entries ``P[a, t, rows]`` of the rows' weighted precision matrices.

        ``a``: a task (int) or ``slice(None)``; ``t``: a task (int). Gathered from the
        per-pattern table ``Q`` when every weight is 1 (a copy), else from
        the materialised ``P``.
        """
        if self.P is not None:
            return self.P[a, t, rows]
        codes = self.pattern_of_row[rows]
        if isinstance(a, slice):
            return np.take(self.Q[a, t], codes, axis=-1)  # (T, rows), C order
        return self.Q[a, t][codes]  # fancy indexing: np.take casts the bytes slowly

    def _curvature_rows(self, s):
        """``c_i = s' P_i s`` of every row (elementwise, task pair by pair).

        From the per-pattern table when every weight is 1, then gathered: the
        same arithmetic on the same values, so the same bits as on ``P``.
        """
        P = self.Q if self.P is None else self.P
        c = np.zeros(P.shape[2])
        for a in range(s.size):
            for b in range(s.size):
                c += (s[a] * s[b]) * P[a, b]
        return c if self.P is not None else c[self.pattern_of_row]

    def _weigh_residuals(self):
        """``pr = P r`` of every row, in place (row chunks with correlated noise)."""
        pr = getattr(self, "pr", None)
        if pr is None:
            pr = self.pr = np.empty_like(self.resid)
        if not self.correlated:
            np.multiply(self.pdiag, self.resid, out=pr)
            return
        everything = slice(None)
        for start in range(0, pr.shape[1], REFRESH_ROWS):
            rows = slice(start, start + REFRESH_ROWS)
            part = self.precision(everything, 0, rows) * self.resid[0, rows]
            for u in range(1, self.resid.shape[0]):
                part += self.precision(everything, u, rows) * self.resid[u, rows]
            pr[:, rows] = part

    def _shift(self, t, rows, change):
        """Add ``change`` to task ``t``'s residuals at ``rows``, keeping ``pr``."""
        self.resid[t, rows] += change
        if self.correlated:
            self.pr[:, rows] += self.precision(slice(None), t, rows) * change
        else:
            self.pr[t, rows] += self.pdiag[t, rows] * change

    # draws ----------------------------------------------------------------
    def _draw(self, num, den, prior_precision, prior_mean, theta):
        """Draw from the Gaussian conditional; return the change of ``theta``."""
        precision = den + prior_precision
        mean_step = -(num + prior_precision * (theta - prior_mean)) / precision
        noise = self.rng.standard_normal(np.shape(theta)) / np.sqrt(precision)
        return mean_step + noise

    def _draw_coef(self, F, t, num, den):
        """Draw task ``t``'s weights of field ``F``; apply and return the change."""
        lo, hi = self.design.offsets[F], self.design.offsets[F + 1]
        g = self.groups[F]
        delta = self._draw(
            num, den, self.coef_precision[g, t], self.coef_mean[g, t],
            self.coef[t, lo:hi],
        )  # fmt: skip
        self.coef[t, lo:hi] += delta
        return delta

    def _draw_factor(self, F, f, num, den):
        """Draw factor ``f`` of field ``F``; apply and return the change."""
        lo, hi = self.design.offsets[F], self.design.offsets[F + 1]
        g = self.groups[F]
        delta = self._draw(
            num, den, self.factor_precision[g, f], self.factor_mean[g, f],
            self.factors[lo:hi, f],
        )  # fmt: skip
        self.factors[lo:hi, f] += delta
        return delta

    def sample_latent(self):
        """Albert–Chib step: latent utilities of the binary tasks' labelled rows.

        With correlated noise a row's latent is drawn given the other tasks'
        residuals on that row (conditional mean and variance from ``Q``).
        Rows are drawn in chunks of ``REFRESH_ROWS`` (the temporaries stay
        small); the uniform draws are consecutive, so any chunk size gives the
        same chain.
        """
        n = self.weight.shape[1]
        for t in np.flatnonzero(self.binary):
            labelled = self.labelled[t]
            size = n if isinstance(labelled, slice) else labelled.size
            for start in range(0, size, REFRESH_ROWS):
                stop = min(start + REFRESH_ROWS, size)
                if isinstance(labelled, slice):
                    r = slice(start, stop)
                else:
                    r = labelled[start:stop]
                self._sample_latent_rows(t, r)

    def _sample_latent_rows(self, t, r):
        """:meth:`sample_latent` of binary task ``t`` on rows ``r``."""
        pred = self.resid[t, r] + self.target[t, r]
        mean, sd = pred, None
        if self.correlated:
            Q = self.Q[t][:, self.pattern_of_row[r]]  # (T, rows), as it always was
            qtt = Q[t]
            others = np.einsum("un,un->n", Q, self.resid[:, r])
            others -= qtt * self.resid[t, r]
            mean = pred + others / qtt
            sd = 1.0 / np.sqrt(qtt)
        u = sample_truncated_normal(mean, self.positive[t, r], self.rng, sd)
        self._shift(t, r, (pred - u) - self.resid[t, r])
        self.target[t, r] = u

    def sample_intercept(self):
        """Every task's intercept (one after the other when noise is correlated)."""
        if not self.correlated:
            num, den = self.pr.sum(axis=1), self.pdiag.sum(axis=1)
            delta = self._draw(num, den, PRIOR_INTERCEPT_PRECISION, 0.0, self.intercept)
            self.intercept += delta
            self.linear += delta[:, None]
            self.resid += delta[:, None]
            self.pr += self.pdiag * delta[:, None]
            return
        everything = slice(None)
        for t in range(self.intercept.size):
            delta = self._draw(
                self.pr[t].sum(), self.pdiag[t].sum(), PRIOR_INTERCEPT_PRECISION,
                0.0, self.intercept[t],
            )  # fmt: skip
            self.intercept[t] += delta
            self.linear[t] += delta
            self._shift(t, everything, delta)

    def sample_linear(self, F: int):
        """Draw the linear weights of field ``F``, every task."""
        d = self.design
        sel, cols, vals = self.selectors[F], d.cols[F], d.vals[F]
        width = d.offsets[F + 1] - d.offsets[F]
        for t in range(self.coef.shape[0]):
            num, den = linear_sums(
                cols, vals, self.unit[F], width, self.pr[t, sel], self.pdiag[t, sel]
            )
            delta = self._draw_coef(F, t, num, den)
            change = delta[cols] if self.unit[F] else delta[cols] * vals
            self.linear[t, sel] += change
            self._shift(t, sel, change)

    def sample_factors(self):
        """Every block ``V[field F, f]``, factor by factor."""
        s = self.scale
        g_row = s @ self.pr
        if self.correlated:
            c_row = self._curvature_rows(s)
        else:
            c_row = (s * s) @ self.pdiag
        blocks = self.blocks if self.relational else []
        fields = self.row_fields if self.relational else self.scan
        curvature = [block_curvature(block, c_row) for block in blocks]
        for f in range(self.n_components):
            for block, C in zip(blocks, curvature):
                sample_factor_block(self, block, f, g_row, c_row, C)
            for F in fields:
                self._sample_factor_field(F, f, g_row, c_row)
        self._rebuild_residuals()

    def _sample_factor_field(self, F, f, g_row, c_row):
        """Draw ``V[field F, f]`` from per-row sums; update ``q``, ``phi``, ``g``."""
        d = self.design
        q = self.q[f]
        sel, cols, vals = self.selectors[F], d.cols[F], d.vals[F]
        lo, hi = d.offsets[F], d.offsets[F + 1]
        if cols.size == 0:
            return
        v = self.factors[lo:hi, f]
        single = hi - lo == 1  # a numeric or indicator column
        x_v = v[0] if single else v[cols]
        if self.unit[F]:
            h = q[sel] - x_v
        else:
            h = (q[sel] - x_v * vals) * vals
        gs, cs = g_row[sel], c_row[sel]
        if single:  # dot products, no one-bin bincount
            num = np.array([gs @ h])
            den = np.array([cs @ (h * h)])
        else:
            num = np.bincount(cols, gs * h, hi - lo)
            den = np.bincount(cols, cs * h * h, hi - lo)
        delta = self._draw_factor(F, f, num, den)
        step = delta[0] if single else delta[cols]
        dphi = step * h
        q[sel] += step if self.unit[F] else step * vals
        self.phi[sel] += dphi
        g_row[sel] += cs * dphi

    def sample_scale(self):
        """Every task's interaction scale (several tasks only)."""
        phi = self.phi
        phi2 = phi * phi
        if not self.correlated:
            delta = self._draw(
                self.pr @ phi, self.pdiag @ phi2, SCALE_PRIOR_PRECISION, 1.0,
                self.scale,
            )  # fmt: skip
            self.scale += delta
            self.resid += delta[:, None] * phi[None, :]
            self.pr += self.pdiag * (delta[:, None] * phi[None, :])
            return
        everything = slice(None)
        for t in range(self.scale.size):
            delta = self._draw(
                self.pr[t] @ phi, self.pdiag[t] @ phi2, SCALE_PRIOR_PRECISION, 1.0,
                self.scale[t],
            )  # fmt: skip
            self.scale[t] += delta
            self._shift(t, everything, delta * phi)

    def sample_hyperparameters(self):
        """Group means and precisions of ``w`` (per task) and ``V`` (per factor)."""
        gof = self.group_of_feature
        n_groups = self.coef_mean.shape[0]
        if n_groups == 0:
            return
        count = np.bincount(gof, minlength=n_groups).astype(float)
        for values, mean, precision in (
            (self.coef.T, self.coef_mean, self.coef_precision),
            (self.factors, self.factor_mean, self.factor_precision),
        ):
            sums = np.zeros((n_groups, values.shape[1]))
            sq = np.zeros((n_groups, values.shape[1]))
            np.add.at(sums, gof, values)
            np.add.at(sq, gof, (values - mean[gof]) ** 2)
            shape = 0.5 * (HYPER_SHAPE + count + 1.0)[:, None]
            rate = 0.5 * (HYPER_RATE + HYPER_MEAN_PRECISION * mean**2 + sq)
            precision[...] = self.rng.gamma(shape, 1.0 / rate)
            post = count[:, None] + HYPER_MEAN_PRECISION
            mean[...] = sums / post + self.rng.standard_normal(mean.shape) / np.sqrt(
                post * precision
            )

    def sample_noise(self):
        """Noise precision of every regression task (binary tasks keep 1).

        Each task's precision is drawn from its marginal residuals; when tasks
        share labelled rows, their noise correlation is then re-estimated from
        the standardised residuals on those rows (a plug-in step).
        """
        for t in np.flatnonzero(~self.binary):
            r = self.labelled[t]
            w = self.weight[t, r]
            shape = 0.5 * (NOISE_SHAPE + w.sum())
            rate = 0.5 * (NOISE_RATE + float(w @ self.resid[t, r] ** 2))
            self.noise_precision[t] = self.rng.gamma(shape, 1.0 / rate)
        if self.correlated:
            self.noise_correlation = self._residual_correlation()
        self._update_precision()

    def _residual_correlation(self):
        """Noise correlation of every pair of tasks sharing labelled rows.

        Two regression tasks: the correlation of their standardised residuals.
        A regression and a binary task: the biserial maximum-likelihood
        estimate, from the observed residuals and the binary labels (never
        from the latents, which are drawn given the correlation itself), and
        0 when the binary labels on the shared rows are (nearly) all one
        class, which carries no information on it (a funnel: a rating is only
        observed after a click). Two binary tasks: 0.
        """
        root = np.sqrt(self.noise_precision)

        def z(t, rows):  # standardised residuals, on the pair's rows only
            return self.resid[t, rows] * root[t]

        R = np.eye(self.resid.shape[0])
        for t, u, rows in self.pairs:
            if self.binary[t] and self.binary[u]:
                continue
            if not (self.binary[t] or self.binary[u]):
                a, b = z(t, rows), z(u, rows)
                rho = float(a @ b) / max(np.sqrt(float(a @ a) * float(b @ b)), 1e-12)
            else:
                b, r = (t, u) if self.binary[t] else (u, t)
                rho = self._biserial(b, r, rows, -z(r, rows))
            R[t, u] = R[u, t] = np.clip(rho, -MAX_CORRELATION, MAX_CORRELATION)
        values, vectors = np.linalg.eigh(R)
        if values.min() < 1e-3:  # project onto positive-definite correlations
            R = (vectors * np.maximum(values, 1e-3)) @ vectors.T
            d = np.sqrt(np.diag(R))
            R = R / np.outer(d, d)
        return R

    def _biserial(self, b, r, rows, noise):
        """Maximum-likelihood correlation of a probit latent and a Gaussian noise.

        With ``noise`` the regression task's standardised noise ``z`` and the
        probit latent's noise ``rho z + sqrt(1 - rho^2) eta``, ``P(y_b = 1) =
        Phi((yhat_b + rho z) / sqrt(1 - rho^2))``; maximised over ``rho`` by
        safeguarded Newton steps from the previous sweep's estimate (the chain
        moves little between sweeps: one to three steps), falling back to a
        bounded scalar search when Newton does not settle.
        """
        labels = self.positive[b, rows]
        if min(labels.sum(), (~labels).sum()) < MIN_CLASS_ROWS:
            return 0.0
        pred = self.resid[b, rows] + self.target[b, rows]
        sign = np.where(labels, 1.0, -1.0)
        start = float(self.noise_correlation[b, r])
        rho = biserial_newton(sign * pred, sign * noise, start)
        if rho is not None:
            return rho

        def negative_log_likelihood(rho):
            scaled = (pred + rho * noise) / np.sqrt(1.0 - rho * rho)
            return -float(log_ndtr(sign * scaled).sum())

        result = minimize_scalar(
            negative_log_likelihood,
            bounds=(-MAX_CORRELATION, MAX_CORRELATION),
            method="bounded",
            options={"xatol": 1e-3},
        )
        return float(result.x)

    def sweep(self):
        """One Gibbs sweep over every block."""
        self.sample_latent()
        self.sample_hyperparameters()
        self.sample_intercept()
        if self.relational:
            for block in self.blocks:
                sample_linear_block(self, block)
        for F in self.row_fields if self.relational else self.scan:
            self.sample_linear(F)
        self.sample_factors()
        if self.learn_scale:
            self.sample_scale()
        self.sample_noise()


def biserial_newton(a, z, rho, *, tol=1e-4, max_steps=12):
    """Maximise ``sum log Phi((a + rho z) / sqrt(1 - rho^2))`` by Newton steps.

    ``a`` and ``z`` are already multiplied by the label signs. Returns the
    maximiser in ``[-MAX_CORRELATION, MAX_CORRELATION]``, or None when the
    steps do not settle within ``max_steps`` (where the likelihood is not
    concave, a step of 0.1 uphill replaces Newton's).
    With ``x = (a + rho z) c``, ``c = (1 - rho^2)^{-1/2}`` and the inverse Mills
    ratio ``m(x) = phi(x) / Phi(x)``: ``f' = sum m x'``, ``f'' = sum (m' x'^2 +
    m x'')``, ``m' = -m (x + m)``, ``x' = z c + x rho c^2``, ``x'' = 2 z rho
    c^3 + x c^2 (1 + 3 rho^2 c^2)``.
    """
    rho = float(np.clip(rho, -MAX_CORRELATION, MAX_CORRELATION))
    for _ in range(max_steps):
        c2 = 1.0 / (1.0 - rho * rho)
        c = np.sqrt(c2)
        x = (a + rho * z) * c
        mills = np.exp(-0.5 * x * x - _LOG_SQRT_2PI - log_ndtr(x))
        dx = z * c + x * rho * c2
        d2x = 2.0 * z * rho * c2 * c + x * c2 * (1.0 + 3.0 * rho * rho * c2)
        grad = float(mills @ dx)
        if abs(rho) == MAX_CORRELATION and grad * rho > 0:
            return rho  # at the bound, the likelihood still rising past it
        hess = float((-mills * (x + mills)) @ (dx * dx) + mills @ d2x)
        if not np.isfinite(grad):
            return None
        step = -grad / hess if hess < 0 else 0.1 * np.sign(grad)  # uphill if convex
        new = float(np.clip(rho + step, -MAX_CORRELATION, MAX_CORRELATION))
        if abs(new - rho) < tol:
            return new
        rho = new
    return None


def sample_fm(
    design: FMDesign,
    Y: np.ndarray,
    weight: np.ndarray,
    binary: np.ndarray,
    factors: np.ndarray,
    *,
    n_iter: int,
    n_kept_samples: int,
    learn_scale: bool,
    random_state,
    start=None,
    verbose: int = 0,
    relational: bool = True,
    on_sweep=None,
) -> FMPosterior:
    """Run ``n_iter`` Gibbs sweeps and keep the last ``n_kept_samples``.

    ``design`` uses the original field layout; the sampler merges row-disjoint
    fields (the parameters are the same, only the blocks change). ``start``
    (optional) is a ``(intercept, coef, scale, noise_precision)`` tuple the
    chain starts from, with ``factors``. ``relational`` as in
    :class:`FMGibbsSampler`. ``on_sweep(it, state)``, if given, is called
    after every sweep ``it`` (from 0) with the :class:`FMGibbsSampler`, whose
    arrays the next sweep overwrites (copy what you keep).
    """
    merged = design.merged_disjoint()
    state = FMGibbsSampler(
        merged, Y, weight, binary, factors, learn_scale=learn_scale,
        random_state=random_state, relational=relational,
    )  # fmt: skip
    if start is not None:
        state.intercept[:], state.coef[:], state.scale[:] = start[:3]
        state.noise_precision[:] = np.where(state.binary, 1.0, start[3])
        state.refresh()
    n_tasks, p, k = state.weight.shape[0], merged.n_features, factors.shape[1]
    kept = FMPosterior(
        np.empty((n_kept_samples, n_tasks)),
        np.empty((n_kept_samples, n_tasks, p)),
        np.empty((n_kept_samples, p, k)),
        np.empty((n_kept_samples, n_tasks)),
        np.zeros(n_tasks),
        n_iter,
        np.zeros((n_tasks, n_tasks)),
    )
    burn_in = n_iter - n_kept_samples
    started = time.perf_counter()
    for it in range(n_iter):
        state.sweep()
        if (it + 1) % 10 == 0:
            state.refresh()  # bound the drift of the incremental caches
        if it >= burn_in:
            s = it - burn_in
            kept.intercept[s] = state.intercept
            kept.coef[s] = state.coef
            kept.factors[s] = state.factors
            kept.scale[s] = state.scale
            kept.noise_precision += state.noise_precision / n_kept_samples
            kept.noise_correlation += state.noise_correlation / n_kept_samples
        if on_sweep is not None:
            on_sweep(it, state)
        _report(verbose, it, n_iter, burn_in, started, state)
    return kept


def _report(verbose, it, n_iter, burn_in, started, state):
    """Progress of the chain: every sweep (verbose >= 2) or every tenth of them."""
    if not verbose:
        return
    every = 1 if verbose >= 2 else max(1, n_iter // 10)
    if (it + 1) % every and it + 1 != n_iter:
        return
    phase = "burn-in" if it < burn_in else "sampling"
    line = (
        f"[FM mcmc] sweep {it + 1}/{n_iter} ({phase}), "
        f"{time.perf_counter() - started:.1f} s"
    )
    if verbose >= 2:
        precision = np.array2string(state.noise_precision, precision=3)
        line += f", noise precision {precision}"
    print(line, flush=True)


@dataclass
class FlatSamples:
    """Every kept sample's parameters side by side, one row per design column.

    ``coef`` (p, S*T), ``factors`` (p, S*k) and ``norms_sq`` (p, S), each
    column's squared factor norm per sample: the layout one sparse product
    per row chunk evaluates all samples with (the interaction's
    ``sum_j x_j^2 ||v_j||^2`` needs the norms, not each factor). Built once
    per fitted model (:meth:`_BaseFM._flat_samples`), not per ``predict``.
    """

    coef: np.ndarray
    factors: np.ndarray
    norms_sq: np.ndarray

    @classmethod
    def of(cls, coef_samples, factor_samples):
        """Flatten ``coef_samples`` (S, T, p) and ``factor_samples`` (S, p, k)."""
        S, T, p = coef_samples.shape
        k = factor_samples.shape[2]
        coef = np.ascontiguousarray(coef_samples.transpose(2, 0, 1).reshape(p, S * T))
        factors = np.ascontiguousarray(
            factor_samples.transpose(1, 0, 2).reshape(p, S * k)
        )
        return cls(coef, factors, _norms_sq(factors, S))


def _norms_sq(factors, n_samples):
    """Per row and sample, the squared norm of its factors: (p, S*k) -> (p, S)."""
    p = factors.shape[0]
    return (factors**2).reshape(p, n_samples, -1).sum(axis=2)


def posterior_predict(Z, posterior: FMPosterior, binary, *, chunk_rows=None,
                      flat=None, extra=None):  # fmt: skip
    r"""Posterior-mean predictions E[y_t | z] of every row, (n_samples, n_tasks).

    The average over kept samples of :math:`\hat y_t` (regression) or of
    :math:`\Phi(\hat y_t)` (binary). All samples are evaluated with one
    sparse product per row chunk (the samples' parameters side by side:
    ``flat``, a :class:`FlatSamples` of ``posterior``, built if None).
    ``extra`` is an optional ``(Z_extra, FlatSamples)`` of more design
    columns (the group means of unseen categories).
    """
    S, T, p = posterior.coef.shape
    k = posterior.factors.shape[2]
    n = Z.shape[0]
    binary = np.asarray(binary, dtype=bool)
    out = np.empty((n, T))
    if flat is None:
        flat = FlatSamples.of(posterior.coef, posterior.factors)
    blocks = [(Z, flat)] if extra is None else [(Z, flat), extra]
    if chunk_rows is None:
        chunk_rows = max(1, 2_000_000 // max(1, S * (k + T)))
    for start in range(0, n, chunk_rows):
        parts = [(B[start : start + chunk_rows], F) for B, F in blocks]
        m = parts[0][0].shape[0]
        linear = sum(np.asarray(B @ F.coef) for B, F in parts).reshape(m, S, T)
        if k:
            q = sum(np.asarray(B @ F.factors) for B, F in parts).reshape(m, S, k)
            sq = sum(np.asarray(B.multiply(B) @ F.norms_sq) for B, F in parts)
            phi = np.einsum("msk,msk->ms", q, q)
            phi -= sq
            phi *= 0.5  # (m, S)
            pred = linear  # a fresh array: updated in place
            pred += phi[:, :, None] * posterior.scale[None, :, :]
        else:
            pred = linear
        pred += posterior.intercept[None, :, :]
        if binary.any():
            pred[:, :, binary] = ndtr(pred[:, :, binary])
        out[start : start + m] = pred.mean(axis=1)
    return out


def group_mean_columns(n_samples, unseen, offsets, flat):
    """Extra design columns for unseen categories: ``(Z_extra, FlatSamples)``.

    Under the hierarchical prior a category's coefficient and factors are
    drawn around its field's mean, so a category never seen in training is
    predicted with the mean of the field's categories in every sample (one
    extra design column per field with unseen rows, ``unseen``: ``[(field,
    rows)]``). A zero row would mean the prior mean is 0, which it is not: the
    field's mean then drifts with the global bias during sampling, and cold
    rows drift with it. None when every row's categories were seen.
    """
    if not unseen:
        return None
    rows = np.concatenate([r for _, r in unseen])
    cols = np.repeat(np.arange(len(unseen)), [r.size for _, r in unseen])
    extra = sp.csr_matrix(
        (np.ones(rows.size), (rows, cols)), shape=(n_samples, len(unseen))
    )
    coef = np.stack([flat.coef[offsets[F] : offsets[F + 1]].mean(axis=0)
                     for F, _ in unseen])  # fmt: skip
    factors = np.stack([flat.factors[offsets[F] : offsets[F + 1]].mean(axis=0)
                        for F, _ in unseen])  # fmt: skip
    S = flat.norms_sq.shape[1]
    return extra, FlatSamples(coef, factors, _norms_sq(factors, S))


def to_link_scale(mean_prediction, binary):
    """Posterior means on the scale of a score: log-odds for binary tasks."""
    out = np.array(mean_prediction, dtype=np.float64)
    binary = np.asarray(binary, dtype=bool)
    if binary.any():
        out[:, binary] = logit(np.clip(out[:, binary], 1e-12, 1 - 1e-12))
    return out


__all__ = [
    "FMGibbsSampler",
    "FlatSamples",
    "group_mean_columns",
    "FMPosterior",
    "posterior_predict",
    "sample_fm",
    "sample_truncated_normal",
    "to_link_scale",
]
