"""The one boundary to the dependencies: private API, lazy imports, threads.

``lightgbm`` and ``implicit`` are imported lazily through :func:`import_lightgbm`
and :func:`import_implicit`, so ``import mtlclassic`` stays fast.

Thread policy (every estimator's ``n_jobs``; None means 1 thread, -1 all cores,
:func:`effective_n_jobs`):

- LightGBM: ``num_threads=effective_n_jobs(n_jobs)`` on every train/predict
  call (``MultiTaskLGBM``); LightGBM bounds its own OpenMP pool per call.
- implicit (ALS): OpenMP at ``n_jobs`` threads and BLAS at 1 inside the call
  (:func:`implicit_threads`), since implicit warns when both run pools.
- numpy/scipy BLAS (linear models' solvers): bounded to ``n_jobs`` inside the
  fit (:func:`limit_threads`).
- FM solvers: one thread (``limit_threads(1)``): their small dense solves
  are slower with a BLAS pool than without.
- Dask: each worker's ``nthreads`` (the estimators on the workers use 1).
"""

import contextlib
import importlib
import os
from importlib import metadata

from sklearn.base import _fit_context
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import (  # noqa: F401 - InvalidParameterError
    HasMethods,
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_params,
)
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import (
    _check_feature_names_in,
    _num_samples,
    check_is_fitted,
    validate_data,
)
from threadpoolctl import threadpool_limits

__all__ = [
    "HasMethods",
    "Interval",
    "Options",
    "StrOptions",
    "_check_feature_names_in",
    "_fit_context",
    "_num_samples",
    "_safe_indexing",
    "check_is_fitted",
    "effective_n_jobs",
    "implicit_threads",
    "import_dask_stack",
    "import_implicit",
    "import_lightgbm",
    "limit_threads",
    "validate_data",
    "validate_params",
    "wants_pandas_output",
]


def import_lightgbm():
    """Import and return the ``lightgbm`` module (lazily)."""
    return importlib.import_module("lightgbm")


def import_implicit():
    """Import and return the ``implicit`` package (lazily)."""
    return importlib.import_module("implicit")


DASK_INSTALL = (
    "pip install 'mtlclassic[dask]' (that is 'dask[dataframe,distributed]': "
    "dask's own extra pins distributed to dask's release)"
)


def _installed_version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def import_dask_stack():
    """Import and return ``(dask, dask.dataframe)``, checking the Dask stack.

    Dask and ``distributed`` are released together, with the same version;
    a mismatched pair (pip may pair a new dask with a years-old distributed
    when ``distributed`` is required bare) fails deep inside ``distributed``.

    Raises
    ------
    ImportError
        Naming both installed versions and the install command, when either
        package is missing, their versions differ, or one fails to import.
    """
    dask_version = _installed_version("dask")
    distributed_version = _installed_version("distributed")
    found = f"installed: dask {dask_version}, distributed {distributed_version}"
    if dask_version is None or distributed_version is None:
        raise ImportError(
            f"mtlclassic.dask needs dask and distributed ({found}). "
            f"Install them with {DASK_INSTALL}."
        )
    if dask_version != distributed_version:
        raise ImportError(
            "mtlclassic.dask needs dask and distributed of the same release; "
            f"{found}. Reinstall a matching pair with {DASK_INSTALL}."
        )
    try:
        dask = importlib.import_module("dask")
        dataframe = importlib.import_module("dask.dataframe")
        importlib.import_module("distributed")
    except ImportError as exc:
        raise ImportError(
            f"mtlclassic.dask could not import the Dask stack ({found}): {exc}. "
            f"Reinstall it with {DASK_INSTALL}."
        ) from exc
    return dask, dataframe


def effective_n_jobs(n_jobs) -> int:
    """Return the thread count for ``n_jobs`` (None: 1; negative: counts from cores).

    Examples
    --------
    >>> effective_n_jobs(None)
    1
    >>> effective_n_jobs(2)
    2
    """
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs > 0:
        return int(n_jobs)
    n_cpus = os.cpu_count() or 1  # tens of microseconds: only when counted from
    return max(1, n_cpus + 1 + n_jobs)


@contextlib.contextmanager
def limit_threads(n_jobs):
    """Bound BLAS and OpenMP thread pools to ``n_jobs`` threads inside the block."""
    with threadpool_limits(limits=effective_n_jobs(n_jobs)):
        yield


@contextlib.contextmanager
def implicit_threads(n_jobs):
    """Bound OpenMP to ``n_jobs`` threads and BLAS to one inside the block.

    implicit parallelises over users/items with its own OpenMP threads and
    warns when BLAS runs a thread pool of its own (the two oversubscribe);
    so BLAS gets one thread and implicit gets ``n_jobs``.
    """
    with limit_threads(n_jobs), threadpool_limits(limits=1, user_api="blas"):
        yield


def wants_pandas_output(estimator, method="transform") -> bool:
    """Whether ``set_output`` asked this estimator for pandas output.

    A transformer whose output mixes column types (embeddings plus categorical
    passthrough columns) builds the DataFrame itself when this is true, so
    dtypes survive (scikit-learn's wrapper would build it from an object array).
    """
    return _get_output_config(method, estimator)["dense"] == "pandas"


class FittedOverlay:
    """An estimator's fitted attributes, overlaid with a helper's new values.

    Helpers that compute new fitted state (an ``update``) read and write
    attributes of this object as they would of the estimator; writes land in
    :attr:`changed` only, and the estimator's own ``fit``/``update`` assigns
    them (helpers compute, the estimator assigns, as in skglm's
    ``W, obj, kkt = solver.solve(...)`` then ``self.coef_ = ...``). A helper
    that changes a mutable attribute (a dict of boosters) must write a copy.

    Examples
    --------
    >>> class Est:
    ...     coef_ = 1.0
    >>> est = Est()
    >>> state = FittedOverlay(est)
    >>> state.coef_ = state.coef_ + 1
    >>> est.coef_, state.coef_, state.changed
    (1.0, 2.0, {'coef_': 2.0})
    """

    def __init__(self, est):
        object.__setattr__(self, "_est", est)
        object.__setattr__(self, "changed", {})

    def __getattr__(self, name):
        changed = object.__getattribute__(self, "changed")
        if name in changed:
            return changed[name]
        return getattr(object.__getattribute__(self, "_est"), name)

    def __setattr__(self, name, value):
        self.changed[name] = value
