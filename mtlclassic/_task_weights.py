r"""Task weights for losses summed over tasks that share parameters.

``task_weights`` of :class:`~mtlclassic.MultiTaskLGBM` (the shared booster)
and of the task-relationship linear models takes

* None: every task weighs 1;
* a dict ``{task name: weight}`` (tasks left out weigh 1) or, for the linear
  models, an array with one weight per task: fixed weights;
* ``"uncertainty"`` (Kendall, Gal & Cipolla, 2018): the weight of task
  :math:`t` is :math:`1 / (2\sigma_t^2)`, with :math:`\sigma_t^2` the task's
  current mean squared residual (regression: the maximiser of the Gaussian
  likelihood in :math:`\sigma`) or mean logistic loss (binary), re-estimated
  as the fit goes; a task on a 100x larger scale gets a 10,000x smaller
  weight, so every task pulls in proportion to how well it can be fitted;
* ``"mgda"`` (Sener & Koltun, 2018): the weights are the convex combination
  :math:`\alpha` of the tasks' loss gradients :math:`g_t` (with respect to
  the shared parameters) of minimum norm,
  :math:`\min_{\alpha \in \Delta} \lVert \sum_t \alpha_t g_t \rVert^2`,
  the multiple-gradient descent direction along which no task's loss rises.
  :func:`min_norm_weights` solves it exactly from the Gram matrix
  :math:`G_{ts} = \langle g_t, g_s \rangle`. Where the tasks' gradients are
  orthogonal — the stacked rows of a shared booster, where every row belongs
  to one task, so the functional gradients live on disjoint rows — it has the
  closed form :math:`\alpha_t \propto 1 / \lVert g_t \rVert^2`.

Dynamic weights are rescaled to mean 1, so regularisation keeps its scale.
A task's loss is summed over its rows (as the stacked booster sums it), so
MGDA's closed form also weighs a task down in proportion to its labelled
rows: a task with 10x the rows gets about 1/10 of the weight, other things
equal.
"""

import numbers

import numpy as np
from scipy.optimize import nnls

RULES = ("uncertainty", "mgda")


def uncertainty_weights(losses, squared):
    r"""Return :math:`1 / (2 \sigma_t^2)`, rescaled to mean 1.

    Parameters
    ----------
    losses : ndarray of shape (n_tasks,)
        Each task's mean loss: half the mean squared residual (``squared``)
        or the mean logistic loss.
    squared : ndarray of bool, shape (n_tasks,)
        Whether a task's loss is the squared error.
    """
    losses = np.asarray(losses, dtype=np.float64)
    sigma2 = np.where(squared, 2.0 * losses, losses)
    sigma2 = np.maximum(sigma2, 1e-12 * max(sigma2.max(), 1e-300))
    w = 1.0 / (2.0 * sigma2)
    return w * (w.size / w.sum())


def min_norm_weights(gram):
    r"""Return the point of the simplex minimising :math:`\alpha^\top G \alpha`.

    ``gram`` (n_tasks, n_tasks) is the Gram matrix of the task gradients.
    Diagonal (orthogonal gradients): the closed form :math:`\alpha_t \propto
    1/G_{tt}` (a zero gradient takes all the weight). Otherwise exact, by one
    non-negative least-squares problem (Lawson–Hanson's active set, finite):
    with :math:`G = A^\top A`, :math:`\beta^\star = \arg\min_{\beta \ge 0}
    \lVert A\beta \rVert^2 + (1^\top\beta - 1)^2` is :math:`t\,\alpha^\star`,
    because for :math:`\beta = t\alpha` the best :math:`t` leaves the value
    :math:`\lVert A\alpha \rVert^2 / (1 + \lVert A\alpha \rVert^2)`,
    increasing in :math:`\lVert A\alpha \rVert^2`.
    """
    G = np.asarray(gram, dtype=np.float64)
    T = G.shape[0]
    if T == 1:
        return np.ones(1)
    diag = np.diag(G).copy()
    if np.allclose(G, np.diag(diag), rtol=0, atol=1e-14 * max(diag.max(), 1e-300)):
        if np.any(diag <= 0):
            alpha = (diag <= 0).astype(float)
            return alpha / alpha.sum()
        alpha = 1.0 / diag
        return alpha / alpha.sum()
    scale = max(diag.max(), 1e-300)  # unit scale: the 1 in (1'b - 1)^2 matters
    eigval, eigvec = np.linalg.eigh((G + G.T) / (2.0 * scale))
    A = np.sqrt(np.maximum(eigval, 0.0))[:, None] * eigvec.T
    M = np.vstack([A, np.ones((1, T))])
    b = np.zeros(T + 1)
    b[-1] = 1.0
    beta = nnls(M, b, maxiter=50 * T)[0]
    return beta / beta.sum()


def mgda_weights(gram):
    """MGDA's :func:`min_norm_weights`, rescaled to mean 1.

    A task the combination leaves out keeps a weight of 1e-8 (not 0), so its
    rows stay part of the problem (an intercept, a leaf value stay defined).
    """
    alpha = min_norm_weights(gram)
    return np.maximum(alpha * alpha.size, 1e-8)


def check_task_weights(task_weights, names, *, allow_array=True):
    """Return the fixed weights (n_tasks,) and the rule (None or a RULES name).

    Raises ``ValueError`` for an unknown rule, task name or a weight that is
    not finite and positive, ``TypeError`` for another type.
    """
    n = len(names)
    if task_weights is None:
        return np.ones(n), None
    if isinstance(task_weights, str):
        if task_weights not in RULES:
            raise ValueError(
                f"task_weights must be None, a dict, {' or '.join(map(repr, RULES))}"
                f"; got {task_weights!r}."
            )
        return np.ones(n), task_weights
    if isinstance(task_weights, dict):
        unknown = [k for k in task_weights if k not in names]
        if unknown:
            raise ValueError(
                f"task_weights has tasks {unknown} that are not among {list(names)}."
            )
        w = np.array([task_weights.get(name, 1.0) for name in names], dtype=object)
        values = list(task_weights.values())
        if not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values
        ):
            raise TypeError("task_weights values must be real numbers.")
        w = w.astype(np.float64)
    elif allow_array:
        w = np.asarray(task_weights, dtype=np.float64)
        if w.shape != (n,):
            raise ValueError(
                f"task_weights must have one weight per task, shape ({n},); "
                f"got shape {w.shape}."
            )
    else:
        raise TypeError(
            "task_weights must be None, a dict {task: weight}, 'uncertainty' or "
            f"'mgda'; got {type(task_weights).__name__}."
        )
    bad = ~np.isfinite(w) | (w <= 0)
    if bad.any():
        shown = {str(names[t]): float(w[t]) for t in np.flatnonzero(bad)}
        raise ValueError(
            f"task_weights must be finite and strictly positive; got {shown}."
        )
    return w.copy(), None
