"""LightGBM's histogram layout: the heads' trees do not depend on it.

``histogram_layout`` trains one-thread boosters with row-wise histograms
(the faster on dense features) and others column-wise. The fitted model then
stays independent of ``n_jobs`` only if LightGBM's trees are the same with
either layout and any thread count; the oracle is LightGBM's own column-wise
one-thread model, compared by its model text.
"""

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from mtlclassic import MultiTaskLGBM
from mtlclassic.boosting._lgbm_train import histogram_layout

SEED = 0


def trees(booster):
    """The model text without its parameters section (which names the layout)."""
    return booster.model_to_string().split("\nparameters:")[0]


def features(kind, rng, n=3000):
    """A design of one kind of feature LightGBM bins differently."""
    if kind == "dense":
        return rng.normal(size=(n, 6))
    if kind == "missing":
        X = rng.normal(size=(n, 6))
        X[rng.rand(n, 6) < 0.3] = np.nan
        return X
    if kind == "sparse":  # mostly zeros: sparse bins column-wise
        return rng.normal(size=(n, 8)) * (rng.rand(n, 8) < 0.1)
    if kind == "bundled":  # one-hot columns: exclusive feature bundling
        onehot = np.eye(12)[rng.randint(12, size=n)]
        return np.column_stack([onehot, rng.normal(size=(n, 2))])
    if kind == "categorical":
        return np.column_stack([rng.randint(20, size=n), rng.normal(size=(n, 3))])
    raise ValueError(kind)


KINDS = ["dense", "missing", "sparse", "bundled", "categorical"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("objective", ["regression", "binary", "lambdarank"])
def test_trees_do_not_depend_on_layout_or_threads(kind, objective):
    rng = np.random.RandomState(SEED)
    X = features(kind, rng)
    signal = np.nan_to_num(X[:, -1]) + 0.5 * np.nan_to_num(X[:, 0])
    y = signal + rng.normal(scale=0.5, size=len(X))
    group = None
    if objective == "binary":
        y = (y > np.median(y)).astype(float)
    if objective == "lambdarank":  # graded relevance 0-3 in queries of 30 rows
        y = np.digitize(y, np.quantile(y, [0.5, 0.75, 0.9])).astype(float)
        group = np.full(len(X) // 30, 30)
    weight = rng.uniform(0.5, 2.0, size=len(X))
    init = 0.1 * rng.normal(size=len(X))
    cats = [0] if kind == "categorical" else "auto"
    models = {}
    for layout, threads in [("col", 1), ("row", 1), ("col", 2), ("auto", 1)]:
        params = {
            "objective": objective, "num_leaves": 15, "learning_rate": 0.1,
            "min_data_in_leaf": 20, "seed": SEED, "deterministic": True,
            "num_threads": threads, "verbosity": -1,
        }  # fmt: skip
        if layout == "auto":
            params = histogram_layout(params)
            assert params["force_row_wise"] is True
        else:
            params[f"force_{layout}_wise"] = True
        data = lgb.Dataset(
            X, y, weight=None if group is not None else weight, group=group,
            init_score=init, categorical_feature=cats, params={"verbosity": -1},
        )  # fmt: skip
        models[layout, threads] = trees(lgb.train(params, data, num_boost_round=15))
    oracle = models["col", 1]
    assert "Tree=14" in oracle  # 15 trees were grown (a split in each)
    for key, text in models.items():
        assert text == oracle, key


def test_histogram_layout_keeps_a_named_layout():
    assert histogram_layout({"num_threads": 1}) == {
        "num_threads": 1, "force_row_wise": True
    }  # fmt: skip
    assert histogram_layout({"num_threads": 2}) == {
        "num_threads": 2, "force_col_wise": True
    }  # fmt: skip
    assert histogram_layout({}) == {"force_col_wise": True}  # threads unknown (Dask)
    for named in ({"force_col_wise": True}, {"force_row_wise": False}):
        params = {"num_threads": 1, **named}
        assert histogram_layout(params) == params


def test_heads_use_row_wise_with_one_thread_and_keep_a_users_layout():
    rng = np.random.RandomState(SEED)
    X = pd.DataFrame(rng.normal(size=(600, 4)), columns=list("abcd"))
    Y = pd.DataFrame({
        "rating": X["a"] + rng.normal(scale=0.3, size=600),
        "click": (X["b"] + rng.normal(size=600) > 0).astype(float),
    })  # fmt: skip
    common = dict(n_estimators=30, learning_rate=0.1, random_state=SEED)
    one = MultiTaskLGBM(n_jobs=1, **common).fit(X, Y)
    col = MultiTaskLGBM(
        n_jobs=1, task_params={t: {"force_col_wise": True} for t in Y}, **common
    ).fit(X, Y)
    for name in Y:
        # a task alone takes both threads (column-wise); two tasks side by side
        # take one each (row-wise)
        two = MultiTaskLGBM(n_jobs=2, **common).fit(X, Y[[name]])
        params = two.boosters_[name].params
        assert params["num_threads"] == 2 and params["force_col_wise"] is True
        params = one.boosters_[name].params
        assert params["force_row_wise"] is True and "force_col_wise" not in params
        assert col.boosters_[name].params["force_col_wise"] is True
        assert "force_row_wise" not in col.boosters_[name].params
        assert trees(one.boosters_[name]) == trees(col.boosters_[name])
        assert trees(one.boosters_[name]) == trees(two.boosters_[name])
