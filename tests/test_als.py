"""Tests of ALSEmbedder against implicit itself, closed forms and brute force."""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import ks_2samp
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, train_test_split
from sklearn.pipeline import make_pipeline

from mtlclassic import ALSEmbedder, make_multitask_recsys

FAST = dict(factors=8, regularization=0.1, iterations=8, n_jobs=1, random_state=0)


@pytest.fixture(scope="module")
def events():
    X, _ = make_multitask_recsys(n_users=120, n_items=80, n_events=2500, random_state=0)
    return X


def _implicit_direct(user_items, **params):
    import implicit

    model = implicit.cpu.als.AlternatingLeastSquares(
        factors=params["factors"],
        regularization=params["regularization"],
        alpha=params.get("alpha", 1.0),
        iterations=params["iterations"],
        num_threads=1,
        random_state=params["random_state"],
    )
    model.fit(user_items, show_progress=False)
    return model


def _hand_matrix(X, weights=None):
    """The user x item matrix built by hand (sorted ids, summed duplicates)."""
    users, items = np.unique(X["user_id"]), np.unique(X["item_id"])
    dense = np.zeros((users.size, items.size), dtype=np.float32)
    w = np.ones(len(X)) if weights is None else np.asarray(weights)
    for u, i, wt in zip(X["user_id"], X["item_id"], w, strict=True):
        dense[np.searchsorted(users, u), np.searchsorted(items, i)] += wt
    return users, items, sp.csr_matrix(dense)


# ---------------------------------------------------------------- fit oracles
def test_factors_equal_implicit_called_directly(events):
    emb = ALSEmbedder(cv=None, **FAST).fit(events)
    users, items, user_items = _hand_matrix(events)
    assert_array_equal(emb.user_index_, users)
    assert_array_equal(emb.item_index_, items)
    assert_array_equal(emb.user_items_.toarray(), user_items.toarray())
    model = _implicit_direct(user_items, **FAST)
    assert_array_equal(emb.user_factors_, model.user_factors)
    assert_array_equal(emb.item_factors_, model.item_factors)
    assert emb.user_factors_.dtype == np.float32


def test_weight_col_sums_repeated_events_and_scales_by_alpha(events):
    X = events.assign(strength=np.arange(len(events)) % 3 + 0.5)
    params = dict(FAST, alpha=2.0)
    emb = ALSEmbedder(cv=None, weight_col="strength", **params).fit(X)
    _, _, user_items = _hand_matrix(X, X["strength"])
    assert_allclose(emb.user_items_.toarray(), user_items.toarray(), rtol=1e-6)
    model = _implicit_direct(user_items, **params)
    assert_allclose(emb.user_factors_, model.user_factors, rtol=1e-5, atol=1e-6)
    # the weight column is consumed, not passed through
    assert "strength" not in emb.get_feature_names_out()


def test_same_seed_same_model_and_threads_do_not_change_it(events):
    a = ALSEmbedder(cv=None, **FAST).fit(events)
    b = ALSEmbedder(cv=None, **dict(FAST, n_jobs=2)).fit(events)
    assert_array_equal(a.user_factors_, b.user_factors_)
    assert_array_equal(a.item_factors_, b.item_factors_)
    # a RandomState instance is accepted (implicit itself cannot take one)
    c = ALSEmbedder(cv=None, **dict(FAST, random_state=np.random.RandomState(0)))
    assert np.isfinite(c.fit(events).user_factors_).all()


def test_row_order_does_not_change_the_model(events):
    perm = np.random.RandomState(1).permutation(len(events))
    a = ALSEmbedder(cv=None, **FAST).fit(events)
    b = ALSEmbedder(cv=None, **FAST).fit(events.iloc[perm])
    assert_array_equal(a.user_factors_, b.user_factors_)


def test_string_ids_equal_int_ids(events):
    X_str = events.assign(
        user_id=[f"u{u:05d}" for u in events["user_id"]],
        item_id=[f"i{i:05d}" for i in events["item_id"]],
    )
    a = ALSEmbedder(cv=None, **FAST).fit(events)
    b = ALSEmbedder(cv=None, **FAST).fit(X_str)
    assert_array_equal(a.user_factors_, b.user_factors_)
    assert_array_equal(a.transform(events), b.transform(X_str))
    assert b.user_index_.dtype.kind == "U"  # saveable without pickle


def test_non_contiguous_ids(events):
    X = events.assign(user_id=events["user_id"] * 1000 + 7)
    a = ALSEmbedder(cv=None, **FAST).fit(events)
    b = ALSEmbedder(cv=None, **FAST).fit(X)
    assert_array_equal(a.user_factors_, b.user_factors_)
    assert_array_equal(b.user_index_, np.unique(X["user_id"]))


# ----------------------------------------------------------- transform oracles
def test_transform_is_a_gather_of_the_factors(events):
    emb = ALSEmbedder(cv=None, **FAST).fit(events)
    Z = emb.transform(events)
    user_row = {u: r for r, u in enumerate(emb.user_index_)}
    item_row = {i: r for r, i in enumerate(emb.item_index_)}
    U = emb.user_factors_[[user_row[u] for u in events["user_id"]]]
    V = emb.item_factors_[[item_row[i] for i in events["item_id"]]]
    k = emb.factors
    assert Z.shape == (len(events), 2 * k + 1 + events.shape[1] - 2)
    assert_array_equal(Z[:, :k], U)
    assert_array_equal(Z[:, k : 2 * k], V)
    assert_allclose(Z[:, 2 * k], (U.astype(float) * V).sum(1), rtol=1e-5, atol=1e-6)
    # passthrough: numeric columns as they are, categoricals as their codes
    rest = events.drop(columns=["user_id", "item_id"])
    assert_array_equal(Z[:, 2 * k + 1], rest["timestamp"])
    assert Z.dtype == np.float64  # int64 timestamps need float64
    codes = rest["user_segment"].cat.codes.to_numpy()
    assert_array_equal(Z[:, 2 * k + 1 + rest.columns.get_loc("user_segment")], codes)


def test_features_select_blocks_and_names(events):
    emb = ALSEmbedder(cv=None, features=("score",), passthrough=False, **FAST)
    Z = emb.fit(events).transform(events)
    assert Z.shape == (len(events), 1)
    assert Z.dtype == np.float32
    assert list(emb.get_feature_names_out()) == ["als_score"]
    full = ALSEmbedder(cv=None, passthrough=False, **FAST).fit(events)
    assert_array_equal(Z[:, 0], full.transform(events)[:, -1])
    names = list(ALSEmbedder(cv=None, **FAST).fit(events).get_feature_names_out())
    assert names[:2] == ["als_user_0", "als_user_1"]
    assert names[8:10] == ["als_item_0", "als_item_1"]
    assert names[16] == "als_score"
    assert names[17:] == [c for c in events.columns if c not in ("user_id", "item_id")]


def test_row_order_and_index_preserved(events):
    emb = ALSEmbedder(cv=None, **FAST).fit(events)
    perm = np.random.RandomState(2).permutation(len(events))[:300]
    assert_array_equal(emb.transform(events.iloc[perm]), emb.transform(events)[perm])
    emb.set_output(transform="pandas")
    Z = emb.transform(events.iloc[perm])
    assert_array_equal(Z.index, events.index[perm])


def test_pandas_output_keeps_passthrough_dtypes(events):
    emb = ALSEmbedder(cv=3, **FAST).set_output(transform="pandas")
    Z = emb.fit_transform(events)
    assert list(Z.columns) == list(emb.get_feature_names_out())
    assert_array_equal(Z.index, events.index)
    assert isinstance(Z["user_segment"].dtype, pd.CategoricalDtype)
    assert Z["timestamp"].dtype == np.int64
    assert Z["als_score"].dtype == np.float32
    assert_array_equal(Z["item_f0"], events["item_f0"])
    # same numbers as the numpy output
    numeric = ALSEmbedder(cv=3, **FAST).fit_transform(events)
    assert_allclose(Z["als_score"], numeric[:, 2 * emb.factors], rtol=1e-6)


def test_unknown_zero_and_mean(events):
    X_new = events.head(4).assign(user_id=[-1, -2, events["user_id"].iloc[2], -3])
    X_new.loc[X_new.index[1], "item_id"] = 10**9
    zero = ALSEmbedder(cv=None, passthrough=False, **FAST).fit(events)
    Z = zero.transform(X_new)
    k = zero.factors
    assert_array_equal(Z[[0, 1, 3], :k], 0.0)
    assert_array_equal(Z[1, k : 2 * k], 0.0)
    assert_array_equal(Z[[0, 1, 3], 2 * k], 0.0)
    assert np.abs(Z[2, :k]).sum() > 0
    mean = ALSEmbedder(cv=None, passthrough=False, unknown="mean", **FAST).fit(events)
    Z = mean.transform(X_new)
    u_mean = mean.user_factors_.mean(0)
    i_mean = mean.item_factors_.mean(0)
    assert_allclose(Z[0, :k], u_mean, rtol=1e-6)
    assert_allclose(Z[1, k : 2 * k], i_mean, rtol=1e-6)
    assert_allclose(Z[1, 2 * k], u_mean @ i_mean, rtol=1e-5)
    assert_allclose(Z[3, 2 * k], u_mean @ Z[3, k : 2 * k], rtol=1e-5)


# ------------------------------------------------------------------ cross-fit
def test_fit_transform_is_the_out_of_fold_loop(events):
    emb = ALSEmbedder(cv=4, passthrough=False, **FAST)
    Z = emb.fit_transform(events)
    expected = np.empty_like(Z)
    kfold = KFold(4, shuffle=True, random_state=0)
    for train, test in kfold.split(events):
        fold = ALSEmbedder(cv=None, passthrough=False, **FAST)
        expected[test] = fold.fit(events.iloc[train]).transform(events.iloc[test])
    assert_array_equal(Z, expected)
    # self ends fitted on every row
    full = ALSEmbedder(cv=None, **FAST).fit(events)
    assert_array_equal(emb.user_factors_, full.user_factors_)


@pytest.mark.parametrize("output", ["default", "pandas"])
@pytest.mark.parametrize("weight_col", [None, "w"])
def test_folds_on_the_id_columns_alone_give_the_every_column_output(
    events, output, weight_col, monkeypatch, capsys
):
    rng = np.random.default_rng(1)
    X = events.assign(
        w=rng.integers(1, 4, len(events)).astype(float),
        color=pd.Categorical(rng.choice(["blue", "red"], len(events))),
        count=rng.integers(0, 9, len(events)),
    )
    X.index = np.arange(len(X))[::-1] * 3  # not a RangeIndex
    original = X.copy()

    def fit(read):
        emb = ALSEmbedder(cv=4, weight_col=weight_col, verbose=1, **FAST)
        if not read:  # the every-column folds: the oracle
            monkeypatch.setattr(emb, "_read_columns", lambda X: None)
        emb.set_output(transform=output)
        return emb, emb.fit_transform(X)

    emb, out = fit(True)
    lines = capsys.readouterr().out
    assert emb._read_columns(X) == ["user_id", "item_id"] + (
        [] if not weight_col else ["w"]
    )
    _, expected = fit(False)
    assert capsys.readouterr().out.count("fold") == lines.count("fold") == 4
    if output == "pandas":
        pd.testing.assert_frame_equal(out, expected, check_exact=True)
        assert out["color"].dtype == X["color"].dtype
    else:
        assert out.dtype == expected.dtype
        assert_array_equal(out, expected)
    pd.testing.assert_frame_equal(X, original)  # the input is not modified
    # names by position, or repeated names: every column goes to the folds
    positional = ALSEmbedder(user_col=0, item_col=1, **FAST)
    assert positional._read_columns(X.iloc[:, :2].set_axis([0, 1], axis=1)) is None
    twice = pd.concat([X, X[["count"]]], axis=1)
    assert ALSEmbedder(**FAST).fit(X)._read_columns(twice) is None


def test_a_subclass_reading_other_columns_gets_them_in_its_folds(events):
    class Boosted(ALSEmbedder):  # reads a column besides the ids
        def _embed(self, X):
            Xv, embedding = super()._embed(X)
            return Xv, embedding * X["boost"].to_numpy()[:, None]

    X = events.assign(boost=np.linspace(1, 2, len(events)))
    emb = Boosted(cv=3, **FAST)
    out = emb.fit_transform(X)
    assert emb._read_columns(X) is None  # a subclass opts in by overriding
    expected = np.empty_like(out)
    for train, test in KFold(3, shuffle=True, random_state=0).split(X):
        fold = Boosted(cv=None, **FAST).fit(X.iloc[train])
        expected[test] = fold.transform(X.iloc[test])
    assert_array_equal(out, expected)


def test_cross_fitting_removes_the_in_sample_shift():
    X, _ = make_multitask_recsys(
        n_users=300, n_items=200, n_events=8000, random_state=0
    )
    X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
    params = dict(
        factors=16,
        regularization=0.1,
        iterations=10,
        random_state=0,
        n_jobs=1,
        features=("score",),
        passthrough=False,
    )
    emb = ALSEmbedder(cv=None, **params).fit(X_train)
    in_sample = emb.transform(X_train)[:, 0]
    held_out = emb.transform(X_test)[:, 0]
    cross_fitted = ALSEmbedder(cv=5, **params).fit_transform(X_train)[:, 0]
    # measured: KS 0.30 in-sample vs 0.05 cross-fitted; medians 0.67 / 0.25 / 0.20
    assert ks_2samp(in_sample, held_out).statistic > 0.2
    assert ks_2samp(cross_fitted, held_out).statistic < 0.1
    assert np.median(in_sample) - np.median(held_out) > 0.3
    assert abs(np.median(cross_fitted) - np.median(held_out)) < 0.1


def test_pipeline_calls_the_cross_fitted_fit_transform(events):
    y = np.random.RandomState(0).normal(size=len(events))
    params = dict(FAST, passthrough=False)
    pipe = make_pipeline(ALSEmbedder(cv=3, **params), Ridge(alpha=1.0))
    pipe.fit(events, y)
    oof = ALSEmbedder(cv=3, **params).fit_transform(events)
    assert_allclose(pipe[-1].coef_, Ridge(alpha=1.0).fit(oof, y).coef_, rtol=1e-6)


# -------------------------------------------------------------------- fold_in
def test_fold_in_is_the_closed_form_least_squares(events):
    params = dict(FAST, alpha=3.0)
    emb = ALSEmbedder(cv=None, **params).fit(events)
    V = emb.item_factors_.astype(np.float64)
    new = pd.DataFrame(
        {
            "user_id": [777, 777, 777, 778],
            "item_id": list(emb.item_index_[[0, 5, 5, 9]]),
        }
    )
    new = new.reindex(columns=events.columns)
    emb.fold_in(new)
    assert_array_equal(emb.user_index_[-2:], [777, 778])
    assert (
        emb.user_factors_.shape[0] == emb.user_index_.size == emb.user_items_.shape[0]
    )
    # x = (V'V + lambda I + sum_i (c_i - 1) v_i v_i')^-1 sum_i c_i v_i, c = alpha r
    confidence = {0: 3.0, 5: 6.0}
    A = V.T @ V + 0.1 * np.eye(8)
    b = np.zeros(8)
    for i, c in confidence.items():
        A += (c - 1) * np.outer(V[i], V[i])
        b += c * V[i]
    assert_allclose(emb.user_factors_[-2], np.linalg.solve(A, b), rtol=1e-3, atol=1e-4)
    assert_allclose(
        emb.user_items_[emb.user_index_.size - 2].toarray()[0, [0, 5]], [1, 2]
    )
    Z = emb.transform(new)
    assert_allclose(Z[0, :8], emb.user_factors_[-2], rtol=1e-6)


def test_fold_in_of_a_trained_user_reproduces_their_factors(events):
    emb = ALSEmbedder(cv=None, **dict(FAST, iterations=20)).fit(events)
    errors = []
    for row in (3, 10, 42):
        history = events[events["user_id"] == emb.user_index_[row]]
        copy_id = 10_000 + row
        emb.fold_in(history.assign(user_id=copy_id))
        folded = emb.user_factors_[emb.user_index_ == copy_id][0]
        trained = emb.user_factors_[row]
        errors.append(np.linalg.norm(folded - trained) / np.linalg.norm(trained))
    # CG in training vs the exact solve here: measured 1-4 % apart
    assert max(errors) < 0.1


def test_fold_in_accumulates_on_a_known_user(events):
    emb = ALSEmbedder(cv=None, **FAST).fit(events)
    user = emb.user_index_[0]
    n_before = emb.user_items_[0].sum()
    n_users = emb.user_index_.size
    emb.fold_in(events.head(2).assign(user_id=user))
    assert emb.user_index_.size == n_users
    assert emb.user_items_[0].sum() == pytest.approx(n_before + 2)
    # unknown items are ignored
    emb.fold_in(events.head(1).assign(user_id=user, item_id=10**9))
    assert emb.user_items_[0].sum() == pytest.approx(n_before + 2)


# -------------------------------------------------------- recommend_candidates
def test_recommend_candidates_is_brute_force_top_n(events):
    emb = ALSEmbedder(cv=None, **FAST).fit(events)
    users = list(emb.user_index_[[7, 3, 30]]) + [-5]
    out = emb.recommend_candidates(users, n=10)
    assert list(out.columns) == ["user_id", "item_id", "score", "rank"]
    expected_users = sorted(users)
    assert list(pd.unique(out["user_id"])) == expected_users
    for user, group in out.groupby("user_id", sort=False):
        assert list(group["rank"]) == list(range(1, len(group) + 1))
        if user == -5:  # unseen: the most popular items, score NaN
            pop = (emb.user_items_ > 0).sum(0).A1
            top = emb.item_index_[np.argsort(-pop, kind="stable")[:10]]
            assert_array_equal(group["item_id"], top)
            assert group["score"].isna().all()
            continue
        row = int(np.flatnonzero(emb.user_index_ == user)[0])
        scores = emb.item_factors_.astype(float) @ emb.user_factors_[row]
        scores[emb.user_items_[row].indices] = -np.inf
        best = np.argsort(-scores, kind="stable")[:10]
        assert_array_equal(group["item_id"], emb.item_index_[best])
        assert_allclose(group["score"], scores[best], rtol=1e-4, atol=1e-5)
    seen = ALSEmbedder(cv=None, **FAST).fit(events)
    with_seen = seen.recommend_candidates(users[:1], n=80, exclude_seen=False)
    assert len(with_seen) == 80


def test_recommend_candidates_user_who_saw_everything():
    X = pd.DataFrame({"user_id": [0, 0, 0, 1], "item_id": [0, 1, 2, 0]})
    emb = ALSEmbedder(cv=None, factors=2, iterations=3, random_state=0).fit(X)
    out = emb.recommend_candidates([0, 1], n=5)
    assert (out["user_id"] == 0).sum() == 0
    assert sorted(out.loc[out["user_id"] == 1, "item_id"]) == [1, 2]
    with pytest.raises(ValueError, match="n must be a positive int"):
        emb.recommend_candidates([0], n=0)


# ---------------------------------------------------------- arrays and threads
def test_numeric_ndarray_with_column_positions(events):
    cols = ["item_id", "timestamp", "user_id"]
    arr = events[cols].to_numpy(dtype=float)
    a = ALSEmbedder(cv=None, user_col=2, item_col=0, **FAST).fit(arr)
    b = ALSEmbedder(cv=None, **FAST).fit(events[cols])
    assert_array_equal(a.user_factors_, b.user_factors_)
    assert list(a.get_feature_names_out())[-1] == "x1"
    assert_array_equal(a.transform(arr), b.transform(events[cols]))
    out = a.recommend_candidates([events["user_id"].iloc[0]], n=3)
    assert list(out.columns) == ["x2", "x0", "score", "rank"]


def test_no_blas_oversubscription_warning(events, monkeypatch):
    import implicit.utils

    monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        ALSEmbedder(cv=None, **dict(FAST, n_jobs=2)).fit(events)


# ------------------------------------------------------------------ bad input
def test_missing_column_is_named(events):
    with pytest.raises(ValueError, match="user_col='uid': X has no column 'uid'"):
        ALSEmbedder(user_col="uid").fit(events)
    with pytest.raises(ValueError, match="weight_col='w'"):
        ALSEmbedder(weight_col="w").fit(events)
    with pytest.raises(ValueError, match="names a column, but X has no column names"):
        ALSEmbedder().fit(np.ones((5, 3)))
    with pytest.raises(ValueError, match=r"item_col=5 is out of range .* 3 feature"):
        ALSEmbedder(user_col=0, item_col=5).fit(np.ones((5, 3)))
    with pytest.raises(ValueError, match="must be different columns"):
        ALSEmbedder(user_col="user_id", item_col=0).fit(events)


def test_nan_ids_and_empty_X_are_refused(events):
    X = events.copy()
    X.loc[X.index[3], "item_id"] = np.nan
    with pytest.raises(
        ValueError, match="item_col: the id column 'item_id' has 1 missing"
    ):
        ALSEmbedder(cv=None).fit(X)
    emb = ALSEmbedder(cv=None, **FAST).fit(events)
    with pytest.raises(ValueError, match="missing id"):
        emb.transform(X)
    with pytest.raises(ValueError, match="X is empty"):
        ALSEmbedder().fit(events.head(0))
    with pytest.raises(ValueError, match="infinite ids"):
        ALSEmbedder(user_col=0, item_col=1).fit(np.array([[np.inf, 1.0], [1, 2]]))
    with pytest.raises(ValueError, match="NaN or infinite weights"):
        ALSEmbedder(weight_col="user_f0").fit(events.assign(user_f0=np.nan))
    assert (X is not events) and events["item_id"].notna().all()  # not modified


def test_bad_features_and_string_passthrough(events):
    with pytest.raises(ValueError, match="features must be a non-empty tuple"):
        ALSEmbedder(features=("user", "bias")).fit(events)
    with pytest.raises(ValueError, match="features must be a non-empty tuple"):
        ALSEmbedder(features=()).fit(events)
    X = events.assign(note="x")
    emb = ALSEmbedder(cv=None, **FAST).fit(X)
    with pytest.raises(TypeError, match="Passthrough column 'note'"):
        emb.transform(X)
    Z = emb.set_output(transform="pandas").transform(X)
    assert (Z["note"] == "x").all()


def test_mixed_id_types_are_distinct_ids():
    X = pd.DataFrame({"user_id": [1, "1", 2, "a"], "item_id": [1, 2, 3, 1]})
    emb = ALSEmbedder(cv=None, factors=2, iterations=3, random_state=0).fit(X)
    assert emb.user_index_.size == 4  # 1 and "1" are different users
    Z = emb.transform(X)
    rows = [list(emb.user_index_).index(u) for u in X["user_id"]]
    assert_array_equal(Z[:, :2], emb.user_factors_[rows])


def test_verbose_shows_implicit_progress(events, capsys):
    ALSEmbedder(cv=None, **dict(FAST, iterations=2)).fit(events)
    assert "it/s" not in capsys.readouterr().err
    ALSEmbedder(cv=None, verbose=1, **dict(FAST, iterations=2)).fit(events)
    assert "2/2" in capsys.readouterr().err


@pytest.mark.parametrize("output", ["default", "pandas"])
def test_category_passthrough_is_encoded_by_the_fitted_categories(output):
    rng = np.random.default_rng(0)
    n = 200
    X = pd.DataFrame(
        {
            "user_id": rng.integers(0, 20, n),
            "item_id": rng.integers(0, 15, n),
            "color": pd.Categorical(
                rng.choice(["blue", "green", "red"], n),
                categories=["blue", "green", "red"],
            ),
        }
    )
    emb = ALSEmbedder(cv=None, **FAST).set_output(transform=output).fit(X)
    new = pd.DataFrame(
        {"user_id": [0, 1, 2], "item_id": [0, 1, 2], "color": ["green", "red", "red"]}
    )
    variants = [
        new.assign(color=new["color"].astype("category")),  # categories [green, red]
        new.assign(color=pd.Categorical(new["color"], ["red", "green", "blue"])),
        new.assign(color=pd.Categorical(new["color"], ["blue", "green", "red"])),
    ]
    outs = [emb.transform(v) for v in variants]
    if output == "pandas":
        for out in outs:
            assert out["color"].cat.categories.tolist() == ["blue", "green", "red"]
            assert out["color"].tolist() == ["green", "red", "red"]
    else:
        for out in outs:  # codes of the fitted categories: green 1, red 2
            assert_array_equal(out[:, -1], [1.0, 2.0, 2.0])
    unseen = new.assign(color=pd.Categorical(["purple", "red", "red"]))
    got = emb.transform(unseen)
    first = got["color"].iloc[0] if output == "pandas" else got[0, -1]
    assert pd.isna(first)  # a category unseen in fit is missing, never a shifted code


def test_a_user_with_only_zero_weights_is_cold_like_an_unseen_id(events):
    X = events.assign(w=1.0)
    silent = X["user_id"] == X["user_id"].iloc[0]
    X.loc[silent, "w"] = 0.0
    emb = ALSEmbedder(weight_col="w", cv=None, unknown="mean", **FAST).fit(X)
    # the same model as without that user's events at all
    ref = ALSEmbedder(weight_col="w", cv=None, unknown="mean", **FAST).fit(X[~silent])
    assert_array_equal(emb.user_index_, ref.user_index_)
    assert_allclose(emb.user_factors_, ref.user_factors_)
    user = X["user_id"].iloc[0]
    unseen = X[silent].assign(user_id=-999)  # a never-seen id, same items
    assert_allclose(emb.transform(X[silent]), emb.transform(unseen))
    cands = emb.recommend_candidates([user], n=5)
    assert cands["score"].isna().all()  # popular items, as for any cold user
    assert_array_equal(
        cands["item_id"], emb.recommend_candidates([-999], n=5)["item_id"]
    )
    with pytest.raises(ValueError, match="Every interaction has weight 0"):
        ALSEmbedder(weight_col="w", cv=None, **FAST).fit(X.assign(w=0.0))


def test_fold_in_weights_that_cancel_leave_the_user_cold(events):
    X = events.assign(w=1.0)
    emb = ALSEmbedder(weight_col="w", cv=None, **FAST).fit(X)
    item = X["item_id"].iloc[0]
    new = pd.DataFrame({"user_id": [5000, 5000], "item_id": [item, item],
                        "w": [1.0, -1.0]})  # fmt: skip
    new = new.reindex(columns=X.columns, fill_value=0.0)
    new["user_segment"] = X["user_segment"].iloc[:2].to_numpy()
    new["item_category"] = X["item_category"].iloc[:2].to_numpy()
    before = emb.user_index_.copy()
    emb.fold_in(new)
    assert_array_equal(emb.user_index_, before)  # not added
    # a known user whose whole history is cancelled becomes cold as well
    user = X["user_id"].iloc[0]
    history = X[X["user_id"] == user].assign(w=lambda d: -d["w"])
    emb.fold_in(history)
    cands = emb.recommend_candidates([user], n=5)
    assert cands["score"].isna().all()
    unseen = X[X["user_id"] == user].assign(user_id=-1)
    assert_allclose(emb.transform(X[X["user_id"] == user]), emb.transform(unseen))


def test_candidates_among_given_items_are_the_full_ranking_cut_to_them():
    from mtlclassic import make_multitask_recsys

    X, _ = make_multitask_recsys(n_users=100, n_items=80, n_events=3000, random_state=0)
    als = ALSEmbedder(factors=8, iterations=5, cv=None, random_state=0, n_jobs=1)
    als.fit(X)
    subset = np.r_[np.arange(0, 80, 5), 10_000]  # 10_000: not an item of fit
    full = als.recommend_candidates([0, 1, 9999], n=80)
    got = als.recommend_candidates([0, 1, 9999], n=4, items=subset)
    for user in (0, 1, 9999):  # 9999: a new user, the popularity order
        mine = full[(full.user_id == user) & full.item_id.isin(subset)]
        assert got[got.user_id == user].item_id.tolist() == mine.item_id.tolist()[:4]
    assert len(als.recommend_candidates([0], n=4, items=[10_000])) == 0
