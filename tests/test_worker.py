"""The worker process that runs FMEmbedder's warm folds beside its chain."""

import threading
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from mtlclassic import FMEmbedder, _worker, make_multitask_recsys
from mtlclassic.embedding._fm import embedder as fm_embedder


def _ready_worker():
    """The process-wide worker, started and idle (skips where none can start)."""
    helper = _worker.worker()
    if helper is None:
        pytest.skip("no worker process can start here")
    helper.warm(fm_embedder.__name__)
    if helper.warming is not None:
        helper.warming.result(timeout=120)
    for _ in range(100):  # the done-callback runs in loky's thread
        if helper.ready():
            return helper
        time.sleep(0.01)
    pytest.fail("the worker did not become ready")


class WarningFMEmbedder(FMEmbedder):
    """An FMEmbedder whose warm folds warn (to see the warnings come back)."""

    def fit(self, X, y=None, **fit_params):
        if getattr(self, "_chain_start", None) is not None:
            warnings.warn(f"fold of {len(X)} rows", UserWarning, stacklevel=2)
        return super().fit(X, y, **fit_params)


def _data():
    return make_multitask_recsys(60, 40, 900, n_side_features=1, random_state=3)


KW = dict(n_components=2, n_iter=12, cv=3, random_state=0)


@pytest.mark.parametrize("target", ["all", "each"])
def test_warm_folds_in_the_worker_give_the_output_of_threads_and_of_one_thread(
    target, monkeypatch, capsys
):
    X, Y = _data()
    kw = dict(KW, target=target, verbose=1)
    one = FMEmbedder(n_jobs=1, **kw).set_output(transform="pandas").fit_transform(X, Y)
    helper = _ready_worker()
    runs = helper.runs
    capsys.readouterr()
    two = FMEmbedder(n_jobs=2, **kw).set_output(transform="pandas").fit_transform(X, Y)
    assert helper.runs == runs + 1  # the folds ran in the worker
    printed = capsys.readouterr().out  # the worker's lines, printed here
    assert [f"cross-fitting fold {k}/3" in printed for k in (1, 2, 3)] == [True] * 3
    monkeypatch.setattr(fm_embedder, "WORKER_MAX_ROWS", 0)  # threads only
    threads = FMEmbedder(n_jobs=2, **kw).set_output(transform="pandas")
    threads = threads.fit_transform(X, Y)
    assert helper.runs == runs + 1
    pd.testing.assert_frame_equal(two, one, check_exact=True)
    pd.testing.assert_frame_equal(threads, one, check_exact=True)


def test_a_fold_failing_in_the_worker_raises_its_error_and_leaves_nothing_fitted():
    X, Y = make_multitask_recsys(60, 40, 1000, random_state=0)
    Y = Y.copy()
    labelled = np.flatnonzero(Y["like"].notna())
    Y.loc[Y.index[labelled[3:]], "like"] = np.nan  # 3 labels: 1, 0, 0
    helper = _ready_worker()
    runs = helper.runs
    emb = FMEmbedder(n_iter=200, cv=5, n_jobs=2, random_state=0)
    with pytest.raises(ValueError, match=r"Cross-fitting fold \d of 5 .* fewer folds"):
        emb.fit_transform(X, Y)
    assert helper.runs == runs + 1
    assert not [k for k in vars(emb) if k.endswith("_")] and not hasattr(emb, "_fork")
    assert helper.ready()  # the process survives its task's error


def test_warnings_of_folds_in_the_worker_are_raised_here():
    X, Y = _data()
    helper = _ready_worker()
    runs = helper.runs
    with pytest.warns(UserWarning, match="fold of 600 rows") as record:
        WarningFMEmbedder(n_jobs=2, **KW).fit_transform(X, Y)
    assert helper.runs == runs + 1
    assert sum("fold of 600 rows" in str(w.message) for w in record) == 3


def test_the_folds_run_in_threads_when_no_worker_can_take_them(monkeypatch):
    X, Y = _data()
    expected = FMEmbedder(n_jobs=1, passthrough=False, **KW).fit_transform(X, Y)

    def refuse(*args, **kwargs):
        raise OSError("no processes here")

    monkeypatch.setattr(_worker, "_worker", None)
    monkeypatch.setattr(_worker.Worker, "__init__", refuse)
    assert _worker.worker() is None
    Z = FMEmbedder(n_jobs=2, passthrough=False, **KW).fit_transform(X, Y)
    np.testing.assert_array_equal(Z, expected)


def test_a_busy_worker_or_an_unpicklable_call_is_left_to_the_caller():
    helper = _ready_worker()
    runs = helper.runs
    assert helper.run(sum, [1, 2]) == 3
    assert helper.run(len, [1, 2, 3]) == 3
    assert helper.run(repr, threading.Lock()) is NotImplemented  # a lock does not
    helper.busy = True  # another thread's fit holds it
    try:
        assert not helper.ready()
        assert helper.run(sum, [1, 2]) is NotImplemented
    finally:
        helper.busy = False
    assert helper.runs == runs + 2


def test_a_call_the_worker_cannot_unpickle_is_left_to_the_caller():
    helper = _ready_worker()
    # a payload whose unpickling fails in the worker (a missing module)
    assert _worker._run(b"not a pickle") is _worker._Unloadable
    runs = helper.runs
    assert helper.run(_worker._run, b"not a pickle") is NotImplemented
    assert helper.runs == runs + 1 and helper.ready()
