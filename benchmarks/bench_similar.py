"""Item-to-item similarity: how well each source predicts items co-liked later.

Run: ``python benchmarks/bench_similar.py`` (MovieLens-1M from
``../shared/data/get_dev_data.sh``, a few minutes) or ``--quick`` (generated
stand-in, seconds; the test suite runs it).

Protocol: events are cut by time (the first 80% train every source); in the
held-out period, two items are *co-liked* when one user liked both (rating >= 4).
For up to 2,000 query items liked in the held-out period (seeded sample), a
source scores a hit when one of its top-10 similar items is co-liked with the
query (hit rate@10). Sources: ALS item factors, the FM's item-id factors,
content (release year and genres), their fusion
(:meth:`mtlclassic.Recommender.similar_items`: z-scored cosines summed), and
item popularity (the 10 most liked items of the training period).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_real import data_dir  # noqa: E402

from mtlclassic import ALSEmbedder, FMEmbedder, make_multitask_recsys  # noqa: E402
from mtlclassic.datasets import load_movielens  # noqa: E402
from mtlclassic.recommend._similar import (  # noqa: E402
    check_weights,
    conform_queries,
    fused_neighbours,
    item_sources,
)

K = 10


def load(quick):
    """Return ``(X, liked, item side columns, name)``."""
    if quick:
        X, Y = make_multitask_recsys(
            n_users=300, n_items=150, n_events=12_000, random_state=0
        )
        liked = Y["click"].fillna(0).to_numpy() > 0
        side = ["item_f0", "item_f1", "item_category"]
        return X, Y[["rating", "click"]], liked, side, "generated stand-in"
    path = data_dir() / "ml-1m"
    if not (path / "ratings.dat").is_file():
        return None
    X, Y = load_movielens(path)
    liked = Y["rating"].to_numpy() >= 4
    side = ["release_year"] + [c for c in X.columns if c.startswith("genre_")]
    return X, Y, liked, side, "MovieLens-1M"


def co_liked(test):
    """``{item: set of items liked by a user who liked it}`` in the test period."""
    out = {}
    for items in test.groupby("user_id")["item_id"].agg(lambda s: set(s)):
        for i in items:
            out.setdefault(i, set()).update(items - {i})
    return {i: s for i, s in out.items() if s}


def associated(test, n_top=20, min_count=2):
    """``{item: its n_top most associated items}`` in the test period.

    Association = co-likes / sqrt(likes of i x likes of j) (the cosine of the
    items' user columns), pairs with at least ``min_count`` co-likes: strong
    relations, not merely two popular items.
    """
    import scipy.sparse as sp

    users, u = np.unique(test["user_id"], return_inverse=True)
    items, i = np.unique(test["item_id"], return_inverse=True)
    B = sp.csr_matrix((np.ones(i.size), (u, i)), shape=(users.size, items.size))
    B.data[:] = 1.0
    C = (B.T @ B).toarray()
    likes = np.diag(C).copy()
    np.fill_diagonal(C, 0)
    assoc = np.where(C >= min_count, C / np.sqrt(np.outer(likes, likes)), 0.0)
    out = {}
    for r, item in enumerate(items):
        top = np.argsort(-assoc[r], kind="stable")[:n_top]
        top = top[assoc[r, top] > 0]
        if top.size:
            out[item] = set(items[top])
    return out


def recall(frame, targets, item_col="item_id"):
    """Mean over queries of |top-k ∩ targets| / min(k, |targets|)."""
    values = []
    for q, group in frame.groupby(item_col, sort=False):
        if q in targets:
            got = set(group[f"similar_{item_col}"]) & targets[q]
            values.append(len(got) / min(K, len(targets[q])))
    return float(np.mean(values)) if values else float("nan")


def hit_rate(frame, targets, item_col="item_id"):
    hits = []
    for q, group in frame.groupby(item_col, sort=False):
        hits.append(bool(set(group[f"similar_{item_col}"]) & targets[q]))
    return float(np.mean(hits)) if hits else float("nan")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    found = load(args.quick)
    if found is None:
        print("skipped: MovieLens-1M not found (run ../shared/data/get_dev_data.sh)")
        return 0
    X, Y, liked, side, name = found
    cut = np.quantile(X["timestamp"], 0.8)
    train = (X["timestamp"] <= cut).to_numpy()
    X_train, Y_train = X[train], Y[train]
    test = X.loc[~train & liked, ["user_id", "item_id"]]
    catalogue_items = X_train.drop_duplicates("item_id")[["item_id", *side]]
    in_catalogue = test[test["item_id"].isin(catalogue_items["item_id"])]
    targets = co_liked(in_catalogue)
    strong = associated(in_catalogue)
    rng = np.random.default_rng(0)
    queries = np.array(sorted(targets))
    queries = rng.choice(queries, size=min(2000, queries.size), replace=False)
    print(
        f"{name}: {train.sum():,} training events, {len(test):,} held-out likes, "
        f"{len(catalogue_items):,} catalogue items, {queries.size:,} query items"
    )

    start = time.perf_counter()
    als = ALSEmbedder(factors=64, iterations=15, cv=None, random_state=0).fit(X_train)
    als_s = time.perf_counter() - start
    start = time.perf_counter()
    fm = FMEmbedder(
        n_components=16, n_iter=20 if args.quick else 60, cv=None, random_state=0
    ).fit(X_train[["user_id", "item_id"]], Y_train)
    fm_s = time.perf_counter() - start
    print(f"fit: ALS {als_s:.1f}s, FM (ids only, Gibbs) {fm_s:.1f}s")
    holder = Pipeline([("fm", fm), ("als", als)])  # fitted steps, for the protocol
    sources = item_sources(holder, catalogue_items, "item_id")
    catalogue = catalogue_items["item_id"].to_numpy()
    q = conform_queries(queries, catalogue)
    cold = als._cold_item_order()
    cold = pd.Index(catalogue).get_indexer(als.item_index_[cold])

    rows = []
    runs = {f"{s} alone": {s: 1.0} for s in sources}
    runs["fusion (default)"] = None  # each embedder 1, content 0.25
    runs["fusion (all 1)"] = {n: 1.0 for n in sources}
    runs["fusion als + fm"] = {"als": 1.0, "fm": 1.0}
    runs["als 1, fm 0.5"] = {"als": 1.0, "fm": 0.5}
    runs["als 1, fm 1, content 0.5"] = {"als": 1.0, "fm": 1.0, "content": 0.5}
    for label, weights in runs.items():
        start = time.perf_counter()
        frame = fused_neighbours(
            sources, check_weights(weights, sources), catalogue, q, K, "item_id",
            cold_order=cold[cold >= 0],
        )  # fmt: skip
        seconds = time.perf_counter() - start
        rows.append((label, hit_rate(frame, targets), recall(frame, strong), seconds))
    popular = catalogue[cold[cold >= 0]]
    pop_frame = pd.DataFrame(
        {
            "item_id": np.repeat(q, K),
            "similar_item_id": np.concatenate([popular[popular != i][:K] for i in q]),
        }
    )
    rows.append(
        ("popularity", hit_rate(pop_frame, targets), recall(pop_frame, strong), 0.0)
    )
    print(
        f"\n{queries.size:,} query items; hit rate@{K}: one of the top {K} co-liked "
        f"in the held-out period; recall@{K}: share of the 20 most associated items "
        "(co-likes / sqrt(likes x likes), >= 2 co-likes) found"
    )
    print(f"  {'source':<26} {'hit@10':>7} {'recall@10':>10}   time")
    for label, rate, rec, seconds in rows:
        print(f"  {label:<26} {rate:7.4f} {rec:10.4f}   ({seconds:.2f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
