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
from sklearn.base import clone

from .._time import time_values
from ..boosting import MultiTaskLGBM
from ..candidates import EASE, CandidateUnion, ItemKNN, Popularity
from ..candidates._holdout import NewestHoldout
from ..candidates._union import check_generator
from ..embedding import ALSEmbedder
from ..metrics import ndcg_at_k
from ..model_selection._split import user_holdout as label_cut

__all__ = [
    "default_generators",
    "event_stats",
    "label_cut",
    "ranker_frame",
    "relevance_labels",
]

# Chosen on MovieLens-1M and Book-Crossing (benchmarks/bench_topk.py).
HISTORY_HALF_LIFE = 3.0  # events: what a user did last says most
EASE_TOP_ITEMS = 5_000  # EASE models the 5,000 items with most users, at most
MAX_SIDE_CATEGORIES = 30  # categorical side columns with more stay out of the ranker


def default_generators(X, user_col, item_col, time_col, n_candidates):
    """Return the default candidate union for events ``X`` (see Recommender)."""
    has_time = time_col is not None and time_col in X.columns
    recency = (
        dict(history_half_life=HISTORY_HALF_LIFE, time_col=time_col) if has_time else {}
    )
    ids = dict(user_col=user_col, item_col=item_col)
    n_items = X[item_col].nunique()
    top = None if n_items <= EASE_TOP_ITEMS else EASE_TOP_ITEMS
    generators = [("ease", EASE("auto", top_items=top, **ids, **recency))]
    if has_time:
        generators.append(("ease_all", EASE("auto", top_items=top, **ids)))
    generators.append(("knn", ItemKNN(200, similarity="bm25", **ids, **recency)))
    generators.append(
        (
            "als",
            ALSEmbedder(
                **ids,
                factors=ALS_DEFAULT[0],
                regularization=ALS_DEFAULT[1],
                cv=None,
                random_state=0,
            ),
        )  # fmt: skip
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


#: the default union's ALS: (factors, regularization) chosen on the history
#: (select_als) among these; (32, 0.1) when none does better
ALS_GRID = [(f, r) for f in (16, 32, 64) for r in (0.01, 0.1, 1.0)]
ALS_DEFAULT = (32, 0.1)


def select_als(template, X, time_col, name="als"):
    """``template`` with its ALS generator's factors and regularization chosen.

    Each setting of :data:`ALS_GRID` is fitted on ``X`` less each user's
    newest 20% (by ``time_col``; a seeded random 20% without it) and scored
    by NDCG@10 of its top-10 on those held-out events, as EASE chooses its
    ``regularization="auto"``. One setting does not fit every data set: on
    an Instacart sample of grocery orders, 16 factors with regularization
    0.01 gave NDCG@10 0.046 against 0.036 for the fixed (32, 0.1), and the
    two-stage list followed (0.048 against 0.042). It costs 9 ALS fits:
    2.1-2.5 s on one core for MovieLens-1M's 1,000 users, Book-Crossing and
    Instacart. Returns ``(template, scores)``; ``scores`` maps each setting
    to its NDCG@10 (empty when the template has no such ALS or no user has a
    held-out event).
    """
    generators = dict(template.generators)
    als = generators.get(name)
    if not isinstance(als, ALSEmbedder):
        return template, {}
    user_col, item_col = als.user_col, als.item_col
    times = None
    if time_col is not None and time_col in X.columns:
        times = time_values(X[time_col], time_col)[0]
    holdout = NewestHoldout(X[user_col].to_numpy(), X[item_col].to_numpy(), times)
    if holdout.users.size == 0:
        return template, {}
    train = X.iloc[holdout.keep][[user_col, item_col]]
    scores = {}
    for factors, regularization in ALS_GRID:
        model = clone(als).set_params(factors=factors, regularization=regularization)
        scores[(factors, regularization)] = holdout.ndcg(model.fit(train))
    best = max(scores, key=lambda k: (scores[k], k == ALS_DEFAULT))
    chosen = clone(als).set_params(factors=best[0], regularization=best[1])
    pairs = [(n, chosen if n == name else g) for n, g in template.generators]
    return clone(template).set_params(generators=pairs), scores


def freeze_selected(template, fitted):
    """``template`` with the hyper-parameters ``fitted`` chose ("auto") set.

    The generators are refitted on every event for serving; a value chosen
    on the history (EASE's ``regularization_``) is kept rather than chosen
    again.
    """
    chosen = dict(fitted.generators_)
    generators = []
    for name, generator in template.generators:
        found = getattr(chosen.get(name), "regularization_", None)
        if found is not None and getattr(generator, "regularization", None) == "auto":
            generator = clone(generator).set_params(regularization=found)
        generators.append((name, generator))
    return clone(template).set_params(generators=generators)


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
    fractional = gain != np.rint(gain)
    if fractional.any():  # LambdaRank's grades are ints: never rounded silently
        raise ValueError(
            f"relevance grades must be ints (LambdaRank's graded relevance); "
            f"relevance(X, Y) gave {int(fractional.sum())} fractional grade(s), "
            f"e.g. {gain[fractional][0]!r}: map them to 0, 1, 2, ... "
            "(e.g. np.digitize)."
        )
    labels = (
        pd.DataFrame(
            {
                user_col: X_label[user_col].to_numpy(),
                item_col: X_label[item_col].to_numpy(),
                "_gain": np.rint(gain).astype(np.int64),
            }  # fmt: skip
        )
        .groupby([user_col, item_col], as_index=False)["_gain"]
        .max()
    )
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
    parts.append(_ranker_side(side.reset_index(drop=True)) if names is None else side)
    frame = pd.concat([p.reset_index(drop=True) for p in parts], axis=1)
    frame = frame.loc[:, ~frame.columns.duplicated()]
    if names is not None:
        frame = frame.reindex(columns=names)
    return frame


BASE = "base_score"  # the ranker's offset: the best generator's ranking


def base_scores(cands, source, user_col):
    """Return the ranker's offset: ``-log2`` of each candidate's rank by ``source``.

    Ranks are per user, 1 = the best score of column ``source``, candidates
    it did not score after all others; so the offset orders a user's
    candidates as that generator does, on a scale (1 between the first two,
    0.14 between the 10th and 11th) a few trees can adjust.
    """
    values = cands[source].to_numpy(dtype=np.float64)
    values = np.where(np.isnan(values), -np.inf, values)
    users = pd.factorize(cands[user_col])[0]
    order = np.lexsort((np.arange(values.size), -values, users))
    counts = np.bincount(users)
    starts = np.cumsum(counts) - counts  # each user's first position in order
    rank = np.empty(values.size)
    rank[order] = np.arange(values.size) - starts[users[order]] + 1
    return 0.0 - np.log2(rank)  # 0.0 for the first, not -0.0


def offsets_beside(proposals, extra, source, user_col):
    """Return the ranker's offset of pairs no generator proposed, each on its own.

    A row of ``extra`` is ranked as if it alone joined its user's
    ``proposals``: 1 + the number of that user's proposals whose ``source``
    is at least its own (missing values after all others), so its offset
    never depends on the other pairs asked for with it. Returns ``-log2``
    of that rank, as :func:`base_scores` gives the proposals.
    """

    def filled(frame):
        values = frame[source].to_numpy(dtype=np.float64)
        return np.where(np.isnan(values), -np.inf, values)

    n = len(proposals)
    users = pd.concat([proposals[user_col], extra[user_col]], ignore_index=True)
    codes = pd.factorize(users)[0]
    values = np.concatenate([filled(proposals), filled(extra)])
    is_extra = np.r_[np.zeros(n, dtype=np.int64), np.ones(len(extra), dtype=np.int64)]
    # by user, best first, a user's proposals before an extra pair of equal value
    order = np.lexsort((is_extra, -values, codes))
    ahead = pd.Series(1 - is_extra[order]).groupby(codes[order]).cumsum().to_numpy()
    rank = np.empty(values.size)
    rank[order] = ahead + 1  # an extra row counts the proposals up to it, not itself
    return 0.0 - np.log2(rank[n:])


def best_source(cands, grades, user_col, k=10):
    """Return the score column whose own ranking has the best NDCG@k.

    The columns are each generator's score and the fused one (``score``);
    NDCG is against ``grades`` with LambdaRank's gains ``2**grade - 1``.
    Returns ``(column, {column: NDCG@k})``.
    """
    gains = np.exp2(grades) - 1
    columns = ["score"] + [c for c in cands.columns if c.startswith("score_")]
    found = {}
    for col in columns:
        score = cands[col].to_numpy(dtype=np.float64)
        score = np.where(np.isnan(score), -np.inf, score)
        score = np.where(np.isfinite(score), score, np.nanmin(score[np.isfinite(
            score)], initial=0.0) - 1.0)  # fmt: skip
        found[col] = ndcg_at_k(gains, score, cands[user_col].to_numpy(), k=k)
    return max(found, key=lambda c: (found[c], c == "score")), found


def _ranker_side(side):
    """Return the side columns a ranker can learn from: numbers, few categories.

    A categorical column with more than ``MAX_SIDE_CATEGORIES`` values (an
    author, a publisher) lets LambdaRank fit the training users' label items
    by name (on Book-Crossing ``author`` took 58% of the ranker's gain and
    made the list worse than EASE's); the multi-task model's predictions
    carry such columns instead. A text column (``str``, ``object``: what
    ``read_csv`` gives) is a categorical one: kept as ``category`` under the
    same limit (it was left out without a word).
    """
    keep = {}
    for col in side.columns:
        dtype = side[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            if side[col].nunique() <= MAX_SIDE_CATEGORIES:
                keep[col] = side[col]
        elif pd.api.types.is_numeric_dtype(dtype):  # bool included
            keep[col] = side[col]
        elif pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
            values = side[col]
            text = values.dropna()
            if text.map(type).eq(str).all() and text.nunique() <= MAX_SIDE_CATEGORIES:
                keep[col] = values.astype("category")
    return pd.DataFrame(keep, index=side.index)


def default_ranker(random_state, n_jobs, verbose):
    """Return the LambdaRank head (parameters chosen on MovieLens-1M, Book-Crossing)."""
    return MultiTaskLGBM(
        n_estimators=500,
        learning_rate=0.05,
        num_leaves=7,  # small and regularised: a few hundred users label it
        min_child_samples=200,
        reg_lambda=10.0,
        subsample=0.8,
        colsample_bytree=0.8,
        early_stopping_rounds=50,
        validation_fraction=0.15,
        task_params={"relevance": {"eval_at": [10]}},  # stop on NDCG@10
        init_score={"relevance": BASE},  # boost from the best generator's order
        refit=True,
        n_jobs=n_jobs,
        random_state=random_state,
        verbose=verbose,
    )
