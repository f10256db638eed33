"""Dynamic task weights (uncertainty, MGDA) against closed forms and brute force."""

import itertools

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.special import expit

from mtlclassic import MultiTaskLGBM
from mtlclassic._task_weights import (
    check_task_weights,
    min_norm_weights,
    uncertainty_weights,
)


def _brute_force_min_norm(G, steps=400):
    """Grid search of the simplex (2 or 3 tasks) for min alpha' G alpha."""
    T = G.shape[0]
    grid = np.linspace(0.0, 1.0, steps + 1)
    best, best_value = None, np.inf
    for head in itertools.product(grid, repeat=T - 1):
        if sum(head) > 1 + 1e-12:
            continue
        alpha = np.array([*head, 1.0 - sum(head)])
        value = alpha @ G @ alpha
        if value < best_value:
            best, best_value = alpha, value
    return best, best_value


@pytest.mark.parametrize("seed", range(4))
def test_min_norm_weights_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(3, 5))
    g[2] = g[0] + 0.1 * rng.normal(size=5)  # two nearly parallel gradients
    G = g @ g.T
    alpha = min_norm_weights(G)
    best, value = _brute_force_min_norm(G)
    assert alpha.min() >= 0 and np.isclose(alpha.sum(), 1.0)
    assert alpha @ G @ alpha <= value + 1e-12  # never worse than the grid
    assert_allclose(alpha, best, atol=5e-3)  # the grid's resolution


def test_min_norm_weights_closed_form_and_kkt():
    G = np.diag([1.0, 4.0, 0.25])  # orthogonal gradients
    assert_allclose(min_norm_weights(G), [4 / 21, 1 / 21, 16 / 21])
    rng = np.random.default_rng(0)
    g = rng.normal(size=(12, 30))  # 12 tasks, checked by the KKT conditions
    G = g @ g.T
    alpha = min_norm_weights(G)
    grad = G @ alpha
    support = alpha > 1e-8
    assert np.ptp(grad[support]) < 1e-6 * grad.max()
    assert grad.min() >= alpha @ grad - 1e-6 * grad.max()


def test_uncertainty_weights_and_checks():
    # sigma^2 = 2 L (regression) or L (binary); w = 1/(2 sigma^2), mean 1
    w = uncertainty_weights(np.array([0.5, 50.0, 0.7]), np.array([True, True, False]))
    raw = np.array([1 / 2.0, 1 / 200.0, 1 / 1.4])
    assert_allclose(w, raw * 3 / raw.sum())
    fixed, rule = check_task_weights({"b": 2.0}, ["a", "b"])
    assert_allclose(fixed, [1.0, 2.0]) and rule is None
    with pytest.raises(ValueError, match="not among"):
        check_task_weights({"c": 2.0}, ["a", "b"])
    with pytest.raises(ValueError, match="strictly positive"):
        check_task_weights({"a": 0.0}, ["a", "b"])
    with pytest.raises(ValueError, match="task_weights must be None"):
        check_task_weights("equal", ["a", "b"])


def _rescaled_tasks(n=1200, scale=10.0, seed=0, same_rows=False):
    """Two regression tasks, the second the first times ``scale``."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=list("abcd"))
    y = X["a"] - 2 * X["b"] ** 2 + 0.5 * rng.normal(size=n)
    first = np.ones(n, bool) if same_rows else np.arange(n) % 2 == 0
    second = np.ones(n, bool) if same_rows else ~first
    Y = pd.DataFrame({"small": np.where(first, y, np.nan),
                      "large": np.where(second, scale * y, np.nan)})  # fmt: skip
    return X, Y


def _raw_at(model, X, Y, round_):
    """Each shared task's training rows, labels and raw scores after ``round_``."""
    out = []
    for t, task in enumerate(model.shared_tasks_):
        rows = Y[task].notna().to_numpy()
        F = np.column_stack([X.to_numpy()[rows], np.full(rows.sum(), float(t))])
        raw = model.shared_booster_.predict(F, raw_score=True, num_iteration=round_)
        out.append((Y[task].to_numpy()[rows], raw + model.shared_init_score_[task]))
    return out


def test_uncertainty_weighting_recovers_the_scale_ratio():
    X, Y = _rescaled_tasks(scale=10.0, same_rows=True)
    model = MultiTaskLGBM(
        strategy="shared", task_weights="uncertainty", task_weight_interval=5,
        n_estimators=30, random_state=0, n_jobs=1,
    ).fit(X, Y)  # fmt: skip
    history = model.task_weights_history_
    assert history.shape == (30, 2)
    # round 0, every row at its task's mean: residuals in the ratio 1 : 10
    assert_allclose(history[0, 0] / history[0, 1], 100.0, rtol=1e-6)
    assert np.all(history[1:5] == history[0])  # re-estimated every 5 rounds
    for round_ in (5, 10, 25):  # each estimate: 1/(2 sigma^2) of that round
        losses = [
            np.mean((y - raw) ** 2) / 2 for y, raw in _raw_at(model, X, Y, round_)
        ]
        want = uncertainty_weights(np.array(losses), np.array([True, True]))
        assert_allclose(history[round_], want, rtol=1e-5)
    assert_allclose(model.task_weights_, history[-1])


def test_mgda_weights_are_the_min_norm_combination_of_the_task_gradients():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(900, 3)), columns=list("abc"))
    p = expit(X["a"] - X["b"])
    Y = pd.DataFrame({
        "click": np.where(np.arange(900) < 600, rng.random(900) < p, np.nan),
        "buy": np.where(np.arange(900) >= 500, rng.random(900) < p / 3, np.nan),
    }).astype(float)  # fmt: skip
    model = MultiTaskLGBM(
        strategy="shared", task_weights="mgda", task_weight_interval=4,
        n_estimators=20, random_state=0, n_jobs=1,
    ).fit(X, Y)  # fmt: skip
    for round_ in (0, 8, 16):  # gradients sigma(f) - y on each task's rows
        grads = [expit(raw) - y for y, raw in _raw_at(model, X, Y, round_)]
        if round_ == 0:  # the booster's 0 means all its trees: use base rates
            grads = [expit(model.shared_init_score_[t]) - Y[t].dropna().to_numpy()
                     for t in model.shared_tasks_]  # fmt: skip
        G = np.diag([g @ g for g in grads])  # disjoint rows: orthogonal
        best, _ = _brute_force_min_norm(G, steps=20_000)
        assert_allclose(model.task_weights_history_[round_] / 2, best, atol=1e-4)


def test_fixed_task_weights_equal_row_weights():
    X, Y = _rescaled_tasks(scale=3.0)
    kw = dict(strategy="shared", n_estimators=20, random_state=0, n_jobs=1)
    weighted = MultiTaskLGBM(task_weights={"large": 0.25}, **kw).fit(X, Y)
    sw = np.column_stack([np.ones(len(X)), np.full(len(X), 0.25)])
    manual = MultiTaskLGBM(**kw).fit(X, Y, sample_weight=sw)
    assert_allclose(weighted.predict(X), manual.predict(X), rtol=1e-12)
    assert_allclose(weighted.task_weights_, [1.0, 0.25])
    plain = MultiTaskLGBM(**kw).fit(X, Y)
    assert not np.allclose(plain.predict(X), weighted.predict(X))


def test_task_weights_errors():
    X, Y = _rescaled_tasks()
    with pytest.raises(ValueError, match="strategy='shared' or 'finetune'"):
        MultiTaskLGBM(task_weights="mgda", n_estimators=2).fit(X, Y)
    with pytest.raises(ValueError, match="not among"):
        MultiTaskLGBM(strategy="shared", task_weights={"x": 1.0}).fit(X, Y)
    model = MultiTaskLGBM(
        strategy="finetune", task_weights="uncertainty", n_estimators=5,
        finetune_n_estimators=3, random_state=0, n_jobs=1,
    ).fit(X, Y)  # fmt: skip
    with pytest.raises(ValueError, match="dynamic weights"):
        model.update(X.iloc[:10], Y.iloc[:10])


def _linear_problem(n=160, d=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d, 2)) @ rng.standard_normal((2, 3))
    Z = X @ W + 0.5 * rng.standard_normal((n, 3))
    Y = np.column_stack([Z[:, 0], (Z[:, 1] > 0).astype(float), 30.0 * Z[:, 2]])
    Y[rng.rand(n, 3) < 0.3] = np.nan
    return X, Y


@pytest.mark.parametrize("shared", [False, True])
def test_linear_mgda_weights_are_min_norm_at_the_solution(shared):
    from mtlclassic.linear_model import L21MultiTask, TraceNormMultiTask

    X, Y = _linear_problem()
    kw = dict(fit_intercept=False, standardize=False, standardize_targets=False,
              task_weights="mgda", tol=1e-10, max_iter=5000)  # fmt: skip
    model = (L21MultiTask(0.02, shared=True, **kw) if shared
             else TraceNormMultiTask(0.02, **kw)).fit(X, Y)  # fmt: skip
    grads = []
    for t in range(3):  # gradient of task t's mean loss in its coefficients
        rows = ~np.isnan(Y[:, t])
        z = X[rows] @ model.coef_[t]
        slope = expit(z) - Y[rows, t] if t == 1 else z - Y[rows, t]
        grads.append(X[rows].T @ slope / rows.sum())
    g = np.array(grads)
    G = np.diag(np.sum(g * g, axis=1)) + (g @ g.T if shared else 0.0)
    best, _ = _brute_force_min_norm(G, steps=600)
    # the fixed point is reached to the rounds' 0.1 percent tolerance
    assert_allclose(model.task_weights_ / 3, best, atol=3e-3)
    assert_allclose(model.task_weights_ / 3, min_norm_weights(G), atol=2e-3)


def test_linear_task_weights_by_name_equal_the_array():
    from mtlclassic.linear_model import TraceNormMultiTask

    X, Y = _linear_problem()
    frame = pd.DataFrame(Y, columns=["a", "b", "c"])
    by_name = TraceNormMultiTask(0.05, task_weights={"c": 0.1}).fit(X, frame)
    by_array = TraceNormMultiTask(0.05, task_weights=[1.0, 1.0, 0.1]).fit(X, frame)
    assert_allclose(by_name.coef_, by_array.coef_)
    with pytest.raises(ValueError, match="not among"):
        TraceNormMultiTask(0.05, task_weights={"d": 0.1}).fit(X, frame)


@pytest.mark.parametrize("rule", ["uncertainty", "mgda"])
def test_one_shared_task_with_a_dynamic_rule_is_the_plain_shared_booster(rule):
    # its weight is 1 at every round; LightGBM's custom-objective path refused
    # data with no splittable feature (LightGBM #5667)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = X[:, 0] + rng.normal(size=30)
    params = dict(strategy="shared", n_estimators=10, random_state=0, n_jobs=1)
    dynamic = MultiTaskLGBM(task_weights=rule, **params).fit(X, y)
    plain = MultiTaskLGBM(**params).fit(X, y)
    np.testing.assert_array_equal(dynamic.predict(X), plain.predict(X))
    np.testing.assert_array_equal(dynamic.task_weights_, [1.0])
    X = rng.normal(size=(300, 3))
    y = X[:, 0] + rng.normal(size=300)
    dynamic = MultiTaskLGBM(task_weights=rule, **params).fit(X, y)
    plain = MultiTaskLGBM(**params).fit(X, y)
    np.testing.assert_array_equal(dynamic.predict(X), plain.predict(X))


def test_a_separate_refit_forgets_the_shared_boosters_task_weights():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    Y = np.c_[X[:, 0] + rng.normal(size=300), X[:, 1] > 0].astype(float)
    model = MultiTaskLGBM(strategy="shared", task_weights="uncertainty",
                          n_estimators=10, random_state=0).fit(X, Y)  # fmt: skip
    assert model.task_weights_.shape == (2,)
    model.set_params(strategy="separate", task_weights=None).fit(X, Y)
    fresh = MultiTaskLGBM(n_estimators=10, random_state=0).fit(X, Y)
    assert set(vars(model)) == set(vars(fresh))
