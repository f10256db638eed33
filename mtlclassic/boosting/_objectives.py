r"""The mixed-kind objective of the ``"shared"`` booster.

One booster over the stacked rows of several tasks, each row with its own
task's loss: squared error for a regression row, logistic loss for a binary
row,

.. math::

    L(f) = \sum_i w_i \,\ell_{k_i}(f_i, y_i), \qquad
    \ell_{\mathrm{reg}}(f, y) = \tfrac12 (f - y)^2, \qquad
    \ell_{\mathrm{bin}}(f, y) = \log(1 + e^{f}) - y f,

with :math:`f_i` the raw score of row :math:`i` and :math:`k_i` its task's
kind. The gradients and Hessians per row are

.. math::

    g_i = w_i (f_i - y_i),\ h_i = w_i \quad\text{(regression)}; \qquad
    g_i = w_i (\sigma(f_i) - y_i),\ h_i = w_i \sigma(f_i)(1 - \sigma(f_i))
    \quad\text{(binary)},

exactly LightGBM's built-in ``regression`` (L2) and ``binary`` objectives, so
a booster with only regression rows grows the same trees as the built-in L2
objective (with ``boost_from_average=False``: a custom objective never boosts
from the average; :class:`MultiTaskLGBM` passes each task's base score as
``init_score`` instead and adds it back at predict time).

The objective and the metric are module-level classes holding plain arrays
(no closures), built in ``fit`` and never stored on the estimator.
"""

import numpy as np
from scipy.special import expit

from .._task_weights import mgda_weights, uncertainty_weights

__all__ = [
    "MixedLoss",
    "MixedObjective",
    "TaskWeightedObjective",
    "mixed_grad_hess",
    "mixed_loss",
]


def mixed_loss(
    raw: np.ndarray,
    y: np.ndarray,
    is_binary: np.ndarray,
    weight: np.ndarray | None = None,
) -> np.ndarray:
    """Per-row loss: squared error / 2 or logistic loss, times the row weight.

    Examples
    --------
    >>> import numpy as np
    >>> mixed_loss(np.array([1.0, 0.0]), np.array([3.0, 1.0]),
    ...            np.array([False, True])).round(4).tolist()
    [2.0, 0.6931]
    """
    raw = np.asarray(raw, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    # log(1 + e^f) computed stably
    logistic = np.logaddexp(0.0, raw) - y * raw
    squared = 0.5 * (raw - y) ** 2
    loss = np.where(is_binary, logistic, squared)
    if weight is not None:
        loss = loss * np.asarray(weight, dtype=np.float64)
    return loss


def mixed_grad_hess(
    raw: np.ndarray,
    y: np.ndarray,
    is_binary: np.ndarray,
    weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian of :func:`mixed_loss` with respect to the raw score.

    Examples
    --------
    >>> import numpy as np
    >>> g, h = mixed_grad_hess(np.array([1.0, 0.0]), np.array([3.0, 1.0]),
    ...                        np.array([False, True]))
    >>> g.tolist(), h.tolist()
    ([-2.0, -0.5], [1.0, 0.25])
    """
    raw = np.asarray(raw, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    prob = expit(raw)
    grad = np.where(is_binary, prob - y, raw - y)
    hess = np.where(is_binary, prob * (1.0 - prob), 1.0)
    if weight is not None:
        weight = np.asarray(weight, dtype=np.float64)
        grad = grad * weight
        hess = hess * weight
    return grad, hess


class MixedObjective:
    """LightGBM custom objective (``params["objective"]``) for mixed task kinds.

    Parameters
    ----------
    is_binary : ndarray of shape (n_rows,), bool
        For each row of the training Dataset, whether its task is binary.
    """

    def __init__(self, is_binary):
        self.is_binary = np.asarray(is_binary, dtype=bool)

    def __call__(self, preds, train_data):
        """Return ``(grad, hess)`` for the Dataset's labels and weights."""
        return mixed_grad_hess(
            preds, train_data.get_label(), self.is_binary, train_data.get_weight()
        )


class MixedLoss:
    """LightGBM ``feval``: weighted mean of :func:`mixed_loss` on a validation set.

    Parameters
    ----------
    is_binary : ndarray of shape (n_rows,), bool
        For each row of the validation Dataset, whether its task is binary.
    """

    def __init__(self, is_binary):
        self.is_binary = np.asarray(is_binary, dtype=bool)

    def __call__(self, preds, eval_data):
        """Return ``("mixed_loss", value, is_higher_better=False)``."""
        weight = eval_data.get_weight()
        loss = mixed_loss(preds, eval_data.get_label(), self.is_binary, weight)
        total = float(np.sum(weight)) if weight is not None else float(loss.size)
        return "mixed_loss", float(np.sum(loss)) / max(total, 1e-300), False


class TaskWeightedObjective:
    r"""Custom objective of a shared booster with dynamic task weights.

    The gradient and Hessian of every row (:func:`mixed_grad_hess`, sample
    weights included) times its task's weight :math:`\omega_t`; the weights
    are re-estimated from the current raw scores every ``interval`` rounds
    (round 0 included), by ``rule``:

    * ``"uncertainty"``: :func:`~mtlclassic._task_weights.uncertainty_weights`
      of each task's weighted mean loss;
    * ``"mgda"``: the min-norm convex combination of the task gradients. The
      functional gradient of task :math:`t` is non-zero only on its own rows,
      so the gradients are orthogonal and the min-norm problem has the exact
      solution :math:`\alpha_t \propto 1 / \lVert g_t \rVert^2` (the
      Gram matrix is diagonal).

    Both are rescaled to mean 1. ``history`` holds the weights used at every
    round, (n_rounds, n_tasks).

    Parameters
    ----------
    is_binary : ndarray of bool, shape (n_rows,)
    task : ndarray of int, shape (n_rows,)
        Position of each row's task among the shared tasks.
    rule : {"uncertainty", "mgda"}
    interval : int
        Rounds between two estimates.
    """

    def __init__(self, is_binary, task, rule, interval):
        self.is_binary = np.asarray(is_binary, dtype=bool)
        self.task = np.asarray(task, dtype=np.int64)
        self.n_tasks = int(self.task.max()) + 1
        self.rule = rule
        self.interval = int(interval)
        self.weights = np.ones(self.n_tasks)
        self.history = []

    def __deepcopy__(self, memo):
        # lightgbm.train deep-copies its params: one state, readable after
        return self

    def estimate(self, preds, y, weight):
        """Return the task weights at the raw scores ``preds``."""
        T, task = self.n_tasks, self.task
        w = np.ones(preds.size) if weight is None else np.asarray(weight, float)
        if self.rule == "uncertainty":
            loss = np.bincount(task, mixed_loss(preds, y, self.is_binary, w), T)
            total = np.bincount(task, w, T)
            squared = np.bincount(task, ~self.is_binary, T) > 0
            return uncertainty_weights(loss / np.maximum(total, 1e-300), squared)
        grad, _ = mixed_grad_hess(preds, y, self.is_binary, w)
        return mgda_weights(np.diag(np.bincount(task, grad * grad, T)))

    def __call__(self, preds, train_data):
        """Return ``(grad, hess)`` with every row's task weight applied."""
        y, weight = train_data.get_label(), train_data.get_weight()
        if len(self.history) % self.interval == 0:
            self.weights = self.estimate(preds, y, weight)
        self.history.append(self.weights.copy())
        grad, hess = mixed_grad_hess(preds, y, self.is_binary, weight)
        scale = self.weights[self.task]
        return grad * scale, hess * scale
