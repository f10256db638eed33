r"""Updating a fitted factorization machine on new rows, without a refit.

The FM analogue of ALS's ``fold_in`` (used by ``update`` on every FM
estimator). Everything the new rows touch is re-estimated by *block
coordinate* steps on the new rows only, each block starting from a Gaussian
prior that stands for what the model already knows:

* the intercept :math:`b` (one block, the "global" parameters of the
  update; the interaction scales :math:`s_t` and the Gibbs sampler's noise
  precisions stay fixed);
* every design column :math:`j` with a non-zero in a labelled new row: the
  block :math:`\theta_j = (w_{1j}, \dots, w_{Tj}, v_j) \in \mathbb{R}^{T+k}`.
  The columns of one field (one input column) touch disjoint rows, so they
  are solved at once, as in ``fit``.

With the other blocks fixed the prediction is linear in a block, so its
step is the Newton step of

.. math::

    \tfrac12 (\theta - \mu)^\top P (\theta - \mu)
    + \sum_{i \in \text{new}} \sum_t a_{it}\, \ell_t(y_{it}, \hat y_t(z_i)),

exact (the conditional solution) for a regression task. The prior
:math:`(\mu, P)` (``P`` diagonal) is

* for a **new** category (a user or item first seen in the update): its
  field's prior, as in ``fit``: the Gibbs sampler's hierarchical prior, the
  mean and precision of the field's categories in the sample; the ALS
  solver's penalty (mean 0, precision :math:`\alpha\, n_{\text{eff}}`), so
  that with the rest fixed the update returns exactly the minimiser of the
  fit objective in the new column;
* for a **known** column: its current value, with the precision of what the
  model learnt from the training rows, stored by ``fit`` (and increased by
  every update): for the Gibbs sampler the conditional precision of each
  coordinate at the posterior mean (the hierarchical prior's precision plus
  :math:`\sum_i a_i \tau_t h_i^2`, what a Gibbs sweep draws with), for the
  ALS solver the diagonal of the fit objective's Hessian (the Laplace
  approximation). A known user's factors thus move by what the new rows add
  to their whole history (assumed-density filtering, Opper 1998), without
  the history itself. (The spread over the kept samples is no substitute:
  factors are identified only up to a rotation, so that spread is inflated,
  and on MovieLens updates with it made the model worse, RMSE 1.0044 to
  1.0131; with the conditional precision 1.0044 to 0.9999, refit 0.9993.)

Blocks are swept ``n_sweeps`` times (intercept, then the fields in design
order). A Gibbs-fitted model updates every kept sample this way, each with
the other parameters of that sample, so its predictions stay posterior
averages. Losses: squared error times the noise precision (regression),
probit (binary, Gibbs sampler) or logistic (binary, ALS solver), as in fit.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, log_ndtr

from ..._compat import FittedOverlay
from ..._ids import conform_ids
from ..._targets import (
    TASK_KINDS,
    check_label_size,
    check_targets,
    check_task_sample_weight,
)
from .design import FMDesign, build_design, category_indexes
from .model import fm_parts

_MIN_VARIANCE = 1e-8  # a posterior spread below this is taken as this
_ENTRY_CHUNK = 20_000  # design entries per block of the normal equations
_LAPLACE_ROWS = 1 << 14  # design rows per chunk of laplace_precision


@dataclass
class FMParams:
    """One set of FM parameters (a Gibbs sample or the point estimate)."""

    intercept: np.ndarray  # (T,)
    coef: np.ndarray  # (T, p)
    factors: np.ndarray  # (p, k)
    scale: np.ndarray  # (T,)


@dataclass
class FMPrior:
    """Diagonal Gaussian prior of every block: means and precisions."""

    intercept_mean: np.ndarray  # (T,)
    intercept_precision: np.ndarray  # (T,)
    coef_mean: np.ndarray  # (T, p)
    coef_precision: np.ndarray  # (T, p)
    factor_mean: np.ndarray  # (p, k)
    factor_precision: np.ndarray  # (p, k)


# --------------------------------------------------------------------------
# growing the encoding


def grow_categories(X, categories, names, keep, column):
    """Return the categories with the new values of ``X`` appended per field.

    ``keep`` (bool, n_samples) marks the rows whose categories are learnt
    (labelled with a positive weight, as in fit); ``column(X, j)`` reads a
    column. Returns ``(categories, added)``: the new lists and, per field, the
    number of categories appended (sorted when sortable, as fit sorts them;
    missing values are no category).
    """
    grown, added = [], []
    for j, cats in enumerate(categories):
        if cats is None:
            grown.append(None)
            added.append(0)
            continue
        values = column(X, j)
        if isinstance(values, pd.Series):
            values = values.to_numpy(dtype=object)
        values = np.asarray(values, dtype=object)[keep]
        if len(cats):  # ids of another type: converted as in transform
            values = conform_ids(values, np.asarray(cats, dtype=object), names[j])
        observed = pd.Index(pd.Series(values, dtype=object).dropna().unique())
        fresh = observed.difference(pd.Index(cats, dtype=object), sort=False).tolist()
        try:
            fresh = sorted(fresh)
        except TypeError:
            pass
        grown.append(list(cats) + fresh)
        added.append(len(fresh))
    return grown, added


def column_positions(old_offsets, added):
    """Return the new offsets and where each old design column moves to."""
    widths = np.diff(old_offsets) + np.asarray(added, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
    moved = np.concatenate(
        [
            offsets[F] + np.arange(old_offsets[F + 1] - old_offsets[F])
            for F in range(len(added))
        ]
        or [np.zeros(0, dtype=np.int64)]
    ).astype(np.int64)
    return offsets, moved


def widen(values, moved, n_features, axis):
    """Return ``values`` with zeros inserted for new design columns on ``axis``."""
    shape = list(values.shape)
    shape[axis] = n_features
    out = np.zeros(shape)
    index = [slice(None)] * values.ndim
    index[axis] = moved
    out[tuple(index)] = values
    return out


# --------------------------------------------------------------------------
# losses


def loss_derivatives(pred, Y, weight, binary, link, noise):
    """Weighted first and second derivatives of the loss in the prediction.

    Arrays are (n, T); ``link`` is ``"probit"`` or ``"logit"`` for the binary
    tasks; ``noise`` (T,) the noise precision of regression tasks.
    """
    d = np.zeros_like(pred)
    c = np.zeros_like(pred)
    for t in range(pred.shape[1]):
        m, y = pred[:, t], Y[:, t]
        if not binary[t]:
            d[:, t] = noise[t] * (m - y)
            c[:, t] = noise[t]
        elif link == "logit":
            p = expit(m)
            d[:, t] = p - y
            c[:, t] = p * (1.0 - p)
        else:  # probit: -log Phi(s m), s = +-1
            sign = np.where(y > 0.5, 1.0, -1.0)
            ratio = np.exp(-0.5 * m * m - 0.5 * np.log(2 * np.pi) - log_ndtr(sign * m))
            d[:, t] = -sign * ratio
            c[:, t] = ratio * (ratio + sign * m)
    return d * weight, c * weight


# --------------------------------------------------------------------------
# block steps


def _predict(Z, params):
    """Predictions (n, T) and factor sums ``q`` (n, k) of ``params`` on ``Z``."""
    linear, q, phi = fm_parts(Z, params.coef, params.factors)
    return params.intercept[None, :] + linear + phi[:, None] * params.scale[None, :], q


def _intercept_step(state, Y, weight, binary, params, prior, link, noise):
    pred = state[0]
    d, c = loss_derivatives(pred, Y, weight, binary, link, noise)
    P, mu = prior.intercept_precision, prior.intercept_mean
    grad = d.sum(axis=0) + P * (params.intercept - mu)
    hess = c.sum(axis=0) + P
    step = np.where(hess > 0, grad / np.where(hess > 0, hess, 1.0), 0.0)
    params.intercept -= step
    pred -= step[None, :]


def _entry_normal_equations(z, qm, D, C, scale):
    """Per-entry Hessian (n, T+k, T+k) and gradient (n, T+k) of one block."""
    n, T = D.shape
    k = qm.shape[1]
    z2 = z * z
    H = np.zeros((n, T + k, T + k))
    diag = np.arange(T)
    H[:, diag, diag] = C * z2[:, None]
    cross = (C * scale[None, :] * z2[:, None])[:, :, None] * qm[:, None, :]
    H[:, :T, T:] = cross
    H[:, T:, :T] = cross.transpose(0, 2, 1)
    vv = (C @ (scale**2)) * z2
    H[:, T:, T:] = vv[:, None, None] * (qm[:, :, None] * qm[:, None, :])
    g = np.empty((n, T + k))
    g[:, :T] = D * z[:, None]
    g[:, T:] = ((D @ scale) * z)[:, None] * qm
    return H, g


def _field_step(design, F, Y, weight, binary, params, prior, link, noise, state):
    """Solve the blocks of every touched column of field ``F`` at once.

    ``state`` holds the predictions (n, T) and factor sums (n, k) of the new
    rows, updated in place (a field has at most one entry per row).
    """
    pred, q, active = state
    rows, cols, vals = design.rows[F], design.cols[F], design.vals[F]
    use = active[rows]
    if not use.any():
        return
    rows, cols, vals = rows[use], cols[use] + design.offsets[F], vals[use]
    order = np.argsort(cols, kind="stable")
    rows, cols, vals = rows[order], cols[order], vals[order]
    d, c = loss_derivatives(pred[rows], Y[rows], weight[rows], binary, link, noise)
    touched = np.unique(cols)
    T, k = params.coef.shape[0], params.factors.shape[1]
    H = np.zeros((touched.size, T + k, T + k))
    g = np.zeros((touched.size, T + k))
    slot = np.searchsorted(touched, cols)  # non-decreasing: entries are sorted
    qm = q[rows] - vals[:, None] * params.factors[cols]  # q without column j
    for lo in range(0, rows.size, _ENTRY_CHUNK):
        sl = slice(lo, lo + _ENTRY_CHUNK)
        He, ge = _entry_normal_equations(vals[sl], qm[sl], d[sl], c[sl], params.scale)
        here, first = np.unique(slot[sl], return_index=True)
        H[here] += np.add.reduceat(He, first, axis=0)
        g[here] += np.add.reduceat(ge, first, axis=0)
    theta = np.hstack([params.coef[:, touched].T, params.factors[touched]])
    mean = np.hstack([prior.coef_mean[:, touched].T, prior.factor_mean[touched]])
    P = np.hstack([prior.coef_precision[:, touched].T, prior.factor_precision[touched]])
    index = np.arange(T + k)
    H[:, index, index] += P
    g += P * (theta - mean)
    step = np.linalg.solve(H, g[:, :, None])[:, :, 0]
    params.coef[:, touched] -= step[:, :T].T
    params.factors[touched] -= step[:, T:]
    dw, dv = -step[slot, :T], -step[slot, T:]  # per entry
    pred[rows] += vals[:, None] * dw + (
        (vals * np.sum(dv * qm, axis=1))[:, None] * params.scale[None, :]
    )
    q[rows] += vals[:, None] * dv


def update_params(design: FMDesign, Y, weight, binary, params, prior, *, link,
                  noise, n_sweeps):  # fmt: skip
    """Sweep the blocks ``n_sweeps`` times; ``params`` is changed in place."""
    pred, q = _predict(design.tocsr(), params)
    state = (pred, q, (weight > 0).any(axis=1))
    for _ in range(n_sweeps):
        _intercept_step(state, Y, weight, binary, params, prior, link, noise)
        for F in range(design.n_fields):
            _field_step(design, F, Y, weight, binary, params, prior, link, noise, state)
    return params


# --------------------------------------------------------------------------
# priors


def _spread(params, cols):
    """Mean and precision (inverse variance, floored) of columns ``cols``.

    Per task for the weights, per factor for the factors: a group's
    hierarchical prior at ``params``. Fewer than two columns: mean 0 when
    none, precision 1.
    """
    W, V = params.coef[:, cols], params.factors[cols]
    w_mean = W.mean(axis=1) if cols.size else np.zeros(W.shape[0])
    v_mean = V.mean(axis=0) if cols.size else np.zeros(V.shape[1])
    w_var = W.var(axis=1) if cols.size > 1 else np.ones(W.shape[0])
    v_var = V.var(axis=0) if cols.size > 1 else np.ones(V.shape[1])
    return (w_mean, 1.0 / np.maximum(w_var, _MIN_VARIANCE),
            v_mean, 1.0 / np.maximum(v_var, _MIN_VARIANCE))  # fmt: skip


def field_priors(params, offsets, categories, new_columns):
    """Prior means and precisions of new categories: their field's spread."""
    coef_mean = params.coef.copy()
    coef_precision = np.zeros_like(params.coef)
    factor_mean = params.factors.copy()
    factor_precision = np.zeros_like(params.factors)
    for F, cats in enumerate(categories):
        lo, hi = offsets[F], offsets[F + 1]
        fresh = new_columns[lo:hi]
        if cats is None or not fresh.any():
            continue
        new = np.arange(lo, hi)[fresh]
        w_mean, w_prec, v_mean, v_prec = _spread(params, np.arange(lo, hi)[~fresh])
        coef_mean[:, new], coef_precision[:, new] = w_mean[:, None], w_prec[:, None]
        factor_mean[new], factor_precision[new] = v_mean, v_prec
    return coef_mean, coef_precision, factor_mean, factor_precision


def sample_precisions(samples):
    """Inverse posterior variance over the kept samples (axis 0), floored."""
    if samples.shape[0] < 2:
        return np.full(samples.shape[1:], 1.0 / _MIN_VARIANCE)
    return 1.0 / np.maximum(samples.var(axis=0), _MIN_VARIANCE)


def laplace_precision(design: FMDesign, Y, weight, binary, params, coef_prior,
                      factor_prior, *, link="logit", noise=None):  # fmt: skip
    """Diagonal precision of every parameter given the rows of ``design``.

    The prior precisions (``coef_prior`` (T, p) and ``factor_prior`` (p, k),
    or scalars) plus the data's curvature at ``params``: for ``link="logit"``
    the ALS objective's Hessian diagonal (the Laplace approximation); for
    ``"probit"`` the Gibbs sampler's conditional precision of each coordinate
    (noise precision ``noise`` for a regression task, 1 for a binary task's
    latent). Returns ``(intercept (T,), coef (T, p), factors (p, k))``.
    """
    T = params.coef.shape[0]
    intercept = np.zeros(T)
    coef = np.zeros(params.coef.shape) + coef_prior
    factors = np.zeros(params.factors.shape) + factor_prior
    # row chunks of the design (no CSR copy of it all): a few bytes per row
    for start, stop, Z in design.row_chunks(_LAPLACE_ROWS):
        rows = slice(start, stop)
        pred, q = _predict(Z, params)
        if link == "logit":
            _, c = loss_derivatives(
                pred, Y[rows], weight[rows], binary, "logit", np.ones(T)
            )
        else:
            c = weight[rows] * np.where(binary, 1.0, noise)[None, :]
        intercept += c.sum(axis=0)
        Zc = Z.tocoo()
        rr, jj, zz = Zc.row, Zc.col, Zc.data
        for t in range(T):
            coef[t] += np.bincount(jj, c[rr, t] * zz * zz, minlength=coef.shape[1])
        per_row = c @ (params.scale**2)
        qm = q[rr] - zz[:, None] * params.factors[jj]
        curv = (per_row[rr] * zz * zz)[:, None] * qm * qm
        for f in range(factors.shape[1]):
            factors[:, f] += np.bincount(jj, curv[:, f], minlength=factors.shape[0])
    return intercept, coef, factors


def hierarchical_precisions(params, offsets, categories):
    """Prior precisions of the Gibbs sampler's groups at ``params``.

    Each categorical field's columns share one precision per task (weights)
    and per factor (the inverse spread of its categories' values); the
    numeric fields share another, as in the sampler's hyperprior groups.
    """
    coef = np.ones(params.coef.shape)
    factors = np.ones(params.factors.shape)
    numeric = []
    groups = []
    for F, cats in enumerate(categories):
        cols = np.arange(offsets[F], offsets[F + 1])
        if cats is None or cols.size < 2:
            numeric.append(cols)
        else:
            groups.append(cols)
    if numeric:
        groups.append(np.concatenate(numeric))
    for cols in groups:
        if cols.size < 2:
            continue
        _, w_prec, _, v_prec = _spread(params, cols)
        coef[:, cols], factors[cols] = w_prec[:, None], v_prec[None, :]
    return coef, factors


# --------------------------------------------------------------------------
# the estimator's state


def _grow(est, Xv, keep, column):
    """Append the new categories to the fitted encoding and parameters.

    Returns a bool mask over the (grown) design columns: True where new.
    """
    grown, added = grow_categories(Xv, est.categories_, est.field_names_, keep, column)
    n_old = int(est.field_offsets_[-1])
    if not any(added):
        return np.zeros(n_old, dtype=bool)
    offsets, moved = column_positions(est.field_offsets_, added)
    p = int(offsets[-1])
    est.coef_ = widen(np.asarray(est.coef_, dtype=float), moved, p, axis=-1)
    est.factors_ = widen(est.factors_, moved, p, axis=0)
    if hasattr(est, "factor_samples_"):
        est.coef_samples_ = widen(est.coef_samples_, moved, p, axis=2)
        est.factor_samples_ = widen(est.factor_samples_, moved, p, axis=1)
    if hasattr(est, "_laplace_precision_"):
        b, w, v = est._laplace_precision_
        est._laplace_precision_ = (
            b, widen(w, moved, p, axis=1), widen(v, moved, p, axis=0)
        )  # fmt: skip
    est.categories_ = grown
    est.field_offsets_ = offsets
    new = np.ones(p, dtype=bool)
    new[moved] = False
    return new


def update_gibbs(est, design, Y, weight, new, n_sweeps):
    """Update every kept Gibbs sample and the posterior means.

    ``est`` is the update's :class:`~mtlclassic._compat.FittedOverlay`: the
    new values are written to it, never into the estimator's arrays.
    """
    binary = est._binary_tasks_
    intercepts = np.atleast_2d(est.intercept_samples_).copy()  # (S, T)
    scales = np.atleast_2d(est.scale_samples_)
    noise = np.atleast_1d(np.asarray(est.noise_precision_, dtype=float))
    if hasattr(est, "_laplace_precision_"):
        intercept_p, coef_p, factor_p = est._laplace_precision_
    else:  # saved before fit stored them: the spread over the samples
        intercept_p = sample_precisions(intercepts)
        coef_p = sample_precisions(est.coef_samples_)
        factor_p = sample_precisions(est.factor_samples_)
    coef_samples = est.coef_samples_.copy()  # the estimator's stay as they are
    factor_samples = est.factor_samples_.copy()
    for s in range(factor_samples.shape[0]):
        params = FMParams(
            intercepts[s].copy(), coef_samples[s].copy(),
            factor_samples[s].copy(), scales[s],
        )  # fmt: skip
        cm, cp, fm, fp = field_priors(params, est.field_offsets_, est.categories_, new)
        prior = FMPrior(
            params.intercept.copy(), intercept_p,
            cm, np.where(new[None, :], cp, coef_p),
            fm, np.where(new[:, None], fp, factor_p),
        )  # fmt: skip
        update_params(
            design, Y, weight, binary, params, prior,
            link="probit", noise=noise, n_sweeps=n_sweeps,
        )  # fmt: skip
        intercepts[s] = params.intercept
        coef_samples[s] = params.coef
        factor_samples[s] = params.factors
    est.coef_samples_, est.factor_samples_ = coef_samples, factor_samples
    est.intercept_samples_ = intercepts.reshape(np.shape(est.intercept_samples_))
    est._samples_version = getattr(est, "_samples_version", 0) + 1  # new samples
    _set_estimates(
        est, intercepts.mean(axis=0), est.coef_samples_.mean(axis=0),
        est.factor_samples_.mean(axis=0),
    )  # fmt: skip
    mean = FMParams(
        intercepts.mean(axis=0), est.coef_samples_.mean(axis=0),
        est.factors_, scales.mean(axis=0),
    )  # fmt: skip
    w_new, v_new = hierarchical_precisions(mean, est.field_offsets_, est.categories_)
    added = laplace_precision(
        design, Y, weight, binary, mean, 0.0, 0.0, link="probit", noise=noise
    )
    est._laplace_precision_ = (
        intercept_p + added[0],
        np.where(new[None, :], w_new, coef_p) + added[1],
        np.where(new[:, None], v_new, factor_p) + added[2],
    )


def point_params(est):
    """Return the estimator's point estimates as :class:`FMParams` (2-D copies)."""
    return FMParams(
        np.atleast_1d(np.asarray(est.intercept_, dtype=float)).copy(),
        np.atleast_2d(np.asarray(est.coef_, dtype=float)).copy(),
        est.factors_.copy(),
        np.atleast_1d(np.asarray(est.interaction_scale_, dtype=float)),
    )


def gibbs_precision(est, design, Y, weight):
    """Return the precisions a Gibbs fit leaves for ``update`` (set by fit)."""
    mean = point_params(est)
    w_prior, v_prior = hierarchical_precisions(
        mean, est.field_offsets_, est.categories_
    )
    noise = np.atleast_1d(np.asarray(est.noise_precision_, dtype=float))
    return laplace_precision(
        design, Y, weight, est._binary_tasks_, mean, w_prior, v_prior,
        link="probit", noise=noise,
    )  # fmt: skip


def _set_estimates(est, intercept, coef, factors):
    """Store point estimates in the shapes fit gave them (scalar for one task)."""
    scalar = np.ndim(est.intercept_) == 0
    est.intercept_ = float(intercept[0]) if scalar else intercept
    est.coef_ = coef[0] if np.ndim(est.coef_) == 1 else coef
    est.factors_ = factors


def update_point(est, design, Y, weight, new, n_sweeps):
    """Update the ALS solver's point estimate (Laplace priors from fit).

    ``est`` is the update's :class:`~mtlclassic._compat.FittedOverlay` (see
    :func:`update_gibbs`).
    """
    if not hasattr(est, "_laplace_precision_"):
        raise ValueError(
            f"This {type(est).__name__} (solver='als') was fitted by an older "
            "mtlclassic that did not store the precisions update needs; refit it."
        )
    b_p, w_p, v_p = est._laplace_precision_
    alpha_w, alpha_v = est._penalty_
    w_p = np.where(new[None, :], alpha_w, w_p)  # a new column: the penalty only
    v_p = np.where(new[:, None], alpha_v, v_p)
    params = point_params(est)
    prior = FMPrior(
        params.intercept.copy(), b_p,
        np.where(new[None, :], 0.0, params.coef), w_p,
        np.where(new[:, None], 0.0, params.factors), v_p,
    )  # fmt: skip
    update_params(
        design, Y, weight, est._binary_tasks_, params, prior,
        link="logit", noise=np.ones(Y.shape[1]), n_sweeps=n_sweeps,
    )  # fmt: skip
    # the new rows' curvature joins the precisions: the next update's prior
    added = laplace_precision(design, Y, weight, est._binary_tasks_, params, 0.0, 0.0)
    est._laplace_precision_ = tuple(
        old + more for old, more in zip((b_p, w_p, v_p), added)
    )
    _set_estimates(est, params.intercept, params.coef, params.factors)


def update_estimator(est, Xv, Y, weight, column, n_sweeps):
    """Return the fitted attributes of ``est`` after an update on new rows.

    Grows the encoding with the new categories, then updates the
    parameters (:func:`update_gibbs` or :func:`update_point`). ``est`` is
    not changed: its ``update`` assigns the returned ``{name: value}``
    (empty when no row has a positive weight).
    """
    keep = (weight > 0).any(axis=1)
    if not keep.any():
        return {}
    state = FittedOverlay(est)
    new = _grow(state, Xv, keep, column)
    design = build_design(
        Xv, state.categories_, est.numeric_mean_, est.numeric_scale_,
        state.field_offsets_, est.field_names_, getattr(est, "numeric_range_", None),
        indexes=None if "categories_" in state.changed else category_indexes(est),
    )  # fmt: skip
    if hasattr(est, "factor_samples_"):
        update_gibbs(state, design, Y, weight, new, n_sweeps)
    else:
        update_point(state, design, Y, weight, new, n_sweeps)
    return state.changed


# --------------------------------------------------------------------------
# labels of the new rows


def task_labels(est, y, sample_weight, n):
    """Labels and weights (n, n_tasks) of a multi-task FM's fitted tasks.

    Tasks are matched by name (``task_<i>`` for an array); a fitted task
    absent from ``y`` has no new label. Other tasks are refused unless the
    estimator fits a ``target`` among them (``FMEmbedder``).
    """
    Y_all, mask_all, _, names = check_targets(
        y, None, n_samples=n, allow_kinds=TASK_KINDS, allow_empty=True
    )
    check_label_size(Y_all, mask_all, names, type(est).__name__)
    fitted = list(est.task_names_)
    named = isinstance(y, pd.DataFrame) or (
        isinstance(y, pd.Series) and y.name is not None
    )
    if not named and names != fitted:  # an array: its columns are the tasks in order
        if len(names) != len(fitted):
            raise ValueError(
                f"y_new has {len(names)} unnamed column(s) but the model has the "
                f"tasks {fitted}: pass an array with one column per task, in that "
                "order, or a DataFrame with the task names."
            )
        names = fitted
    extra = [t for t in names if t not in fitted]
    if extra and getattr(est, "target", "all") == "all":
        raise ValueError(
            f"y_new has tasks {extra} that were not fitted; the fitted tasks are "
            f"{fitted}."
        )
    if not set(fitted) & set(names):
        raise ValueError(f"y_new has none of the fitted tasks {fitted}.")
    Y = np.zeros((n, len(fitted)))
    mask = np.zeros((n, len(fitted)), dtype=bool)
    for t, name in enumerate(fitted):
        if name in names:
            Y[:, t] = Y_all[:, names.index(name)]
            mask[:, t] = mask_all[:, names.index(name)]
    for t in np.flatnonzero(est._binary_tasks_):
        bad = mask[:, t] & ~np.isin(Y[:, t], (0.0, 1.0))
        if bad.any():
            raise ValueError(
                f"Binary task {fitted[t]!r} has labels other than 0 and 1 in y_new "
                f"(e.g. {Y[bad, t][0]:g})."
            )
    Y[~mask] = 0.0
    weight = (
        check_task_sample_weight(sample_weight, n, len(fitted), task_names=fitted)
        * mask
    )
    return Y, weight


def single_task_labels(est, y, sample_weight):
    """Labels and weights of ``FMRegressor`` (numbers) or ``FMClassifier``."""
    if not hasattr(est, "classes_"):
        return y[:, None].astype(np.float64), sample_weight[:, None]
    codes = pd.Index(est.classes_).get_indexer(y)
    if (codes < 0).any():
        raise ValueError(
            f"y_new has classes not seen in fit: "
            f"{sorted(set(y[codes < 0].tolist()))[:5]}; the fitted classes are "
            f"{est.classes_.tolist()}."
        )
    Y = class_targets(codes, est.classes_.size)
    return Y, np.repeat(sample_weight[:, None], Y.shape[1], axis=1)


def class_targets(codes, n_classes):
    """FMClassifier's targets: 0/1 for two classes, one-hot columns beyond."""
    if n_classes == 2:
        return codes[:, None].astype(np.float64)
    return (codes[:, None] == np.arange(n_classes)[None, :]).astype(np.float64)
