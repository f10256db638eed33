"""A pipeline's ALS models fitted ahead, on the cores the FM's chain leaves idle.

In the default pipeline ALS comes after the FM, but it reads only the id
columns, which the FM passes through unchanged. With ``n_jobs >= 2`` the FM
runs its chain on all rows in the calling process and its warm
cross-fitting folds in the worker process (:mod:`mtlclassic._worker`) from
the end of the chain's burn-in; until then the worker is idle, and once the
chain ends (before the folds) the calling process only waits.
:func:`fitted_ahead` uses both gaps for a clone of the ALS step, one thread,
fitted on the pipeline's input:

1. during the burn-in, the step's models (the model on all rows, then each
   fold's) in the worker, one task each (``Worker.run_yielding``), until the
   FM's folds claim the worker (they wait for one model at most);
2. when the FM lends its core (:func:`mtlclassic._worker.lend_cores`), the
   models left, in a thread here, then the step's out-of-fold embedding from
   those models (transforms only).

When the ALS step then fits, its first model stops the ahead fit after the
model it is solving (an out-of-fold pass under way is finished); each of
the step's fits looks its model up by what the model is fitted on (the user
x item matrix, the id order, every ALS parameter) and takes its factors
instead of solving, and its cross-fitting takes the out-of-fold embedding
when its id columns (values, dtypes, index), folds and parameters are the
ones it was computed for; whatever was not fitted ahead, the step fits
itself with all its threads. ALS's factors do not depend on its thread count
or process, so the fitted pipeline is the one ``Pipeline.fit`` gives (tests
check it to the bit). If neither gap comes (folds in threads, no worker),
the ahead fit costs a thread that waits, the id columns' copy, and BLAS held
at one thread for the pipeline's fit (what its steps ask for anyway).
"""

import contextlib
import hashlib
import itertools
import threading
import warnings

import numpy as np
import pandas as pd
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from .._compat import _safe_indexing
from .._crossfit import DrawnFolds, resolve_cv, with_config
from .._worker import BrokenProcessPool, lend_cores
from ._crossfit import cross_fit_transform

__all__ = [
    "adopt",
    "adopt_embedding",
    "draw_folds",
    "fit_recorded",
    "fitted_ahead",
    "model_fits",
    "record",
    "recording",
]

# implicit's parameters of a CPU ALS model that its factors depend on
_MODEL_PARAMS = (
    "factors", "regularization", "alpha", "iterations", "random_state", "dtype",
    "use_cg", "cg_steps", "use_native", "calculate_training_loss",
)  # fmt: skip

_local = threading.local()  # .recording in the ahead thread, .replaying in the caller's


class _Stopped(Exception):
    """Raised in the ahead thread to stop it before its next model."""


class _Ahead:
    """The models one ahead fit recorded, and its state."""

    def __init__(self):
        self.models = {}  # key -> (user_factors, item_factors)
        self.go = threading.Event()  # the FM lent its core: start
        self.stop = threading.Event()  # fit no further model
        self.done = threading.Event()  # the thread has ended (or never starts)
        self.error = None  # what ended the ahead fit early (the step solves)
        self.taken = 0  # models the step took (tests read it)
        self.in_worker = 0  # models fitted in the worker process
        self.X = None  # the rows fitted on
        self.estimator = None  # the clone of the step fitted
        self.embedding_ahead = False  # the out-of-fold pass runs
        self.embedding = None  # (folds, out-of-fold embedding) once it ran
        self.embedding_taken = False  # the step took it (tests read it)

    def start(self):
        """Start fitting (the FM's lent core); a no-op once stopped."""
        self.go.set()

    def finish(self):
        """Stop after the current model (at once if not started: the thread wakes)."""
        self.stop.set()
        self.go.set()


def _key(model, user_items, user_index, item_index):
    """Hash what an ALS model's factors depend on: matrix, id order, parameters."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (user_items.indptr, user_items.indices, user_items.data):
        part = np.ascontiguousarray(part)
        digest.update(str(part.dtype).encode())
        digest.update(part.tobytes())
    for index in (user_index, item_index):  # ids of any dtype, in order
        digest.update(pd.util.hash_array(np.asarray(index, dtype=object)).tobytes())
    params = tuple((name, repr(getattr(model, name, None))) for name in _MODEL_PARAMS)
    return user_items.shape, digest.digest(), params


def recording():
    """Whether this thread fits ahead (its fits leave the thread pools alone)."""
    return getattr(_local, "recording", None) is not None


def record(model, user_items, user_index, item_index):
    """Keep a model fitted ahead (in the ahead thread; elsewhere nothing)."""
    ahead = getattr(_local, "recording", None)
    if ahead is not None:
        key = _key(model, user_items, user_index, item_index)
        ahead.models[key] = (model.user_factors, model.item_factors)


def adopt(model, user_items, user_index, item_index):
    """Give ``model`` (unfitted) the factors fitted ahead for these inputs.

    In the step's thread: stops the ahead fit (after the model it is
    solving; at once if it has not started), waits for it, and returns
    whether a model for exactly these inputs was found (taken once). In the
    ahead thread: raises to stop it when told to (not in its out-of-fold
    pass, which only transforms), else whether it has fitted such a model
    already. In any other thread: False at once.
    """
    ahead = getattr(_local, "recording", None)
    if ahead is not None:
        if ahead.stop.is_set() and not ahead.embedding_ahead:
            raise _Stopped
        # a model already fitted for the same inputs (the out-of-fold pass)
        found = ahead.models.get(_key(model, user_items, user_index, item_index))
        if found is None:
            return False
        model.user_factors, model.item_factors = found
        return True
    ahead = getattr(_local, "replaying", None)
    if ahead is None:
        return False
    ahead.finish()
    ahead.done.wait()
    found = ahead.models.pop(_key(model, user_items, user_index, item_index), None)
    if found is None:
        return False
    model.user_factors, model.item_factors = found
    ahead.taken += 1
    return True


def draw_folds(estimator, X):
    """Return the :class:`DrawnFolds` the step's cross-fitting draws, or None."""
    splitter = resolve_cv(estimator.cv, estimator.random_state)
    return None if splitter is None else DrawnFolds(splitter, None, X, None)


def model_fits(estimator, X, folds):
    """Return the ALS fits ``estimator.fit_transform(X)`` makes, in its order.

    ``(estimator, rows)`` pairs: the model on all rows, then each fold's of
    ``folds`` (:func:`draw_folds`), whose ``fit`` gives only the model (no
    fold's transform). A fold's rows are taken when its pair is.
    """
    yield estimator, X
    if folds is None:
        return
    fold = clone(estimator).set_params(cv=None)
    for train, _ in folds.folds:
        yield clone(fold), _safe_indexing(X, train)


def fit_recorded(estimator, X):
    """Fit ``estimator`` on ``X`` and return the models it recorded (a dict).

    Runs in the worker process, one model per task: the caller adds the dict
    to its ``_Ahead.models``.
    """
    ahead = _Ahead()
    _local.recording = ahead
    try:
        estimator.fit(X)
    finally:
        _local.recording = None
    return ahead.models


def _out_of_fold(estimator, X, folds):
    """Return ``(folds, embedding)``: the step's out-of-fold embedding of ``X``.

    What :meth:`ALSEmbedder.fit_transform` computes on its id columns
    (``passthrough=False``) with ``folds`` (those the models were fitted
    on), from the models fitted ahead (each found by :func:`adopt`, none
    solved); None without cross-fitting.
    """
    if folds is None:
        return None
    # an ndarray (one array filled fold by fold): the step reads it as one
    embedding = cross_fit_transform(
        clone(estimator).set_params(passthrough=False).set_output(transform="default"),
        X,
        cv=folds,
        random_state=estimator.random_state,
    )
    return folds.folds, embedding


def _same_params(a, b):
    """Whether two estimators' parameters (but their threads and verbosity) agree."""
    pa, pb = a.get_params(deep=False), b.get_params(deep=False)
    ignored = {"n_jobs", "verbose"}
    return pa.keys() == pb.keys() and all(
        pa[k] is pb[k] or (type(pa[k]) is type(pb[k]) and repr(pa[k]) == repr(pb[k]))
        for k in pa.keys() - ignored
    )


def adopt_embedding(estimator, X, folds, fit_params):
    """Return the out-of-fold embedding fitted ahead for ``X`` and ``folds``, or None.

    In the step's thread, from its cross-fitted ``fit_transform``: ``X``
    its id columns, ``folds`` the :class:`DrawnFolds` it drew. Taken when
    the ahead fit computed it on equal rows (values, dtypes, index), with
    the same folds and parameters and no fit parameters; then the step's
    folds are neither fitted nor transformed again (the models are the
    ones it would take, and a transform is a gather of their factors).
    """
    ahead = getattr(_local, "replaying", None)
    if ahead is None or fit_params:
        return None
    ahead.finish()
    ahead.done.wait()
    found, ahead.embedding = ahead.embedding, None  # looked at once, then freed
    if found is None:
        return None
    drawn, embedding = found
    columns = list(ahead.X.columns)  # the same columns, maybe in another order
    if (
        type(estimator) is not type(ahead.estimator)
        or not _same_params(estimator, ahead.estimator)
        or len(drawn) != len(folds.folds)
        or not all(
            np.array_equal(a, c) and np.array_equal(b, d)
            for (a, b), (c, d) in zip(drawn, folds.folds)
        )
        or set(X.columns) != set(columns)
        or not X[columns].equals(ahead.X)
    ):
        return None
    ahead.embedding_taken = True
    return embedding


def _fit_in_worker(helper, fits, ahead):
    """Fit models from ``fits`` in the worker until it is claimed; return the rest.

    Each model is one :meth:`~mtlclassic._worker.Worker.run_yielding` task,
    so the FM's folds wait for one model at most. Stops at the first model
    the worker does not take (claimed, busy, died), or on an error (then
    ``ahead.error``). Returns the iterator of the fits not made, with the one
    not taken first.
    """
    helper.warm(__name__)
    if helper.warming is not None:
        try:
            helper.warming.result()
        except BaseException:  # noqa: BLE001 - a failed start: the fits stay here
            return fits
    for fit in fits:
        if ahead.stop.is_set():
            return itertools.chain([fit], fits)
        try:
            models = helper.run_yielding(fit_recorded, *fit)
        except BaseException as exc:  # noqa: BLE001 - the step then solves
            if isinstance(exc, BrokenProcessPool) and not ahead.stop.is_set():
                warnings.warn(
                    f"The worker process died fitting the ALS step's models ahead "
                    f"({exc}); the FM's folds run in threads instead.",
                    RuntimeWarning,
                    stacklevel=2,
                )
            ahead.error = exc
            ahead.stop.set()
            return iter(())
        if models is NotImplemented:
            return itertools.chain([fit], fits)
        ahead.models.update(models)
        ahead.in_worker += 1
    return iter(())


@contextlib.contextmanager
def fitted_ahead(step, X, helper=None):
    """Fit ``clone(step)`` on ``X``, one thread: in the worker, then on a lent core.

    ``step``: an ALSEmbedder; ``X``: the rows it will be fitted on, its id
    (and weight) columns only; ``helper``: the worker process
    (:func:`mtlclassic._worker.worker`) or None. With a worker, a thread
    fits the models there at once, one task each, during the FM's burn-in,
    until the FM's folds claim the worker; the models left are fitted here
    when the FM lends its core. Inside the block this thread's ALS fits take
    the models found (:func:`adopt`), and an FMEmbedder fit whose folds went
    to the worker starts the fit here when its chain ends. BLAS keeps one
    thread inside the block (what the FM and ALS ask for anyway): the ahead
    fit sets no thread-pool limit of its own, as nested limits of two threads
    would undo each other's. Leaving the block stops the ahead fit and waits
    for its current model (an interrupt does not wait: a daemon thread, and
    the worker, if it runs a model, is stopped).

    Yields the ahead fit's state (``taken``: models the step took).
    """
    ahead = _Ahead()
    ahead.X = X
    estimator = ahead.estimator = clone(step).set_params(n_jobs=1, verbose=0)

    def run():
        try:
            folds = draw_folds(estimator, X)
            fits = model_fits(estimator, X, folds)
            if helper is not None:
                fits = _fit_in_worker(helper, fits, ahead)
            ahead.go.wait()
            if ahead.stop.is_set():
                return
            _local.recording = ahead
            for fit_estimator, rows in fits:
                fit_estimator.fit(rows)
            if not ahead.stop.is_set():
                ahead.embedding_ahead = True  # transforms only: the step waits
                ahead.embedding = _out_of_fold(estimator, X, folds)
        except _Stopped:
            pass
        except BaseException as exc:  # noqa: BLE001 - the step then solves itself
            ahead.error = exc
        finally:
            _local.recording = None
            ahead.done.set()

    previous = getattr(_local, "replaying", None)
    thread = threading.Thread(
        target=with_config(run), name="mtlclassic-als-ahead", daemon=True
    )
    interrupted = False
    with threadpool_limits(limits=1, user_api="blas"):
        _local.replaying = ahead
        try:
            thread.start()
            with lend_cores(ahead.start):
                yield ahead
        except KeyboardInterrupt:
            interrupted = True
            if helper is not None:
                helper.stop_yielding()  # a model of ours: not waited for
            raise
        finally:
            _local.replaying = previous
            ahead.finish()
            if not interrupted:
                thread.join()
