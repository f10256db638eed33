"""The two-stage recommender's parts: the time cut, features, labels, the ranker.

:meth:`mtlclassic.Recommender.fit` assembles them (RecTools' candidate
ranking model in scikit-learn form):

1. :func:`label_cut` holds out each user's newest ``fraction`` of the
   training events (random when there is no time column): the *label* events;
   the rest is the *history*;
2. the multi-task model and the candidate generators are fitted on the
   history only, and propose candidates for the users of the label events;
3. :func:`relevance_labels` grades each candidate by the label events only
   (0: not chosen; 1 + the chosen event's binary task labels, e.g. 2 for a
   liked one), never by history events;
4. :func:`ranker_frame` gives each candidate its features: every generator's
   score and rank, the multi-task
   model's predictions, the user's and the item's event counts and mean task
   labels on the history, the side columns of the catalogue;
5. a LambdaRank head (:class:`~mtlclassic.MultiTaskLGBM`, one ranking task
   grouped by user, early-stopped on whole held-out users) learns to order
   them;
6. the generators are refitted on all the events for serving; the
   multi-task model fitted on the history serves as it is, so its predictions
   are distributed at serving time as the ranker saw them in training.
"""

import numpy as np
import pandas as pd

from .._time import time_values
from ..boosting import MultiTaskLGBM
from ..candidates import EASE, CandidateUnion, ItemKNN, Popularity
from ..candidates._union import check_generator
from ..embedding import ALSEmbedder

__all__ = [
    "default_generators",
    "event_stats",
    "label_cut",
    "ranker_frame",
    "relevance_labels",
]

# Chosen on MovieLens-1M and Book-Crossing (benchmarks/bench_topk.py).
HISTORY_HALF_LIFE = 3.0  # events: what a user did last says most
EASE_MAX_ITEMS = 20_000


def label_cut(users, times, fraction, random_state):
    """Mask of the label events: each user's newest ``fraction`` of events.

    ``ceil(n_u * fraction)`` events of each user with at least two events
    (one event always stays history), by time, ties by row order; with
    ``times`` None a seeded random share per user. The same windows as
    :class:`~mtlclassic.model_selection.UserTemporalSplit` with a float
    ``test_size``, so the ranker learns on the kind of cut it is judged on.
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


def default_generators(X, user_col, item_col, time_col, n_candidates):
    """Return the default candidate union for events ``X`` (see Recommender)."""
    has_time = time_col is not None and time_col in X.columns
    recency = dict(history_half_life=HISTORY_HALF_LIFE, time_col=time_col)
    ids = dict(user_col=user_col, item_col=item_col)
    n_items = X[item_col].nunique()
    generators = []
    if n_items <= EASE_MAX_ITEMS:
        generators.append(("ease", EASE(**ids, **(recency if has_time else {}))))
        if has_time:
            generators.append(("ease_all", EASE(**ids)))
    generators.append(
        ("knn", ItemKNN(**ids, **(recency if has_time else {}), n_neighbors=200))
    )
    generators.append(
        ("als", ALSEmbedder(**ids, factors=32, regularization=0.1, cv=None,
                            random_state=0))  # fmt: skip
    )
    generators.append(("pop", Popularity(**ids)))
    if has_time:
        t, _ = time_values(X[time_col], time_col)
        span = float(t.max() - t.min())
        if span > 0:
            generators.append(
                ("recent", Popularity(**ids, half_life=span / 20, time_col=time_col))
            )
    counts = {name: n_candidates for name, _ in generators}
    for name in ("pop", "recent", "ease_all"):
        if name in counts:
            counts[name] = max(1, n_candidates // 4)
    return CandidateUnion(generators, n_candidates=counts, **ids)


def check_generators(generators, user_col, item_col):
    """Return a CandidateUnion of ``generators`` (a union or a list of pairs)."""
    if isinstance(generators, CandidateUnion):
        return generators
    if isinstance(generators, list):
        union = CandidateUnion(generators, user_col=user_col, item_col=item_col)
        union._checked_generators()
        return union
    check_generator(generators, "generators")
    return CandidateUnion([("source", generators)], user_col=user_col,
                          item_col=item_col)  # fmt: skip


def event_stats(X, Y, user_col, item_col, tasks):
    """Per-user and per-item event counts and mean task labels.

    Returns ``(users, items)``: DataFrames indexed by id with ``user_events``
    and ``user_mean_<task>`` (``item_...`` for items), NaN where a task has
    no label.
    """
    out = []
    for col, prefix in ((user_col, "user"), (item_col, "item")):
        frame = pd.DataFrame({col: X[col].to_numpy()})
        for t in tasks:
            frame[t] = Y[t].to_numpy(dtype=np.float64)
        grouped = frame.groupby(col, sort=False)
        stats = pd.DataFrame({f"{prefix}_events": grouped.size()})
        means = grouped[list(tasks)].mean()
        for t in tasks:
            stats[f"{prefix}_mean_{t}"] = means[t]
        out.append(stats)
    return out[0], out[1]


def relevance_labels(cands, X_label, Y_label, user_col, item_col, tasks, relevance):
    """Graded relevance of each candidate from the label events only (int).

    0 when the user has no label event with the item; otherwise ``relevance``
    of the event (its largest, over repeated events): by default 1 plus the
    event's positive binary task labels (NaN counts 0).
    """
    if callable(relevance):
        gain = np.asarray(relevance(X_label, Y_label), dtype=np.float64)
        if gain.shape != (len(X_label),):
            raise ValueError(
                "relevance(X, Y) must return one grade per event; got shape "
                f"{gain.shape} for {len(X_label)} events."
            )
    else:
        binary = [t for t, kind in tasks.items() if kind == "binary"]
        gain = 1.0 + np.nansum(
            np.column_stack(
                [np.zeros(len(X_label))]
                + [(Y_label[t].to_numpy(dtype=np.float64) > 0) for t in binary]
            ),
            axis=1,
        )
    if not np.isfinite(gain).all() or (gain < 0).any():
        raise ValueError("relevance grades must be finite and >= 0.")
    labels = pd.DataFrame(
        {user_col: X_label[user_col].to_numpy(), item_col: X_label[item_col].to_numpy(),
         "_gain": np.rint(gain).astype(np.int64)}  # fmt: skip
    ).groupby([user_col, item_col], as_index=False)["_gain"].max()
    merged = cands[[user_col, item_col]].merge(labels, on=[user_col, item_col],
                                               how="left")  # fmt: skip
    return merged["_gain"].fillna(0).to_numpy(dtype=np.int64)


def ranker_frame(cands, predictions, stats, side, user_col, item_col, names):
    """Return the ranker's features of each candidate, in a fixed column order.

    Parameters
    ----------
    cands : DataFrame
        A :class:`~mtlclassic.candidates.CandidateUnion` frame.
    predictions : DataFrame
        The multi-task model's predictions, one column per task (``mt_<task>``).
    stats : (DataFrame, DataFrame)
        :func:`event_stats` of the events the generators know.
    side : DataFrame
        The side columns of each candidate (user's and item's), one row each.
    names : list of str or None
        The features of training (None: this frame defines them).
    """
    user_stats, item_stats = stats
    parts = [cands.drop(columns=[user_col, item_col]).reset_index(drop=True)]
    users = cands[user_col].to_numpy()
    parts.append(predictions.reset_index(drop=True))
    parts.append(user_stats.reindex(users).reset_index(drop=True))
    parts.append(item_stats.reindex(cands[item_col].to_numpy()).reset_index(drop=True))
    parts.append(side.reset_index(drop=True))
    frame = pd.concat(parts, axis=1)
    frame = frame.loc[:, ~frame.columns.duplicated()]
    if names is not None:
        frame = frame.reindex(columns=names)
    return frame


def default_ranker(random_state, n_jobs, verbose):
    """Return the LambdaRank head (parameters chosen on MovieLens-1M, Book-Crossing)."""
    return MultiTaskLGBM(
        n_estimators=500,
        learning_rate=0.05,
        num_leaves=15,
        min_child_samples=100,
        subsample=0.8,
        colsample_bytree=0.8,
        early_stopping_rounds=50,
        validation_fraction=0.15,
        refit=True,
        n_jobs=n_jobs,
        random_state=random_state,
        verbose=verbose,
    )
