"""Top-K list evaluation: each user's list against their held-out events.

This is **list** evaluation, unlike :func:`~mtlclassic.metrics.ndcg_at_k`,
which ranks given scored rows: a relevant test item the list does not hold
counts against it (it enters the ideal DCG and the recall), as users judge a
recommender.
"""

import numbers
import warnings

import numpy as np
import pandas as pd

__all__ = ["evaluate_recommendations", "make_topk_scorer", "TopKScorer"]

METRICS = ("ndcg", "recall", "precision", "map", "mrr", "hit_rate", "coverage",
           "novelty")  # fmt: skip


def _columns(frame, name, needed):
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a DataFrame; got {type(frame).__name__}.")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} lacks the column(s) {missing}; it has {list(frame.columns)}."
        )


def _id_kind(values):
    """Return the kind of id values: "number", "text" or None (e.g. mixed objects)."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return "number"
    if pd.api.types.is_string_dtype(values):
        return "text"
    return None


def _same_id_kinds(frames, columns):
    """``ValueError`` if an id column holds numbers in one frame and text in another.

    ``frames``: ``{name: DataFrame}``. Such ids never match (the user ``1``
    is not the user ``"1"``), so every list would score 0, or pandas would
    refuse the join without naming the column.
    """
    for col in columns:
        kinds = {
            name: (_id_kind(frame[col]), frame[col].dtype)
            for name, frame in frames.items()
            if frame is not None and len(frame)
        }
        known = {kind for kind, _ in kinds.values() if kind is not None}
        floats = [n for n, (_, d) in kinds.items() if pd.api.types.is_float_dtype(d)]
        if known == {"number"} and floats and len(floats) < len(kinds):
            # ints beside floats are compared as float64, which merges
            # neighbouring ids beyond 2**53
            big = [n for n in kinds if frames[n][col].abs().max() >= 2**53]
            if big:
                found = ", ".join(f"{n} {d}" for n, (_, d) in kinds.items())
                raise ValueError(
                    f"Column {col!r} holds ints in one frame and floats in another "
                    f"({found}), with ids beyond 2**53 in {big[0]}, where float64 "
                    "merges neighbouring ids; give every frame the same int ids "
                    "(read the column as int64, or pandas 'Int64' when it has gaps)."
                )
        if len(known) > 1:
            found = ", ".join(f"{n} {d}" for n, (_, d) in kinds.items())
            raise ValueError(
                f"Column {col!r} holds numbers in one frame and text in another "
                f"({found}): ids are compared by value, so they must be of one "
                f"kind; convert one, e.g. frame[{col!r}].astype(str)."
            )


def _gains(test_events, relevance):
    """Each test event's gain (float64, >= 0)."""
    if relevance is None:
        return np.ones(len(test_events))
    if callable(relevance):
        gains = np.asarray(relevance(test_events), dtype=np.float64).ravel()
        if gains.shape != (len(test_events),):
            raise ValueError(
                "relevance(test_events) must return one gain per test event; got "
                f"shape {gains.shape} for {len(test_events)} events."
            )
    else:
        _columns(test_events, "test_events", [relevance])
        try:
            gains = test_events[relevance].to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"relevance={relevance!r} must name a numeric (or boolean) column "
                f"of test_events; got {exc}."
            ) from None
    gains = np.nan_to_num(gains, nan=0.0)
    if (gains < 0).any() or not np.isfinite(gains).all():
        raise ValueError("relevance gains must be finite and >= 0.")
    return gains


def _top_lists(recommendations, k, user_col, item_col, rank_col):
    """Each user's first ``k`` distinct items, with their 1-based positions."""
    recs = recommendations
    if rank_col in recs.columns:
        order = recs[rank_col].to_numpy(dtype=np.float64)
        ascending = True
    else:
        _columns(recs, "recommendations", ["score"])
        order, ascending = recs["score"].to_numpy(dtype=np.float64), False
    recs = pd.DataFrame(
        {"u": recs[user_col].to_numpy(), "i": recs[item_col].to_numpy(), "o": order}
    )
    try:  # ties in rank or score broken by item id: row order never matters
        recs = recs.sort_values(["u", "o", "i"], ascending=[True, ascending, True],
                                kind="stable")  # fmt: skip
    except TypeError:  # item ids of mixed types: in the given order
        recs = recs.sort_values(["u", "o"], ascending=[True, ascending], kind="stable")
    recs = recs.drop_duplicates(["u", "i"])
    recs["pos"] = recs.groupby("u", sort=False).cumcount() + 1
    return recs[recs["pos"] <= k][["u", "i", "pos"]]


def _per_user(top, relevant, k):
    """Per-user NDCG, recall, precision, MAP, MRR and hit (users of ``relevant``)."""
    hits = top.merge(relevant, on=["u", "i"], how="inner")
    discount = 1.0 / np.log2(hits["pos"].to_numpy() + 1.0)
    hits = hits.assign(dcg=hits["g"].to_numpy() * discount)
    hits = hits.sort_values(["u", "pos"], kind="stable")
    hits["nth"] = hits.groupby("u", sort=False).cumcount() + 1
    hits["prec"] = hits["nth"] / hits["pos"]
    by_user = hits.groupby("u", sort=False).agg(
        dcg=("dcg", "sum"), n_hits=("nth", "size"), ap=("prec", "sum"),
        first=("pos", "min"),
    )  # fmt: skip
    ideal = relevant.sort_values(["u", "g"], ascending=[True, False], kind="stable")
    ideal = ideal.assign(pos=ideal.groupby("u", sort=False).cumcount() + 1)
    ideal = ideal[ideal["pos"] <= k]
    ideal = ideal.assign(idcg=ideal["g"] / np.log2(ideal["pos"] + 1.0))
    idcg = ideal.groupby("u", sort=False)["idcg"].sum()
    n_relevant = relevant.groupby("u", sort=False).size()
    frame = pd.DataFrame({"n_relevant": n_relevant, "idcg": idcg})
    frame = frame.join(by_user, how="left").fillna(
        {"dcg": 0.0, "n_hits": 0, "ap": 0.0, "first": np.inf}
    )
    return pd.DataFrame(
        {
            "ndcg": frame["dcg"] / frame["idcg"],
            "recall": frame["n_hits"] / frame["n_relevant"],
            "precision": frame["n_hits"] / k,
            "map": frame["ap"] / np.minimum(frame["n_relevant"], k),
            "mrr": 1.0 / frame["first"],
            "hit_rate": (frame["n_hits"] > 0).astype(np.float64),
        }
    )


def evaluate_recommendations(
    recommendations,
    test_events,
    k=10,
    *,
    relevance=None,
    user_col="user_id",
    item_col="item_id",
    rank_col="rank",
    catalogue=None,
    train_events=None,
    return_per_user=False,
):
    r"""Top-``k`` list quality against each user's held-out events.

    For each user with at least one relevant test event (gain > 0), the
    user's list is its first ``k`` distinct items by ``rank_col`` (or by
    ``score`` descending when there is no rank column); a user with a
    relevant event but no list scores 0, with a ``UserWarning`` naming how
    many (pass only the test events of the users recommended for). With
    gains :math:`g_i` of the test items (1 for binary relevance) and the list
    :math:`L_1..L_k`:

    - NDCG@k :math:`= \sum_r g_{L_r} / \log_2(r + 1)` over the ideal DCG of
      the user's best ``min(k, n_relevant)`` gains;
    - recall@k = hits / n_relevant; precision@k = hits / k;
    - MAP@k :math:`= \frac{1}{\min(k, n_{rel})} \sum_{r: L_r \text{ rel.}}
      \text{precision@}r`; MRR = 1 / the first relevant position (0 if none);
      hit rate = whether any of the ``k`` is relevant;
    - catalogue coverage = the share of the catalogue's items in any list;
    - novelty = the mean self-information :math:`-\log_2 p_i` of the listed
      items, :math:`p_i` the share of training users who had item :math:`i`
      (at least one user counted).

    The per-user values are averaged with every evaluated user weighing the
    same.

    Parameters
    ----------
    recommendations : DataFrame
        Columns ``user_col``, ``item_col`` and ``rank_col`` (1 = best) or
        ``score``; e.g. the output of :meth:`mtlclassic.Recommender.recommend`.
        Equal ranks or scores are ordered by item id, so the order of the rows
        never changes a list (nor which tied item makes the top ``k``).
    test_events : DataFrame
        Held-out events: ``user_col``, ``item_col`` (and what ``relevance``
        reads). A (user, item) held out several times keeps its largest gain.
    k : int, default=10
    relevance : None, str or callable, default=None
        None: every test event is relevant (gain 1). A str names a numeric or
        boolean column of ``test_events`` holding the gain (e.g. ``"liked"``:
        0/1; graded values are used as they are; NaN is 0). A callable gets
        ``test_events`` and returns one gain per event, e.g.
        ``lambda t: t.rating >= 4``.
    user_col, item_col, rank_col : str, default="user_id", "item_id", "rank"
    catalogue : array-like, default=None
        The recommendable items, for coverage; None uses the items of
        ``train_events`` (coverage is NaN when neither is given).
    train_events : DataFrame, default=None
        The training events (``user_col``, ``item_col``), for novelty and the
        default catalogue; None leaves novelty NaN.
    return_per_user : bool, default=False
        Also return the per-user values.

    Returns
    -------
    report : dict
        ``{"ndcg@k", "recall@k", "precision@k", "map@k", "mrr@k",
        "hit_rate@k", "coverage@k", "novelty@k": float, "n_users": int}``.
    per_user : DataFrame, only with ``return_per_user``
        Indexed by user: ``ndcg``, ``recall``, ``precision``, ``map``,
        ``mrr``, ``hit_rate``.

    Raises
    ------
    ValueError
        If ``k`` is not a positive int, a column is missing, a gain is
        negative, or an id column holds numbers in one frame and text in
        another.

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 10, 12],
    ...                      "rank": [1, 2, 1, 2]})
    >>> test = pd.DataFrame({"user_id": [1, 2, 2], "item_id": [11, 13, 12]})
    >>> report = evaluate_recommendations(recs, test, k=2)
    >>> round(report["ndcg@2"], 4), report["recall@2"], report["mrr@2"]
    (0.5089, 0.75, 0.5)
    """
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int; got {k!r}.")
    _columns(recommendations, "recommendations", [user_col, item_col])
    _columns(test_events, "test_events", [user_col, item_col])
    if train_events is not None:
        _columns(train_events, "train_events", [user_col, item_col])
    _same_id_kinds(
        {"recommendations": recommendations, "test_events": test_events,
         "train_events": train_events},
        [user_col, item_col],
    )  # fmt: skip
    gains = _gains(test_events, relevance)
    relevant = pd.DataFrame(
        {
            "u": test_events[user_col].to_numpy(),
            "i": test_events[item_col].to_numpy(),
            "g": gains,
        }  # fmt: skip
    )
    relevant = relevant[relevant["g"] > 0].groupby(["u", "i"], as_index=False)["g"]
    relevant = relevant.max()
    top = _top_lists(recommendations, int(k), user_col, item_col, rank_col)
    listless = np.setdiff1d(relevant["u"].unique(), top["u"].unique())
    if listless.size:  # counted as 0: say so (a sample's lists against all users)
        first = listless[0]
        first = first.item() if isinstance(first, np.generic) else first
        warnings.warn(
            f"{listless.size} of {relevant['u'].nunique()} users with a relevant "
            f"test event have no list in recommendations (e.g. {first!r}); "
            "they score 0. Pass only the test events of the users you "
            "recommended for to measure those lists.",
            UserWarning,
            stacklevel=2,
        )
    per_user = _per_user(top, relevant, int(k))
    report = {f"{m}@{k}": float(per_user[m].mean()) for m in per_user.columns}
    if catalogue is None and train_events is not None:
        catalogue = train_events[item_col].unique()
    report[f"coverage@{k}"] = float("nan")
    if catalogue is not None:
        catalogue = pd.unique(np.asarray(catalogue))
        listed = pd.Index(catalogue).isin(top["i"].unique())
        report[f"coverage@{k}"] = float(listed.mean()) if catalogue.size else 0.0
    report[f"novelty@{k}"] = _novelty(top, train_events, user_col, item_col)
    report["n_users"] = int(len(per_user))
    if return_per_user:
        return report, per_user.rename_axis(user_col)
    return report


def _novelty(top, train_events, user_col, item_col):
    if train_events is None or not len(top):
        return float("nan")
    _columns(train_events, "train_events", [user_col, item_col])
    pairs = train_events[[user_col, item_col]].drop_duplicates()
    n_users = pairs[user_col].nunique()
    counts = pairs.groupby(item_col).size()
    listed = counts.reindex(top["i"].to_numpy()).fillna(0).to_numpy()
    info = -np.log2(np.maximum(listed, 1.0) / n_users)
    per_user = pd.Series(info).groupby(top["u"].to_numpy()).mean()
    return float(per_user.mean())


class TopKScorer:
    """``scorer(recommender, X_test, Y_test)``: top-K quality of a recommender.

    See :func:`make_topk_scorer`.
    """

    def __init__(self, metric, k, relevance, user_col, item_col):
        self.metric = metric
        self.k = k
        self.relevance = relevance
        self.user_col = user_col
        self.item_col = item_col

    def __call__(self, estimator, X, Y=None, sample_weight=None):
        if not hasattr(estimator, "recommend"):
            raise TypeError(
                f"A top-K scorer needs an estimator with recommend(user_ids, k); "
                f"got {type(estimator).__name__}."
            )
        if sample_weight is not None:
            raise ValueError(
                "A top-K scorer takes no sample_weight (each test user counts "
                "once); score it without weights."
            )
        test = X[[self.user_col, self.item_col]].reset_index(drop=True)
        relevance = self.relevance
        if isinstance(relevance, str):
            if Y is None or relevance not in getattr(Y, "columns", []):
                raise ValueError(
                    f"relevance={relevance!r} names no column of the fold's Y "
                    "(a DataFrame of tasks)."
                )
            test["_gain"] = Y[relevance].to_numpy(dtype=np.float64)
            relevance = "_gain"
        elif callable(relevance):
            test["_gain"] = np.asarray(relevance(X, Y), dtype=np.float64)
            relevance = "_gain"
        users = pd.unique(test[self.user_col].to_numpy())
        recs = estimator.recommend(users, k=self.k)
        report = evaluate_recommendations(
            recs, test, k=self.k, relevance=relevance, user_col=self.user_col,
            item_col=self.item_col,
        )  # fmt: skip
        return report[f"{self.metric}@{self.k}"]

    def __repr__(self):
        return f"make_topk_scorer({self.metric!r}, k={self.k})"


def make_topk_scorer(
    metric="ndcg", k=10, *, relevance=None, user_col="user_id", item_col="item_id"
):
    """Build a scorer of top-K quality for ``GridSearchCV`` / ``cross_validate``.

    In each fold the fitted estimator (a :class:`~mtlclassic.Recommender`
    fitted on events, or anything with ``recommend(user_ids, k)``) lists
    ``k`` items for every user of the fold's test rows, and the list is
    scored against those rows by :func:`evaluate_recommendations`. Use it
    with :class:`~mtlclassic.model_selection.UserTemporalSplit` so each
    user's newest events are the test.

    Parameters
    ----------
    metric : {"ndcg", "recall", "precision", "map", "mrr", "hit_rate"}, \
default="ndcg"
        Greater is better for every one.
    k : int, default=10
    relevance : None, str or callable, default=None
        None: every test event is relevant. A str names a task column of the
        fold's ``Y`` (e.g. ``"liked"``) whose value is the gain. A callable
        gets ``(X_test, Y_test)`` and returns one gain per row.
    user_col, item_col : str, default="user_id", "item_id"

    Returns
    -------
    scorer : TopKScorer

    Examples
    --------
    >>> make_topk_scorer("ndcg", k=10, relevance="liked")
    make_topk_scorer('ndcg', k=10)
    """
    if metric not in METRICS[:6]:
        raise ValueError(f"metric must be one of {METRICS[:6]}; got {metric!r}.")
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int; got {k!r}.")
    return TopKScorer(metric, int(k), relevance, user_col, item_col)
