"""The candidate-generator protocol, and the machinery every generator shares.

A *candidate generator* learns from an events table (one row per user-item
interaction) which items each user is likely to choose next, and proposes
them: the first stage of a two-stage recommender (the second,
:class:`~mtlclassic.Recommender` fitted on events, ranks the proposals with
what the multi-task model knows). The protocol is implicit's
``RecommenderBase`` (``fit``, ``recommend``, ``similar_items``) in
scikit-learn form:

- ``fit(X, y=None) -> self``: ``X`` is a DataFrame (or an ndarray addressed
  by int positions) with the ``user_col`` and ``item_col`` id columns, and
  ``weight_col`` if set;
- ``recommend(user_ids, n=100, *, exclude_seen=True) -> DataFrame`` with the
  columns ``<user_col>``, ``<item_col>``, ``score`` and ``rank`` (1 = best);
- ``score_pairs(user_ids, item_ids) -> ndarray``: the generator's score of
  given pairs (NaN where it knows neither);
- ``similar_items(item_ids, k=10) -> DataFrame`` with the columns
  ``<item_col>``, ``similar_<item_col>``, ``rank`` and ``score``;
- ``known_ids() -> {column: ids}``: the users and items seen in fit.

A subclass of :class:`BaseCandidateGenerator` writes ``_fit_matrix`` (learn
from the user x item matrix) and ``_score_rows`` (dense scores of some users
over the catalogue), and may override ``_item_similarity``; batching, id
handling, excluding seen items, the top-``n`` and cold users are written
once here. :class:`~mtlclassic.ALSEmbedder` follows the same protocol.
"""

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from .._compat import _fit_context, check_is_fitted, validate_data
from .._ids import (
    check_pairs,
    check_query_ids,
    column_positions,
    conform_ids,
    id_index,
    lookup_ids,
    refuse_nul,
)
from .._interactions import check_weight_sums
from .._similarity import check_ids, check_k, neighbours_frame, top_k
from .._time import time_position, time_values

__all__ = ["BaseCandidateGenerator"]

_BATCH_CELLS = 4_000_000  # user x catalogue scores held at once (32 MB)


def _append_ids(index, fresh):
    """``index`` followed by the ``fresh`` ids, in a type that holds both."""
    joined = np.concatenate([index.astype(object), np.asarray(fresh, dtype=object)])
    if index.dtype.kind == "U" and all(isinstance(v, str) for v in fresh):
        refuse_nul(fresh, "the new events' ids")
        return joined.astype(str)
    if index.dtype.kind in "iu" and np.asarray(fresh).dtype.kind in "iu":
        return joined.astype(np.int64)
    return joined


def _pad_rows(matrix, n_rows):
    """``matrix`` (CSR) with empty rows appended up to ``n_rows``."""
    extra = n_rows - matrix.shape[0]
    if extra <= 0:
        return matrix
    return sp.vstack([matrix, sp.csr_matrix((extra, matrix.shape[1]),
                                             dtype=matrix.dtype)]).tocsr()  # fmt: skip


def top_n_rows(scores, n):
    """Best ``n`` columns of each row of ``scores`` (-inf and NaN never chosen).

    Returns ``(columns, values)`` of shape (n_rows, min(n, n_items)), by
    decreasing score, ties by column; cells that could not be filled (a row
    with fewer eligible columns) hold column -1 and value -inf.
    """
    scores = np.where(np.isnan(scores), -np.inf, scores)
    n_rows, n_items = scores.shape
    top = min(int(n), n_items)
    if top < n_items:
        part = np.argpartition(-scores, top - 1, axis=1)[:, :top]
    else:
        part = np.broadcast_to(np.arange(n_items), (n_rows, n_items))
    values = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -values), axis=1)
    columns = np.take_along_axis(part, order, axis=1)
    values = np.take_along_axis(values, order, axis=1)
    columns = np.where(np.isfinite(values), columns, -1)
    return columns, values


def _no_rows(X):
    """Whether a batch of new events has no row (an update is then a no-op)."""
    return hasattr(X, "shape") and len(X.shape) >= 1 and X.shape[0] == 0


class BaseCandidateGenerator(BaseEstimator):
    """Base class of the candidate generators (see the module docstring).

    Fitted attributes set by :meth:`fit` for every generator:

    - ``user_index_`` : ndarray of shape (n_users,): the user ids seen in fit
      (sorted); row ``r`` of ``user_items_`` is user ``user_index_[r]``;
    - ``item_index_`` : ndarray of shape (n_items,): the item ids, sorted;
    - ``user_items_`` : csr_matrix of shape (n_users, n_items), float32: the
      summed event weights (1 per event by default);
    - ``item_popularity_`` : ndarray of shape (n_items,): users per item,
      which orders the items a user not seen in fit is given;
    - ``history_`` : csr_matrix like ``user_items_`` or None: the histories
      weighted by recency (``history_half_life``) that scores are computed
      from; None scores from ``user_items_``;
    - ``n_features_in_`` (and ``feature_names_in_`` for a DataFrame).

    A subclass writes ``_fit_matrix(user_items, X, item_rows, weights)`` and
    ``_score_rows(rows) -> ndarray (len(rows), n_items)`` (from
    ``self._history()[rows]``, so ``history_half_life`` applies).
    """

    _serves_cold_users = False  # a popularity list serves unseen users too

    def _positions(self, X):
        """Positions of the user, item and weight (or None) columns in ``X``."""
        columns = X.columns if isinstance(X, pd.DataFrame) else None
        out = column_positions(
            self, ("user_col", "item_col", "weight_col"), columns, X.shape[1]
        )
        if out[0] == out[1]:
            raise ValueError("user_col and item_col must be different columns.")
        return out

    def _id_name(self, param):
        key = getattr(self, param)
        if isinstance(key, str):
            return key
        names = getattr(self, "feature_names_in_", None)
        return str(names[key]) if names is not None else f"x{key}"

    @staticmethod
    def _column(X, position):
        if isinstance(X, pd.DataFrame):
            return X.iloc[:, position].to_numpy()
        return X[:, position]

    def _events(self, X, reset=True):
        """Validate ``X``; return ``(X, users, items, weights)`` of the events.

        ``reset=False`` (``update``): a DataFrame needs only the columns the
        generator reads (its ids, weight, time), not every column of ``fit``.
        """
        if isinstance(X, pd.DataFrame):
            if reset:
                validate_data(self, X, skip_check_array=True, reset=True)
        else:
            X = validate_data(self, X, dtype=None, ensure_all_finite=False,
                              reset=reset)  # fmt: skip
        if X.shape[0] == 0:
            raise ValueError(
                f"X is empty (0 rows); {type(self).__name__} needs events."
            )
        user_pos, item_pos, weight_pos = self._positions(X)
        ids = []
        for param, pos in (("user_col", user_pos), ("item_col", item_pos)):
            values = self._column(X, pos)
            missing = pd.isna(values)
            if missing.any():
                raise ValueError(
                    f"{param}: the id column {self._id_name(param)!r} has "
                    f"{int(missing.sum())} missing id(s) (NaN/None), the first at "
                    f"row {int(np.argmax(missing))}; every event needs both ids."
                )
            if values.dtype.kind in "fc" and not np.isfinite(values).all():
                raise ValueError(
                    f"{param}: the id column {self._id_name(param)!r} has infinite ids."
                )
            ids.append(values)
        if weight_pos is None:
            weights = np.ones(X.shape[0])
        else:
            try:
                weights = np.asarray(self._column(X, weight_pos), dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"weight_col={self.weight_col!r} must be a numeric column; "
                    f"got {exc}."
                ) from exc
            if not np.isfinite(weights).all():
                raise ValueError(
                    f"weight_col={self.weight_col!r} has NaN or infinite weights."
                )
        return X, ids[0], ids[1], weights

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn from the events ``X``.

        Parameters
        ----------
        X : DataFrame or ndarray of shape (n_events, n_columns)
            One row per event, with the ``user_col`` and ``item_col`` id
            columns (ints or strings, any order) and ``weight_col`` if set.
            Repeated (user, item) events add up.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        X, users, items, weights = self._events(X)
        self.user_index_, user_rows = id_index(users, self._id_name("user_col"))
        self.item_index_, item_rows = id_index(items, self._id_name("item_col"))
        user_items = sp.csr_matrix(
            (weights.astype(np.float32), (user_rows, item_rows)),
            shape=(self.user_index_.size, self.item_index_.size),
        )
        user_items.sum_duplicates()
        check_weight_sums(user_items, self.weight_col)
        self.user_items_ = user_items
        positive = user_items.data > 0
        self.item_popularity_ = np.bincount(
            user_items.indices[positive], minlength=self.item_index_.size
        )
        self.history_ = self._recency_history(X, user_rows, item_rows, weights)
        self._fit_matrix(user_items, X, item_rows, weights)
        return self

    def update(self, X_new, y=None):
        """Learn new events without refitting the item model (a fold-in).

        The new events join the users' histories (new users are added), so
        they are scored from them and their items are excluded as seen;
        ``item_popularity_`` (and a :class:`Popularity`'s scores) count them.
        The item-item model (EASE's weights, ItemKNN's neighbours) stays as
        fitted, and events on items not seen in ``fit`` are left out (they
        cannot be scored). With ``history_half_life``, the new events are
        taken as newer than every earlier event of their user: the histories
        equal a refit's.

        Parameters
        ----------
        X_new : DataFrame or ndarray of shape (n_new, n_columns)
            New events: a DataFrame with the columns the generator reads
            (``user_col``, ``item_col``, and ``weight_col`` and ``time_col``
            when it uses them), or an array with the columns of ``fit``.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        check_is_fitted(self)
        if _no_rows(X_new):  # nothing new, as ALS's and the heads' updates
            return self
        X_new, users, items, weights = self._events(X_new, reset=False)
        self._check_update(X_new)  # before anything changes
        # ids of the fitted ids' type: a new user "7" of an int-fitted model is 7
        users = conform_ids(users, self.user_index_, "user_col")
        item_rows = lookup_ids(self.item_index_, items, "item_col")
        user_rows = lookup_ids(self.user_index_, users, "user_col")
        fresh = pd.unique(users[user_rows < 0])
        if fresh.size:
            self.user_index_ = _append_ids(self.user_index_, fresh)
            user_rows = lookup_ids(self.user_index_, users, "user_col")
        shape = (self.user_index_.size, self.item_index_.size)
        known = item_rows >= 0
        added = sp.csr_matrix(
            (weights[known].astype(np.float32), (user_rows[known], item_rows[known])),
            shape=shape,
        )
        old = _pad_rows(self.user_items_, shape[0])
        if (old.data > 0).all() and (added.data > 0).all():
            summed = (old + added).tocsr()  # positive sums: no pair cancels out
        else:  # summed as fit sums them: a pair whose weights are 0 stays (seen)
            old, added = old.tocoo(), added.tocoo()
            summed = sp.csr_matrix(
                (np.concatenate([old.data, added.data]),
                 (np.concatenate([old.row, added.row]),
                  np.concatenate([old.col, added.col]))),
                shape=shape,
            )  # fmt: skip
            summed.sum_duplicates()
        check_weight_sums(summed, self.weight_col)  # before anything changes
        self.user_items_ = summed
        positive = self.user_items_.data > 0
        self.item_popularity_ = np.bincount(
            self.user_items_.indices[positive], minlength=shape[1]
        )
        if self.history_ is not None:
            counts = np.bincount(user_rows, minlength=shape[0])
            decay = np.exp2(-counts / float(self.history_half_life))
            history = sp.diags(decay) @ _pad_rows(self.history_, shape[0])
            new = self._recency_history(
                X_new, user_rows, np.where(known, item_rows, 0),
                np.where(known, weights, 0.0),
            )  # fmt: skip
            self.history_ = (history + new).tocsr()
            self.history_.eliminate_zeros()
        self._update_matrix(X_new, item_rows, weights)
        return self

    def _check_update(self, X_new):
        """Refuse new events the generator cannot learn (times, if it reads them)."""
        if getattr(self, "history_half_life", None) is not None:
            time_pos = time_position(X_new, self.time_col, "history_half_life")
            time_values(self._column(X_new, time_pos), self._time_name(X_new, time_pos))

    def check_update(self, X_new):
        """Raise what :meth:`update` would raise for ``X_new``, changing nothing.

        A :class:`CandidateUnion` (and a ``Recommender``) checks every
        generator before any learns, so a refused batch leaves them all as
        they were.
        """
        check_is_fitted(self)
        if _no_rows(X_new):
            return
        X_new = self._events(X_new, reset=False)[0]
        self._check_update(X_new)

    def _update_matrix(self, X_new, item_rows, weights):
        """Learn what the generator keeps besides the histories (none here)."""

    def _recency_history(self, X, user_rows, item_rows, weights):
        """Return the users' histories weighted by recency for scoring, or None.

        With ``history_half_life = h``, an event's weight is multiplied by
        :math:`2^{-a/h}`, :math:`a` the number of the same user's newer events
        (by ``time_col``, ties by row order): the last few items a user
        touched say most about the next ones.
        """
        half_life = getattr(self, "history_half_life", None)
        if half_life is None:
            return None
        time_pos = time_position(X, self.time_col, "history_half_life")
        t, _ = time_values(self._column(X, time_pos), self._time_name(X, time_pos))
        order = np.lexsort((np.arange(t.size), t, user_rows))
        sorted_users = user_rows[order]
        starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
        ends = np.r_[starts[1:], sorted_users.size]
        age = np.empty(t.size)
        age[order] = np.repeat(ends, ends - starts) - 1 - np.arange(t.size)
        decayed = weights * np.exp2(-age / float(half_life))
        history = sp.csr_matrix(
            (decayed.astype(np.float32), (user_rows, item_rows)),
            shape=(self.user_index_.size, self.item_index_.size),
        )
        history.sum_duplicates()
        return history

    @staticmethod
    def _time_name(X, position):
        return str(X.columns[position]) if isinstance(X, pd.DataFrame) else position

    def _history(self):
        """Return the user x item rows that scores are computed from."""
        history = getattr(self, "history_", None)
        return self.user_items_ if history is None else history

    # ---------------------------------------------------------- protocol
    def _fit_matrix(self, user_items, X, item_rows, weights):  # pragma: no cover
        """Learn from ``user_items`` (and the events: X, their item rows, weights)."""
        raise NotImplementedError

    def _score_rows(self, rows):  # pragma: no cover - the protocol
        """Scores of the users ``rows`` (rows of ``user_items_``) over all items."""
        raise NotImplementedError

    def _item_similarity(self, item_rows):
        """Similarity of the items ``item_rows`` to every item, or None."""
        return None

    def known_ids(self):
        """Return the user and item ids seen in fit, keyed by their column names."""
        check_is_fitted(self)
        return {
            self._id_name("user_col"): self.user_index_,
            self._id_name("item_col"): self.item_index_,
        }

    def _cold_order(self):
        """Item rows by decreasing users (ties by id): what unseen users get."""
        return np.argsort(-self.item_popularity_, kind="stable")

    def _user_rows(self, user_ids, name):
        users = conform_ids(check_query_ids(user_ids, name), self.user_index_, name)
        users = pd.unique(users)
        return users, lookup_ids(self.user_index_, users, name)

    def _batches(self, n_rows):
        size = max(1, _BATCH_CELLS // max(1, self.item_index_.size))
        return [slice(s, min(s + size, n_rows)) for s in range(0, n_rows, size)]

    def _top_known(self, rows, n, exclude_seen):
        """``(columns, values)`` of the best ``n`` items of known user rows.

        A user whose scores are all 0 (no usable history: zero weights, or
        only items the model leaves out) gets the unseen users' list, less
        the items seen when ``exclude_seen``, with values NaN.
        """
        cols, vals, popular = [], [], None
        for batch in self._batches(rows.size):
            scores = np.array(self._score_rows(rows[batch]), dtype=np.float64)
            seen = self.user_items_[rows[batch]].tocoo() if exclude_seen else None
            if seen is not None:
                scores[seen.row, seen.col] = -np.inf
            # no finite, non-zero score on an item it may be given
            silent = ~(np.isfinite(scores) & (scores != 0)).any(axis=1)
            if silent.any():  # popularity order: decreasing, ties by column
                if popular is None:
                    popular = np.empty(scores.shape[1])
                    popular[self._cold_order()] = -np.arange(scores.shape[1])
                scores[silent] = popular
                if seen is not None:
                    scores[seen.row, seen.col] = -np.inf
            c, v = top_n_rows(scores, n)
            v[silent] = np.where(c[silent] >= 0, np.nan, v[silent])
            cols.append(c)
            vals.append(v)
        if not cols:
            top = min(int(n), self.item_index_.size)
            return np.empty((0, top), np.int64), np.empty((0, top))
        return np.concatenate(cols), np.concatenate(vals)

    def recommend(self, user_ids, n=100, *, exclude_seen=True):
        """Top-``n`` items per user (candidate generation).

        Parameters
        ----------
        user_ids : array-like of shape (n_users,)
            The users (duplicates dropped, order kept). A missing id is a
            ``ValueError`` naming its position; ids of another type than the
            fitted ones are converted losslessly or refused.
        n : int, default=100
            Items per user (at most the catalogue seen in fit).
        exclude_seen : bool, default=True
            Leave out the items the user interacted with in fit.

        Returns
        -------
        DataFrame
            Columns ``<user_col>``, ``<item_col>``, ``score`` (float64, the
            generator's own scale) and ``rank`` (1 = best), by user in the
            order given, then rank. A user not seen in fit gets the ``n``
            items with the most users (ties by item id), ``score`` NaN, and
            so does a user whose scores are all 0 on the items they may be
            given (no usable history: zero weights, or only items the model
            leaves out); a user with fewer than ``n`` unseen items gets
            fewer rows.
        """
        check_is_fitted(self)
        n = check_k(n)
        users, rows = self._user_rows(user_ids, "user_ids")
        known = rows >= 0
        top = min(n, self.item_index_.size)
        columns = np.full((users.size, top), -1, dtype=np.int64)
        values = np.full((users.size, top), np.nan)
        if known.any():
            columns[known], values[known] = self._top_known(
                rows[known], n, exclude_seen
            )
        if not known.all():
            columns[~known] = self._cold_order()[:top]
            if self._serves_cold_users:
                values[~known] = self._score_cold(columns[~known])
        return self._frame(users, columns, values)

    def _score_cold(self, columns):  # pragma: no cover - popularity overrides
        return np.full(columns.shape, np.nan)

    def _frame(self, users, columns, values):
        valid = columns >= 0
        n_per = valid.sum(axis=1)
        ranks = np.cumsum(valid, axis=1)
        return pd.DataFrame(
            {
                self._id_name("user_col"): np.repeat(users, n_per),
                self._id_name("item_col"): self.item_index_[columns[valid]],
                "score": values[valid].astype(np.float64),
                "rank": ranks[valid].astype(np.int64),
            }
        )

    def score_pairs(self, user_ids, item_ids):
        """Return the generator's score of each (user, item) pair.

        Parameters
        ----------
        user_ids, item_ids : array-like of shape (n_pairs,)

        Returns
        -------
        ndarray of shape (n_pairs,), float64
            NaN where the user or the item was not seen in fit (a popularity
            generator scores any user).

        Raises
        ------
        ValueError
            If the arrays differ in length or hold a missing id.
        """
        check_is_fitted(self)
        users, items = check_pairs(user_ids, item_ids)
        user_rows = lookup_ids(self.user_index_, users, "user_ids")
        item_rows = lookup_ids(self.item_index_, items, "item_ids")
        out = np.full(users.size, np.nan)
        ok = item_rows >= 0
        if not self._serves_cold_users:
            ok &= user_rows >= 0
        if not ok.any():
            return out
        pair = np.flatnonzero(ok)
        unique_rows, which = np.unique(user_rows[pair], return_inverse=True)
        for batch in self._batches(unique_rows.size):
            block = np.asarray(self._score_rows(unique_rows[batch]), dtype=np.float64)
            in_batch = (which >= batch.start) & (which < batch.stop)
            sel = pair[in_batch]
            out[sel] = block[which[in_batch] - batch.start, item_rows[sel]]
        return out

    def similar_items(self, item_ids, k=10):
        """Top-``k`` most similar items of each item, by the generator's similarity.

        Parameters
        ----------
        item_ids : array-like
            Query items (duplicates dropped, order kept).
        k : int, default=10

        Returns
        -------
        DataFrame
            Columns ``<item_col>``, ``similar_<item_col>``, ``rank`` (1 = most
            similar) and ``score``; an item is never its own neighbour. An
            item not seen in fit, or similar to no item (one the model leaves
            out), gets the most popular items, ``score`` NaN.
        """
        check_is_fitted(self)
        k = check_k(k)
        queries = conform_ids(check_ids(item_ids), self.item_index_, "item_ids")
        queries = pd.unique(queries)
        rows = lookup_ids(self.item_index_, queries, "item_ids")
        columns, values = [None] * rows.size, [None] * rows.size
        known = np.flatnonzero(rows >= 0)
        for batch in self._batches(known.size):
            q = known[batch]
            sims = self._item_similarity(rows[q])
            if sims is None:
                raise TypeError(f"{type(self).__name__} has no item similarity.")
            sims = np.array(sims, dtype=np.float64)
            others = sims.copy()
            others[np.arange(q.size), rows[q]] = 0.0
            silent = ~(np.isfinite(others) & (others != 0)).any(axis=1)
            cols, vals = top_k(sims, k, exclude=rows[q])
            for i, c, v, quiet in zip(q, cols, vals, silent):
                if not quiet:
                    columns[i], values[i] = c, v
        # unseen, or similar to no item (e.g. one the model leaves out): the
        # popular items less the item itself (the list taken once)
        top = min(k, self.item_index_.size)
        popular = self._cold_order()[: top + 1]
        for i in range(rows.size):
            if columns[i] is None:
                cold = popular[popular != rows[i]][:top]
                columns[i], values[i] = cold, np.full(cold.size, np.nan)
        return neighbours_frame(
            queries, self.item_index_, columns, values, self._id_name("item_col")
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags
