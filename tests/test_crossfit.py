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


def _recording_fit_predict(log, lock, fail=None):
    """A fold's fit_predict that logs its start and end and how many run at once."""
    import time

    running = [0]

    def fit_predict(train, test):
        k = int(test[0]) // 10  # folds of 10 rows, in order
        with lock:
            running[0] += 1
            log.append(("start", k, running[0]))
        try:
            time.sleep(0.02)
            if k == fail:
                raise ValueError(f"fold {k} cannot be fitted")
            return np.full((len(test), 1), float(k))
        finally:
            with lock:
                running[0] -= 1

    return fit_predict


@pytest.mark.parametrize("held", [0, 1])
def test_folds_hold_a_slot_each_and_start_in_their_order(held):
    """With ``slots`` (a semaphore the caller may hold some of), no more folds
    run at once than free slots; they start in fold order; the output is the
    one of ``n_jobs=1``."""
    import threading

    from mtlclassic._crossfit import out_of_fold

    X = np.arange(50)[:, None]
    lock, log = threading.Lock(), []
    slots = threading.Semaphore(2)
    for _ in range(held):
        slots.acquire()  # e.g. the FM's chain on all rows
    Z = out_of_fold(_recording_fit_predict(log, lock), X, splitter=KFold(5),
                    n_jobs=2, slots=slots)  # fmt: skip
    np.testing.assert_array_equal(Z[:, 0], np.repeat(np.arange(5.0), 10))
    starts = [(k, running) for event, k, running in log if event == "start"]
    assert [k for k, _ in starts] == [0, 1, 2, 3, 4]
    assert max(running for _, running in starts) == 2 - held
    reference = out_of_fold(_recording_fit_predict([], lock), X, splitter=KFold(5))
    np.testing.assert_array_equal(Z, reference)


def test_a_failing_fold_is_reported_not_the_folds_skipped_after_it():
    """Folds waiting for a slot do not start once one fails, and the error is
    the failing fold's, naming it."""
    import threading

    from mtlclassic._crossfit import out_of_fold

    X = np.arange(50)[:, None]
    lock, log = threading.Lock(), []
    slots = threading.Semaphore(1)
    with pytest.raises(ValueError, match=r"fold 2 of 5 .* fold 1 cannot be fitted"):
        out_of_fold(_recording_fit_predict(log, lock, fail=1), X,
                    splitter=KFold(5), n_jobs=2, slots=slots)  # fmt: skip
    assert [k for event, k, _ in log if event == "start"] == [0, 1]
    assert slots.acquire(blocking=False)  # every slot given back
