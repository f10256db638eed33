import hashlib
import io
import itertools
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mtlclassic import make_multitask_recsys
from mtlclassic.io import (
    FORMAT_VERSION,
    ModelFileError,
    _manifest_digest,
    load,
    read_manifest,
    save,
)
from tests._catalogue import catalogues


@pytest.fixture(scope="module")
def data():
    return make_multitask_recsys(n_users=40, n_items=30, n_events=400, random_state=0)


@pytest.fixture
def model_file(tmp_path, data):
    X, Y = data
    ct = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["user_segment", "item_category"]),
        remainder=StandardScaler(),
    )
    model = make_pipeline(ct, LogisticRegression()).fit(X, Y["click"])
    return model, save(model, tmp_path / "model.mtlc")


def test_pipeline_roundtrip_is_bit_identical(model_file, data):
    X, _ = data
    model, path = model_file
    loaded = load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    manifest = read_manifest(path)
    assert manifest["format_version"] == FORMAT_VERSION
    assert set(manifest["versions"]) >= {
        "mtlclassic",
        "scikit-learn",
        "lightgbm",
        "implicit",
        "numpy",
    }
    assert manifest["model"]["input_columns"] == list(X.columns)


def test_booster_and_pandas_roundtrip(tmp_path, data):
    import lightgbm as lgb

    X, Y = data
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1},
        lgb.Dataset(X, Y["click"]),
        15,
    )
    booster.best_iteration = 7
    obj = {
        "b": booster,
        "frame": X.head(5),
        ("t", 1): pd.Series(["a", "b"]),
        "sparse": __import__("scipy.sparse").sparse.eye(3, format="csr"),
        "nan": float("nan"),
    }
    loaded = load(save(obj, tmp_path / "x.mtlc"))
    np.testing.assert_array_equal(loaded["b"].predict(X), booster.predict(X))
    assert loaded["b"].best_iteration == 7
    pd.testing.assert_frame_equal(loaded["frame"], X.head(5))
    pd.testing.assert_series_equal(loaded[("t", 1)], obj[("t", 1)])
    assert (loaded["sparse"] != obj["sparse"]).nnz == 0 and np.isnan(loaded["nan"])


def test_save_refuses_what_it_cannot_store(tmp_path):
    with pytest.raises(TypeError, match="cannot store model.*function"):
        save(lambda x: x, tmp_path / "f.mtlc")
    save({"a": 1}, tmp_path / "a.mtlc")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save({"a": 1}, tmp_path / "a.mtlc", overwrite=False)


def _rewrite(path, edit_manifest=None, members=None, refresh_digest=True):
    """Rewrite a model file; ``refresh_digest``: as a crafted file would, so
    that the checks behind the manifest's own checksum are reached."""
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        data = {n: archive.read(n) for n in archive.namelist() if n != "manifest.json"}
    if edit_manifest:
        edit_manifest(manifest)
    if refresh_digest and "manifest_sha256" in manifest:
        manifest["manifest_sha256"] = _manifest_digest(manifest)
    data.update(members or {})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, blob in data.items():
            archive.writestr(name, blob)


def test_tampered_truncated_foreign_and_newer_files_are_refused(model_file, tmp_path):
    _, path = model_file
    blob = path.read_bytes()
    truncated = tmp_path / "truncated.mtlc"
    truncated.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ModelFileError, match="not a zip archive, or truncated"):
        load(truncated)
    foreign = tmp_path / "notes.txt"
    foreign.write_text("hello")
    with pytest.raises(ModelFileError, match="not an mtlclassic model file"):
        load(foreign)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "missing.mtlc")
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"format": "something-else"}))
    with pytest.raises(ModelFileError, match="not an mtlclassic model file"):
        load(other)

    tampered = tmp_path / "tampered.mtlc"
    tampered.write_bytes(blob)
    with zipfile.ZipFile(tampered) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".npy"))
        arr = np.load(io.BytesIO(archive.read(name)))
    buffer = io.BytesIO()
    np.save(buffer, arr + 1)
    _rewrite(tampered, members={name: buffer.getvalue()})
    with pytest.raises(ModelFileError, match="Checksum mismatch"):
        load(tampered)

    newer = tmp_path / "newer.mtlc"
    newer.write_bytes(blob)
    _rewrite(newer, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ModelFileError, match="Upgrade mtlclassic"):
        load(newer)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_loading_never_runs_code_from_the_file(model_file, tmp_path):
    _, path = model_file
    marker = tmp_path / "pwned"
    # 1. a type outside the allow-list
    evil = tmp_path / "evil.mtlc"
    evil.write_bytes(path.read_bytes())
    _rewrite(
        evil,
        lambda m: m.update(tree={"__object__": "os.system", "state": {"__dict__": []}}),
    )
    with pytest.raises(ModelFileError, match="does not create"):
        load(evil)
    _rewrite(
        evil,
        lambda m: m.update(
            tree={"__object__": "builtins.eval", "state": {"__dict__": []}}
        ),
    )
    with pytest.raises(ModelFileError, match="refusing to load"):
        load(evil)
    # 2. a pickle hidden in an array member, with a matching checksum
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    payload = buffer.getvalue()

    def point_at_payload(m):
        m["tree"] = {"__ndarray__": "arrays/evil.npy"}
        m["checksums"]["arrays/evil.npy"] = hashlib.sha256(payload).hexdigest()

    _rewrite(evil, point_at_payload, members={"arrays/evil.npy": payload})
    with pytest.raises(ModelFileError, match="without pickle"):
        load(evil)
    assert not marker.exists()


# ------------------------------------------------ every public estimator


def _numeric_tasks():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(120, 5))
    B = A @ rng.normal(size=(5, 3)) + 0.1 * rng.normal(size=(120, 3))
    B[:, 2] = (B[:, 2] > 0).astype(float)
    B[rng.random(B.shape) < 0.1] = np.nan  # missing labels
    return A, B


def _estimator_cases():
    from mtlclassic import (
        ALSEmbedder,
        ClusteredMultiTask,
        FMClassifier,
        FMEmbedder,
        FMRegressor,
        L21MultiTask,
        MultiTaskLGBM,
        TraceNormMultiTask,
    )

    return {
        "ALSEmbedder": (
            lambda: ALSEmbedder(
                factors=4, iterations=3, cv=2, n_jobs=1, random_state=0
            ),
            "recsys",
            "transform",
        ),
        "FMRegressor": (
            lambda: FMRegressor(n_components=2, n_iter=10, random_state=0),
            "numeric0",
            "predict",
        ),
        "FMClassifier": (
            lambda: FMClassifier(n_components=2, n_iter=10, random_state=0),
            "binary",
            "predict_proba",
        ),
        "FMEmbedder": (
            lambda: FMEmbedder(n_components=2, n_iter=5, cv=2, random_state=0),
            "recsys",
            "transform",
        ),
        "MultiTaskLGBM": (
            lambda: MultiTaskLGBM(n_estimators=15, n_jobs=1, random_state=0),
            "recsys",
            "predict",
        ),
        "MultiTaskLGBM-finetune": (
            lambda: MultiTaskLGBM(
                strategy="finetune", n_estimators=10, n_jobs=1, random_state=0
            ),
            "recsys",
            "predict",
        ),
        "MultiTaskLGBM-chain": (
            lambda: MultiTaskLGBM(
                chain=True, n_estimators=10, n_jobs=1, random_state=0
            ),
            "recsys",
            "predict",
        ),
        "TraceNormMultiTask": (
            lambda: TraceNormMultiTask(alpha=0.01, n_jobs=1),
            "numeric",
            "predict",
        ),
        "L21MultiTask": (
            lambda: L21MultiTask(alpha=0.01, n_jobs=1),
            "numeric",
            "predict",
        ),
        "ClusteredMultiTask": (
            lambda: ClusteredMultiTask(alpha=0.01, beta=0.01, n_clusters=2, n_jobs=1),
            "numeric",
            "predict",
        ),
    }


def _assert_identical(a, b):
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    else:
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.dtype == object:  # pass-through side columns next to floats
            assert all(x == y or (x != x and y != y) for x, y in zip(a.flat, b.flat))
        else:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", list(_estimator_cases()))
def test_every_public_estimator_roundtrips_bit_for_bit(name, data, tmp_path):
    import warnings

    make, kind, method = _estimator_cases()[name]
    X, Y = data
    A, B = _numeric_tasks()
    fit_args = {
        "recsys": (X, Y),
        "numeric": (A, B),
        "numeric0": (A[:, :], np.nan_to_num(B[:, 0])),
        "binary": (A, (np.nan_to_num(B[:, 1]) > 0).astype(int)),
    }[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make().fit(*fit_args)
    loaded = load(save(model, tmp_path / "m.mtlc"))
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    X_new = (
        make_multitask_recsys(n_users=50, n_items=40, n_events=200, random_state=3)[0]
        if kind == "recsys"
        else _numeric_tasks()[0][::-1] + 0.5
    )  # unseen users/items (cold start) and other rows than the fit's
    _assert_identical(getattr(loaded, method)(X_new), getattr(model, method)(X_new))


@pytest.fixture(scope="module")
def recommender(data):
    import warnings

    from mtlclassic import Recommender, make_multitask_recommender

    X, Y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make_multitask_recommender(
            n_estimators=15, factors=4, iterations=5, cv=2, n_jobs=1, random_state=0
        ).fit(X, Y)
    items, users = catalogues(X)
    rec = Recommender(
        model,
        items,
        users=users,
        context={"timestamp": X["timestamp"].max()},
        weights={"click": 1.0, "like": 2.0},
        n_candidates=15,
    )
    return model, rec


def test_pipeline_and_recommender_roundtrip(recommender, data, tmp_path):
    X, _ = data
    model, rec = recommender
    loaded = load(save(model, tmp_path / "pipe.mtlc", input_example=X.head()))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    manifest = read_manifest(tmp_path / "pipe.mtlc")
    assert manifest["model"]["tasks"] == {
        "rating": "regression",
        "click": "binary",
        "like": "binary",
    }
    assert [c["name"] for c in manifest["input_schema"]] == list(X.columns)

    loaded = load(save(rec, tmp_path / "rec.mtlc"))
    users = [0, 5, 7, 900]  # 900 was never seen: cold start
    pd.testing.assert_frame_equal(
        loaded.recommend(users, k=5), rec.recommend(users, k=5), check_exact=True
    )
    # the ALS step is stored once: the Recommender's handle on it and the
    # Pipeline's step are one object after loading, as before saving
    assert loaded._als is loaded.model.named_steps["alsembedder"]
    assert isinstance(loaded.seen_, pd.MultiIndex)
    assert loaded.seen_.equals(rec.seen_) and loaded.seen_.names == rec.seen_.names
    assert read_manifest(tmp_path / "rec.mtlc")["model"]["input_columns"] == list(
        X.columns
    )


def test_shared_references_cycles_and_indexes(tmp_path):
    from sklearn.linear_model import Ridge

    ridge = Ridge(alpha=2.0)
    holder = {"a": ridge, "b": [ridge, pd.RangeIndex(2, 10, 2, name="r")]}
    ridge.me_ = ridge  # a cycle through an object's state
    mi = pd.MultiIndex.from_arrays([["u1", "u2", "u1"], [3, 4, 5]], names=["u", "i"])
    holder["mi"] = mi
    holder["names"] = pd.Index(["x", "y"], name="n")
    loaded = load(save(holder, tmp_path / "h.mtlc"))
    assert loaded["a"] is loaded["b"][0] and loaded["a"].alpha == 2.0
    assert loaded["a"].me_ is loaded["a"]
    assert isinstance(loaded["b"][1], pd.RangeIndex)
    assert loaded["b"][1].equals(holder["b"][1]) and loaded["b"][1].name == "r"
    pd.testing.assert_index_equal(loaded["mi"], mi, exact=True)
    pd.testing.assert_index_equal(loaded["names"], holder["names"], exact=True)


def test_input_example_schema_and_its_errors(data, tmp_path):
    from mtlclassic import MultiTaskLGBM

    X, Y = data
    model = MultiTaskLGBM(n_estimators=5, n_jobs=1, random_state=0).fit(X, Y)
    path = save(model, tmp_path / "m.mtlc", input_example=X.head(3))
    schema = {c["name"]: c for c in read_manifest(path)["input_schema"]}
    assert schema["user_id"] == {"name": "user_id", "dtype": "int64"}
    assert (
        schema["item_category"]["categories"]
        == X["item_category"].cat.categories.tolist()
    )
    assert json.dumps(schema)  # plain JSON
    with pytest.raises(
        ValueError, match=r"input_example lacks the columns \['item_f1'\]"
    ):
        save(model, tmp_path / "x.mtlc", input_example=X.drop(columns="item_f1"))
    with pytest.raises(TypeError, match="input_example must be a pandas DataFrame"):
        save(model, tmp_path / "x.mtlc", input_example=X.to_numpy())


def test_a_dangling_reference_is_refused(model_file, tmp_path):
    _, path = model_file
    evil = tmp_path / "ref.mtlc"
    evil.write_bytes(path.read_bytes())
    _rewrite(evil, lambda m: m.update(tree={"__ref__": 99}))
    with pytest.raises(ModelFileError, match="before defining it"):
        load(evil)


def test_classes_moved_between_modules_load_by_their_old_names(data, tmp_path):
    # Files saved by earlier versions name FMEmbedder by modules that have
    # moved; load reads them through _allowlist.MOVED_MODULES, and the class
    # found is checked against the allow-list by its real name.
    from mtlclassic import FMEmbedder

    X, Y = data
    emb = FMEmbedder(n_components=2, n_iter=4, cv=None, random_state=0).fit(X, Y)
    saved = save(emb, tmp_path / "fm.mtlc").read_bytes()
    path = tmp_path / "old.mtlc"

    for old in (
        "mtlclassic.embedding._fm.FMEmbedder",  # the family's package
        "mtlclassic.embedding._fm_embedder.FMEmbedder",  # a module that moved
    ):

        def old_name(m, old=old):
            assert m["tree"]["__object__"] == "mtlclassic.FMEmbedder"
            m["tree"]["__object__"] = old

        path.write_bytes(saved)
        _rewrite(path, old_name)
        np.testing.assert_array_equal(load(path).transform(X), emb.transform(X))

    def smuggled(m):  # an allowed module's attribute that is a foreign class
        m["tree"]["__object__"] = "mtlclassic.io.zipfile.ZipFile"

    _rewrite(path, smuggled)
    with pytest.raises(ModelFileError, match="Cannot find the type"):
        load(path)


def test_a_booster_is_only_rebuilt_from_its_model_text(model_file, tmp_path):
    # an __object__ node could hand LightGBM a forged C handle: refused
    _, path = model_file
    evil = tmp_path / "booster.mtlc"
    evil.write_bytes(path.read_bytes())
    _rewrite(
        evil,
        lambda m: m.update(
            tree={
                "__object__": "lightgbm.basic.Booster",
                "state": {"__dict__": [["_handle", 123456789]]},
            }
        ),
    )
    with pytest.raises(ModelFileError, match="does not create"):
        load(evil)


def test_trusted_names_and_import_failures_are_reported(model_file, tmp_path):
    _, path = model_file
    assert load(path, trusted=None) is not None
    for bad in ("mypkg.", ".mypkg", "my-pkg", 3):
        with pytest.raises(TypeError, match="dotted module names"):
            load(path, trusted=[bad])
    named = tmp_path / "named.mtlc"
    named.write_bytes(path.read_bytes())
    _rewrite(
        named,
        lambda m: m.update(
            tree={"__object__": "nosuchmodule_xyz.Thing", "state": {"__dict__": []}}
        ),
    )
    with pytest.raises(ModelFileError, match="importing its module failed.*PYTHONPATH"):
        load(named, trusted=["nosuchmodule_xyz"])


def test_saving_a_class_of_main_warns(tmp_path):
    from sklearn.base import BaseEstimator

    class Local(BaseEstimator):
        pass

    Local.__module__ = "__main__"
    with pytest.warns(UserWarning, match="defined in __main__"):
        save(Local(), tmp_path / "local.mtlc")


def test_times_round_trip(tmp_path):
    """A Recommender's context often holds the time as a pandas Timestamp."""
    import numpy as np
    import pandas as pd
    from sklearn.dummy import DummyRegressor

    from mtlclassic import load, save

    values = {
        "naive": pd.Timestamp("2026-12-06 05:00:01.123456"),
        "aware": pd.Timestamp("2026-12-06 05:00:01", tz="Europe/Paris"),
        "seconds": pd.Timestamp("2026-12-06").as_unit("s"),
        "delta": pd.Timedelta("1D 3h"),
        "np_time": np.datetime64("2026-12-06T05:00:01", "s"),
        "np_delta": np.timedelta64(90, "m"),
        # beyond datetime64[ns] (1677-2262): its nanoseconds overflowed in save
        "late": pd.Timestamp("2300-01-01 12:00").as_unit("s"),
        "early": pd.Timestamp("1500-06-01", tz="UTC").as_unit("ms"),
        "long": pd.Timedelta(days=200 * 365).as_unit("s"),
    }
    holder = DummyRegressor().fit([[0.0]], [1.0])
    holder.times_ = values
    got = load(save(holder, tmp_path / "times.mtlc")).times_
    for key, value in values.items():
        assert got[key] == value and type(got[key]) is type(value), key
        if isinstance(value, pd.Timestamp | pd.Timedelta):
            assert got[key].unit == value.unit, key
    assert str(got["aware"].tz) == "Europe/Paris"
    # a node of a file written before (nanoseconds, no "in") reads as then
    from mtlclassic.io import _Reader

    old = {"__timestamp__": str(values["aware"].value), "tz": "Europe/Paris",
           "unit": "ns"}  # fmt: skip
    assert _Reader._decode_pandas(None, "__timestamp__", old) == values["aware"]


SAVED_BY_0_1 = Path(__file__).resolve().parent / "data" / "saved_by_0_1"


@pytest.mark.parametrize(
    "name",
    [
        "fm_embedder_mcmc",
        "fm_embedder_als_crossfit",
        "fm_regressor_als",
        "fm_classifier_mcmc",
        "multitask_fm_mcmc",
    ],
)
def test_files_saved_by_0_1_load_and_predict_identically(name):
    # Files written by main at cbb8d5e (make_fixtures.py beside them), before
    # the factorization machine's modules moved: today's load reads them and
    # they predict what they predicted then, to the last bit.
    X, _ = make_multitask_recsys(n_users=30, n_items=20, n_events=200, random_state=0)
    X = X.drop(columns="timestamp")
    rows = pd.read_csv(SAVED_BY_0_1 / "fm_rows.csv")
    pd.testing.assert_frame_equal(  # the generator still makes the same rows
        X.astype({c: str for c in ("user_segment", "item_category")}),
        rows.astype({c: str for c in ("user_segment", "item_category")}),
    )
    model = load(SAVED_BY_0_1 / f"{name}.mtlc")
    got = model.transform(X) if hasattr(model, "transform") else model.predict(X)
    expected = np.load(SAVED_BY_0_1 / "fm_expected.npz")[name]
    np.testing.assert_array_equal(np.asarray(got, dtype=float), expected)
    # parameters added since (FMEmbedder's n_jobs) read as their defaults
    params = model.get_params()
    assert params.keys() == type(model)().get_params().keys()
    if name.startswith("fm_embedder"):
        assert params["n_jobs"] is None
    clone(model)


@pytest.mark.parametrize("name", ["multitask_lgbm", "pipeline", "compiled_pipeline"])
def test_serving_files_saved_by_0_1_load_and_predict_identically(name):
    # Written by main at cbb8d5e (make_fixtures.py, serving()), before compile
    # moved into recommend/, the heads' fit helpers returned values and the
    # serving kernels moved into their families.
    X, _ = make_multitask_recsys(n_users=30, n_items=20, n_events=300, random_state=1)
    if name == "multitask_lgbm":
        X = X.drop(columns="timestamp")
    model = load(SAVED_BY_0_1 / f"{name}.mtlc")
    expected = np.load(SAVED_BY_0_1 / "serving_expected.npz")[name]
    np.testing.assert_array_equal(model.predict(X), expected)
    if name == "pipeline":  # every n_jobs settable (the CLI's --n-jobs)
        model.set_params(**dict.fromkeys(
            [k for k in model.get_params(deep=True) if k.endswith("n_jobs")], 1
        ))  # fmt: skip
    if name == "pipeline":  # and compiled today, the same numbers
        from mtlclassic import compile

        np.testing.assert_array_equal(compile(model).predict(X), expected)


def _edited_copy(path, target, edit_manifest, **kwargs):
    """A copy of the model file ``path`` at ``target``, its manifest edited."""
    target.write_bytes(path.read_bytes())
    _rewrite(target, edit_manifest, **kwargs)
    return target


def test_an_edited_object_tree_is_caught_by_the_manifest_checksum(model_file, tmp_path):
    def change_a_parameter(m):
        m["tree"] = json.loads(json.dumps(m["tree"]).replace('"C"', '"D"', 1))

    edited = _edited_copy(model_file[1], tmp_path / "edited.mtlc", change_a_parameter,
                          refresh_digest=False)  # fmt: skip
    with pytest.raises(ModelFileError, match="manifest .* was edited"):
        load(edited)
    with pytest.raises(ModelFileError, match="manifest .* was edited"):
        read_manifest(edited)


def test_a_dunder_module_is_never_imported_from_a_file(model_file, tmp_path):
    name = "mtlclassic.cli.__main__.Anything"  # importing it would run the CLI
    tree = {"__object__": name, "state": {}}
    evil = _edited_copy(
        model_file[1], tmp_path / "main.mtlc", lambda m: m.update(tree=tree)
    )
    with pytest.raises(ModelFileError, match="dunder module"):
        load(evil)  # a SystemExit from the CLI would escape this


def test_every_damaged_byte_gives_a_model_file_error_or_the_same_model(
    model_file, data, tmp_path
):
    X, _ = data
    model, path = model_file
    blob = bytearray(path.read_bytes())
    damaged = tmp_path / "damaged.mtlc"
    expected = model.predict_proba(X.head(50))
    outcomes = {"refused": 0, "same": 0}
    # every third byte, all its bits or only the lowest (a zip header's
    # encryption flag alone made zipfile raise RuntimeError)
    for position, mask in itertools.product(range(0, len(blob), 3), (0xFF, 0x01)):
        flipped = bytearray(blob)
        flipped[position] ^= mask
        damaged.write_bytes(bytes(flipped))
        try:
            loaded = load(damaged)
        except ModelFileError:
            outcomes["refused"] += 1
            continue
        # a byte the reader never uses (e.g. a header's date): the same model
        np.testing.assert_array_equal(loaded.predict_proba(X.head(50)), expected)
        outcomes["same"] += 1
    assert outcomes["refused"] > 0.8 * sum(outcomes.values())


def test_saving_into_a_missing_folder_and_loading_a_folder_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="the folder .*missing.* does not"):
        save({"a": 1}, tmp_path / "missing" / "m.mtlc")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        load(tmp_path)


def test_a_class_of_main_loads_when_main_is_trusted(tmp_path, monkeypatch):
    import sys

    from sklearn.base import BaseEstimator

    class Mine(BaseEstimator):
        def __init__(self, a=1):
            self.a = a

    Mine.__module__, Mine.__qualname__ = "__main__", "Mine"
    monkeypatch.setattr(sys.modules["__main__"], "Mine", Mine, raising=False)
    with pytest.warns(UserWarning, match="defined in __main__"):
        path = save(Mine(3), tmp_path / "mine.mtlc")
    assert load(path, trusted=["__main__"]).a == 3  # already imported: no import
    with pytest.raises(ModelFileError, match="refusing to load"):
        load(path)
