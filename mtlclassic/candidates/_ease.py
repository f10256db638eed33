"""EASE: the closed-form item-item linear autoencoder (Steck, 2019)."""

import numbers

import numpy as np
import scipy.linalg

from .._compat import Interval, limit_threads
from ._base import BaseCandidateGenerator

__all__ = ["EASE"]


def ease_weights(user_items, regularization: float) -> np.ndarray:
    r"""Return the EASE item x item weights :math:`B` (float64, zero diagonal).

    :math:`P = (X^\top X + \lambda I)^{-1}`, :math:`B = I - P\,
    \mathrm{diag}(1 / \mathrm{diag}(P))`, computed through a Cholesky
    factorisation (LAPACK ``potrf``/``potri``: half the work of a general
    inverse, in place).
    """
    gram = np.asarray((user_items.T @ user_items).toarray(), dtype=np.float64)
    gram[np.diag_indices_from(gram)] += regularization
    factor, info = scipy.linalg.lapack.dpotrf(gram, lower=False, overwrite_a=True)
    if info != 0:  # pragma: no cover - X'X + lambda I is positive definite
        raise np.linalg.LinAlgError(f"EASE: Cholesky failed (LAPACK info={info}).")
    P, info = scipy.linalg.lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:  # pragma: no cover
        raise np.linalg.LinAlgError(f"EASE: inverse failed (LAPACK info={info}).")
    P = np.triu(P) + np.triu(P, 1).T  # potri fills the upper triangle
    B = P / -np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    return B


class EASE(BaseCandidateGenerator):
    r"""EASE candidates: the closed-form item-item linear autoencoder.

    Learns an item x item weight matrix :math:`B` with a zero diagonal from
    the user x item matrix :math:`X` (the summed event weights, 1 per event
    by default) [1]_:

    .. math::

        \min_B \|X - XB\|_F^2 + \lambda \|B\|_F^2
        \quad\text{s.t. } \operatorname{diag}(B) = 0,

    solved in closed form: :math:`P = (X^\top X + \lambda I)^{-1}`,
    :math:`B_{ij} = -P_{ij} / P_{jj}` (:math:`i \ne j`). A user's score of
    item :math:`j` is :math:`x_u^\top B_{:, j}`.

    :math:`B` is a dense item x item matrix: memory is :math:`8 n^2` bytes
    and the inverse :math:`O(n^3)` for :math:`n` items (measured on one
    2-core machine: 8,000 items 7 s, 0.5 GB; 20,000 items about 2 min,
    3.2 GB). Above ``max_items`` items, ``fit`` refuses: use
    :class:`ItemKNN` (sparse, top-k neighbours) for a larger catalogue.

    Parameters
    ----------
    regularization : float, default=300.0
        :math:`\lambda`, in units of the Gram matrix (co-occurrence counts).
        Chosen on MovieLens-1M and Book-Crossing by ``benchmarks/bench_topk.py``
        (the best on a validation cut of each; scale it with the number of
        events per item).
    user_col, item_col : str or int, default="user_id", "item_id"
        The id columns (names, or positions for an ndarray).
    weight_col : str, int or None, default=None
        Column of each event's weight; None counts every event 1.
    history_half_life : float or None, default=None
        Score from recency-weighted histories: an event's weight halves with
        every ``history_half_life`` newer events of the same user (by
        ``time_col``). None weighs the whole history alike. The model itself
        (its item-item weights) is learned from the unweighted events. On
        MovieLens-1M (each user's newest 20% as test) a half-life of 3 events
        raised EASE's NDCG@10 from 0.150 to 0.214
        (``python benchmarks/bench_topk.py``): what a user rated last says
        most about what they rate next.
    time_col : str or int, default="timestamp"
        The event time (read only with ``history_half_life``): numbers,
        datetimes or ISO-8601 strings.
        Column of each event's weight; None counts every event 1.
    max_items : int, default=20_000
        The largest catalogue ``fit`` accepts.
    n_jobs : int or None, default=None
        BLAS threads of the inverse and the scoring (None means 1).

    Attributes
    ----------
    coef_ : ndarray of shape (n_items, n_items), float64
        :math:`B`, rows and columns in the order of ``item_index_``.
    user_index_, item_index_, user_items_, item_popularity_
        See :class:`~mtlclassic.candidates.BaseCandidateGenerator`.

    See Also
    --------
    ItemKNN : sparse item-item neighbours, for large catalogues.

    References
    ----------
    .. [1] H. Steck, "Embarrassingly Shallow Autoencoders for Sparse Data",
       WWW 2019.

    Examples
    --------
    >>> import pandas as pd
    >>> from mtlclassic.candidates import EASE
    >>> events = pd.DataFrame({"user_id": [1, 1, 2, 2, 3],
    ...                        "item_id": ["a", "b", "a", "c", "b"]})
    >>> EASE(regularization=1.0).fit(events).recommend([3], n=2)["item_id"].tolist()
    ['a', 'c']
    """

    _parameter_constraints = {
        "regularization": [Interval(numbers.Real, 0, None, closed="neither")],
        "user_col": [str, numbers.Integral],
        "item_col": [str, numbers.Integral],
        "weight_col": [str, numbers.Integral, None],
        "history_half_life": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "time_col": [str, numbers.Integral],
        "max_items": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_jobs": [numbers.Integral, None],
    }

    def __init__(
        self,
        regularization=300.0,
        *,
        user_col="user_id",
        item_col="item_id",
        weight_col=None,
        history_half_life=None,
        time_col="timestamp",
        max_items=20_000,
        n_jobs=None,
    ):
        self.regularization = regularization
        self.user_col = user_col
        self.item_col = item_col
        self.weight_col = weight_col
        self.history_half_life = history_half_life
        self.time_col = time_col
        self.max_items = max_items
        self.n_jobs = n_jobs

    def _fit_matrix(self, user_items, X, item_rows, weights):
        n_items = user_items.shape[1]
        if n_items > self.max_items:
            raise ValueError(
                f"EASE: the events hold {n_items} items, more than max_items="
                f"{self.max_items}; its dense item x item inverse would need "
                f"{8 * n_items**2 / 2**30:.1f} GiB and O(n^3) time. Use ItemKNN "
                "(sparse neighbours) for this catalogue, or raise max_items."
            )
        with limit_threads(self.n_jobs):
            self.coef_ = ease_weights(user_items, float(self.regularization))

    def _score_rows(self, rows):
        with limit_threads(self.n_jobs):
            return np.asarray(self._history()[rows] @ self.coef_)

    def _item_similarity(self, item_rows):
        return self.coef_[item_rows]
