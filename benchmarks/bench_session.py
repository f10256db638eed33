"""Session features: the default pipeline with and without a SessionEmbedder.

Run: ``python benchmarks/bench_session.py`` (MovieLens-1M from
``../shared/data/get_dev_data.sh``: the first 150k ratings in time order, a few
minutes) or ``--quick`` (generated events regrouped into bursts; the test
suite runs it).

Sessions: a new one after 30 minutes without a rating (``gap=1800``; MovieLens
users rate in bursts). The first 80% of the ratings in time order train, the
last 20% test. Reported:

- rating RMSE and liked AUC on the test period;
- next-item NDCG@10: for test ratings with at least one earlier rating in
  their session, the rated item against 99 items the user never rated, all
  scored at the event's time with the session so far as context
  (``Recommender.score_pairs(..., session=...)``), ranked by the fused score;
  the same sampled candidates for both models.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _workloads import movielens_by_time, task_summary  # noqa: E402
from bench_real import data_dir  # noqa: E402

from mtlclassic import (  # noqa: E402
    Recommender,
    SessionEmbedder,
    make_multitask_recommender,
    make_multitask_recsys,
)
from mtlclassic.metrics import ndcg_at_k  # noqa: E402

GAP = 1800.0


def load(quick):
    if quick:
        X, Y = make_multitask_recsys(
            n_users=150, n_items=100, n_events=4000, random_state=0
        )
        rng = np.random.default_rng(0)
        order = np.lexsort((X["timestamp"].to_numpy(), X["user_id"].to_numpy()))
        X, Y = (
            X.iloc[order].reset_index(drop=True),
            Y.iloc[order].reset_index(drop=True),
        )
        start = np.searchsorted(rng.integers(2, 8, len(X)).cumsum(), np.arange(len(X)),
                                side="right")  # fmt: skip
        X["timestamp"] = start * 10_000.0 + X.groupby(start).cumcount() * 60.0
        order = np.argsort(X["timestamp"].to_numpy(), kind="stable")
        X, Y = (
            X.iloc[order].reset_index(drop=True),
            Y.iloc[order].reset_index(drop=True),
        )
        return X, Y, "generated stand-in (bursts of 2-7 events)"
    found = movielens_by_time(data_dir() / "ml-1m", 150_000)
    return None if found is None else (*found, "MovieLens-1M, first 150k ratings")


def catalogue(X, key, other):
    """One row per ``key``: the columns constant within each of its values."""
    cols = [
        c for c in X.columns
        if c not in (key, other, "timestamp")
        and X.groupby(key)[c].nunique(dropna=False).max() <= 1
    ]  # fmt: skip
    return X.drop_duplicates(key)[[key, *cols]].reset_index(drop=True)


def next_item_queries(X, n_queries, rng, split):
    """Test events with an earlier event in their session, and 99 negatives each."""
    times = X["timestamp"].to_numpy(dtype=float)
    users = X["user_id"].to_numpy()
    order = np.lexsort((times, users))
    prev = np.full(len(X), -1)
    same = (users[order][1:] == users[order][:-1]) & (np.diff(times[order]) <= GAP)
    prev[order[1:][same]] = order[:-1][same]
    eligible = np.flatnonzero((prev >= 0) & (np.arange(len(X)) >= split))
    picks = rng.choice(eligible, size=min(n_queries, eligible.size), replace=False)
    items = X["item_id"].unique()
    rated = X.groupby("user_id")["item_id"].agg(set)
    queries = []
    for i in picks:
        user, t = users[i], times[i]
        pool = np.array([j for j in rng.choice(items, 300) if j not in rated[user]])
        negatives = pd.unique(pool)[:99]
        start = i
        while prev[start] >= 0:  # walk back to the session's first event
            start = prev[start]
        session = X[(users == user) & (times >= times[start]) & (times < t)]
        queries.append((user, t, X["item_id"].iloc[i], negatives, session))
    return queries


def ndcg(rec, queries):
    scores, truth, groups = [], [], []
    for q, (user, t, item, negatives, session) in enumerate(queries):
        candidates = np.concatenate([[item], negatives])
        pairs = pd.DataFrame({"user_id": user, "item_id": candidates})
        rec.context = {"timestamp": t}
        scored = rec.score_pairs(pairs, session=session[["user_id", "item_id",
                                                         "timestamp"]])  # fmt: skip
        scores.append(scored["score"].to_numpy())
        truth.append((candidates == item).astype(float))
        groups.append(np.full(candidates.size, q))
    return ndcg_at_k(np.concatenate(truth), np.concatenate(scores),
                     np.concatenate(groups), k=10)  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    found = load(args.quick)
    if found is None:
        print("skipped: MovieLens-1M not found (run ../shared/data/get_dev_data.sh)")
        return 0
    X, Y, name = found
    split = int(0.8 * len(X))
    rng = np.random.default_rng(0)
    queries = next_item_queries(X, 60 if args.quick else 400, rng, split)
    print(f"{name}: {split:,} training events, {len(X) - split:,} test events, "
          f"{len(queries)} next-item queries")  # fmt: skip
    params = dict(random_state=0, n_jobs=1)
    if args.quick:
        params.update(n_estimators=50, fm_n_iter=10, iterations=5, cv=2)
    items = catalogue(X, "item_id", "user_id")
    item_side = [c for c in items.columns if c != "item_id"]
    category = "item_category" if "item_category" in item_side else None
    variants = [
        ("without session features", ("fm", "als")),
        ("with SessionEmbedder", (SessionEmbedder(gap=GAP, category_col=category,
                                                  random_state=0), "fm", "als")),
        ("with SessionEmbedder(vectors=False)",
         (SessionEmbedder(gap=GAP, category_col=category, vectors=False,
                          random_state=0), "fm", "als")),
    ]  # fmt: skip
    users = catalogue(X, "user_id", "item_id")
    for label, embedders in variants:
        start = time.perf_counter()
        model = make_multitask_recommender(embedders=embedders, **params)
        model.fit(X.iloc[:split], Y.iloc[:split])
        seconds = time.perf_counter() - start
        P = model.predict(X.iloc[split:])
        rec = Recommender(model, items, users=users, context={"timestamp": 0.0},
                          candidates="all")  # fmt: skip
        print(f"  {label:<38} fit {seconds:5.1f}s  {task_summary(Y.iloc[split:], P)}, "
              f"next-item NDCG@10 {ndcg(rec, queries):.4f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
