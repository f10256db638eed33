"""Metamorphic tests: what must not change a prediction, for every estimator.

Each fitted estimator (and the default pipeline) is applied to the same rows
presented differently: permuted, with another index, with string instead of
integer ids, with its categories reordered or extended by unused ones, with
nullable dtypes. The outputs must be the same (permuted along with the rows).
Fitting on permuted rows gives the same model up to float rounding for the
deterministic solvers; the Gibbs sampler draws one probit latent per row, so
its fit is permutation-invariant in distribution only (documented).
"""

import numpy as np
import pandas as pd
import pytest

from mtlclassic import (
    ALSEmbedder,
    ClusteredMultiTask,
    FMClassifier,
    FMEmbedder,
    FMRegressor,
    L21MultiTask,
    MultiTaskFM,
    MultiTaskLGBM,
    TraceNormMultiTask,
    make_multitask_recommender,
    make_multitask_recsys,
)

IDS = ["user_id", "item_id"]
NUMERIC = ["user_f0", "user_f1", "item_f0", "item_f1"]


@pytest.fixture(scope="module")
def data():
    X, Y = make_multitask_recsys(60, 40, 1200, random_state=0)
    return X.drop(columns="timestamp"), Y


def _cases():
    """(name, make estimator, columns of X it reads or None for all, target)."""
    return [
        ("ALSEmbedder", lambda: ALSEmbedder(factors=4, iterations=3, cv=None,
                                            random_state=0), None, None),
        ("FMRegressor", lambda: FMRegressor(2, n_iter=10, categorical_features=IDS,
                                            random_state=0), None, "rating"),
        ("FMClassifier", lambda: FMClassifier(2, n_iter=10, categorical_features=IDS,
                                              random_state=0), None, "click"),
        ("MultiTaskFM", lambda: MultiTaskFM(2, n_iter=10, categorical_features=IDS,
                                            random_state=0), None, "all"),
        ("FMEmbedder", lambda: FMEmbedder(n_components=2, n_iter=10, cv=None,
                                          random_state=0), None, "all"),
        ("MultiTaskLGBM", lambda: MultiTaskLGBM(n_estimators=20, n_jobs=1,
                                                random_state=0), None, "all"),
        ("TraceNormMultiTask", lambda: TraceNormMultiTask(0.01, n_jobs=1), NUMERIC,
         "all"),
        ("L21MultiTask", lambda: L21MultiTask(0.01, n_jobs=1), NUMERIC, "all"),
        ("ClusteredMultiTask", lambda: ClusteredMultiTask(0.01, beta=0.01,
                                                          n_clusters=2, n_jobs=1),
         NUMERIC, "all"),
        ("pipeline", lambda: make_multitask_recommender(
            fm_n_iter=5, iterations=3, factors=4, cv=2, n_estimators=20, n_jobs=1,
            random_state=0), None, "all"),
    ]  # fmt: skip


CASES = _cases()


def _fit(case, X, Y):
    _, make, columns, target = case
    est = make()
    Xc = X if columns is None else X[columns]
    if target is None:
        return est.fit(Xc)
    y = Y if target == "all" else Y[target][Y[target].notna()]
    rows = slice(None) if target == "all" else Y[target].notna().to_numpy()
    return est.fit(Xc[rows] if target != "all" else Xc, y)


def _apply(est, X, columns):
    Xc = X if columns is None else X[columns]
    if hasattr(est, "predict_proba") and not hasattr(est, "steps"):
        out = est.predict_proba(Xc)
    elif hasattr(est, "predict"):
        out = est.predict(Xc)
    else:
        out = est.transform(Xc)
    out = np.asarray(out)
    return out.astype(float) if out.dtype != object else out


@pytest.fixture(scope="module")
def fitted(data):
    X, Y = data
    return {case[0]: _fit(case, X, Y) for case in CASES}


def _assert_same(a, b):
    if a.dtype == object:
        pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))
    else:
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rows_permuted_and_index_changed(case, data, fitted):
    X, _ = data
    est, columns = fitted[case[0]], case[2]
    base = _apply(est, X, columns)
    perm = np.random.default_rng(1).permutation(len(X))
    moved = X.iloc[perm]
    _assert_same(_apply(est, moved, columns), base[perm])
    reindexed = X.set_axis(np.arange(len(X))[::-1] * 7 + 3, axis=0)
    _assert_same(_apply(est, reindexed, columns), base)


ID_CASES = [c for c in CASES if c[2] is None]


@pytest.mark.parametrize("case", ID_CASES, ids=[c[0] for c in ID_CASES])
def test_string_ids_equal_integer_ids(case, data, fitted):
    X, _ = data
    est = fitted[case[0]]
    base = _apply(est, X, None)
    as_str = X.assign(**{c: X[c].astype(str) for c in IDS})
    if case[0] in ("ALSEmbedder", "FMEmbedder"):  # passthrough shows the ids
        width = base.shape[1]
        got = _apply(est, as_str, None)
        keep = [j for j in range(width) if not isinstance(got[0, j], str)]
        base, got = base[:, keep], got[:, keep]
        np.testing.assert_allclose(got.astype(float), base.astype(float))
        return
    _assert_same(_apply(est, as_str, None), base)


@pytest.mark.parametrize("case", ID_CASES, ids=[c[0] for c in ID_CASES])
def test_categories_reordered_or_extended(case, data, fitted):
    X, _ = data
    est = fitted[case[0]]
    base = _apply(est, X, None)
    changed = X.copy()
    for col in ("user_segment", "item_category"):
        cats = list(X[col].cat.categories)
        changed[col] = pd.Categorical(
            X[col].astype(object), categories=["never_seen"] + cats[::-1]
        )
    _assert_same(_apply(est, changed, None), base)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_nullable_dtypes(case, data, fitted):
    X, _ = data
    est, columns = fitted[case[0]], case[2]
    base = _apply(est, X, columns)
    nullable = X.astype({c: "Float64" for c in NUMERIC})
    if columns is None:
        nullable = nullable.astype({c: "Int64" for c in IDS})
    _assert_same(_apply(est, nullable, columns), base)


DETERMINISTIC = [c for c in CASES if c[0] in (
    "ALSEmbedder", "MultiTaskLGBM", "TraceNormMultiTask", "L21MultiTask",
    "ClusteredMultiTask", "FMRegressor",
)]  # fmt: skip


@pytest.mark.parametrize("case", DETERMINISTIC, ids=[c[0] for c in DETERMINISTIC])
def test_fit_on_permuted_rows_gives_the_same_model(case, data, fitted):
    """Same predictions up to float rounding (sums in another order).

    The regression FM's Gibbs draws are per parameter, not per row, so its
    chain is the same up to rounding; a probit task's latents are per row
    (FMClassifier, MultiTaskFM, FMEmbedder and the pipeline with binary
    tasks): the same posterior, another chain.
    """
    X, Y = data
    perm = np.random.default_rng(2).permutation(len(X))
    refit = _fit(case, X.iloc[perm].reset_index(drop=True),
                 Y.iloc[perm].reset_index(drop=True))  # fmt: skip
    base = _apply(fitted[case[0]], X, case[2])
    got = _apply(refit, X, case[2])
    if base.dtype == object:
        base, got = base[:, :-2].astype(float), got[:, :-2].astype(float)
    tolerance = 1e-3 if case[0] == "FMRegressor" else 1e-6
    np.testing.assert_allclose(got, base, rtol=tolerance, atol=tolerance)


def test_pipeline_on_int_column_names_equals_text_names(data):
    # its drop_time step matched the names with .str and failed on int names
    X, Y = data
    X = X.assign(timestamp=np.arange(len(X)))
    params = dict(fm_n_iter=5, iterations=3, factors=4, cv=2, n_estimators=20,
                  n_jobs=1, random_state=0)  # fmt: skip
    named = make_multitask_recommender(**params).fit(X, Y)
    Xi = X.set_axis(range(X.shape[1]), axis=1)
    time = list(X.columns).index("timestamp")
    ints = make_multitask_recommender(user_col=0, item_col=1, time_col=time, **params)
    ints.fit(Xi, Y)
    np.testing.assert_allclose(ints.predict(Xi), named.predict(X), rtol=1e-12)
    with pytest.raises(ValueError, match="array without column names.*time_col=None"):
        make_multitask_recommender(**params).fit(Xi.to_numpy(), Y)


def test_labels_with_x_index_labels_reordered_are_refused(data):
    # rows are matched by position: Y sorted by another column (its index then
    # lists X's labels in another order) gave every label to another row
    from mtlclassic import Recommender
    from mtlclassic.metrics import multitask_score, rmse

    X, Y = data
    X, Y = X.head(300), Y.head(300)
    shuffled = Y.sample(frac=1.0, random_state=0)
    message = (
        r"has (X|Y_true)'s index labels in another order.*reindex\((X|Y_true)\.index\)"
    )
    lgbm = MultiTaskLGBM(n_estimators=5, n_jobs=1, random_state=0)
    for fit in (
        lambda: lgbm.fit(X, shuffled),
        lambda: lgbm.fit(X, Y, sample_weight=pd.Series(1.0, index=X.index[::-1])),
        lambda: lgbm.fit(X, Y, eval_set=(X.head(100), Y.head(100)[::-1])),
        lambda: FMRegressor(2, n_iter=3).fit(X, shuffled["rating"].fillna(3.0)),
        lambda: TraceNormMultiTask(0.01, n_jobs=1).fit(X[NUMERIC], shuffled),
        lambda: make_multitask_recommender(fm_n_iter=3, n_jobs=1).fit(X, shuffled),
        lambda: Recommender(None, X[["item_id"]].drop_duplicates()).fit(X, shuffled),
        lambda: multitask_score(Y, shuffled),
        lambda: rmse(Y, shuffled),
    ):
        with pytest.raises(ValueError, match=message):
            fit()
    # a frame built by position (a default RangeIndex) beside a sorted X, and
    # other labels, are taken by position, as scikit-learn does
    ordered = X.sort_values("user_f0")
    P = pd.DataFrame(lgbm.fit(X, Y).predict(ordered), columns=list(Y.columns))
    Y_ordered = Y.loc[ordered.index]
    assert multitask_score(Y_ordered, P) == multitask_score(
        Y_ordered, P.set_axis(ordered.index)
    )
    lgbm.fit(ordered, Y_ordered.to_numpy(), sample_weight=pd.Series(np.ones(300)))
    fitted = lgbm.fit(X, Y.reset_index(drop=True))
    np.testing.assert_array_equal(
        fitted.predict(X), MultiTaskLGBM(**lgbm.get_params()).fit(X, Y).predict(X)
    )
