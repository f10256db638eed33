"""Compatibility layer: the only module touching scikit-learn private API.

``lightgbm`` and ``implicit`` are imported lazily through :func:`import_lightgbm`
and :func:`import_implicit`, so ``import mtlclassic`` stays fast.
"""

import contextlib
import importlib
import os

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    Options,
    StrOptions,
    validate_params,
)
from sklearn.utils.validation import _num_samples, check_is_fitted, validate_data

__all__ = [
    "HasMethods",
    "Interval",
    "Options",
    "StrOptions",
    "_fit_context",
    "_num_samples",
    "check_is_fitted",
    "effective_n_jobs",
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
    n_cpus = os.cpu_count() or 1
    if n_jobs < 0:
        return max(1, n_cpus + 1 + n_jobs)
    return int(n_jobs)


@contextlib.contextmanager
def limit_threads(n_jobs):
    """Bound BLAS and OpenMP thread pools to ``n_jobs`` threads inside the block."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=effective_n_jobs(n_jobs)):
        yield


def wants_pandas_output(estimator, method="transform") -> bool:
    """Whether ``set_output`` asked this estimator for pandas output.

    A transformer whose output mixes column types (embeddings plus categorical
    passthrough columns) builds the DataFrame itself when this is true, so
    dtypes survive (scikit-learn's wrapper would build it from an object array).
    """
    from sklearn.utils._set_output import _get_output_config

    return _get_output_config(method, estimator)["dense"] == "pandas"
