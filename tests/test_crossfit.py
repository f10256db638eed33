import numpy as np
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
