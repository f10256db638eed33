"""Multi-task targets: the one place that validates ``Y``, masks and task kinds.

Every estimator, metric and scorer of the library calls :func:`check_targets`;
none re-implements it.

Conventions
-----------
- ``Y`` is a DataFrame (task names = column names), a 2-D array, or a 1-D
  array / Series (one task).
- ``NaN`` means "this row has no label for this task".
- ``tasks`` is ``None`` (infer each column: labels in ``{0, 1}`` give
  ``"binary"``, anything else ``"regression"``), a sequence of kinds aligned
  with the columns, or a dict ``{name: kind}`` covering every column.
  Kinds are ``"regression"``, ``"binary"`` and ``"ranking"`` (never inferred).
"""

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

TASK_KINDS = ("regression", "binary", "ranking")


def _task_names(Y, n_tasks: int) -> list[str]:
    if isinstance(Y, pd.DataFrame):
        return [str(c) for c in Y.columns]
    if isinstance(Y, pd.Series) and Y.name is not None:
        return [str(Y.name)]
    return [f"task_{t}" for t in range(n_tasks)]


def targets_ndim(Y) -> int:
    """Return 1 when ``Y`` describes a single task as a 1-D array, else 2."""
    if isinstance(Y, pd.DataFrame):
        return 2
    if isinstance(Y, pd.Series):
        return 1
    return 1 if np.asarray(Y).ndim == 1 else 2


def infer_task_kind(y: np.ndarray) -> str:
    """Infer the kind of one task from its labelled values (NaN ignored).

    Labels all in ``{0, 1}`` give ``"binary"``; anything else ``"regression"``.

    Examples
    --------
    >>> import numpy as np
    >>> infer_task_kind(np.array([0.0, 1.0, np.nan]))
    'binary'
    >>> infer_task_kind(np.array([1.0, 3.5]))
    'regression'
    """
    values = y[~np.isnan(y)]
    if values.size and np.all((values == 0) | (values == 1)):
        return "binary"
    return "regression"


def _resolve_kinds(tasks, names: list[str], Y: np.ndarray) -> list[str]:
    n_tasks = len(names)
    if tasks is None:
        return [infer_task_kind(Y[:, t]) for t in range(n_tasks)]
    if isinstance(tasks, str):
        tasks = [tasks] * n_tasks if n_tasks == 1 else None
        if tasks is None:
            raise ValueError(
                "tasks must be None, a sequence of kinds or a dict {name: kind} "
                f"when Y has {n_tasks} tasks; got a single string."
            )
    if isinstance(tasks, Mapping):
        keys = [str(k) for k in tasks]
        unknown = sorted(set(keys) - set(names))
        missing = [n for n in names if n not in keys]
        if unknown or missing:
            raise ValueError(
                f"tasks dict must name every task of Y exactly; task names in Y are "
                f"{names}; not in Y: {unknown}; without a kind: {missing}."
            )
        by_name = {str(k): v for k, v in tasks.items()}
        kinds = [by_name[n] for n in names]
    elif isinstance(tasks, Sequence):
        kinds = list(tasks)
        if len(kinds) != n_tasks:
            raise ValueError(
                f"tasks has {len(kinds)} kinds but Y has {n_tasks} task columns "
                f"({names})."
            )
    else:
        raise TypeError(
            "tasks must be None, a sequence of kinds or a dict {name: kind}; "
            f"got {type(tasks).__name__}."
        )
    for name, kind in zip(names, kinds):
        if kind is None:
            continue
        if kind not in TASK_KINDS:
            raise ValueError(
                f"Unknown task kind {kind!r} for task {name!r}; expected one of "
                f"{list(TASK_KINDS)}."
            )
    return [infer_task_kind(Y[:, t]) if k is None else k for t, k in enumerate(kinds)]


def _to_float_matrix(Y) -> np.ndarray:
    if isinstance(Y, pd.Series):
        Y = Y.to_frame()
    if isinstance(Y, pd.DataFrame):
        bad = [
            str(c)
            for c in Y.columns
            if not (
                pd.api.types.is_numeric_dtype(Y[c]) or pd.api.types.is_bool_dtype(Y[c])
            )
        ]
        if bad:
            raise TypeError(
                f"Y columns must be numeric (NaN for a missing label); columns {bad} "
                "are not."
            )
        return Y.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    try:
        arr = np.asarray(Y)
        complex_values = np.iscomplexobj(arr)
        if not complex_values:
            arr = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "Y must be numeric (a DataFrame, a 2-D or 1-D array) with NaN for a "
            f"missing label; could not convert it to float: {exc}"
        ) from None
    if complex_values:
        raise ValueError("Complex data not supported: Y must be real.")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"Y must be 1-D or 2-D; got an array with {arr.ndim} dims.")
    return np.array(arr, dtype=np.float64, copy=True)


def check_targets(
    Y, tasks=None, *, n_samples=None, allow_kinds=TASK_KINDS, allow_empty=False
):
    """Validate multi-task targets.

    Parameters
    ----------
    Y : DataFrame, array-like of shape (n_samples, n_tasks) or (n_samples,)
        Labels, NaN where a row has no label for a task.
    tasks : None, sequence of str or dict, default=None
        Task kinds; see the module docstring.
    n_samples : int, default=None
        Expected number of rows (the number of rows of ``X``).
    allow_kinds : tuple of str, default=TASK_KINDS
        Kinds the caller supports; any other gives a ``ValueError``.
    allow_empty : bool, default=False
        Accept a task without any label (scoring a fold: the task is then
        left out by the caller); fitting needs every task labelled.

    Returns
    -------
    Y : ndarray of shape (n_samples, n_tasks), float64
        A new array (never a view of the user's data).
    mask : ndarray of shape (n_samples, n_tasks), bool
        True where the task has a label.
    kinds : list of str
        One kind per task.
    names : list of str
        One name per task.

    Examples
    --------
    >>> import numpy as np
    >>> Y, mask, kinds, names = check_targets([[1.0, 0], [np.nan, 1], [3.0, 0]])
    >>> kinds, names, mask.sum(axis=0).tolist()
    (['regression', 'binary'], ['task_0', 'task_1'], [2, 3])
    """
    if Y is None:
        raise ValueError("Y is required: this estimator needs labels.")
    if isinstance(Y, pd.DataFrame) and Y.columns.duplicated().any():
        dup = sorted({str(c) for c in Y.columns[Y.columns.duplicated()]})
        raise ValueError(f"Duplicate task names in Y: {dup}.")
    Yf = _to_float_matrix(Y)
    n_tasks = Yf.shape[1]
    names = _task_names(Y, n_tasks)
    if n_tasks == 0:
        raise ValueError("Y has no task column.")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"Duplicate task names in Y: {dup}.")
    if n_samples is not None and Yf.shape[0] != n_samples:
        raise ValueError(
            f"Y has {Yf.shape[0]} rows but X has {n_samples}; they must match."
        )
    if np.isinf(Yf).any():
        bad = [names[t] for t in np.flatnonzero(np.isinf(Yf).any(axis=0))]
        raise ValueError(f"Y contains inf in tasks {bad}; use NaN for a missing label.")
    mask = ~np.isnan(Yf)
    empty = [names[t] for t in np.flatnonzero(~mask.any(axis=0))]
    if empty and not allow_empty:
        raise ValueError(f"Tasks {empty} have no label at all (every value is NaN).")
    kinds = _resolve_kinds(tasks, names, Yf)
    for t, (name, kind) in enumerate(zip(names, kinds)):
        if kind not in allow_kinds:
            raise ValueError(
                f"Task {name!r} has kind {kind!r}, which this estimator does not "
                f"support; supported kinds: {list(allow_kinds)}."
            )
        values = Yf[mask[:, t], t]
        if kind == "binary" and not np.all((values == 0) | (values == 1)):
            odd = np.unique(values[(values != 0) & (values != 1)])[:5].tolist()
            raise ValueError(
                f"Task {name!r} is 'binary' but has labels other than 0/1, e.g. {odd}."
            )
        if kind == "ranking" and not np.all(
            (values >= 0) & (values == np.round(values))
        ):
            raise ValueError(
                f"Task {name!r} is 'ranking': labels must be non-negative integer "
                "relevance grades."
            )
    return Yf, mask, kinds, names


#: beyond this magnitude a label's square (and a sum of squares) can overflow
#: float64 in the FM's sampler and the linear models' solver
HUGE_LABEL = 1e100


def check_label_size(Y, mask, names, owner, hint=""):
    """``ValueError`` naming the first task with a label beyond :data:`HUGE_LABEL`.

    ``Y`` (n, n_tasks) and ``mask`` (labelled entries); a 1-D ``Y`` is one task.
    """
    Y = np.asarray(Y, dtype=np.float64)
    Y = Y[:, None] if Y.ndim == 1 else Y
    mask = np.ones(Y.shape, dtype=bool) if mask is None else np.asarray(mask)
    mask = mask[:, None] if mask.ndim == 1 else mask
    top = np.where(mask, np.abs(np.nan_to_num(Y)), 0.0)
    top = top.max(axis=0) if top.shape[0] else np.zeros(Y.shape[1])
    huge = np.flatnonzero(top > HUGE_LABEL)
    if huge.size:
        t = int(huge[0])
        raise ValueError(
            f"{owner}: task {names[t]!r} has labels up to {top[t]:.3g}, beyond "
            f"{HUGE_LABEL:.0e}: their squares overflow float64{hint}; divide them by "
            "a power of ten."
        )


def check_task_sample_weight(sample_weight, n_samples: int, n_tasks: int,
                             task_names=None):  # fmt: skip
    """Return per-task sample weights of shape (n_samples, n_tasks).

    ``None`` gives ones; a 1-D array is shared by every task; a 2-D array gives
    one column per task. A DataFrame whose columns are not its positions
    (0, 1, ...) is read by name: its columns must include every name of
    ``task_names`` (the tasks in fit order; others are ignored), else
    ``ValueError`` names the missing ones; one column named after no task is
    every task's, as a Series. Weights must be finite and non-negative.

    Examples
    --------
    >>> check_task_sample_weight([1.0, 2.0], 2, 3).shape
    (2, 3)
    """
    if sample_weight is None:
        return np.ones((n_samples, n_tasks))
    if isinstance(sample_weight, pd.DataFrame):
        sample_weight = _weights_by_task(sample_weight, task_names)
    if isinstance(sample_weight, pd.DataFrame | pd.Series):
        sample_weight = sample_weight.to_numpy()
    sw = np.asarray(sample_weight, dtype=np.float64)
    if sw.ndim == 1:
        if sw.shape[0] != n_samples:
            raise ValueError(
                f"sample_weight has {sw.shape[0]} values but X has {n_samples} rows."
            )
        sw = np.repeat(sw[:, None], n_tasks, axis=1)
    elif sw.ndim == 2:
        if sw.shape != (n_samples, n_tasks):
            raise ValueError(
                f"2-D sample_weight must have shape (n_samples, n_tasks) = "
                f"({n_samples}, {n_tasks}); got {sw.shape}."
            )
        sw = sw.copy()
    else:
        raise ValueError("sample_weight must be 1-D or 2-D (one column per task).")
    if not np.all(np.isfinite(sw)) or (sw < 0).any():
        raise ValueError("sample_weight must be finite and non-negative.")
    return sw


def task_columns(frame, task_names, what):
    """Return ``frame``'s columns in the order of ``task_names``, matched by name.

    A frame whose columns are its positions (0, 1, ...) is returned as it is
    (read by position), unless the tasks are named by those numbers too;
    columns named after no task are left out.

    Raises
    ------
    ValueError
        Naming the tasks without a column (``what``: the argument's name).
    """
    columns = list(frame.columns)
    names = [str(c) for c in columns]
    wanted = [str(t) for t in task_names]
    if columns == list(range(len(columns))) and not set(wanted) <= set(names):
        return frame  # labels 0, 1, ... that name no task: positions
    missing = [t for t in wanted if t not in names]
    if missing:
        raise ValueError(
            f"{what} is a DataFrame with the columns {columns}: they are matched to "
            f"the tasks {wanted} by name, and it has none for {missing}. Name one "
            "column per task, or pass an array with the tasks in that order."
        )
    return frame.iloc[:, [names.index(t) for t in wanted]]


def _weights_by_task(frame, task_names):
    """Return a per-task weight DataFrame's columns in task order, by name."""
    if task_names is None:
        return frame
    names = [str(c) for c in frame.columns]
    if len(names) == 1 and names[0] not in {str(t) for t in task_names}:
        return frame.iloc[:, 0]  # one column of row weights: every task's, as a Series
    return task_columns(frame, task_names, "sample_weight")


def fitted_tasks(estimator) -> dict:
    """Return ``{task name: kind}`` of a fitted multi-task estimator or Pipeline.

    Reads ``tasks_`` (a dict) or ``task_names_`` / ``task_kinds_`` of the
    final step; an estimator with neither gives an empty dict.
    """
    estimator = getattr(estimator, "best_estimator_", estimator)  # a fitted search
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    tasks = getattr(final, "tasks_", None)
    if isinstance(tasks, dict):
        return dict(tasks)
    names = getattr(final, "task_names_", None)
    if names is not None:
        kinds = getattr(final, "task_kinds_", [None] * len(names))
        return dict(zip(names, kinds))
    return {}


def refuse_reordered_rows(X, _reference="X", **others):
    """Refuse a Series/DataFrame of ``others`` holding ``X``'s index labels reordered.

    Rows are matched by position (scikit-learn's rule); a label frame whose
    index lists the same labels as ``X``'s in another order (a sort, a
    ``groupby`` result) would give every label to another row, silently.
    Taken by position, as scikit-learn does: indexes that differ in their
    labels (e.g. a reset index), and a default ``RangeIndex`` on the other
    side (a frame built by position, e.g. from ``predict``'s array, beside a
    sorted ``X``). ``_reference`` names ``X`` in the message (``Y_true``).
    Raises ``ValueError`` naming the argument.
    """
    index = getattr(X, "index", None)
    if not isinstance(index, pd.Index):
        return
    for name, other in others.items():
        labels = getattr(other, "index", None)
        if (
            not isinstance(labels, pd.Index)
            or len(labels) != len(index)
            or _positional(labels)
            or labels.equals(index)
        ):
            continue
        # the same labels, each once, in another order (hashing: no sort)
        if labels.is_unique and index.is_unique and labels.isin(index).all():
            raise ValueError(
                f"{name} has {_reference}'s index labels in another order, but rows "
                "are matched by position: align it (.reindex("
                + _reference
                + ".index)) if its rows follow its labels, or drop its index "
                "(.reset_index(drop=True)) if they already follow "
                f"{_reference}'s rows."
            )


def _positional(labels):
    """Whether an index is the default 0..n-1 (rows numbered by position)."""
    return isinstance(labels, pd.RangeIndex) and labels.start == 0 and labels.step == 1


def tasks_from_column(X, y, column, *, sep="_"):
    """Split labels into one task per value of a column (domain, category).

    Cross-domain recommendation as multi-task learning: the same users, one
    task per domain (books vs. films, a product line), few labels in the small
    domains. Row ``i`` gets its label in the task of its ``column`` value and
    NaN in the others: the shape every estimator here accepts.

    Parameters
    ----------
    X : DataFrame of shape (n_samples, n_features)
        Holds ``column``; returned unchanged (not copied).
    y : Series, 1-D array-like or DataFrame of shape (n_samples,) or
            (n_samples, n_labels)
        The labels (NaN where missing). A DataFrame gives one task per label
        column and value, named ``<label><sep><value>``.
    column : str
        The column of ``X`` whose values define the tasks (missing values
        are refused).
    sep : str, default="_"
        Joins a label name and a value in the task names.

    Returns
    -------
    X : DataFrame
        The input ``X``.
    Y : DataFrame of shape (n_samples, n_tasks)
        One float column per value of ``column`` (sorted; a ``category``
        column keeps its category order, unused categories dropped), named by
        the value (``str(value)``), with ``X``'s index.

    Raises
    ------
    TypeError
        If ``X`` is not a DataFrame.
    ValueError
        If ``column`` is not a column of ``X`` or has missing values, or
        ``y`` has another number of rows, or is a Series/DataFrame holding
        ``X``'s index labels in another order (rows are matched by position).

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"user_id": [1, 1, 2], "domain": ["book", "film", "film"]})
    >>> tasks_from_column(X, [5.0, 3.0, 4.0], "domain")[1]
       book  film
    0   5.0   NaN
    1   NaN   3.0
    2   NaN   4.0
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a DataFrame; got {type(X).__name__}.")
    if column not in X.columns:
        raise ValueError(
            f"column={column!r} is not a column of X; its columns are "
            f"{[str(c) for c in X.columns]}."
        )
    values = X[column]
    if values.isna().any():
        raise ValueError(
            f"column {column!r} has {int(values.isna().sum())} missing value(s); "
            "every row needs a task."
        )
    refuse_reordered_rows(X, y=y)
    if isinstance(y, pd.DataFrame):
        names = [str(c) for c in y.columns]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(
                f"y names the label column(s) {twice} more than once (as text): "
                "each task needs a name of its own."
            )
        labels = {n: y.iloc[:, j].to_numpy(dtype=np.float64)
                  for j, n in enumerate(names)}  # fmt: skip
    else:
        arr = np.asarray(y, dtype=np.float64)
        if arr.ndim != 1:
            raise ValueError(f"y must be 1-D or a DataFrame; got shape {arr.shape}.")
        labels = {None: arr}
    for arr in labels.values():
        if arr.shape[0] != len(X):
            raise ValueError(
                f"y has {arr.shape[0]} rows but X has {len(X)}; one label per row."
            )
    if isinstance(values.dtype, pd.CategoricalDtype):
        levels = [c for c in values.cat.categories if (values == c).any()]
    else:
        levels = sorted(values.unique().tolist(), key=lambda v: (str(type(v)), v))
    codes = values.to_numpy()
    out = {}
    for name, arr in labels.items():
        for level in levels:
            task = str(level) if name is None else f"{name}{sep}{level}"
            out[task] = np.where(codes == level, arr, np.nan)
    if len(out) < len(labels) * len(levels):
        raise ValueError(
            f"Two values of column {column!r} give the same task name; rename them."
        )
    return X, pd.DataFrame(out, index=X.index)
