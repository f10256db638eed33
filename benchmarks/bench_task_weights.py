"""Dynamic task weights: fixed, uncertainty and MGDA against separate heads.

Run: ``python benchmarks/bench_task_weights.py`` (a few minutes) or
``--quick`` (small generated data; the test suite runs it).

1. Scale: the generated recommender data (rating, click, like) with the
   rating multiplied by 100, so one task's loss is ~10^4 times the others'.
   ``MultiTaskLGBM`` with separate heads, and a shared booster with equal,
   uncertainty and MGDA weights; then ``TraceNormMultiTask`` on the side
   features and their products, in the labels' units
   (``standardize_targets=False``) with the same three weightings, and with
   each task's labels standardised instead. Test rating RMSE (in the
   original units), click and like AUC.
2. UCI Adult from ``../shared/data/get_dev_data.sh`` (``adult/adult.data`` and
   ``adult.test``): income > 50K and never-married, the classic two-task
   census setup (Ma et al., 2018). ``marital-status`` is the second label and
   ``relationship`` (husband, wife, own-child, ...) nearly a copy of it: both
   are dropped. Test AUC per task for the same boosters, and for
   ``TraceNormMultiTask`` (one-hot design) with equal, uncertainty and MGDA
   weights against one ``LogisticRegression`` per task. Skipped with a
   message when the files are absent.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_real import data_dir  # noqa: E402

from mtlclassic import MultiTaskLGBM, make_multitask_recsys  # noqa: E402
from mtlclassic.linear_model import TraceNormMultiTask  # noqa: E402

RULES = (None, "uncertainty", "mgda")


def _metrics(Y_test, P, scale=None):
    cells = []
    for t, task in enumerate(Y_test.columns):
        y = Y_test[task].to_numpy()
        rows = ~np.isnan(y)
        if set(np.unique(y[rows])) <= {0.0, 1.0}:
            cells.append(f"{task} AUC {roc_auc_score(y[rows], P[rows, t]):.4f}")
        else:
            s = 1.0 if scale is None else scale.get(task, 1.0)
            rmse = np.sqrt(np.mean((P[rows, t] - y[rows]) ** 2)) / s
            cells.append(f"{task} RMSE {rmse:.4f}")
    return ", ".join(cells)


def _boosters(X, Y, X_test, Y_test, n_estimators, scale=None):
    kw = dict(n_estimators=n_estimators, early_stopping_rounds=30,
              random_state=0, n_jobs=1)  # fmt: skip
    runs = [("separate heads", MultiTaskLGBM(**kw))]
    for rule in RULES:
        name = f"shared, task_weights={rule}"
        runs.append((name, MultiTaskLGBM(strategy="shared", task_weights=rule, **kw)))
    for name, model in runs:
        start = time.perf_counter()
        model.fit(X, Y)
        seconds = time.perf_counter() - start
        weights = getattr(model, "task_weights_", None)
        shown = "" if weights is None else f"  weights {np.round(weights, 4)}"
        print(f"  {name:<34} {seconds:5.1f}s  "
              f"{_metrics(Y_test, model.predict(X_test), scale)}{shown}")  # fmt: skip


def scale_case(quick):
    n = 6000 if quick else 60000
    X, Y = make_multitask_recsys(
        n_users=300 if quick else 3000, n_items=200 if quick else 1500,
        n_events=n, random_state=0,
    )  # fmt: skip
    X = X.drop(columns="timestamp")
    Y = Y.assign(rating=100.0 * Y["rating"])
    cut = int(0.75 * n)
    print(f"1. generated, rating x 100: {cut:,} training rows, {n - cut:,} test rows")
    _boosters(X.iloc[:cut], Y.iloc[:cut], X.iloc[cut:], Y.iloc[cut:],
              100 if quick else 1000, scale={"rating": 100.0})  # fmt: skip
    reference = MultiTaskLGBM(
        strategy="shared", n_estimators=100 if quick else 1000,
        early_stopping_rounds=30, random_state=0, n_jobs=1,
    )  # fmt: skip
    original = Y.assign(rating=Y["rating"] / 100.0)
    reference.fit(X.iloc[:cut], original.iloc[:cut])
    scores = _metrics(original.iloc[cut:], reference.predict(X.iloc[cut:]))
    print(f"  {'shared, rating in its own units':<34}        {scores}")
    side = [c for c in X.columns if c.startswith(("user_f", "item_f"))]
    front = make_pipeline(PolynomialFeatures(2, include_bias=False), StandardScaler())
    F = front.fit_transform(X[side].iloc[:cut])
    F_test = front.transform(X[side].iloc[cut:])
    runs = [(f"task_weights={rule}", dict(task_weights=rule)) for rule in RULES]
    runs.append(("standardize_targets=True", dict(standardize_targets=True)))
    for name, extra in runs:
        params = dict(standardize_targets=False, tol=1e-5) | extra
        model = TraceNormMultiTask(0.01, **params)
        start = time.perf_counter()
        model.fit(F, Y.iloc[:cut])
        seconds = time.perf_counter() - start
        print(f"  {'trace norm, ' + name:<34} {seconds:5.1f}s  "
              f"{_metrics(Y.iloc[cut:], model.predict(F_test), {'rating': 100.0})}"
              f"  weights {np.round(model.task_weights_, 4)}")  # fmt: skip


ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
    "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
    "hours-per-week", "native-country", "income",
]  # fmt: skip


def load_adult(path):
    frames = []
    for name in ("adult.data", "adult.test"):
        frame = pd.read_csv(
            path / name, header=None, names=ADULT_COLUMNS, skipinitialspace=True,
            comment="|", na_values="?",
        )  # fmt: skip
        frames.append(frame.dropna(subset=["income"]))
    out = []
    for frame in frames:
        Y = pd.DataFrame({
            "income": frame["income"].str.rstrip(".").eq(">50K").astype(float),
            "never_married": frame["marital-status"].eq("Never-married").astype(float),
        }).reset_index(drop=True)  # fmt: skip
        X = frame.drop(columns=["income", "marital-status", "relationship"])
        out.append((X.reset_index(drop=True), Y))
    (X, Y), (X_test, Y_test) = out
    for col in X.columns:
        if not pd.api.types.is_numeric_dtype(X[col]):
            cats = sorted(set(X[col].dropna()) | set(X_test[col].dropna()))
            X[col] = pd.Categorical(X[col], categories=cats)
            X_test[col] = pd.Categorical(X_test[col], categories=cats)
    return X, Y, X_test, Y_test


def _one_hot(X, X_test):
    both = pd.get_dummies(pd.concat([X, X_test]), dummy_na=True, dtype=float)
    both = both.fillna(0.0).to_numpy()
    return both[: len(X)], both[len(X) :]


def adult_case(quick):
    path = data_dir() / "adult"
    if quick or not (path / "adult.data").is_file():
        reason = "--quick" if quick else "UCI Adult not found (get_dev_data.sh)"
        print(f"2. UCI Adult: skipped ({reason})")
        return
    X, Y, X_test, Y_test = load_adult(path)
    print(f"2. UCI Adult: {len(X):,} training rows, {len(X_test):,} test rows")
    _boosters(X, Y, X_test, Y_test, 1000)
    A, A_test = _one_hot(X, X_test)
    mean, std = A.mean(axis=0), A.std(axis=0) + 1e-12
    A, A_test = (A - mean) / std, (A_test - mean) / std
    logistic = LogisticRegression(C=1.0, max_iter=2000)
    P = np.column_stack(
        [logistic.fit(A, Y[t]).predict_proba(A_test)[:, 1] for t in Y.columns]
    )
    print(f"  {'logistic regression per task':<34}        {_metrics(Y_test, P)}")
    for rule in RULES:
        model = TraceNormMultiTask(1e-3, task_weights=rule, tol=1e-5)
        start = time.perf_counter()
        model.fit(A, Y)
        seconds = time.perf_counter() - start
        print(f"  {f'trace norm, task_weights={rule}':<34} {seconds:5.1f}s  "
              f"{_metrics(Y_test, model.predict(A_test))}  "
              f"weights {np.round(model.task_weights_, 4)}")  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    scale_case(args.quick)
    adult_case(args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
