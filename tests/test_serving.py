"""The serving table: a new embedder is compiled and exported to ONNX by code
in its own family only (here, this test module), never by edits to the
serving paths (``recommend/_compiled.py``, ``_onnx/``)."""

import numpy as np
import pandas as pd
import pytest

from mtlclassic import (
    FMEmbedder,
    MultiTaskLGBM,
    compile,
    make_multitask_recommender,
    make_multitask_recsys,
    to_onnx,
)
from mtlclassic._onnx_graph import DOUBLE, Col, lookup_keys
from mtlclassic._serving import in_order, lookup, register
from mtlclassic.embedding import lookup_ids
from mtlclassic.embedding._fm.base import _BaseFM
from tests.test_embedder_protocol import ItemPopularity

# ------------------------------------------------- the plug-in's own family


class ServedPopularity(ItemPopularity):
    """ItemPopularity with its serving kernels registered beside it."""


def popularity_kernel(step):
    out_names = [str(c) for c in step.get_feature_names_out()]
    index = pd.Index(step.item_ids_)

    def kernel(columns, n_rows):
        rows = lookup_ids(step.item_ids_, columns[step.item_col], step.item_col,
                          built=index)  # fmt: skip
        counts = np.where(rows >= 0, step.counts_[np.maximum(rows, 0)], 0)
        return in_order(out_names, {"item_log_popularity": np.log1p(counts)}, columns)

    return kernel


def popularity_onnx(g, name, step, frame):
    col = frame[step.item_col]
    keys = lookup_keys(list(step.item_ids_), col.kind, step.item_col)
    table = np.append(np.log1p(step.counts_), 0.0)  # the last row: an unseen item
    rows = g.lookup(col, keys, "popularity_row", len(keys))
    value = g.op("Gather", [g.const(table, "popularity"), rows], "item_log_pop")
    return {"item_log_popularity": Col(value, DOUBLE)}


register(
    ServedPopularity,
    transform=popularity_kernel,
    onnx_transform=popularity_onnx,
    onnx_categories=lambda step: {step.item_col: list(step.item_ids_)},
)

# --------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def data():
    X, Y = make_multitask_recsys(n_users=50, n_items=30, n_events=1200, random_state=1)
    X_new = X.iloc[-200:].copy()
    X_new.loc[X_new.index[:5], "item_id"] = [1000, 1001, 1002, 1003, 1004]  # unseen
    return X, Y, X_new


def _fit(embedder, X, Y):
    return make_multitask_recommender(
        embedders=(embedder,), n_estimators=20, cv=2, random_state=0, n_jobs=1
    ).fit(X, Y)


def test_a_plugged_in_embedder_is_compiled_and_exported_by_its_own_kernels(data):
    X, Y, X_new = data
    model = _fit(ServedPopularity(), X, Y)
    expected = model.predict(X_new)
    compiled = compile(model)
    assert compiled.kernels == ["compiled"] * 4  # time, embedder, ids, heads
    np.testing.assert_array_equal(compiled.predict(X_new), expected)

    ort = pytest.importorskip("onnxruntime")
    from mtlclassic import onnx_inputs

    proto = to_onnx(model, X_new)
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])  # fmt: skip
    got = session.run(None, onnx_inputs(X_new, proto))[0]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_without_registered_kernels_it_falls_back_and_export_names_the_step(data):
    X, Y, X_new = data
    model = _fit(ItemPopularity(), X, Y)
    compiled = compile(model)
    assert compiled.kernels == ["compiled", "fallback", "compiled", "compiled"]
    np.testing.assert_array_equal(compiled.predict(X_new), model.predict(X_new))
    pytest.importorskip("onnx")
    with pytest.raises(ValueError, match=r"'itempopularity' \(ItemPopularity\).*"
                       "no ONNX export is registered"):  # fmt: skip
        to_onnx(model)


def test_lookup_follows_the_mro_and_none_stops_it():
    assert lookup("predict", MultiTaskLGBM()) is not None
    assert lookup("onnx_predict", FMEmbedder()) is None  # registered as None
    assert lookup("onnx_categories", FMEmbedder()) is lookup(
        "onnx_categories", _BaseFM.__new__(_BaseFM)
    )  # inherited from _BaseFM
    assert lookup("transform", ItemPopularity()) is None
    assert lookup("transform", ServedPopularity()) is popularity_kernel


def test_register_refuses_what_it_cannot_take():
    with pytest.raises(TypeError, match="must be a class"):
        register(ServedPopularity(), transform=popularity_kernel)
    with pytest.raises(ValueError, match="unknown kernel kind 'score'"):
        register(ServedPopularity, score=popularity_kernel)
    with pytest.raises(TypeError, match="must be callable"):
        register(ServedPopularity, transform=1)
