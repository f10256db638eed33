import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold

from mtlclassic import metrics as mm


@pytest.fixture
def masked_data():
    rng = np.random.RandomState(0)
    n = 300
    Y = np.column_stack([rng.normal(size=n), rng.binomial(1, 0.4, size=n)]).astype(
        float
    )
    P = np.column_stack(
        [
            Y[:, 0] + rng.normal(scale=0.5, size=n),
            np.clip(0.3 * Y[:, 1] + rng.uniform(size=n) * 0.7, 0.01, 0.99),
        ]
    )
    Y[rng.uniform(size=n) < 0.3, 0] = np.nan
    Y[rng.uniform(size=n) < 0.5, 1] = np.nan
    return Y, P


def test_masked_metrics_equal_sklearn_on_labelled_subset(masked_data):
    Y, P = masked_data
    m0, m1 = ~np.isnan(Y[:, 0]), ~np.isnan(Y[:, 1])
    np.testing.assert_allclose(
        mm.rmse(Y, P)[0], np.sqrt(skm.mean_squared_error(Y[m0, 0], P[m0, 0]))
    )
    np.testing.assert_allclose(
        mm.mae(Y, P)[0], skm.mean_absolute_error(Y[m0, 0], P[m0, 0])
    )
    np.testing.assert_allclose(mm.r2(Y, P)[0], skm.r2_score(Y[m0, 0], P[m0, 0]))
    np.testing.assert_allclose(
        mm.roc_auc(Y, P)[1], skm.roc_auc_score(Y[m1, 1], P[m1, 1])
    )
    np.testing.assert_allclose(mm.log_loss(Y, P)[1], skm.log_loss(Y[m1, 1], P[m1, 1]))
    np.testing.assert_allclose(
        mm.average_precision(Y, P)[1], skm.average_precision_score(Y[m1, 1], P[m1, 1])
    )


def test_multitask_report_and_score(masked_data):
    Y, P = masked_data
    Yd = pd.DataFrame(Y, columns=["rating", "click"])
    report = mm.multitask_report(Yd, P)
    assert list(report.index) == ["rating", "click"]
    assert report.loc["rating", "kind"] == "regression"
    assert report.loc["click", "n_labelled"] == int((~np.isnan(Y[:, 1])).sum())
    assert np.isnan(report.loc["rating", "roc_auc"]) and np.isnan(
        report.loc["click", "r2"]
    )
    np.testing.assert_allclose(report.loc["rating", "r2"], mm.r2(Y, P)[0])
    expected = (mm.r2(Y, P)[0] + mm.roc_auc(Y, P)[1]) / 2
    np.testing.assert_allclose(mm.multitask_score(Y, P), expected)


def test_metric_shape_errors():
    with pytest.raises(ValueError, match="Y_pred has shape"):
        mm.rmse(np.ones((3, 2)), np.ones((3, 1)))
    with pytest.raises(ValueError, match="NaN or inf"):
        mm.rmse(np.ones(3), np.array([1, np.nan, 1]))


def _ranking_data(seed=0, n_groups=40):
    rng = np.random.RandomState(seed)
    sizes = rng.randint(3, 25, size=n_groups)
    groups = np.repeat(rng.permutation(n_groups) * 7 + 3, sizes)  # non-contiguous ids
    y = rng.randint(0, 4, size=groups.size) * (rng.uniform(size=groups.size) < 0.4)
    score = rng.normal(size=groups.size)
    perm = rng.permutation(groups.size)  # groups interleaved
    return y[perm].astype(float), score[perm], groups[perm]


@pytest.mark.parametrize("k", [1, 5, 10])
def test_ndcg_equals_sklearn_per_group(k):
    y, s, g = _ranking_data()
    expected = []
    for gid in pd.unique(g):
        rows = g == gid
        if y[rows].sum() == 0 or rows.sum() < 2:
            continue
        expected.append(skm.ndcg_score([y[rows]], [s[rows]], k=k))
    np.testing.assert_allclose(
        mm.ndcg_at_k(y, s, g, k=k), np.mean(expected), rtol=1e-12
    )


def _loop_reference(y, s, g, k):
    """Straightforward per-group definitions, the oracle of the vectorised code."""
    out = {"precision": [], "recall": [], "map": [], "hit": []}
    for gid in pd.unique(g):
        rows = g == gid
        rel = y[rows][np.argsort(-s[rows], kind="stable")] > 0
        n_pos = rel.sum()
        if n_pos == 0:
            continue
        top = rel[:k]
        out["precision"].append(top.sum() / k)
        out["recall"].append(top.sum() / n_pos)
        prec = np.cumsum(top) / np.arange(1, top.size + 1)
        out["map"].append((prec * top).sum() / min(k, n_pos))
        out["hit"].append(float(top.any()))
    return {key: np.mean(v) for key, v in out.items()}


@pytest.mark.parametrize("k", [1, 3, 10])
def test_binary_ranking_metrics_equal_loop(k):
    y, s, g = _ranking_data(seed=1)
    ref = _loop_reference(y, s, g, k)
    np.testing.assert_allclose(mm.precision_at_k(y, s, g, k=k), ref["precision"])
    np.testing.assert_allclose(mm.recall_at_k(y, s, g, k=k), ref["recall"])
    np.testing.assert_allclose(mm.map_at_k(y, s, g, k=k), ref["map"])
    np.testing.assert_allclose(mm.hit_rate_at_k(y, s, g, k=k), ref["hit"])


def test_ranking_hand_computed_and_groups_without_positives():
    y = [1, 0, 0, 1, 0, 0, 0]
    s = [0.1, 0.9, 0.8, 0.7, 0.5, 0.4, 0.3]
    g = ["u", "u", "u", "u", "v", "v", "v"]  # v has no positive: left out
    # u ranked: 0.9(0) 0.8(0) 0.7(1) 0.1(1)
    assert mm.precision_at_k(y, s, g, k=2) == 0.0
    assert mm.precision_at_k(y, s, g, k=3) == pytest.approx(1 / 3)
    assert mm.recall_at_k(y, s, g, k=3) == pytest.approx(0.5)
    assert mm.map_at_k(y, s, g, k=4) == pytest.approx((1 / 3 + 2 / 4) / 2)
    assert mm.ndcg_at_k(y, s, g, k=4) == pytest.approx(
        (1 / np.log2(4) + 1 / np.log2(5)) / (1 + 1 / np.log2(3))
    )
    per = mm.hit_rate_at_k(y, s, g, k=3, return_per_group=True)
    assert per[0] == 1.0 and np.isnan(per[1])
    assert np.isnan(mm.ndcg_at_k([0, 0], [1, 2], [1, 1]))


def test_hit_rate_of_a_large_tied_block_against_exact_fractions():
    """P(hit) = 1 - C(s - p, m) / C(s, m) for a tied block cut by k, exactly.

    Log-gamma differences lost 1.4e-4 of it at 1e6 tied rows, 1.7e-2 at 1e7."""
    from fractions import Fraction
    from math import comb

    cases = [(10**6, 1, 10), (10**6, 3, 10), (200_000, 50, 4), (1000, 990, 10)]
    for size, relevant, k in cases:
        rel = np.zeros(size + 2)
        rel[2 : 2 + relevant] = 1
        score = np.r_[2.0, 1.0, np.zeros(size)]  # two irrelevant rows ahead
        got = mm.hit_rate_at_k(rel, score, np.zeros(size + 2), k)
        m = k - 2  # the block's positions in the top k
        exact = 1 - Fraction(comb(size - relevant, m), comb(size, m))
        assert got == pytest.approx(float(exact), rel=1e-12)


def test_ranking_bad_input():
    with pytest.raises(ValueError, match="same length"):
        mm.ndcg_at_k([1, 0], [0.1], [1, 1])
    with pytest.raises(ValueError, match="k must be a positive int"):
        mm.ndcg_at_k([1, 0], [0.1, 0.2], [1, 1], k=0)
    with pytest.raises(ValueError, match="non-negative"):
        mm.ndcg_at_k([-1, 0], [0.1, 0.2], [1, 1])


def _regression_and_binary(n, rng):
    """A regression and a binary task (a quarter unlabelled), a Ridge on them."""
    X = rng.normal(size=(n, 3))
    Y = np.column_stack(
        [X @ [1.0, 2.0, 0.0] + rng.normal(size=n), (X[:, 0] > 0).astype(float)]
    )
    Y[::4, 1] = np.nan
    est = Ridge().fit(X, np.nan_to_num(Y))
    return X, Y, est, est.predict(X), ~np.isnan(Y[:, 1])


def test_multitask_scorer_equals_manual_mean():
    X, Y, est, P, m = _regression_and_binary(60, np.random.RandomState(0))
    r2 = skm.r2_score(Y[:, 0], P[:, 0])
    auc = skm.roc_auc_score(Y[m, 1], P[m, 1])
    assert mm.make_multitask_scorer()(est, X, Y) == pytest.approx((r2 + auc) / 2)
    weighted = mm.make_multitask_scorer(average="weighted")(est, X, Y)
    assert weighted == pytest.approx((60 * r2 + m.sum() * auc) / (60 + m.sum()))
    assert mm.make_task_scorer(1)(est, X, Y) == pytest.approx(auc)
    Yd = pd.DataFrame(Y, columns=["y", "c"])
    assert mm.make_task_scorer("c")(est, X, Yd) == pytest.approx(auc)
    with pytest.raises(ValueError, match="not a task of Y"):
        mm.make_task_scorer("z")(est, X, Yd)
    with pytest.raises(ValueError, match="metric must be one of"):
        mm.make_multitask_scorer(metric="accuracy")


def test_scorers_weigh_rows_as_the_metrics_do_and_take_routed_weights():
    import sklearn
    from sklearn.model_selection import cross_validate

    rng = np.random.RandomState(0)
    X, Y, est, P, m = _regression_and_binary(90, rng)
    w = rng.uniform(0.0, 3.0, 90)
    r2 = skm.r2_score(Y[:, 0], P[:, 0], sample_weight=w)
    auc = skm.roc_auc_score(Y[m, 1], P[m, 1], sample_weight=w[m])
    scorer = mm.make_multitask_scorer()
    assert scorer(est, X, Y, sample_weight=w) == pytest.approx((r2 + auc) / 2)
    assert scorer(est, X, Y, sample_weight=w) != pytest.approx(scorer(est, X, Y))
    assert mm.make_task_scorer(1)(est, X, Y, sample_weight=w) == pytest.approx(auc)
    W = np.column_stack([w, np.ones(90)])  # a weight per row and task
    assert scorer(est, X, Y, sample_weight=W) == pytest.approx(
        (r2 + skm.roc_auc_score(Y[m, 1], P[m, 1])) / 2
    )
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        scorer(est, X, Y, sample_weight=w[:5])
    ranking = mm.make_multitask_scorer(tasks=["ranking"], group_col=0)
    one = Ridge().fit(X, np.abs(np.round(Y[:, 0])))
    with pytest.raises(ValueError, match="NDCG takes no sample_weight"):
        ranking(one, pd.DataFrame(X), np.abs(np.round(Y[:, 0])), sample_weight=w)
    # metadata routing: the fold's weights reach a scorer that asks for them
    Yf = np.nan_to_num(Y)
    with sklearn.config_context(enable_metadata_routing=True):
        asked = mm.make_task_scorer(0).set_score_request(sample_weight=True)
        ridge = Ridge().set_fit_request(sample_weight=False)
        got = cross_validate(ridge, X, Yf, cv=KFold(3), scoring=asked,
                             params={"sample_weight": w})["test_score"]  # fmt: skip
    for k, (train, test) in enumerate(KFold(3).split(X)):
        fold = Ridge().fit(X[train], Yf[train]).predict(X[test])[:, 0]
        assert got[k] == pytest.approx(
            skm.r2_score(Yf[test, 0], fold, sample_weight=w[test])
        )


def test_scorer_ndcg_needs_group_col():
    X = pd.DataFrame({"user_id": [1, 1, 2, 2], "f": [0.0, 1.0, 2.0, 3.0]})
    Y = np.array([0.0, 2.0, 1.0, 0.0])
    est = DummyRegressor().fit(X[["f"]], Y)
    with pytest.raises(ValueError, match="needs group_col"):
        mm.make_multitask_scorer(tasks=["ranking"])(est, X[["f"]], Y)


def test_scorers_drive_gridsearch_refit_by_task():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 4))
    Y = np.column_stack([X[:, 0] + 0.1 * rng.normal(size=80), X[:, 1] > 0]).astype(
        float
    )
    Y[::3, 0] = np.nan
    Y_filled = np.where(np.isnan(Y), 0.0, Y)
    scoring = mm.make_multitask_scoring(["task_0", "task_1"])
    search = GridSearchCV(
        Ridge(), {"alpha": [0.1, 1e4]}, cv=KFold(3), scoring=scoring, refit="task_0"
    )
    search.fit(X, Y_filled)
    assert search.best_params_ == {"alpha": 0.1}
    assert set(search.cv_results_) >= {"mean_test_mean", "mean_test_task_1"}


# ------------------------------------------------------------------ tied scores

ndcg_at_k, precision_at_k, recall_at_k = mm.ndcg_at_k, mm.precision_at_k, mm.recall_at_k
map_at_k, hit_rate_at_k = mm.map_at_k, mm.hit_rate_at_k
_RANKING = [ndcg_at_k, precision_at_k, recall_at_k, map_at_k, hit_rate_at_k]


@pytest.mark.parametrize("metric", _RANKING)
def test_ranking_metrics_do_not_depend_on_row_order(metric):
    rng = np.random.default_rng(0)
    n = 300
    groups = rng.integers(0, 20, n)
    rel = rng.integers(0, 3, n) * (rng.random(n) < 0.4)
    score = rng.integers(0, 4, n).astype(float)  # many ties
    base = metric(rel, score, groups, k=3, return_per_group=True)
    for seed in range(5):
        perm = np.random.default_rng(seed).permutation(n)
        # groups keep their identity, only the rows move
        shuffled = metric(rel[perm], score[perm], groups[perm], k=3,
                          return_per_group=True)  # fmt: skip
        order = pd.unique(groups)
        order_perm = pd.unique(groups[perm])
        lookup = dict(zip(order_perm, shuffled))
        np.testing.assert_allclose(base, [lookup[g] for g in order], rtol=1e-12)


def test_tied_ndcg_equals_scikit_learn():
    from sklearn.metrics import ndcg_score

    rng = np.random.default_rng(1)
    for _ in range(20):
        rel = rng.integers(0, 4, 8)
        if rel.sum() == 0:
            continue
        score = rng.integers(0, 3, 8).astype(float)
        for k in (1, 3, 8):
            ours = ndcg_at_k(rel, score, np.zeros(8), k=k)
            assert ours == pytest.approx(ndcg_score([rel], [score], k=k), rel=1e-12)


@pytest.mark.parametrize("metric", _RANKING)
def test_tied_value_is_the_expectation_over_random_tie_orders(metric):
    """Oracle: the mean over every order of the tied rows, each ranked stably."""
    import itertools

    rel = np.array([2, 0, 1, 0, 1, 0])
    score = np.array([0.9, 0.5, 0.5, 0.5, 0.5, 0.1])  # a block of 4 ties
    values = []
    for perm in itertools.permutations(range(1, 5)):
        order = np.r_[0, perm, 5]
        # distinct scores that follow this order within the tie
        broken = score[order] - 1e-9 * np.arange(6)
        values.append(metric(rel[order], broken, np.zeros(6), k=3))
    assert metric(rel, score, np.zeros(6), k=3) == pytest.approx(np.mean(values))


def test_scorer_leaves_out_a_task_without_labels_in_the_fold():
    from sklearn.metrics import r2_score

    from mtlclassic import MultiTaskLGBM

    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame({"f": rng.normal(size=n), "g": rng.normal(size=n)})
    Y = pd.DataFrame(
        {
            "rating": 2 * X.f + rng.normal(scale=0.5, size=n),
            "like": (X.g + rng.normal(scale=0.5, size=n) > 0).astype(float),
        }
    )
    Y.loc[200:, "like"] = np.nan  # the last fold has no `like` label
    model = MultiTaskLGBM(n_estimators=50, random_state=0, n_jobs=1)
    model.fit(X.iloc[:200], Y.iloc[:200])
    expected = r2_score(Y.rating.iloc[200:], model.predict(X.iloc[200:])[:, 0])
    scorer = mm.make_multitask_scorer()
    with pytest.warns(UserWarning, match=r"Tasks \['like'\] have no labelled row"):
        assert scorer(model, X.iloc[200:], Y.iloc[200:]) == pytest.approx(expected)
    with pytest.warns(UserWarning, match="left out"):
        assert model.score(X.iloc[200:], Y.iloc[200:]) == pytest.approx(expected)
    with pytest.warns(UserWarning, match="'like' has no labelled row"):
        assert np.isnan(mm.make_task_scorer("like")(model, X.iloc[200:], Y.iloc[200:]))
    # the same tasks in another column order are matched by name
    swapped = Y.iloc[200:][["like", "rating"]]
    with pytest.warns(UserWarning, match="left out"):
        assert scorer(model, X.iloc[200:], swapped) == pytest.approx(expected)
    rating_only = mm.make_task_scorer("rating")(model, X.iloc[200:], swapped)
    assert rating_only == pytest.approx(expected)
    with pytest.raises(ValueError, match="the model predicts"):
        model.score(X.iloc[200:], Y.iloc[200:].rename(columns={"like": "liked"}))
    # in a grid search every fold gets a finite score, the better candidate wins
    with pytest.warns(UserWarning, match="left out"):
        search = GridSearchCV(
            MultiTaskLGBM(random_state=0, n_jobs=1), {"n_estimators": [1, 100]},
            cv=KFold(3), scoring=scorer,
        ).fit(X, Y)  # fmt: skip
    assert np.isfinite(search.cv_results_["split2_test_score"]).all()
    assert search.best_params_ == {"n_estimators": 100}


def test_vectorised_task_scores_match_sklearn_per_task():
    """R² of every regression task at once equals sklearn's r2_score per task."""
    from sklearn.metrics import r2_score, roc_auc_score

    from mtlclassic.metrics._masked import _task_scores

    rng = np.random.RandomState(0)
    n = 60
    Y = rng.normal(size=(n, 5))
    Y[:, 3] = (Y[:, 3] > 0).astype(float)  # a binary task
    Y[rng.rand(n, 5) < 0.3] = np.nan
    Y[:, 2] = np.where(np.isnan(Y[:, 2]), np.nan, 7.0)  # constant labels: undefined
    Y[1:, 4] = np.nan  # one labelled row: undefined
    # labels around 1e6 with a spread of 0.5 vary (they were taken as constant)
    Y[:, 1] = 1e6 + 0.5 * Y[:, 1]
    P = Y + 0.3 * rng.normal(size=Y.shape)
    P[np.isnan(P)] = 0.0
    w = rng.uniform(0.5, 2.0, n)
    kinds = ["regression", "regression", "regression", "binary", "regression"]
    mask = ~np.isnan(Y)
    for weights in (None, w):
        got = _task_scores(Y, mask, P, kinds, weights)
        for t in (0, 1):
            rows = mask[:, t]
            sw = None if weights is None else weights[rows]
            assert got[t] == pytest.approx(
                r2_score(Y[rows, t], P[rows, t], sample_weight=sw), rel=1e-9
            )
            assert got[t] > 0.5
        rows = mask[:, 3]
        sw = None if weights is None else weights[rows]
        assert got[3] == pytest.approx(
            roc_auc_score(Y[rows, 3], P[rows, 3], sample_weight=sw)
        )
        assert np.isnan(got[2]) and np.isnan(got[4])


def test_a_prediction_frame_is_matched_to_the_tasks_by_name():
    from mtlclassic.metrics import multitask_report, multitask_score, rmse

    Y = pd.DataFrame({"rating": [1.0, 2, 3, 4], "click": [0.0, 1, 0, 1]})
    P = pd.DataFrame({"click": [0.1, 0.9, 0.2, 0.8], "rating": [1.0, 2, 3, 5]})
    in_order = P[["rating", "click"]].to_numpy()  # the oracle: by position
    pd.testing.assert_frame_equal(multitask_report(Y, P), multitask_report(Y, in_order))
    report = multitask_report(Y, P)
    assert report.loc["rating", "rmse"] == pytest.approx(0.5)  # one error of 1 in 4
    assert report.loc["click", "roc_auc"] == 1.0
    np.testing.assert_allclose(rmse(Y, P), rmse(Y, in_order))
    assert multitask_score(Y, P) == multitask_score(Y, in_order)
    unnamed = pd.DataFrame(in_order)  # columns 0, 1: by position
    pd.testing.assert_frame_equal(multitask_report(Y, unnamed), report)
    with pytest.raises(ValueError, match=r"has none for \['rating'\]"):
        multitask_report(Y, P.rename(columns={"rating": "stars"}))


def test_metric_sample_weight_is_checked_like_scikit_learns():
    """A short weight array raised numpy's boolean-index error, and one NaN
    weight made multitask_score NaN with a warning about labels."""
    from mtlclassic.metrics import multitask_score, rmse

    rng = np.random.default_rng(0)
    Y = rng.normal(size=(50, 2))
    P = Y + rng.normal(size=(50, 2)) * 0.1
    w = rng.uniform(0.5, 2.0, 50)
    # the oracle: scikit-learn's weighted RMSE per task
    want = [np.sqrt(np.average((Y[:, t] - P[:, t]) ** 2, weights=w)) for t in range(2)]
    np.testing.assert_allclose(rmse(Y, P, sample_weight=w), want, rtol=1e-12)
    gap = np.r_[w[:3], np.nan, w[4:]]
    for bad, match in ((w[:40], r"shape \(50,\).*got shape \(40,\)"),
                       (gap, "1 NaN, infinite or negative .* row 3"),
                       (-w, "50 NaN, infinite or negative")):  # fmt: skip
        for metric in (rmse, multitask_score):
            with pytest.raises(ValueError, match=match):
                metric(Y, P, sample_weight=bad)


def test_per_task_sample_weights_score_each_task_by_its_own_column():
    """Per-task weights (n, n_tasks), as fit takes them, reach score (with
    metadata routing); each task is scored with its own column."""
    from mtlclassic import MultiTaskLGBM
    from mtlclassic.metrics import multitask_score, rmse

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 2)), columns=["a", "b"])
    Y = pd.DataFrame({"r": X.a + rng.normal(size=120) * 0.5,
                      "c": (X.b + rng.normal(size=120) > 0).astype(float)})  # fmt: skip
    Y.loc[::7, "r"] = np.nan
    W = rng.uniform(0.2, 3.0, size=(120, 2))
    model = MultiTaskLGBM(n_estimators=10, n_jobs=1).fit(X, Y)
    P = model.predict(X)
    r = Y.r.notna().to_numpy()
    want_r2 = skm.r2_score(Y.r[r], P[r, 0], sample_weight=W[r, 0])
    want_auc = skm.roc_auc_score(Y.c, P[:, 1], sample_weight=W[:, 1])
    assert np.isclose(model.score(X, Y, sample_weight=W), (want_r2 + want_auc) / 2)
    # a DataFrame is matched by name; the same array with the tasks swapped is not
    frame = pd.DataFrame({"c": W[:, 1], "r": W[:, 0]})
    assert np.isclose(multitask_score(Y, P, sample_weight=frame),
                      (want_r2 + want_auc) / 2)  # fmt: skip
    want_rmse = np.sqrt(np.average((Y.r[r] - P[r, 0]) ** 2, weights=W[r, 0]))
    np.testing.assert_allclose(rmse(Y, P, sample_weight=W)[0], want_rmse)
    with pytest.raises(ValueError, match=r"shape \(120,\).* or \(120, 2\)"):
        multitask_score(Y, P, sample_weight=W[:, [0, 1, 1]])
    # Y's columns in another order: an array is in the model's task order for
    # score and the scorers alike (the scorers read it in Y's order)
    from mtlclassic.metrics import make_multitask_scorer, make_task_scorer

    swapped = Y[["c", "r"]]
    want = (want_r2 + want_auc) / 2
    assert np.isclose(model.score(X, swapped, sample_weight=W), want)
    both, r_only = make_multitask_scorer(), make_task_scorer("r")
    assert np.isclose(both(model, X, swapped, sample_weight=W), want)
    assert np.isclose(r_only(model, X, swapped, sample_weight=W), want_r2)


def test_scorers_take_a_one_task_models_kind_for_a_1d_y():
    # a ranking model scored with a Series or array y: the kind was guessed from
    # the values (grades 0-3 regression: R² -1.53 where NDCG@5 is 0.96)
    from mtlclassic import MultiTaskLGBM
    from mtlclassic.metrics import make_multitask_scorer, make_task_scorer

    rng = np.random.default_rng(0)
    q = np.repeat(np.arange(40), 10)
    X = pd.DataFrame({"qid": q, "f0": rng.normal(size=q.size)})
    noise = rng.normal(scale=0.5, size=q.size)
    for y in (pd.Series(np.clip(np.round(X.f0 + 1 + noise), 0, 3), name="rel"),
              pd.Series((X.f0 + noise > 0).astype(float), name="rel")):  # fmt: skip
        model = MultiTaskLGBM(tasks=["ranking"], query_col="qid", n_estimators=20,
                              random_state=0, n_jobs=1).fit(X, y)  # fmt: skip
        want = mm.ndcg_at_k(y, model.predict(X), X.qid, k=5)
        for scorer in (make_multitask_scorer(group_col="qid", k=5),
                       make_task_scorer(0, group_col="qid", k=5)):  # fmt: skip
            for labels in (y, y.to_numpy(), y.to_frame()):
                assert scorer(model, X, labels) == pytest.approx(want, rel=1e-12)
    # an array X with the query ids as column 0 (X[0] was its first row)
    A = np.column_stack([X.qid, X.f0])
    model = MultiTaskLGBM(tasks=["ranking"], query_col=0, n_estimators=20,
                          random_state=0, n_jobs=1).fit(A, y)  # fmt: skip
    want = mm.ndcg_at_k(y, model.predict(A), A[:, 0], k=5)
    scorer = make_multitask_scorer(group_col=0, k=5)
    assert scorer(model, A, y) == pytest.approx(want, rel=1e-12)
