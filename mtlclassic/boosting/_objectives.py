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

__all__ = ["MixedLoss", "MixedObjective", "mixed_grad_hess", "mixed_loss"]


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
