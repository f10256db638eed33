"""``mtlclassic demo``: models, baselines, the printed report and the README check."""

import argparse
import math
import sys
import tempfile
import time

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.multioutput import MultiOutputClassifier, MultiOutputRegressor

from .._compat import import_lightgbm
from .._targets import check_targets
from ..boosting import MultiTaskLGBM
from ..datasets import load_census_income, load_movielens, make_multitask_recsys
from ..metrics import evaluate_recommendations, make_multitask_scorer, multitask_report
from ..model_selection import TemporalSplit
from ..recommend import Recommender, make_multitask_recommender

_DEMO_EXIT_CODES = (
    "Exit codes:\n"
    "  0  success (with --check: every figure matches FILE's table, within\n"
    "     --tolerance)\n"
    "  1  a run-time failure, or with --check a figure drifted\n"
    "  2  bad usage or input: a missing --movielens/--census folder or --check\n"
    "     FILE, a FILE without the figures table, --tolerance without --check"
)


def temporal_holdout(X, time_col="timestamp", test_fraction=0.2, seed=0):
    """Train on the oldest events and test on the newest ``test_fraction``.

    Without a time column, a seeded random split.
    """
    if time_col not in X.columns:
        test = np.random.RandomState(seed).uniform(size=len(X)) < test_fraction
        return np.flatnonzero(~test), np.flatnonzero(test)
    n_splits = max(1, round(1 / test_fraction) - 1)
    *_, (train, test) = TemporalSplit(time_col=time_col, n_splits=n_splits).split(X)
    return train, test


class _LightGBMBaseline:
    """The baselines' common settings: task kinds and names, LightGBM size."""

    def __init__(self, kinds, names, n_estimators=300, seed=0, n_jobs=1):
        self.kinds, self.names = kinds, names
        self.n_estimators, self.seed, self.n_jobs = n_estimators, seed, n_jobs

    def _params(self):
        return dict(
            n_estimators=self.n_estimators,
            learning_rate=0.05,
            random_state=self.seed,
            n_jobs=self.n_jobs,
            verbose=-1,
        )


class _Booster:
    """A trained ``lightgbm.Booster`` with the scikit-learn predict methods."""

    def __init__(self, booster):
        self.booster = booster

    def predict(self, X):
        return self.booster.predict(X, num_iteration=self.booster.best_iteration)

    def predict_proba(self, X):
        p = self.predict(X)
        return np.column_stack([1 - p, p])


class PerTaskLGBM(_LightGBMBaseline):
    """Baseline: one plain ``LGBMRegressor``/``LGBMClassifier`` per task.

    By default the raw columns as they are, each task on its labelled rows,
    no early stopping, no sharing: what a user would write by hand.
    ``careful=True`` is what a careful LightGBM user writes: the ids as
    ``category`` columns (categories fixed at fit: an unseen id is missing),
    the time column dropped (as the pipeline drops it), and early stopping
    (50 rounds, up to 2,000 trees) on the newest 10% of each task's rows.
    """

    def __init__(self, kinds, names, n_estimators=300, seed=0, n_jobs=1,
                 careful=False):  # fmt: skip
        super().__init__(kinds, names, n_estimators, seed, n_jobs)
        self.careful = careful

    def _frame(self, X):
        if not self.careful:
            return X
        changed = {}
        for col in ("user_id", "item_id"):
            if col in X.columns:
                dtype = self.id_dtypes_.get(col)
                if dtype is None:
                    dtype = self.id_dtypes_[col] = pd.CategoricalDtype(
                        pd.unique(X[col].to_numpy())
                    )
                codes = dtype.categories.get_indexer(X[col].to_numpy())  # unseen: -1
                changed[col] = pd.Categorical.from_codes(codes, dtype=dtype)
        return X.assign(**changed).drop(columns=["timestamp"], errors="ignore")

    def fit(self, X, Y):
        lgb = import_lightgbm()
        self.id_dtypes_ = {}
        X = self._frame(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.tasks_ = dict(zip(self.names, self.kinds))
        self.models_ = []
        for t, kind in enumerate(self.kinds):
            rows = np.flatnonzero(~np.isnan(Y[:, t]))
            cls = lgb.LGBMRegressor if kind == "regression" else lgb.LGBMClassifier
            if not self.careful:
                model = cls(**self._params())
                self.models_.append(model.fit(X.iloc[rows], Y[rows, t]))
                continue
            cut = int(0.9 * rows.size)  # the rows are in time order
            fit, held = rows[:cut], rows[cut:]
            params = dict(
                objective="regression" if kind == "regression" else "binary",
                learning_rate=0.05, seed=self.seed, num_threads=self.n_jobs,
                verbose=-1,
            )  # fmt: skip
            booster = lgb.train(
                params, lgb.Dataset(X.iloc[fit], Y[fit, t]), num_boost_round=2000,
                valid_sets=[lgb.Dataset(X.iloc[held], Y[held, t])],
                callbacks=[lgb.early_stopping(50, verbose=False)],
            )  # fmt: skip
            self.models_.append(_Booster(booster))
        return self

    def predict(self, X):
        X = self._frame(X)
        return np.column_stack(
            [
                m.predict(X) if k == "regression" else m.predict_proba(X)[:, 1]
                for m, k in zip(self.models_, self.kinds)
            ]
        )


class MultiOutputLGBM(_LightGBMBaseline):
    """Baseline: scikit-learn's MultiOutput{Regressor,Classifier} over LightGBM.

    It cannot take missing labels, so it trains on the rows where every task
    is labelled; with mixed kinds, one MultiOutput wrapper per kind.
    """

    def fit(self, X, Y):
        lgb = import_lightgbm()
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.tasks_ = dict(zip(self.names, self.kinds))
        complete = ~np.isnan(Y).any(axis=1)
        self.n_rows_used_ = int(complete.sum())
        if self.n_rows_used_ < 20:
            raise ValueError("fewer than 20 rows have every task labelled")
        params = self._params()
        self.groups_ = []
        for kind, wrapper, cls in (
            ("regression", MultiOutputRegressor, lgb.LGBMRegressor),
            ("binary", MultiOutputClassifier, lgb.LGBMClassifier),
        ):
            cols = [t for t, k in enumerate(self.kinds) if k == kind]
            if cols:
                model = wrapper(cls(**params)).fit(X[complete], Y[complete][:, cols])
                self.groups_.append((kind, cols, model))
        return self

    def predict(self, X):
        out = np.empty((len(X), len(self.kinds)))
        for kind, cols, model in self.groups_:
            if kind == "regression":
                out[:, cols] = model.predict(X).reshape(len(X), -1)
            else:
                out[:, cols] = np.column_stack(
                    [p[:, 1] for p in model.predict_proba(X)]
                )
        return out


class Constant:
    """Baseline: each task's training mean (its base rate for binary tasks)."""

    def __init__(self, names):
        self.names = names

    def fit(self, X, Y):
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.tasks_ = {name: None for name in self.names}
        self.mean_ = np.nanmean(Y, axis=0)
        return self

    def predict(self, X):
        return np.tile(self.mean_, (len(X), 1))


def _side_tables(X, user_col, item_col):
    """Per-user and per-item side columns (latest value) and the other columns."""
    X = X.sort_values("timestamp") if "timestamp" in X else X
    user_cols = [
        c
        for c in X.columns
        if c.startswith(("user_", "age", "gender", "occupation")) and c != user_col
    ]
    item_cols = [
        c for c in X.columns if c not in user_cols and c not in (user_col, "timestamp")
    ]
    items = X.drop_duplicates(item_col, keep="last")[item_cols]
    users = X.drop_duplicates(user_col, keep="last")[[user_col, *user_cols]]
    return users, items


def _topk_quality(name, model, split, names, kinds, k, max_users, seed):
    """NDCG@k / precision@k of each test user's top-k against their test positives.

    mtlclassic's list is the two-stage :class:`~mtlclassic.Recommender` fitted
    on the training events (the library's top-K); a baseline's is its fused
    task predictions over the whole catalogue (what a user of a pointwise
    model would rank by). Relevant: the user's positives of the first binary
    task in the test period; list evaluation
    (:func:`~mtlclassic.metrics.evaluate_recommendations`).
    """
    X_train, X_test, Y_train, Y_test = split
    users, items = _side_tables(pd.concat([X_train, X_test]), "user_id", "item_id")
    binary = [n for n, kd in zip(names, kinds) if kd == "binary"]
    target = "click" if "click" in names else (binary[0] if binary else names[0])
    positive = Y_test[target].to_numpy() > (0.5 if target in binary else 3.5)
    relevant = X_test.loc[positive, ["user_id", "item_id"]].drop_duplicates()
    rng = np.random.RandomState(seed)
    test_users = relevant["user_id"].unique()
    if test_users.size > max_users:
        test_users = rng.choice(test_users, size=max_users, replace=False)
    start = time.perf_counter()
    if name == "mtlclassic":
        pipeline = clone(model.estimator).set_params(memory=None, **model.best_params_)
        rec = Recommender(pipeline, items, users=users, random_state=seed)
        rec.fit(X_train, Y_train)
    else:
        weights = {n: 1.0 for n in binary} or {names[0]: 1.0}
        rec = Recommender(
            model, items, users=users, candidates="all",
            context={"timestamp": int(X_train["timestamp"].max())},
            seen=X_train[["user_id", "item_id"]], weights=weights,
        )  # fmt: skip
    top = rec.recommend(test_users, k=k)
    seconds = time.perf_counter() - start
    # the sampled users' test events only: the others have no list (they
    # counted as 0 and cut every model's NDCG by 300 / 888 on the full demo)
    relevant = relevant[relevant["user_id"].isin(test_users)]
    report = evaluate_recommendations(top, relevant, k=k)
    ndcg, precision = report[f"ndcg@{k}"], report[f"precision@{k}"]
    return ndcg, precision, test_users.size, target, seconds


def run_models(X, Y, *, quick=False, seed=0, n_jobs=1, progress=print):
    """Fit mtlclassic and the baselines on a temporal holdout.

    Returns ``(report, table)``: the printed text and the summary DataFrame
    (one row per model, in order; per-task R² / AUC, NDCG@10, ...).
    """
    Yf, _, kinds, names = check_targets(Y)
    Y = pd.DataFrame(Yf, columns=names)
    train, test = temporal_holdout(X)
    split = (X.iloc[train], X.iloc[test], Y.iloc[train], Y.iloc[test])
    progress(f"temporal holdout: {train.size:,} train rows, {test.size:,} test rows")
    recsys = {"user_id", "item_id", "timestamp"} <= set(X.columns)
    cache = tempfile.TemporaryDirectory(prefix="mtlclassic-demo-")
    models, grid = _demo_models(X, kinds, names, recsys, quick, seed, n_jobs, cache)
    lines, summary = [], []
    for name, estimator in models.items():
        progress(
            f"fitting {name}"
            + (f" (GridSearchCV over {grid})" if name == "mtlclassic" else "")
        )
        text, row = _evaluate(name, estimator, split, kinds, names, recsys, quick,
                              seed, progress)  # fmt: skip
        lines += text
        if row is not None:
            summary.append(row)
    cache.cleanup()
    table = pd.DataFrame(summary).set_index("model")
    lines += [
        "",
        "== summary (per-task R² / AUC on the test period; higher is better)",
        table.to_string(float_format=lambda v: f"{v:.4f}"),
    ]
    return "\n".join(lines), table


def _demo_models(X, kinds, names, recsys, quick, seed, n_jobs, cache):
    """Return the demo's models (mtlclassic in a grid search, baselines), grid."""
    n_estimators = 100 if quick else 300
    if recsys:
        # the embedders are cached (Pipeline memory), so the grid over the heads
        # fits them once per fold
        model = make_multitask_recommender(
            n_estimators=1000,
            random_state=seed,
            n_jobs=n_jobs,
            fm_n_iter=15 if quick else 100,
            iterations=10 if quick else 15,
            cv=3,
            memory=cache.name,
        )
        grid = {"multitasklgbm__num_leaves": [15, 31]}
    else:
        model = MultiTaskLGBM(
            n_estimators=1000,
            early_stopping_rounds=50,
            random_state=seed,
            n_jobs=n_jobs,
        )
        grid = {"num_leaves": [15, 31]}
    search = GridSearchCV(
        model,
        grid,
        scoring=make_multitask_scorer(),
        cv=TemporalSplit(n_splits=2) if "timestamp" in X else 2,
        refit=True,
    )
    models = {
        "mtlclassic": search,
        "lightgbm_per_task": PerTaskLGBM(kinds, names, n_estimators, seed, n_jobs),
    }
    if recsys:  # what a careful LightGBM user writes: ids as categories, ...
        models["lightgbm_ids_as_categories"] = PerTaskLGBM(
            kinds, names, n_estimators, seed, n_jobs, careful=True
        )
    models["multioutput_lightgbm"] = MultiOutputLGBM(
        kinds, names, n_estimators, seed, n_jobs
    )
    models["constant"] = Constant(names)
    return models, grid


def _evaluate(name, estimator, split, kinds, names, recsys, quick, seed, progress):
    """Fit and score one model; return (report lines, summary row or None)."""
    X_train, X_test, Y_train, Y_test = split
    start = time.perf_counter()
    try:
        estimator.fit(X_train, Y_train if name == "mtlclassic" else Y_train.to_numpy())
    except ValueError as exc:
        return [f"== {name}: not applicable ({exc})"], None
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    P = estimator.predict(X_test)
    score_seconds = time.perf_counter() - start
    report = multitask_report(Y_test, P, tasks=kinds)
    header = f"== {name}: fit {fit_seconds:.1f}s, predict {score_seconds:.2f}s"
    if name == "mtlclassic":
        header += f", best {estimator.best_params_}"
    if name == "multioutput_lightgbm":
        header += f", trained on the {estimator.n_rows_used_:,} fully labelled rows"
    lines = [header, report.to_string(float_format=lambda v: f"{v:.4f}")]
    row = {"model": name, "fit_s": round(fit_seconds, 1)}
    row.update(
        {
            f"{t}_{'r2' if k == 'regression' else 'auc'}": report.loc[
                t, "r2" if k == "regression" else "roc_auc"
            ]
            for t, k in zip(names, kinds)
        }
    )
    if recsys:
        progress(f"top-10 lists for test users with {name}")
        ndcg, prec, n_users, target, seconds = _topk_quality(
            name, estimator, split, names, kinds, 10, 100 if quick else 300, seed
        )
        how = (
            "two-stage Recommender fitted on the training events"
            if name == "mtlclassic"
            else "fused predictions over the catalogue"
        )
        lines.append(
            f"   top-10 for {n_users} test users ({how}; relevant = {target} "
            f"positives in the test period): NDCG@10 {ndcg:.4f}, precision@10 "
            f"{prec:.4f} ({seconds:.1f}s)"
        )
        row.update({"ndcg@10": ndcg, "precision@10": prec})
    return lines, row


FIGURES_MARKER = "<!-- figures: mtlclassic demo -->"
QUICK_MARKER = "<!-- figures: mtlclassic demo --quick -->"
_NOT_IN_README = ("precision@10",)
_NOT_CHECKED = ("fit_s",)  # read by people, not compared: the machine is noisy


def readme_figures(text, marker=FIGURES_MARKER):
    """Parse the Markdown table after ``marker``: one list of floats per row.

    The first cell of a row is its label; the other cells are numbers (``**``
    bold allowed). Raises ``ValueError`` when there is no marker or table.
    """
    if marker not in text:
        raise ValueError(f"No {marker!r} line: nothing to check.")
    rows = []
    for line in text.split(marker, 1)[1].strip().splitlines():
        if not line.startswith("|"):
            break
        cells = [c.strip().strip("*").strip() for c in line.strip("|").split("|")]
        if set("".join(cells[1:])) <= set("-: "):
            continue  # the separator line
        try:
            rows.append([float(c) for c in cells[1:]])
        except ValueError:
            continue  # the header
    if not rows:
        raise ValueError(f"No Markdown table of numbers after {marker!r}.")
    return rows


def demo_figures(table):
    """Return the demo summary's columns that the README quotes, in its order.

    The per-task scores, NDCG@10, then the fit time (quoted, never checked).
    """
    table = table.drop(columns=[c for c in _NOT_IN_README if c in table.columns])
    return table[[c for c in table.columns if c != "fit_s"] + ["fit_s"]]


def check_figures(table, text, *, marker=FIGURES_MARKER, decimals=3, tolerance=0.0):
    """Compare a run's ``table`` with the figures quoted in ``text``.

    Row ``i`` of the Markdown table after ``marker`` is row ``i`` of
    ``table`` and its numbers are ``table``'s columns, in order, rounded to
    ``decimals``. A figure drifted when it differs by more than
    ``tolerance`` (an absolute difference, e.g. 0.01; 0: any difference at
    ``decimals``), counted in units of the last decimal so that a difference
    of exactly ``tolerance`` is within it. A NaN in ``table`` (not
    measured in this run, e.g. an optional baseline that is not installed)
    is not compared. Returns a list of messages, one per figure that drifted
    (empty: the text is up to date).
    """
    quoted = readme_figures(text, marker)
    allowed = math.floor(tolerance * 10**decimals + 1e-9)  # units of the last decimal
    problems = []
    if len(quoted) != len(table):
        problems.append(f"the README has {len(quoted)} rows; the run {len(table)}")
    for (model, row), figures in zip(table.iterrows(), quoted):
        if len(figures) != len(table.columns):
            problems.append(
                f"{model}: {len(figures)} figures, expected {list(table.columns)}"
            )
            continue
        for column, figure in zip(table.columns, figures):
            if pd.isna(row[column]) or column in _NOT_CHECKED:
                continue
            actual = round(float(row[column]), decimals)
            units = round(abs(actual - figure) * 10**decimals)  # of the last decimal
            if units > allowed:
                problems.append(f"{model} {column}: README {figure}, run {actual}")
    return problems


def report_check(problems, path, marker=FIGURES_MARKER, prog="mtlclassic demo",
                 tolerance=0.0):  # fmt: skip
    """Print the outcome of :func:`check_figures`; return the exit code (0/1)."""
    within = f" (within {tolerance:g})" if tolerance else ""
    for problem in problems:
        print(f"{prog}: figure drifted: {problem}", file=sys.stderr)
    if problems:
        print(
            f"{prog}: {len(problems)} figure(s) in {path} differ from this run"
            f"{within}: "
            f"update the table after the {marker} line.",
            file=sys.stderr,
        )
        return 1
    print(f"{prog}: the figures in {path} match this run{within}.")
    return 0


# ------------------------------------------------------------------- command


def add_parser(subparsers):
    """Add ``demo`` to the command's subparsers."""
    demo = subparsers.add_parser(
        "demo",
        help="fit and evaluate on the built-in data (or MovieLens / Census files)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Generate the built-in multi-task recommender data (or read MovieLens "
            "/ Census-Income files you have), split by time, fit mtlclassic and "
            "the baselines, and print per-task metrics, ranking metrics and times."
        ),
        epilog=_DEMO_EXIT_CODES,
    )
    source = demo.add_mutually_exclusive_group()
    source.add_argument(
        "--movielens",
        metavar="PATH",
        help="folder with MovieLens files (ml-100k, ml-1m, ml-latest)",
    )
    source.add_argument(
        "--census", metavar="PATH", help="folder with census-income.data (UCI KDD)"
    )
    demo.add_argument(
        "--quick",
        action="store_true",
        help="small data and models (seconds, for smoke tests)",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        help="threads for LightGBM and ALS (default 1; -1 = all cores)",
    )
    demo.add_argument("--silent", action="store_true", help="no progress messages")
    demo.add_argument(
        "--check",
        metavar="FILE",
        help="compare the summary with the Markdown table after the line "
        "'<!-- figures: mtlclassic demo -->' in FILE (e.g. README.md; with "
        "--quick, '<!-- figures: mtlclassic demo --quick -->'); exit 1 when a "
        "score differs at 3 decimals, or by more than --tolerance (fit times "
        "are not compared)",
    )
    add_tolerance_argument(
        demo,
        "the --quick scores by up to 0.006 (the tests allow 0.01 there)",
    )


def add_tolerance_argument(parser, moved):
    """Add ``--tolerance T`` (a finite number >= 0, default None) to ``parser``.

    ``moved``: what another CPU's OpenBLAS kernels were measured to move,
    for the help text. The caller rejects it without ``--check``.
    """
    parser.add_argument(
        "--tolerance",
        type=_tolerance,
        default=None,
        metavar="T",
        help="with --check: a figure drifted only when it differs by more than T "
        "(default 0: at 3 decimals). The FM's Gibbs chain amplifies the last "
        f"bits of BLAS, so another CPU's OpenBLAS kernels move {moved}",
    )


def _tolerance(value):
    """``--tolerance``: a finite number >= 0 (argparse's type)."""
    try:
        tol = float(value)
    except ValueError:
        tol = float("nan")
    if not (math.isfinite(tol) and tol >= 0):
        raise argparse.ArgumentTypeError(
            f"expected a finite number >= 0; got {value!r}"
        )
    return tol


def _progress(message, verbose=True):
    if verbose:
        print(f"[mtlclassic] {message}", file=sys.stderr, flush=True)


def _load_demo_data(args):
    if args.movielens:
        X, Y = load_movielens(args.movielens)
        return X, Y, f"MovieLens from {args.movielens}"
    if args.census:
        X, Y = load_census_income(args.census)
        return X, Y, f"Census-Income (KDD) from {args.census}"
    n_events = 15_000 if args.quick else 100_000
    X, Y = make_multitask_recsys(
        n_users=300 if args.quick else 1_000,
        n_items=150 if args.quick else 500,
        n_events=n_events,
        random_state=args.seed,
    )
    return X, Y, f"built-in make_multitask_recsys ({n_events:,} events)"


def run(args):
    """Run ``demo``; return its exit code.

    Fits on a temporal holdout and prints per-task metrics against the
    baselines; with ``--check FILE``, compares them with FILE's table (exit
    1 when a figure drifted).
    """
    if args.tolerance is not None and not args.check:
        raise ValueError("--tolerance needs --check FILE (it is the check's).")
    X, Y, source = _load_demo_data(args)
    _progress(
        f"data: {source}; {X.shape[0]:,} rows, tasks {list(Y.columns)}",
        not args.silent,
    )
    start = time.perf_counter()
    text = None
    marker = QUICK_MARKER if args.quick else FIGURES_MARKER
    if args.check:
        try:
            with open(args.check, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise FileNotFoundError(f"--check {args.check!r}: {exc}") from None
        readme_figures(text, marker)  # no figures: fail before the fit

    def progress(message):  # a line per stage, with the time so far
        _progress(f"{time.perf_counter() - start:6.1f} s  {message}", not args.silent)

    report, table = run_models(
        X, Y, quick=args.quick, seed=args.seed, n_jobs=args.n_jobs, progress=progress
    )
    print(report)
    progress("done")
    if text is None:
        return 0
    tolerance = args.tolerance or 0.0
    problems = check_figures(
        demo_figures(table), text, marker=marker, tolerance=tolerance
    )
    return report_check(problems, args.check, marker, tolerance=tolerance)
