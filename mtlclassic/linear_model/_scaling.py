"""Scaling of the task-relationship models' inputs: features and labels.

``standardize`` (feature scales), ``clip`` (feature ranges) and
``standardize_targets`` (the labels' empirical-Bayes scales) of
:class:`._base._TaskRelationshipModel`.
"""

import numpy as np
import scipy.sparse as sp

from .._targets import HUGE_LABEL

#: standardize_targets: below this spread of the tasks' true log label scales,
#: the tasks share one unit and one scale (see _target_scale).
_SAME_UNIT_LOG_SPREAD = 0.5


#: beyond this magnitude a value's square (and a sum of squares) can overflow
#: float64: the models refuse such features and labels after their scaling
HUGE = HUGE_LABEL


def _peak(X, row_weight=None):
    """Every column's largest absolute value (1 where it is 0 or not finite).

    Over the rows of positive weight only (a zero weight is an absent row).
    """
    if row_weight is not None:
        X = X[np.flatnonzero(np.asarray(row_weight) > 0)]
    if sp.issparse(X):
        peak = abs(X).max(axis=0)
        peak = peak.toarray().ravel() if sp.issparse(peak) else np.asarray(peak)
    else:
        peak = np.abs(X).max(axis=0) if X.shape[0] else np.zeros(X.shape[1])
    peak = np.asarray(peak, dtype=np.float64).ravel()
    return np.where((peak > 0) & np.isfinite(peak), peak, 1.0)


def _column_scale(X, row_weight=None):
    """Return the (weighted) standard deviation of every column (1 if constant).

    Computed on the columns divided by their largest absolute value, so a
    column of values near 1e300 gets a finite scale (its squares overflow)
    and one near 1e-300 a scale of its own size: standardized fits are the
    same in any unit. A column whose spread is below 1e-12 of its largest
    value is constant.
    """
    peak = _peak(X, row_weight)
    unit = _column_std(_scaled(X, peak), row_weight)
    # constant: a spread of rounding noise beside the column's own size; kept
    # as it is, unless its values would overflow the solver's squares
    return np.where(unit > 1e-12, unit * peak, np.where(peak > HUGE, peak, 1.0))


def _column_std(X, row_weight=None):
    """Every column's (weighted) standard deviation."""
    total = 0.0 if row_weight is None else float(row_weight.sum())
    a = row_weight / total if total > 0 else None  # all zero: the datafit says so
    if sp.issparse(X):
        var = _sparse_variance(X, a)
    elif a is None:
        var = X.var(axis=0)
    else:
        mean = a @ X
        var = a @ (X - mean) ** 2
    return np.sqrt(np.maximum(var, 0.0))


def _sparse_variance(X, a=None):
    """Every column's (weighted) variance of a sparse ``X``, in two passes.

    ``E[x^2] - E[x]^2`` leaves rounding noise of about ``1e-16 * mean^2`` on
    a constant column (1e-13 for a column of 5.0), which the caller's
    constant-column test cannot tell from a real spread; the deviations from
    the mean, with the implicit zeros counted apart, leave none. ``a``: row
    weights summing to 1, or None (equal weights).
    """
    X = sp.csc_matrix(X)
    n, p = X.shape
    nnz = np.diff(X.indptr)
    cols = np.repeat(np.arange(p), nnz)
    a_rows = np.full(n, 1.0 / n) if a is None else np.asarray(a, dtype=np.float64)
    a_stored = a_rows[X.indices]
    mean = np.bincount(cols, weights=a_stored * X.data, minlength=p)
    spread = np.bincount(cols, weights=a_stored * (X.data - mean[cols]) ** 2,
                         minlength=p)  # fmt: skip
    if a is None:  # the zeros' share, exactly 0 for a column stored on every row
        zeros = (n - nnz) / n
    else:
        zeros = np.maximum(1.0 - np.bincount(cols, weights=a_stored, minlength=p), 0)
        zeros[nnz == n] = 0.0
    return spread + zeros * mean**2


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
        peak = float(np.max(np.abs(y)))  # labels near 1e300: squares overflow
        peak = peak if 0 < peak < np.inf else 1.0
        unit = y / peak
        mean = np.average(unit, weights=w)
        sd = peak * float(np.sqrt(np.average((unit - mean) ** 2, weights=w)))
        n = float(w.sum() ** 2 / (w * w).sum())
        if n > 1.0 and sd > 1e-12 * max(1.0, float(np.max(np.abs(y)))):
            log_sd[t], n_eff[t] = np.log(sd), n
    defined = ~np.isnan(log_sd)
    scale = np.ones(T)
    # a task without a spread (constant labels) is kept in its unit, unless
    # its labels would overflow the solver's squares
    for t in np.flatnonzero(regression & ~defined):
        top = float(np.max(np.abs(Y[mask[:, t], t]), initial=0.0))
        scale[t] = top if top > HUGE else 1.0
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
    scale[regression & (scale <= HUGE)] = np.exp(m)
    scale[defined] = np.exp(B * m + (1.0 - B) * lv)
    return scale


def _scaled(X, scale):
    return X @ sp.diags(1.0 / scale) if sp.issparse(X) else X / scale


def check_magnitudes(X, Y, mask, feature_names, task_names, scaled, row_weight=None):
    """``ValueError`` naming a column or task beyond :data:`HUGE` (after scaling).

    Their squares, and the sums of squares of the solver's objective, would
    overflow float64: the fit would return NaN or never end. Rows of zero
    ``row_weight`` and unlabelled entries do not count.
    """
    peak = _peak(X, row_weight)
    huge = np.flatnonzero(peak > HUGE)
    if huge.size:
        j = int(huge[0])
        name = feature_names[j] if feature_names is not None else j
        hint = "" if scaled[0] else " (standardize=True scales it)"
        raise ValueError(
            f"X column {name!r} has values up to {peak[j]:.3g} after scaling, beyond "
            f"{HUGE:.0e}: their squares overflow float64{hint}; divide it by a "
            "power of ten."
        )
    labelled = np.where(mask, np.abs(np.nan_to_num(Y)), 0.0)
    top = labelled.max(axis=0) if labelled.shape[0] else np.zeros(Y.shape[1])
    huge = np.flatnonzero(top > HUGE)
    if huge.size:
        t = int(huge[0])
        hint = "" if scaled[1] else " (standardize_targets=True scales it)"
        raise ValueError(
            f"Task {task_names[t]!r} has labels up to {top[t]:.3g} after scaling, "
            f"beyond {HUGE:.0e}: their squares overflow float64{hint}; divide them "
            "by a power of ten."
        )
