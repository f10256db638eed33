"""Popularity: the most interacted-with items, optionally decayed by recency."""

import numbers

import numpy as np
import pandas as pd

from .._compat import Interval
from .._time import time_position, time_span, time_values
from ._base import BaseCandidateGenerator

__all__ = ["Popularity"]


class Popularity(BaseCandidateGenerator):
    r"""Popular items: the same ranking for every user, seen items left out.

    An item's score is the sum of its events' weights (1 per event by
    default), each decayed by its age when ``half_life`` is set:

    .. math::

        s_i = \sum_{e \,:\, i_e = i} w_e \; 2^{-(t_{\max} - t_e) / h},

    with :math:`t_{\max}` the newest event in fit and :math:`h` the half-life.
    Users not seen in fit get the same list (with its scores): the cold-start
    candidates of a two-stage recommender.

    Parameters
    ----------
    half_life : float, str, Timedelta or None, default=None
        :math:`h`. None: no decay (global popularity). A number is in the
        time column's unit (seconds for datetimes); a string or Timedelta
        (``"30D"``) needs a datetime column.
    time_col : str or int, default="timestamp"
        The event time (read only when ``half_life`` is set): numbers,
        datetimes (naive or time-zone-aware); text is refused (parse it first:
        ``pd.to_datetime``).
    user_col, item_col : str or int, default="user_id", "item_id"
    weight_col : str, int or None, default=None

    Attributes
    ----------
    popularity_ : ndarray of shape (n_items,), float64
        :math:`s_i`, in the order of ``item_index_``.
    newest_ : float or None
        :math:`t_{\max}` on the axis of the time column (seconds for
        datetimes); None without ``half_life``.
    time_is_datetime_ : bool or None
        Whether the fitted times were datetimes (None without ``half_life``):
        :meth:`update` refuses new times of the other kind (``ValueError``),
        since numbers have no unit to convert them by.
    user_index_, item_index_, user_items_, item_popularity_
        See :class:`~mtlclassic.candidates.BaseCandidateGenerator`.

    Examples
    --------
    >>> import pandas as pd
    >>> from mtlclassic.candidates import Popularity
    >>> events = pd.DataFrame({"user_id": [1, 1, 2, 2, 3],
    ...                        "item_id": ["a", "b", "a", "c", "b"],
    ...                        "timestamp": [0, 9, 1, 10, 10]})
    >>> Popularity().fit(events).recommend([1, 9], n=2)["item_id"].tolist()
    ['c', 'a', 'b']
    >>> Popularity(half_life=1).fit(events).recommend([9], n=1)["item_id"].tolist()
    ['b']
    """

    _serves_cold_users = True
    _parameter_constraints = {
        "half_life": [
            Interval(numbers.Real, 0, None, closed="neither"),
            str,
            pd.Timedelta,
            np.timedelta64,
            None,
        ],
        "time_col": [str, numbers.Integral],
        "user_col": [str, numbers.Integral],
        "item_col": [str, numbers.Integral],
        "weight_col": [str, numbers.Integral, None],
    }

    def __init__(
        self,
        *,
        half_life=None,
        time_col="timestamp",
        user_col="user_id",
        item_col="item_id",
        weight_col=None,
    ):
        self.half_life = half_life
        self.time_col = time_col
        self.user_col = user_col
        self.item_col = item_col
        self.weight_col = weight_col

    def _fit_matrix(self, user_items, X, item_rows, weights):
        self.newest_ = None
        self.time_is_datetime_ = None
        if self.half_life is not None:
            t, h, self.time_is_datetime_ = self._times(X)
            self.newest_ = float(t.max())
            weights = weights * np.exp2(-(self.newest_ - t) / h)
        self.popularity_ = np.bincount(
            item_rows, weights=weights, minlength=self.item_index_.size
        )

    def _times(self, X):
        time_pos = time_position(X, self.time_col, "half_life")
        t, is_datetime = time_values(self._column(X, time_pos), self.time_col)
        fitted = getattr(self, "time_is_datetime_", None)  # None: in fit, or a
        # model saved before it was recorded
        if fitted is not None and fitted != is_datetime:
            kinds = ("numbers", "datetimes")
            raise ValueError(
                f"The time column {self.time_col!r} holds {kinds[is_datetime]}, but "
                f"it held {kinds[fitted]} in fit: new events' times must be of the "
                "fitted kind (numbers in the fitted unit; e.g. unix milliseconds "
                "to datetimes: pd.to_datetime(t, unit='ms', utc=True))."
            )
        return t, time_span(self.half_life, is_datetime, "half_life"), is_datetime

    def _check_update(self, X_new):
        super()._check_update(X_new)
        if self.half_life is not None:
            self._times(X_new)  # times of the fitted kind

    def _update_matrix(self, X_new, item_rows, weights):
        known = item_rows >= 0
        if self.half_life is not None:
            t, h, _ = self._times(X_new)
            newest = max(self.newest_, float(t.max()))
            self.popularity_ = self.popularity_ * np.exp2(-(newest - self.newest_) / h)
            weights = weights * np.exp2(-(newest - t) / h)
            self.newest_ = newest
        self.popularity_ = self.popularity_ + np.bincount(
            item_rows[known], weights=weights[known], minlength=self.popularity_.size
        )

    def _cold_order(self):
        return np.lexsort((np.arange(self.popularity_.size), -self.popularity_))

    def _score_cold(self, columns):
        return self.popularity_[columns]

    def _score_rows(self, rows):
        return np.broadcast_to(self.popularity_, (len(rows), self.popularity_.size))

    def _item_similarity(self, item_rows):
        return self._score_rows(item_rows)
