"""mtlclassic's default pipeline against what a user would otherwise use.

On the built-in data at two sizes, temporal 80/20 split, per task: R² (rating) and
ROC AUC (click, like: 85% of like labels are missing), with fit and predict times.

- ``mtlclassic``: ``make_multitask_recommender()`` (multi-task FM + ALS -> LightGBM);
- ``mtlclassic_linear``: ``TraceNormMultiTask(shared=True)`` on the side features
  plus the same cross-fitted embeddings (the linear head);
- ``lightgbm_per_task``: one LGBMRegressor/LGBMClassifier per task, raw columns;
- ``multioutput_lightgbm``: MultiOutputRegressor/Classifier(LightGBM), fully
  labelled rows only (it cannot take missing labels);
- ``ridge_logistic``: one Ridge / LogisticRegression per task on one-hot ids +
  side features;
- ``multitask_lasso``: scikit-learn's MultiTaskLasso on the same design, missing
  labels filled with the task mean (it cannot take them);
- a shared-bottom neural network is only run when torch is installed (it is not
  a dependency), and is skipped otherwise.

Run: ``python benchmarks/bench_end_to_end.py`` (two sizes) or ``--quick``.
"""

import argparse
import importlib.util
import time

import numpy as np
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression, MultiTaskLasso, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mtlclassic import (
    TraceNormMultiTask,
    make_multitask_recommender,
    make_multitask_recsys,
)
from mtlclassic.cli._demo import MultiOutputLGBM, PerTaskLGBM, temporal_holdout
from mtlclassic.metrics import multitask_report

KINDS = ["regression", "binary", "binary"]
NAMES = ["rating", "click", "like"]
CATEGORICAL = ["user_id", "item_id", "user_segment", "item_category"]


def _design():
    return make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        remainder=StandardScaler(),
    )


class PerTaskLinear:
    """Ridge / LogisticRegression per task on one-hot ids and side features."""

    def fit(self, X, Y):
        self.models_ = []
        for t, kind in enumerate(KINDS):
            rows = ~np.isnan(Y[:, t])
            head = (
                Ridge(alpha=10.0)
                if kind == "regression"
                else LogisticRegression(C=0.1, max_iter=1000)
            )
            self.models_.append(make_pipeline(_design(), head).fit(X[rows], Y[rows, t]))
        return self

    def predict(self, X):
        return np.column_stack(
            [
                m.predict(X) if k == "regression" else m.predict_proba(X)[:, 1]
                for m, k in zip(self.models_, KINDS)
            ]
        )


class FilledMultiTaskLasso:
    """MultiTaskLasso: missing labels filled with each task's mean."""

    def fit(self, X, Y):
        self.means_ = np.nanmean(Y, axis=0)
        filled = np.where(np.isnan(Y), self.means_, Y)
        self.model_ = make_pipeline(
            _design(), MultiTaskLasso(alpha=0.001, max_iter=200)
        )
        self.model_.fit(X, filled)
        return self

    def predict(self, X):
        P = self.model_.predict(X)
        P[:, 1:] = np.clip(P[:, 1:], 0, 1)
        return P


def linear_mtl_head():
    """Cross-fitted FM + ALS embeddings, then a trace-norm multi-task linear head."""
    pipe = make_multitask_recommender(random_state=0, n_jobs=1)
    steps = pipe.steps[:-1]
    numeric = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["user_segment", "item_category"]),
        remainder=StandardScaler(),
    ).set_output(transform="default")
    return Pipeline(
        [
            *steps,
            ("design", numeric),
            ("tracenorm", TraceNormMultiTask(alpha=0.001, shared=True, max_iter=300)),
        ]
    )


def run(n_users, n_items, n_events, seed=0):
    X, Y = make_multitask_recsys(
        n_users=n_users, n_items=n_items, n_events=n_events, random_state=seed
    )
    train, test = temporal_holdout(X)
    X_train, X_test = X.iloc[train], X.iloc[test]
    Y_train, Y_test = Y.iloc[train], Y.iloc[test]
    models = {
        "mtlclassic": make_multitask_recommender(random_state=seed, n_jobs=1),
        "mtlclassic_linear": linear_mtl_head(),
        "lightgbm_per_task": PerTaskLGBM(KINDS, NAMES, 300, seed, 1),
        "multioutput_lightgbm": MultiOutputLGBM(KINDS, NAMES, 300, seed, 1),
        "ridge_logistic": PerTaskLinear(),
        "multitask_lasso": FilledMultiTaskLasso(),
    }
    rows = []
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(
            X_train, Y_train if name.startswith("mtlclassic") else Y_train.to_numpy()
        )
        fit = time.perf_counter() - start
        start = time.perf_counter()
        P = np.asarray(model.predict(X_test))
        predict = time.perf_counter() - start
        report = multitask_report(Y_test, P, tasks=KINDS)
        rows.append(
            {
                "model": name,
                "rating_r2": report.loc["rating", "r2"],
                "click_auc": report.loc["click", "roc_auc"],
                "like_auc": report.loc["like", "roc_auc"],
                "fit_s": fit,
                "predict_s": predict,
            }
        )
        print(f"  {name}: fit {fit:.1f}s", flush=True)
    if importlib.util.find_spec("torch") is None:
        print("  shared-bottom neural network: skipped (torch is not installed)")
    return pd.DataFrame(rows).set_index("model")


def main(quick=False):
    sizes = (
        [(150, 80, 4_000)]
        if quick
        else [(1_000, 500, 100_000), (3_000, 1_500, 300_000)]
    )
    for n_users, n_items, n_events in sizes:
        print(
            f"built-in data: {n_users:,} users, {n_items:,} items, "
            f"{n_events:,} events (temporal 80/20)",
            flush=True,
        )
        table = run(n_users, n_items, n_events)
        print(table.to_string(float_format=lambda v: f"{v:.3f}"), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small smoke-test size")
    main(parser.parse_args().quick)
