"""The real-data loop: every model per task on public rating data sets.

Data (fetched by ``../shared/data/get_dev_data.sh`` into ``$MTLCLASSIC_DEV_DATA`` or
``~/.cache/mtlclassic/dev-data``; never shipped):

- ``movielens``: MovieLens-1M, a seeded subset of users with about ``--n-events``
  ratings (100k by default, the size of ML-100k), user and item side features;
  tasks ``rating`` (regression, 1-5) and ``liked`` (rating >= 4).
- ``book-crossing``: Book-Crossing, a funnel of two tasks: ``explicit`` (binary: the
  user rated the book rather than only touched it, every row) and ``rating``
  (1-10, explicit rows only, NaN elsewhere); users and books with at least 5
  events, a seeded subset of users with about ``--n-events`` events; user age and
  country, book year, author and publisher as side features.

Split: a seeded random 80/20 split of the events. Per task: RMSE / R² (regression),
ROC AUC / log loss (binary), and fit time (one core) of

- ``pipeline``: ``make_multitask_recommender()`` with its defaults;
- ``multitask_fm``: ``MultiTaskFM`` over ids and side features (defaults);
- ``single_fm``: one ``FMRegressor`` / ``FMClassifier`` per task (defaults);
- ``lightgbm``: one early-stopped LightGBM per task on the raw columns
  (``MultiTaskLGBM(strategy="separate")``);
- ``bayesian_mf``: ``FMRegressor``/``FMClassifier`` on the two id columns only
  (Bayesian biased matrix factorisation);
- ``myfm``: myFM's Gibbs sampler (rank 10, 200 samples) on the same one-hot design,
  when myFM is installed (``pip install -e '.[bench]'``).

It also prints the FM scores' train-vs-test gap: the RMSE/AUC of the cross-fitted
(out-of-fold) ``fm_score_*`` on the training rows against the same score on the
test rows (heads learn from the former and are applied to the latter).

Run: ``python benchmarks/bench_real.py [--dataset movielens|book-crossing|all]``;
``--quick`` runs a small generated stand-in in seconds (used by the tests).
"""

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from mtlclassic import (
    FMClassifier,
    FMEmbedder,
    FMRegressor,
    MultiTaskFM,
    MultiTaskLGBM,
    make_multitask_recommender,
    make_multitask_recsys,
)
from mtlclassic.cli._demo import (
    add_tolerance_argument,
    check_figures,
    readme_figures,
    report_check,
)
from mtlclassic.datasets import load_movielens

IDS = ["user_id", "item_id"]


def data_dir():
    return Path(
        os.environ.get(
            "MTLCLASSIC_DEV_DATA", Path.home() / ".cache" / "mtlclassic" / "dev-data"
        )
    )


def user_subset(X, Y, n_events, rng):
    """Whole users in a seeded order until about ``n_events`` events."""
    users = rng.permutation(X["user_id"].unique())
    counts = X["user_id"].value_counts().reindex(users).cumsum().to_numpy()
    keep = users[: int(np.searchsorted(counts, n_events)) + 1]
    rows = X["user_id"].isin(keep).to_numpy()
    return X[rows].reset_index(drop=True), Y[rows].reset_index(drop=True)


def movielens(n_events, rng):
    path = data_dir() / "ml-1m"
    if not (path / "ratings.dat").is_file():
        return None
    X, Y = load_movielens(path)
    X = X.drop(columns=[c for c in X.columns if X[c].isna().all()])
    return user_subset(X, Y, n_events, rng)


def book_crossing(n_events, rng):
    path = data_dir() / "book-crossing"
    if not (path / "BX-Book-Ratings.csv").is_file():
        return None
    read = dict(sep=";", encoding="latin-1", quotechar='"', on_bad_lines="skip")
    events = pd.read_csv(path / "BX-Book-Ratings.csv", **read, dtype=str)
    events.columns = ["user_id", "item_id", "rating"]
    events["user_id"] = events["user_id"].astype(np.int64)
    events["rating"] = events["rating"].astype(float)
    for _ in range(3):  # users and books with at least 5 events (3 passes)
        events = events[events.groupby("user_id")["item_id"].transform("size") >= 5]
        events = events[events.groupby("item_id")["user_id"].transform("size") >= 5]
    users = pd.read_csv(path / "BX-Users.csv", **read, dtype=str)
    users.columns = ["user_id", "location", "age"]
    users["user_id"] = users["user_id"].astype(np.int64)
    users["age"] = pd.to_numeric(users["age"], errors="coerce")
    users.loc[(users["age"] < 5) | (users["age"] > 100), "age"] = np.nan
    users["country"] = users["location"].str.rsplit(",", n=1).str[-1].str.strip()
    books = pd.read_csv(path / "BX-Books.csv", **read, dtype=str).iloc[:, :5]
    books.columns = ["item_id", "title", "author", "year", "publisher"]
    books["year"] = pd.to_numeric(books["year"], errors="coerce")
    books.loc[(books["year"] < 1900) | (books["year"] > 2005), "year"] = np.nan
    books = books.drop_duplicates("item_id")
    X = events[["user_id", "item_id"]].merge(
        users[["user_id", "age", "country"]], on="user_id", how="left"
    )
    book_columns = ["item_id", "author", "year", "publisher"]
    X = X.merge(books[book_columns], on="item_id", how="left")
    X["item_id"] = X["item_id"].astype("category").cat.codes.astype(np.int64)
    for col in ("country", "author", "publisher"):
        X[col] = X[col].fillna("unknown").astype("category")
    rating = events["rating"].to_numpy()
    Y = pd.DataFrame(
        {
            "explicit": (rating > 0).astype(float),
            "rating": np.where(rating > 0, rating, np.nan),
        }
    )
    return user_subset(X.reset_index(drop=True), Y, n_events, rng)


def generated(rng):
    X, Y = make_multitask_recsys(
        n_users=150, n_items=80, n_events=4000, random_state=int(rng.randint(1000))
    )
    return X.drop(columns=["timestamp"]), Y


def score_task(kind, y, p):
    rows = ~np.isnan(y)
    y, p = y[rows], p[rows]
    if kind == "regression":
        rmse = float(np.sqrt(np.mean((y - p) ** 2)))
        r2 = 1 - rmse**2 / float(np.var(y))
        return {"rmse": rmse, "r2": r2}
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return {"auc": roc_auc_score(y, p), "log_loss": log_loss(y, p)}


def data_arguments(parser):
    """Add ``--quick``, ``--dataset`` and ``--n-events`` (every real-data script)."""
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--dataset", default="all", choices=["movielens", "book-crossing", "all"]
    )
    parser.add_argument("--n-events", type=int, default=100_000)


def real_data(args, seed=0):
    """Yield ``(name, X, Y)`` of each chosen data set whose files are present."""
    loaders = {"movielens": movielens, "book-crossing": book_crossing}
    for name in list(loaders) if args.dataset == "all" else [args.dataset]:
        data = loaders[name](args.n_events, np.random.RandomState(seed))
        if data is None:
            print(
                f"skipped {name}: its files are not in {data_dir()} (run "
                "../shared/data/get_dev_data.sh, or set MTLCLASSIC_DEV_DATA)"
            )
            continue
        yield (name, *data)


def seeded_splits(X, Y, seeds):
    """Yield ``(seed, X_train, X_test, Y_train, Y_test)``: a random 80/20 per seed."""
    for seed in seeds:
        test = np.random.RandomState(seed).rand(len(X)) < 0.2
        Xtr, Xte = X[~test].reset_index(drop=True), X[test].reset_index(drop=True)
        Ytr, Yte = Y[~test].reset_index(drop=True), Y[test].reset_index(drop=True)
        yield seed, Xtr, Xte, Ytr, Yte


def task_kinds(Y):
    """``"binary"`` for a 0/1 task, else ``"regression"``, per column of ``Y``."""
    return [
        "binary" if set(np.unique(Y[t].dropna())) <= {0.0, 1.0} else "regression"
        for t in Y.columns
    ]


def record(rows, row, Y_test, P):
    """Add each task's RMSE or ROC AUC of ``P`` to ``row``; keep and print it."""
    for t, (task, kind) in enumerate(zip(Y_test.columns, task_kinds(Y_test))):
        scores = score_task(kind, Y_test[task].to_numpy(), P[:, t])
        metric = "rmse" if kind == "regression" else "auc"
        row[f"{task} {metric}"] = scores[metric]
    rows.append(row)
    cells = [f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
             for k, v in row.items()]  # fmt: skip
    print("  " + ", ".join(cells), flush=True)


def summarize(rows, name, by, extra, n_seeds):
    """Print the mean and std over seeds of every metric and ``extra`` column."""
    frame = pd.DataFrame(rows)
    metrics = [c for c in frame.columns if c.endswith(("rmse", "auc"))]
    summary = frame.groupby(by, sort=False)[metrics + extra].agg(["mean", "std"])
    print(f"\n== {name}: mean (std over {n_seeds} seeds)")
    print(summary.round(4).to_string())
    return frame


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def one_hot(X_train, X_test):
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cats = [c for c in X_train.columns if c in IDS or X_train[c].dtype == "category"]
    flags = [
        c for c in X_train.columns
        if c not in cats and X_train[c].dropna().isin([0, 1]).all()
    ]  # fmt: skip
    nums = [c for c in X_train.columns if c not in cats and c not in flags]
    enc = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), cats),
        ("passthrough", flags),  # 0/1 indicators stay sparse, as in our design
        (StandardScaler(), nums),
        sparse_threshold=1.0,
    )
    fill = X_train[nums].mean()
    Xtr = X_train.assign(**{c: X_train[c].fillna(fill[c]) for c in nums})
    Xte = X_test.assign(**{c: X_test[c].fillna(fill[c]) for c in nums})
    Xtr[flags], Xte[flags] = Xtr[flags].fillna(0), Xte[flags].fillna(0)
    return enc.fit_transform(Xtr).tocsr(), enc.transform(Xte).tocsr()


def run(name, X, Y, *, quick, seed):
    rng = np.random.RandomState(seed)
    test = rng.rand(len(X)) < 0.2
    Xtr, Xte = X[~test].reset_index(drop=True), X[test].reset_index(drop=True)
    Ytr, Yte = Y[~test].reset_index(drop=True), Y[test].reset_index(drop=True)
    tasks = list(Y.columns)
    kinds = [
        "binary" if set(np.unique(Y[t].dropna())) <= {0.0, 1.0} else "regression"
        for t in tasks
    ]
    n_iter = 20 if quick else None
    fm_kw = dict(random_state=seed) | ({"n_iter": n_iter} if quick else {})
    print(
        f"\n== {name}: {len(Xtr):,} training and {len(Xte):,} test events, "
        f"{X['user_id'].nunique():,} users, {X['item_id'].nunique():,} items; tasks "
        + ", ".join(f"{t} ({k}, {Y[t].notna().mean():.0%} labelled)"
                    for t, k in zip(tasks, kinds))
    )  # fmt: skip
    results = {}
    per_sweep = {}  # ms per Gibbs sweep (ours) and per myFM sample, same features

    def record(model_name, pred, seconds):
        for t, (task, kind) in enumerate(zip(tasks, kinds)):
            results[(model_name, task)] = score_task(
                kind, Yte[task].to_numpy(), pred[:, t]
            ) | {"fit_s": seconds}

    pipe_kw = dict(random_state=seed)
    if quick:
        pipe_kw |= dict(fm_n_iter=n_iter, n_estimators=50, iterations=3)
    pipe = make_multitask_recommender(**pipe_kw)
    _, sec = timed(lambda: pipe.fit(Xtr, Ytr))
    record("pipeline", pipe.predict(Xte), sec)

    mt = MultiTaskFM(categorical_features=IDS, **fm_kw)
    _, sec = timed(lambda: mt.fit(Xtr, Ytr))
    record("multitask_fm", mt.predict(Xte), sec)

    for label, columns in (("single_fm", list(X.columns)), ("bayesian_mf", IDS)):
        preds, total = [], 0.0
        for task, kind in zip(tasks, kinds):
            rows = Ytr[task].notna().to_numpy()
            cls = FMRegressor if kind == "regression" else FMClassifier
            model = cls(categorical_features=IDS, **fm_kw)
            _, sec = timed(lambda: model.fit(Xtr.loc[rows, columns], Ytr[task][rows]))
            total += sec
            if label == "single_fm":
                per_sweep[task] = [1000 * sec / model.n_iter_]
            preds.append(
                model.predict(Xte[columns])
                if kind == "regression"
                else model.predict_proba(Xte[columns])[:, 1]
            )
        record(label, np.column_stack(preds), total)

    lgbm = MultiTaskLGBM(
        n_estimators=50 if quick else 2000,
        early_stopping_rounds=50,
        n_jobs=1,
        random_state=seed,
    )
    _, sec = timed(lambda: lgbm.fit(Xtr, Ytr))
    record("lightgbm", lgbm.predict(Xte), sec)

    if importlib.util.find_spec("myfm") is not None:
        import myfm

        Dtr, Dte = one_hot(Xtr, Xte)
        preds, total = [], 0.0
        samples = 20 if quick else 200
        for task, kind in zip(tasks, kinds):
            rows = Ytr[task].notna().to_numpy()
            cls = myfm.MyFMRegressor if kind == "regression" else myfm.MyFMClassifier
            model = cls(rank=10, random_seed=seed)
            _, sec = timed(
                lambda: model.fit(
                    Dtr[rows], Ytr[task][rows].to_numpy(), n_iter=samples,
                    n_kept_samples=samples, callback=None,
                )
            )  # fmt: skip
            total += sec
            per_sweep[task].append(1000 * sec / samples)
            preds.append(
                model.predict(Dte) if kind == "regression" else model.predict_proba(Dte)
            )
        record("myfm", np.column_stack(preds), total)
        print(
            "ms per sweep, ours vs myFM (same features): "
            + "; ".join(f"{t} {a:.1f} vs {b:.1f}" for t, (a, b) in per_sweep.items())
        )
    else:
        print("(myFM is not installed: pip install -e '.[bench]' to compare)")

    # the FM score as the heads see it: out-of-fold on train, full model on test
    emb = FMEmbedder(features=("scores",), passthrough=False, cv=5, **fm_kw)
    emb.set_output(transform="pandas")
    oof = emb.fit_transform(Xtr, Ytr)
    full = emb.transform(Xte)
    gap = []
    for task, kind in zip(tasks, kinds):
        col = f"fm_score_{task}"
        link = (lambda s: 1 / (1 + np.exp(-s))) if kind == "binary" else (lambda s: s)
        a = score_task(kind, Ytr[task].to_numpy(), link(oof[col].to_numpy()))
        b = score_task(kind, Yte[task].to_numpy(), link(full[col].to_numpy()))
        key = "rmse" if kind == "regression" else "auc"
        gap.append(f"{task} {key}: train OOF {a[key]:.4f} vs test {b[key]:.4f}")
    print("FM score gap (cross-fitted train vs test): " + "; ".join(gap))

    table = pd.DataFrame(results).T
    table.index.names = ["model", "task"]
    order = ["rmse", "r2", "auc", "log_loss", "fit_s"]
    table = table[[c for c in order if c in table.columns]]
    fmt = "{:.4f}".format
    with pd.option_context("display.width", 120, "display.float_format", fmt):
        print(table.sort_index(level=1, sort_remaining=False).to_string())
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    data_arguments(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--check",
        metavar="FILE",
        help=f"compare with the table after {MARKER!r} in FILE (README.md); "
        "exit 1 when a figure differs at 3 decimals",
    )
    add_tolerance_argument(
        parser, "these figures by 0.001 (SkylakeX against Haswell kernels)"
    )
    args = parser.parse_args(argv)
    if args.tolerance is not None and not args.check:
        parser.error("--tolerance needs --check FILE (it is the check's)")
    tolerance = args.tolerance or 0.0
    if args.quick:
        X, Y = generated(np.random.RandomState(args.seed))
        run("generated stand-in (--quick)", X, Y, quick=True, seed=args.seed)
        if args.check:  # the stand-in's figures are not the README's: parse only
            readme_figures(Path(args.check).read_text(encoding="utf-8"), MARKER)
            print(f"--quick: the table in {args.check} parses; figures not compared")
        return 0
    tables = {}
    for name, X, Y in real_data(args, args.seed):
        tables[name] = run(name, X, Y, quick=False, seed=args.seed)
    if not args.check:
        return 0
    if set(tables) != {"movielens", "book-crossing"}:
        print("skipped --check: it needs both data sets (--dataset all, their files)")
        return 0
    text = Path(args.check).read_text(encoding="utf-8")
    figures = readme_table(tables)
    unmeasured = list(figures.index[figures.isna().all(axis=1)])
    if unmeasured:
        print(f"not checked (not run here, e.g. myFM not installed): {unmeasured}")
    return report_check(
        check_figures(figures, text, marker=MARKER, tolerance=tolerance),
        args.check,
        MARKER,
        "bench_real",
        tolerance=tolerance,
    )


# The README's real-data table: its rows (models) and columns, in order.
MARKER = "<!-- figures: benchmarks/bench_real.py -->"
README_ROWS = ["pipeline", "multitask_fm", "lightgbm", "myfm"]
README_COLUMNS = [
    ("movielens", "rating", "rmse"),
    ("movielens", "liked", "auc"),
    ("book-crossing", "explicit", "auc"),
    ("book-crossing", "rating", "rmse"),
]


def readme_table(tables):
    """The README's figures from the per-data-set tables (NaN: not run, e.g. myFM)."""
    out = pd.DataFrame(index=README_ROWS, dtype=float)
    for dataset, task, metric in README_COLUMNS:
        column = f"{dataset} {task} {metric}"
        out[column] = [
            tables[dataset][metric].get((model, task), np.nan) for model in README_ROWS
        ]
    return out


if __name__ == "__main__":
    sys.exit(main())
