r"""The factorization machine's model: predictions, datafits and their derivatives.

Shared by both solvers (:mod:`.coordinate_descent`, :mod:`.gibbs`) and by
:mod:`.update`. The model of task :math:`t` on a design row :math:`z` is

.. math::

    \hat y_t(z) = b_t + \sum_j w_{tj} z_j
                + s_t \sum_{j < l} \langle v_j, v_l \rangle z_j z_l .
"""

import numpy as np
from scipy.special import expit

__all__ = ["datafit_derivatives", "datafit_value", "fm_decision", "fm_parts"]

# --------------------------------------------------------------------------
# datafits: value, gradient and curvature of the loss in the prediction


def datafit_value(pred, Y, weight, binary):
    """Weighted loss summed over tasks and rows; arrays are (n_tasks, n_samples)."""
    total = 0.0
    for t in range(pred.shape[0]):
        if binary[t]:
            loss = np.logaddexp(0.0, pred[t]) - Y[t] * pred[t]
        else:
            loss = 0.5 * (pred[t] - Y[t]) ** 2
        total += float(weight[t] @ loss)
    return total


def datafit_derivatives(
    pred, Y, weight, binary, grad, curv, rows, work=None, labelled=None
):
    """Write the weighted gradient ``a g`` and curvature ``a c`` at ``rows``.

    ``g = pred - y`` and ``c = 1`` for a regression task, ``g = sigma(pred) -
    y`` and ``c = 1/4`` for a binary one: the logistic loss's largest second
    derivative, so a step minimises a quadratic that lies above the loss and
    the objective never increases (Böhning and Lindsay, 1988). Newton's
    ``sigma (1 - sigma)`` vanishes as predictions saturate and its steps
    diverged (an intercept of 1e19, NaN predictions). Arrays are
    (n_tasks, n_samples); ``rows`` is a slice or an index array; ``work`` is
    an optional pair of scratch vectors of length n_samples. ``labelled[t]``,
    when not None, lists the rows of task ``t`` with a positive weight: a
    binary task updated on all rows is then computed on those rows only (the
    others keep a zero gradient and curvature).
    """
    # Hot path: preallocated buffers and in-place ops. Fresh large temporaries
    # cost page faults (and numpy's temporary elision a stack inspection)
    # that dominate the arithmetic here.
    n_rows = pred.shape[1] if isinstance(rows, slice) else rows.size
    if work is None:
        work = (np.empty(n_rows), np.empty(n_rows))
    a, b = work[0][:n_rows], work[1][:n_rows]
    for t in range(pred.shape[0]):
        if (
            binary[t]
            and labelled is not None
            and labelled[t] is not None
            and isinstance(rows, slice)
            and rows == slice(None)
        ):
            r = labelled[t]
            p = expit(pred[t, r])
            g = p - Y[t, r]
            w = weight[t, r]
            g *= w
            grad[t, r] = g
            curv[t, r] = 0.25 * w  # the logistic loss's largest curvature
            continue
        w = weight[t, rows]
        if binary[t]:
            expit(pred[t, rows], out=a)
            direct = isinstance(rows, slice)  # write into views, no copies
            g = grad[t, rows] if direct else b
            np.subtract(a, Y[t, rows], out=g)
            g *= w
            if not direct:
                grad[t, rows] = g
            if direct:
                np.multiply(w, 0.25, out=curv[t, rows])
            else:
                curv[t, rows] = 0.25 * w
        elif isinstance(rows, slice):
            out = grad[t, rows]
            np.subtract(pred[t, rows], Y[t, rows], out=out)
            out *= w
        else:
            np.subtract(pred[t, rows], Y[t, rows], out=a)
            a *= w
            grad[t, rows] = a


# --------------------------------------------------------------------------
# model evaluation


def fm_parts(Z, coef, factors, squared=None):
    """Linear part ``Z w^T``, factor sums ``q = Z V`` and interaction ``phi``.

    ``squared`` (optional): ``Z`` squared element-wise, when the caller keeps it.
    """
    linear = np.asarray(Z @ coef.T)
    if factors.shape[1] == 0:
        return linear, np.zeros((Z.shape[0], 0)), np.zeros(Z.shape[0])
    q = np.asarray(Z @ factors)
    squared = Z.multiply(Z) if squared is None else squared
    sq = np.asarray(squared @ (factors**2))
    phi = 0.5 * np.sum(q**2 - sq, axis=1)
    return linear, q, phi


def fm_decision(Z, intercept, coef, factors, scale):
    """Raw scores (n_samples, n_tasks): ``b + Z w^T + phi s``."""
    linear, _, phi = fm_parts(Z, coef, factors)
    return intercept[None, :] + linear + phi[:, None] * scale[None, :]
