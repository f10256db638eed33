"""Ids are opaque: unsigned 64-bit hashes above int64 work on every path."""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import mtlclassic as mtl
from mtlclassic.candidates import EASE, Popularity
from mtlclassic.cli import main
from tests._catalogue import catalogues

HASH = np.uint64(2**63 + 12345)


@pytest.fixture(scope="module")
def hashed():
    X, Y = mtl.make_multitask_recsys(n_users=60, n_items=40, n_events=1500,
                                     random_state=0)  # fmt: skip
    users = X.user_id.to_numpy().astype(np.uint64) * np.uint64(1000003) + HASH
    X = X.assign(user_id=users)
    assert X.user_id.dtype == np.uint64 and X.user_id.min() > 2**63
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = mtl.make_multitask_recommender(
            n_estimators=10, factors=4, fm_n_iter=3, random_state=0, cv=2, n_jobs=1
        ).fit(X, Y)
    return X, Y, model


def test_every_scoring_path_takes_uint64_hashes(hashed, tmp_path):
    X, Y, model = hashed
    rows = X.head(30)
    expected = model.predict(rows)
    assert_array_equal(mtl.compile(model).predict(rows), expected)
    path = mtl.save(model, tmp_path / "m.mtlc", input_example=X.head())
    for name in ("rows.csv", "rows.parquet"):
        (rows.to_csv if name.endswith("csv") else rows.to_parquet)(
            tmp_path / name, **({"index": False} if name.endswith("csv") else {})
        )
        out = tmp_path / f"{name}.out.csv"
        assert main(["score", str(path), str(tmp_path / name), str(out)]) == 0
        scored = pd.read_csv(out, dtype={"user_id": "uint64"})
        assert_array_equal(scored.user_id.to_numpy(), rows.user_id.to_numpy())
        assert_allclose(scored[list(Y.columns)].to_numpy(), expected, rtol=1e-12)
    ort = pytest.importorskip("onnxruntime")
    graph = mtl.to_onnx(model, X.head())
    session = ort.InferenceSession(graph.SerializeToString(),
                                   providers=["CPUExecutionProvider"])  # fmt: skip
    got = session.run(["predictions"], mtl.onnx_inputs(rows, graph))[0]
    assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_recommenders_and_generators_take_uint64_hashes(hashed):
    X, Y, model = hashed
    items, users = catalogues(X)
    asked = X.user_id.head(3).tolist()  # Python ints above int64
    top = mtl.Recommender(model, items, users=users).recommend(asked, k=3)
    assert set(top.user_id) == set(asked) and top.user_id.dtype == np.uint64
    for generator in (EASE(5.0), Popularity()):
        got = generator.fit(X).recommend(pd.Series(asked, dtype="uint64"), 3)
        assert pd.unique(got.user_id).tolist() == asked
    with pytest.raises(ValueError, match="user_ids has 1 missing id"):
        EASE(5.0).fit(X).recommend(pd.array([asked[0], None], dtype="UInt64"), 3)
