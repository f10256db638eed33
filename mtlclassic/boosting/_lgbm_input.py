"""LightGBM input for MultiTaskLGBM: the fitted feature encoder and row helpers.

The feature encoder turns ``X`` (a DataFrame with numeric and ``category``
columns, or an array) into the float64 matrix LightGBM reads: categorical
columns become codes among the categories seen in ``fit`` (NaN where unseen or
missing), and ``query_col`` is split off. Its fitted state lives in the
estimator's attributes ``features_``, ``feature_columns_``, ``categories_``
and ``categorical_feature_indices_`` (so saved models keep their layout).
"""

import difflib
import functools
import numbers
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._ids import category_codes
from .._targets import check_targets, check_task_sample_weight


def _numeric_categories(values) -> list:
    """Sorted distinct values of a numeric column listed as categorical.

    LightGBM reads a categorical feature as non-negative int32 codes (a
    negative value is missing, a larger one an error), so such a column is
    re-encoded as the position of its value among those seen in ``fit``.
    """
    observed = pd.Series(values).dropna()
    if pd.api.types.is_extension_array_dtype(observed.dtype):
        observed = observed.astype(observed.dtype.numpy_dtype)  # Int64 -> int64
    return np.sort(observed.unique()).tolist()  # exact: int ids never via float


def _encode_values(values, categories) -> np.ndarray:
    """Codes of ``values`` among ``categories`` (NaN where unseen or missing)."""
    codes = pd.Index(categories).get_indexer(values).astype(np.float64)
    codes[codes < 0] = np.nan
    return codes


_DEFAULT_LABEL_GAINS = 31  # LightGBM's label_gain: 2^i - 1 for grades 0..30


def check_label_gain(task, grades, params):
    """Refuse relevance grades that LightGBM's ``label_gain`` cannot map."""
    gains = params.get("label_gain")
    if gains is not None:
        try:
            gains = np.asarray(gains, dtype=np.float64)
        except (TypeError, ValueError):
            gains = None
        if gains is None or gains.ndim != 1:
            raise ValueError(
                f"label_gain of ranking task {task!r} must be a list of numbers, "
                f"one gain per relevance grade; got {params.get('label_gain')!r}."
            )
    n_gains = _DEFAULT_LABEL_GAINS if gains is None else len(gains)
    top = int(np.max(grades)) if grades.size else 0
    if top >= n_gains:
        given = "the default" if gains is None else "task_params' label_gain"
        advice = (  # a list of a million gains is no advice
            f"Pass task_params={{{task!r}: {{'label_gain': list(range({top + 1}))}}}} "
            "(linear gains, as mtlclassic's ndcg_at_k) or bin the grades."
            if top < 10_000
            else "Bin the grades into a few levels (e.g. 0-4): relevance grades "
            "are ranks of preference, not amounts."
        )
        raise ValueError(
            f"Ranking task {task!r} has relevance grade {top}, but {given} maps "
            f"grades 0..{n_gains - 1} only (LightGBM's LambdaRank and NDCG need a "
            f"gain per grade). " + advice
        )


_MAX_QUERY_ROWS = 10_000  # LightGBM's LambdaRank: rows of one query at most


def check_query_sizes(task, codes, raw, query_col, where=""):
    """Refuse a query with more labelled rows than LambdaRank accepts.

    ``raw``: the query ids as given (named in the message); ``where``: e.g.
    ``" of eval_set"``.
    """
    if codes.size == 0:
        return
    sizes = np.bincount(codes)
    biggest = int(np.argmax(sizes))
    if sizes[biggest] > _MAX_QUERY_ROWS:
        value = raw[np.flatnonzero(codes == biggest)[0]]
        value = value.item() if isinstance(value, np.generic) else value
        raise ValueError(
            f"Ranking task {task!r}: query {value!r}{where} (query_col="
            f"{query_col!r}) has {int(sizes[biggest])} labelled rows, more than "
            f"the {_MAX_QUERY_ROWS} LightGBM's LambdaRank and NDCG accept per "
            "query; keep fewer candidates per query (e.g. the top ones by a "
            "retrieval score), split such queries, or use objective="
            "'rank_xendcg' with metric='map'."
        )


def lgb_feature_names(names) -> list[str]:
    """Feature names LightGBM accepts (no JSON special characters), unique."""
    out, seen = [], set()
    for name in names:
        clean = re.sub(r'[",:\[\]{}\s]', "_", str(name)) or "_"
        candidate, k = clean, 1
        while candidate in seen:
            candidate, k = f"{clean}_{k}", k + 1
        seen.add(candidate)
        out.append(candidate)
    return out


def holdout(rows, fraction, rng, groups=None):
    """Split ``rows`` into (train, validation), whole query groups when given.

    Without groups, row ``i`` is held out when the ``i``-th uniform draw of
    ``rng`` is below ``fraction`` (at least one row on each side): the draw
    for a row never depends on how many rows follow, so appending events to
    the training data leaves every earlier row where it was (a permutation
    would reshuffle all of them, and early stopping would jump). With groups
    the same holds for whole groups, in the order their first row comes.
    """
    if groups is None:
        if rows.size < 2:
            return rows, None
        held = _held_out(rng.random(rows.size), fraction)
        return rows[~held], rows[held]
    labels = groups[rows]
    unique, first, inverse = np.unique(labels, return_index=True,
                                       return_inverse=True)  # fmt: skip
    if unique.size < 2:
        return rows, None
    # the k-th group to appear takes the k-th draw (appended queries come last)
    draws = np.empty(unique.size)
    draws[np.argsort(first, kind="stable")] = rng.random(unique.size)
    is_val = _held_out(draws, fraction)[inverse.ravel()]
    return rows[~is_val], rows[is_val]


def _held_out(draws, fraction):
    """``draws < fraction``, with at least one held out and one kept."""
    held = draws < fraction
    if not held.any():
        held[np.argmin(draws)] = True
    if held.all():
        held[np.argmax(draws)] = False
    return held


def group_rows(rows, query):
    """Order ``rows`` so query groups are contiguous; return (rows, group sizes)."""
    order = np.argsort(query[rows], kind="stable")
    rows = rows[order]
    _, sizes = np.unique(query[rows], return_counts=True)
    return rows, sizes


def query_codes(values, name):
    codes, _ = pd.factorize(np.asarray(values), sort=False)
    if (codes < 0).any():
        raise ValueError(
            f"query_col {name!r} has missing values; every row needs a query id."
        )
    return codes


@dataclass
class EvalData:
    """The validated ``eval_set``."""

    X: np.ndarray
    Y: np.ndarray
    mask: np.ndarray
    query: np.ndarray | None
    raw_query: np.ndarray | None = None  # the ids as given (for messages)


@dataclass
class FeatureSpec:
    """The fitted feature encoder's state (see the module docstring)."""

    features: list  # LightGBM-facing names: str(column), or "x{j}" for arrays
    columns: list  # the feature columns of X (names or positions)
    categories: dict  # column -> categories seen in fit
    categorical: list  # positions (in ``columns``) of categorical features


def _check_query_col(query, columns, is_frame):
    if query is None:
        return
    if is_frame and query not in columns:
        raise ValueError(
            f"query_col {query!r} is not a column of X; columns are "
            f"{[str(c) for c in columns]}."
        )
    if not is_frame and not (
        isinstance(query, numbers.Integral) and 0 <= query < len(columns)
    ):
        raise ValueError(
            f"query_col must be a column position in [0, {len(columns)}) "
            f"when X is an array; got {query!r}."
        )


def _column_categories(X, col, listed, is_frame):
    """Categories of a categorical feature column, None if numeric, or "bad"."""
    if not is_frame:  # numeric codes: re-encoded by their fitted values
        return _numeric_categories(X[:, col]) if col in listed else None
    dtype = X[col].dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return dtype.categories.tolist()
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return _numeric_categories(X[col]) if col in listed else None
    if col in listed:
        return sorted(X[col].dropna().unique().tolist(), key=str)
    return "bad"


def fit_feature_spec(X, query_col, categorical_features) -> FeatureSpec:
    """Decide feature columns and categorical encodings from the fit ``X``.

    Raises
    ------
    ValueError
        If ``query_col`` or a listed categorical feature is not a column of X,
        or no feature column is left.
    TypeError
        If a column is neither numeric nor ``category`` nor listed.
    """
    is_frame = isinstance(X, pd.DataFrame)
    columns = list(X.columns) if is_frame else list(range(X.shape[1]))
    _check_query_col(query_col, columns, is_frame)
    features = [c for c in columns if c != query_col]
    if not features:
        raise ValueError("X has no feature column besides query_col.")
    listed = []
    if not isinstance(categorical_features, str):
        listed = list(categorical_features)
        unknown = [c for c in listed if c not in features]
        if unknown:
            raise ValueError(
                f"categorical_features names {unknown!r}, which are not feature "
                f"columns of X (query_col excluded); features are {features!r}"
                + (
                    " (not text: list them as they are named)"
                    if any(not isinstance(c, str) for c in features)
                    else ""
                )
                + "."
            )
    categories, positions, bad = {}, [], []
    for j, col in enumerate(features):
        found = _column_categories(X, col, listed, is_frame)
        if isinstance(found, str):
            bad.append(str(col))
        elif found is not None:
            categories[col] = found
            positions.append(j)
    if bad:
        timed = [
            str(c) for c in features
            if str(c) in bad and is_frame
            and pd.api.types.is_datetime64_any_dtype(X[c].dtype)
        ]  # fmt: skip
        hint = (
            f" {timed} hold datetimes: a time is not a feature (a tree puts every "
            "future row in its newest leaf); drop it, or name it "
            "make_multitask_recommender(time_col=...)."
        )
        raise TypeError(
            f"X columns {bad} are neither numeric nor pandas 'category'; convert "
            "them with X[col].astype('category') or list them in "
            "categorical_features." + (hint if timed else "")
        )
    names = [str(c) if is_frame else f"x{c}" for c in features]
    return FeatureSpec(names, features, categories, positions)


def _category_codes(column, fitted, col, built=None):
    """Codes (float64, NaN where unseen or missing) of a categorical column.

    ``built``: ``(pd.Index, object array)`` of ``fitted``, built once by the
    caller (the compiled path), else built here.
    """
    cats, reference = built or (pd.Index(fitted), np.asarray(fitted, dtype=object))
    if isinstance(column, np.ndarray):  # the compiled path: plain values
        column = pd.Series(column, copy=False)
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        if not column.cat.categories.equals(cats):
            incoming = column.cat.categories.to_numpy(dtype=object)
            # one more slot so that the code -1 (missing) maps to -1
            recode = np.append(category_codes(incoming, cats, reference, col), -1)
            codes = recode[codes]
    else:
        values = column.to_numpy()
        if values.dtype.kind == "O" or values.dtype != reference.dtype:
            codes = category_codes(values, cats, reference, col)
        else:
            codes = cats.get_indexer(values)
    values = codes.astype(np.float64)
    values[codes < 0] = np.nan
    return values


def _feature_values(column, col, categories, built=None):
    """One feature column as LightGBM reads it: 1-D, float64 on assignment.

    A categorical column gives its codes (float64, NaN where unseen or
    missing); a numpy numeric column itself (no copy); anything else its
    float64 conversion. ``column`` is a Series, or a 1-D array (a dict of
    arrays: the compiled scoring path); ``built`` as in
    :func:`_category_codes`. Raises ``TypeError`` for a non-numeric column.
    """
    if col in categories:
        return _category_codes(column, categories[col], col, built)
    if getattr(column.dtype, "kind", "") in "mM":  # float64 would give their ticks
        raise TypeError(
            f"X column {col!r} holds times ({column.dtype}) where fit had numbers; "
            "convert them as for fit (e.g. days as a float) or drop the column."
        )
    if getattr(column.dtype, "kind", "") == "c":  # float64 drops the imaginary part
        raise TypeError(
            f"X column {col!r} is complex ({column.dtype}); LightGBM reads real "
            "numbers: give its real and imaginary parts as two columns."
        )
    try:
        if isinstance(column, np.ndarray):  # a dict of arrays: no text
            if column.dtype.kind in "USO" and any(isinstance(v, str) for v in column):
                raise TypeError
            if column.dtype.kind in "fiub":
                return column
            # object values: pd.NA and None are missing, as in a Series
            return pd.Series(column, copy=False).to_numpy(
                dtype=np.float64, na_value=np.nan
            )
        if isinstance(column.dtype, np.dtype) and column.dtype.kind in "fiub":
            return column.to_numpy()  # the column's own array
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise TypeError(
            f"X column {col!r} must be numeric (as in fit); got dtype {column.dtype}."
        ) from None


def frame_matrix(X, columns, categories, indexes=None) -> np.ndarray:
    """Return the float64 feature matrix of a DataFrame ``X`` (fitted encoder).

    ``X`` may also be a dict of 1-D arrays (the compiled scoring path), with
    ``indexes`` (``{column: (pd.Index, object array)}`` of ``categories``)
    built once.

    Raises
    ------
    TypeError
        If a numeric feature column is not numeric.
    ValueError
        If the matrix holds an infinite value.
    """
    n_rows = X.shape[0] if hasattr(X, "shape") else len(next(iter(X.values()), ()))
    out = np.empty((n_rows, len(columns)), dtype=np.float64)
    for j, col in enumerate(columns):
        built = indexes.get(col) if indexes else None
        out[:, j] = _feature_values(X[col], col, categories, built)
    if np.isinf(out).any():
        raise ValueError("Input X contains infinity; use NaN for missing values.")
    return out


# a fit reads a DataFrame's features from its columns (FrameColumns) when their
# float64 matrix would take more than this; smaller ones are copied (faster)
LAZY_FEATURE_BYTES = 1 << 28


class FrameColumns:
    """The encoded feature columns of a DataFrame, read as float64 rows on demand.

    What :func:`frame_matrix` returns, without its (n_samples, n_features)
    float64 copy: numeric columns are kept as the DataFrame's own arrays
    (views, never written), categorical ones as their codes (float32, NaN
    where unseen or missing; exact below 2^24 categories). Indexing gives
    the values ``frame_matrix`` would, to the bit: ``F[i]`` a row,
    ``F[rows]`` (an integer array or a slice) an ``(n_rows, n_features)``
    float64 array, ``F[rows, j]`` one column; ``np.asarray(F)`` the whole
    matrix. :class:`MultiTaskLGBM` fits from it: LightGBM bins its rows from
    a ``lightgbm.Sequence`` in batches, so a fit on a DataFrame holds the
    binned data (a byte per feature and row) instead of 8 bytes per feature
    and row beside it.

    Raises
    ------
    TypeError
        If a numeric feature column is not numeric.
    ValueError
        If a column holds an infinite value.
    """

    def __init__(self, X, columns, categories):
        self.arrays = []
        for col in columns:
            values = _feature_values(X[col], col, categories)
            if col in categories and len(categories[col]) < 2**24:
                values = values.astype(np.float32)  # float32 holds every code
            elif values.dtype.kind == "f" and values.dtype.itemsize > 8:
                values = values.astype(np.float64)  # as frame_matrix reads it
            if values.dtype.kind == "f" and np.isinf(values).any():
                raise ValueError(
                    "Input X contains infinity; use NaN for missing values."
                )
            self.arrays.append(values)
        self.shape = (X.shape[0], len(self.arrays))
        self.ndim = 2
        self.dtype = np.dtype(np.float64)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        if isinstance(key, tuple):
            rows, j = key
            return self.arrays[j][rows].astype(np.float64)
        if isinstance(key, numbers.Integral):
            return np.array([a[key] for a in self.arrays], dtype=np.float64)
        first = self.arrays[0][key] if self.arrays else np.empty(0)
        out = np.empty((first.shape[0], self.shape[1]))
        for j, values in enumerate(self.arrays):
            out[:, j] = first if j == 0 else values[key]
        return out

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)


def fit_features(X, columns, categories):
    """Return a DataFrame's features for a fit.

    :class:`FrameColumns` when their float64 matrix would take more than
    ``LAZY_FEATURE_BYTES`` (256 MiB), else that matrix (:func:`frame_matrix`;
    LightGBM bins an array faster than a Sequence's rows). Both give the
    same trees.
    """
    if 8 * X.shape[0] * len(columns) > LAZY_FEATURE_BYTES:
        return FrameColumns(X, columns, categories)
    return frame_matrix(X, columns, categories)


def array_matrix(X, columns, categories) -> np.ndarray:
    """Return the float64 feature matrix of a validated float64 array ``X``.

    ``X`` itself is never modified: listed categorical columns are re-encoded
    in a copy.
    """
    features = X if len(columns) == X.shape[1] else X[:, columns]
    features = np.ascontiguousarray(features, dtype=np.float64)
    listed = [(j, c) for j, c in enumerate(columns) if c in categories]
    if listed:
        if features is X:
            features = features.copy()  # never modify the user's array
        for j, col in listed:
            features[:, j] = _encode_values(features[:, j], categories[col])
    return features


# ------------------------------------------------------------------ checks


# LightGBM's own names of the parameters base_params sets, by alias: read
# from LightGBM (LGBM_DumpParamAliases) when it offers them, else this table
_KNOWN_ALIASES = {
    "learning_rate": ("shrinkage_rate", "eta"),
    "num_leaves": ("num_leaf", "max_leaves", "max_leaf", "max_leaf_nodes"),
    "min_data_in_leaf": ("min_data_per_leaf", "min_data", "min_child_samples",
                         "min_samples_leaf"),
    "feature_fraction": ("sub_feature", "colsample_bytree"),
    "bagging_fraction": ("sub_row", "subsample", "bagging"),
    "bagging_freq": ("subsample_freq",),
    "lambda_l2": ("reg_lambda", "lambda"),
    "num_threads": ("num_thread", "nthread", "nthreads", "n_jobs"),
    "seed": ("random_seed", "random_state"),
    "verbosity": ("verbose",),
}  # fmt: skip


@functools.cache
def _canonical_names():
    """``{alias: LightGBM's own name}`` of every parameter LightGBM knows."""
    try:  # LightGBM's table (its C API's LGBM_DumpParamAliases)
        from lightgbm.basic import _ConfigAliases  # private: may move (fallback below)

        _ConfigAliases.get("num_leaves")  # reads the table
        groups = dict(_ConfigAliases.aliases)  # name -> [name, *aliases]
    except Exception:  # noqa: BLE001 - another LightGBM: the parameters we set
        groups = {name: (name, *more) for name, more in _KNOWN_ALIASES.items()}
    return {alias: name for name, aliases in groups.items() for alias in aliases}


def check_task_params(task_params, names):
    """Return ``task_params`` (a dict of per-task parameter dicts), checked."""
    task_params = task_params or {}
    unknown = [k for k in task_params if k not in names]
    if unknown:
        raise ValueError(
            f"task_params names {unknown}, which are not tasks; the tasks are {names}."
        )
    for key, value in task_params.items():
        if not isinstance(value, dict):
            raise TypeError(
                f"task_params[{key!r}] must be a dict of parameters; got "
                f"{type(value).__name__}."
            )
        objective = value.get("objective", value.get("application", ""))
        if str(objective).startswith(_MULTICLASS) or value.get("num_class", 1) > 1:
            raise ValueError(
                f"task_params[{key!r}]: a multiclass objective gives several "
                "scores per row, a task one; give each class its own binary task "
                "(e.g. one-hot label columns)."
            )
        canonical = _canonical_names()
        _refuse_unknown(key, value, canonical)
        for param, v in value.items():
            name = canonical.get(param, param)
            rounds = param == "n_estimators" or name == "num_iterations"
            stops = param == "early_stopping_rounds" or name == "early_stopping_round"
            if not (rounds or stops) or (stops and v is None):
                continue
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(
                    f"task_params[{key!r}][{param!r}] must be an int >= 1"
                    + (" or None" if stops else "")
                    + f"; got {v!r}."
                )
        if "early_stopping_tol" in value:
            check_early_stopping_tol(
                value["early_stopping_tol"],
                f"task_params[{key!r}]['early_stopping_tol']",
            )
    return task_params


# task_params names of this estimator's own (besides LightGBM's parameters)
_OWN_PARAMS = ("n_estimators", "early_stopping_rounds", "early_stopping_tol",
               "learning_rate", "num_leaves", "min_child_samples", "subsample",
               "colsample_bytree", "reg_lambda")  # fmt: skip


def _refuse_unknown(task, params, canonical):
    """Refuse a parameter LightGBM does not know (a typo it would only log).

    Only against LightGBM's own table of parameters and aliases (when this
    LightGBM gives it: ``len(canonical)`` beyond the few known without it).
    """
    if len(canonical) < 100:  # not LightGBM's table: nothing to check against
        return
    unknown = [p for p in params if p not in canonical and p not in _OWN_PARAMS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), list(canonical), n=3)
        raise ValueError(
            f"task_params[{task!r}] has {unknown}, which LightGBM does not know"
            + (f" (did you mean {close}?)" if close else "")
            + "; see LightGBM's Parameters page (arguments of LightGBM's "
            "scikit-learn wrapper, such as class_weight, are not parameters)."
        )


def check_early_stopping_tol(tol, name="early_stopping_tol"):
    """Raise unless ``tol`` is a relative improvement: a real number in [0, 1).

    1 or more would ask a loss to fall by all of itself in one step, so
    every booster would keep one tree.
    """
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real):
        raise TypeError(
            f"{name} must be a real number in [0, 1) (a relative improvement); "
            f"got {tol!r}."
        )
    if not (0 <= tol < 1):  # NaN fails too
        raise ValueError(
            f"{name} must be in [0, 1) (a relative improvement, e.g. 1e-4 for "
            f"0.01%); got {tol!r}."
        )


_MULTICLASS = ("multiclass", "softmax", "multiclassova", "multiclass_ova", "ova",
               "ovr")  # fmt: skip


def _init_score_spec(spec, names, kinds):
    """``init_score`` as ``{task: column}``, the template expanded."""
    if not isinstance(spec, str):
        return spec
    try:
        out = {n: spec.format(task=n) for n, k in zip(names, kinds) if k != "ranking"}
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"init_score={spec!r} is not a valid template: use "
            "'{task}' as its only placeholder, e.g. 'fm_score_{task}' "
            f"({type(exc).__name__}: {exc})."
        ) from None
    if len(set(out.values())) < len(out):
        raise ValueError(
            f"init_score={spec!r} names the same column for every "
            "task; a template needs the placeholder '{task}' (e.g. "
            "'fm_score_{task}'), or pass a dict {task: column}."
        )
    return out


def check_init_score(spec, names, kinds, features, *, strategy, chain, columns,
                     categorical):  # fmt: skip
    """Resolve ``init_score`` into ``{task: feature position}`` and check it."""
    if spec is None:
        return {}
    spec = _init_score_spec(spec, names, kinds)
    unknown = [t for t in spec if t not in names]
    if unknown:
        raise ValueError(
            f"init_score names tasks {unknown} that are not tasks of Y {names}."
        )
    if spec and (strategy != "separate" or chain):
        raise ValueError(
            "init_score offsets work with strategy='separate' and chain=False; "
            f"got strategy={strategy!r}, chain={chain!r}."
        )
    columns = [str(c) for c in columns]
    resolved = {}
    for task, column in spec.items():
        if str(column) not in columns:
            raise ValueError(
                f"init_score for task {task!r} names the column {column!r}, "
                f"which is not a feature column of X; columns are {columns}."
            )
        j = columns.index(str(column))
        if j in categorical:
            raise ValueError(
                f"init_score column {column!r} (task {task!r}) is categorical; "
                "an offset must be a numeric column on the task's raw scale."
            )
        if not np.isfinite(features[:, j]).all():
            raise ValueError(
                f"init_score column {column!r} (task {task!r}) has NaN or "
                "infinite values; an offset must be finite on every row."
            )
        resolved[task] = j
    return resolved


def check_weights(sample_weight, mask, names):
    """``sample_weight`` as (n_samples, n_tasks), or None."""
    if sample_weight is None:
        return None
    weights = check_task_sample_weight(
        sample_weight, mask.shape[0], len(names), task_names=names
    )
    dead = [
        n
        for t, n in enumerate(names)
        if mask[:, t].any() and not weights[mask[:, t], t].any()
    ]
    if dead:
        raise ValueError(
            f"sample_weight is zero on every labelled row of tasks {dead}; "
            "each task needs some positive weight."
        )
    return weights


def check_ranking(data, raw_query, query_col):
    """Refuse grades without a gain and queries LightGBM cannot rank."""
    for t, name in enumerate(data.names):
        if data.kinds[t] != "ranking":
            continue
        params = data.settings[t].params
        # LambdaRank and the NDCG metric need a gain per grade and limit a
        # query's rows (rank_xendcg with metric "map" takes any query)
        metric = params.get("metric")
        gains = (
            params["objective"] == "lambdarank"
            or metric is None
            or ("ndcg" in str(metric))
        )
        rows = data.mask[:, t]
        checks = [(data.Y[rows, t], data.query[rows], raw_query[rows], "")]
        if data.val is not None:  # the validation data meet the same limits
            rows_val = data.val.mask[:, t]
            codes = data.val.query[rows_val]
            raw = data.val.raw_query
            raw = codes if raw is None else raw[rows_val]
            checks.append((data.val.Y[rows_val, t], codes, raw, " of eval_set"))
        for grades, codes, raw, where in checks:
            if gains:
                check_label_gain(name, grades, params)
                check_query_sizes(name, codes, raw, query_col, where)


def check_eval_set(est, eval_set, names, kinds, where="eval_set", allow_empty=False):
    """Validate ``eval_set`` into an :class:`EvalData` (None if not given).

    ``where`` names the data in messages; ``allow_empty`` accepts a task
    without labels (``update`` validates its new rows here too).
    """
    if eval_set is None:
        return None
    if isinstance(eval_set, list):
        if len(eval_set) != 1:
            raise ValueError(
                "eval_set must be (X_val, Y_val) or a list with one such pair; "
                f"got a list of {len(eval_set)}."
            )
        eval_set = eval_set[0]
    if not isinstance(eval_set, tuple) or len(eval_set) != 2:
        raise ValueError("eval_set must be a pair (X_val, Y_val).")
    X_val, Y_val = eval_set
    features, _ = est._check_X(X_val, reset=False)
    if isinstance(Y_val, pd.DataFrame) and [str(c) for c in Y_val.columns] != names:
        given, fitted = ("Y_val", "Y") if where == "eval_set" else ("y", "the model")
        raise ValueError(
            f"{where}: {given} has tasks {[str(c) for c in Y_val.columns]} but "
            f"{fitted} has {names}."
        )
    try:
        Y, mask, _, _ = check_targets(
            Y_val, kinds, n_samples=features.shape[0], allow_empty=allow_empty
        )
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    query = raw_query = None
    if "ranking" in kinds:
        if isinstance(X_val, pd.DataFrame):
            query = X_val[est.query_col].to_numpy()
        else:
            query = np.asarray(X_val)[:, est.query_col]
        raw_query, query = query, query_codes(query, est.query_col)
    return EvalData(features, Y, mask, query, raw_query)
