"""ALSEmbedder: implicit-feedback ALS factors as a cross-fitted transformer."""

import numbers
from contextlib import nullcontext

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.utils import check_random_state

from .._compat import (
    Interval,
    StrOptions,
    _fit_context,
    check_is_fitted,
    effective_n_jobs,
    implicit_threads,
    import_implicit,
    validate_data,
)
from .._ids import check_pairs, check_query_ids, conform_ids
from .._ids import id_index as _id_index
from .._ids import lookup_ids as _lookup
from .._interactions import check_weight_sums
from ._als_ahead import adopt, adopt_embedding, record, recording
from ._base import BaseEmbedder, unique_output_names

__all__ = ["ALSEmbedder"]

_FEATURE_BLOCKS = ("user", "item", "score")


def _drop_empty(user_items, user_index, item_index):
    """Drop users and items without a nonzero interaction (one cold-start rule).

    A user whose events all have weight 0 (or cancel out) has nothing to be
    fitted on: left in, ALS would give them a zero factor and a "known" user's
    candidates. Dropped, they are unseen ids like any other, with the
    ``unknown`` factors and popular candidates.
    """
    if user_items.nnz == 0:
        raise ValueError(
            "Every interaction has weight 0 (weight_col): there is nothing to fit."
        )
    active_users = np.diff(user_items.indptr) > 0
    active_items = np.bincount(user_items.indices, minlength=user_items.shape[1]) > 0
    if active_users.all() and active_items.all():
        return user_items, user_index, item_index
    user_items = user_items[active_users][:, active_items].tocsr()
    return user_items, user_index[active_users], item_index[active_items]


class ALSEmbedder(BaseEmbedder):
    r"""User and item factors from implicit-feedback ALS, as a cross-fitted transformer.

    The events table ``X`` (one row per user-item interaction) is turned into
    a user :math:`\times` item matrix :math:`R` (``r_ui`` = the sum of the
    events' weights, 1 per event by default) and factorised by implicit's
    alternating least squares [1]_ (:class:`implicit.cpu.als.AlternatingLeastSquares`,
    always on the CPU):

    .. math::

        \min_{U, V}\; \sum_{u, i} c_{ui}\,(p_{ui} - u_u^\top v_i)^2
        + \lambda \Big(\sum_u \|u_u\|^2 + \sum_i \|v_i\|^2\Big),

    with preference :math:`p_{ui} = 1` and confidence
    :math:`c_{ui} = \alpha\, r_{ui}` for observed pairs, and :math:`p_{ui} = 0`,
    :math:`c_{ui} = 1` for all the others (:math:`\lambda` = ``regularization``,
    :math:`\alpha` = ``alpha``).

    ``transform`` appends, to each row, the factors of its user and of its
    item and their dot product :math:`u_u^\top v_i` (the collaborative score),
    then the other columns of ``X``. ``fit_transform`` is **cross-fitted**
    (see Notes), so the embeddings it returns for the training rows are
    distributed like the ones ``transform`` gives for new rows.

    Parameters
    ----------
    user_col, item_col : str or int, default="user_id", "item_id"
        The user and item id columns. A str names a DataFrame column; an int
        is a column position (as in :class:`~sklearn.compose.ColumnTransformer`),
        which is how an ndarray ``X`` is addressed. Ids may be ints or strings
        (strings need a DataFrame) and need not be contiguous.
    weight_col : str, int or None, default=None
        Column with each event's interaction strength (finite; repeated
        events add up; a total of 0 means no interaction, a negative total a
        dislike as in implicit). None gives every event a weight of 1. The
        column is consumed by the embedder: it is not passed through.
    factors : int, default=32
        Dimension of the user and item factors.
    regularization : float, default=0.01
        L2 penalty :math:`\lambda` on the factors.
    alpha : float, default=1.0
        Confidence scale :math:`\alpha` of the observed interactions.
    iterations : int, default=15
        Number of ALS sweeps (users then items).
    cv : int, cross-validation generator, iterable or None, default=5
        Folds of the cross-fitted ``fit_transform``: each fold's rows are
        embedded by a model fitted on the other folds' rows. None, 0 or 1
        turns cross-fitting off (``fit_transform`` = ``fit().transform()``).
    features : tuple of {"user", "item", "score"}, default=("user", "item", "score")
        Which blocks ``transform`` outputs, always in the order user
        factors, item factors, score.
    unknown : {"zero", "mean"}, default="zero"
        Factors given to a user or item not seen in ``fit``: zeros (so a
        score of 0) or the mean of the fitted factors.
    passthrough : bool, default=True
        Append the other columns of ``X`` (all but the id and weight columns)
        after the embedding columns.
    n_jobs : int or None, default=None
        Threads of implicit's solver and top-k search (None means 1, -1 all
        cores); BLAS is held to one thread meanwhile, so nothing
        oversubscribes. ``transform`` is a single-threaded numpy gather.
    random_state : int, RandomState instance or None, default=None
        Seed of the factors' initialisation (an int is passed to implicit
        as it is) and of the cross-fitting folds.
    verbose : int, default=0
        Show implicit's progress bar while fitting when > 0.

    Attributes
    ----------
    user_factors_ : ndarray of shape (n_users, factors), dtype float32
        Row ``r`` holds the factors of user ``user_index_[r]``.
    item_factors_ : ndarray of shape (n_items, factors), dtype float32
        Row ``r`` holds the factors of item ``item_index_[r]``.
    user_index_ : ndarray of shape (n_users,)
        The user ids seen in ``fit`` (sorted; users added by ``fold_in``
        follow): the id -> row map, as the index of a table. String ids are
        stored as a fixed-width unicode array.
    item_index_ : ndarray of shape (n_items,)
        The item ids seen in ``fit``, sorted; the id -> row map of the items.
    user_items_ : scipy.sparse.csr_matrix of shape (n_users, n_items), float32
        The interactions ``r_ui`` seen in ``fit`` (and ``fold_in``); used to
        exclude seen items from :meth:`recommend_candidates`.
    cancelled_users_ : ndarray of int
        Set by :meth:`fold_in`: rows of ``user_index_`` whose interactions all
        cancelled out; they are served as unseen users.
    model_ : implicit.cpu.als.AlternatingLeastSquares
        The fitted implicit model (sharing its factor arrays with
        ``user_factors_`` and ``item_factors_``).
    n_features_in_ : int
        Number of columns of ``X`` in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of ``X`` in ``fit``, when it was a DataFrame with string
        column names.

    See Also
    --------
    sklearn.preprocessing.TargetEncoder : The cross-fitting pattern followed here.
    implicit.cpu.als.AlternatingLeastSquares : The solver.

    Notes
    -----
    **Why cross-fitting.** ALS fits every observed (user, item) pair towards a
    preference of 1, so the score :math:`u_u^\top v_i` of a *training* pair is
    systematically higher than the score of a pair the model has not seen. A
    downstream head trained on in-sample scores learns from a feature that
    looks different at prediction time. Measured on
    ``make_multitask_recsys(n_users=300, n_items=200, n_events=8000,
    random_state=0)`` with a random 75/25 row split and ``factors=16,
    regularization=0.1, iterations=10, random_state=0``, the median
    ``als_score`` is 0.67 on the training rows in-sample
    (``fit(X_train).transform(X_train)``) but 0.25 on the held-out rows
    (``transform(X_test)``); cross-fitted (``fit_transform(X_train)``,
    ``cv=5``) it is 0.20. The Kolmogorov-Smirnov distance to the held-out
    distribution falls from 0.30 (in-sample) to 0.05 (cross-fitted), as
    ``tests/test_als.py`` asserts. ``fit`` (and the end
    of ``fit_transform``) still trains the stored model on all rows, for
    later ``transform`` calls.

    **Output.** NumPy by default: float32 (the factors' dtype) unless a
    passthrough column needs more (int64 timestamps give float64); a
    categorical passthrough column becomes its codes (NaN when missing),
    another non-numeric column is an error there. With
    ``set_output(transform="pandas")`` the result is a DataFrame with the index
    of ``X`` and the passthrough columns in their own dtypes (categoricals
    stay categorical for LightGBM). Column names: ``als_user_0..``,
    ``als_item_0..``, ``als_score``, then the passthrough columns.

    **Cold start.** Unseen ids in ``transform`` get the ``unknown`` factors,
    never an error. A user or item whose events all weigh 0 (``weight_col``)
    has nothing to be fitted on and is unseen in the same way, in every
    method. :meth:`fold_in` computes the factors of new (or updated)
    users from their interactions with the item factors held fixed, without
    retraining; :meth:`recommend_candidates` gives unseen users the most
    popular items.

    References
    ----------
    .. [1] Y. Hu, Y. Koren and C. Volinsky, "Collaborative Filtering for
       Implicit Feedback Datasets", ICDM 2008.

    Examples
    --------
    >>> import pandas as pd
    >>> from mtlclassic import ALSEmbedder
    >>> X = pd.DataFrame({"user_id": ["a", "a", "b", "b", "c"],
    ...                   "item_id": [1, 2, 2, 3, 1],
    ...                   "hour": [9, 10, 11, 12, 13]})
    >>> emb = ALSEmbedder(factors=2, iterations=5, cv=None, random_state=0)
    >>> Z = emb.fit_transform(X)
    >>> Z.shape
    (5, 6)
    >>> list(emb.get_feature_names_out())
    ['als_user_0', 'als_user_1', 'als_item_0', 'als_item_1', 'als_score', 'hour']
    >>> emb.recommend_candidates(["a", "z"], n=1)[["user_id", "item_id", "rank"]]
      user_id  item_id  rank
    0       a        3     1
    1       z        1     1
    """

    _parameter_constraints: dict = {
        "user_col": [str, Interval(numbers.Integral, 0, None, closed="left")],
        "item_col": [str, Interval(numbers.Integral, 0, None, closed="left")],
        "weight_col": [str, Interval(numbers.Integral, 0, None, closed="left"), None],
        "factors": [Interval(numbers.Integral, 1, None, closed="left")],
        "regularization": [Interval(numbers.Real, 0, None, closed="left")],
        "alpha": [Interval(numbers.Real, 0, None, closed="neither")],
        "iterations": [Interval(numbers.Integral, 1, None, closed="left")],
        "cv": ["cv_object", Interval(numbers.Integral, 0, 1, closed="both")],
        "features": [list, tuple],
        "unknown": [StrOptions({"zero", "mean"})],
        "passthrough": ["boolean"],
        "n_jobs": [numbers.Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    _learns_interactions = True  # every row is an interaction (labels or not)

    def __init__(
        self,
        *,
        user_col="user_id",
        item_col="item_id",
        weight_col=None,
        factors=32,
        regularization=0.01,
        alpha=1.0,
        iterations=15,
        cv=5,
        features=("user", "item", "score"),
        unknown="zero",
        passthrough=True,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.user_col = user_col
        self.item_col = item_col
        self.weight_col = weight_col
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.cv = cv
        self.features = features
        self.unknown = unknown
        self.passthrough = passthrough
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ input
    def _validate_X(self, X, *, reset):
        """Validate ``X``; return it as a DataFrame or a 2-D numeric ndarray."""
        if isinstance(X, pd.DataFrame):
            if X.shape[0] == 0:
                raise ValueError(
                    "X is empty (0 rows); ALSEmbedder needs at least one event"
                    + (" to fit." if reset else " to transform (as scikit-learn's "
                       "estimators, it refuses empty input).")
                )  # fmt: skip
            validate_data(self, X, skip_check_array=True, reset=reset)
            return X
        return validate_data(
            self, X, reset=reset, dtype="numeric", ensure_all_finite=False
        )

    def _positions(self, columns, n_features):
        """Positions of the user, item and weight columns (weight may be None)."""
        out = self._column_positions(
            ("user_col", "item_col", "weight_col"), columns, n_features
        )
        user_pos, item_pos, _ = out
        if user_pos == item_pos:
            raise ValueError(
                f"user_col and item_col must be different columns; both are "
                f"column {user_pos}."
            )
        return out

    def _weights(self, X, position, n_rows):
        if position is None:
            return np.ones(n_rows, dtype=np.float32)
        try:
            weights = np.asarray(self._column(X, position), dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"weight_col={self.weight_col!r} must be a numeric column; got {exc}."
            ) from exc
        if not np.isfinite(weights).all():
            raise ValueError(
                f"weight_col={self.weight_col!r} has NaN or infinite weights."
            )
        return weights

    def _resolve_features(self):
        features = tuple(self.features)
        bad = [f for f in features if f not in _FEATURE_BLOCKS]
        if not features or bad or len(set(features)) != len(features):
            raise ValueError(
                "features must be a non-empty tuple of distinct blocks among "
                f"{_FEATURE_BLOCKS}; got {self.features!r}."
            )
        return features

    def _active_users(self, rows):
        """Mark users whose interactions all cancelled out (``fold_in``) as unseen."""
        cancelled = getattr(self, "cancelled_users_", None)
        if cancelled is None or cancelled.size == 0:
            return rows
        rows = rows.copy()
        rows[np.isin(rows, cancelled)] = -1
        return rows

    def _name(self, position):
        """Name of the input column at ``position`` (for messages)."""
        return str(self._names_in()[position])

    def _names_in(self):
        if hasattr(self, "feature_names_in_"):
            return np.asarray(self.feature_names_in_, dtype=object)
        return np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)

    # -------------------------------------------------------------------- fit
    def _make_model(self, n_threads):
        implicit = import_implicit()
        seed = self.random_state
        if seed is not None and not isinstance(seed, numbers.Integral):
            # implicit cannot take a RandomState: draw an int seed from it
            seed = int(check_random_state(seed).randint(np.iinfo(np.int32).max))
        return implicit.cpu.als.AlternatingLeastSquares(
            factors=self.factors,
            regularization=float(self.regularization),
            alpha=float(self.alpha),
            iterations=self.iterations,
            num_threads=n_threads,
            random_state=seed,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Map the ids to rows of a user x item matrix and factorise it with ALS.

        Parameters
        ----------
        X : DataFrame or ndarray of shape (n_events, n_columns)
            The events, with the ``user_col`` and ``item_col`` id columns
            (and ``weight_col`` if set).
        y : None
            Ignored.

        Returns
        -------
        self : ALSEmbedder
            Fitted on every row of ``X``.
        """
        self._resolve_features()
        X = self._validate_X(X, reset=True)
        columns = X.columns if isinstance(X, pd.DataFrame) else None
        user_pos, item_pos, weight_pos = self._positions(columns, X.shape[1])
        if columns is not None and self.passthrough:  # clashing names: before any work
            consumed = {user_pos, item_pos, weight_pos}
            passed = [str(c) for j, c in enumerate(columns) if j not in consumed]
            unique_output_names(self, self._embedding_names(self.factors) + passed)
        users = self._id_values(X, user_pos, "user_col")
        items = self._id_values(X, item_pos, "item_col")
        weights = self._weights(X, weight_pos, X.shape[0])

        user_index, user_rows = _id_index(users, "user_col")
        item_index, item_rows = _id_index(items, "item_col")
        user_items = sp.csr_matrix(
            (weights, (user_rows, item_rows)),
            shape=(user_index.size, item_index.size),
        ).astype(np.float32)
        user_items.sum_duplicates()
        check_weight_sums(user_items, self.weight_col)
        user_items.eliminate_zeros()
        user_items, user_index, item_index = _drop_empty(
            user_items, user_index, item_index
        )

        n_threads = effective_n_jobs(self.n_jobs)
        # fitted ahead (the default pipeline's, see _als_ahead): no thread-pool
        # limits there, the pipeline holds them
        limits = nullcontext() if recording() else implicit_threads(self.n_jobs)
        with limits:
            model = self._make_model(n_threads)
            if not adopt(model, user_items, user_index, item_index):
                model.fit(user_items, show_progress=bool(self.verbose))
                record(model, user_items, user_index, item_index)

        self.model_ = model
        self.user_factors_ = model.user_factors
        self.item_factors_ = model.item_factors
        self.user_index_ = user_index
        self.item_index_ = item_index
        self.user_items_ = user_items
        self._remember_passthrough(X)
        return self

    # -------------------------------------------------------------- transform
    def _fallback(self, factors):
        if self.unknown == "mean":
            return factors.mean(axis=0)
        return np.zeros(factors.shape[1], dtype=factors.dtype)

    def _gather(self, factors, rows):
        """``factors[rows]`` with the ``unknown`` factors where ``rows == -1``."""
        unseen = rows < 0
        any_unseen = unseen.any()
        safe = np.where(unseen, 0, rows) if any_unseen else rows
        gathered = np.take(factors, safe, axis=0)
        if any_unseen:
            gathered[unseen] = self._fallback(factors)
        return gathered

    def _embed(self, X):
        """Validate ``X``; return it and its user/item factors and their score.

        Unseen ids (and users whose interactions all cancelled out) get the
        ``unknown`` factors.
        """
        X = self._validate_X(X, reset=False)
        columns = X.columns if isinstance(X, pd.DataFrame) else None
        user_pos, item_pos, _ = self._positions(columns, X.shape[1])
        users = self._id_values(X, user_pos, "user_col")
        items = self._id_values(X, item_pos, "item_col")
        return X, self._embed_ids(users, items)

    def _embed_ids(self, users, items, user_index=None, item_index=None):
        """Return the new columns of the ids ``users`` and ``items`` (1-D arrays).

        ``user_index``/``item_index`` (pandas Indexes of ``user_index_`` and
        ``item_index_``) may be built once by the caller (the compiled path).
        """
        features = self._resolve_features()
        names = self._names_in()
        user_pos, item_pos, _ = self._positions(
            names if hasattr(self, "feature_names_in_") else None, names.size
        )
        user_rows = self._active_users(
            _lookup(self.user_index_, users, self._name(user_pos), built=user_index)
        )
        item_rows = _lookup(
            self.item_index_, items, self._name(item_pos), built=item_index
        )
        needed = set(features) | ({"user", "item"} if "score" in features else set())
        blocks = {  # contiguous gathers: faster than strided writes into one matrix
            b: self._gather(factors, rows)
            for b, factors, rows in (
                ("user", self.user_factors_, user_rows),
                ("item", self.item_factors_, item_rows),
            )
            if b in needed
        }
        parts = [blocks[b] for b in ("user", "item") if b in features]
        if "score" in features:
            parts.append(np.einsum("ij,ij->i", blocks["user"], blocks["item"])[:, None])
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def _embedding_names(self, k=None):
        """``als_user_0..``, ``als_item_0..``, ``als_score`` (the ``features``).

        ``k``: the factors (None: the fitted ones; ``fit`` names them ahead).
        """
        features = self._resolve_features()
        k = self.user_factors_.shape[1] if k is None else k
        names = []
        if "user" in features:
            names += [f"als_user_{j}" for j in range(k)]
        if "item" in features:
            names += [f"als_item_{j}" for j in range(k)]
        if "score" in features:
            names.append("als_score")
        return names

    def _consumed_positions(self):
        """Return the user, item and weight columns: replaced by the factors."""
        names_in = self._names_in()
        columns = names_in if hasattr(self, "feature_names_in_") else None
        return [p for p in self._positions(columns, names_in.size) if p is not None]

    def _read_columns(self, X):
        """Return the id (and weight) columns of a DataFrame ``X``: all ALS reads.

        Its cross-fitting folds then take those columns alone instead of
        copying every column's rows twice per fold (1M events and 45 other
        columns: the step with every model fitted ahead took 3.0 s instead
        of 4.4 s). None (every column) when a column is named by position or
        the names repeat, and for a subclass (whose ``fit`` or ``_embed`` may
        read more columns: it overrides this method to opt in).
        """
        params = (self.user_col, self.item_col, self.weight_col)
        if (
            type(self) is not ALSEmbedder
            or not isinstance(X, pd.DataFrame)
            or not X.columns.is_unique
            or not all(p is None or isinstance(p, str) for p in params)
        ):
            return None
        return [X.columns[j] for j in sorted(self._consumed_positions())]

    def _embedding_ahead(self, X, folds, fit_params):
        """Return the out-of-fold embedding the pipeline fitted ahead, or None."""
        return adopt_embedding(self, X, folds, fit_params)

    def known_ids(self):
        """Return the user and item ids seen in fit, keyed by their column names."""
        check_is_fitted(self)
        names_in = self._names_in()
        columns = names_in if hasattr(self, "feature_names_in_") else None
        user_pos, item_pos, _ = self._positions(columns, names_in.size)
        return {
            str(names_in[user_pos]): self.user_index_,
            str(names_in[item_pos]): self.item_index_,
        }

    def item_vectors(self):
        """Return the items seen in fit and their factors (``item_factors_``)."""
        check_is_fitted(self)
        return self.item_index_, self.item_factors_

    def _cold_item_order(self):
        """Items by decreasing number of users (ties by item id): the cold rule."""
        positive = self.user_items_.data > 0
        popularity = np.bincount(
            self.user_items_.indices[positive], minlength=self.item_index_.size
        )
        return np.argsort(-popularity, kind="stable")

    def seen_pairs(self):
        """``(user_ids, item_ids)`` of every interaction in ``user_items_``."""
        check_is_fitted(self)
        interactions = self.user_items_.tocoo()
        return (
            self.user_index_[interactions.row],
            self.item_index_[interactions.col],
        )

    # ------------------------------------------------------- online/candidates
    def fold_in(self, X_new):
        """Compute factors for new or updated users without retraining.

        Each user of ``X_new`` gets the exact least-squares factors of their
        interactions (their history in ``user_items_`` if they were seen, plus
        the events of ``X_new``) with the item factors held fixed: one ALS
        half-step, implicit's ``partial_fit_users``. New users are appended to
        ``user_index_``, ``user_factors_`` and ``user_items_``, so
        ``transform`` and :meth:`recommend_candidates` use them at once.
        Events on items unknown to the model, and events of weight 0, are
        ignored (an item needs a refit to get factors; a new user whose
        events all weigh 0 stays unseen, as in ``fit``).

        Parameters
        ----------
        X_new : DataFrame or ndarray
            New events, with the ``user_col`` and ``item_col`` columns (and
            ``weight_col`` if set), addressed as in ``fit``.

        Returns
        -------
        self : ALSEmbedder
            With the users' factors updated.
        """
        inputs = self._fold_in_inputs(X_new)
        if inputs is None:
            return self
        users, item_rows, weights, user_pos = inputs
        known_item = (item_rows >= 0) & (weights != 0)  # a 0 weight carries nothing
        users, item_rows, weights = (
            users[known_item],
            item_rows[known_item],
            weights[known_item],
        )
        if users.size == 0:
            return self

        user_rows = _lookup(self.user_index_, users, self._name(user_pos))
        new_ids, new_codes = _id_index(users[user_rows < 0], "user_col")
        n_old = self.user_index_.size
        user_rows[user_rows < 0] = n_old + new_codes
        n_users = n_old + new_ids.size
        n_items = self.item_index_.size
        old = self.user_items_
        if new_ids.size:
            old = sp.vstack(
                [old, sp.csr_matrix((new_ids.size, n_items), dtype=np.float32)],
                format="csr",
            )
            user_index = np.concatenate([self.user_index_, new_ids])
        else:
            user_index = self.user_index_
        delta = sp.csr_matrix(
            (weights, (user_rows, item_rows)), shape=(n_users, n_items)
        ).astype(np.float32)
        user_items = (old + delta).tocsr()
        user_items.sum_duplicates()
        check_weight_sums(user_items, self.weight_col)
        user_items.eliminate_zeros()
        empty_new = np.diff(user_items.indptr)[n_old:] == 0
        if empty_new.any():  # new users whose weights cancel out stay unseen
            keep = np.r_[np.ones(n_old, dtype=bool), ~empty_new]
            user_rows = user_rows[keep[user_rows]]
            user_rows = (np.cumsum(keep) - 1)[user_rows]
            user_items, user_index = user_items[keep], user_index[keep]
        if user_rows.size == 0:
            return self

        touched = np.unique(user_rows)
        with implicit_threads(self.n_jobs):
            self.model_.num_threads = effective_n_jobs(self.n_jobs)
            self.model_.partial_fit_users(touched, user_items[touched])
        self.user_factors_ = self.model_.user_factors
        self.user_index_ = user_index
        self.user_items_ = user_items
        # known users whose whole history cancelled out: cold from now on
        self.cancelled_users_ = np.flatnonzero(np.diff(user_items.indptr) == 0)
        return self

    def _fold_in_inputs(self, X_new):
        """Validate new events: ``(users, item_rows, weights, user_pos)`` or None."""
        check_is_fitted(self)
        if isinstance(X_new, pd.DataFrame):
            columns = X_new.columns
        else:
            X_new = validate_data(
                self,
                X_new,
                reset=False,
                dtype="numeric",
                ensure_all_finite=False,
                skip_check_array=False,
            )
            columns = None
        if X_new.shape[0] == 0:
            return None
        user_pos, item_pos, weight_pos = self._positions(columns, X_new.shape[1])
        users = conform_ids(
            self._id_values(X_new, user_pos, "user_col"), self.user_index_,
            self._name(user_pos),
        )  # fmt: skip
        item_rows = _lookup(
            self.item_index_, self._id_values(X_new, item_pos, "item_col"),
            self._name(item_pos),
        )  # fmt: skip
        weights = self._weights(X_new, weight_pos, X_new.shape[0])
        return users, item_rows, weights, user_pos

    def check_update(self, X_new):
        """Raise what :meth:`update` would raise for ``X_new``, changing nothing.

        A :class:`~mtlclassic.candidates.CandidateUnion` (and a
        ``Recommender``) checks every generator before any learns.
        """
        self._fold_in_inputs(X_new)

    def update(self, X_new, y=None):
        """Learn new events without a refit: :meth:`fold_in` (the library's name).

        Parameters
        ----------
        X_new : DataFrame or ndarray
            New events, addressed as in ``fit``.
        y : None
            Ignored.

        Returns
        -------
        self : ALSEmbedder
        """
        return self.fold_in(X_new)

    def recommend_candidates(self, users, n=100, exclude_seen=True, *, items=None):
        r"""Top-``n`` items per user by the factors' dot product (candidate generation).

        Parameters
        ----------
        users : array-like of user ids
            The users to recommend for (duplicates are dropped).
        n : int, default=100
            Items per user (at most the number of items, fewer for a user
            who has seen nearly all of them when ``exclude_seen``).
        exclude_seen : bool, default=True
            Leave out the items in the user's row of ``user_items_``.
        items : array-like of item ids or None, default=None
            Rank only these items (implicit's ``recommend(items=...)``; ids
            not seen in ``fit`` are left out): a catalogue's best ``n``,
            not the best ``n`` of every item cut to the catalogue afterwards.

        Returns
        -------
        candidates : DataFrame
            One row per (user, candidate item), sorted by user id then rank,
            with columns ``<user_col>``, ``<item_col>`` (the id column names of
            ``X`` in ``fit``; ``x0``-style names for an ndarray ``X``), ``score``
            (float32, :math:`u_u^\top v_i`) and ``rank`` (1 = best). Users not
            seen in ``fit`` get the ``n`` items with the most users (ties by
            item id), with ``score`` NaN.
        """
        check_is_fitted(self)
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be a positive int; got {n!r}.")
        names_in = self._names_in()
        columns = names_in if hasattr(self, "feature_names_in_") else None
        user_pos, item_pos, _ = self._positions(columns, names_in.size)
        user_name, item_name = str(names_in[user_pos]), str(names_in[item_pos])
        users = conform_ids(check_query_ids(users, "users"), self.user_index_, "users")
        users = pd.unique(users)
        try:
            users = np.sort(users)
        except TypeError:
            pass

        rows = self._active_users(_lookup(self.user_index_, users, "users"))
        subset = None
        if items is not None:
            subset = _lookup(self.item_index_, check_query_ids(items, "items"), "items")
            subset = np.unique(subset[subset >= 0]).astype(np.int32)
        n_items = self.item_index_.size if subset is None else subset.size
        if n_items == 0:
            return pd.DataFrame({user_name: users[:0], item_name: self.item_index_[:0],
                                 "score": np.zeros(0, np.float32),
                                 "rank": np.zeros(0, np.int64)})  # fmt: skip
        top = min(int(n), n_items)
        item_rows = np.zeros((users.size, top), dtype=np.int64)
        scores = np.full((users.size, top), np.nan, dtype=np.float32)
        known = rows >= 0
        if known.any():
            with implicit_threads(self.n_jobs):
                self.model_.num_threads = effective_n_jobs(self.n_jobs)
                ids, best = self.model_.recommend(
                    rows[known],
                    self.user_items_[rows[known]],
                    N=top,
                    filter_already_liked_items=bool(exclude_seen),
                    items=subset,
                )
            item_rows[known], scores[known] = (
                ids.reshape(-1, top),
                best.reshape(-1, top),
            )
        if not known.all():
            order = self._cold_item_order()
            if subset is not None:
                order = order[np.isin(order, subset)]
            item_rows[~known] = order[:top]

        valid = ~(scores <= np.finfo(np.float32).min)  # implicit's "filtered" mark
        user_of = np.repeat(np.arange(users.size), top).reshape(users.size, top)
        rank = np.broadcast_to(np.arange(1, top + 1), (users.size, top))
        return pd.DataFrame(
            {
                user_name: users[user_of[valid]],
                item_name: self.item_index_[item_rows[valid]],
                "score": scores[valid],
                "rank": rank[valid],
            }
        )

    def recommend(self, user_ids, n=100, *, exclude_seen=True):
        """Top-``n`` items per user: the candidate-generator protocol.

        :meth:`recommend_candidates` with the users in the order given
        (:class:`~mtlclassic.candidates.BaseCandidateGenerator`'s contract),
        so ALS joins a :class:`~mtlclassic.candidates.CandidateUnion`.

        Parameters
        ----------
        user_ids : array-like
            The users (duplicates dropped, order kept); a missing id is a
            ``ValueError`` naming its position.
        n : int, default=100
        exclude_seen : bool, default=True

        Returns
        -------
        DataFrame
            ``<user_col>``, ``<item_col>``, ``score``, ``rank``; unseen users
            get the most popular items with ``score`` NaN.
        """
        users = pd.unique(check_query_ids(user_ids, "user_ids"))
        found = self.recommend_candidates(users, n=n, exclude_seen=exclude_seen)
        if users.size == 0:
            return found
        users = conform_ids(users, self.user_index_, "user_ids")
        order = pd.Index(users).get_indexer(found.iloc[:, 0].to_numpy())
        found = found.iloc[np.lexsort((found["rank"].to_numpy(), order))]
        return found.reset_index(drop=True).astype({"score": np.float64})

    def score_pairs(self, user_ids, item_ids):
        r"""Return the collaborative score :math:`u_u^\top v_i` of given pairs.

        Parameters
        ----------
        user_ids, item_ids : array-like of shape (n_pairs,)

        Returns
        -------
        ndarray of shape (n_pairs,), float64
            NaN where the user or the item was not seen in fit (or the
            user's interactions all cancelled out).
        """
        check_is_fitted(self)
        users, items = check_pairs(user_ids, item_ids)
        user_rows = self._active_users(_lookup(self.user_index_, users, "user_ids"))
        item_rows = _lookup(self.item_index_, items, "item_ids")
        out = np.full(users.size, np.nan)
        ok = (user_rows >= 0) & (item_rows >= 0)
        out[ok] = np.einsum(
            "ij,ij->i",
            self.user_factors_[user_rows[ok]].astype(np.float64),
            self.item_factors_[item_rows[ok]].astype(np.float64),
        )
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.transformer_tags.preserves_dtype = []  # embeddings are float32
        return tags
