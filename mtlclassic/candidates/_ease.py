"""EASE: the closed-form item-item linear autoencoder (Steck, 2019)."""

import numbers

import numpy as np
import pandas as pd
import scipy.linalg
from sklearn.base import clone

from .._compat import Interval, StrOptions, limit_threads
from .._time import time_values
from ._base import BaseCandidateGenerator
from ._holdout import NewestHoldout

__all__ = ["EASE"]

# lambda grid of regularization="auto": x3 steps around the fixed default 300
REGULARIZATION_GRID = (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0)


def ease_weights(user_items, regularization: float) -> np.ndarray:
    r"""Return the EASE item x item weights :math:`B` (float64, zero diagonal).

    :math:`P = (X^\top X + \lambda I)^{-1}`, :math:`B = I - P\,
    \mathrm{diag}(1 / \mathrm{diag}(P))`, computed through a Cholesky
    factorisation (LAPACK ``potrf``/``potri``: half the work of a general
    inverse, in place).
    """
    # in float64: float32 products of large weights overflow (1e20**2 > 3.4e38)
    user_items = user_items.astype(np.float64)
    gram = (user_items.T @ user_items).toarray()
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
    regularization : float or "auto", default=300.0
        :math:`\lambda`, in units of the Gram matrix (co-occurrence counts).
        The best value depends on the data (``benchmarks/bench_topk.py``:
        3000 on a MovieLens-1M subset, 30 on Book-Crossing). ``"auto"``
        chooses it on each user's newest 20% of the events (by ``time_col``
        if ``X`` has it, else a seeded random 20%): starting at 300, it walks
        the grid 10, 30, ..., 10000 (x3 steps) while NDCG@10 on those events
        improves, then fits on every event with the best (``regularization_``);
        each step costs one fit.
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
        raised EASE's NDCG@10 on any test item from 0.156 (λ tuned) to 0.215
        (``python benchmarks/bench_topk.py``): what a user rated last says
        most about what they rate next.
    time_col : str or int, default="timestamp"
        The event time (read only with ``history_half_life``): numbers,
        datetimes (text is refused: parse it with ``pd.to_datetime``).
        Column of each event's weight; None counts every event 1.
    top_items : int or None, default=None
        Model only the ``top_items`` items with the most users (the others
        get no score: never recommended, and not read from a history). The
        cost falls with the cube of the items: on Book-Crossing (13,164
        items) 5,000 items cut a fit from 53 s to 5 s for 3-5% of NDCG@10.
    max_items : int, default=20_000
        The largest number of modelled items ``fit`` accepts.
    n_jobs : int or None, default=None
        BLAS threads of the inverse and the scoring (None means 1).

    Attributes
    ----------
    coef_ : ndarray of shape (n_modelled, n_modelled), float64
        :math:`B`, rows and columns in the order of ``modelled_items_``.
    modelled_items_ : ndarray of int
        Rows of ``item_index_`` that ``coef_`` models (all, unless
        ``top_items``).
    regularization_ : float
        The :math:`\lambda` used.
    validation_scores_ : dict
        ``regularization="auto"``: ``{lambda: NDCG@10}`` of the values tried.
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
        "regularization": [
            Interval(numbers.Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
        ],
        "top_items": [Interval(numbers.Integral, 1, None, closed="left"), None],
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
        top_items=None,
        max_items=20_000,
        n_jobs=None,
    ):
        self.regularization = regularization
        self.user_col = user_col
        self.item_col = item_col
        self.weight_col = weight_col
        self.history_half_life = history_half_life
        self.time_col = time_col
        self.top_items = top_items
        self.max_items = max_items
        self.n_jobs = n_jobs

    def _fit_matrix(self, user_items, X, item_rows, weights):
        n_items = user_items.shape[1]
        if self.top_items is None:
            modelled = np.arange(n_items)
        else:  # the items with the most users, in item order
            order = np.argsort(-self.item_popularity_, kind="stable")
            modelled = np.sort(order[: int(self.top_items)])
        if modelled.size > self.max_items:
            raise ValueError(
                f"EASE: the events hold {modelled.size} items, more than max_items="
                f"{self.max_items}; its dense item x item inverse would need "
                f"{8 * modelled.size**2 / 2**30:.1f} GiB and O(n^3) time. Use "
                "ItemKNN (sparse neighbours) for this catalogue, set top_items, "
                "or raise max_items."
            )
        self.modelled_items_ = modelled
        matrix = user_items[:, modelled]
        if isinstance(self.regularization, str):
            self.regularization_, self.validation_scores_ = self._select(X)
        else:
            self.regularization_ = float(self.regularization)
        with limit_threads(self.n_jobs):
            self.coef_ = ease_weights(matrix, self.regularization_)

    def _select(self, X):
        """λ by NDCG@10 on each user's newest 20% (a walk on a log grid)."""
        times = None
        if isinstance(X, pd.DataFrame) and self.time_col in X.columns:
            times = time_values(X[self.time_col], self.time_col)[0]
        users, items = (self._column(X, p) for p in self._positions(X)[:2])
        holdout = NewestHoldout(users, items, times)
        keep = holdout.keep
        X_keep = X.iloc[keep] if isinstance(X, pd.DataFrame) else X[keep]
        scores = {}

        def score(position):
            lam = REGULARIZATION_GRID[position]
            if lam not in scores:
                model = clone(self).set_params(regularization=lam).fit(X_keep)
                scores[lam] = holdout.ndcg(model)
            return scores[lam]

        position = REGULARIZATION_GRID.index(300.0)
        for step in (1, -1):  # walk up, then down, while it improves
            while 0 <= position + step < len(REGULARIZATION_GRID) and score(
                position + step
            ) > score(position):
                position += step
        return REGULARIZATION_GRID[position], scores

    def _score_rows(self, rows):
        history = self._history()[rows]
        modelled = self.modelled_items_
        with limit_threads(self.n_jobs):
            block = np.asarray(history[:, modelled] @ self.coef_)
        if modelled.size == self.item_index_.size:
            return block
        scores = np.full((block.shape[0], self.item_index_.size), np.nan)
        scores[:, modelled] = block
        return scores

    def _item_similarity(self, item_rows):
        position = np.searchsorted(self.modelled_items_, item_rows)
        position = np.minimum(position, self.modelled_items_.size - 1)
        inside = self.modelled_items_[position] == item_rows
        sims = np.full((item_rows.size, self.item_index_.size), np.nan)
        sims[np.ix_(inside, self.modelled_items_)] = self.coef_[position[inside]]
        return sims
