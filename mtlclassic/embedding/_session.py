r"""Session features: the user's current intent next to their history.

:class:`SessionEmbedder` cuts each user's events into *sessions* (a new one
after ``gap`` seconds without an event, or by a ``session_col``) and gives
every event features of the **earlier** events of its session only — those
with a strictly smaller time: never the event itself, a later one, or one at
the same instant (so the order of the rows never matters):

- ``session_length``: how many earlier events the session has;
- ``session_elapsed``: seconds since the session's first event;
- ``session_mean_<k>`` and ``session_last_<k>``: the mean of the earlier
  events' item vectors, and of those at the latest earlier instant, from a
  fitted item embedding (ALS by default; any embedder with
  ``item_vectors()``); items without a vector are left out of the means;
- ``session_mean_dot`` and ``session_last_dot``: their dot products with the
  event's own (candidate) item vector;
- ``session_category_share`` (with ``category_col``): the share of the earlier
  events in the event's item category.

A feature with nothing to average is NaN (LightGBM's missing value). At
prediction time, the session so far is context: :func:`session_context` (what
:meth:`mtlclassic.Recommender.recommend` does with ``session=``) puts those
events before the rows being scored — a scored row of a user with context
events counts as coming at its own time, or just after the last of them if
its time is earlier; a row more than ``gap`` after the last context event
starts a new session (the context then does not count) — so the top-K
changes as the session goes. The context is kept per thread:
concurrent calls with different sessions do not mix.
"""

import contextlib
import numbers
import threading
import warnings

import numpy as np
import pandas as pd
from sklearn.base import clone

from .._compat import (
    Interval,
    _fit_context,
    _safe_indexing,
    check_is_fitted,
    validate_data,
)
from .._crossfit import out_of_fold, resolve_cv
from .._ids import lookup_ids
from .._serving import register
from .._time import time_values
from ._als import ALSEmbedder
from ._base import BaseEmbedder, find_embedders

__all__ = ["SessionCarry", "SessionEmbedder", "session_context", "session_features"]

# session_context's events per embedder, per thread: concurrent calls with
# different sessions never see each other's (the fitted embedder is shared)
_CONTEXT = threading.local()


def _context_of(embedder):
    return getattr(_CONTEXT, "events", {}).get(id(embedder))


def _starts(keys_sorted):
    """Position of the first row of each row's run of equal keys (sorted rows)."""
    n = keys_sorted[0].size
    new = np.ones(n, dtype=bool)
    if n > 1:
        change = np.zeros(n - 1, dtype=bool)
        for key in keys_sorted:
            change |= key[1:] != key[:-1]
        new[1:] = change
    return np.maximum.accumulate(np.where(new, np.arange(n), 0))


def _prefix(values):
    """Exclusive prefix sums along axis 0: ``out[i] = values[:i].sum(0)``."""
    out = np.zeros((values.shape[0] + 1,) + values.shape[1:])
    np.cumsum(values, axis=0, out=out[1:])
    return out


def session_ids(user, time, gap, session=None, tiebreak=None):
    """Sort events by user, session and time; number their sessions.

    Returns ``(order, sess, boundary)``: the sorting permutation, each sorted
    event's session number (0, 1, ...) and whether it starts a session (a
    new user, a new ``session`` code, or, without codes, more than ``gap``
    seconds since the user's previous event). ``tiebreak`` orders events at
    the same instant (so the result never depends on the row order).
    """
    n = user.size
    key = np.zeros(n, dtype=np.int64) if session is None else session
    keys = (time, key, user) if tiebreak is None else (tiebreak, time, key, user)
    order = np.lexsort(keys)
    u, t, s = user[order], time[order], key[order]
    boundary = np.ones(n, dtype=bool)
    if n > 1:
        boundary[1:] = (u[1:] != u[:-1]) | (s[1:] != s[:-1])
        if session is None:
            boundary[1:] |= np.diff(t) > gap
    return order, np.cumsum(boundary) - 1, boundary


def session_features(user, time, item_rows, V, *, gap=1800.0, session=None,
                     category=None):  # fmt: skip
    """Features of every event from the earlier events of its session.

    Parameters
    ----------
    user : ndarray of int, shape (n,)
        User codes.
    time : ndarray of float, shape (n,)
        Event times in seconds.
    item_rows : ndarray of int, shape (n,)
        Row of each event's item in ``V``; -1 for an item without a vector.
    V : ndarray of shape (n_items, k)
        Item vectors.
    gap : float, default=1800
        Seconds without an event that start a new session (ignored with
        ``session``).
    session : ndarray of int, shape (n,), default=None
        Explicit session codes (sessions are then per user and code).
    category : ndarray of int, shape (n,), default=None
        Item category codes (-1: missing).

    Returns
    -------
    F : ndarray of shape (n, 4 + 2k [+ 1])
        In the input order: length, elapsed, mean (k), last (k), mean dot,
        last dot [, category share].
    """
    n = user.size
    order, sess, boundary = session_ids(user, time, gap, session, item_rows)
    t, r = time[order], item_rows[order]
    first = np.maximum.accumulate(np.where(boundary, np.arange(n), 0))
    tie = _starts((sess, t))
    length = (tie - first).astype(np.float64)
    elapsed = t - t[first]

    known = r >= 0
    vectors = np.where(known[:, None], V[np.maximum(r, 0)], 0.0) if n else V[:0]
    C, K = _prefix(vectors), _prefix(known.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (C[tie] - C[first]) / (K[tie] - K[first])[:, None]
        previous = tie[np.maximum(tie - 1, 0)]  # start of the latest earlier instant
        last = (C[tie] - C[previous]) / (K[tie] - K[previous])[:, None]
    last[length == 0] = np.nan
    own = np.where(known[:, None], vectors, np.nan)
    columns = [length, elapsed, mean, last,
               np.sum(mean * own, axis=1), np.sum(last * own, axis=1)]  # fmt: skip
    if category is not None:
        c = category[order]
        by_cat = np.lexsort((r, t, c, sess))
        cs, ct, cc = sess[by_cat], t[by_cat], c[by_cat]
        same = _starts((cs, cc))
        count = np.empty(n)
        count[by_cat] = _starts((cs, cc, ct)) - same
        with np.errstate(invalid="ignore", divide="ignore"):
            share = count / length
        share[(c < 0) | (length == 0)] = np.nan
        columns.append(share)
    F = np.column_stack([np.reshape(col, (n, -1)) for col in columns])
    out = np.empty_like(F)
    out[order] = F
    return out


class SessionEmbedder(BaseEmbedder):
    """Session features of each event from the earlier events of its session.

    See the module docstring for the features. Sessions: a user's events
    sorted by time, a new session after ``gap`` seconds without an event (or
    one session per value of ``session_col``). The item vectors come from
    ``item_embedder`` (default: ``ALSEmbedder(factors=16)``), fitted on the
    events in ``fit``.

    Parameters
    ----------
    user_col, item_col : str or int, default="user_id", "item_id"
        The id columns of ``X`` (names, or positions for an array).
    time_col : str or int, default="timestamp"
        Event times: numbers **in seconds** (convert milliseconds first, or
        every event becomes its own session) or datetimes.
    gap : float, default=1800
        Seconds of inactivity that end a session (30 minutes, the usual web
        analytics rule).
    session_col : str or None, default=None
        A column of session ids to use instead of the ``gap`` rule.
    category_col : str or None, default=None
        An item category column: adds ``session_category_share``.
    item_embedder : embedder or None, default=None
        Any embedder with ``item_vectors()`` (``ALSEmbedder``,
        ``FMEmbedder``, ...), cloned and fitted on ``X``; None gives
        ``ALSEmbedder(factors=16, iterations=15, n_jobs=n_jobs)``.
    vectors : bool, default=True
        Output the mean and last item vectors themselves (2k columns), not
        only their dot products with the candidate item.
    passthrough : bool, default=True
        Keep the input columns after the new ones.
    cv : int, splitter or None, default=None
        Cross-fitting of ``fit_transform``: the item vectors of each fold's
        events come from an embedding fitted without them (the sessions are
        built from all rows, since earlier events are inputs, not labels).
        In :func:`~mtlclassic.make_multitask_recommender` a None ``cv`` gets
        the pipeline's folds.
    n_jobs : int or None, default=None
        Threads of the default ALS.
    random_state : int or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    item_embedder_ : embedder
        The fitted item embedding.
    item_ids_ : ndarray of shape (n_items,)
    item_vectors_ : ndarray of shape (n_items, k)
    n_features_in_, feature_names_in_

    Examples
    --------
    >>> import pandas as pd
    >>> from mtlclassic import SessionEmbedder
    >>> X = pd.DataFrame({"user_id": [1, 1, 1, 2], "item_id": [10, 11, 10, 11],
    ...                   "timestamp": [0, 60, 120, 0]})
    >>> emb = SessionEmbedder(vectors=False, random_state=0).fit(X)
    >>> emb.transform(X)[:, 0].tolist()  # events earlier in the session
    [0.0, 1.0, 2.0, 0.0]
    """

    _parameter_constraints = {
        "user_col": [str, numbers.Integral],
        "item_col": [str, numbers.Integral],
        "time_col": [str, numbers.Integral],
        "gap": [Interval(numbers.Real, 0, None, closed="neither")],
        "session_col": [None, str],
        "category_col": [None, str],
        "item_embedder": "no_validation",
        "vectors": ["boolean"],
        "passthrough": ["boolean"],
        "cv": [None, "cv_object", Interval(numbers.Integral, 0, 1, closed="both")],
        "n_jobs": [None, numbers.Integral],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    _uses_session_context = True  # session_context finds it by this
    _reads_time = True  # the pipeline puts it before the time column is dropped
    _output_pattern = "^session_"  # its columns, which the pipeline's FM skips

    def __init__(self, user_col="user_id", item_col="item_id", time_col="timestamp",
                 *, gap=1800.0, session_col=None, category_col=None,
                 item_embedder=None, vectors=True, passthrough=True, cv=None,
                 n_jobs=None, random_state=None, verbose=0):  # fmt: skip
        self.user_col = user_col
        self.item_col = item_col
        self.time_col = time_col
        self.gap = gap
        self.session_col = session_col
        self.category_col = category_col
        self.item_embedder = item_embedder
        self.vectors = vectors
        self.passthrough = passthrough
        self.cv = cv
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------- fit
    def _check_frame(self, X, *, reset):
        """Validate ``X``; return it as a DataFrame (an array's columns: 0, 1, ...)."""
        if not isinstance(X, pd.DataFrame):
            X = validate_data(
                self, X, reset=reset, dtype="numeric", ensure_all_finite=False
            )
            X = pd.DataFrame(X)
        else:
            validate_data(self, X, skip_check_array=True, reset=reset)
        self._names = [self._label(X, p) for p in self._needed_params()]
        if X.shape[0] == 0 and reset:
            raise ValueError("X is empty (0 rows); SessionEmbedder needs events.")
        return X

    def _needed_params(self):
        params = ["user_col", "item_col", "time_col", "session_col", "category_col"]
        return [p for p in params if getattr(self, p) is not None]

    def _label(self, X, param):
        """Return the label of the column of ``X`` that ``param`` names."""
        key = getattr(self, param)
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            if not 0 <= key < X.shape[1]:
                raise ValueError(
                    f"{param}={key} is out of range: X has {X.shape[1]} feature(s) "
                    "(columns)."
                )
            return X.columns[key]
        if key not in X.columns:
            raise ValueError(
                f"{param}={key!r}: X has no column {key!r}; SessionEmbedder reads "
                "user_col, item_col, time_col (and session_col, category_col)."
            )
        return key

    def _needed(self):
        return list(getattr(self, "_names", []))

    def _make_item_embedder(self):
        if self.item_embedder is not None:
            return clone(self.item_embedder)

        return ALSEmbedder(
            factors=16, iterations=15, user_col=self.user_col,
            item_col=self.item_col, n_jobs=self.n_jobs,
            random_state=self.random_state, verbose=self.verbose,
        )  # fmt: skip

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the item embedding on the events of ``X``.

        Parameters
        ----------
        X : DataFrame of shape (n_events, n_columns)
            With ``user_col``, ``item_col`` and ``time_col`` (and
            ``session_col``/``category_col`` when set).
        y : None or labels
            Passed to the item embedder's ``fit`` (an FM needs them).

        Returns
        -------
        self : SessionEmbedder

        Raises
        ------
        TypeError
            If the item embedder has no ``item_vectors()``, or the time
            column holds neither numbers nor datetimes.
        ValueError
            If a needed column is missing (a position out of range for an
            array ``X``), or a time or id is missing.
        """
        X = self._check_frame(X, reset=True)
        self._log(X)  # validates ids and times
        embedder = self._make_item_embedder()
        if hasattr(embedder, "set_params") and "cv" in embedder.get_params():
            embedder.set_params(cv=None)  # fitted on all rows; folds: fit_transform
        embedder.fit(X, y)
        found = embedder.item_vectors() if hasattr(embedder, "item_vectors") else None
        if found is None:
            raise TypeError(
                f"item_embedder {type(embedder).__name__} has no item_vectors(); "
                "SessionEmbedder needs one (ALSEmbedder, FMEmbedder, ...)."
            )
        self.item_embedder_ = embedder
        self.item_ids_ = np.asarray(found[0])
        self.item_vectors_ = np.asarray(found[1], dtype=np.float64)
        self._remember_passthrough(X)
        return self

    # ---------------------------------------------------------- features
    def _log(self, X):
        """Columns of the event log: user, time (s), item, session, category."""
        names = dict(zip(self._needed_params(), self._needed()))
        for param in ("user_col", "item_col"):
            self._id_values(X, X.columns.get_loc(names[param]), param)
        seconds, _ = time_values(X[names["time_col"]], str(names["time_col"]))
        if not np.isfinite(seconds).all():
            raise ValueError(
                f"time_col {names['time_col']!r} has missing or infinite times; every "
                "event needs one."
            )
        session = category = None
        if self.session_col is not None:
            session = pd.factorize(X[names["session_col"]], use_na_sentinel=False)[0]
        if self.category_col is not None:
            category = pd.factorize(X[names["category_col"]])[0]
        users = X[names["user_col"]].to_numpy()
        return users, seconds, X[names["item_col"]].to_numpy(), session, category

    def _features_of(self, log):
        users, seconds, items, session, category = log
        rows = lookup_ids(self.item_ids_, items, "item_col")
        codes = pd.factorize(users)[0]
        F = session_features(
            codes, seconds, rows, self.item_vectors_, gap=float(self.gap),
            session=session, category=category,
        )  # fmt: skip
        if not self.vectors:
            k = self.item_vectors_.shape[1]
            F = np.delete(F, np.arange(2, 2 + 2 * k), axis=1)
        return F

    def _joined_log(self, X):
        """Return the log of ``X`` after the context events (session_context).

        Returns the log and how many context rows come first. The rows of a
        user with context events come after them: their time is at least
        just past the user's last context event (the session *so far*).
        """
        context = _context_of(self)
        if context is None:
            return self._log(X), 0
        columns = self._needed()
        time_col = dict(zip(self._needed_params(), columns))["time_col"]
        kinds = [
            time_values(frame[time_col], str(time_col))[1] for frame in (context, X)
        ]
        if kinds[0] != kinds[1]:  # else one column of Timestamps and ints
            shown = ("numbers", "datetimes")
            raise ValueError(
                f"The session's times ({time_col!r}) are {shown[kinds[0]]}, but the "
                f"rows scored with them (the model's context) hold {shown[kinds[1]]}: "
                "give the session's times in the kind the model was fitted on."
            )
        joined = pd.concat([context[columns], X[columns]], ignore_index=True)
        users, seconds, items, session, category = self._log(joined)
        n = len(context)
        last = pd.Series(seconds[:n]).groupby(pd.Series(users[:n])).max()
        floor = pd.Series(users[n:]).map(last).to_numpy(dtype=np.float64)
        after = np.nextafter(floor, np.inf)
        seconds = seconds.copy()
        seconds[n:] = np.where(np.isnan(floor), seconds[n:],
                               np.fmax(seconds[n:], after))  # fmt: skip
        return (users, seconds, items, session, category), n

    def _embed(self, X):
        X = self._check_frame(X, reset=False)
        if len(X) == 0:
            return X, np.zeros((0, len(self._embedding_names())))
        log, skip = self._joined_log(X)
        return X, self._features_of(log)[skip:]

    def _embedding_names(self):
        k = self.item_vectors_.shape[1]
        names = ["session_length", "session_elapsed"]
        if self.vectors:
            names += [f"session_mean_{j}" for j in range(k)]
            names += [f"session_last_{j}" for j in range(k)]
        names += ["session_mean_dot", "session_last_dot"]
        if self.category_col is not None:
            names.append("session_category_share")
        return names

    def fit_transform(self, X, y=None, **fit_params):
        """Fit on all rows; return features with out-of-fold item vectors.

        Sessions are built from every row (earlier events are inputs); the
        item vectors used for the rows of fold ``k`` come from an embedding
        fitted on the other folds, so an event's own interaction never
        shaped the vectors of its features.
        """
        self.fit(X, y, **fit_params)
        splitter = resolve_cv(self.cv, self.random_state)
        if splitter is None:
            return self.transform(X)
        log = self._log(X)

        def fit_predict(train, test):
            fold = clone(self).set_params(cv=None)
            y_train = None if y is None else _safe_indexing(y, train)
            fold.fit(_safe_indexing(X, train), y_train)
            return fold._features_of(log)[test]

        Z = out_of_fold(fit_predict, X, y, splitter=splitter)
        return self._output(X, X, Z)

    def latest_sessions(self, events):
        """Return the rows of ``events`` in each user's latest session.

        What a later batch of rows can still continue (the context a chunked
        scorer carries from chunk to chunk).
        """
        check_is_fitted(self)
        users, seconds, _, session, _ = self._log(events)  # the needed columns
        codes = pd.factorize(users)[0]
        order, sess, _ = session_ids(codes, seconds, float(self.gap), session)
        last = pd.Series(sess).groupby(codes[order]).transform("max").to_numpy()
        return events.iloc[np.sort(order[sess == last])]

    def known_ids(self):
        """Return the items with a vector (users need no history here)."""
        check_is_fitted(self)
        return {self._needed()[1]: np.asarray(self.item_ids_, dtype=object)}

    def item_vectors(self):
        """Return the item embedding's ``(item_ids, V)``."""
        check_is_fitted(self)
        return self.item_ids_, self.item_vectors_


@contextlib.contextmanager
def session_context(model, events):
    """Score with ``events`` (the session so far) before the rows of ``model``.

    Within the block, every :class:`SessionEmbedder` of ``model`` (a Pipeline
    or an embedder) computes its features as if ``events`` came before the
    rows it transforms; ``events`` None changes nothing.

    Parameters
    ----------
    model : estimator or Pipeline
    events : DataFrame or None
        Earlier events with the embedders' user, item and time columns.

    Raises
    ------
    TypeError
        If ``events`` is not a DataFrame (or None).
    """
    found = [
        e for e in find_embedders(model) if getattr(e, "_uses_session_context", False)
    ]
    if events is not None and not isinstance(events, pd.DataFrame):
        raise TypeError(f"session must be a DataFrame; got {type(events).__name__}.")
    if events is None or len(events) == 0 or not found:  # no session so far
        yield
        return
    for embedder in found:
        missing = [c for c in embedder._needed() if c not in events.columns]
        if missing:
            raise ValueError(
                f"session has no column(s) {missing}: the session's events need "
                f"{embedder._needed()} (their time included)."
            )
        embedder._log(events)  # refuse missing ids or times now, naming them
    store = getattr(_CONTEXT, "events", None)
    if store is None:
        store = _CONTEXT.events = {}
    saved = {id(e): store.get(id(e)) for e in found}
    try:
        for embedder in found:
            store[id(embedder)] = events.reset_index(drop=True)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                store.pop(key, None)
            else:
                store[key] = value


class SessionCarry:
    """Carry open sessions from one chunk of rows to the next (chunked scoring).

    Each chunk is scored with the earlier chunks' events of every user's
    latest session as context (:func:`session_context`): exact when each
    user's rows come in time order across chunks (a file sorted by time),
    as the features of a row never look at later rows.
    """

    def __init__(self, model):
        self.model = model
        self.embedders = [
            e for e in find_embedders(model)
            if getattr(e, "_uses_session_context", False)
        ]  # fmt: skip
        self.events = None
        self.warned = False

    def context(self):
        """Return the :func:`session_context` of the next chunk."""
        return session_context(self.model, self.events)

    def push(self, rows):
        """Add a scored chunk's rows; keep only the open sessions."""
        if not self.embedders or not isinstance(rows, pd.DataFrame):
            return
        columns = sorted({c for e in self.embedders for c in e._needed()}, key=str)
        rows = rows[columns]
        first = self.embedders[0]
        if self.events is not None and not self.warned:
            users, seconds = first._log(rows)[:2]
            before = first._log(self.events)
            latest = pd.Series(before[1]).groupby(pd.Series(before[0])).max()
            floor = pd.Series(users).map(latest).to_numpy(dtype=np.float64)
            if np.any(seconds < floor):  # NaN (a new user) compares False
                self.warned = True
                warnings.warn(
                    "Rows of a user came before that user's rows of an earlier "
                    "chunk: their session features miss events; sort the input "
                    "by time for exact session features.",
                    UserWarning,
                    stacklevel=2,
                )
        joined = rows if self.events is None else pd.concat(
            [self.events, rows], ignore_index=True
        )  # fmt: skip
        self.events = first.latest_sessions(joined)


def _no_onnx(g, name, step, frame):
    raise ValueError(
        f"step {name!r} ({type(step).__name__}) cannot be exported to ONNX: its "
        "features depend on the earlier events of each session, a state one "
        "graph call does not hold; score sessions with compile() or predict."
    )


register(SessionEmbedder, onnx_transform=_no_onnx)  # the compiled path: transform
