"""Factorization machines as ONNX: lookups, gathers, field sums, posterior mean.

Each input column is a field. A categorical field's values are looked up
among the fitted categories (``LabelEncoder``), and the rows of its
parameter tables gathered; the table has one more row for a category unseen
in fit or a missing value: the mean of the field's categories in every
sample for a Gibbs-fitted FM (the group-mean rule of ``predict``), zeros for
the ALS solver. A numeric field is clipped to its training range, centred and
scaled, and multiplies its parameter row (a missing value maps to 0).

For every kept sample ``s`` at once (its parameters side by side, as
:class:`~mtlclassic.embedding._fm.gibbs.FlatSamples` lays them out)::

    y_s = b_s + sum_F x_F w_sF + s_s * 0.5 * sum_k ((sum_F x_F v_sFk)^2
                                                     - sum_F x_F^2 v_sFk^2)

and the prediction is the mean over samples of ``y_s`` (regression) or of
``Phi(y_s)`` (binary, probit). ``Phi`` is evaluated in double precision by
:func:`normal_cdf` (onnxruntime's ``Erf`` has no double kernel).
"""

import numpy as np
from scipy.special import ndtr

from ..._onnx_graph import STRING, Col, lookup_keys
from .gibbs import _norms_sq

_STEP = 1.0 / 128  # the grid of normal_cdf's table
_REACH = 38.0  # |x| beyond: Phi is 0 or 1 in double precision
_TERMS = 10


def normal_cdf(g, x):
    """Add ``Phi(x)`` (the standard normal CDF) of a double tensor ``x``.

    Tables on a grid of step 1/128 over [-38, 38] (computed by scipy and
    numpy) and the Taylor series around the nearest grid point ``a``
    (``h = x - a``, ``|h| <= 1/256``)::

        Phi(a + h) = Phi(a) + phi(a) sum_{n>=1} (-1)^(n-1) He_{n-1}(a) h^n / n!

    with the probabilists' Hermite polynomials ``He`` (the derivatives of the
    density ``phi``): the coefficient of ``h^n`` is tabulated per grid point,
    so the graph gathers 11 coefficients and evaluates a degree-10
    polynomial in ``h`` by Horner's rule. Tested against
    ``scipy.special.ndtr`` where ``Phi`` is a normal double: relative
    differences below 5e-15 max(1, x^2), within scipy's own error (its
    ``erfc(-x / sqrt 2)`` loses about x^2 eps in the lower tail).
    """
    grid = np.arange(-_REACH, _REACH + _STEP / 2, _STEP)
    coefs = [ndtr(grid)]
    density = np.exp(-0.5 * grid**2) / np.sqrt(2 * np.pi)
    he_prev, he, factorial = np.zeros_like(grid), np.ones_like(grid), 1.0
    for n in range(1, _TERMS + 1):  # he = He_{n-1}(a)
        factorial *= n
        coefs.append((-1) ** (n - 1) * density * he / factorial)
        he_prev, he = he, grid * he - (n - 1) * he_prev
    xc = g.op("Clip", [x, g.const(-_REACH), g.const(_REACH)], "x_clip")
    pos = g.op("Round", [g.op("Mul", [g.op("Add", [xc, g.const(_REACH)]),
                                      g.const(1.0 / _STEP)])])  # fmt: skip
    a = g.op("Sub", [g.op("Mul", [pos, g.const(_STEP)]), g.const(_REACH)], "a")
    h = g.op("Sub", [xc, a], "h")
    index = g.op("Cast", [pos], "grid_index", to=g.onnx.TensorProto.INT64)
    acc = g.op("Gather", [g.const(coefs[-1], "cdf_coef"), index])
    for c in coefs[-2::-1]:  # Horner's rule
        acc = g.op("Add", [g.op("Gather", [g.const(c, "cdf_coef"), index]),
                           g.op("Mul", [h, acc])])  # fmt: skip
    return acc


def _parameters(est):
    """Return (intercept (S, T), scale (S, T), coef (p, S*T), factors (p, S*k)).

    The kept samples side by side for a Gibbs-fitted FM; the point estimate
    as one sample for the ALS solver.
    """
    if hasattr(est, "factor_samples_"):
        flat = est._flat_samples()
        return (np.atleast_2d(est.intercept_samples_),
                np.atleast_2d(est.scale_samples_), flat.coef, flat.factors)  # fmt: skip
    coef = np.atleast_2d(est.coef_).T
    intercept = np.atleast_1d(np.asarray(est.intercept_, dtype=float))[None, :]
    scale = np.atleast_1d(np.asarray(est.interaction_scale_, dtype=float))[None, :]
    return intercept, scale, coef, np.asarray(est.factors_)


def _field_value(g, est, F, col, name):
    """Return the (N, 1) value of numeric field ``F``: clipped, centred, scaled."""
    if col.kind == STRING:
        raise TypeError(
            f"{type(est).__name__}: numeric column {name!r} is text in the input "
            "example."
        )
    x = g.as_double(col)
    mean, scale = float(est.numeric_mean_[F]), float(est.numeric_scale_[F])
    value_range = getattr(est, "numeric_range_", None)
    clipped = x
    if value_range is not None:
        lo, hi = (float(v) for v in value_range[F])
        clipped = g.op("Clip", [x, g.const(lo), g.const(hi)], "clip")
    centred = g.op("Where", [g.op("IsNaN", [x]), g.const(mean), clipped], "filled")
    v = g.op("Div", [g.op("Sub", [centred, g.const(mean)]), g.const(scale)], "v")
    return g.column2d(v)


def _category_index(g, est, F, col, name):
    """Return the (N,) int64 position of field ``F``'s category (unseen: last)."""
    cats = est.categories_[F]
    return g.lookup(col, lookup_keys(cats, col.kind, name), f"index_{name}",
                    len(cats))  # fmt: skip


def _with_unseen_row(est, table, lo, hi, cats):
    """Return ``table[lo:hi]`` with the row of an unseen category appended."""
    block = table[lo:hi]
    gibbs = hasattr(est, "factor_samples_")
    extra = (
        block.mean(axis=0, keepdims=True)
        if gibbs and cats is not None and len(cats)
        else np.zeros((1, table.shape[1]))
    )
    return np.vstack([block, extra]) if cats is not None else block


def fm_parts(g, est, frame):
    """Return the (N, S*T) linear sum and the (N, S) interaction ``phi`` (or None).

    ``phi_s = 0.5 (||sum_F x_F v_sF||^2 - sum_F x_F^2 ||v_sF||^2)``: the
    second sum reads each column's squared factor norm per sample, as
    :class:`~mtlclassic.embedding._fm.gibbs.FlatSamples` stores it.
    """
    intercept, _, coef, factors = _parameters(est)
    S = intercept.shape[0]
    k = factors.shape[1] // S  # factors of one sample
    if not k:
        return _field_sums(g, est, frame, S, [(coef, False)])[0], None
    linear, q, sq = _field_sums(
        g, est, frame, S, [(coef, False), (factors, False), (factors, True)]
    )
    q = g.op("Reshape", [q, g.const([0, S, k], "shape", np.int64)])
    q2 = g.op("ReduceSum", [g.op("Mul", [q, q]), g.const([2], "axis", np.int64)],
              keepdims=0)  # fmt: skip
    phi = g.op("Mul", [g.op("Sub", [q2, sq]), g.const(0.5)], "phi")
    return linear, phi


def _field_sums(g, est, frame, S, tables):
    """Return, per ``(table, norms)``, the (N, m) sum over fields of x_F table_F.

    A categorical field gathers its category's row (the extra last row when
    unseen); the numeric fields are one product of their values with their
    rows. A ``norms`` table enters as its rows' squared norms per sample,
    times the squared values (``S`` samples).
    """

    def rows_of(table, norms, lo, hi, cats):
        rows = _with_unseen_row(est, table, lo, hi, cats)
        return _norms_sq(rows, S) if norms else rows

    sums = [[] for _ in tables]
    values, numeric = [], [[] for _ in tables]
    for F, name in enumerate(est.field_names_):
        col = _frame_col(est, frame, F, name)
        lo, hi = est.field_offsets_[F], est.field_offsets_[F + 1]
        cats = est.categories_[F]
        if cats is None:
            values.append(_field_value(g, est, F, col, name))
            for rows, (table, norms) in zip(numeric, tables):
                rows.append(rows_of(table, norms, lo, hi, cats))
            continue
        index = _category_index(g, est, F, col, name)
        for out, (table, norms) in zip(sums, tables):
            rows = g.const(rows_of(table, norms, lo, hi, cats), f"table_{name}")
            out.append(g.op("Gather", [rows, index], f"rows_{name}"))
    if values:
        V = values[0] if len(values) == 1 else g.op("Concat", values, "V", axis=1)
        V2 = g.op("Mul", [V, V], "V2") if any(n for _, n in tables) else None
        for out, rows, (_, norms) in zip(sums, numeric, tables):
            W = g.const(np.vstack(rows), "numeric_rows")
            out.append(g.op("MatMul", [V2 if norms else V, W]))
    return [_sum(g, out, "field_sum") for out in sums]


def _sum(g, parts, hint):
    return parts[0] if len(parts) == 1 else g.op("Sum", parts, hint)


def _frame_col(est, frame, F, name):
    key = F if not getattr(est, "frame_input_", False) else name
    if key not in frame:
        raise ValueError(f"{type(est).__name__}: X is missing the column {name!r}.")
    return frame[key]


def fm_scores(g, est, frame, link):
    """Return the (N, T) predictions of a fitted FM.

    ``link``: scores on the link scale (log-odds for binary tasks, as
    ``_link_scores``); otherwise the posterior mean ``E[y_t | x]``
    (probabilities for binary tasks, as ``_mean_prediction``).
    """
    intercept, scale, _, _ = _parameters(est)
    S, T = intercept.shape
    linear, phi = fm_parts(g, est, frame)
    pred = g.op("Reshape", [linear, g.const([0, S, T], "shape", np.int64)])
    pred = g.op("Add", [pred, g.const(intercept[None], "intercept")])
    if phi is not None:
        phi = g.op("Unsqueeze", [phi, g.const([2], "axis", np.int64)])
        pred = g.op("Add", [pred, g.op("Mul", [phi, g.const(scale[None], "scale")])])
    binary = np.asarray(est._binary_tasks_, dtype=bool)
    gibbs = hasattr(est, "factor_samples_")
    if not gibbs:  # one point estimate: the raw score is the link
        out = g.op("Squeeze", [pred, g.const([1], "axis", np.int64)], "decision")
        if link or not binary.any():
            return out
        prob = g.op("Sigmoid", [out])
        return g.op("Where", [g.const(binary[None, :], "binary", bool), prob, out])
    if not binary.any():
        return _sample_mean(g, pred)
    # the probit link on the binary tasks' samples only, then the columns
    # back in the tasks' order
    order = np.concatenate([np.flatnonzero(~binary), np.flatnonzero(binary)])
    p = _sample_mean(g, normal_cdf(g, _tasks(g, pred, binary, 2)))
    if link:
        p = g.op("Clip", [p, g.const(1e-12), g.const(1 - 1e-12)])
        p = g.op("Log", [g.op("Div", [p, g.op("Sub", [g.const(1.0), p])])], "logit")
    if binary.all():
        return p
    rest = _sample_mean(g, _tasks(g, pred, ~binary, 2))
    both = g.op("Concat", [rest, p], "by_kind", axis=1)
    return _tasks(g, both, np.argsort(order), 1)


def _tasks(g, tensor, which, axis):
    """Gather the task positions ``which`` (a mask or indices) along ``axis``."""
    which = np.asarray(which)
    index = np.flatnonzero(which) if which.dtype == bool else which
    return g.op("Gather", [tensor, g.const(index, "tasks", np.int64)], axis=axis)


def _sample_mean(g, tensor):
    """Mean over the samples (axis 1) of an (N, S, T) tensor."""
    return g.op("ReduceMean", [tensor, g.const([1], "axis", np.int64)], "mean",
                keepdims=0)  # fmt: skip


def fm_fields(g, est, frame):
    """Return the ``fm_<field>_<k>`` blocks: one (N, k) tensor per field.

    The point factors ``factors_`` of the row's category (the field's mean
    factors when unseen, Gibbs-fitted only) or value times the factors, as
    ``FMEmbedder._blocks_of``.
    """
    blocks = []
    factors = np.asarray(est.factors_)
    for F, name in enumerate(est.field_names_):
        col = _frame_col(est, frame, F, name)
        lo, hi = est.field_offsets_[F], est.field_offsets_[F + 1]
        table = g.const(_with_unseen_row(est, factors, lo, hi, est.categories_[F]),
                        f"factors_{name}")  # fmt: skip
        if est.categories_[F] is None:  # value times the factors
            blocks.append(g.op("Mul", [_field_value(g, est, F, col, name), table]))
        else:
            index = _category_index(g, est, F, col, name)
            blocks.append(g.op("Gather", [table, index], f"fields_{name}"))
    return blocks


__all__ = ["Col", "fm_fields", "fm_scores", "normal_cdf"]
