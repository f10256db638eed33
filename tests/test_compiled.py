"""compile(model): the array scoring path equals predict."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from mtlclassic import (
    FMRegressor,
    MultiTaskLGBM,
    Recommender,
    SessionEmbedder,
    compile,
    make_multitask_recommender,
    make_multitask_recsys,
)
from tests._catalogue import catalogues
from tests._rows import PARAMS, awkward_rows, small_events


@pytest.fixture(scope="module")
def data():
    return small_events()


@pytest.fixture(scope="module")
def pipeline(data):
    return make_multitask_recommender(**PARAMS).fit(*data)


def test_default_pipeline_equals_predict_on_every_input_type(data, pipeline):
    X, _ = data
    compiled = compile(pipeline)
    assert compiled.kernels == ["compiled"] * 4
    rows = awkward_rows(X)
    expected = pipeline.predict(rows)
    assert_array_equal(compiled.predict(rows), expected)
    as_dict = {c: rows[c].to_numpy() for c in rows.columns}
    assert_array_equal(compiled.predict(as_dict), expected)
    pa = pytest.importorskip("pyarrow")
    assert_array_equal(compiled.predict(pa.Table.from_pandas(rows)), expected)
    assert_array_equal(compiled.predict(rows.assign(extra=1.0)), expected)
    assert_array_equal(compiled.predict(rows.iloc[:1]), pipeline.predict(rows.iloc[:1]))


def test_bad_input(data, pipeline):
    X, _ = data
    compiled = compile(pipeline)
    with pytest.raises(ValueError, match="missing columns seen in fit"):
        compiled.predict(X.drop(columns="item_id"))
    with pytest.raises(ValueError, match="different lengths"):
        compiled.predict({"user_id": [1, 2], "item_id": [1]})
    with pytest.raises(TypeError, match="DataFrame, a dict"):
        compiled.predict(X.to_numpy())
    with pytest.raises(ValueError, match="missing id"):
        compiled.predict(X.head(3).assign(user_id=[1, None, 2]))


@pytest.mark.parametrize(
    "params",
    [
        dict(),
        dict(strategy="shared"),
        dict(chain=True),
        dict(init_score={"rating": "item_f1"}),
    ],  # fmt: skip
    ids=["separate", "shared", "chain", "init_score"],
)
def test_heads_alone(data, params):
    X, Y = data
    model = MultiTaskLGBM(n_estimators=15, random_state=0, n_jobs=1, **params)
    model.fit(X.drop(columns="timestamp"), Y)
    rows = awkward_rows(X).drop(columns="timestamp")
    assert_array_equal(compile(model).predict(rows), model.predict(rows))


def test_steps_without_a_kernel_run_their_own_transform(data):
    X, Y = data
    fm = FMRegressor(2, n_iter=10, random_state=0).fit(
        X[["user_id", "item_id"]].astype(str), Y["rating"].fillna(3.0)
    )
    rows = X[["user_id", "item_id"]].astype(str).head(50)
    compiled = compile(fm)
    assert compiled.kernels == ["fallback"]
    assert_array_equal(compiled.predict(rows), fm.predict(rows))
    session = make_multitask_recommender(
        embedders=(SessionEmbedder(random_state=0), "fm", "als"), **PARAMS
    ).fit(X, Y)  # fmt: skip
    compiled = compile(session)
    assert compiled.kernels[0] == "fallback" and compiled.kernels[-1] == "compiled"
    assert_array_equal(compiled.predict(X.head(200)), session.predict(X.head(200)))


def test_compiled_model_follows_an_update(data):
    X, Y = data
    model = make_multitask_recommender(**PARAMS).fit(X.iloc[:1200], Y.iloc[:1200])
    compiled = compile(model)
    compiled.predict(X.head(5))  # indexes built
    items, users = catalogues(X)
    rec = Recommender(model, items, users=users, context={"timestamp": 0})
    new = X.iloc[1200:].assign(user_id=X["user_id"].iloc[1200:] + 5_000)
    rec.update(new, Y.iloc[1200:])  # new users: ALS and FM grow
    assert_array_equal(compiled.predict(new), model.predict(new))


def test_pipelines_of_other_shapes_equal_predict(data):
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mtlclassic import ALSEmbedder, FMEmbedder

    X, Y = data
    Xs = X.drop(columns=["user_segment", "item_category", "timestamp"])
    heads = dict(n_estimators=15, n_jobs=1, random_state=0)
    als = dict(factors=4, iterations=3, cv=2, random_state=0)
    fm = dict(n_components=2, n_iter=10, cv=2, random_state=0)
    cases = {
        "array heads": make_pipeline(StandardScaler(), MultiTaskLGBM(**heads)),
        "als numpy": make_pipeline(ALSEmbedder(**als), MultiTaskLGBM(**heads)),
        "als pandas, scaler": make_pipeline(
            ALSEmbedder(**als).set_output(transform="pandas"),
            StandardScaler().set_output(transform="pandas"), MultiTaskLGBM(**heads),
        ),
        "fm exclude, als, ridge": make_pipeline(
            FMEmbedder(exclude="user_f1", **fm).set_output(transform="pandas"),
            ALSEmbedder(**als).set_output(transform="pandas"), Ridge(),
        ),
    }  # fmt: skip
    for name, model in cases.items():
        y = Y["rating"].fillna(3.0) if name.endswith("ridge") else Y
        model.fit(Xs, y)
        assert_array_equal(
            compile(model).predict(Xs.head(50)), model.predict(Xs.head(50)), name
        )
    default = make_multitask_recommender(
        time_col=None, fmembedder__exclude="user_f1", **PARAMS
    ).fit(X, Y)
    assert_array_equal(
        compile(default).predict(X.head(50)), default.predict(X.head(50))
    )
    timed = make_multitask_recommender(**PARAMS).fit(X, Y)
    no_time = X.head(50).drop(columns="timestamp")  # X without it is fine
    assert_array_equal(compile(timed).predict(no_time), timed.predict(no_time))


def test_text_in_numeric_columns_is_refused_as_predict_does(data, pipeline):
    X, _ = data
    bad = X.head(5).assign(user_f0=X["user_f0"].head(5).astype(str))
    with pytest.raises(TypeError, match="user_f0"):
        pipeline.predict(bad)
    with pytest.raises(TypeError, match="user_f0"):
        compile(pipeline).predict(bad)


def test_n_jobs_splits_a_batch_with_the_same_numbers(data, pipeline):
    X, _ = data
    rows = pd.concat([awkward_rows(X)] * 30, ignore_index=True)  # 9,000 rows
    one = compile(pipeline).predict(rows)
    split = compile(pipeline, n_jobs=2)
    assert split.n_jobs == 2
    assert_array_equal(split.predict(rows), one)
    assert_array_equal(split.predict(rows.iloc[:10]), one[:10])  # too small to split


def test_every_public_predictor_and_a_recommenders_top_k(data, pipeline):
    """compile(est).predict equals est.predict for each public estimator with one."""
    from sklearn.base import clone

    import mtlclassic
    from tests._instances import INSTANCE_PARAMS

    X, Y = data
    Xn = X[["user_f0", "user_f1", "item_f0", "item_f1"]]
    rows = awkward_rows(X)[list(Xn.columns)].fillna(0.0)  # linear models: no NaN
    checked = []
    for name, params in INSTANCE_PARAMS.items():
        if not hasattr(mtlclassic, name):
            continue  # a family's estimator (a candidate generator): no predict
        est = getattr(mtlclassic, name)(**params)
        if not hasattr(est, "predict"):
            continue  # a transformer: compiled as a step of a pipeline (above)
        if name == "FMClassifier":
            y = Y["click"].fillna(0).astype(int)
        elif name == "FMRegressor":
            y = Y["rating"].fillna(0.0)
        elif name == "MultiTaskLGBM" or name.startswith("MultiTaskFM"):
            y = Y
        else:
            y = Y[["rating", "click"]].fillna(0.0)
        for fitted in (clone(est).fit(Xn, y), clone(est).fit(Xn.to_numpy(), y)):
            R = rows if hasattr(fitted, "feature_names_in_") else rows.to_numpy()
            assert_array_equal(compile(fitted).predict(R), fitted.predict(R), name)
        checked.append(name)
    assert len(checked) >= 12, checked
    # a Recommender's top-k (scored through the compiled path) equals a ranking
    # of every unseen item by the model's own predict
    items, users = catalogues(X)
    rec = Recommender(pipeline, items, users=users, context={"timestamp": 0},
                      fusion="weighted", candidates="all")  # fmt: skip
    top = rec.recommend([3], k=5)
    seen = set(X.loc[X["user_id"] == 3, "item_id"])
    pairs = pd.DataFrame({"user_id": 3, "item_id": [i for i in items["item_id"]
                                                    if i not in seen]})  # fmt: skip
    model_rows = pairs.merge(users, on="user_id").merge(items, on="item_id")
    model_rows["timestamp"] = 0
    score = pipeline.predict(model_rows[list(X.columns)]).sum(axis=1)
    best = model_rows["item_id"].to_numpy()[np.argsort(-score, kind="stable")[:5]]
    assert top["item_id"].tolist() == best.tolist()


def test_compile_refuses_what_it_cannot_take(data, pipeline):
    X, _ = data
    items, users = catalogues(X)
    rec = Recommender(pipeline, items, users=users, context={"timestamp": 0})
    with pytest.raises(TypeError, match=r"compile\(recommender.model_\)"):
        compile(rec)
    for bad in (0, "2", 1.5, True):
        with pytest.raises(ValueError, match="n_jobs"):
            compile(pipeline, n_jobs=bad)


def test_a_compiled_model_goes_where_models_go(tmp_path):
    """pickle, joblib, deepcopy and mtlclassic.save carry it (the kernels are
    rebuilt on first use), with the same numbers after."""
    import copy
    import pickle

    import joblib

    from mtlclassic import load, save

    X, Y = make_multitask_recsys(n_users=40, n_items=30, n_events=800, random_state=0)
    model = make_multitask_recommender(
        n_estimators=10, factors=4, fm_n_iter=5, cv=2, random_state=0, n_jobs=1
    ).fit(X, Y)
    compiled = compile(model)
    expected = compiled.predict(X.tail(40))
    joblib.dump(compiled, tmp_path / "c.joblib")
    for other in (
        pickle.loads(pickle.dumps(compiled)),
        joblib.load(tmp_path / "c.joblib"),
        copy.deepcopy(compiled),
        load(save(compiled, tmp_path / "c.mtlc")),
    ):
        assert type(other) is type(compiled) and other.kernels == compiled.kernels
        np.testing.assert_array_equal(other.predict(X.tail(40)), expected)
