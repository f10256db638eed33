"""Behaviour of the task-relationship linear models: predictions, attributes,
task weights, warm starts, the path, and bad input."""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from mtlclassic.datasets import make_multitask_recsys
from mtlclassic.linear_model import (
    ClusteredMultiTask,
    L21MultiTask,
    TraceNormMultiTask,
    trace_norm_path,
)
from mtlclassic.metrics import multitask_score

TIGHT = dict(tol=1e-12, max_iter=50_000)
# trace_norm_path solves the objective as written: compare with raw fits
RAW = dict(standardize=False, standardize_targets=False, clip=False)


def mixed_problem(n=120, d=6, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d, 2)) @ rng.standard_normal((2, 3))
    Z = X @ W + rng.standard_normal((n, 3))
    Y = np.column_stack([Z[:, 0] + 2.0, (Z[:, 1] > 0).astype(float), Z[:, 2]])
    Y[rng.rand(n, 3) < 0.3] = np.nan
    Y[:4] = [[1.0, 0.0, 1.0], [2.0, 1.0, 2.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    return X, Y


ALL_MODELS = [
    TraceNormMultiTask(0.05),
    L21MultiTask(0.05),
    ClusteredMultiTask(0.05, beta=0.05, n_clusters=2),
]


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: type(m).__name__)
def test_predict_is_expected_value_per_task(model):
    X, Y = mixed_problem()
    model.fit(X, pd.DataFrame(Y, columns=["rating", "click", "watch"]))
    assert model.task_names_ == ["rating", "click", "watch"]
    assert model.task_kinds_ == ["regression", "binary", "regression"]
    scores = model.decision_function(X)
    assert_allclose(scores, X @ model.coef_.T + model.intercept_, rtol=1e-12)
    P = model.predict(X)
    assert_allclose(P[:, [0, 2]], scores[:, [0, 2]])
    assert_allclose(P[:, 1], expit(scores[:, 1]))
    assert model.score(X, Y) == pytest.approx(multitask_score(Y, P))


def test_regression_only_model_has_no_decision_function_and_1d_output():
    X, _ = mixed_problem()
    model = TraceNormMultiTask(0.05).fit(X, X[:, 0] + 0.5 * X[:, 1])
    assert not hasattr(model, "decision_function")
    assert model.predict(X).shape == (X.shape[0],)
    binary = L21MultiTask(0.01).fit(X, (X[:, 0] > 0).astype(float))
    assert binary.predict(X).shape == (X.shape[0],)
    assert_allclose(binary.predict(X), expit(binary.decision_function(X)))


def test_task_similarity_and_singular_values_are_plain_arrays():
    X, Y = mixed_problem()
    model = TraceNormMultiTask(0.05).fit(X, Y)
    C = model.coef_
    unit = C / np.linalg.norm(C, axis=1, keepdims=True)
    assert isinstance(model.task_similarity_, np.ndarray)
    assert_allclose(model.task_similarity_, unit @ unit.T, atol=1e-12)
    assert model.singular_values_.shape == (3,)
    assert np.all(np.diff(model.singular_values_) <= 0)


@pytest.mark.parametrize("shared", [False, True])
def test_integer_sample_weight_equals_repeated_rows(shared):
    """With the default feature scaling (weighted statistics).

    Not with standardize_targets: its shrinkage counts rows by Kish's effective
    size, so that multiplying every weight by a constant changes nothing (as
    the datafit, which normalises the weights per task); no count can be both
    scale-free and equal to the number of repeated rows.
    """
    X, Y = mixed_problem(n=60)
    sw = np.random.RandomState(1).randint(1, 4, size=60)
    model = TraceNormMultiTask(0.05, shared=shared, standardize_targets=False, **TIGHT)
    weighted = clone(model).fit(X, Y, sample_weight=sw)
    rows = np.repeat(np.arange(60), sw)
    repeated = clone(model).fit(X[rows], Y[rows])
    assert_allclose(weighted.coef_, repeated.coef_, atol=1e-8)
    assert_allclose(weighted.intercept_, repeated.intercept_, atol=1e-8)


def test_task_weights_scale_each_loss():
    """Weights (2, 2, 2) with alpha equal the unweighted fit with alpha / 2."""
    X, Y = mixed_problem()
    weighted = L21MultiTask(0.1, task_weights=[2.0, 2.0, 2.0], **TIGHT).fit(X, Y)
    plain = L21MultiTask(0.05, **TIGHT).fit(X, Y)
    assert_allclose(weighted.coef_, plain.coef_, atol=1e-8)


def test_uncertainty_weights_are_a_fixed_point():
    X, Y = mixed_problem()
    # the weights of the losses in the labels' units (standardize_targets=False)
    model = TraceNormMultiTask(
        0.05, task_weights="uncertainty", tol=1e-10, standardize_targets=False
    ).fit(X, Y)
    w = model.task_weights_
    assert w.mean() == pytest.approx(1.0)
    # recompute 1 / (2 sigma_t^2) from the final residuals
    P = model.decision_function(X)
    sigma2 = np.empty(3)
    for t in range(3):
        rows = ~np.isnan(Y[:, t])
        y, z = Y[rows, t], P[rows, t]
        if t == 1:
            sigma2[t] = np.mean(np.logaddexp(0, -(2 * y - 1) * z))
        else:
            sigma2[t] = np.mean((y - z) ** 2)
    expected = 1 / (2 * sigma2)
    assert_allclose(w, expected * 3 / expected.sum(), rtol=5e-3)
    fixed = TraceNormMultiTask(
        0.05, task_weights=w, tol=1e-10, standardize_targets=False
    ).fit(X, Y)
    assert_allclose(fixed.coef_, model.coef_, atol=1e-3)


def test_warm_start_restarts_from_the_solution():
    X, Y = mixed_problem()
    model = TraceNormMultiTask(0.05, warm_start=True, **TIGHT).fit(X, Y)
    coef = model.coef_.copy()
    first = model.n_iter_
    model.fit(X, Y)
    assert model.n_iter_ < first / 5
    assert_allclose(model.coef_, coef, atol=1e-8)


def test_path_matches_individual_fits():
    X, Y = mixed_problem()
    alphas, coefs, intercepts = trace_norm_path(X, Y, n_alphas=4, eps=0.05, **TIGHT)
    assert np.all(np.diff(alphas) < 0)
    assert np.all(coefs[0] == 0)
    for alpha, coef, b in zip(alphas[1:], coefs[1:], intercepts[1:]):
        model = TraceNormMultiTask(alpha, **TIGHT, **RAW).fit(X, Y)
        assert_allclose(coef, model.coef_, atol=1e-7)
        assert_allclose(b, model.intercept_, atol=1e-7)


def test_path_with_shared_component():
    X, Y = mixed_problem()
    alphas, coefs, _ = trace_norm_path(X, Y, n_alphas=3, shared=True, **TIGHT)
    # at alpha_max the deviations vanish: every task has the same weights
    assert_allclose(coefs[0], np.tile(coefs[0][0], (3, 1)), atol=1e-9)
    model = TraceNormMultiTask(alphas[-1], shared=True, **TIGHT, **RAW).fit(X, Y)
    assert_allclose(coefs[-1], model.coef_, atol=1e-7)


def test_grid_search_recipe_runs():
    X, Y = mixed_problem()
    search = GridSearchCV(TraceNormMultiTask(), {"alpha": [0.01, 0.1]}, cv=3)
    search.fit(X, Y)
    assert search.best_params_["alpha"] in (0.01, 0.1)


def test_fit_is_deterministic():
    X, Y = mixed_problem()
    a = ClusteredMultiTask(0.1, beta=0.1, n_clusters=2).fit(X, Y)
    b = ClusteredMultiTask(0.1, beta=0.1, n_clusters=2).fit(X, Y)
    assert_array_equal(a.coef_, b.coef_)
    assert_array_equal(a.task_clusters_, b.task_clusters_)


def test_convergence_warning():
    X, Y = mixed_problem()
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        TraceNormMultiTask(0.01, max_iter=2).fit(X, Y)


def test_does_not_modify_inputs():
    X, Y = mixed_problem()
    X0, Y0 = X.copy(), Y.copy()
    L21MultiTask(0.05).fit(X, Y).predict(X)
    assert_array_equal(X, X0)
    assert_array_equal(Y, Y0)


def test_recsys_side_features_mixed_tasks():
    X, Y = make_multitask_recsys(100, 40, 1500, random_state=0)
    features = X[["user_f0", "user_f1", "item_f0", "item_f1"]]
    model = TraceNormMultiTask(0.01, shared=True).fit(features, Y)
    assert list(model.feature_names_in_) == list(features.columns)
    assert model.task_kinds_ == ["regression", "binary", "binary"]
    P = model.predict(features)
    assert P.shape == (1500, 3)
    assert np.all((P[:, 1:] > 0) & (P[:, 1:] < 1))
    assert np.isfinite(model.score(features, Y))


# ---------------------------------------------------------------- bad input
def test_bad_input_messages():
    X, Y = mixed_problem()
    with pytest.raises(ValueError, match="n_clusters=4 must be at most the number"):
        ClusteredMultiTask(n_clusters=4).fit(X, Y)
    with pytest.raises(ValueError, match="task_weights must have one weight per"):
        TraceNormMultiTask(task_weights=[1.0, 2.0]).fit(X, Y)
    with pytest.raises(ValueError, match="task_weights must be finite and strictly"):
        TraceNormMultiTask(task_weights=[1.0, 0.0, 1.0]).fit(X, Y)
    with pytest.raises(ValueError, match="supported kinds"):
        L21MultiTask(tasks=["regression", "ranking", "regression"]).fit(X, Y)
    with pytest.raises(ValueError, match="requires y to be passed"):
        L21MultiTask().fit(X, None)
    with pytest.raises(ValueError, match="alpha"):
        L21MultiTask(alpha=-1.0).fit(X, Y)
    with pytest.raises(ValueError, match="beta"):
        ClusteredMultiTask(beta=0.0).fit(X, Y)
    with pytest.raises(ValueError, match="sample_weight is zero on every labelled"):
        sw = np.ones(X.shape[0])
        sw[~np.isnan(Y[:, 0])] = 0.0
        L21MultiTask().fit(X, Y, sample_weight=sw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = L21MultiTask(0.05).fit(X, Y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :3])


def test_objective_history_and_verbose(capsys):
    X, Y = mixed_problem()
    model = L21MultiTask(0.05, verbose=1).fit(X, Y)
    assert model.objective_.shape == (model.n_iter_ + 1,)
    assert model.objective_[-1] <= model.objective_[0]
    assert "gradient mapping" in capsys.readouterr().out
    Y_sq = np.where(np.isnan(Y), np.nan, X[:, :3] + 0.1)  # squared loss only
    TraceNormMultiTask(0.05, verbose=1, tol=1e-10).fit(X, Y_sq)
    assert "gap" in capsys.readouterr().out


def test_cv_fold_without_a_task_label_is_fitted_without_that_task():
    from mtlclassic.linear_model import MeanRegularizedMultiTaskCV

    rng = np.random.RandomState(0)
    X = rng.standard_normal((120, 4))
    Y = X @ rng.standard_normal((4, 3)) + rng.standard_normal((120, 3))
    Y[2:, 1] = np.nan  # a long-tail task: two labels, in one test fold here
    folds = [(np.arange(40, 120), np.arange(40)), (np.arange(40), np.arange(40, 120))]
    with pytest.warns(UserWarning, match=r"cv fold 0: tasks \['task_1'\] have no"):
        model = MeanRegularizedMultiTaskCV(n_alphas=3, cv=folds).fit(X, Y)
    assert model.coef_.shape == (3, 4)  # the refit on every row keeps the task
    # fold 0 predicted no row of task 1; fold 1 has no labelled test row of it
    assert np.all(np.isnan(model.cv_task_scores_[:, 1, :]))
    assert np.all(np.isfinite(model.oof_task_scores_[:, [0, 2]]))


def test_cv_accepts_pandas_nullable_labels_as_the_base_models_do():
    from mtlclassic.linear_model import TraceNormMultiTaskCV

    rng = np.random.RandomState(1)
    X = pd.DataFrame(rng.standard_normal((150, 4)))
    rating = X.to_numpy() @ rng.standard_normal(4) + rng.standard_normal(150)
    Y = pd.DataFrame(
        {
            "rating": pd.array(np.round(rating * 10), dtype="Int64"),
            "click": pd.array(rating > 0, dtype="boolean"),
        }
    )
    Y.loc[::7, "rating"] = pd.NA
    Y.loc[::5, "click"] = pd.NA
    nullable = TraceNormMultiTaskCV(n_alphas=4, cv=3).fit(X, Y)
    plain = TraceNormMultiTaskCV(n_alphas=4, cv=3).fit(X, Y.astype("float64"))
    assert nullable.task_names_ == ["rating", "click"]
    assert nullable.task_kinds_ == ["regression", "binary"]
    assert nullable.alpha_ == plain.alpha_
    assert_allclose(nullable.coef_, plain.coef_)


def test_cv_input_errors_name_the_parameter():
    from mtlclassic.linear_model import TraceNormMultiTaskCV

    X, Y = mixed_problem()
    with pytest.raises(ValueError, match="alphas must be a non-empty list of finite"):
        TraceNormMultiTaskCV(alphas=[1.0, np.nan, 0.1], cv=3).fit(X, Y)
    with pytest.raises(ValueError, match="sample_weight has 5 rows but X has"):
        TraceNormMultiTaskCV(cv=3).fit(X, Y, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="y has 5 rows but X has"):
        TraceNormMultiTaskCV(cv=3).fit(X, Y[:5])


def test_shared_is_ignored_with_one_task():
    """One task: w0 and V are one vector; shared=True would leave no penalty."""
    from mtlclassic.linear_model import TraceNormMultiTaskCV

    rng = np.random.RandomState(3)
    X = rng.standard_normal((100, 5))
    y = X @ rng.standard_normal(5) + rng.standard_normal(100)
    on = TraceNormMultiTaskCV(n_alphas=5, cv=3, shared=True).fit(X, y)
    off = TraceNormMultiTaskCV(n_alphas=5, cv=3, shared=False).fit(X, y)
    assert_allclose(on.alphas_, off.alphas_)
    assert on.alphas_[0] > 0.1  # a real path, not 1e-12 (least squares)
    assert_allclose(on.coef_, off.coef_)
    assert np.all(on.shared_coef_ == 0)


def test_cv_estimators_pass_groups_to_the_splitter():
    from sklearn.model_selection import GroupKFold

    from mtlclassic import TraceNormMultiTaskCV

    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 4))
    Y = np.c_[X[:, 0] + rng.standard_normal(120), X[:, 1] + rng.standard_normal(120)]
    groups = np.repeat(np.arange(12), 10)
    splitter = GroupKFold(3)
    by_groups = TraceNormMultiTaskCV(cv=splitter).fit(X, Y, groups=groups)
    folds = list(splitter.split(X, Y, groups))  # the oracle: the same folds given
    by_list = TraceNormMultiTaskCV(cv=folds).fit(X, Y)
    assert by_groups.alpha_ == by_list.alpha_
    np.testing.assert_allclose(by_groups.cv_scores_, by_list.cv_scores_)


def test_cv_models_refitted_on_an_array_forget_the_frames_column_names():
    from mtlclassic.linear_model import (
        ClusteredMultiTaskCV,
        L21MultiTaskCV,
        MeanRegularizedMultiTaskCV,
        TraceNormMultiTaskCV,
    )

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 4)), columns=["a", "b", "c", "d"])
    Y = X.to_numpy() @ rng.normal(size=(4, 2)) + rng.normal(size=(120, 2))
    A = rng.normal(size=(120, 3))
    YA = A @ rng.normal(size=(3, 2))
    for cls, extra in ((TraceNormMultiTaskCV, {}), (L21MultiTaskCV, {}),
                       (MeanRegularizedMultiTaskCV, {}),
                       (ClusteredMultiTaskCV, {"n_clusters": 1})):  # fmt: skip
        model = cls(n_alphas=3, cv=2, **extra).fit(X, Y).fit(A, YA)
        fresh = cls(n_alphas=3, cv=2, **extra).fit(A, YA)
        assert not hasattr(model, "feature_names_in_")
        assert set(vars(model)) == set(vars(fresh))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no "X does not have valid feature names"
            assert_array_equal(model.predict(A[:5]), fresh.predict(A[:5]))
