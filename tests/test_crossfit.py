import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import KFold, TimeSeriesSplit

from mtlclassic.embedding._crossfit import (
    CrossFitTransformerMixin,
    cross_fit_transform,
    resolve_cv,
)


class GroupMean(CrossFitTransformerMixin, TransformerMixin, BaseEstimator):
    """Toy embedder: each row gets the training mean of y for its group (column 0)."""

    def __init__(self, cv=3, random_state=None):
        self.cv = cv
        self.random_state = random_state

    def fit(self, X, y):
        X, y = np.asarray(X), np.asarray(y, dtype=float)
        self.means_ = {g: y[X[:, 0] == g].mean() for g in np.unique(X[:, 0])}
        self.global_ = y.mean()
        return self

    def transform(self, X):
        X = np.asarray(X)
        return np.array([[self.means_.get(g, self.global_)] for g in X[:, 0]])


def test_fit_transform_equals_a_hand_written_kfold_loop():
    rng = np.random.RandomState(0)
    X = rng.randint(0, 5, size=(50, 1))
    y = X[:, 0] + rng.normal(size=50)
    enc = GroupMean(cv=4, random_state=1)
    Z = enc.fit_transform(X, y)
    expected = np.empty((50, 1))
    for train, test in KFold(4, shuffle=True, random_state=1).split(X):
        expected[test] = GroupMean(cv=None).fit(X[train], y[train]).transform(X[test])
    np.testing.assert_array_equal(Z, expected)
    # self is fitted on all rows afterwards
    np.testing.assert_allclose(enc.global_, y.mean())
    # list input works as arrays do
    np.testing.assert_array_equal(
        cross_fit_transform(GroupMean(), X.tolist(), y.tolist(), cv=4, random_state=1),
        expected,
    )


def test_cv_off_is_in_sample_and_bad_cv_is_refused():
    X, y = np.array([[0], [0], [1], [1]]), np.array([1.0, 3.0, 5.0, 7.0])
    for cv in (None, 0, 1, False):
        assert resolve_cv(cv) is None
        np.testing.assert_array_equal(
            GroupMean(cv=cv).fit_transform(X, y).ravel(), [2, 2, 6, 6]
        )
    with pytest.raises(ValueError, match="exactly one test fold"):
        cross_fit_transform(GroupMean(), X, y, cv=TimeSeriesSplit(2))
    with pytest.raises(ValueError, match="cv must be >= 0"):
        resolve_cv(-1)


def _reference_concat(parts, order, index):
    """The folds' outputs stacked, then put back in the input order."""
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    if isinstance(parts[0], pd.DataFrame):
        out = pd.concat(parts, axis=0, ignore_index=True).iloc[inverse]
        out.index = index
        return out
    return np.concatenate(parts, axis=0)[inverse]


@pytest.mark.parametrize(
    "kind", ["numpy", "mixed categories", "Int64", "str", "other columns"]
)
def test_folds_outputs_are_filled_into_the_input_order(kind):
    """``_concat_rows`` (each column allocated once and filled fold by fold)
    gives the concatenation put back in the input order: values, dtypes,
    categories, column names (repeated ones too) and index. A column it
    cannot fill (other categories per fold, extension dtypes) is
    concatenated alone; parts with other columns are concatenated whole."""
    from mtlclassic._crossfit import _concat_rows, _fill_frame

    rng = np.random.RandomState(0)
    order = rng.permutation(30).astype(np.int32)
    sizes = [11, 10, 9]
    parts = []
    for k, size in enumerate(sizes):
        cats = ["a", "b", "c"] if kind != "mixed categories" else ["a", "b", "c"][k:]
        part = pd.DataFrame(
            {
                "f32": rng.normal(size=size).astype(np.float32),
                "f64": rng.normal(size=size),
                "i": rng.randint(0, 9, size=size),
                "flag": rng.rand(size) < 0.5,
                "obj": pd.Series([f"s{v}" for v in range(size)], dtype=object),
                "cat": pd.Categorical(rng.choice(cats, size=size), categories=cats),
            }
        )
        if kind == "Int64":
            part["i"] = part["i"].astype("Int64")
        if kind == "str":
            part["obj"] = part["obj"].astype("str")
        if kind != "other columns":
            part.columns = ["f32", "f64", "i", "flag", "obj", "f64"]  # repeated
        elif k == 2:
            part = part.rename(columns={"i": "j"})
        parts.append(part)
    template = pd.DataFrame(index=pd.Index(rng.permutation(100)[:30], name="row"))
    out, filled = _concat_rows(parts, order, template)
    expected = _reference_concat(parts, order, template.index)
    pd.testing.assert_frame_equal(out, expected, check_exact=True)
    assert filled == (kind != "other columns")
    assert (_fill_frame(parts, order) is None) == (not filled)
    arrays = [rng.normal(size=(s, 3)).astype(np.float32 if k else np.float64)
              for k, s in enumerate(sizes)]  # fmt: skip
    stacked, filled = _concat_rows(arrays, order, None)
    assert stacked.dtype == np.float64 and not filled
    np.testing.assert_array_equal(stacked, _reference_concat(arrays, order, None))


@pytest.mark.parametrize("frame", [False, True])
def test_a_fold_output_of_another_row_count_is_refused(frame):
    """A fold whose output has fewer rows than its test rows is an error
    (its rows would land in another fold's), not uninitialised memory."""
    from sklearn.model_selection import KFold

    from mtlclassic._crossfit import out_of_fold

    def fit_predict(train, test):
        out = np.full((len(test) - 1, 2), 7.0)
        return pd.DataFrame(out) if frame else out

    with pytest.raises(ValueError, match="fold 1 of 2: the output has 4 rows for 5"):
        out_of_fold(fit_predict, np.zeros((10, 2)), splitter=KFold(2))
