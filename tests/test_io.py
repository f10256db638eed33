import hashlib
import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mtlclassic import make_multitask_recsys
from mtlclassic.io import FORMAT_VERSION, ModelFileError, load, read_manifest, save


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


def _rewrite(path, edit_manifest=None, members=None):
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        data = {n: archive.read(n) for n in archive.namelist() if n != "manifest.json"}
    if edit_manifest:
        edit_manifest(manifest)
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
