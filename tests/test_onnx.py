"""to_onnx: onnxruntime on the exported graph equals predict."""

import os
import stat

import numpy as np
import pytest
from numpy.testing import assert_allclose

from mtlclassic import (
    ALSEmbedder,
    FMClassifier,
    FMEmbedder,
    FMRegressor,
    MultiTaskFM,
    MultiTaskLGBM,
    Recommender,
    SessionEmbedder,
    make_multitask_recommender,
    make_multitask_recsys,
    onnx_inputs,
    to_onnx,
)
from tests._catalogue import catalogues
from tests._rows import PARAMS, awkward_rows, small_events

ort = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"  # short ALS-solver fits
)

TOL = dict(rtol=0, atol=1e-9)


def run(proto, data, output=0):
    session = ort.InferenceSession(
        proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, onnx_inputs(data, proto))[output]


@pytest.fixture(scope="module")
def data():
    return small_events()


@pytest.fixture(scope="module")
def pipeline(data):
    return make_multitask_recommender(**PARAMS).fit(*data)


def test_normal_cdf_equals_scipy_to_the_last_digits():
    from scipy.special import ndtr

    from mtlclassic._onnx_graph import Graph
    from mtlclassic.embedding._fm.onnx import normal_cdf

    rng = np.random.default_rng(0)
    edges = [0.0, -0.0, 1e-300, -37.9999, 37.5, np.inf, -np.inf]
    x = np.concatenate([np.linspace(-40, 40, 20_001), rng.normal(0, 3, 5000), edges])
    g = Graph()
    g.output(normal_cdf(g, g.input("x", "double", [None])), "y", [None])
    got = run_raw(g.model("cdf", {}), {"x": x})
    want = ndtr(x)
    normal = want > 1e-300  # not denormal
    # scipy's own error grows as x^2 eps in the lower tail (erfc of x / sqrt 2)
    rel = np.abs(got - want)[normal] / want[normal]
    assert (rel <= 5e-15 * np.maximum(1.0, x[normal] ** 2)).all(), rel.max()
    assert (got[~normal] <= 1e-300).all()


def run_raw(proto, feed):
    session = ort.InferenceSession(
        proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, feed)[0]


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_trees_follow_lightgbm_decisions_in_double_precision(zero_as_missing):
    """NaN under each missing type, categorical sets, single-leaf trees."""
    import lightgbm as lgb

    from mtlclassic._onnx_graph import Graph
    from mtlclassic.boosting._onnx_trees import booster_raw

    rng = np.random.default_rng(0)
    n = 3000
    X = rng.normal(size=(n, 5))
    X[:, 3] = rng.integers(0, 12, n)
    X[rng.random(n) < 0.1, 0] = np.nan  # missing type NaN
    X[:, 4] = np.where(rng.random(n) < 0.5, 0.0, X[:, 4])
    y = X[:, 1] + X[:, 3] % 3 + np.nan_to_num(X[:, 0]) - 2 * (X[:, 2] > 0.3)
    params = dict(objective="regression", verbose=-1, num_leaves=15,
                  zero_as_missing=zero_as_missing)  # fmt: skip
    booster = lgb.train(params, lgb.Dataset(X, y, categorical_feature=[3]), 40)
    stump = lgb.train(dict(params, min_data_in_leaf=10**6), lgb.Dataset(X, y), 3)
    T = rng.normal(size=(2000, 5))
    T[:, 3] = rng.integers(-1, 14, 2000)
    T[rng.random(2000) < 0.2] = np.nan  # column 2 had none in fit: type None
    T[:, 4] = np.where(rng.random(2000) < 0.3, 0.0, T[:, 4])
    T[:50, 2] = 0.3  # near the threshold learned on it
    for b, num_iteration in ((booster, 0), (booster, 17), (stump, 0)):
        g = Graph()
        out = booster_raw(g, b, num_iteration, g.input("X", "double", [None, 5]), "r")
        g.output(out, "y", [None, 1])
        got = run_raw(g.model("trees", {}), {"X": T}).ravel()
        want = b.predict(T, raw_score=True, num_iteration=num_iteration)
        assert_allclose(got, want, rtol=0, atol=1e-12)


def test_default_pipeline(data, pipeline):
    X, _ = data
    rows = awkward_rows(X)
    proto = to_onnx(pipeline, X.head())
    assert_allclose(run(proto, rows), pipeline.predict(rows), **TOL)
    as_dict = {c: rows[c].to_numpy() for c in rows.columns}
    assert_allclose(run(proto, as_dict), pipeline.predict(rows), **TOL)
    assert_allclose(run(proto, rows.iloc[:1]), pipeline.predict(rows.iloc[:1]), **TOL)
    pa = pytest.importorskip("pyarrow")  # a null in a dictionary column stays null
    assert_allclose(run(proto, pa.Table.from_pandas(rows)), pipeline.predict(rows),
                    **TOL)  # fmt: skip
    # without an example: ids typed by their fitted categories
    inferred = to_onnx(pipeline)
    assert_allclose(run(inferred, rows), pipeline.predict(rows), **TOL)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["mtlclassic_outputs"] == '["rating", "click", "like"]'


def test_text_ids_and_a_written_file(data, tmp_path):
    X, Y = data
    Xs = X.assign(user_id="u" + X["user_id"].astype(str),
                  item_id="i" + X["item_id"].astype(str))  # fmt: skip
    model = make_multitask_recommender(**PARAMS).fit(Xs, Y)
    rows = awkward_rows(X)
    rows = rows.assign(user_id="u" + rows["user_id"].astype(str),
                       item_id="i" + rows["item_id"].astype(str))  # fmt: skip
    path = tmp_path / "model.onnx"
    to_onnx(model, Xs.head(), path=path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, onnx_inputs(rows, path))[0]
    assert_allclose(got, model.predict(rows), **TOL)
    by_session = onnx_inputs(rows, session)  # the metadata read from the session
    for name, values in onnx_inputs(rows, path).items():
        np.testing.assert_array_equal(by_session[name], values)
    with pytest.raises(ValueError, match="not an ONNX graph"):
        onnx_inputs(rows, b"not a graph")


@pytest.mark.parametrize(
    "params",
    [
        dict(),
        dict(strategy="shared"),
        dict(strategy="finetune", finetune_n_estimators=5),
        dict(chain=True),
        dict(init_score={"rating": "item_f1"}),
    ],  # fmt: skip
    ids=["separate", "shared", "finetune", "chain", "init_score"],
)
def test_heads_alone(data, params):
    X, Y = data
    model = MultiTaskLGBM(n_estimators=15, random_state=0, n_jobs=1, **params)
    model.fit(X.drop(columns="timestamp"), Y)
    rows = awkward_rows(X).drop(columns="timestamp")
    proto = to_onnx(model, X.drop(columns="timestamp").head())
    assert_allclose(run(proto, rows), model.predict(rows), **TOL)


def test_heads_edge_cases(data):
    X, Y = data
    Xn = X.drop(columns=["timestamp", "user_segment", "item_category"])
    # an offset head that kept no tree predicts the offset alone
    model = MultiTaskLGBM(n_estimators=5, random_state=0, n_jobs=1,
                          init_score={"rating": "item_f1"}).fit(Xn, Y)  # fmt: skip
    model.best_iteration_["rating"] = 0
    assert_allclose(run(to_onnx(model, Xn), Xn), model.predict(Xn), **TOL)
    # fitted on an array with a 1-D y: one input X, a 1-D output
    A = Xn.to_numpy(dtype=float)
    single = MultiTaskLGBM(n_estimators=10, random_state=0, n_jobs=1).fit(
        A, Y["rating"].fillna(3.0).to_numpy()
    )
    A[::9, 2] = np.nan
    proto = to_onnx(single)
    got = run(proto, A)
    assert got.shape == (len(A),)
    assert_allclose(got, single.predict(A), **TOL)


@pytest.mark.parametrize("solver", ["mcmc", "als"])
def test_fm_estimators(data, solver):
    X, Y = data
    Xf = X.drop(columns="timestamp")
    rows = awkward_rows(X).drop(columns="timestamp")
    fit = dict(n_iter=15, random_state=0, solver=solver)
    reg = FMRegressor(3, **fit).fit(Xf, Y["rating"].fillna(3.0))
    assert_allclose(run(to_onnx(reg, Xf.head()), rows), reg.predict(rows), **TOL)
    clf = FMClassifier(3, **fit).fit(Xf, Y["click"].fillna(0).astype(int))
    proto = to_onnx(clf, Xf.head())
    assert_allclose(run(proto, rows), clf.predict_proba(rows), **TOL)
    multi = MultiTaskFM(3, **fit).fit(Xf, Y)  # regression and binary tasks
    assert_allclose(run(to_onnx(multi, Xf.head()), rows), multi.predict(rows), **TOL)
    # fitted on an array, a categorical column by position
    A = Xf[["user_id", "item_id", "user_f0", "item_f0"]].to_numpy(dtype=float)
    arr = FMRegressor(2, categorical_features=[0, 1], **fit).fit(
        A, Y["rating"].fillna(3.0)
    )
    B = awkward_rows(X)[["user_id", "item_id", "user_f0", "item_f0"]].to_numpy(float)
    assert_allclose(run(to_onnx(arr), B), arr.predict(B), **TOL)


def test_embedders_alone(data):
    X, Y = data
    Xf = X.drop(columns="timestamp")
    rows = awkward_rows(X).drop(columns="timestamp")
    for als in (ALSEmbedder(factors=4, iterations=3, random_state=0),
                ALSEmbedder(factors=4, iterations=3, unknown="mean",
                            features=("user", "item", "score"),
                            random_state=0)):  # fmt: skip
        als.set_output(transform="pandas").fit(Xf)
        want = als.transform(rows)[list(als._embedding_names())].to_numpy()
        assert_allclose(run(to_onnx(als, Xf.head()), rows), want, rtol=0, atol=1e-6)
    for target in ("all", "each"):
        fm = FMEmbedder(target, 2, n_iter=10, features=("fields", "scores"),
                        random_state=0).set_output(transform="pandas")  # fmt: skip
        fm.fit(Xf, Y)
        want = fm.transform(rows)[list(fm._embedding_names())].to_numpy()
        assert_allclose(run(to_onnx(fm, Xf.head()), rows), want, **TOL)


def test_recommender_fused_score(data, pipeline):
    X, _ = data
    items, users = catalogues(X)
    pairs = X[["user_id", "item_id"]].head(200)
    for fusion in ("weighted", "standardized", "product"):
        rec = Recommender(
            pipeline, items, users=users, context={"timestamp": 0}, fusion=fusion,
            weights={"click": 1.0, "like": 2.0},
        )  # fmt: skip
        want = rec.score_pairs(pairs)
        rows = rec._model_rows(pairs.reset_index(drop=True))
        proto = to_onnx(rec, X.head())
        assert_allclose(run(proto, rows, output=1), want["score"], **TOL)
    rec = Recommender(pipeline, items, users=users, context={"timestamp": 0},
                      fusion=lambda frame: frame["click"])  # fmt: skip
    with pytest.raises(ValueError, match="'fusion'"):
        to_onnx(rec, X.head())


def test_unexportable_parts_are_named(data):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, Y = data
    session = make_multitask_recommender(
        embedders=(SessionEmbedder(random_state=0), "fm", "als"), **PARAMS
    ).fit(X, Y)  # fmt: skip
    with pytest.raises(ValueError, match="'sessionembedder'.*SessionEmbedder"):
        to_onnx(session, X.head())
    Xn = X.drop(columns=["timestamp", "user_segment", "item_category"])
    scaled = make_pipeline(StandardScaler(), MultiTaskLGBM(n_estimators=3)).fit(Xn, Y)
    with pytest.raises(ValueError, match="'standardscaler'"):
        to_onnx(scaled, Xn.head())
    linear = {t: {"linear_tree": True} for t in Y.columns}
    heads = MultiTaskLGBM(n_estimators=3, random_state=0, task_params=linear)
    heads.fit(Xn, Y)
    with pytest.raises(ValueError, match="linear trees"):
        to_onnx(heads, Xn.head())


def test_bad_feeds(data, pipeline):
    X, _ = data
    proto = to_onnx(pipeline, X.head())
    with pytest.raises(ValueError, match="'item_id'"):
        onnx_inputs(X.drop(columns="item_id"), proto)
    with pytest.raises(ValueError, match="user_id.*missing"):
        onnx_inputs(X.head(3).assign(user_id=[1, None, 2]), proto)
    with pytest.raises(TypeError, match="input_example"):
        to_onnx(pipeline, X.to_numpy())


def test_cli_export_onnx(data, pipeline, tmp_path, capsys):
    from mtlclassic import save
    from mtlclassic.cli import main

    X, _ = data
    model_path = save(pipeline, tmp_path / "model.mtlc", input_example=X.head())
    out = tmp_path / "model.onnx"
    assert main(["export-onnx", str(model_path), str(out)]) == 0
    # the file mode every other output gets (0666 less the umask), not 0600
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(model_path.stat().st_mode) == 0o666 & ~umask
    rows = awkward_rows(X)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(["predictions"], onnx_inputs(rows, out))[0]
    assert_allclose(got, pipeline.predict(rows), **TOL)
    assert main(["export-onnx", str(model_path), str(out)]) == 2  # exists
    assert "--overwrite" in capsys.readouterr().err
    # typed by an example file (text ids) instead of the saved schema
    example = tmp_path / "example.csv"
    X.head(20).assign(user_id="u" + X["user_id"].head(20).astype(str)).to_csv(
        example, index=False
    )
    assert main(["export-onnx", str(model_path), str(out), "--overwrite",
                 "--example", str(example)]) == 0  # fmt: skip
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(string)"


@pytest.mark.parametrize(
    "params",
    [
        {"rating": {"objective": "poisson"}},
        {"rating": {"objective": "gamma"}},
        {"rating": {"objective": "tweedie"}},
        {"rating": {"reg_sqrt": True}},
        {"rating": {"boosting": "rf", "bagging_freq": 1, "bagging_fraction": 0.8}},
        {"click": {"sigmoid": 2.0}},
        {"click": {"objective": "cross_entropy_lambda"}},
    ],
    ids=["poisson", "gamma", "tweedie", "reg_sqrt", "rf", "sigmoid2", "xentlambda"],
)
def test_heads_with_lightgbm_output_links(data, params):
    """Booster.predict's link (exp, sign x^2, sigmoid(2x), log1p exp, tree mean)."""
    X, Y = data
    Xf = X.drop(columns="timestamp")
    model = MultiTaskLGBM(n_estimators=15, random_state=0, n_jobs=1,
                          task_params=params).fit(Xf, Y)  # fmt: skip
    rows = awkward_rows(X).drop(columns="timestamp")
    assert_allclose(run(to_onnx(model, Xf.head()), rows), model.predict(rows), **TOL)


def test_linear_trees_are_refused_even_without_numeric_leaf_features(data):
    X, Y = data
    Xc = X[["user_segment", "item_category"]]
    linear = {t: {"linear_tree": True} for t in Y.columns}
    model = MultiTaskLGBM(n_estimators=5, random_state=0, n_jobs=1,
                          task_params=linear).fit(Xc, Y)  # fmt: skip
    with pytest.raises(ValueError, match="task 'rating'.*linear trees"):
        to_onnx(model, Xc.head())


def test_input_types_and_unused_columns(data, pipeline):
    X, _ = data
    proto = to_onnx(pipeline, X.head())
    inputs = {i.name: i.type.tensor_type.elem_type for i in proto.graph.input}
    assert "timestamp" not in inputs  # dropped by the pipeline: not an input
    assert inputs["user_id"] == 7  # int64, looked up: the example's type
    rows = awkward_rows(X)
    no_time = rows.drop(columns="timestamp")
    assert_allclose(run(proto, no_time), pipeline.predict(rows), **TOL)
    # a numeric column is double whatever the example's dtype: 7.5 stays 7.5
    ints = X.head().assign(user_f0=1, item_f1=2)
    typed = to_onnx(pipeline, ints)
    elem = {i.name: i.type.tensor_type.elem_type for i in typed.graph.input}
    assert elem["user_f0"] == 11  # double
    assert_allclose(run(typed, rows), pipeline.predict(rows), **TOL)
    # an int64 input refuses what it would truncate; float ids match text ids
    with pytest.raises(ValueError, match="'user_id'.*fractional"):
        onnx_inputs(rows.assign(user_id=rows["user_id"] + 0.5), proto)
    text = to_onnx(pipeline, X.head().astype({"user_id": str, "item_id": str}))
    floats = rows.astype({"user_id": float})
    assert_allclose(run(text, floats), pipeline.predict(rows), **TOL)


def test_other_pipeline_shapes(data):
    from sklearn.pipeline import make_pipeline

    X, Y = data
    Xf = X.drop(columns="timestamp")
    rows = awkward_rows(X).drop(columns="timestamp")
    fm = dict(n_components=2, n_iter=10, cv=2, random_state=0, features=("scores",))
    heads = dict(n_estimators=10, random_state=0, n_jobs=1)
    excluded = make_pipeline(
        FMEmbedder(exclude=["user_f0"], **fm).set_output(transform="pandas"),
        MultiTaskLGBM(**heads),
    ).fit(Xf, Y)  # the first step passes an excluded column through
    assert_allclose(run(to_onnx(excluded, Xf.head()), rows), excluded.predict(rows),
                    **TOL)  # fmt: skip
    Xn = Xf.drop(columns=["user_segment", "item_category"])
    arrays = make_pipeline(FMEmbedder(**fm), MultiTaskLGBM(**heads)).fit(Xn, Y)
    rows_n = rows[list(Xn.columns)]  # numpy output: the heads read positions
    assert_allclose(run(to_onnx(arrays, Xn.head()), rows_n), arrays.predict(rows_n),
                    **TOL)  # fmt: skip


def test_names_and_weights_that_cannot_be_exported(data, pipeline):
    X, Y = data
    Xn = X[["user_f0", "item_f0"]].assign(predictions=1.0)
    model = MultiTaskLGBM(n_estimators=3, random_state=0, n_jobs=1).fit(Xn, Y)
    with pytest.raises(ValueError, match=r"\['predictions'\].*rename"):
        to_onnx(model, Xn.head())
    items, users = catalogues(X)
    rec = Recommender(pipeline, items, users=users, context={"timestamp": 0},
                      fusion="weighted", weights={"clik": 1.0})  # fmt: skip
    with pytest.raises(ValueError, match="'weights'.*clik"):
        to_onnx(rec, X.head())


def test_shared_heads_pipeline_fits_and_exports(data):
    """strategy="shared" in the default pipeline: FM scores as features, no offsets."""
    from mtlclassic import compile

    X, Y = data
    model = make_multitask_recommender(strategy="shared", **PARAMS).fit(X, Y)
    assert model.steps[-1][1].init_score is None
    rows = awkward_rows(X)
    assert_allclose(run(to_onnx(model, X.head()), rows), model.predict(rows), **TOL)
    assert (compile(model).predict(rows) == model.predict(rows)).all()


def test_cli_export_onnx_bad_outputs(data, pipeline, tmp_path, capsys):
    from mtlclassic import save
    from mtlclassic.cli import main

    X, _ = data
    model_path = save(pipeline, tmp_path / "model.mtlc", input_example=X.head())
    folder = tmp_path / "folder"
    folder.mkdir()
    assert main(["export-onnx", str(model_path), str(folder), "--overwrite"]) == 2
    assert "is a folder" in capsys.readouterr().err
    missing = tmp_path / "nowhere" / "m.onnx"
    assert main(["export-onnx", str(model_path), str(missing)]) == 2
    assert "'" + str(missing) + "'" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    X.head(5).drop(columns="item_id").to_csv(bad, index=False)
    out = tmp_path / "m.onnx"
    assert main(["export-onnx", str(model_path), str(out), "--example", str(bad)]) == 2
    assert "bad.csv" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bad.csv",
        "folder",
        "model.mtlc",
    ]  # nothing half-written


def test_a_missing_text_value_is_not_the_empty_string_category(tmp_path, capsys):
    """ "" can be a real category: a missing value must not be scored as it, on
    any path (predict is the oracle; a CSV cannot tell them apart: a note)."""
    import pandas as pd

    from mtlclassic import compile, save
    from mtlclassic.cli import main

    X, Y = make_multitask_recsys(n_users=60, n_items=40, n_events=1500, random_state=0)
    X = X.assign(item_category=X.item_category.cat.rename_categories({"cat0": ""}))
    model = make_multitask_recommender(
        n_estimators=20, factors=4, fm_n_iter=5, random_state=0, cv=3, n_jobs=1
    ).fit(X, Y)
    rows = X.head(6).copy()
    rows["item_category"] = pd.Categorical(
        [np.nan, "", "cat1", None, "", "cat2"],
        categories=X.item_category.cat.categories,
    )
    expected = model.predict(rows)
    assert np.abs(expected[0] - expected[1]).max() > 1e-3  # missing differs from ""
    assert_allclose(compile(model).predict(rows), expected, rtol=0, atol=0)
    graph = to_onnx(model, X.head())
    feed = onnx_inputs(rows, graph)
    assert feed["item_category"][1] == "" and feed["item_category"][0] != ""
    session = ort.InferenceSession(graph.SerializeToString(),
                                   providers=["CPUExecutionProvider"])  # fmt: skip
    assert_allclose(session.run(["predictions"], feed)[0], expected, **TOL)
    path = save(model, tmp_path / "m.mtlc", input_example=X.head())
    rows.to_parquet(tmp_path / "rows.parquet")
    assert main(["score", str(path), str(tmp_path / "rows.parquet"),
                 str(tmp_path / "o.csv")]) == 0  # fmt: skip
    out = pd.read_csv(tmp_path / "o.csv")[list(Y.columns)].to_numpy()
    assert_allclose(out, expected, rtol=0, atol=0)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    main(["score", str(path), str(tmp_path / "rows.csv"), str(tmp_path / "o2.csv")])
    assert "the model knows the category '' (empty text)" in capsys.readouterr().err
    # a model that knows the graph's missing-text token is refused at export
    odd = X.assign(item_category=X.item_category.cat.rename_categories(
        {"cat1": "\x00missing"}))  # fmt: skip
    odd_model = make_multitask_recommender(
        n_estimators=5, factors=4, fm_n_iter=3, random_state=0, cv=2, n_jobs=1
    ).fit(odd, Y)
    with pytest.raises(ValueError, match="column 'item_category'.*missing value"):
        to_onnx(odd_model, odd.head())


def test_frames_with_int_column_names_and_bool_categories():
    """onnx_inputs did not find columns named 0, 1 (the graph names them '0',
    '1'); text categories behind int names were blamed on input_example; bool
    categories were refused for their double input."""
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame({"f": rng.normal(size=n),
                      "flag": pd.Categorical(rng.random(n) > 0.5),
                      "seg": pd.Categorical(rng.choice(["a", "b"], n))})  # fmt: skip
    Y = pd.DataFrame({"r": X.f + X.flag.astype(float) + rng.normal(size=n) * 0.1})
    fm = MultiTaskFM(2, n_iter=5, random_state=0).fit(X[["f"]].set_axis([0], axis=1), Y)
    ints = X[["f"]].set_axis([0], axis=1)
    assert_allclose(run(to_onnx(fm, ints), ints), fm.predict(ints), rtol=0, atol=1e-12)
    heads = MultiTaskLGBM(n_estimators=5, n_jobs=1).fit(X[["f", "flag"]], Y)
    want = heads.predict(X[["f", "flag"]])
    for example in (X[["f", "flag"]], X[["f", "flag"]].astype({"flag": bool})):
        proto = to_onnx(heads, example.head())
        assert_allclose(run(proto, example), want, rtol=0, atol=1e-12)
    named = X[["f", "seg"]].set_axis([0, 1], axis=1)
    model = MultiTaskLGBM(n_estimators=5, n_jobs=1, categorical_features=[1])
    with pytest.raises(ValueError, match=r"no feature names .* column 1 has text"):
        to_onnx(model.fit(named, Y), named.head())


@pytest.mark.parametrize("objective", ["poisson", "tweedie", "binary"])
def test_heads_with_an_offset_apply_the_objectives_link_after_it(objective):
    # exp(raw + offset) for a count objective, not raw + offset (LightGBM #1778)
    import pandas as pd

    from mtlclassic import MultiTaskLGBM

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600)})
    X["off"] = np.log(2.0) + 0.3 * X["b"]
    mean = np.exp(X["off"] + 0.5 * X["a"])
    binary = objective == "binary"
    y = (rng.random(600) < mean / (1 + mean)) if binary else rng.poisson(mean)
    model = MultiTaskLGBM(
        tasks=["binary" if binary else "regression"], n_estimators=20,
        task_params={"y": {"objective": objective}}, init_score={"y": "off"},
        n_jobs=1, random_state=0,
    ).fit(X, pd.DataFrame({"y": y.astype(float)}))  # fmt: skip
    expected = model.predict(X)
    assert expected.min() > 0  # the link's scale, not the raw score's
    assert_allclose(run(to_onnx(model, X.head()), X), expected, **TOL)


def test_onnx_inputs_refuse_bool_ids_and_times_for_numbers(pipeline, data):
    # predict refuses both; onnx_inputs fed True/False as the ids 1/0 and a
    # datetime's ticks as the number
    import datetime

    import pandas as pd

    X, _ = data
    proto = to_onnx(pipeline, X.head())
    rows = X.head(5)
    with pytest.raises(ValueError, match="'user_id' .*holds bools"):
        onnx_inputs(rows.assign(user_id=rows.user_id % 2 == 0), proto)
    numeric = next(c for c in rows.columns if c.startswith("user_f"))
    for value in (pd.Timestamp("2024-01-01"), datetime.datetime(2024, 1, 1),
                  pd.Timedelta(days=1)):  # fmt: skip
        boxed = pd.Series([value] * 5, dtype=object, index=rows.index)
        for frame in (rows.assign(**{numeric: value}), rows.assign(**{numeric: boxed})):
            with pytest.raises(ValueError, match=f"'{numeric}' .*holds times"):
                onnx_inputs(frame, proto)
    assert_allclose(run(proto, rows), pipeline.predict(rows), **TOL)
