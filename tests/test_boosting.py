"""Tests of mtlclassic.MultiTaskLGBM: each behaviour against an oracle."""

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit, logit
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer

from mtlclassic import MultiTaskLGBM, make_multitask_recsys
from mtlclassic.boosting._multitask_lgbm import _holdout
from mtlclassic.boosting._objectives import (
    MixedObjective,
    mixed_grad_hess,
    mixed_loss,
)
from mtlclassic.metrics import multitask_score

SEED = 0
COMMON = dict(n_estimators=25, learning_rate=0.1, num_leaves=15, n_jobs=1)


def lgb_params(objective, **extra):
    """The LightGBM parameters MultiTaskLGBM(**COMMON) documents it uses."""
    params = {
        "objective": objective,
        "learning_rate": 0.1,
        "num_leaves": 15,
        "min_data_in_leaf": 20,
        "feature_fraction": 1.0,
        "bagging_fraction": 1.0,
        "bagging_freq": 0,
        "lambda_l2": 0.0,
        "num_threads": 1,
        "seed": SEED,
        "deterministic": True,
        "force_row_wise": True,  # one thread (histogram_layout)
        "verbosity": -1,
    }
    params.update(extra)
    return params


@pytest.fixture(scope="module")
def data():
    X, Y = make_multitask_recsys(150, 80, 1500, random_state=SEED)
    return X, Y


@pytest.fixture(scope="module")
def ranking_data():
    tasks = {"rating": "regression", "click": "binary", "relevance": "ranking"}
    X, Y = make_multitask_recsys(
        60, 40, 1200, tasks=tasks, missing_rate=0.2, random_state=SEED
    )
    return X, Y, tasks


def drop_time(X):
    return X.drop(columns=["timestamp"])


def float_matrix(X):
    """Category columns as their codes (NaN if missing), as LightGBM sees them."""
    out = X.copy()
    for col in X.columns[X.dtypes == "category"]:
        out[col] = X[col].cat.codes.replace(-1, np.nan)
    return out.to_numpy(dtype=float)


# --------------------------------------------------------------------- separate


def test_separate_equals_hand_written_lightgbm_loop(data):
    X, Y = data
    rng = np.random.default_rng(0)
    weights = rng.uniform(0.5, 2.0, size=Y.shape)  # one column per task
    extra = dict(subsample=0.8, colsample_bytree=0.7, reg_lambda=1.0)
    model = MultiTaskLGBM(**COMMON, **extra, random_state=SEED)
    pred = model.fit(X, Y, sample_weight=weights).predict(X)

    for t, (task, kind) in enumerate(
        [("rating", "regression"), ("click", "binary"), ("like", "binary")]
    ):
        rows = Y[task].notna().to_numpy()
        params = lgb_params(
            kind,
            bagging_fraction=0.8,
            bagging_freq=1,
            feature_fraction=0.7,
            lambda_l2=1.0,
        )
        # LightGBM's own pandas handling: category columns are categorical
        dtrain = lgb.Dataset(X[rows], Y[task][rows], weight=weights[rows, t])
        booster = lgb.train(params, dtrain, num_boost_round=25)
        assert_array_equal(pred[:, t], booster.predict(X))
        assert model.best_iteration_[task] == 25
    assert list(model.tasks_) == ["rating", "click", "like"]
    assert model.shared_booster_ is None and set(model.boosters_) == set(model.tasks_)


def test_separate_early_stopping_per_task_equals_loop(data):
    X, Y = data
    X_tr, Y_tr, X_va, Y_va = X[:1200], Y[:1200], X[1200:], Y[1200:]
    model = MultiTaskLGBM(
        **{**COMMON, "n_estimators": 300, "learning_rate": 0.3},
        early_stopping_rounds=5,
        task_params={"click": {"num_leaves": 4, "early_stopping_rounds": 3}},
        random_state=SEED,
    ).fit(X_tr, Y_tr, eval_set=(X_va, Y_va))
    for task, kind, extra, stop in [
        ("rating", "regression", {}, 5),
        ("click", "binary", {"num_leaves": 4}, 3),
    ]:
        rows = Y_tr[task].notna().to_numpy()
        val_rows = Y_va[task].notna().to_numpy()
        dtrain = lgb.Dataset(X_tr[rows], Y_tr[task][rows])
        dvalid = lgb.Dataset(X_va[val_rows], Y_va[task][val_rows], reference=dtrain)
        booster = lgb.train(
            lgb_params(kind, learning_rate=0.3, **extra),
            dtrain,
            num_boost_round=300,
            valid_sets=[dvalid],
            callbacks=[lgb.early_stopping(stop, first_metric_only=True, verbose=False)],
        )
        assert 0 < booster.best_iteration < 300  # stopped early
        assert model.best_iteration_[task] == booster.best_iteration
        assert_array_equal(
            model.predict_task(X_va, task),
            booster.predict(X_va, num_iteration=booster.best_iteration),
        )
    assert set(model.evals_result_) == {"rating", "click", "like"}


def test_validation_fraction_holds_out_rows_per_task(data):
    X, Y = data
    params = {**COMMON, "n_estimators": 300, "learning_rate": 0.3}
    model = MultiTaskLGBM(
        **params, early_stopping_rounds=4, validation_fraction=0.25, random_state=SEED
    ).fit(X, Y)
    # the documented split: a labelled row is held out when its seeded uniform
    # draw (np.random.default_rng([seed, task position])) is below 0.25
    for t, (task, kind) in enumerate(model.tasks_.items()):
        labelled = np.flatnonzero(Y[task].notna().to_numpy())
        draws = np.random.default_rng([SEED, t]).random(labelled.size)
        train, held = _holdout(labelled, 0.25, np.random.default_rng([SEED, t]))
        assert_array_equal(held, labelled[draws < 0.25])
        assert_array_equal(train, labelled[draws >= 0.25])
        assert abs(held.size / labelled.size - 0.25) < 0.05
        # appending rows moves no earlier row between train and validation
        more = np.concatenate([labelled, labelled.max() + 1 + np.arange(50)])
        train2, held2 = _holdout(more, 0.25, np.random.default_rng([SEED, t]))
        assert_array_equal(held2[: held.size], held)
        dtrain = lgb.Dataset(X.iloc[train], Y[task].iloc[train])
        dvalid = lgb.Dataset(X.iloc[held], Y[task].iloc[held], reference=dtrain)
        booster = lgb.train(
            lgb_params(kind, learning_rate=0.3),
            dtrain,
            300,
            valid_sets=[dvalid],
            callbacks=[lgb.early_stopping(4, first_metric_only=True, verbose=False)],
        )
        assert model.best_iteration_[task] == booster.best_iteration
        assert_array_equal(
            model.predict_task(X, task),
            booster.predict(X, num_iteration=booster.best_iteration),
        )


def test_refit_equals_early_stopping_then_a_fit_on_every_labelled_row(data):
    X, Y = data
    params = {**COMMON, "n_estimators": 300, "learning_rate": 0.3}
    model = MultiTaskLGBM(
        **params, early_stopping_rounds=4, validation_fraction=0.25, refit=True,
        random_state=SEED,
    ).fit(X, Y)  # fmt: skip
    plain = MultiTaskLGBM(
        **params, early_stopping_rounds=4, validation_fraction=0.25, random_state=SEED
    ).fit(X, Y)
    for t, (task, kind) in enumerate(model.tasks_.items()):
        labelled = np.flatnonzero(Y[task].notna().to_numpy())
        train, held = _holdout(labelled, 0.25, np.random.default_rng([SEED, t]))
        # one Dataset of every labelled row, binned once: early stopping on
        # two subsets of it, then the refit on all of it
        full = lgb.Dataset(
            X.iloc[labelled],
            Y[task].iloc[labelled],
            params=lgb_params(kind, learning_rate=0.3),
        )
        early = lgb.train(
            lgb_params(kind, learning_rate=0.3),
            full.subset(np.searchsorted(labelled, train)),
            300,
            valid_sets=[full.subset(np.searchsorted(labelled, held))],
            callbacks=[lgb.early_stopping(4, first_metric_only=True, verbose=False)],
        )
        best = model.best_iteration_[task]
        assert best == early.best_iteration
        booster = lgb.train(
            lgb_params(kind, learning_rate=0.3),
            lgb.Dataset(X.iloc[labelled], Y[task].iloc[labelled]),
            best,
        )
        assert model.boosters_[task].num_trees() == best
        assert_array_equal(model.predict_task(X, task), booster.predict(X))
        assert not np.array_equal(
            model.predict_task(X, task), plain.predict_task(X, task)
        )


def _relative_stop(curve, rounds, tol, higher_better=False):
    """The documented rule by hand: the last round (1-based) that beat the
    best so far by more than ``tol * |best|``, scanning until ``rounds``
    rounds pass without one."""
    sign = 1 if higher_better else -1
    best, best_i = None, 0
    for i, value in enumerate(curve):
        if best is None or sign * (value - best) > tol * abs(best):
            best, best_i = value, i
        elif i - best_i >= rounds:
            break
    return best_i + 1


@pytest.mark.parametrize("tol", [1e-3, 1e-2])
def test_early_stopping_tol_stops_at_the_last_relative_improvement(data, tol):
    X, Y = data
    params = {**COMMON, "n_estimators": 200, "learning_rate": 0.05}
    # the whole validation curve: patience longer than the rounds
    whole = MultiTaskLGBM(
        **params, early_stopping_rounds=200, validation_fraction=0.25,
        random_state=SEED,
    ).fit(X, Y)  # fmt: skip
    model = MultiTaskLGBM(
        **params, early_stopping_rounds=5, early_stopping_tol=tol,
        validation_fraction=0.25, random_state=SEED,
    ).fit(X, Y)  # fmt: skip
    plain = MultiTaskLGBM(
        **params, early_stopping_rounds=5, validation_fraction=0.25,
        random_state=SEED,
    ).fit(X, Y)  # fmt: skip
    fewer = 0
    for task in model.tasks_:
        curve = next(iter(whole.evals_result_[task].values()))
        assert len(curve) == 200
        expected = _relative_stop(curve, 5, tol)
        assert model.best_iteration_[task] == expected
        # its own history is whole: up to the round that stopped it
        (own,) = model.evals_result_[task].values()
        assert own == curve[: min(expected + 5, 200)]
        # the same trees as the run without a tolerance, cut at that round
        assert_array_equal(
            model.predict_task(X, task),
            whole.boosters_[task].predict(X, num_iteration=expected),
        )
        fewer += model.best_iteration_[task] < plain.best_iteration_[task]
    assert fewer >= 1  # the tolerance changed something


def test_relative_early_stopping_of_a_metric_to_maximise():
    from lightgbm.callback import CallbackEnv, EarlyStopException

    from mtlclassic.boosting._lgbm_train import RelativeEarlyStopping

    curve = [0.50, 0.60, 0.601, 0.6005, 0.70, 0.7001, 0.7002, 0.7003, 0.71, 0.7]
    stop = RelativeEarlyStopping(lgb, rounds=3, tol=0.01)
    with pytest.raises(EarlyStopException) as info:
        for i, value in enumerate(curve):
            stop(CallbackEnv(None, {}, i, 0, 100, [("valid", "ndcg@5", value, True)]))
    # 0.71 beats 0.70 by 1.4% but comes 4 rounds later: stopped at round 8
    assert info.value.best_iteration + 1 == 5 == _relative_stop(curve, 3, 0.01, True)
    assert i == 7
    assert info.value.best_score[0][2] == 0.70


def test_relative_early_stopping_with_no_tolerance_is_lightgbms():
    from mtlclassic.boosting._lgbm_train import RelativeEarlyStopping

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4))
    y = X[:, 0] + rng.normal(size=600)
    train = lgb.Dataset(X[:450], y[:450], params={"verbosity": -1})
    valid = lgb.Dataset(X[450:], y[450:], reference=train)
    out = []
    for stop in (
        lgb.early_stopping(5, first_metric_only=True, verbose=False),
        RelativeEarlyStopping(lgb, 5, 0.0),
    ):
        evals = {}
        booster = lgb.train(
            lgb_params("regression", learning_rate=0.3), train, 200,
            valid_sets=[valid], callbacks=[lgb.record_evaluation(evals), stop],
        )  # fmt: skip
        out.append((booster.best_iteration, evals["valid_0"]["l2"]))
    assert out[0][0] < 200  # it stopped early
    assert out[0] == out[1]


def test_early_stopping_tol_is_validated(data):
    X, Y = data
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match="early_stopping_tol"):
            MultiTaskLGBM(**COMMON, early_stopping_tol=bad).fit(X, Y)
    with pytest.raises(TypeError, match="early_stopping_tol"):
        MultiTaskLGBM(**COMMON, early_stopping_tol=True).fit(X, Y)
    for bad, error in ((True, TypeError), ("0.1", TypeError), (2.0, ValueError)):
        with pytest.raises(
            error, match=r"task_params\['like'\]\['early_stopping_tol'\]"
        ):
            MultiTaskLGBM(
                **COMMON, task_params={"like": {"early_stopping_tol": bad}}
            ).fit(X, Y)
    with pytest.raises(
        ValueError, match=r"task_params\['click'\]\['early_stopping_tol'\]"
    ):
        MultiTaskLGBM(
            **COMMON, early_stopping_rounds=3,
            task_params={"click": {"early_stopping_tol": float("nan")}},
        ).fit(X, Y)  # fmt: skip


def _l2_objective(preds, dataset):
    return preds - dataset.get_label(), np.ones_like(preds)


def test_early_stopping_tol_like_lightgbm_on_dart_no_metric_and_custom_objective(data):
    X, Y = data
    common = dict(**COMMON, early_stopping_rounds=5, refit=True, random_state=SEED)
    # DART rescales earlier trees, so no early stopping (LightGBM's rule too)
    dart = {"rating": {"boosting": "dart"}}
    with pytest.warns(UserWarning, match="not available in dart mode"):
        lightgbms = MultiTaskLGBM(**common, task_params=dart).fit(X, Y)
    with pytest.warns(UserWarning, match="not available in dart mode"):
        ours = MultiTaskLGBM(**common, early_stopping_tol=1e-3, task_params=dart)
        ours.fit(X, Y)
    assert (
        ours.best_iteration_["rating"]
        == lightgbms.best_iteration_["rating"]
        == COMMON["n_estimators"]
    )
    # no metric to stop on: the error LightGBM's callback raises
    for tol in (0.0, 1e-3):
        with pytest.raises(ValueError, match="at least one dataset and eval metric"):
            MultiTaskLGBM(
                **common, early_stopping_tol=tol,
                task_params={"click": {"metric": "None"}},
            ).fit(X, Y)  # fmt: skip
    # a custom objective with refit: the one binned Dataset takes no callable
    custom = {"rating": {"objective": _l2_objective, "metric": "l2"}}
    with_obj = MultiTaskLGBM(**common, early_stopping_tol=1e-3, task_params=custom)
    builtin = {"rating": {"metric": "l2", "boost_from_average": False}}
    plain = MultiTaskLGBM(**common, early_stopping_tol=1e-3, task_params=builtin)
    with_obj.fit(X, Y)
    plain.fit(X, Y)
    # the same gradients and the same start (0) as LightGBM's own L2
    assert with_obj.best_iteration_ == plain.best_iteration_
    assert with_obj.best_iteration_["rating"] >= 1
    assert_allclose(
        with_obj.predict_task(X, "rating"), plain.predict_task(X, "rating"),
        rtol=1e-10, atol=1e-10,
    )  # fmt: skip


def test_early_stopping_tol_per_task(data):
    X, Y = data
    params = {**COMMON, "n_estimators": 200, "learning_rate": 0.05}
    common = dict(early_stopping_rounds=5, validation_fraction=0.25, random_state=SEED)
    model = MultiTaskLGBM(
        **params, **common, task_params={"rating": {"early_stopping_tol": 1e-2}}
    ).fit(X, Y)
    plain = MultiTaskLGBM(**params, **common).fit(X, Y)
    alone = MultiTaskLGBM(**params, **common, early_stopping_tol=1e-2).fit(X, Y)
    assert model.best_iteration_["rating"] == alone.best_iteration_["rating"]
    assert model.best_iteration_["click"] == plain.best_iteration_["click"]


def test_ranking_task_equals_lambdarank_loop(ranking_data):
    X, Y, tasks = ranking_data
    model = MultiTaskLGBM(**COMMON, tasks=tasks, query_col="user_id", random_state=0)
    pred = model.fit(X, Y).predict(X)
    rows = np.flatnonzero(Y["relevance"].notna().to_numpy())
    order = np.argsort(X["user_id"].to_numpy()[rows], kind="stable")
    rows = rows[order]
    sizes = np.unique(X["user_id"].to_numpy()[rows], return_counts=True)[1]
    features = X.drop(columns=["user_id"])  # query_col is not a feature
    dtrain = lgb.Dataset(
        features.iloc[rows], Y["relevance"].to_numpy()[rows], group=sizes
    )
    booster = lgb.train(lgb_params("lambdarank"), dtrain, num_boost_round=25)
    assert_array_equal(pred[:, 2], booster.predict(features))
    assert "user_id" not in model.feature_importances_.columns
    assert model.feature_importances_.shape == (3, X.shape[1] - 1)


# ------------------------------------------------------------------- one task


def test_one_task_all_strategies_reduce_to_single_task_model(data):
    X, Y = data
    rows = Y["rating"].notna().to_numpy()
    X1, y1 = X[rows], Y["rating"][rows].to_numpy()  # 1-D y: one task
    single = lgb.train(
        lgb_params("regression"), lgb.Dataset(X1, y1), num_boost_round=25
    )
    expected = single.predict(X1)

    separate = MultiTaskLGBM(**COMMON, random_state=SEED).fit(X1, y1).predict(X1)
    assert separate.shape == (rows.sum(),)
    assert_array_equal(separate, expected)
    chain = MultiTaskLGBM(**COMMON, chain=True, random_state=SEED).fit(X1, y1)
    assert_array_equal(chain.predict(X1), expected)
    # shared: no task feature, init_score = label mean instead of boost-from-average
    shared = MultiTaskLGBM(**COMMON, strategy="shared", random_state=SEED).fit(X1, y1)
    assert shared.shared_booster_.num_feature() == X.shape[1]
    assert_allclose(shared.predict(X1), expected, rtol=1e-10, atol=1e-10)
    # finetune: the same model boosted for n_estimators + finetune_n_estimators
    finetune = MultiTaskLGBM(
        **COMMON, strategy="finetune", finetune_n_estimators=10, random_state=SEED
    ).fit(X1, y1)
    longer = lgb.train(
        lgb_params("regression"), lgb.Dataset(X1, y1), num_boost_round=35
    )
    assert_allclose(finetune.predict(X1), longer.predict(X1), rtol=1e-8, atol=1e-8)


# ---------------------------------------------------------- mixed objective


def test_mixed_objective_gradient_hessian_finite_differences():
    rng = np.random.default_rng(1)
    n = 200
    raw = rng.normal(0, 2, n)
    is_binary = rng.random(n) < 0.5
    y = np.where(is_binary, rng.integers(0, 2, n), rng.normal(3, 1, n))
    w = rng.uniform(0.1, 3, n)
    grad, hess = mixed_grad_hess(raw, y, is_binary, w)
    eps = 1e-6
    fd_grad = (
        mixed_loss(raw + eps, y, is_binary, w) - mixed_loss(raw - eps, y, is_binary, w)
    ) / (2 * eps)
    fd_hess = (
        mixed_grad_hess(raw + eps, y, is_binary, w)[0]
        - mixed_grad_hess(raw - eps, y, is_binary, w)[0]
    ) / (2 * eps)
    assert_allclose(grad, fd_grad, rtol=1e-6, atol=1e-7)
    assert_allclose(hess, fd_hess, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ["regression", "binary"])
def test_mixed_objective_single_kind_grows_builtin_trees(data, kind):
    X, Y = data
    task = "rating" if kind == "regression" else "click"
    rows = Y[task].notna().to_numpy()
    Xt, y = X[rows], Y[task][rows].to_numpy()
    mean = y.mean() if kind == "regression" else logit(y.mean())
    init = np.full(y.size, mean)
    objective = MixedObjective(np.full(y.size, kind == "binary"))
    custom = lgb.train(lgb_params(objective), lgb.Dataset(Xt, y, init_score=init), 25)
    builtin = lgb.train(
        lgb_params(kind, boost_from_average=False),
        lgb.Dataset(Xt, y, init_score=init),
        25,
    )
    trees_c, trees_b = custom.trees_to_dataframe(), builtin.trees_to_dataframe()
    for col in ["split_feature", "threshold", "left_child", "right_child"]:
        assert trees_c[col].equals(trees_b[col])
    assert_allclose(trees_c["value"], trees_b["value"], rtol=1e-6, atol=1e-9)
    assert_allclose(
        custom.predict(X, raw_score=True),
        builtin.predict(X, raw_score=True),
        rtol=1e-6,
        atol=1e-9,
    )


def test_shared_mixed_kinds_equals_stacked_custom_objective(data):
    X, Y = data
    model = MultiTaskLGBM(**COMMON, strategy="shared", random_state=SEED)
    pred = model.fit(X, Y).predict(X)
    kinds = ["regression", "binary", "binary"]
    blocks, ys, inits, is_bin = [], [], [], []
    base = {}
    for t, task in enumerate(Y.columns):
        rows = Y[task].notna().to_numpy()
        y = Y[task][rows].to_numpy()
        base[task] = y.mean() if kinds[t] == "regression" else logit(y.mean())
        blocks.append(X[rows].assign(__task__=pd.Categorical([t] * rows.sum())))
        ys.append(y)
        inits.append(np.full(y.size, base[task]))
        is_bin.append(np.full(y.size, kinds[t] == "binary"))
    stacked = pd.concat(blocks, ignore_index=True)
    stacked["__task__"] = pd.Categorical(stacked["__task__"].astype(int))
    objective = MixedObjective(np.concatenate(is_bin))
    booster = lgb.train(
        lgb_params(objective),
        lgb.Dataset(stacked, np.concatenate(ys), init_score=np.concatenate(inits)),
        25,
    )
    for t, task in enumerate(Y.columns):
        assert model.shared_init_score_[task] == pytest.approx(base[task], rel=1e-12)
        Xt = X.assign(__task__=pd.Categorical([t] * len(X), categories=[0, 1, 2]))
        raw = booster.predict(Xt, raw_score=True) + base[task]
        expected = expit(raw) if kinds[t] == "binary" else raw
        assert_allclose(pred[:, t], expected, rtol=1e-10, atol=1e-12)
    assert model.boosters_ == {}
    assert ((pred[:, 1:] > 0) & (pred[:, 1:] < 1)).all()


# ----------------------------------------------------------------- finetune


def test_finetune_zero_rounds_equals_shared_and_offset_added_back(data):
    X, Y = data
    shared = MultiTaskLGBM(**COMMON, strategy="shared", random_state=SEED).fit(X, Y)
    zero = MultiTaskLGBM(
        **COMMON, strategy="finetune", finetune_n_estimators=0, random_state=SEED
    ).fit(X, Y)
    assert_array_equal(zero.predict(X), shared.predict(X))
    assert zero.boosters_ == {}

    tuned = MultiTaskLGBM(
        **COMMON, strategy="finetune", finetune_n_estimators=8, random_state=SEED
    ).fit(X, Y)
    Xs = X.assign(__task__=0.0)
    for t, (task, kind) in enumerate(tuned.tasks_.items()):
        Xs["__task__"] = float(t)
        offset = (
            tuned.shared_booster_.predict(float_matrix(Xs), raw_score=True)
            + tuned.shared_init_score_[task]
        )
        # the tower, trained by hand from the shared offset as init_score
        rows = Y[task].notna().to_numpy()
        tower = lgb.train(
            lgb_params(kind),
            lgb.Dataset(X[rows], Y[task][rows], init_score=offset[rows]),
            8,
        )
        raw = offset + tower.predict(X, raw_score=True)
        expected = expit(raw) if kind == "binary" else raw
        assert_allclose(tuned.predict_task(X, task), expected, rtol=1e-10, atol=1e-12)
        # without the offset added back the prediction would be far off
        alone = tower.predict(X, raw_score=True)
        assert np.abs(alone - raw).mean() > 0.1
    # the towers improve the training fit of the shared model
    assert tuned.score(X, Y) > shared.score(X, Y)


# -------------------------------------------------------------------- chain


def test_chain_features_are_out_of_fold():
    # task 0 is pure noise that a deep model memorises; task 1 copies it. An
    # in-sample prediction of task 0 would then "explain" task 1 on the
    # training rows; an out-of-fold one carries no information about it.
    rng = np.random.default_rng(0)
    n = 600
    X = rng.normal(size=(n, 3))
    y0 = rng.normal(size=n)
    Y = np.column_stack([y0, y0 + 0.01 * rng.normal(size=n)])
    params = dict(
        n_estimators=150,
        learning_rate=0.3,
        num_leaves=63,
        min_child_samples=1,
        n_jobs=1,
        random_state=SEED,
    )
    model = MultiTaskLGBM(**params, chain=True).fit(X, Y)
    gain = model.feature_importances_.loc["task_1"]
    oof_share = gain["pred_task_0"] / gain.sum()

    # control: the same chain with in-sample task-0 predictions (the leak)
    in_sample = model.boosters_["task_0"].predict(X)
    assert np.corrcoef(in_sample, y0)[0, 1] > 0.9  # task 0 memorised its noise
    leaky = lgb.train(
        lgb_params("regression", learning_rate=0.3, num_leaves=63, min_data_in_leaf=1),
        lgb.Dataset(np.column_stack([X, in_sample]), Y[:, 1]),
        150,
    )
    leaky_gain = leaky.feature_importance("gain")
    assert leaky_gain[3] / leaky_gain.sum() > 0.9
    assert oof_share < 0.5

    # and at predict time the full-data task-0 model feeds task 1
    X_new = rng.normal(size=(50, 3))
    pred = model.predict(X_new)
    expected_1 = model.boosters_["task_1"].predict(
        np.column_stack([X_new, model.boosters_["task_0"].predict(X_new)])
    )
    assert_array_equal(pred[:, 1], expected_1)
    assert_array_equal(model.predict_task(X_new, "task_1"), expected_1)


# ----------------------------------------------------- meta-estimators, routing


def masked_scorer(kinds):
    def scorer(estimator, X, Y):
        return multitask_score(Y, estimator.predict(X), tasks=kinds)

    return scorer


def test_gridsearch_pipeline_ranking_task_group_kfold(ranking_data):
    X, Y, tasks = ranking_data
    pipe = Pipeline(
        [
            ("prep", FunctionTransformer(drop_time)),
            (
                "multitasklgbm",
                MultiTaskLGBM(
                    n_estimators=15,
                    tasks=tasks,
                    query_col="user_id",
                    n_jobs=1,
                    random_state=SEED,
                ),
            ),
        ]
    )
    search = GridSearchCV(
        pipe,
        {"multitasklgbm__num_leaves": [4, 8]},
        scoring=masked_scorer(list(tasks.values())),
        cv=GroupKFold(n_splits=3),
        error_score="raise",
    )
    search.fit(X, Y, groups=X["user_id"])
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    # the refitted model is the plain model with the best parameters
    best = search.best_params_["multitasklgbm__num_leaves"]
    direct = MultiTaskLGBM(
        n_estimators=15,
        num_leaves=best,
        tasks=tasks,
        query_col="user_id",
        n_jobs=1,
        random_state=SEED,
    ).fit(drop_time(X), Y)
    assert_array_equal(search.predict(X), direct.predict(drop_time(X)))
    # the masked scorer by hand on one fold
    train, test = next(GroupKFold(n_splits=3).split(X, Y, groups=X["user_id"]))
    fold = MultiTaskLGBM(
        n_estimators=15,
        num_leaves=4,
        tasks=tasks,
        query_col="user_id",
        n_jobs=1,
        random_state=SEED,
    ).fit(drop_time(X.iloc[train]), Y.iloc[train])
    expected = multitask_score(
        Y.iloc[test], fold.predict(drop_time(X.iloc[test])), tasks=list(tasks.values())
    )
    assert search.cv_results_["split0_test_score"][0] == pytest.approx(expected)


def test_sample_weight_routing_off_and_on(data):
    X, Y = data
    w = np.random.default_rng(3).uniform(0.1, 3.0, len(X))
    direct = MultiTaskLGBM(**COMMON, random_state=SEED).fit(X, Y, sample_weight=w)
    unweighted = MultiTaskLGBM(**COMMON, random_state=SEED).fit(X, Y)
    assert not np.allclose(direct.predict(X), unweighted.predict(X))

    # routing off: the step__param syntax
    pipe = make_pipeline(
        FunctionTransformer(), MultiTaskLGBM(**COMMON, random_state=SEED)
    )
    pipe.fit(X, Y, multitasklgbm__sample_weight=w)
    assert_array_equal(pipe.predict(X), direct.predict(X))

    # routing on: request sample_weight, pass it to Pipeline / GridSearchCV
    with sklearn.config_context(enable_metadata_routing=True):
        est = MultiTaskLGBM(**COMMON, random_state=SEED).set_fit_request(
            sample_weight=True
        )
        pipe = make_pipeline(FunctionTransformer(), est)
        pipe.fit(X, Y, sample_weight=w)
        assert_array_equal(pipe.predict(X), direct.predict(X))
        search = GridSearchCV(
            pipe,
            {"multitasklgbm__num_leaves": [15]},
            scoring=masked_scorer(None),
            cv=2,
        )
        search.fit(X, Y, sample_weight=w)
        assert_array_equal(search.predict(X), direct.predict(X))


# ------------------------------------------------------------------- input


def test_bad_input_messages(data, ranking_data):
    X, Y = data
    with pytest.raises(ValueError, match=r"task_params names \['ratings'\].*tasks"):
        MultiTaskLGBM(**COMMON, task_params={"ratings": {}}).fit(X, Y)
    with pytest.raises(TypeError, match=r"task_params\['rating'\] must be a dict"):
        MultiTaskLGBM(**COMMON, task_params={"rating": 3}).fit(X, Y)
    multiclass = {"rating": {"objective": "multiclass", "num_class": 6}}
    with pytest.raises(ValueError, match=r"task_params\['rating'\]: a multiclass"):
        MultiTaskLGBM(**COMMON, task_params=multiclass).fit(X, Y)
    Xr, Yr, tasks = ranking_data
    with pytest.raises(ValueError, match=r"'ranking' tasks, which need query_col"):
        MultiTaskLGBM(**COMMON, tasks=tasks).fit(Xr, Yr)
    with pytest.raises(ValueError, match=r"query_col 'uid' is not a column of X"):
        MultiTaskLGBM(**COMMON, tasks=tasks, query_col="uid").fit(Xr, Yr)
    wrong = {"rating": "regression", "click": "binary", "like": "binary"}
    Y_bad = Y.assign(click=Y["click"] * 2)
    with pytest.raises(ValueError, match=r"'click' is 'binary' but has labels"):
        MultiTaskLGBM(**COMMON, tasks=wrong).fit(X, Y_bad)
    with pytest.raises(ValueError, match=r"chain=True requires strategy='separate'"):
        MultiTaskLGBM(**COMMON, chain=True, strategy="shared").fit(X, Y)
    with pytest.raises(TypeError, match=r"\['name'\] are neither numeric nor"):
        MultiTaskLGBM(**COMMON).fit(X.assign(name="a"), Y)
    with pytest.raises(ValueError, match=r"categorical_features names \['nope'\]"):
        MultiTaskLGBM(**COMMON, categorical_features=["nope"]).fit(X, Y)
    with pytest.raises(ValueError, match=r"eval_set: Y_val has tasks"):
        MultiTaskLGBM(**COMMON).fit(X, Y, eval_set=(X, Y[["click", "rating", "like"]]))
    with pytest.raises(ValueError, match=r"sample_weight is zero on every labelled"):
        MultiTaskLGBM(**COMMON).fit(X, Y, sample_weight=np.zeros(Y.shape))
    with pytest.warns(UserWarning, match=r"task_params for tasks \['click'\] have no"):
        MultiTaskLGBM(
            **COMMON, strategy="shared", task_params={"click": {"num_leaves": 4}}
        ).fit(X, Y)
    model = MultiTaskLGBM(**COMMON).fit(X, Y)
    with pytest.raises(ValueError, match=r"Unknown task 'clicks'"):
        model.predict_task(X, "clicks")


def test_categories_unseen_and_string_columns_never_crash(data):
    X, Y = data
    model = MultiTaskLGBM(**COMMON, random_state=SEED).fit(X, Y)
    X_new = X.head(20).copy()
    X_new["item_category"] = pd.Categorical(
        ["brand-new"] * 20
    )  # unseen category: treated as missing
    missing = X.head(20).copy()
    missing["item_category"] = pd.Categorical([np.nan] * 20)
    assert_array_equal(model.predict(X_new), model.predict(missing))
    # a string column listed in categorical_features is encoded by its values
    Xs = X.assign(item_category=X["item_category"].astype(str))
    listed = MultiTaskLGBM(
        **COMMON, categorical_features=["item_category"], random_state=SEED
    ).fit(Xs, Y)
    assert listed.categories_["item_category"] == sorted(
        X["item_category"].astype(str).unique()
    )
    assert np.isfinite(listed.predict(Xs)).all()


def test_determinism_and_threads(data):
    X, Y = data
    params = dict(COMMON, subsample=0.7, colsample_bytree=0.7, random_state=7)
    a = MultiTaskLGBM(**params, strategy="shared").fit(X, Y).predict(X)
    b = MultiTaskLGBM(**params, strategy="shared").fit(X, Y).predict(X)
    assert_array_equal(a, b)
    c = MultiTaskLGBM(**{**params, "random_state": 8}, strategy="shared").fit(X, Y)
    assert not np.array_equal(a, c.predict(X))  # the seed reaches the bagging
    # n_jobs reaches LightGBM (its own default would be every core); n_jobs=1
    # only: a first multi-threaded LightGBM call costs seconds on a busy machine
    model = MultiTaskLGBM(**params).fit(X, Y)
    for booster in model.boosters_.values():
        assert "[num_threads: 1]" in booster.model_to_string()


def test_array_input_equals_dataframe_input(ranking_data):
    X, Y, tasks = ranking_data
    numeric = X.drop(columns=["user_segment", "item_category"])
    frame = numeric.astype(float)
    frame["item_id"] = frame["item_id"].astype(int)
    kinds = list(tasks.values())
    by_frame = MultiTaskLGBM(
        **COMMON,
        tasks=kinds,
        query_col="user_id",
        categorical_features=["item_id"],
        random_state=SEED,
    ).fit(frame, Y.to_numpy())
    by_array = MultiTaskLGBM(
        **COMMON,
        tasks=kinds,
        query_col=0,
        categorical_features=[1],
        random_state=SEED,
    ).fit(numeric.to_numpy(dtype=float), Y.to_numpy())
    assert by_array.features_ == [f"x{j}" for j in range(1, numeric.shape[1])]
    assert by_array.categorical_feature_indices_ == [0]
    assert_array_equal(
        by_array.predict(numeric.to_numpy(dtype=float)), by_frame.predict(frame)
    )
    assert not hasattr(by_array, "feature_names_in_")
    assert list(by_frame.feature_names_in_) == list(numeric.columns)


# ------------------------------------------------------------------ init_score


def _with_offsets(X, Y):
    """Add a noisy prior score per task: a rating guess and click log-odds."""
    rng = np.random.default_rng(1)
    X = X.copy()
    X["prior_rating"] = Y["rating"].fillna(3.0).to_numpy() + rng.normal(size=len(X))
    X["prior_click"] = 2.0 * Y["click"].to_numpy() - 1.0 + rng.normal(size=len(X))
    return X


def test_init_score_equals_hand_written_offset_loop(data):
    X, Y = data
    X = _with_offsets(X, Y)
    model = MultiTaskLGBM(
        **COMMON,
        init_score={"rating": "prior_rating", "click": "prior_click"},
        random_state=SEED,
    ).fit(X, Y)
    pred = model.predict(X)
    for t, (task, kind, col) in enumerate(
        [("rating", "regression", "prior_rating"), ("click", "binary", "prior_click")]
    ):
        rows = Y[task].notna().to_numpy()
        dtrain = lgb.Dataset(X[rows], Y[task][rows], init_score=X[col][rows])
        booster = lgb.train(lgb_params(kind), dtrain, num_boost_round=25)
        raw = booster.predict(X, raw_score=True) + X[col].to_numpy()
        assert_allclose(pred[:, t], expit(raw) if kind == "binary" else raw, rtol=1e-12)
    # the task without an offset is the plain booster
    rows = Y["like"].notna().to_numpy()
    plain = lgb.train(
        lgb_params("binary"), lgb.Dataset(X[rows], Y["like"][rows]), num_boost_round=25
    )
    assert_array_equal(pred[:, 2], plain.predict(X))
    assert model.init_score_columns_ == {
        "rating": list(X.columns).index("prior_rating"),
        "click": list(X.columns).index("prior_click"),
    }


LINKS = {  # LightGBM's ConvertOutput of each objective, by hand
    "poisson": np.exp,
    "gamma": np.exp,
    "tweedie": np.exp,
    "regression": lambda r: r,
    "regression_sqrt": lambda r: np.sign(r) * r * r,
    "binary_sigmoid": lambda r: expit(2.0 * r),
    "cross_entropy_lambda": lambda r: np.log1p(np.exp(r)),
}


@pytest.mark.parametrize("objective", sorted(LINKS))
def test_init_score_is_added_before_the_objectives_link(objective):
    # the link of a count objective is exp: an offset on the log scale (an
    # exposure, LightGBM #1778) is added to the raw score, then the link
    rng = np.random.default_rng(0)
    n = 800
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    X["off"] = np.log(2.0) + 0.3 * X["b"]
    mean = np.exp(X["off"] + 0.5 * X["a"])
    binary = objective in ("binary_sigmoid", "cross_entropy_lambda")
    y = (rng.random(n) < mean / (1 + mean)) if binary else rng.poisson(mean) + 0.5
    extra = {
        "regression_sqrt": {"objective": "regression", "reg_sqrt": True},
        "binary_sigmoid": {"objective": "binary", "sigmoid": 2.0},
    }.get(objective, {"objective": objective})
    model = MultiTaskLGBM(
        **COMMON, tasks=["binary" if binary else "regression"],
        task_params={"y": extra}, init_score={"y": "off"}, random_state=SEED,
    ).fit(X, pd.DataFrame({"y": y.astype(float)}))  # fmt: skip
    booster = lgb.train(
        lgb_params(**extra),
        lgb.Dataset(X.to_numpy(), y.astype(float), init_score=X["off"].to_numpy()),
        num_boost_round=25,
    )
    raw = booster.predict(X.to_numpy(), raw_score=True) + X["off"].to_numpy()
    expected = LINKS[objective](raw)
    assert_allclose(model.predict(X)[:, 0], expected, rtol=1e-12)
    from mtlclassic import compile as compile_model

    assert_allclose(compile_model(model).predict(X)[:, 0], expected, rtol=1e-12)
    # early stopping that keeps no tree: the offset alone, through the link
    model.best_iteration_ = {"y": 0}
    assert_allclose(
        model.predict(X)[:, 0], LINKS[objective](X["off"].to_numpy()), rtol=1e-12
    )


@pytest.mark.parametrize("offset", [False, True])
def test_held_out_rows_that_all_weigh_zero_are_refused_by_name(offset):
    # the library draws the early-stopping rows: all of weight 0 gave NaN
    # validation scores and one tree silently, or numpy's ZeroDivisionError
    rng = np.random.default_rng(0)
    n = 400
    X = pd.DataFrame({"a": rng.normal(size=n), "off": 0.1 * rng.normal(size=n)})
    Y = pd.DataFrame({"y": X["a"] + rng.normal(size=n)})
    held = np.random.default_rng([0, 0]).random(n) < 0.1  # the rows held out
    params = dict(n_estimators=30, early_stopping_rounds=5, n_jobs=1, random_state=0)
    if offset:
        params["init_score"] = {"y": "off"}
    for weights, where in ((np.where(held, 0.0, 1.0), "held out for early"),
                           (np.where(held, 1.0, 0.0), "left to train on")):  # fmt: skip
        with pytest.raises(ValueError, match=f"sample_weight is zero .* 'y' {where}"):
            MultiTaskLGBM(**params).fit(X, Y, sample_weight=weights)
    some = np.where(held, 0.0, 1.0)
    some[np.flatnonzero(held)[0]] = 1.0  # one held-out row with weight: fitted
    fitted = MultiTaskLGBM(**params).fit(X, Y, sample_weight=some)
    assert fitted.best_iteration_["y"] > 1


def test_refit_with_forced_bins_splits_at_the_forced_bounds(tmp_path):
    # LightGBM refuses forcedbins_filename again on a constructed Dataset (the
    # refit's, binned once): the refit failed as "refused parameters"
    import json

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600)})
    Y = pd.DataFrame({"y": (X["a"] + rng.normal(size=600) > 0).astype(float)})
    path = tmp_path / "bins.json"
    bounds = [-0.5, 0.0, 0.5]
    path.write_text(json.dumps([{"feature": 0, "bin_upper_bound": bounds}]))
    model = MultiTaskLGBM(
        n_estimators=30, early_stopping_rounds=3, refit=True, n_jobs=1,
        random_state=0, task_params={"y": {"forcedbins_filename": str(path)}},
    ).fit(X, Y)  # fmt: skip
    # the refit equals a fit of as many rounds on every labelled row, binned
    # with the forced bounds by LightGBM itself
    plain = MultiTaskLGBM(
        n_estimators=model.best_iteration_["y"], n_jobs=1, random_state=0,
        task_params={"y": {"forcedbins_filename": str(path)}},
    ).fit(X, Y)  # fmt: skip

    def trees(m):
        return m.boosters_["y"].model_to_string().split("end of trees")[0]

    assert trees(model).split("Tree=0")[1] == trees(plain).split("Tree=0")[1]
    unforced = MultiTaskLGBM(
        n_estimators=model.best_iteration_["y"], n_jobs=1, random_state=0
    ).fit(X, Y)
    assert trees(model).split("Tree=0")[1] != trees(unforced).split("Tree=0")[1]


@pytest.mark.parametrize("strategy", ["shared", "finetune"])
def test_a_column_named_as_an_internal_feature_is_its_own_column(strategy):
    # '__task__' is the shared booster's task-id feature; 'pred_r' a chain's
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "__task__": rng.normal(size=300)})
    Y = pd.DataFrame({"r": X["a"] + rng.normal(size=300),
                      "c": (X["a"] > 0).astype(float)})  # fmt: skip
    params = dict(n_estimators=5, n_jobs=1, random_state=0, strategy=strategy)
    named = MultiTaskLGBM(**params).fit(X, Y)
    renamed = MultiTaskLGBM(**params).fit(X.rename(columns={"__task__": "z"}), Y)
    assert_array_equal(
        named.predict(X), renamed.predict(X.rename(columns={"__task__": "z"}))
    )
    chained = MultiTaskLGBM(n_estimators=5, n_jobs=1, random_state=0, chain=True)
    chained.fit(X.rename(columns={"__task__": "pred_r"}), Y)
    columns = list(chained.feature_importances_.columns)
    assert columns == ["a", "pred_r", "pred_r_1"]


def test_a_complex_column_is_refused_as_from_an_array():
    # from a DataFrame it was cast to float64 with a warning: imaginary part lost
    rng = np.random.default_rng(0)
    z = rng.normal(size=200) + 1j * rng.normal(size=200)
    X = pd.DataFrame({"z": z, "a": rng.normal(size=200)})
    Y = pd.DataFrame({"y": z.imag})
    with pytest.raises(TypeError, match=r"X column 'z' is complex \(complex128\)"):
        MultiTaskLGBM(n_estimators=5, n_jobs=1).fit(X, Y)
    fitted = MultiTaskLGBM(n_estimators=5, n_jobs=1).fit(X.assign(z=z.real), Y)
    with pytest.raises(TypeError, match="is complex"):
        fitted.predict(X)


def test_times_in_a_numeric_column_are_refused_at_predict_and_compiled():
    # fit refuses a time column; predict (and compile) scored a timedelta or a
    # datetime given for a number by its ticks (LightGBM itself refuses them)
    from mtlclassic import compile as compile_model

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"age_days": rng.uniform(0, 100, 300), "f": rng.normal(size=300)})
    Y = pd.DataFrame({"y": X.age_days / 10 + rng.normal(size=300)})
    model = MultiTaskLGBM(n_estimators=10, n_jobs=1, random_state=0).fit(X, Y)
    days = pd.to_timedelta(X.age_days.head(5), unit="D")
    scored = compile_model(model)
    for times in (days, pd.Timestamp("2020-01-01") + days):
        rows = X.head(5).assign(age_days=times)
        with pytest.raises(
            TypeError, match=r"'age_days' holds times \((timedelta|date)"
        ):
            model.predict(rows)
        with pytest.raises(TypeError, match="'age_days' holds times"):
            scored.predict(rows)
    assert_allclose(scored.predict(X.head(5)), model.predict(X.head(5)), rtol=1e-12)


def test_a_task_with_one_labelled_row_is_not_bagged():
    # subsample=0.7 bagged int(0.7 * 1) = 0 rows: LightGBM's "Check failed"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    Y = np.c_[X[:, 0] + rng.normal(size=200), np.full(200, np.nan)]
    Y[0, 1] = 1.0
    bagged = MultiTaskLGBM(n_estimators=5, subsample=0.7, random_state=0).fit(X, Y)
    plain = MultiTaskLGBM(n_estimators=5, random_state=0).fit(X, Y)
    assert_array_equal(bagged.predict(X)[:, 1], plain.predict(X)[:, 1])
    assert not np.array_equal(bagged.predict(X)[:, 0], plain.predict(X)[:, 0])


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_the_offset_alone_is_judged_as_predict_serves_it(sigma):
    # early stopping keeps no tree only if the offset through the objective's
    # link (here expit(sigma x)) beats the trees on the held-out rows
    rng = np.random.default_rng(0)
    n = 4000
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    X["off"] = 1.5 * X["a"]  # the true log-odds
    y = (rng.random(n) < expit(X["off"])).astype(float)
    model = MultiTaskLGBM(
        n_estimators=200, early_stopping_rounds=10, n_jobs=1, random_state=0,
        task_params={"y": {"objective": "binary", "sigmoid": sigma}},
        init_score={"y": "off"},
    ).fit(X, pd.DataFrame({"y": y}))  # fmt: skip
    held = np.random.default_rng([0, 0]).random(n) < 0.1  # the rows held out
    p = np.clip(model.predict(X)[held, 0], 1e-15, 1 - 1e-15)
    served = -np.mean(y[held] * np.log(p) + (1 - y[held]) * np.log(1 - p))
    trees = min(model.evals_result_["y"]["binary_logloss"])
    alone = expit(sigma * X["off"].to_numpy()[held])
    offset = -np.mean(y[held] * np.log(alone) + (1 - y[held]) * np.log(1 - alone))
    assert served == pytest.approx(min(trees, offset), rel=1e-9)


def test_task_params_typos_and_objectives_that_cannot_read_the_labels_are_refused():
    # LightGBM only logs an unknown parameter (hidden at verbosity -1), and
    # its binary objective reads every positive label as 1: both fitted
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    ratings = rng.integers(1, 6, 200).astype(float)
    with pytest.raises(ValueError, match=r"\['num_leave'\], which LightGBM does not"
                       r" know \(did you mean \['num_leaves'"):  # fmt: skip
        MultiTaskLGBM(task_params={"task_0": {"num_leave": 4}}).fit(X, ratings)
    with pytest.raises(ValueError, match=r"'binary' .* labels in \{0, 1\}.* 1 to 5"):
        MultiTaskLGBM(task_params={"task_0": {"objective": "binary"}}).fit(X, ratings)
    with pytest.raises(ValueError, match=r"'xentropy' .* labels in \[0, 1\]"):
        MultiTaskLGBM(task_params={"task_0": {"objective": "xentropy"}}).fit(X, ratings)
    for spelled in ({"objective": "Binary"}, {"application": "binary"}):
        with pytest.raises(ValueError, match=r"labels in \{0, 1\}"):  # as LightGBM
            MultiTaskLGBM(task_params={"task_0": spelled}).fit(X, ratings)
    liked = (ratings >= 4).astype(float)  # an objective under an alias is kept
    alias = MultiTaskLGBM(n_estimators=5, task_params={"task_0": {
        "application": "cross_entropy"}}).fit(X, liked)  # fmt: skip
    assert alias.boosters_["task_0"].dump_model()["objective"] == "cross_entropy"
    with pytest.warns(UserWarning, match="no effect"):  # shared: not read at all
        shared = {"task_0": {"objective": "binary"}}
        MultiTaskLGBM(strategy="shared", n_estimators=5, task_params=shared).fit(
            X, np.c_[ratings, liked]
        )
    shares = ratings / 5.0  # in [0, 1]: cross-entropy reads them
    fitted = MultiTaskLGBM(n_estimators=5, task_params={"task_0": {
        "objective": "xentropy", "max_leaves": 4}}).fit(X, shares)  # fmt: skip
    assert fitted.predict(X).min() > 0


def test_init_score_template_and_offset_that_no_tree_beats(data):
    X, Y = data
    X = X.copy()
    # a perfect offset for rating: no tree can improve on it on the validation rows
    X["score_rating"] = Y["rating"].fillna(0.0).to_numpy()
    X["score_click"] = 0.0
    X["score_like"] = 0.0
    model = MultiTaskLGBM(
        **COMMON, init_score="score_{task}", early_stopping_rounds=5, random_state=SEED
    ).fit(X, Y)
    assert model.best_iteration_["rating"] == 0
    rated = Y["rating"].notna().to_numpy()
    assert_allclose(model.predict(X)[rated, 0], Y["rating"][rated].to_numpy())
    assert model.best_iteration_["click"] > 0  # a zero log-odds offset is beaten


def test_init_score_bad_input(data):
    X, Y = data
    X = _with_offsets(X, Y)
    with pytest.raises(ValueError, match="task 'rating' names the column 'nope'"):
        MultiTaskLGBM(init_score={"rating": "nope"}).fit(X, Y)
    with pytest.raises(ValueError, match=r"tasks \['clicks'\] that are not tasks"):
        MultiTaskLGBM(init_score={"clicks": "prior_click"}).fit(X, Y)
    with pytest.raises(ValueError, match="strategy='separate' and chain=False"):
        MultiTaskLGBM(init_score={"click": "prior_click"}, strategy="shared").fit(X, Y)
    bad = X.copy()
    bad.loc[0, "prior_click"] = np.nan
    with pytest.raises(ValueError, match="'prior_click' .task 'click'. has NaN"):
        MultiTaskLGBM(init_score={"click": "prior_click"}).fit(bad, Y)
    with pytest.raises(
        ValueError, match="'item_category' .task 'click'. is categorical"
    ):
        MultiTaskLGBM(init_score={"click": "item_category"}).fit(X, Y)


def test_init_score_template_nan_and_importances(data):
    X, Y = data
    X = X.copy()
    X["score_rating"] = Y["rating"].fillna(0.0).to_numpy()  # no tree beats it
    X["score_click"] = X["score_like"] = 0.0
    with pytest.raises(ValueError, match="same column for every task"):
        MultiTaskLGBM(init_score="score_rating").fit(X, Y)
    with pytest.raises(ValueError, match="not a valid template"):
        MultiTaskLGBM(init_score="score_{name}").fit(X, Y)
    model = MultiTaskLGBM(
        **COMMON, init_score="score_{task}", early_stopping_rounds=5, random_state=SEED
    ).fit(X, Y)
    assert model.best_iteration_["rating"] == 0
    importances = model.feature_importances_
    assert (importances.loc["rating"] == 0).all()  # no tree is used
    assert importances.loc["click"].sum() > 0
    bad = X.head(3).copy()
    bad.loc[bad.index[1], "score_click"] = np.nan
    with pytest.raises(ValueError, match="'score_click' .task 'click'. has NaN"):
        model.predict(bad)


def test_ranking_grades_beyond_label_gain_name_the_task_and_the_fix():
    rng = np.random.default_rng(0)
    n = 400
    X = pd.DataFrame({"user_id": rng.integers(0, 20, n), "f": rng.normal(size=n)})
    Y = pd.DataFrame({"watch_count": np.round(np.exp(X["f"] + 2))})
    top = int(Y["watch_count"].max())
    kw = dict(tasks=["ranking"], query_col="user_id", n_estimators=10, n_jobs=1,
              random_state=0)  # fmt: skip
    with pytest.raises(ValueError, match=rf"'watch_count' has relevance grade {top}"):
        MultiTaskLGBM(**kw).fit(X, Y)
    gains = {"watch_count": {"label_gain": list(range(top + 1))}}
    fitted = MultiTaskLGBM(**kw, task_params=gains).fit(X, Y)  # the suggested fix
    assert np.isfinite(fitted.predict(X)).all()
    short = {"watch_count": {"label_gain": list(range(50))}}
    with pytest.raises(ValueError, match="task_params' label_gain maps grades 0..49"):
        MultiTaskLGBM(**kw, task_params=short).fit(X, Y)


def test_numeric_categorical_codes_are_re_encoded_not_merged_with_missing():
    rng = np.random.default_rng(0)
    n = 600
    code = rng.choice([-1, 3, 2**40], n)  # LightGBM reads -1 as missing, 2^40 fails
    y = np.where(code == -1, 5.0, np.where(code == 3, 0.0, -5.0))
    y = y + 0.1 * rng.normal(size=n)
    X = pd.DataFrame({"code": code, "f": rng.normal(size=n)})
    X.loc[:49, "code"] = np.nan  # real missing values, a fourth group
    y[:50] = 10.0
    model = MultiTaskLGBM(
        **COMMON, categorical_features=["code"], random_state=SEED
    ).fit(X, pd.DataFrame({"y": y}))
    # oracle: LightGBM on the codes of the sorted distinct values, by hand
    codes = pd.Index([-1.0, 3.0, float(2**40)]).get_indexer(X["code"]).astype(float)
    codes[codes < 0] = np.nan
    by_hand = X.assign(code=codes)
    booster = lgb.train(
        lgb_params("regression"),
        lgb.Dataset(by_hand, y, categorical_feature=["code"]),
        num_boost_round=25,
    )
    assert_allclose(model.predict(X)[:, 0], booster.predict(by_hand), rtol=1e-12)
    pred = model.predict(pd.DataFrame({"code": [-1, np.nan, 2**40, 7], "f": 0.0}))
    assert pred[0, 0] > 3 and pred[1, 0] > 7 and pred[2, 0] < -3  # -1 is not missing
    assert pred[3, 0] == pytest.approx(pred[1, 0])  # unseen 7: missing
    # arrays: positions listed as categorical, the user's array untouched
    A = X.to_numpy(dtype=float)
    before = A.copy()
    arr = MultiTaskLGBM(**COMMON, categorical_features=[0], random_state=SEED)
    arr.fit(A, y)
    assert_allclose(arr.predict(A), model.predict(X)[:, 0], rtol=1e-12)
    assert_array_equal(A, before)


def test_held_out_queries_stay_put_when_queries_are_appended():
    # whole queries were held out by a permutation of the query ids, so one more
    # query moved 12 of 50 earlier ones between training and validation
    from mtlclassic.boosting._lgbm_input import holdout

    rng = np.random.default_rng(3)
    groups = rng.permutation(np.repeat(rng.permutation(500)[:50] * 7, 8))  # unsorted
    rows = np.arange(groups.size)
    _, held = holdout(rows, 0.2, np.random.default_rng(0), groups)
    # the oracle: the k-th query to appear is held when the k-th draw is < 0.2
    order = pd.unique(groups)
    draws = np.random.default_rng(0).random(order.size)
    assert set(groups[held]) == set(order[draws < 0.2])
    assert np.isin(groups, groups[held]).sum() == held.size  # whole queries
    more = np.r_[groups, np.full(8, 9999), groups[:5]]  # a new query, more rows
    _, held2 = holdout(np.arange(more.size), 0.2, np.random.default_rng(0), more)
    assert set(more[held2]) - {9999} == set(groups[held])


def test_early_stopping_without_a_second_query_warns():
    # one query: nothing to hold out, and early stopping was skipped silently
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"qid": np.zeros(60, int), "f": rng.normal(size=60)})
    y = pd.DataFrame({"rel": rng.integers(0, 3, 60).astype(float)})
    model = MultiTaskLGBM(tasks=["ranking"], query_col="qid", n_estimators=7,
                          early_stopping_rounds=2, n_jobs=1)  # fmt: skip
    with pytest.warns(UserWarning, match="'rel' has a single query: nothing is left"):
        model.fit(X, y)
    assert model.best_iteration_ == {"rel": 7}


def test_a_query_beyond_lambdarank_limit_names_the_task_and_the_query():
    rng = np.random.default_rng(0)
    n = 10_050
    X = pd.DataFrame({"user_id": np.r_[np.full(10_001, 7), np.arange(100, 149)],
                      "f": rng.normal(size=n)})  # fmt: skip
    Y = pd.DataFrame({"relevance": rng.integers(0, 3, n).astype(float)})
    with pytest.raises(ValueError, match=r"'relevance': query 7 .* 10001 labelled"):
        MultiTaskLGBM(tasks=["ranking"], query_col="user_id", n_estimators=2,
                      n_jobs=1).fit(X, Y)  # fmt: skip
    # without the check LightGBM itself refuses the same data
    with pytest.raises(lgb.basic.LightGBMError, match="10000"):
        lgb.train(
            {"objective": "lambdarank", "verbosity": -1},
            lgb.Dataset(X[["f"]], Y["relevance"], group=[10_001] + [1] * 49),
            num_boost_round=1,
        )
    # an eval_set query is named by its id (it was named by an internal code)
    small = X.assign(user_id=np.arange(n) % 200)  # queries of about 50 rows
    with pytest.raises(ValueError, match=r"query 777 of eval_set .* 10001 labelled"):
        MultiTaskLGBM(
            tasks=["ranking"], query_col="user_id", n_estimators=2, n_jobs=1
        ).fit(
            small,
            Y,
            eval_set=(
                X.assign(  # fmt: skip
                    user_id=np.where(X.user_id == 7, 777, X.user_id)
                ),
                Y,
            ),
        )
    # rank_xendcg with metric "map" takes such a query, as LightGBM does
    settings = {"objective": "rank_xendcg", "metric": "map"}
    model = MultiTaskLGBM(
        tasks=["ranking"],
        query_col="user_id",
        n_estimators=2,
        n_jobs=1,
        task_params={"relevance": settings},
    ).fit(X, Y)
    oracle = lgb.train(
        {**settings, "verbosity": -1},
        lgb.Dataset(X[["f"]], Y["relevance"], group=[10_001] + [1] * 49),
        num_boost_round=1,
    )
    assert model.best_iteration_["relevance"] >= 1 and oracle.num_trees() == 1


def test_refit_keeps_the_early_stopped_validation_history():
    # refit=True retrains on every labelled row without validation data; the
    # validation curve of the early-stopped run is what evals_result_ reports
    X, Y = make_multitask_recsys(n_users=60, n_items=40, n_events=1500, random_state=0)
    X = X.drop(columns="timestamp")
    kw = dict(n_estimators=50, early_stopping_rounds=5, random_state=0, n_jobs=1)
    refit = MultiTaskLGBM(refit=True, **kw).fit(X, Y)
    assert list(refit.evals_result_) == list(Y.columns)
    for task in Y.columns:
        (curve,) = refit.evals_result_[task].values()
        best = refit.best_iteration_[task]
        # the early-stopped run's curve: it ran 5 rounds past its best (or
        # all 50), and its best round is where the curve is lowest
        assert len(curve) in (min(best + 5, 50), 50)
        assert best == int(np.argmin(curve)) + 1
        assert refit.boosters_[task].num_trees() == best  # the refit's trees


def _update_data():
    X, Y = make_multitask_recsys(n_users=80, n_items=50, n_events=3000, random_state=1)
    X = X.drop(columns="timestamp")
    rng = np.random.default_rng(0)
    X["offset_rating"] = 3.0 + 0.1 * rng.standard_normal(len(X))
    return X.iloc[:2000], Y.iloc[:2000], X.iloc[2000:], Y.iloc[2000:]


def test_update_with_decay_1_changes_nothing_and_empty_is_a_no_op():
    X, Y, X_new, Y_new = _update_data()
    for kw in ({}, {"chain": True}):
        model = MultiTaskLGBM(n_estimators=30, random_state=0, n_jobs=1, **kw)
        before = model.fit(X, Y).predict(X_new)
        model.update(X_new, Y_new, decay_rate=1.0)
        assert_allclose(model.predict(X_new), before, rtol=0, atol=1e-12)
        model.update(X_new.iloc[:0], Y_new.iloc[:0], decay_rate=0.0)
        assert_allclose(model.predict(X_new), before, rtol=0, atol=1e-12)
        model.update(X_new, Y_new, decay_rate=0.0)  # new leaves: predictions move
        assert not np.allclose(model.predict(X_new), before)


def test_update_equals_lightgbm_refit_with_offsets_weights_and_missing_labels():
    X, Y, X_new, Y_new = _update_data()
    Y_new = Y_new.copy()
    Y_new["like"] = np.nan  # a task without new labels keeps its trees
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(X_new))
    model = MultiTaskLGBM(
        n_estimators=30, init_score={"rating": "offset_rating"}, random_state=0,
        n_jobs=1,
    ).fit(X, Y)  # fmt: skip
    old = {
        n: lgb.Booster(model_str=b.model_to_string())
        for n, b in model.boosters_.items()
    }
    like_before = model.predict_task(X_new, "like")
    model.update(X_new, Y_new, sample_weight=w, decay_rate=0.3)
    F = model._check_X(X_new, reset=False)[0]
    j = model.features_.index("offset_rating")
    for task in ("rating", "click"):
        rows = Y_new[task].notna().to_numpy()
        init = F[rows, j] if task == "rating" else None
        expected = old[task].refit(
            F[rows], Y_new[task].to_numpy()[rows], decay_rate=0.3, weight=w[rows],
            init_score=init,
        )  # fmt: skip
        raw = expected.predict(
            F, raw_score=True, num_iteration=model.best_iteration_[task]
        )
        want = raw + F[:, j] if task == "rating" else expit(raw)
        assert_allclose(model.predict_task(X_new, task), want, rtol=1e-10)
    assert_allclose(model.predict_task(X_new, "like"), like_before, rtol=0, atol=0)


@pytest.mark.parametrize("strategy", ["shared", "finetune"])
def test_update_of_a_shared_booster_equals_lightgbm_refit_on_stacked_rows(strategy):
    X, Y, X_new, Y_new = _update_data()
    X, X_new = X.drop(columns="offset_rating"), X_new.drop(columns="offset_rating")
    Y, Y_new = Y[["click", "like"]], Y_new[["click", "like"]]  # one kind: binary
    model = MultiTaskLGBM(
        strategy=strategy, n_estimators=15, random_state=0, n_jobs=1
    ).fit(X, Y)
    copy = lambda b: lgb.Booster(model_str=b.model_to_string())  # noqa: E731
    shared = copy(model.shared_booster_)
    towers = {n: copy(b) for n, b in model.boosters_.items()}
    model.update(X_new, Y_new, decay_rate=0.4)
    F = model._check_X(X_new, reset=False)[0]
    stacked, labels, init, rows_of = [], [], [], {}
    for t, task in enumerate(["click", "like"]):
        rows = np.flatnonzero(Y_new[task].notna().to_numpy())
        rows_of[task] = rows
        stacked.append(np.hstack([F[rows], np.full((rows.size, 1), float(t))]))
        labels.append(Y_new[task].to_numpy()[rows])
        init.append(np.full(rows.size, model.shared_init_score_[task]))
    expected = shared.refit(
        np.vstack(stacked), np.concatenate(labels), decay_rate=0.4,
        init_score=np.concatenate(init),
    )  # fmt: skip
    for t, task in enumerate(["click", "like"]):
        Ft = np.hstack([F, np.full((len(F), 1), float(t))])
        raw = expected.predict(
            Ft, raw_score=True, num_iteration=model.shared_best_iteration_
        )
        raw = raw + model.shared_init_score_[task]
        if strategy == "finetune":
            rows = rows_of[task]
            tower = towers[task].refit(
                F[rows], labels[t], decay_rate=0.4, init_score=raw[rows]
            )
            raw = raw + tower.predict(
                F, raw_score=True, num_iteration=model.best_iteration_[task]
            )
        # leaves no new row reaches keep their values, so compare on new rows
        # only where every leaf was reached: the rows themselves
        assert_allclose(
            model.predict_task(X_new, task)[rows_of[task]],
            expit(raw)[rows_of[task]], rtol=1e-9,
        )  # fmt: skip


def test_update_refuses_what_it_cannot_do():
    X, Y, X_new, Y_new = _update_data()
    shared = MultiTaskLGBM(strategy="shared", n_estimators=5, random_state=0).fit(X, Y)
    with pytest.raises(ValueError, match="tasks of different kinds"):
        shared.update(X_new, Y_new)
    model = MultiTaskLGBM(n_estimators=5, random_state=0).fit(X, Y)
    with pytest.raises(ValueError, match=r"decay_rate must be in \[0, 1\]"):
        model.update(X_new, Y_new, decay_rate=1.5)
    with pytest.raises(ValueError, match=r"update: y has tasks"):
        model.update(X_new, Y_new.rename(columns={"like": "buy"}))


def test_update_keeps_the_leaves_no_new_row_reaches():
    # LightGBM's refit fits an unreached leaf to 0 (so shrinks it by decay_rate);
    # update gives it its old value back: one new label moves one leaf per tree
    X, Y, X_new, Y_new = _update_data()
    model = MultiTaskLGBM(n_estimators=20, random_state=0, n_jobs=1).fit(X, Y)
    old = lgb.Booster(model_str=model.boosters_["rating"].model_to_string())
    one = Y_new.iloc[:1].copy()
    one[["click", "like"]] = np.nan
    model.update(X_new.iloc[:1], one, decay_rate=0.5)
    new = model.boosters_["rating"]
    F = model._check_X(X_new.iloc[:1], reset=False)[0]
    reached = old.predict(F, pred_leaf=True, num_iteration=-1)[0]
    info = old.dump_model()["tree_info"]
    for tree in range(old.num_trees()):
        for leaf in range(info[tree]["num_leaves"]):
            before, after = (
                old.get_leaf_output(tree, leaf),
                new.get_leaf_output(tree, leaf),
            )
            if leaf == reached[tree]:  # decay x old + (1 - decay) x the fitted value
                continue
            assert after == before, (tree, leaf)
    # the other rows' rating predictions move only through the reached leaves
    far = (old.predict(model._check_X(X_new, reset=False)[0], pred_leaf=True,
                       num_iteration=-1) != reached).all(axis=1)  # fmt: skip
    assert far.any()
    assert_allclose(
        model.predict_task(X_new[far], "rating"),
        old.predict(
            model._check_X(X_new[far], reset=False)[0],
            num_iteration=model.best_iteration_["rating"],
        ),  # fmt: skip
        rtol=0,
        atol=0,
    )


@pytest.mark.parametrize("strategy", ["separate", "finetune"])
def test_the_leaf_refit_helper_computes_and_only_update_assigns(data, strategy):
    """``refit_leaves`` returns the refitted boosters and leaves the heads as
    they were; ``update`` assigns exactly those boosters."""
    import copy

    from mtlclassic.boosting._lgbm_input import check_eval_set, check_weights
    from mtlclassic.boosting._lgbm_update import refit_leaves

    X, Y = data
    X = drop_time(X)
    Y = Y[[c for c in Y.columns if c != "rating"]]  # binary tasks: one shared kind
    heads = MultiTaskLGBM(strategy=strategy, **COMMON).fit(X.iloc[:1000], Y.iloc[:1000])

    def dumps(est):
        out = {n: b.model_to_string() for n, b in est.boosters_.items()}
        if est.shared_booster_ is not None:
            out["<shared>"] = est.shared_booster_.model_to_string()
        return out

    before = dumps(heads)
    names, kinds = list(heads.tasks_), list(heads.tasks_.values())
    new = check_eval_set(heads, (X.iloc[1000:], Y.iloc[1000:]), names, kinds,
                         where="update", allow_empty=True)  # fmt: skip
    weights = check_weights(None, new.mask, names)
    updated, changed = refit_leaves(heads, new, weights, 0.5)
    assert dumps(heads) == before
    assert updated and set(changed) <= {"boosters_", "shared_booster_"}
    after = copy.deepcopy(heads).update(X.iloc[1000:], Y.iloc[1000:], decay_rate=0.5)
    expected = {n: b.model_to_string() for n, b in changed["boosters_"].items()}
    if "shared_booster_" in changed:
        expected["<shared>"] = changed["shared_booster_"].model_to_string()
    assert dumps(after) == {**before, **expected} != before


@pytest.mark.parametrize("seed", [None, 0, 7, 2**31 - 1])
def test_a_row_sequence_builds_the_dataset_of_the_copied_rows(seed):
    """``row_sequence(F, idx)`` (rows read in batches, no copy) with
    ``sequence_params`` gives LightGBM the Dataset of ``F[idx]``: the same
    trees, to the model text, with a categorical feature, weights, init
    scores and missing values, over several batches, binned on a sample of
    the rows drawn with ``seed``."""
    import lightgbm as lgb

    from mtlclassic.boosting._lgbm_train import row_sequence, sequence_params

    rng = np.random.RandomState(0)
    F = rng.normal(size=(3000, 5))
    F[:, 2] = rng.randint(0, 4, size=F.shape[0])
    F[rng.rand(F.shape[0]) < 0.05, 1] = np.nan
    y = F[:, 0] + (F[:, 2] == 1) + 0.3 * rng.normal(size=F.shape[0])
    idx = np.sort(rng.choice(F.shape[0], 1700, replace=False))
    w, init = rng.uniform(0.5, 2.0, idx.size), 0.1 * rng.normal(size=idx.size)
    params = {"objective": "regression", "verbosity": -1, "num_threads": 1,
              "min_data_in_leaf": 5, "bin_construct_sample_cnt": 500}  # fmt: skip
    if seed is not None:
        params["seed"] = seed

    def train(X, dataset_params):
        data = lgb.Dataset(X, y[idx], weight=w, init_score=init,
                           categorical_feature=[2], params=dataset_params)  # fmt: skip
        return lgb.train(params, data, num_boost_round=15).model_to_string()

    sequence = row_sequence(lgb, F, idx)
    sequence.batch_size = 256  # several batches
    copied = train(F[idx], params)
    assert train(sequence, sequence_params(params)) == copied
    if seed is not None:  # without the derived seed: other rows for the bins
        assert train(row_sequence(lgb, F, idx), params) != copied


def _mixed_frame(n, seed):
    """A DataFrame of every kind of feature column, with missing values."""
    rng = np.random.RandomState(seed)
    X = pd.DataFrame(
        {
            "f64": rng.normal(size=n),
            "f32": rng.normal(size=n).astype(np.float32),
            "i64": rng.randint(-5, 5, size=n),
            "flag": rng.rand(n) < 0.3,
            "nullable": pd.array(rng.randint(0, 9, size=n), dtype="Int64"),
            "obj": pd.Series(rng.normal(size=n), dtype=object),
            "cat": pd.Categorical(rng.choice(["a", "b", "c", "d"], size=n)),
        }
    )
    X.loc[rng.rand(n) < 0.05, "f64"] = np.nan
    X.loc[rng.rand(n) < 0.05, "f32"] = np.nan
    X.loc[rng.rand(n) < 0.05, "nullable"] = pd.NA
    X.loc[rng.rand(n) < 0.05, "cat"] = np.nan
    return X


def test_frame_columns_read_the_values_of_frame_matrix():
    """``FrameColumns`` (a fit's features, not copied) gives what
    ``frame_matrix`` (the (n, d) float64 copy) does, to the bit: rows, row
    sets, slices, single rows and single columns; an unseen category and a
    missing value are NaN; numeric columns are the frame's own arrays."""
    from mtlclassic.boosting._lgbm_input import FrameColumns, frame_matrix

    X = _mixed_frame(500, 0)
    columns = list(X.columns)
    categories = {"cat": ["b", "c", "z"]}  # "a" and "d" unseen in this fit
    expected = frame_matrix(X, columns, categories)
    F = FrameColumns(X, columns, categories)
    assert F.shape == expected.shape == (500, 7) and len(F) == 500
    assert_array_equal(np.asarray(F), expected)
    idx = np.array([499, 3, 3, 0, 250])
    assert_array_equal(F[idx], expected[idx])
    assert_array_equal(F[10:20], expected[10:20])
    assert_array_equal(F[7], expected[7])
    assert_array_equal(F[idx, 6], expected[idx, 6])
    assert_array_equal(F[:, 1], expected[:, 1])
    assert np.isnan(expected[X["cat"].isin(["a", "d"]).to_numpy(), 6]).all()
    assert np.shares_memory(F.arrays[0], X["f64"].to_numpy())
    bad = X.assign(f64=X["f64"].where(X.index != 4, np.inf))
    with pytest.raises(ValueError, match="infinity"):
        FrameColumns(bad, columns, categories)
    with pytest.raises(TypeError, match="'obj' must be numeric"):
        FrameColumns(X.assign(obj="text"), columns, categories)


def test_a_fit_copies_small_feature_matrices_and_reads_large_ones(monkeypatch):
    """``fit_features``: the float64 matrix up to ``LAZY_FEATURE_BYTES`` (8
    bytes per row and feature), the columns above it."""
    from mtlclassic.boosting import _lgbm_input

    X = _mixed_frame(100, 0)
    columns, categories = list(X.columns), {"cat": ["a", "b"]}
    monkeypatch.setattr(_lgbm_input, "LAZY_FEATURE_BYTES", 8 * 100 * 7)
    small = _lgbm_input.fit_features(X, columns, categories)
    assert type(small) is np.ndarray
    monkeypatch.setattr(_lgbm_input, "LAZY_FEATURE_BYTES", 8 * 100 * 7 - 1)
    large = _lgbm_input.fit_features(X, columns, categories)
    assert isinstance(large, _lgbm_input.FrameColumns)
    assert_array_equal(np.asarray(large), small)


@pytest.mark.parametrize(
    "case", ["refit", "early stopping", "no early stopping", "eval_set"]
)
def test_a_fit_on_a_dataframe_grows_the_trees_of_its_feature_matrix(case, monkeypatch):
    """A DataFrame's features reach LightGBM from a ``lightgbm.Sequence`` over
    its columns (no float64 copy of the frame); the boosters are those of the
    materialised matrix, to the model text, with the bins drawn from a sample
    of the rows (``bin_construct_sample_cnt`` below the row count, served
    from several blocks of rows), a categorical column, a fully and a partly
    labelled task: refitted, early-stopped only, without early stopping and
    with an ``eval_set``. (A fit reads the columns above
    ``LAZY_FEATURE_BYTES``; 0 here: always.)"""
    from mtlclassic.boosting import _lgbm_input, _multitask_lgbm

    monkeypatch.setattr(_lgbm_input, "LAZY_FEATURE_BYTES", 0)
    n = 5000  # above the 4096 rows of a block of the bin sample
    X = _mixed_frame(n, 1).drop(columns="obj")  # fit wants numeric dtypes
    rng = np.random.RandomState(2)
    signal = X["f64"].fillna(0).to_numpy() + (X["cat"] == "b").to_numpy()
    Y = pd.DataFrame(
        {
            "score": signal + 0.5 * rng.normal(size=n),
            "buy": (signal + rng.normal(size=n) > 0.5).astype(float),
        }
    )
    Y.loc[rng.rand(n) < 0.4, "buy"] = np.nan
    params = dict(
        n_estimators=30, learning_rate=0.2, num_leaves=7, n_jobs=1, random_state=3,
        early_stopping_rounds=None if case == "no early stopping" else 5,
        refit=case == "refit",
        task_params={t: {"bin_construct_sample_cnt": 700} for t in Y},
    )  # fmt: skip
    fit = {}
    if case == "eval_set":
        X_val = _mixed_frame(800, 5).drop(columns="obj")
        Y_val = Y.iloc[:800].set_axis(X_val.index)
        fit = {"eval_set": (X_val, Y_val)}
    seen = []
    real_dataset = lgb.Dataset

    def dataset(data, *args, **kwargs):
        seen.append(type(data).__name__)
        return real_dataset(data, *args, **kwargs)

    monkeypatch.setattr(lgb, "Dataset", dataset)
    lazy = MultiTaskLGBM(**params).fit(X, Y, **fit)
    # every labelled row of a task binned from the columns (the refit: every
    # task; else the fully labelled one); held-out rows are copied
    assert seen.count("Rows") == {"refit": 2, "early stopping": 0}.get(case, 1)
    # the same fit from the (n, d) float64 matrix
    check_X = _multitask_lgbm.MultiTaskLGBM._check_X
    monkeypatch.setattr(
        _multitask_lgbm.MultiTaskLGBM,
        "_check_X",
        lambda self, X, *, reset, lazy=False: check_X(self, X, reset=reset),
    )
    copied = MultiTaskLGBM(**params).fit(X, Y, **fit)
    for task in Y:
        assert (
            lazy.boosters_[task].model_to_string()
            == copied.boosters_[task].model_to_string()
        )


@pytest.mark.parametrize(
    "case",
    ["plain", "weights then none", "offset then none", "other params",
     "array params", "pandas params", "other rows"],
)  # fmt: skip
def test_tasks_on_the_same_rows_share_one_binned_dataset(case, monkeypatch):
    """With ``refit``, a task labelled on the rows of an earlier task takes
    that task's binned Dataset with its own labels, weights and offset: the
    trees are those of a Dataset binned for it alone, to the model text. A
    weight or an offset the earlier task had and this one has not is cleared
    (``set_weight(None)`` alone would keep it); other Dataset parameters bin
    anew (array parameters compared by content); a Dataset is kept only
    while a later task can take it."""
    from mtlclassic.boosting import _lgbm_train

    rng = np.random.RandomState(4)
    n = 3000
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=list("abcd"))
    X["offset"] = 0.8 * X["a"]
    Y = pd.DataFrame(
        {
            "first": X["a"] + X["b"] ** 2 + 0.3 * rng.normal(size=n),
            "second": (X["c"] - X["a"] + rng.normal(size=n) > 0).astype(float),
            "third": X["d"] * X["b"] + 0.3 * rng.normal(size=n),
        }
    )
    params = dict(
        n_estimators=40, learning_rate=0.2, num_leaves=7, n_jobs=1, random_state=3,
        early_stopping_rounds=5, refit=True,
    )  # fmt: skip
    fit = {}
    if case == "weights then none":  # the first task weighted, the others not
        weights = np.ones((n, 3))
        weights[:, 0] = rng.uniform(0.2, 3.0, n)
        fit["sample_weight"] = weights
    if case == "offset then none":
        params["init_score"] = {"first": "offset"}
    if case == "other params":
        params["task_params"] = {"second": {"max_bin": 31}}
    if case == "array params":  # equal arrays in two tasks, another in the third
        params["task_params"] = {
            "first": {"monotone_constraints": np.array([1, 0, 0, 0, 0])},
            "second": {"monotone_constraints": np.array([1, 0, 0, 0, 0])},
            "third": {"monotone_constraints": np.array([0, 1, 0, 0, 0])},
        }
    if case == "pandas params":  # lists of pandas Index: == gives arrays
        groups = [pd.Index([0, 1]), pd.Index([2, 3, 4])]
        params["task_params"] = {t: {"interaction_constraints": groups} for t in Y}
    if case == "other rows":  # each task labelled on rows of its own
        for task, drop in zip(Y, (0, 1, 2)):
            Y.loc[Y.index % 3 == drop, task] = np.nan
    kept = []  # what the BinnedRows of each fit keeps after every task
    real_keep, real_take = _lgbm_train.BinnedRows.keep, _lgbm_train.BinnedRows.take

    def keep(self, *args):
        real_keep(self, *args)
        kept.append(len(self.kept))

    def take(self, *args, **kwargs):
        found = real_take(self, *args, **kwargs)
        kept.append(len(self.kept))
        return found

    monkeypatch.setattr(_lgbm_train.BinnedRows, "keep", keep)
    monkeypatch.setattr(_lgbm_train.BinnedRows, "take", take)
    built = []
    real_construct = lgb.Dataset.construct

    def construct(self):
        if self._handle is None and self.used_indices is None:
            built.append(self)
        return real_construct(self)

    monkeypatch.setattr(lgb.Dataset, "construct", construct)
    shared = MultiTaskLGBM(**params).fit(X, Y, **fit)
    # one binned Dataset of every row, one more for other bins or rows
    assert len(built) == {"other params": 2, "array params": 2, "other rows": 3}.get(
        case, 1
    )
    # kept until the last task that can take it has: nothing held at the end
    assert kept[-1] == 0 and max(kept) <= 1
    if case == "other rows":
        assert max(kept) == 0  # no later task can take any of them
    built.clear()
    monkeypatch.setattr(_lgbm_train.BinnedRows, "take", lambda self, *a: None)
    alone = MultiTaskLGBM(**params).fit(X, Y, **fit)
    assert len(built) == 3
    for task in Y:
        assert shared.best_iteration_[task] > 0
        assert (
            shared.boosters_[task].model_to_string()
            == alone.boosters_[task].model_to_string()
        )


@pytest.mark.parametrize(
    "alias, name, value",
    [
        ("max_leaves", "num_leaves", 4),
        ("eta", "learning_rate", 0.3),
        ("min_samples_leaf", "min_data_in_leaf", 200),
        ("sub_row", "bagging_fraction", 0.5),
    ],
)
def test_task_params_by_lightgbm_alias_equal_the_main_name(alias, name, value):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.standard_normal((600, 4)), columns=list("abcd"))
    Y = pd.DataFrame({"rating": X["a"] * 2 + rng.standard_normal(600),
                      "click": (X["b"] > 0).astype(float)})  # fmt: skip

    def fit(params):
        return MultiTaskLGBM(
            n_estimators=15, random_state=0, n_jobs=1, task_params={"rating": params}
        ).fit(X, Y)

    by_alias, by_name, default = fit({alias: value}), fit({name: value}), fit({})
    assert_array_equal(by_alias.predict(X), by_name.predict(X))
    assert not np.array_equal(by_alias.predict(X)[:, 0], default.predict(X)[:, 0])
    assert_array_equal(by_alias.predict(X)[:, 1], default.predict(X)[:, 1])  # click


def test_categorical_features_named_as_text_for_int_columns_says_so():
    """The message listed the int names as text, the very strings refused."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((60, 3)))
    Y = pd.DataFrame({"r": rng.random(60)})
    with pytest.raises(
        ValueError,
        match=r"names \['1'\].* features are \[0, 1, 2\] "
        r"\(not text: list them as they are named\)",
    ):
        MultiTaskLGBM(categorical_features=["1"], n_jobs=1).fit(X, Y)
    X[1] = rng.integers(0, 3, 60)
    model = MultiTaskLGBM(categorical_features=[1], n_estimators=5, n_jobs=1)
    assert list(model.fit(X, Y).categories_) == [1]


def test_task_params_values_are_refused_naming_the_task():
    """LightGBM's own 'Check failed' named neither the task nor task_params, and
    n_estimators=2.7 was cut to 2 trees."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((80, 2)), columns=["a", "b"])
    Y = pd.DataFrame({"r": X.a + rng.random(80) * 0.1, "s": X.b})
    for params, match in (({"learning_rate": -1.0}, r"booster of 'r'.*learning_rate"),
                          ({"num_leaves": 1}, r"booster of 'r'.*num_leaves"),
                          ({"n_estimators": 0}, r"\['r'\]\['n_estimators'\] must be"),
                          ({"n_estimators": 2.7}, r"must be an int >= 1; got 2.7"),
                          ({"early_stopping_rounds": 0}, "an int >= 1 or None"),
                          ):  # fmt: skip
        for extra in ({}, {"early_stopping_rounds": 3, "refit": True}):
            model = MultiTaskLGBM(n_estimators=5, n_jobs=1, task_params={"r": params},
                                  **extra)  # fmt: skip
            with pytest.raises(ValueError, match=match):
                model.fit(X, Y)
    with pytest.raises(ValueError, match=r"\['num_iterations'\] must be an int >= 1"):
        MultiTaskLGBM(n_jobs=1, task_params={"r": {"num_iterations": 0}}).fit(X, Y)
    # LightGBM's own names and numpy ints mean what the library's names mean
    stop = {"r": {"early_stopping_rounds": 3}}
    mine = MultiTaskLGBM(n_estimators=50, n_jobs=1, random_state=0,
                         task_params=stop).fit(X, Y)  # fmt: skip
    for alias in ({"early_stopping_round": 3}, {"early_stopping_rounds": np.int64(3)}):
        other = MultiTaskLGBM(n_estimators=50, n_jobs=1, random_state=0,
                              task_params={"r": alias}).fit(X, Y)  # fmt: skip
        assert other.best_iteration_ == mine.best_iteration_
    ok = MultiTaskLGBM(n_estimators=5, n_jobs=1, task_params={"r": {"n_estimators": 3}})
    assert ok.fit(X, Y).boosters_["r"].num_trees() == 3


def test_int64_query_ids_beyond_2_53_in_an_array_stay_apart():
    # the array was converted to float64 before its query column was read: 40
    # hashed ids became 21 queries; oracle: lgb.train with the 40 true groups
    rng = np.random.default_rng(0)
    q = np.repeat(np.int64(2**53) + np.arange(40, dtype=np.int64), 10)
    feats = rng.integers(-1000, 1000, size=(q.size, 2))
    y = np.clip(np.round(feats[:, 0] / 500 + 1 + rng.normal(scale=0.5, size=q.size)),
                0, 3)  # fmt: skip
    kw = dict(tasks=["ranking"], n_estimators=20, n_jobs=1, random_state=0,
              min_child_samples=5, early_stopping_rounds=None)  # fmt: skip
    model = MultiTaskLGBM(query_col=0, **kw).fit(np.column_stack([q, feats]), y)
    params = dict(objective="lambdarank", learning_rate=0.05, num_leaves=31,
                  min_data_in_leaf=5, num_threads=1, seed=0, deterministic=True,
                  verbosity=-1, force_row_wise=True)  # fmt: skip
    data = lgb.Dataset(feats.astype(float), y, group=np.full(40, 10))
    oracle = lgb.train(params, data, 20).predict(feats.astype(float))
    assert_allclose(model.predict(np.column_stack([q, feats])), oracle, rtol=1e-12)


def test_a_huge_relevance_grade_is_advised_to_be_binned():
    # the advice was list(range(10000000001)) gains
    X = pd.DataFrame({"qid": np.repeat([0, 1], 5), "f": np.arange(10.0)})
    y = pd.DataFrame({"rel": [0, 1, 2, 1e10, 0, 1, 0, 2, 1, 0]})
    with pytest.raises(ValueError, match=r"grade 10000000000.*Bin the grades"):
        MultiTaskLGBM(tasks=["ranking"], query_col="qid", n_jobs=1).fit(X, y)


def test_update_refuses_a_missing_offset_as_fit_does():
    # update took a NaN init_score offset as 0 (the whole label into the leaves)
    X, Y = make_multitask_recsys(n_users=80, n_items=50, n_events=3000, random_state=0)
    X = X.drop(columns=["timestamp"])
    X["off_rating"] = 3.0 + np.random.default_rng(0).normal(size=len(X)) * 0.3
    Y = Y[["rating"]]
    model = MultiTaskLGBM(n_estimators=15, num_leaves=7, random_state=0, n_jobs=1,
                          init_score={"rating": "off_rating"})  # fmt: skip
    model.fit(X.iloc[:2500], Y.iloc[:2500])
    X_new = X.iloc[2500:].copy()
    row = np.flatnonzero(Y.iloc[2500:]["rating"].notna())[0]
    X_new.iloc[row, X_new.columns.get_loc("off_rating")] = np.nan
    trees = model.boosters_["rating"].model_to_string()
    with pytest.raises(ValueError, match="'off_rating' .*an offset must be finite"):
        model.update(X_new, Y.iloc[2500:])
    assert model.boosters_["rating"].model_to_string() == trees
