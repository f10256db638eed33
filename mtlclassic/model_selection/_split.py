"""Recommender-aware cross-validation splitters (usable as ``cv=`` anywhere).

All splitters read the columns they need from ``X`` (a DataFrame, or an array
with integer column positions), so they work inside ``GridSearchCV`` and
``cross_validate`` with no ``groups`` argument.
"""

import datetime
import numbers

import numpy as np
import pandas as pd
from sklearn.model_selection import BaseCrossValidator, GroupKFold

from .._time import time_span, time_values


def _column(X, col, param):
    """Return column ``col`` of ``X`` as a 1-D numpy array."""
    if isinstance(X, pd.DataFrame):
        if col not in X.columns:
            raise ValueError(
                f"{param}={col!r} is not a column of X; columns are "
                f"{list(X.columns)[:20]}."
            )
        values = X[col]
        if values.isna().any():
            raise ValueError(f"Column {col!r} ({param}) contains missing values.")
        return values.to_numpy()
    arr = np.asarray(X)
    if not isinstance(col, numbers.Integral):
        raise ValueError(
            f"{param}={col!r} names a column, but X is not a DataFrame; pass a "
            "DataFrame or an integer column position."
        )
    if arr.ndim != 2 or not 0 <= col < arr.shape[1]:
        raise ValueError(f"{param}={col} is out of range for X of shape {arr.shape}.")
    return arr[:, col]


def _num_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _time_values(X, time_col):
    """Return the time column on one axis (seconds for datetimes), as _time reads."""
    if isinstance(X, pd.DataFrame):
        _column(X, time_col, "time_col")  # a clear error for a missing column
        values = X[time_col]
    else:
        values = _column(X, time_col, "time_col")
    return time_values(values, str(time_col))


def user_holdout(users, times, fraction, random_state):
    """Return the mask of each user's newest ``fraction`` of events (a hold-out).

    ``ceil(n_u * fraction)`` events of each user with at least two events
    (one event always stays history), by time, ties by row order; with
    ``times`` None a seeded random share per user. The same windows as
    :class:`UserTemporalSplit` with a float ``test_size``.
    """
    n = users.size
    rng = np.random.RandomState(random_state)
    key = rng.permutation(n).astype(np.float64) if times is None else times
    codes = pd.factorize(users)[0]
    order = np.lexsort((np.arange(n), key, codes))
    sorted_codes = codes[order]
    counts = np.bincount(codes)
    position = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    n_label = np.minimum(np.ceil(counts * fraction), counts - 1).astype(np.int64)
    label = np.zeros(n, dtype=bool)
    label[order] = position >= (counts - n_label)[sorted_codes]
    return label


class _ReportMixin:
    """``split_report(X)``: sizes and cold-start users of every fold."""

    def split_report(self, X, y=None, groups=None, *, user_col=None):
        """Describe every fold: sizes and the test users absent from train.

        Parameters
        ----------
        X : DataFrame or array
        y, groups : ignored unless the splitter needs them
        user_col : str or int, default=None
            The user column; defaults to the splitter's ``user_col``, else
            ``"user_id"``.

        Returns
        -------
        DataFrame
            One row per fold: ``n_train``, ``n_test``, ``n_test_users``,
            ``n_cold_users`` (test users with no training event) and
            ``cold_user_rows`` (share of test rows from those users).
        """
        col = user_col if user_col is not None else getattr(self, "user_col", "user_id")
        users = _column(X, col, "user_col")
        rows = []
        for train, test in self.split(X, y, groups):
            train_users = np.unique(users[train])
            test_users = users[test]
            cold = ~np.isin(test_users, train_users)
            rows.append(
                {
                    "n_train": train.size,
                    "n_test": test.size,
                    "n_test_users": np.unique(test_users).size,
                    "n_cold_users": np.unique(test_users[cold]).size,
                    "cold_user_rows": float(cold.mean()) if test.size else 0.0,
                }
            )
        return pd.DataFrame(rows, index=pd.RangeIndex(len(rows), name="fold"))


class TemporalSplit(_ReportMixin, BaseCrossValidator):
    """Expanding-window splits at global time cut-offs.

    The rows are ordered by ``X[time_col]`` and cut into ``n_splits + 1``
    blocks of about equal size at time boundaries; split ``i`` trains on every
    event strictly before the cut-off ``c_i`` (minus ``gap``) and tests on the
    events in ``[c_i, c_{i+1})``. Rows with equal timestamps always fall on the
    same side, so no test event is older than a training event: the test fold
    never sees the future.

    Parameters
    ----------
    time_col : str or int, default="timestamp"
        Column of ``X`` with the event time: numbers, or datetimes (naive or
        time-zone-aware; read by :func:`mtlclassic._time.time_values`, so the
        same instants give the same folds in every form).
    n_splits : int, default=5
    gap : float or Timedelta, default=0
        Training events must be older than ``c_i - gap`` (in the units of
        the time column; a ``Timedelta`` or seconds for datetime columns).
    max_train_size : int, default=None
        Keep only the most recent ``max_train_size`` training rows at most (a
        sliding window); events at the window's oldest time are all kept or,
        if that would exceed it, all left out, whatever their row order (kept
        when no newer event is in the window, which then exceeds it).

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"timestamp": [5, 1, 2, 2, 3, 4], "user_id": 0})
    >>> for train, test in TemporalSplit(n_splits=2).split(X):
    ...     print(sorted(X.timestamp[train]), sorted(X.timestamp[test]))
    [1] [2, 2, 3]
    [1, 2, 2, 3] [4, 5]
    """

    def __init__(self, time_col="timestamp", n_splits=5, *, gap=0, max_train_size=None):
        self.time_col = time_col
        self.n_splits = n_splits
        self.gap = gap
        self.max_train_size = max_train_size

    def get_n_splits(self, X=None, y=None, groups=None):
        """Return the number of splits."""
        return self.n_splits

    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` row indices, oldest test block first."""
        if not isinstance(self.n_splits, numbers.Integral) or self.n_splits < 1:
            raise ValueError(f"n_splits must be a positive int; got {self.n_splits!r}.")
        t, is_datetime = _time_values(X, self.time_col)
        gap = self.gap
        if isinstance(gap, datetime.timedelta | np.timedelta64):
            gap = pd.Timedelta(gap)  # before numbers: timedelta64 is an integer type
        if isinstance(gap, bool) or not (
            isinstance(gap, numbers.Real | str | pd.Timedelta)
        ):
            raise TypeError(
                f"gap must be a number (the time column's unit) or a duration such "
                f"as '1D' or pd.Timedelta for a datetime column; got {gap!r}."
            )
        if isinstance(gap, numbers.Real) and not isinstance(gap, pd.Timedelta):
            gap = float(gap)
            if not gap >= 0:  # NaN fails too
                raise ValueError(f"gap must be >= 0; got {self.gap!r}.")
        else:  # a duration: seconds on a datetime axis
            try:
                duration = pd.Timedelta(gap)
            except ValueError:
                raise ValueError(f"gap={gap!r} is not a duration.") from None
            zero = duration == pd.Timedelta(0)
            shown = self.gap if isinstance(self.gap, str) else duration
            gap = 0.0 if zero else time_span(shown, is_datetime, "gap")
        unique = np.unique(t)
        if unique.size < self.n_splits + 1:
            raise ValueError(
                f"TemporalSplit needs at least n_splits + 1 = {self.n_splits + 1} "
                f"distinct times in {self.time_col!r}; found {unique.size}."
            )
        order = np.argsort(t, kind="stable")
        sorted_t = t[order]
        n = t.size
        positions = (np.arange(1, self.n_splits + 1) * n) // (self.n_splits + 1)
        # each cut-off a distinct time after the previous one and after the
        # oldest, leaving one distinct time for each cut-off still to come
        # (many events at the newest times would otherwise run out of them)
        cutoffs, previous = [], 0
        for i, p in enumerate(positions):
            at = int(np.searchsorted(unique, sorted_t[p]))
            at = min(max(at, previous + 1), unique.size - self.n_splits + i)
            cutoffs.append(unique[at])
            previous = at
        cutoffs.append(np.inf)
        for i in range(self.n_splits):
            lo, hi = cutoffs[i], cutoffs[i + 1]
            test = np.flatnonzero((t >= lo) & (t < hi))
            train = np.flatnonzero(t < lo - gap)
            if self.max_train_size is not None and train.size > self.max_train_size:
                # the newest events, a time's events all or none (row order
                # must not choose among equal times)
                newest = np.sort(t[train])[::-1]
                edge = newest[self.max_train_size - 1]
                keep = t[train] > edge
                if newest[self.max_train_size] != edge or not keep.any():
                    keep |= t[train] == edge  # fits, or nothing newer to keep
                train = train[keep]
            if train.size == 0 or test.size == 0:
                raise ValueError(
                    f"Split {i} of TemporalSplit is empty (train {train.size}, test "
                    f"{test.size} rows); use fewer splits or a smaller gap."
                )
            yield train, test


def _hashable_ids(users):
    """Ids as an object array in which an integral float is its int (42.0 is 42).

    ``pandas.util.hash_array`` hashes objects by their text, and "42.0" is not
    "42": a column of int ids read as floats (a gap, a merge) would draw
    other cold users.
    """
    arr = np.asarray(users)
    ids = arr.astype(object)
    if arr.dtype.kind == "f":
        whole = np.isfinite(arr) & (np.abs(arr) < 2.0**63) & (arr == np.round(arr))
        ids[whole] = arr[whole].astype(np.int64).astype(object)
    elif arr.dtype == object:
        for i, u in enumerate(ids):
            if isinstance(u, float | np.floating) and float(u).is_integer():
                ids[i] = int(u)
    return ids


class UserTemporalSplit(_ReportMixin, BaseCrossValidator):
    """Each user's most recent events go to test (leave-last-out).

    For every user with at least ``min_train_events + 1`` events, the last
    ``test_size`` events (an int: that many; a float: that fraction of the
    user's events, at least one) form the test fold, and all of the user's
    earlier events are training rows. Users with fewer events stay entirely in
    training. With ``n_splits > 1`` the windows roll back in time: split
    ``n_splits - 1`` (the last) tests on the most recent window, split 0 on the
    oldest, and each trains only on the events before its window, so no test
    event of a user is older than that user's training events.

    Within a user, events are ordered by ``time_col`` and then by row order.
    Note that, unlike :class:`TemporalSplit`, one user's training events may be
    later (in global time) than another user's test events.

    Parameters
    ----------
    user_col : str or int, default="user_id"
    time_col : str or int, default="timestamp"
    test_size : int or float, default=1
        Events per user in each test window (int) or fraction (float in (0, 1)).
    n_splits : int, default=1
    min_train_events : int, default=1
        Events a user must keep in training for the split to include them.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 3],
    ...                   "timestamp": [3, 1, 2, 5, 4, 9]})
    >>> train, test = next(UserTemporalSplit().split(X))
    >>> sorted(train.tolist()), sorted(test.tolist())
    ([1, 2, 4, 5], [0, 3])
    """

    def __init__(
        self,
        user_col="user_id",
        time_col="timestamp",
        *,
        test_size=1,
        n_splits=1,
        min_train_events=1,
    ):
        self.user_col = user_col
        self.time_col = time_col
        self.test_size = test_size
        self.n_splits = n_splits
        self.min_train_events = min_train_events

    def get_n_splits(self, X=None, y=None, groups=None):
        """Return the number of splits."""
        return self.n_splits

    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` row indices, oldest window first."""
        size = self.test_size
        if isinstance(size, numbers.Integral) and not isinstance(size, bool):
            if size < 1:
                raise ValueError(f"test_size must be >= 1 as an int; got {size}.")
        elif isinstance(size, numbers.Real):
            if not 0 < size < 1:
                raise ValueError(f"test_size must be in (0, 1) as a float; got {size}.")
        else:
            raise TypeError(f"test_size must be an int or a float; got {size!r}.")
        if not isinstance(self.n_splits, numbers.Integral) or self.n_splits < 1:
            raise ValueError(f"n_splits must be a positive int; got {self.n_splits!r}.")
        users = _column(X, self.user_col, "user_col")
        t, _ = _time_values(X, self.time_col)
        codes, _ = pd.factorize(users)
        n = codes.size
        # recency rank within the user: 0 = the most recent event
        order = np.lexsort((np.arange(n), t, codes))
        counts = np.bincount(codes)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        pos = np.empty(n, dtype=np.int64)
        pos[order] = np.arange(n) - starts[codes[order]]
        recency = counts[codes] - 1 - pos
        if isinstance(size, numbers.Integral):
            window = np.full(counts.shape, size, dtype=np.int64)
        else:
            window = np.maximum(1, np.ceil(size * counts)).astype(np.int64)
        for s in range(self.n_splits):
            back = self.n_splits - 1 - s  # windows between this one and the end
            lo = back * window  # recency ranks [lo, lo + window) are the test
            eligible = counts - lo - window >= self.min_train_events
            w_row, lo_row, ok = window[codes], lo[codes], eligible[codes]
            test = np.flatnonzero(ok & (recency >= lo_row) & (recency < lo_row + w_row))
            train = np.flatnonzero(
                (ok & (recency >= lo_row + w_row)) | (~ok & (recency >= lo_row))
            )
            if test.size == 0:
                raise ValueError(
                    f"Split {s} of UserTemporalSplit has no test row: no user has "
                    "enough events; lower test_size, n_splits or min_train_events."
                )
            yield train, test


class UserKFold(_ReportMixin, GroupKFold):
    """K-fold by user: every user's events fall in one fold (cold-start CV).

    ``GroupKFold`` with the groups read from ``X[user_col]``, so it works as
    ``cv=`` in ``GridSearchCV`` without passing ``groups``. Use it to measure
    how a model does on users it has never seen; use
    :class:`UserTemporalSplit` or :class:`TemporalSplit` for warm users.

    Parameters
    ----------
    n_splits : int, default=5
    user_col : str or int, default="user_id"
    shuffle : bool, default=False
    random_state : int, default=None

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"user_id": [1, 1, 2, 2, 3, 3]})
    >>> [len(test) for _, test in UserKFold(n_splits=3).split(X)]
    [2, 2, 2]
    """

    def __init__(
        self, n_splits=5, *, user_col="user_id", shuffle=False, random_state=None
    ):
        super().__init__(n_splits=n_splits, shuffle=shuffle, random_state=random_state)
        self.user_col = user_col

    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` row indices; the groups are ``X[user_col]``."""
        users = _column(X, self.user_col, "user_col")
        yield from super().split(X, y, groups=users)

    def get_n_splits(self, X=None, y=None, groups=None):
        """Return the number of splits."""
        return self.n_splits


class EventKFold(_ReportMixin, BaseCrossValidator):
    """K-fold over events that stays put when events are appended.

    The folds of the default pipeline's cross-fitted embedders. An event's
    fold comes from the block of ``n_splits`` consecutive rows it falls in (a
    seeded permutation per block, so the folds are balanced): appending events
    to ``X`` never moves an earlier event to another fold, whereas a ``KFold``
    with ``shuffle=True`` reshuffles every row when one is added (and the
    out-of-fold features, and every model fitted on them, move with it).

    Optionally a seeded ``cold_user_fraction`` of the users have all their
    events in one fold (by a seeded hash of the user id,
    ``pandas.util.hash_array``, also append-stable): their out-of-fold
    embeddings are those of an unseen user, so a downstream head learns what
    cold users look like. Out of plain event folds, every out-of-fold
    embedding comes from a model that saw the row's user.

    Parameters
    ----------
    n_splits : int, default=5
    user_col : str or int, default="user_id"
        Read only when ``cold_user_fraction > 0``.
    cold_user_fraction : float in [0, 1), default=0.0
        Expected share of users held out whole.
    random_state : int, default=0
        Seeds both assignments (None means 0: the folds are always
        reproducible).

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 2, 3, 3, 3, 4]})
    >>> [len(test) for _, test in EventKFold(n_splits=2).split(X)]
    [5, 5]
    """

    def __init__(
        self, n_splits=5, *, user_col="user_id", cold_user_fraction=0.0, random_state=0
    ):
        self.n_splits = n_splits
        self.user_col = user_col
        self.cold_user_fraction = cold_user_fraction
        self.random_state = random_state

    def _validate(self):
        if not isinstance(self.n_splits, numbers.Integral) or self.n_splits < 2:
            raise ValueError(f"n_splits must be an int >= 2; got {self.n_splits!r}.")
        f = self.cold_user_fraction
        if not isinstance(f, numbers.Real) or not 0 <= f < 1:
            raise ValueError(f"cold_user_fraction must be in [0, 1); got {f!r}.")
        seed = 0 if self.random_state is None else self.random_state
        if not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(
                f"random_state must be a non-negative int or None; got {seed!r}."
            )
        return int(seed)

    def folds(self, X):
        """Return the fold of every row of ``X``, shape ``(n_samples,)``.

        Raises ``ValueError`` for fewer rows than ``n_splits``.
        """
        seed = self._validate()
        n, k = _num_rows(X), self.n_splits
        if n < k:
            raise ValueError(f"n_splits={k} is more than the {n} rows of X.")
        draws = np.random.default_rng([seed, 1]).random((-(-n // k), k))
        fold = np.argsort(draws, axis=1).ravel()[:n]
        if self.cold_user_fraction > 0:
            users = _column(X, self.user_col, "user_col")
            key = f"{seed:016d}"[-16:]
            h = pd.util.hash_array(_hashable_ids(users), hash_key=key)
            cold = (h >> np.uint64(11)).astype(np.float64) / 2.0**53
            cold = cold < self.cold_user_fraction
            fold = np.where(cold, (h % np.uint64(k)).astype(np.int64), fold)
        return fold

    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` row indices."""
        fold = self.folds(X)
        index = np.arange(fold.size)
        for k in range(self.n_splits):
            test = fold == k
            if not test.any() or test.all():
                raise ValueError(
                    f"Fold {k} has {'no' if not test.any() else 'every'} row: too "
                    "few users or events for this many splits."
                )
            yield index[~test], index[test]

    def get_n_splits(self, X=None, y=None, groups=None):
        """Return the number of splits."""
        return self.n_splits
