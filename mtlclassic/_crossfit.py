"""The one cross-fitting (out-of-fold) loop of the package.

A model's prediction used as a feature *for the rows it was fitted on* leaks:
a downstream model sees training rows whose feature was fitted to them and
test rows whose feature was not. Cross-fitting gives every row the output of
a model fitted on the other folds, as scikit-learn's ``TargetEncoder`` and
``cross_val_predict`` do.

Two users share this loop: the embedders' cross-fitted ``fit_transform``
(:mod:`mtlclassic.embedding._crossfit`, a clone per fold) and the chain of
:class:`~mtlclassic.boosting.MultiTaskLGBM` (a booster per fold on a task's
labelled rows). Each hands :func:`out_of_fold` a ``fit_predict(train, test)``
callable; the splitting, the fold error messages and putting the rows back in
their input order live here only.
"""

import functools
import numbers
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import scipy.sparse as sp
import sklearn
from sklearn.model_selection import KFold, check_cv


def resolve_cv(cv, random_state=None):
    """Return a splitter for ``cv``, or None when cross-fitting is off.

    ``None``, ``False``, ``0`` and ``1`` turn cross-fitting off; an int ``k >= 2``
    gives a shuffled, seeded ``KFold(k)``; a splitter object or an iterable of
    ``(train, test)`` pairs is used as it is.

    Raises
    ------
    ValueError
        If ``cv`` is a negative int.
    TypeError
        If ``cv`` is a one-shot iterator (a generator of folds).

    Examples
    --------
    >>> resolve_cv(None) is None
    True
    >>> resolve_cv(3, random_state=0).get_n_splits()
    3
    """
    if cv is None or cv is False:
        return None
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        if cv < 0:
            raise ValueError(
                f"cv must be >= 0 (0 or 1 turn cross-fitting off); got {cv}."
            )
        if cv <= 1:
            return None
        return KFold(n_splits=int(cv), shuffle=True, random_state=random_state)
    if not hasattr(cv, "split") and iter(cv) is cv:
        raise TypeError(
            f"cv is a one-shot iterator ({type(cv).__name__}, e.g. KFold().split(X)): "
            "cross-fitting reads the folds again for each fit and clone, and an "
            "iterator can be read once only. Pass a splitter (KFold(...)) or a "
            "list of (train, test) pairs: list(cv)."
        )
    return check_cv(cv)


def with_config(fn):
    """Return ``fn`` run under the calling thread's scikit-learn configuration.

    scikit-learn keeps ``set_config`` per thread: work handed to another
    thread (``transform_output``, ``assume_finite``, ...) would otherwise run
    under the defaults.
    """
    config = sklearn.get_config()

    @functools.wraps(fn)
    def run(*args, **kwargs):
        with sklearn.config_context(**config):
            return fn(*args, **kwargs)

    return run


class DrawnFolds:
    """The folds of ``cv``, drawn once: a splitter that replays them.

    Drawing them before any model is fitted keeps them the same however the
    fits interleave (a ``RandomState`` instance shared with the models would
    otherwise give other folds when drawn after, or during, a fit).
    """

    def __init__(self, cv, random_state, X, y=None, groups=None):
        """Draw the folds of ``cv`` (as :func:`resolve_cv` reads it) on ``X``."""
        self.cv = cv
        splitter = resolve_cv(cv, random_state)
        self.folds = [(_compact(train), _compact(test))
                      for train, test in splitter.split(X, y, groups)]  # fmt: skip

    def split(self, X=None, y=None, groups=None):
        return iter(self.folds)

    def get_n_splits(self, X=None, y=None, groups=None):
        return len(self.folds)

    def __repr__(self):
        return repr(self.cv)


def _compact(index):
    """Return a fold's row positions as int32 when they fit (half of int64)."""
    index = np.asarray(index)
    if index.dtype.kind in "iu" and (index.size == 0 or index.max() < 2**31 - 1):
        return index.astype(np.int32)
    return index


def _inverse(order):
    """Return the permutation putting rows stacked in ``order`` in input order."""
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    return inverse


def _fold_rows(parts, order):
    """Return the input positions of each fold's output rows (``order`` split)."""
    bounds = np.cumsum([0] + [len(p) for p in parts])
    return [order[bounds[k] : bounds[k + 1]] for k in range(len(parts))]


def _fill_frame(parts, order):
    """Return the folds' DataFrames in the input order, filled column by column.

    Each output column is allocated once and filled fold by fold, so the
    folds' outputs and the result are alive together, not also their
    concatenation (``pd.concat(parts).iloc[inverse]`` holds every row twice
    more). A column of an extension dtype (``str``, ``Int64``, ...) or with
    other categories in some fold is concatenated alone. Returns None (the
    caller concatenates the frames) unless every part has the same columns.
    The result has a block per column (:func:`out_of_fold` consolidates it).
    """
    first = parts[0]
    if any(not p.columns.equals(first.columns) for p in parts):
        return None
    rows = _fold_rows(parts, order)
    inverse = None
    columns = {}
    for j, dtype in enumerate(first.dtypes):
        same = [p.dtypes.iloc[j] for p in parts]
        if isinstance(dtype, pd.CategoricalDtype) and all(
            isinstance(d, pd.CategoricalDtype)
            and d.ordered == dtype.ordered
            and d.categories.equals(dtype.categories)
            for d in same
        ):
            values = [p.iloc[:, j].cat.codes.to_numpy() for p in parts]
        elif isinstance(dtype, np.dtype) and all(d == dtype for d in same):
            values = [p.iloc[:, j].to_numpy() for p in parts]
        else:  # this column alone, concatenated as the frames would be
            inverse = _inverse(order) if inverse is None else inverse
            stacked = pd.concat([p.iloc[:, j] for p in parts], ignore_index=True)
            columns[j] = stacked.iloc[inverse].reset_index(drop=True)
            continue
        out = np.empty(order.size, dtype=values[0].dtype)
        for part_rows, part_values in zip(rows, values):
            out[part_rows] = part_values
        if isinstance(dtype, pd.CategoricalDtype):
            out = pd.Categorical.from_codes(out, dtype=dtype)
        # the dtype given: an object column of text stays object (not str)
        columns[j] = pd.Series(out, dtype=dtype, copy=False)
    frame = pd.DataFrame(columns, copy=False)  # a block per column: no copy
    frame.columns = first.columns
    return frame


def _concat_rows(parts, order, template):
    """Stack the folds' outputs and put the rows back in the input order.

    Returns ``(out, filled)``: ``filled`` when ``out`` is a DataFrame filled
    column by column (:func:`_fill_frame`).
    """
    if isinstance(parts[0], pd.DataFrame):
        out = _fill_frame(parts, order)
        filled = out is not None
        if out is None:
            out = pd.concat(parts, axis=0, ignore_index=True).iloc[_inverse(order)]
        index = template.index if isinstance(template, pd.DataFrame) else None
        out.index = index if index is not None else pd.RangeIndex(len(out))
        return out, filled
    if all(isinstance(p, np.ndarray) for p in parts) and all(
        p.shape[1:] == parts[0].shape[1:] for p in parts
    ):  # filled fold by fold, as _fill_frame
        out = np.empty((order.size, *parts[0].shape[1:]), np.result_type(*parts))
        for part_rows, part in zip(_fold_rows(parts, order), parts):
            out[part_rows] = part
        return out, False
    inverse = _inverse(order)
    if hasattr(parts[0], "tocsr"):
        return sp.vstack(parts).tocsr()[inverse], False
    return np.concatenate(parts, axis=0)[inverse], False


def out_of_fold(fit_predict, X, y=None, *, splitter, groups=None, advice="",
                progress=None, n_jobs=1):  # fmt: skip
    """Out-of-fold outputs for every row of ``X``.

    Parameters
    ----------
    fit_predict : callable ``(train, test) -> Z_test``
        Fits a fresh model on the rows ``train`` (integer positions) and
        returns its output for the rows ``test``: an ndarray, sparse matrix or
        DataFrame with ``len(test)`` rows.
    X : array-like or DataFrame of shape (n_samples, ...)
        Only split (and used as the index template of a DataFrame output).
    y : array-like of shape (n_samples,), default=None
        Passed to ``splitter.split`` (stratified splitters need it).
    splitter : cross-validation splitter
        From :func:`resolve_cv`; every row must be in exactly one test fold.
    groups : array-like of shape (n_samples,), default=None
        Passed to ``splitter.split``.
    advice : str, default=""
        Appended to the message when a fold's fit fails.
    progress : callable or None, default=None
        Called with a line after each fold (its number, rows and seconds).
    n_jobs : int, default=1
        Folds fitted at once, in threads (``fit_predict`` must be
        thread-safe; numpy and LightGBM release the GIL in their loops). The
        output does not depend on it.

    Returns
    -------
    Z : ndarray, sparse matrix or DataFrame
        The folds' outputs, rows in the input order.

    Raises
    ------
    ValueError
        If a fold's ``fit_predict`` raises one (re-raised naming the fold), or
        if the splitter does not put every row in exactly one test fold.
    """
    n_samples = X.shape[0] if hasattr(X, "shape") else len(X)
    folds = DrawnFolds(splitter, None, X, y, groups).folds
    n_folds = len(folds)

    def run(k):
        train, test = folds[k]
        started = time.perf_counter()
        try:
            part = fit_predict(train, test)
        except ValueError as exc:
            raise ValueError(
                f"Cross-fitting fold {k + 1} of {n_folds} ({len(train)} training "
                f"rows) failed: {exc}{' ' + advice if advice else ''}"
            ) from exc
        rows = part.shape[0] if hasattr(part, "shape") else len(part)
        if rows != len(test):
            raise ValueError(
                f"Cross-fitting fold {k + 1} of {n_folds}: the output has {rows} "
                f"rows for {len(test)} test rows; a fold must transform each of "
                "its rows into one output row."
            )
        if progress is not None:
            progress(
                f"cross-fitting fold {k + 1}/{n_folds}: {len(train)} training rows, "
                f"{time.perf_counter() - started:.1f} s"
            )
        return part

    if n_jobs > 1 and len(folds) > 1:
        task = with_config(run)
        with ThreadPoolExecutor(min(n_jobs, len(folds))) as pool:
            futures = [pool.submit(task, k) for k in range(len(folds))]
            try:
                parts = [future.result() for future in futures]
            except BaseException:
                for future in futures:  # the folds not started yet
                    future.cancel()
                raise
            del futures  # they hold the parts too
    else:
        parts = [run(k) for k in range(len(folds))]
    test_rows = [test for _, test in folds]
    order = np.concatenate(test_rows) if test_rows else np.empty(0, dtype=int)
    if order.size != n_samples or np.unique(order).size != n_samples:
        raise ValueError(
            "cv must put every row in exactly one test fold for cross-fitting "
            f"(a KFold-like splitter); got {order.size} test rows for "
            f"{n_samples} rows."
        )
    out, filled = _concat_rows(parts, order, X)
    parts.clear()  # the folds' outputs: freed before a filled frame is consolidated
    # a block per column (filled) -> one per dtype, as a concatenation gives
    return out.copy() if filled else out
