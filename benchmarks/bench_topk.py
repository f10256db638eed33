"""Top-K recommendation on real data: the two-stage Recommender against baselines.

A recommender is judged as its users judge it: its top-10 list on each user's
held-out events, against popularity, EASE, implicit ALS and ItemKNN measured in
the same run (each baseline tuned on a validation cut of the training events,
separately for each metric), and RecTools' two-stage ``CandidateRankingModel``
when RecTools is installed (it needs numpy < 2: a separate venv).

Data (``../shared/data/get_dev_data.sh``; never shipped):

- ``movielens``: MovieLens-1M, a seeded subset of ``--users`` users (1,000 by
  default, the size of ML-100k); each user's newest 20% of events are the test
  (``UserTemporalSplit(test_size=0.2)``); tasks ``rating`` and ``liked`` (>= 4).
- ``book-crossing``: Book-Crossing, users and books with at least 10 events, a
  seeded subset of ``--users`` users; a seeded random 20% of each user's events
  are the test (no timestamps); tasks ``explicit`` (rated, not only touched) and
  ``rating`` (1-10); "liked" is a rating >= 8.
Data sets the defaults were not chosen on (``benchmarks/get_more_data.sh``):

- ``movielens-100k``: MovieLens-100K, every user (943), split and tasks as
  MovieLens-1M.
- ``instacart``: 150k products in the grocery orders of 593 users (every
  user with the default ``--users``); time =
  days since the user's first order (+ the add-to-cart position in seconds);
  each user's newest 20% as the test, so mostly next orders; tasks
  ``reordered`` (binary) and ``cart_position`` (log of the add-to-cart
  position); "liked" is a reorder. Repeat purchases dominate and seen items
  are never recommended: this measures finding the products a user had not
  bought yet.
- ``ibm-reads``: article reads on IBM Watson Studio, every user (5,148 by
  hashed e-mail, 714 articles), no time: a seeded random 20% per user; tasks
  ``reads`` (log of the user's reads of the article) and ``repeat`` (read
  more than once, also "liked").

Metrics: NDCG@10 with relevance "liked" and "any test item", recall@10, catalogue
coverage; train-seen items are never recommended. New users: a seeded 10% of the
users is held out of training entirely and gets a top-10 judged on all its events,
against popularity. Times: fit, and recommending for every test user (ms/user).

Run: ``python benchmarks/bench_topk.py [--dataset movielens|book-crossing|all]
[--users N]``; ``--quick`` runs a generated stand-in in seconds (the tests do).

``--pipeline-set NAME:{...} ... --seeds 0 1 2`` runs only the two-stage
``Recommender`` around ``make_multitask_recommender(random_state=seed,
n_jobs=1, **params)`` for each setting (a dict literal; a ``random_state`` in it
is added to the seed, to draw the same model again), on each seed's data and
split, and prints NDCG@10 per seed and the mean per setting: the top-K list
moves with any change of the pipeline, so compare a change against a second
draw of the unchanged model (``"again:{'random_state': 100}"``).
"""

import argparse
import ast
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_real import book_crossing, data_dir  # noqa: E402

from mtlclassic import (  # noqa: E402
    ALSEmbedder,
    Recommender,
    make_multitask_recommender,
    make_multitask_recsys,
)
from mtlclassic.candidates import EASE, ItemKNN, Popularity  # noqa: E402
from mtlclassic.datasets import load_movielens  # noqa: E402
from mtlclassic.metrics import evaluate_recommendations  # noqa: E402
from mtlclassic.model_selection import UserTemporalSplit  # noqa: E402

K = 10


# ------------------------------------------------------------------ data
def user_subset(X, Y, n_users, seed):
    rng = np.random.RandomState(seed)
    users = X["user_id"].unique()
    if n_users is None or n_users >= users.size:
        return X.reset_index(drop=True), Y.reset_index(drop=True)
    keep = rng.choice(users, n_users, replace=False)
    rows = X["user_id"].isin(keep).to_numpy()
    return X[rows].reset_index(drop=True), Y[rows].reset_index(drop=True)


def _grouplens(folder, ratings, n_users, seed):
    path = data_dir() / folder
    if not (path / ratings).is_file():
        return None
    X, Y = load_movielens(path)
    X = X.drop(columns=[c for c in X.columns if X[c].isna().all()])
    X, Y = user_subset(X, Y, n_users, seed)
    liked = Y["liked"].to_numpy()
    return dict(X=X, Y=Y, liked=liked, user_cols=["age", "gender", "occupation"])


def movielens(n_users, seed):
    return _grouplens("ml-1m", "ratings.dat", n_users, seed)


def movielens_100k(n_users, seed):
    return _grouplens("ml-100k", "u.data", n_users, seed)


def instacart(n_users, seed):
    file = data_dir() / "instacart" / "df_sample.csv"
    if not file.is_file():
        return None
    d = pd.read_csv(file, index_col=0)
    d = d.sort_values(["user_id", "order_number", "add_to_cart_order"])
    orders = d.drop_duplicates(["user_id", "order_number"])[
        ["user_id", "order_number", "days_since_prior_order"]
    ]
    gaps = orders["days_since_prior_order"].fillna(0.0)
    orders = orders.assign(day=gaps.groupby(orders["user_id"]).cumsum())
    d = d.merge(
        orders[["user_id", "order_number", "day"]], on=["user_id", "order_number"]
    )
    X = pd.DataFrame({"user_id": d["user_id"].to_numpy(),
                      "item_id": d["product_id"].to_numpy(),
                      "timestamp": d["day"].to_numpy() * 86400.0
                      + d["add_to_cart_order"].to_numpy()})  # fmt: skip
    position = d["add_to_cart_order"].to_numpy(float)
    Y = pd.DataFrame({"reordered": d["reordered"].to_numpy(float),
                      "cart_position": np.log(position)})  # fmt: skip
    X, Y = user_subset(X, Y, n_users, seed)
    return dict(X=X, Y=Y, liked=Y["reordered"].to_numpy(), user_cols=[])


def ibm_reads(n_users, seed):
    file = data_dir() / "ibm-reads" / "user-item-interactions.csv"
    if not file.is_file():
        return None
    d = pd.read_csv(file, index_col=0).dropna(subset=["email"])
    X = pd.DataFrame({"user_id": d["email"].astype(str).to_numpy(),
                      "item_id": d["article_id"].to_numpy().astype(int)})  # fmt: skip
    reads = X.groupby(["user_id", "item_id"])["item_id"].transform("size")
    Y = pd.DataFrame({"reads": np.log(reads.to_numpy(float)),
                      "repeat": (reads.to_numpy() > 1).astype(float)})  # fmt: skip
    X, Y = X.reset_index(drop=True), Y.reset_index(drop=True)  # every user
    # no timestamps: a seeded random order stands for time (a random split)
    X = X.assign(timestamp=np.random.RandomState(seed).permutation(len(X)))
    return dict(X=X, Y=Y, liked=Y["repeat"].to_numpy(), user_cols=[], no_time=True)


def book_crossing_core(n_users, seed, core=10):
    found = book_crossing(10**9, np.random.RandomState(seed))
    if found is None:
        return None
    X, Y = found
    keep = np.ones(len(X), dtype=bool)
    for _ in range(5):  # users and books with at least `core` events
        users = X.loc[keep, "user_id"]
        items = X.loc[keep, "item_id"]
        keep &= X["user_id"].map(users.value_counts()).fillna(0).to_numpy() >= core
        keep &= X["item_id"].map(items.value_counts()).fillna(0).to_numpy() >= core
    X, Y = X[keep].reset_index(drop=True), Y[keep].reset_index(drop=True)
    X, Y = user_subset(X, Y, n_users, seed)
    # no timestamps: a seeded random order stands for time (a random split)
    X = X.assign(timestamp=np.random.RandomState(seed).permutation(len(X)))
    liked = (Y["rating"].to_numpy() >= 8).astype(float)
    return dict(X=X, Y=Y, liked=liked, user_cols=["age", "country"], no_time=True)


def generated(n_users, seed):
    X, Y = make_multitask_recsys(n_users=150, n_items=80, n_events=6000,
                                 random_state=seed)  # fmt: skip
    liked = Y["like"].fillna(0).to_numpy()
    return dict(X=X, Y=Y, liked=liked, user_cols=["user_f0", "user_f1",
                                                    "user_segment"])  # fmt: skip


def split(data, seed):
    """Train / test events, and the held-out new users."""
    X, Y, liked = data["X"], data["Y"], data["liked"]
    rng = np.random.RandomState(seed + 1)
    users = X["user_id"].unique()
    new = rng.choice(users, max(1, users.size // 10), replace=False)
    is_new = X["user_id"].isin(new).to_numpy()
    known = np.flatnonzero(~is_new)
    train, test = next(UserTemporalSplit(test_size=0.2).split(X.iloc[known]))
    train, test = known[train], known[test]
    return dict(
        X_train=X.iloc[train].reset_index(drop=True),
        Y_train=Y.iloc[train].reset_index(drop=True),
        liked_train=liked[train],
        no_time=bool(data.get("no_time")),
        test=X.iloc[test][["user_id", "item_id"]].assign(liked=liked[test]),
        new_test=X[is_new][["user_id", "item_id"]].assign(liked=liked[is_new]),
    )


def catalogue(X, user_cols):
    item_cols = [c for c in X.columns if c not in ["user_id", "timestamp", *user_cols]]
    items = X.drop_duplicates("item_id")[item_cols].reset_index(drop=True)
    users = X.drop_duplicates("user_id")[["user_id", *user_cols]]
    return items, users.reset_index(drop=True)


def scores(recs, test, train):
    a = evaluate_recommendations(recs, test, K, relevance="liked", train_events=train)
    b = evaluate_recommendations(recs, test, K, train_events=train)
    return {
        "ndcg_liked": a[f"ndcg@{K}"],
        "ndcg_any": b[f"ndcg@{K}"],
        "recall_any": b[f"recall@{K}"],
        "coverage": b[f"coverage@{K}"],
    }


# ------------------------------------------------------------- baselines
def baseline_grid(quick, has_time):
    if quick:
        return {"ease": [EASE(100.0)], "als": [ALSEmbedder(factors=8, cv=None,
                random_state=0)], "knn": [ItemKNN(50)]}  # fmt: skip
    return {
        "ease": [EASE(lam) for lam in (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0)],
        "als": [
            ALSEmbedder(
                factors=f,
                regularization=r,
                alpha=a,
                iterations=15,
                cv=None,
                random_state=0,
            )  # fmt: skip
            for f in (16, 32, 64, 128)
            for r in (0.01, 0.1, 1.0)
            for a in (1.0, 5.0)
        ],
        "knn": [
            ItemKNN(n, similarity=s) for n in (50, 200, 800) for s in ("cosine", "bm25")
        ],  # fmt: skip
    }


def tuned_baselines(split_data, quick):
    """Each baseline's best setting per metric on a validation cut of train."""
    X = split_data["X_train"]
    tr, va = next(UserTemporalSplit(test_size=0.2).split(X))
    liked = split_data["liked_train"]
    val = X.iloc[va][["user_id", "item_id"]].assign(liked=liked[va])
    users = val["user_id"].unique()
    best = {}
    for name, grid in baseline_grid(quick, True).items():
        for gen in grid:
            recs = gen.fit(X.iloc[tr]).recommend(users, K)
            got = scores(recs, val, X.iloc[tr])
            for metric in ("ndcg_liked", "ndcg_any"):
                if got[metric] > best.get((name, metric), (-1, None))[0]:
                    best[(name, metric)] = (got[metric], gen)
    return best


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def run_generator(gen, X_train, users):
    fitted, fit_s = timed(lambda: gen.fit(X_train))
    recs, rec_s = timed(lambda: fitted.recommend(users, K))
    return recs, fit_s, rec_s


def rectools_rows(split_data):  # pragma: no cover - optional, needs numpy < 2
    """RecTools' two-stage model, its defaults: EASE + ALS + popular -> LightGBM.

    The reranker is LightGBM's classifier (RecTools' default needs CatBoost);
    the last days holding ~20% of the events label it (``TimeRangeSplitter``;
    a random 20% without time, ``RandomSplitter``).
    """
    if importlib.util.find_spec("rectools") is None:
        print("  RecTools not installed: its CandidateRankingModel row is skipped "
              "(pip install rectools lightgbm, in a venv with numpy < 2).")  # fmt: skip
        return []
    from implicit.als import AlternatingLeastSquares
    from lightgbm import LGBMClassifier
    from rectools import Columns
    from rectools.dataset import Dataset
    from rectools.model_selection import RandomSplitter, TimeRangeSplitter
    from rectools.models import EASEModel, ImplicitALSWrapperModel, PopularModel
    from rectools.models.ranking import (
        CandidateGenerator,
        CandidateRankingModel,
        Reranker,
    )

    X = split_data["X_train"]
    inter = pd.DataFrame(
        {
            Columns.User: X["user_id"].to_numpy(),
            Columns.Item: X["item_id"].to_numpy(),
            Columns.Weight: 1.0,
            Columns.Datetime: pd.to_datetime(X["timestamp"].to_numpy(), unit="s"),
        }
    )
    dataset = Dataset.construct(inter)
    generators = [
        CandidateGenerator(EASEModel(), 100, True, True),
        CandidateGenerator(
            ImplicitALSWrapperModel(AlternatingLeastSquares(32, random_state=0)),
            100,
            True,
            True,
        ),  # fmt: skip
        CandidateGenerator(PopularModel(), 50, True, True),
    ]
    if split_data.get("no_time"):  # a random split, as the test's
        splitter = RandomSplitter(test_fold_frac=0.2, random_state=0)
    else:  # the last days holding about 20% of the events, as the test's share
        times = inter[Columns.Datetime]
        days = (times.max() - times.quantile(0.8)).days + 1
        splitter = TimeRangeSplitter(test_size=f"{days}D", n_splits=1)
    reranker = Reranker(LGBMClassifier(random_state=0, verbose=-1))  # no CatBoost
    model = CandidateRankingModel(generators, splitter, reranker)
    _, fit_s = timed(lambda: model.fit(dataset))
    users = split_data["test"]["user_id"].unique()
    recs, rec_s = timed(
        lambda: model.recommend(users, dataset, k=K, filter_viewed=True)
    )
    recs = recs.rename(columns={Columns.User: "user_id", Columns.Item: "item_id"})
    return [("RecTools 0.19 CandidateRankingModel, its defaults", recs, fit_s,
             rec_s)]  # fmt: skip


# ------------------------------------------------------------------- run
def run(name, data, *, quick, seed, legacy, only=None):
    s = split(data, seed)
    X_train, Y_train = s["X_train"], s["Y_train"]
    test, new_test = s["test"], s["new_test"]
    users = test["user_id"].unique()
    new_users = new_test["user_id"].unique()
    print(f"\n## {name}: {len(X_train)} training events, {users.size} test "
          f"users, {X_train['item_id'].nunique()} items, {new_users.size} new "
          "users")  # fmt: skip
    rows = []

    def record(label, recs, fit_s, rec_s, new_recs=None):
        got = scores(recs, test, X_train)
        got["fit_s"] = fit_s
        got["ms_per_user"] = 1000 * rec_s / max(1, users.size)
        if new_recs is not None:
            got["new_ndcg_any"] = scores(new_recs, new_test, X_train)["ndcg_any"]
        rows.append((label, got))
        print(f"  {label}: " + ", ".join(f"{k} {v:.4f}" for k, v in got.items()),
              flush=True)  # fmt: skip

    pop = Popularity()
    recs, fit_s, rec_s = run_generator(pop, X_train, users)
    record("most popular items", recs, fit_s, rec_s, pop.recommend(new_users, K))
    if only == "rectools":
        for label, recs, fit_s, rec_s in rectools_rows(s):
            record(label, recs, fit_s, rec_s)
        return rows
    best = tuned_baselines(s, quick)
    for base, label in (("ease", "EASE (Steck 2019)"), ("als", "implicit ALS"),
                        ("knn", "ItemKNN")):  # fmt: skip
        combined = {}
        for metric in ("ndcg_liked", "ndcg_any"):  # each column its own best setting
            gen = best[(base, metric)][1]
            recs, fit_s, rec_s = run_generator(gen, X_train, users)
            got = scores(recs, test, X_train)
            print(f"  {label} tuned for {metric} ({_setting(gen)}): "
                  f"{metric} {got[metric]:.4f}, "
                  f"recall_any {got['recall_any']:.4f}, fit {fit_s:.1f} s, "
                  f"{1000 * rec_s / users.size:.2f} ms/user")  # fmt: skip
            combined[metric] = got[metric]
        rows.append((f"{label}, tuned", combined))
    for label, recs, fit_s, rec_s in rectools_rows(s):
        record(label, recs, fit_s, rec_s)
    if not data.get("no_time"):  # the library's EASE on recency-weighted histories
        recent = EASE("auto", history_half_life=3)
        recs, fit_s, rec_s = run_generator(recent, X_train, users)
        record('EASE("auto", history_half_life=3), alone', recs, fit_s, rec_s)

    items, user_table = catalogue(data["X"], data["user_cols"])
    X_train = model_events(data, X_train)
    params = dict(random_state=seed, n_jobs=1)
    if quick:
        params.update(n_estimators=30, fm_n_iter=10, factors=8)
    if legacy:
        model, fit_s = timed(
            lambda: make_multitask_recommender(**params).fit(X_train, Y_train)
        )
        now = {c: X_train[c].max() for c in ["timestamp"] if c in X_train}
        old = Recommender(model, items, users=user_table, context=now)
        recs, rec_s = timed(lambda: old.recommend(users, K))
        record("Recommender before (fitted pipeline, ALS candidates, fusion)",
               recs, fit_s, rec_s, old.recommend(new_users, K))  # fmt: skip
    rec = two_stage(make_multitask_recommender(**params), items, user_table, seed)
    _, fit_s = timed(lambda: rec.fit(X_train, Y_train))
    recs, rec_s = timed(lambda: rec.recommend(users, K))
    record("Recommender.fit (two-stage, default)", recs, fit_s, rec_s,
           rec.recommend(new_users, K))  # fmt: skip
    bare = two_stage(None, items, user_table, seed)
    _, fit_s = timed(lambda: bare.fit(X_train))  # events only: no labels, no model
    recs, rec_s = timed(lambda: bare.recommend(users, K))
    record("Recommender(None).fit (no multi-task model)", recs, fit_s, rec_s,
           bare.recommend(new_users, K))  # fmt: skip
    return rows


def model_events(data, X_train):
    """The training events the multi-task model reads (no stand-in time)."""
    if data.get("no_time"):  # the stand-in time only drew the split
        return X_train.drop(columns="timestamp")
    return X_train


def two_stage(model, items, user_table, seed):
    """The two-stage ``Recommender`` of the benchmark's rows, around ``model``."""
    return Recommender(model, items, users=user_table, random_state=seed, n_jobs=1)


def absent(name):
    script = "../shared/data/get_dev_data.sh"
    if name in ("movielens-100k", "instacart", "ibm-reads"):
        script = "benchmarks/get_more_data.sh"
    return f"{name}: data files absent; run {script} (skipped)."


def _setting(gen):
    keys = ("regularization", "factors", "alpha", "n_neighbors", "similarity")
    params = gen.get_params()
    return ", ".join(f"{k}={params[k]}" for k in keys if k in params)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="all",
                        choices=["movielens", "book-crossing", "movielens-100k",
                                 "instacart", "ibm-reads", "all"])  # fmt: skip
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-legacy",
        action="store_true",
        help="skip the old Recommender's row (its own pipeline fit)",
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--pipeline-set",
        nargs="+",
        default=None,
        help="NAME:{params} settings of make_multitask_recommender to compare",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument(
        "--only",
        choices=["rectools"],
        default=None,
        help="popularity and RecTools only (its venv has numpy < 2)",
    )
    args = parser.parse_args(argv)
    if args.seeds and not args.pipeline_set:
        parser.error("--seeds needs --pipeline-set (the full run uses --seed)")
    if args.pipeline_set and (args.quick or args.only):
        parser.error("--pipeline-set runs on the real data, without --quick/--only")
    if args.quick:
        run("generated", generated(None, args.seed), quick=True, seed=args.seed,
            legacy=not args.no_legacy)  # fmt: skip
        return 0
    loaders = {
        "movielens": movielens,
        "book-crossing": book_crossing_core,
        "movielens-100k": movielens_100k,
        "instacart": instacart,
        "ibm-reads": ibm_reads,
    }
    names = list(loaders) if args.dataset == "all" else [args.dataset]
    if args.pipeline_set:
        for name in names:
            compare_pipelines(name, loaders[name], args)
        return 0
    tables = {}
    for name in names:
        data = loaders[name](args.users, args.seed)
        if data is None:
            print(absent(name))
            continue
        tables[name] = run(
            name,
            data,
            quick=False,
            seed=args.seed,
            legacy=not args.no_legacy,
            only=args.only,
        )
    if tables:
        print("\n" + markdown(tables))
    return 0


def compare_pipelines(name, loader, args):
    """NDCG@10 of the Recommender around each ``--pipeline-set`` setting, per seed."""
    settings = []
    for text in args.pipeline_set:
        label, _, body = text.partition(":")
        settings.append((label, ast.literal_eval(body or "{}")))
    got = {label: [] for label, _ in settings}
    for seed in args.seeds or [args.seed]:
        data = loader(args.users, seed)
        if data is None:
            print(absent(name))
            return
        s = split(data, seed)
        X_train, test = model_events(data, s["X_train"]), s["test"]
        items, user_table = catalogue(data["X"], data["user_cols"])
        users = test["user_id"].unique()
        for label, params in settings:
            params = {"n_jobs": 1, **params}
            params["random_state"] = seed + params.get("random_state", 0)
            model = make_multitask_recommender(**params)
            rec = two_stage(model, items, user_table, seed)
            rec.fit(X_train, s["Y_train"])
            row = scores(rec.recommend(users, K), test, X_train)
            got[label].append(row)
            print(
                f"  {name} seed {seed} {label}: NDCG@10 liked "
                f"{row['ndcg_liked']:.4f}, any {row['ndcg_any']:.4f}, recall@10 "
                f"{row['recall_any']:.4f}",
                flush=True,
            )
    for label, rows in got.items():
        mean = {k: np.mean([r[k] for r in rows]) for k in rows[0]}
        print(f"{name} {label}: mean NDCG@10 liked {mean['ndcg_liked']:.4f}, any "
              f"{mean['ndcg_any']:.4f}, recall@10 {mean['recall_any']:.4f} over "
              f"{len(rows)} seeds")  # fmt: skip


def markdown(tables):
    """The README's table: NDCG@10 liked / any per data set, one row a method."""
    labels = list(dict.fromkeys(label for rows in tables.values() for label, _ in rows))
    header = "| method | " + " | ".join(
        f"{name} NDCG@10 liked | any" for name in tables
    ) + " |"  # fmt: skip
    lines = [header, "|---" * (1 + 2 * len(tables)) + "|"]
    for label in labels:
        cells = []
        for rows in tables.values():
            got = dict(rows).get(label)
            cells += ["–", "–"] if got is None else [
                f"{got['ndcg_liked']:.3f}", f"{got['ndcg_any']:.3f}"
            ]  # fmt: skip
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
