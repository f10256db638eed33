"""From ``X`` to the sparse, field-organised design of a factorization machine.

An input column is a *field*. A categorical column is one-hot encoded over the
categories seen in ``fit`` (an unseen category or a missing value gives an
all-zero row in that field, which a Gibbs-fitted model then fills with the
field's mean parameters); a numeric column is one design column, centred
and scaled to unit variance when ``scale_numeric`` (scaled only for scipy
sparse ``X``, whose zeros must stay zeros). A numeric column whose training
values are all 0 or 1 (an indicator, e.g. a genre flag) is kept as it is, so
it stays sparse like a one-hot column (a missing value maps to 0). A numeric
value outside the column's training range is clipped to it (as a tree would
treat it): an FM's linear and interaction terms would otherwise extrapolate
linearly, e.g. a timestamp of future events many standard deviations past the
training window.

The fitted encoding is stored on the estimator as plain values:
``field_names_`` (list of str), ``categories_`` (per field: list of categories,
or None for a numeric field), ``numeric_mean_`` and ``numeric_scale_`` (arrays,
0 and 1 for categorical fields), ``numeric_range_`` (array ``(n_fields, 2)``: the
training minimum and maximum, infinite for categorical fields) and
``field_offsets_`` (where each field's columns start in the design).
"""

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._ids import conform_ids
from ._fm_solver import FMDesign


def is_auto_categorical(dtype) -> bool:
    """Whether a pandas dtype is categorical for ``categorical_features="auto"``."""
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def resolve_categorical(X, categorical_features, extra=()) -> np.ndarray:
    """Boolean mask of the categorical columns of ``X``.

    The pandas category, object and string columns of a DataFrame are always
    categorical; ``categorical_features`` (``"auto"``: no other, or a list of
    column names or integer positions) and ``extra`` (an embedder's user and
    item columns) add more.
    """
    is_frame = isinstance(X, pd.DataFrame)
    n_columns = X.shape[1]
    columns = list(X.columns) if is_frame else list(range(n_columns))
    mask = np.zeros(n_columns, dtype=bool)
    if is_frame:
        mask[:] = [is_auto_categorical(X[c].dtype) for c in X.columns]
    listed = [] if isinstance(categorical_features, str) else categorical_features
    for name in list(listed) + [c for c in extra if c is not None]:
        if is_frame and name in columns:
            mask[columns.index(name)] = True
        elif (
            isinstance(name, int | np.integer)
            and not isinstance(name, bool)
            and -n_columns <= name < n_columns
        ):
            mask[int(name)] = True
        else:
            where = (
                f"the columns of X ({columns[:10]}{'...' if n_columns > 10 else ''})"
                if is_frame
                else f"integer positions in [0, {n_columns})"
            )
            raise ValueError(
                f"categorical column {name!r} (from categorical_features, user_col "
                f"or item_col) is not one of {where}."
            )
    return mask


def _column(X, j):
    if isinstance(X, pd.DataFrame):
        return X.iloc[:, j]
    return X[:, j]


def _numeric_values(X, j, name) -> np.ndarray:
    col = _column(X, j)
    types = pd.api.types
    if isinstance(col, pd.Series) and not (
        types.is_numeric_dtype(col.dtype) or types.is_bool_dtype(col.dtype)
    ):
        raise TypeError(
            f"Column {name!r} of X (dtype {col.dtype}) is neither numeric nor "
            "categorical; declare it in categorical_features, convert it or drop it."
        )
    try:
        if isinstance(col, pd.Series):
            values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            values = np.asarray(col, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"Column {name!r} of X is neither numeric nor categorical; declare it in "
            "categorical_features or drop it."
        ) from None
    if np.isinf(values).any():
        raise ValueError(
            f"Input X contains infinity in numeric column {name!r}; use NaN for a "
            "missing value (it maps to nothing, like an unseen category)."
        )
    return values


def _learn_categories(col, keep) -> list:
    if isinstance(col, pd.Series):
        observed = col[keep].dropna()
        if isinstance(col.dtype, pd.CategoricalDtype):
            present = set(observed.unique().tolist())
            return [c for c in col.cat.categories.tolist() if c in present]
        values = pd.Index(observed.unique()).tolist()
    else:
        observed = pd.Series(np.asarray(col, dtype=object)[keep]).dropna()
        values = pd.Index(observed.unique()).tolist()
    try:
        return sorted(values)
    except TypeError:
        return values


def fit_encoding(X, categorical_mask, names, *, scale_numeric, sample_weight):
    """Learn categories and numeric scaling; return the encoding as plain values."""
    n_samples, n_columns = X.shape
    weight = np.ones(n_samples) if sample_weight is None else np.asarray(sample_weight)
    keep = weight > 0
    total = weight.sum()
    categories, mean, scale, widths = [], np.zeros(n_columns), np.ones(n_columns), []
    value_range = np.tile([-np.inf, np.inf], (n_columns, 1))
    sparse = sp.issparse(X)
    if sparse:
        X = sp.csc_matrix(X)
    for j in range(n_columns):
        if categorical_mask[j]:
            cats = _learn_categories(_column(X, j), keep)
            categories.append(cats)
            widths.append(len(cats))
            continue
        categories.append(None)
        widths.append(1)
        if total <= 0:
            continue
        if sparse:
            col = X[:, [j]].toarray().ravel()
        else:
            col = _numeric_values(X, j, names[j])
        seen = ~np.isnan(col) & keep
        if seen.any():
            value_range[j] = col[seen].min(), col[seen].max()
        if not scale_numeric:
            continue
        w_seen = weight * seen
        total_seen = w_seen.sum()
        if total_seen <= 0:
            continue
        col = np.where(seen, col, 0.0)
        if np.all((col == 0.0) | (col == 1.0)):
            continue  # a 0/1 indicator stays 0/1: sparse, like a one-hot column
        m = float(w_seen @ col / total_seen)
        std = float(np.sqrt(w_seen @ ((col - m) * seen) ** 2 / total_seen))
        if not sparse:
            mean[j] = m
        scale[j] = std if std > 1e-12 * max(1.0, abs(m)) else 1.0
    offsets = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
    return categories, mean, scale, value_range, offsets


def build_design(
    X, categories, mean, scale, offsets, names, value_range=None
) -> FMDesign:
    """Encode ``X`` with a fitted encoding into an :class:`FMDesign`.

    ``value_range`` (``(n_fields, 2)``, or None: no clipping) bounds each
    numeric column before centring and scaling.
    """
    n_samples = X.shape[0]
    if sp.issparse(X):
        X = sp.csc_matrix(X)
        X.sum_duplicates()
    rows, cols, vals = [], [], []
    for j, cats in enumerate(categories):
        if cats is not None:
            col = _column(X, j)
            if isinstance(col, pd.Series):
                col = col.to_numpy(dtype=object)
            if len(cats):  # ids of another type: converted losslessly or refused
                col = conform_ids(col, np.asarray(cats, dtype=object), names[j])
            codes = np.asarray(pd.Index(cats).get_indexer(col), dtype=np.int64)
            r = np.flatnonzero(codes >= 0)
            rows.append(r)
            cols.append(codes[r])
            vals.append(np.ones(r.size))
            continue
        if sp.issparse(X):
            sl = slice(X.indptr[j], X.indptr[j + 1])
            v = X.data[sl].astype(np.float64)
            if np.isinf(v).any():
                raise ValueError(f"Input X contains infinity in column {names[j]!r}.")
            v = np.where(np.isnan(v), 0.0, v)
            if value_range is not None:
                v = np.clip(v, *value_range[j])
            r = X.indices[sl].astype(np.int64)
            v = v / scale[j]
        else:
            v = _numeric_values(X, j, names[j])
            if value_range is not None:
                v = np.clip(v, *value_range[j])  # NaN stays NaN
            v = (v - mean[j]) / scale[j]
            v[np.isnan(v)] = 0.0  # a missing value maps to nothing (the mean)
            r = np.arange(n_samples)
        nz = v != 0
        rows.append(r[nz])
        cols.append(np.zeros(int(nz.sum()), dtype=np.int64))
        vals.append(v[nz])
    return FMDesign(n_samples, np.asarray(offsets, dtype=np.int64), rows, cols, vals)
