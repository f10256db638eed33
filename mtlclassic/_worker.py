"""One worker process for GIL-bound work that runs beside a thread.

The Gibbs sampler's sweeps are many numpy calls on arrays of 1e3-1e6
entries (``np.take``, fancy indexing, ``np.bincount``, small ufuncs), and
CPython hands the GIL back and forth at every one: two independent FM chains
on 100k MovieLens-1M rows ran 1.1x faster in two threads than one after the
other, and 1.7x in two processes (``benchmarks/README.md``, issue 31's fifth
stop). So
:class:`~mtlclassic.FMEmbedder` runs its warm cross-fitting folds in this
worker while its chain on all rows runs in the calling process. Before the
folds, during the chain's burn-in, other work of the fit may use it in short
tasks that give way (:meth:`Worker.run_yielding`): the folds' claim
(:meth:`Worker.claimed`) waits for the one running and no other starts.

The worker is a process of joblib's loky (installed with scikit-learn;
fork + exec, no ``if __name__ == "__main__"`` guard needed, a crashed
worker raises instead of hanging). It is started on first use, reused by
later fits, and exits after ``IDLE_SECONDS`` without work; its BLAS and
OpenMP pools have one thread (the parent's ``n_jobs`` counts it as one), and
glibc's malloc keeps large temporaries on its heap (``_MALLOC``).
"""

import contextlib
import io
import multiprocessing
import os
import pickle
import sys
import threading
import time
import warnings

import sklearn
from joblib.externals import loky

BrokenProcessPool = loky.BrokenProcessPool  # the worker died: its task is lost

IDLE_SECONDS = 300
# a larger job (the pickled X, y, ...) stays with the caller: the worker's copy
# of the data would cost more memory than its speed is worth
MAX_PAYLOAD_BYTES = 512 << 20
# BLAS/OpenMP pools of the worker: one thread (it is one of the parent's n_jobs)
_ONE_THREAD = {
    name: "1"
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
}  # fmt: skip
# glibc's malloc in the worker (other C libraries ignore these): arrays up to
# 32 MiB (its largest mmap threshold) from the heap, and freed heap kept up to
# 256 MiB, instead of mmap'ing and faulting in every large temporary again. A
# fresh process starts with a 128 KiB threshold that rises only as blocks are
# freed: the FM's first fold job at 1M MovieLens-1M events took 24.6-26.2 s
# in a fresh process and 20.2-21.6 s with these (benchmarks/README.md). The
# idle worker keeps that memory (757 MB resident after the folds at 1M, 453 MB
# without); loky replaces a worker that holds 300 MB more than after its
# first task with a fresh process (with psutil installed)
_MALLOC = {
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(256 << 20),
}


def _worker_env():
    """Return the worker's environment: one-thread pools, glibc's malloc as above.

    A malloc variable set in this process's environment is left to the user.
    """
    env = dict(_ONE_THREAD)
    if not any(name.startswith("MALLOC_") for name in os.environ) and (
        "GLIBC_TUNABLES" not in os.environ
    ):
        env.update(_MALLOC)
    return env


_lock = threading.Lock()
_worker = None
_lending = threading.local()  # .start: see lend_cores


def _import(module):
    """Import ``module`` in the worker (its first task: the imports' seconds)."""
    __import__(module)
    return os.getpid()


def _pickler():
    """Return the pickler: cloudpickle (``__main__`` classes too) as loky, or pickle."""
    try:
        import cloudpickle  # optional: recent joblib (1.6) and Dask install it
    except ImportError:  # joblib < 1.5 without it: plain pickle
        return pickle
    return cloudpickle


class _Unloadable:
    """What :func:`_run` returns when the worker cannot unpickle the call."""


def _run(payload):
    """Run a pickled ``(fn, args, kwargs, config)``: ``(result, printed, warned)``.

    ``fn`` runs under the caller's scikit-learn ``config``; what it prints and
    the warnings it raises are returned for :func:`_replay` to print and raise
    in the caller, where its user sees them (a notebook's cell,
    ``pytest.warns``), not in the worker's terminal. Returns
    :class:`_Unloadable` if the call does not unpickle here (a class from a
    module the worker cannot import, e.g. one put on ``sys.path`` after the
    worker started): the caller then runs it itself.
    """
    try:
        fn, args, kwargs, config = pickle.loads(payload)
    except Exception:  # noqa: BLE001 - the caller runs the call instead
        return _Unloadable
    printed = io.StringIO()
    with (
        sklearn.config_context(**config),
        contextlib.redirect_stdout(printed),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")  # the caller's filters decide
        result = fn(*args, **kwargs)
    modules = {getattr(m, "__file__", None): name for name, m in sys.modules.items()}
    warned = [(w.message, w.category, w.filename, w.lineno, modules.get(w.filename))
              for w in caught]  # fmt: skip
    return result, printed.getvalue(), warned


def _replay(printed, warned):
    """Print and warn, in this process, what :func:`_run` recorded in the worker.

    Each warning keeps its module's name, so ``filterwarnings(module=...)``
    applies as it would to the call run here.
    """
    print(printed, end="", flush=True)
    for message, category, filename, lineno, module in warned:
        warnings.warn_explicit(message, category, filename, lineno, module=module)


class Worker:
    """The worker process: :meth:`warm` it before the work, :meth:`run` when ready.

    One task runs at a time; a fit finding the worker busy (another thread's
    fit) or not yet started runs its work in threads instead, so the
    process never makes a fit wait.
    """

    def __init__(self):
        self.pid = os.getpid()  # a forked copy of this object is not used
        self.executor = loky.ProcessPoolExecutor(
            max_workers=1, timeout=IDLE_SECONDS, env=_worker_env()
        )
        self.busy = False
        self.broken = False
        self._state = threading.Condition()  # guards busy, _yielding, _claims
        self._yielding = False  # the running task gives way (run_yielding)
        self._claims = 0  # claimed() blocks open
        self.warming = None  # the future of the start's imports
        self.last_done = None  # time.monotonic() when the last task finished
        self.runs = 0  # tasks run (tests read it)

    def warm(self, module):
        """Start the process unless it is up, and import ``module`` in it.

        Returns at once; :meth:`ready` tells when the process can take work.
        A failed start marks the worker broken (it is not used again).
        """
        if self.ready() or (self.warming is not None and not self.warming.done()):
            return
        try:
            self.warming = self.executor.submit(_import, module)
        except Exception:  # noqa: BLE001 - a broken or shut-down pool
            self.broken = True
            return
        self.warming.add_done_callback(self._warmed)

    def _warmed(self, future):
        if future.cancelled() or future.exception() is not None:
            self.broken = True
        else:
            self.last_done = time.monotonic()

    def ready(self):
        """Whether the process is up, idle and its imports done."""
        return (
            not self.broken
            and not self.busy
            and self.last_done is not None
            # loky stops it IDLE_SECONDS after its last task: a margin for the clock
            and time.monotonic() - self.last_done < IDLE_SECONDS - 30
        )

    def run(self, fn, *args, **kwargs):
        """Run ``fn(*args, **kwargs)`` in the worker and return its result.

        As if it ran here: under this thread's scikit-learn configuration,
        its printed lines (when it ends) and warnings printed and raised here.

        Returns ``NotImplemented`` without running anything when the worker is
        busy, the call cannot be pickled here or unpickled there, or it
        pickles to more than ``MAX_PAYLOAD_BYTES`` (the caller then runs it
        itself). Errors raised by ``fn`` are raised here;
        ``BrokenProcessPool`` if the process died (also when a terminal's
        Ctrl-C reached the idle worker). Interrupted (``KeyboardInterrupt``)
        once the job may have reached the process, it cancels the job or, if
        it runs, kills the process, so that neither the next fit nor the
        interpreter's exit waits for the abandoned job.
        """
        return self._run(fn, args, kwargs, yielding=False)

    def run_yielding(self, fn, *args, **kwargs):
        """:meth:`run` for work that gives way to a :meth:`claimed` block.

        ``NotImplemented`` also while such a block is open; a block opened
        while this task runs waits for it to end (so keep each task short:
        one ALS model, say).
        """
        return self._run(fn, args, kwargs, yielding=True)

    @contextlib.contextmanager
    def claimed(self, cancelled=None):
        """Wait for a :meth:`run_yielding` task to end; none starts in the block.

        For the work the worker exists for (the FM's folds): inside the block
        :meth:`ready` tells whether the worker can take it. Setting the event
        ``cancelled`` ends the wait at once (the block then runs with the
        task maybe still running: ``ready()`` is False).
        """
        with self._state:
            self._claims += 1
        try:
            with self._state:
                while self.busy and self._yielding:
                    if cancelled is not None and cancelled.is_set():
                        break
                    self._state.wait(0.05 if cancelled is not None else None)
            yield self
        finally:
            with self._state:
                self._claims -= 1

    def stop_yielding(self):
        """Kill the process if it runs a :meth:`run_yielding` task (an interrupt)."""
        with self._state:
            if self.busy and self._yielding:
                self.stop()

    def _run(self, fn, args, kwargs, yielding):
        with self._state:
            if self.busy or (yielding and self._claims):
                return NotImplemented
            self.busy = True
            self._yielding = yielding
        try:
            try:
                call = (fn, args, kwargs, sklearn.get_config())
                payload = _pickler().dumps(call, protocol=5)
            except Exception:  # noqa: BLE001 - not picklable: the caller runs it
                return NotImplemented
            if len(payload) > MAX_PAYLOAD_BYTES:
                return NotImplemented
            future = None
            try:
                future = self.executor.submit(_run, payload)
                del payload
                self.runs += 1
                result = future.result()
            except BrokenProcessPool:  # the process died (e.g. out of memory)
                self.broken = True
                raise
            except BaseException as exc:
                if future is not None and future.done() and not future.cancelled():
                    self.last_done = time.monotonic()  # the task's own error
                elif future is None and isinstance(exc, Exception):
                    self.broken = True  # a shut-down pool refused the job
                    return NotImplemented
                elif future is None or not future.cancel():
                    self.stop()  # interrupted (Ctrl-C) with the job sent or running
                raise
            self.last_done = time.monotonic()
            if result is _Unloadable:
                return NotImplemented
            result, printed, warned = result
            _replay(printed, warned)
            return result
        finally:
            with self._state:
                self.busy = False
                self._yielding = False
                self._state.notify_all()

    def stop(self):
        """Kill the process (its running task too); the worker is not used again."""
        self.broken = True
        self.executor.shutdown(wait=False, kill_workers=True)


def _cores_shared_out():
    """Whether this process is one of several that share the cores out.

    A daemonic process (a ``multiprocessing.Pool`` worker, a default Dask
    worker) cannot start one, and a Dask worker's cores are Dask's; joblib's
    worker processes are recognised by their threading backend instead
    (``FMEmbedder._folds_may_leave``).
    """
    if multiprocessing.current_process().daemon:
        return True
    distributed = sys.modules.get("distributed")  # imported: maybe a Dask worker
    if distributed is None:
        return False
    try:
        distributed.get_worker()
    except (ValueError, AttributeError):  # not inside a Dask worker's task
        return False
    return True


@contextlib.contextmanager
def lend_cores(start):
    """Let a fit whose remaining work went to the worker call ``start()`` in the block.

    The caller's thread then only waits for the worker: ``start`` (e.g. an
    event's ``set``) lets other work of the same fit take its core (the
    default pipeline's ALS models, :mod:`mtlclassic.embedding._als_ahead`).
    Per thread; a nested block restores the outer one's ``start``.
    """
    previous = getattr(_lending, "start", None)
    _lending.start = start
    try:
        yield
    finally:
        _lending.start = previous


def core_borrower():
    """Return the ``start`` of this thread's innermost :func:`lend_cores`, or None."""
    return getattr(_lending, "start", None)


def worker():
    """Return the process-wide :class:`Worker`, or None if it cannot start.

    None also where the cores are already shared out (a daemonic process,
    a Dask worker): the caller's work stays in its threads there.
    """
    global _worker
    if _cores_shared_out():
        return None
    with _lock:
        if _worker is not None and _worker.pid == os.getpid() and not _worker.broken:
            return _worker
        try:
            _worker = Worker()
        except Exception:  # noqa: BLE001 - no processes here: threads instead
            _worker = None
        return _worker


__all__ = [
    "IDLE_SECONDS",
    "MAX_PAYLOAD_BYTES",
    "BrokenProcessPool",
    "Worker",
    "core_borrower",
    "lend_cores",
    "worker",
]
