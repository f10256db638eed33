"""The worker process that runs FMEmbedder's warm folds beside its chain."""

import os
import sys
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


def _warned(n_jobs, *filters):
    """The warnings of a fit whose full model and folds warn (ALS-only alpha_w)."""
    X, Y = _data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for module in filters:
            warnings.filterwarnings("ignore", module=module)
        FMEmbedder(n_jobs=n_jobs, alpha_w=0.5, **KW).fit_transform(X, Y)
    return sorted((str(w.message), w.category, w.filename, w.lineno) for w in caught)


def test_warnings_of_folds_in_the_worker_are_raised_here_as_from_threads():
    expected = _warned(1)
    assert len(expected) == 4  # the model on all rows and 3 folds
    helper = _ready_worker()
    runs = helper.runs
    assert _warned(2) == expected
    assert helper.runs == runs + 1
    # a filter on the warning's module applies to the replayed warnings too
    module = r"mtlclassic\.embedding\._fm\.embedder$"
    assert _warned(1, module) == [] and _warned(2, module) == []
    assert helper.runs == runs + 2


class SubFMEmbedder(FMEmbedder):
    """A user's subclass: its module could be reloaded after the worker started."""


def test_a_subclass_or_a_threads_preference_keeps_the_folds_in_threads():
    import joblib

    X, Y = _data()
    expected = FMEmbedder(n_jobs=1, passthrough=False, **KW).fit_transform(X, Y)
    helper = _ready_worker()
    runs = helper.runs
    Z = SubFMEmbedder(n_jobs=2, passthrough=False, **KW).fit_transform(X, Y)
    np.testing.assert_array_equal(Z, expected)
    for config in (dict(prefer="threads"), dict(backend="threading")):
        with joblib.parallel_config(**config):
            Z = FMEmbedder(n_jobs=2, passthrough=False, **KW).fit_transform(X, Y)
        np.testing.assert_array_equal(Z, expected)
    assert helper.runs == runs  # none ran in the worker
    Z = FMEmbedder(n_jobs=2, passthrough=False, **KW).fit_transform(X, Y)
    assert helper.runs == runs + 1


def test_inside_joblib_process_workers_the_folds_stay_in_threads():
    # GridSearchCV(n_jobs=2) and cross_validate(n_jobs=2) fit in joblib's loky
    # processes, where joblib makes nested work prefer threads: an FM with
    # n_jobs=2 there must not start a worker process of its own
    from joblib import Parallel, delayed

    def fit_in_child(kw):  # pickled by value (a local function)
        import os

        from mtlclassic import FMEmbedder, _worker, make_multitask_recsys

        X, Y = make_multitask_recsys(60, 40, 900, n_side_features=1, random_state=3)
        before = _worker._worker
        runs = None if before is None else before.runs
        Z = FMEmbedder(n_jobs=2, passthrough=False, **kw).fit_transform(X, Y)
        after = _worker._worker
        started = after is not None and (after is not before or after.runs != runs)
        return os.getpid(), Z, started

    X, Y = _data()
    expected = FMEmbedder(n_jobs=1, passthrough=False, **KW).fit_transform(X, Y)
    results = Parallel(n_jobs=2, backend="loky")(
        delayed(fit_in_child)(KW) for _ in range(2)
    )
    for pid, Z, started in results:
        assert pid != os.getpid()  # it did run in a child process
        np.testing.assert_array_equal(Z, expected)
        assert not started


def _fit_where_cores_are_shared(kw):
    """In a daemonic process: whether a worker would start, and the FM's output."""
    X, Y = _data()
    helper = _worker.worker()
    Z = FMEmbedder(n_jobs=2, passthrough=False, **kw).fit_transform(X, Y)
    return helper is None, Z


@pytest.mark.skipif(sys.platform != "linux", reason="a forked multiprocessing.Pool")
def test_a_daemonic_process_starts_no_worker():
    # a multiprocessing.Pool's workers (and default Dask workers) are daemonic:
    # they cannot have children, and their cores are shared out already
    import multiprocessing

    X, Y = _data()
    expected = FMEmbedder(n_jobs=1, passthrough=False, **KW).fit_transform(X, Y)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        none, Z = pool.apply(_fit_where_cores_are_shared, (KW,))
    assert none  # was a Worker whose start failed, one per fit
    np.testing.assert_array_equal(Z, expected)


def test_inside_a_dask_worker_the_folds_stay_in_threads():
    distributed = pytest.importorskip("distributed")
    X, Y = _data()
    expected = FMEmbedder(n_jobs=1, passthrough=False, **KW).fit_transform(X, Y)
    helper = _ready_worker()
    runs = helper.runs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cluster's own start-up notices
        cluster = distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        )
        client = distributed.Client(cluster)
    try:
        none, Z = client.submit(_fit_where_cores_are_shared, KW, pure=False).result()
    finally:
        client.close()
        cluster.close()
    assert none and helper.runs == runs  # the process's worker was not used
    np.testing.assert_array_equal(Z, expected)
    assert _worker.worker() is helper  # outside the task: the worker as before


def test_a_worker_dying_under_the_folds_leaves_them_to_threads(monkeypatch):
    X, Y = _data()
    expected = FMEmbedder(n_jobs=1, passthrough=False, **KW).fit_transform(X, Y)
    helper = _ready_worker()

    def died(*args, **kwargs):
        raise _worker.BrokenProcessPool("killed")

    monkeypatch.setattr(helper, "run", died)
    with pytest.warns(RuntimeWarning, match="worker process .* died .*killed"):
        Z = FMEmbedder(n_jobs=2, passthrough=False, **KW).fit_transform(X, Y)
    np.testing.assert_array_equal(Z, expected)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is a POSIX signal here")
def test_an_interrupted_wait_kills_the_worker_and_a_new_one_starts():
    import os
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # a shell starts a background job (`cmd &`) with SIGINT ignored, and
        # Python keeps it so: no Ctrl-C can reach this process
        pytest.skip("SIGINT is ignored in this process (started in the background)")
    helper = _ready_worker()
    submitted = helper.runs

    def ctrl_c():  # a real SIGINT once the task is in the worker
        deadline = time.monotonic() + 60
        while helper.runs == submitted and time.monotonic() < deadline:
            time.sleep(0.01)
        if helper.runs > submitted:
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=ctrl_c, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        while helper.run(time.sleep, 60) is NotImplemented:  # taken: wait, retry
            helper = _ready_worker()
            time.sleep(0.05)
    assert time.monotonic() - started < 30  # not the task's 60 s
    assert helper.broken and not helper.ready()
    fresh = _ready_worker()  # the next fit gets a new process, at once
    assert fresh is not helper
    started = time.monotonic()
    assert fresh.run(sum, [1, 2]) == 3
    assert time.monotonic() - started < 10


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


# loky's manager thread raises KeyError when a pool with a job still queued is shut
# down with kill_workers=True (the job is dropped as wanted; only its thread complains)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_an_interrupt_right_after_the_job_is_sent_kills_the_worker(monkeypatch):
    helper = _ready_worker()
    submit = helper.executor.submit

    def sent_then_interrupted(*args, **kwargs):
        submit(*args, **kwargs)  # queued: the worker will run it
        raise KeyboardInterrupt

    monkeypatch.setattr(helper.executor, "submit", sent_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        helper.run(time.sleep, 60)
    # the job was cancelled before it ran, or the process running it killed
    fresh = _ready_worker()
    assert (fresh is helper) != helper.broken
    started = time.monotonic()
    assert fresh.run(sum, [1, 2]) == 3
    assert time.monotonic() - started < 10  # not behind the abandoned 60 s


def test_a_call_larger_than_the_payload_limit_is_left_to_the_caller(monkeypatch):
    helper = _ready_worker()
    runs = helper.runs
    monkeypatch.setattr(_worker, "MAX_PAYLOAD_BYTES", 1000)
    assert helper.run(len, list(range(100))) == 100  # a few hundred bytes
    assert helper.run(len, list(range(1000))) is NotImplemented  # over 1000
    assert helper.runs == runs + 1


def test_a_call_the_worker_cannot_unpickle_is_left_to_the_caller(tmp_path, monkeypatch):
    assert _worker._run(b"not a pickle") is _worker._Unloadable
    helper = _ready_worker()
    # a module put on sys.path after the worker started: pickled by reference
    # here, not importable there
    (tmp_path / "late_module_for_worker.py").write_text("def f():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from late_module_for_worker import f

    runs = helper.runs
    assert helper.run(f) is NotImplemented
    assert helper.runs == runs + 1 and helper.ready()
    assert helper.run(sum, [1, 2]) == 3  # the worker still works


def _chain_raising(monkeypatch, error, when):
    """Make the chain on all rows raise ``error`` at a sweep after ``when()``."""
    from mtlclassic.embedding._fm import base as fm_base

    recorder = fm_base.ChainFork.recorder
    threads = []

    def raising_recorder(self, model, sweep):
        on_sweep = recorder(self, model, sweep)
        if type(model) is not FMEmbedder or getattr(model, "_out_of_fold", False):
            return on_sweep  # a fold's

        def checked(it, sampler):
            on_sweep(it, sampler)
            threads.append(threading.current_thread())
            if it > sweep and when():
                raise error

        return checked

    monkeypatch.setattr(fm_base.ChainFork, "recorder", raising_recorder)
    return threads


def test_the_chain_runs_in_the_calling_thread_and_an_interrupt_stops_the_worker(
    monkeypatch,
):
    X, Y = _data()
    helper = _ready_worker()
    threads = _chain_raising(monkeypatch, KeyboardInterrupt, lambda: helper.busy)
    emb = FMEmbedder(n_jobs=2, **dict(KW, n_iter=400))
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):  # raised in the chain, folds in the worker
        emb.fit_transform(X, Y)
    assert time.monotonic() - started < 60
    assert set(threads) == {threading.current_thread()}  # glibc's main arena
    assert helper.broken  # stopped, not waited for
    assert not [k for k in vars(emb) if k.endswith("_")] and not hasattr(emb, "_fork")
    fresh = _ready_worker()
    assert fresh is not helper


def test_the_chains_error_stops_folds_in_threads(monkeypatch):
    from mtlclassic.embedding._fm import gibbs

    X, Y = _data()
    monkeypatch.setattr(fm_embedder, "WORKER_MAX_ROWS", 0)  # folds in a thread
    fold_sweeps = []
    # once a fold has swept (its thread may start late on a busy machine)
    _chain_raising(monkeypatch, ValueError("the chain failed"), lambda: fold_sweeps)
    sweep = gibbs.FMGibbsSampler.sweep

    def counted(self):
        if threading.current_thread() is not threading.main_thread():
            fold_sweeps.append(1)
        return sweep(self)

    monkeypatch.setattr(gibbs.FMGibbsSampler, "sweep", counted)
    emb = FMEmbedder(n_jobs=2, **dict(KW, n_iter=400))
    with pytest.raises(ValueError, match="the chain failed"):
        emb.fit_transform(X, Y)
    # the folds (3 x 100 sweeps) stopped at the sweep after the chain's error
    assert 0 < len(fold_sweeps) < 100
    assert not [k for k in vars(emb) if k.endswith("_")] and not hasattr(emb, "_fork")


def test_a_claim_waits_for_a_yielding_task_and_keeps_others_out():
    helper = _ready_worker()
    started, returned = threading.Event(), []

    def yielding():
        started.set()
        returned.append(helper.run_yielding(time.sleep, 0.5))

    def start_yielding():  # a thread whose yielding task is in the worker
        started.clear()
        side = threading.Thread(target=yielding)
        side.start()
        started.wait(10)
        for _ in range(200):
            if helper.busy:
                break
            time.sleep(0.005)
        return side

    side = start_yielding()
    seen = {}

    def claim():  # in a thread: a claim that never wakes fails, not hangs
        t = time.monotonic()
        with helper.claimed():
            seen["waited"] = time.monotonic() - t
            seen["ready"] = not helper.busy and helper.ready()
            seen["yielding"] = helper.run_yielding(time.sleep, 0)
            seen["own"] = helper.run(os.getpid)  # the claim's own work runs

    claimer = threading.Thread(target=claim)
    claimer.start()
    claimer.join(30)
    side.join(30)
    assert not claimer.is_alive() and not side.is_alive()
    assert returned == [None] and seen["waited"] > 0.2 and seen["ready"]
    assert seen["yielding"] is NotImplemented and seen["own"] != os.getpid()
    assert helper.run_yielding(os.getpid) != os.getpid()  # no claim: runs again
    # a cancelled claim stops waiting at once
    side = start_yielding()
    cancelled = threading.Event()
    cancelled.set()
    t = time.monotonic()
    with helper.claimed(cancelled):
        assert time.monotonic() - t < 0.2 and not helper.ready()
    side.join(30)


def test_the_worker_keeps_its_heap_unless_malloc_is_the_users(monkeypatch):
    for name in [n for n in os.environ if n.startswith("MALLOC_")] + ["GLIBC_TUNABLES"]:
        monkeypatch.delenv(name, raising=False)
    env = _worker._worker_env()
    assert env["MALLOC_MMAP_THRESHOLD_"] == str(32 << 20)
    assert env["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")  # the user's setting
    assert not any(name.startswith("MALLOC_") for name in _worker._worker_env())
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=0")
    assert "MALLOC_TRIM_THRESHOLD_" not in _worker._worker_env()
    monkeypatch.delenv("GLIBC_TUNABLES")
    helper = _ready_worker()  # started under this environment or the test's
    if helper.run(os.getenv, "MALLOC_ARENA_MAX") is None:
        assert helper.run(os.getenv, "MALLOC_TRIM_THRESHOLD_") == str(256 << 20)
