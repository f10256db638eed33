"""A scoring path over plain arrays: :func:`compile`.

``compile(model)`` turns a fitted estimator or Pipeline into a
:class:`CompiledModel` whose ``predict`` takes a DataFrame, a dict of 1-D
arrays or a pyarrow Table and returns the numbers of ``model.predict``. The
input is checked once per batch (the model's input columns, equal lengths);
then the rows flow as a dict of columns through one *kernel* per step:

- the default pipeline's ``drop_time``: the time column is dropped;
- a step whose family registered a ``"transform"`` kernel in
  :mod:`mtlclassic._serving` (``FMEmbedder`` fitted on a DataFrame, in
  ``embedding/_fm/kernels.py``; ``ALSEmbedder``, in
  ``embedding/_als_kernels.py``): its kernel;
- the last step, when its family registered a ``"predict"`` kernel
  (``MultiTaskLGBM``, in ``boosting/_kernels.py``): the feature matrix from
  the arrays, then each head's booster;

and any other step runs its own ``transform``/``predict`` on a DataFrame of
the current columns, so every model compiles. Every kernel calls the same
functions as the estimator's own methods, so the numbers are the same
(tested equal, to the last bit for the boosters, within 1e-12 for the FM).
This module knows no estimator class: a new embedder or head strategy is
compiled by registering its kernels in its own family.
"""

import numbers
import re
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from .._compat import check_is_fitted, effective_n_jobs, wants_pandas_output
from .._ids import exact_values
from .._serving import lookup

_MIN_PART = 4096  # rows per thread below which a split costs more than it saves

__all__ = ["CompiledModel", "compile"]


def _series_values(col):
    """Return a Series' values as a 1-D array (categories and text as objects)."""
    if isinstance(col.dtype, pd.CategoricalDtype) or (
        pd.api.types.is_string_dtype(col.dtype)
        and not pd.api.types.is_object_dtype(col.dtype)
    ):
        return col.to_numpy(dtype=object)
    if pd.api.types.is_extension_array_dtype(col.dtype) and (
        pd.api.types.is_integer_dtype(col.dtype)
    ):  # Int64 & co: exact ints (ids beyond 2**53), NaN where missing
        return exact_values(col)
    if pd.api.types.is_extension_array_dtype(col.dtype) and (
        pd.api.types.is_numeric_dtype(col.dtype)
    ):
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    return col.to_numpy()


def _as_columns(data):
    """Return a dict of 1-D arrays and the row count (frame, dict or pyarrow)."""
    if isinstance(data, pd.DataFrame):
        if data.columns.duplicated().any():
            dup = sorted({str(c) for c in data.columns[data.columns.duplicated()]})
            raise ValueError(f"Expected unique column names; {dup} repeat.")
        return {name: _series_values(col) for name, col in data.items()}, len(data)
    if hasattr(data, "column_names") and hasattr(data, "column"):  # pyarrow Table
        # through pandas: a dictionary column's to_numpy turns nulls into its
        # first category
        out = {
            name: _series_values(data.column(name).to_pandas())
            for name in data.column_names
        }
        return out, data.num_rows
    if isinstance(data, dict):
        out = {name: np.asarray(values) for name, values in data.items()}
        lengths = {name: v.shape[0] if v.ndim else -1 for name, v in out.items()}
        bad = {n: v.ndim for n, v in out.items() if v.ndim != 1}
        if bad:
            raise ValueError(f"Every column must be 1-D; got ndim {bad}.")
        if len(set(lengths.values())) > 1:
            raise ValueError(f"The columns have different lengths: {lengths}.")
        return out, next(iter(lengths.values()), 0)
    raise TypeError(
        "data must be a DataFrame, a dict of 1-D arrays or a pyarrow Table; got "
        f"{type(data).__name__}."
    )


def _frame(columns, n_rows, dtypes=None):
    """Return a DataFrame of the columns, the input's category dtypes restored."""
    frame = pd.DataFrame(columns, index=pd.RangeIndex(n_rows))
    for name, dtype in (dtypes or {}).items():
        if name in frame.columns:
            frame[name] = pd.Categorical(frame[name], dtype=dtype)
    return frame


# ---------------------------------------------------------------- kernels


def _drop_kernel(step):
    """Return the kernel of ``drop_time`` (a drop-by-pattern ColumnTransformer)."""
    transformers = getattr(step, "transformers", None)
    if (
        not transformers
        or len(transformers) != 1
        or transformers[0][1] != "drop"
        or step.remainder != "passthrough"
        or getattr(transformers[0][2], "pattern", None) is None
        or getattr(transformers[0][2], "dtype_include", None) is not None
        or getattr(transformers[0][2], "dtype_exclude", None) is not None
    ):
        return None
    pattern = re.compile(transformers[0][2].pattern)

    def kernel(columns, n_rows):
        return {k: v for k, v in columns.items() if not pattern.search(str(k))}

    return kernel


def _step_kernel(step):
    """Return a transform kernel of ``step``: ``drop_time``'s, or its family's."""
    drop = _drop_kernel(step)
    if drop is not None:
        return drop
    factory = lookup("transform", step)
    return None if factory is None else factory(step)


def _predict_kernel(step):
    """Return the final step's predict kernel from its family, or None."""
    factory = lookup("predict", step)
    return None if factory is None else factory(step)


def _container(columns, n_rows, dtypes, as_array):
    """Return the input a step gets in predict: an array or a DataFrame."""
    if as_array:
        return np.column_stack(list(columns.values())) if columns else np.empty(
            (n_rows, 0)
        )  # fmt: skip
    return _frame(columns, n_rows, dtypes)


def _fallback(step):
    def kernel(columns, n_rows, dtypes=None, as_array=False):
        out = step.transform(_container(columns, n_rows, dtypes, as_array))
        if isinstance(out, pd.DataFrame):
            return {c: out[c].to_numpy() for c in out.columns}, False
        names = step.get_feature_names_out()
        out = np.asarray(out)
        return {str(n): out[:, j] for j, n in enumerate(names)}, True

    return kernel


_BUILT = weakref.WeakKeyDictionary()  # CompiledModel -> its kernels (closures)


def _plan(steps):
    """Per step, ``("compiled", kernel)`` or ``("fallback", None)``."""
    plan = []
    for _, step in steps[:-1]:
        kernel = _step_kernel(step)
        plan.append(("compiled" if kernel else "fallback", kernel))
    head = _predict_kernel(steps[-1][1])
    plan.append(("compiled" if head else "fallback", head))
    return plan


def _closures(steps):
    """Return ``(kernel names, step kernels, predict)``: what ``_run`` calls."""
    plan = _plan(steps)
    step_kernels = []
    for (_, step), (_, kernel) in zip(steps[:-1], plan[:-1]):
        if kernel is None:
            step_kernels.append(_fallback(step))
        else:  # the container transform would return: pandas or an array
            as_array = not wants_pandas_output(step)
            step_kernels.append(
                lambda c, n, d, a, k=kernel, out=as_array: (k(c, n), out)
            )
    last, head = steps[-1][1], plan[-1][1]
    if head is not None:

        def predict(c, n, d, a, threads=None):
            return head(c, n, threads)
    else:

        def predict(c, n, d, a, threads=None):
            return last.predict(_container(c, n, d, a))

    return [name for name, _ in plan], step_kernels, predict


class CompiledModel:
    """A fitted model as array kernels (see :func:`compile`).

    Attributes
    ----------
    model : estimator or Pipeline
        The model compiled (not copied: refit it, then compile again).
    input_columns : list of str or None
        The model's input columns (``feature_names_in_``; a column a step
        drops, such as the time, may be left out); None for a model fitted
        on an array.
    kernels : list of str
        Per step, ``"compiled"`` or ``"fallback"`` (its own ``transform``).
    n_jobs : int or None
        Threads a batch is split across (see :func:`compile`).
    """

    def __init__(self, model, n_jobs=None):
        if not hasattr(model, "predict"):
            hint = (
                " A Recommender already scores through its model: "
                "compile(recommender.model_)."
                if hasattr(model, "recommend")
                else ""
            )
            raise TypeError(
                f"compile takes a fitted estimator or Pipeline with predict; got "
                f"{type(model).__name__}.{hint}"
            )
        if n_jobs is not None and (
            isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral)
            or n_jobs == 0
        ):  # fmt: skip
            raise ValueError(f"n_jobs must be None or a non-zero int; got {n_jobs!r}.")
        if isinstance(model, BaseEstimator):
            check_is_fitted(model)
        self.model = model
        self.n_jobs = n_jobs
        steps = getattr(model, "steps", None) or [("model", model)]
        self.kernels, *built = _closures(steps)
        _BUILT[self] = tuple(built)
        names = getattr(model, "feature_names_in_", None)
        self.input_columns = None if names is None else [str(c) for c in names]

    def _built(self):
        """Return the kernels (closures), built once per object, kept outside it.

        They live in a weak table, not in the object's ``__dict__``: the
        object then holds only the model and plain values, so ``pickle``,
        ``joblib``, ``copy.deepcopy``, a spawned process and
        :func:`mtlclassic.save` carry it, and the kernels are built again on
        first use wherever it lands.
        """
        built = _BUILT.get(self)
        if built is None:
            model = self.model
            steps = getattr(model, "steps", None) or [("model", model)]
            _, *kernels = _closures(steps)
            built = _BUILT[self] = tuple(kernels)
        return built

    def predict(self, data):
        """Predict every row of ``data``, as ``model.predict`` does.

        Parameters
        ----------
        data : DataFrame, dict of 1-D arrays or pyarrow Table
            The model's input columns (others are ignored). A model fitted
            on an array takes an array or sparse matrix too, passed to its
            own ``predict``.

        Returns
        -------
        ndarray of shape (n_rows, n_tasks) or (n_rows,)

        Raises
        ------
        ValueError
            If a column the model reads is missing, or the columns have
            different lengths.
        TypeError
            If ``data`` is of another type.
        """
        if self.input_columns is None and (
            isinstance(data, np.ndarray) or hasattr(data, "tocsr")
        ):  # fitted on an array: the model's own positional path
            return self.model.predict(data)
        if "compiled" not in self.kernels:  # nothing to gain: the model itself
            if hasattr(data, "to_pandas") and not isinstance(data, pd.DataFrame):
                data = data.to_pandas()  # pyarrow: dictionary columns as category
            elif not isinstance(data, pd.DataFrame):
                data = _frame(*_as_columns(data))
            return self.model.predict(data)
        dtypes = {}
        if isinstance(data, pd.DataFrame):
            dtypes = {c: t for c, t in data.dtypes.items()
                      if isinstance(t, pd.CategoricalDtype)}  # fmt: skip
        columns, n_rows = _as_columns(data)
        if self.kernels[0] == "fallback" and self.input_columns is not None:
            # the first step runs its own transform: exactly its input columns
            missing = [c for c in self.input_columns if c not in columns]
            if missing:
                raise ValueError(
                    f"data is missing the model's input column(s) {missing}."
                )
            columns = {c: columns[c] for c in self.input_columns}
        self._built()  # before any thread: built once
        n_jobs = effective_n_jobs(self.n_jobs)
        if n_jobs == 1 or n_rows < 2 * _MIN_PART or "fallback" in self.kernels:
            return self._run(columns, n_rows, dtypes)
        # contiguous parts on threads: numpy and LightGBM release the GIL; a
        # fallback step may hold per-thread state (a session), so never split
        bounds = np.linspace(0, n_rows, min(n_jobs, n_rows // _MIN_PART) + 1)
        bounds = bounds.astype(int)
        parts = [({k: v[a:b] for k, v in columns.items()}, b - a)
                 for a, b in zip(bounds[:-1], bounds[1:])]  # fmt: skip
        with threadpool_limits(1), ThreadPoolExecutor(len(parts)) as pool:
            done = list(pool.map(lambda p: self._run(*p, dtypes, threads=1), parts))
        return np.concatenate(done, axis=0)

    def _run(self, columns, n_rows, dtypes, threads=None):
        step_kernels, predict = self._built()
        as_array = False  # the user's DataFrame (or what stands for it)
        for kernel in step_kernels:
            columns, as_array = kernel(columns, n_rows, dtypes, as_array)
        return predict(columns, n_rows, dtypes, as_array, threads=threads)


def compile(model, *, n_jobs=None):  # noqa: A001 - the public name of the issue
    """Compile a fitted model into array kernels: a :class:`CompiledModel`.

    Parameters
    ----------
    model : fitted estimator or Pipeline
        E.g. the Pipeline of :func:`~mtlclassic.make_multitask_recommender`,
        a :class:`~mtlclassic.MultiTaskLGBM`, or any Pipeline: steps without
        a kernel run their own ``transform``.
    n_jobs : int or None, default=None
        Threads a batch is split across: contiguous parts of at least 4,096
        rows, each scored on its own thread (numpy, scipy and LightGBM
        release the GIL) with one LightGBM and one BLAS thread, then joined
        in order (the numbers are those of one thread). None means 1; -1
        every core. A model with a step that runs its own ``transform`` is
        never split.

    Returns
    -------
    CompiledModel

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``model`` is not fitted.

    Examples
    --------
    >>> from mtlclassic import MultiTaskLGBM, compile, make_multitask_recsys
    >>> X, Y = make_multitask_recsys(n_users=30, n_items=20, n_events=300,
    ...                              random_state=0)
    >>> model = MultiTaskLGBM(n_estimators=5, random_state=0).fit(X, Y)
    >>> bool((compile(model).predict(X) == model.predict(X)).all())
    True
    """
    if isinstance(model, numbers.Number):  # pragma: no cover - a clear TypeError
        raise TypeError("model must be a fitted estimator or Pipeline.")
    return CompiledModel(model, n_jobs=n_jobs)
