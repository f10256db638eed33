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
training window. A numeric column with no value in the training rows (all
missing) has the range [0, 0]: its weight and factors were never fitted, so
any later value maps to nothing.

The fitted encoding is stored on the estimator as plain values:
``field_names_`` (list of str), ``categories_`` (per field: list of categories,
or None for a numeric field), ``numeric_mean_`` and ``numeric_scale_`` (arrays,
0 and 1 for categorical fields), ``numeric_range_`` (array ``(n_fields, 2)``: the
training minimum and maximum, infinite for categorical fields) and
``field_offsets_`` (where each field's columns start in the design).
"""

import weakref
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..._ids import category_codes, conform_ids
from ..._targets import HUGE_LABEL

# --------------------------------------------------------------------------
# design


@dataclass
class FMDesign:
    """A sparse design organised in fields.

    Field ``F`` owns the design columns ``offsets[F]:offsets[F + 1]``; its
    non-zeros are ``rows[F]`` (distinct row indices), ``cols[F]`` (column
    index *within* the field) and ``vals[F]``. ``parent`` (None: the fields
    themselves) maps each field to the input column it comes from; fields
    of one parent are consecutive.
    """

    def parents(self) -> np.ndarray:
        """Return the parent of every field."""
        if self.parent is None:
            return np.arange(self.n_fields)
        return np.asarray(self.parent)

    n_samples: int
    offsets: np.ndarray
    rows: list
    cols: list
    vals: list
    parent: object = None
    _csr: object = field(default=None, repr=False)

    @property
    def n_features(self) -> int:
        """Number of design columns."""
        return int(self.offsets[-1])

    @property
    def n_fields(self) -> int:
        """Number of fields."""
        return len(self.rows)

    def tocsr(self) -> sp.csr_matrix:
        """Return the design as a CSR matrix of shape (n_samples, n_features)."""
        if self._csr is None:
            if self.n_fields:
                r = np.concatenate(self.rows)
                c = np.concatenate(
                    [o + c for o, c in zip(self.offsets[:-1], self.cols)]
                )
                v = np.concatenate(self.vals)
            else:
                r = c = np.zeros(0, dtype=np.int64)
                v = np.zeros(0)
            self._csr = sp.csr_matrix(
                (v, (r, c)), shape=(self.n_samples, self.n_features)
            )
        return self._csr

    def row_chunks(self, size):
        """Yield ``(start, stop, Z)``: the design's rows ``start:stop`` as CSR.

        Each chunk is built from the fields (nothing is cached), with the
        entries of a row in field order as in :meth:`tocsr`, so a row-wise
        product of a chunk equals the same rows of :meth:`tocsr`'s, to the
        bit. For the sampler's caches (:meth:`FMGibbsSampler.refresh`): the
        whole design as CSR would hold 12 bytes per non-zero (24 more with
        its square) beside the fields for the life of the chain.
        """
        size = max(1, int(size))
        fields = []  # (rows, cols, vals) of every field, rows ascending
        for rows, cols, vals in zip(self.rows, self.cols, self.vals):
            if rows.size > 1 and not np.all(rows[1:] >= rows[:-1]):
                order = np.argsort(rows, kind="stable")  # a copy, for this call
                rows, cols, vals = rows[order], cols[order], vals[order]
            fields.append((rows, cols, vals))
        for start in range(0, max(self.n_samples, 1), size):
            stop = min(start + size, self.n_samples)
            r, c, v = [], [], []
            for F, (rows, cols, vals) in enumerate(fields):
                lo, hi = np.searchsorted(rows, [start, stop])
                r.append(rows[lo:hi] - start)
                c.append(cols[lo:hi] + self.offsets[F])
                v.append(vals[lo:hi])
            if self.n_fields:
                r, c, v = np.concatenate(r), np.concatenate(c), np.concatenate(v)
            else:
                r = c = np.zeros(0, dtype=np.int64)
                v = np.zeros(0)
            Z = sp.csr_matrix((v, (r, c)), shape=(stop - start, self.n_features))
            yield start, stop, Z

    def merged_disjoint(self) -> "FMDesign":
        """Return the design with consecutive row-disjoint fields merged.

        Consecutive fields that share no row (the columns of a one-hot block
        given as a plain or sparse matrix) become one field, so the solver
        updates them at once, exactly. A greedy left-to-right pass, O(nnz).
        """
        groups, current = [], []
        occupied = np.zeros(self.n_samples, dtype=bool)
        for F in range(self.n_fields):
            r = self.rows[F]
            if current and occupied[r].any():
                groups.append(current)
                for G in current:
                    occupied[self.rows[G]] = False
                current = []
            current.append(F)
            occupied[r] = True
        if current:
            groups.append(current)
        if len(groups) == self.n_fields:
            return self
        rows, cols, vals, offsets = [], [], [], [0]
        for group in groups:
            if len(group) == 1:  # a field alone: its arrays, not a copy
                F = group[0]
                rows.append(self.rows[F])
                cols.append(self.cols[F])
                vals.append(self.vals[F])
                offsets.append(self.offsets[F + 1])
                continue
            r = np.concatenate([self.rows[F] for F in group])
            c = np.concatenate(
                [self.cols[F] + self.offsets[F] - self.offsets[group[0]] for F in group]
            )
            v = np.concatenate([self.vals[F] for F in group])
            order = np.argsort(r, kind="stable")
            rows.append(r[order])
            cols.append(c[order])
            vals.append(v[order])
            offsets.append(self.offsets[group[-1] + 1])
        return FMDesign(self.n_samples, np.asarray(offsets), rows, cols, vals)

    def one_feature_fields(self) -> "FMDesign":
        """Return the design with every feature its own field (reference solver)."""
        rows, cols, vals, offsets, parent = [], [], [], [0], []
        parents = self.parents()
        for F in range(self.n_fields):
            width = self.offsets[F + 1] - self.offsets[F]
            order = np.argsort(self.cols[F], kind="stable")
            counts = np.bincount(self.cols[F], minlength=width)
            bounds = np.concatenate([[0], np.cumsum(counts)])
            for j in range(width):
                sel = order[bounds[j] : bounds[j + 1]]
                rows.append(self.rows[F][sel])
                cols.append(np.zeros(sel.size, dtype=np.int64))
                vals.append(self.vals[F][sel])
                offsets.append(offsets[-1] + 1)
                parent.append(parents[F])
        return FMDesign(
            self.n_samples, np.asarray(offsets), rows, cols, vals, np.asarray(parent)
        )


def squared_csr(Z) -> sp.csr_matrix:
    """Return CSR ``Z`` squared element-wise (``Z`` itself when all values are 1)."""
    if np.all(Z.data == 1.0):
        return Z
    # the same structure: only the values are squared
    return sp.csr_matrix((Z.data**2, Z.indices, Z.indptr), shape=Z.shape)


def _canonical_csc(X):
    """``X`` as CSC with sorted, summed entries; the caller's arrays untouched.

    ``csc_matrix`` of a CSC matrix shares its arrays, and ``sum_duplicates``
    sorts and compacts them in place: a copy first when there is work to do.
    """
    X = sp.csc_matrix(X)
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    return X


def design_from_sparse(X) -> FMDesign:
    """Every column of a scipy sparse matrix as its own (numeric) field."""
    X = _canonical_csc(X)
    rows, cols, vals = [], [], []
    for j in range(X.shape[1]):
        sl = slice(X.indptr[j], X.indptr[j + 1])
        v = X.data[sl]
        keep = v != 0
        rows.append(X.indices[sl][keep].astype(np.int64))
        cols.append(np.zeros(int(keep.sum()), dtype=np.int64))
        vals.append(v[keep].astype(np.float64))
    return FMDesign(X.shape[0], np.arange(X.shape[1] + 1), rows, cols, vals)


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
    if is_frame and X.columns.duplicated().any():  # X[c] would be a frame
        twice = X.columns[X.columns.duplicated()]
        counts = {str(c): int((X.columns == c).sum()) for c in twice}
        raise ValueError(
            f"X has columns named more than once ({counts}: name and count); a "
            "column must appear once (which copy would the model read?)."
        )
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
            prefixed = [c for c in columns if str(c).endswith(f"__{name}")]
            hint = (
                f"; a ColumnTransformer in front renamed it {prefixed[0]!r}: give "
                "it verbose_feature_names_out=False, or pass that new name"
                if is_frame and prefixed
                else ""
            )
            raise ValueError(
                f"categorical column {name!r} (from categorical_features, user_col "
                f"or item_col) is not one of {where}{hint}."
            )
    return mask


class ColumnBatch:
    """Columns as a list of 1-D arrays, read by position like a DataFrame.

    The input of :func:`build_design` on the compiled scoring path
    (:mod:`mtlclassic.recommend._compiled`): no pandas on the way.
    """

    def __init__(self, arrays, n_rows):
        self.arrays = list(arrays)
        self.shape = (int(n_rows), len(self.arrays))


def _column(X, j):
    if isinstance(X, pd.DataFrame):
        return X.iloc[:, j]
    if isinstance(X, ColumnBatch):
        return X.arrays[j]
    return X[:, j]


_TIME_HINT = (
    " If it is the events' time, name it: make_multitask_recommender("
    "time_col={name!r}) and Recommender(time_col={name!r}) read it without "
    "making it a feature."
)


def _is_time(col):
    """Whether a column holds datetimes or durations (a time column)."""
    types = pd.api.types
    return bool(types.is_datetime64_any_dtype(col.dtype)
                or types.is_timedelta64_dtype(col.dtype))  # fmt: skip


def _numeric_values(X, j, name) -> np.ndarray:
    col = _column(X, j)
    types = pd.api.types
    if (
        isinstance(col, pd.Series)
        and isinstance(col.dtype, pd.CategoricalDtype)
        and types.is_numeric_dtype(col.cat.categories.dtype)
    ):  # a category of numbers for a numeric column: its values (as LightGBM)
        col = col.astype(col.cat.categories.dtype)
    if getattr(getattr(col, "dtype", None), "kind", "") == "O" and pd.isna(col).all():
        col = np.full(len(col), np.nan)  # only missing values (pd.NA, None): NaN
    elif (
        isinstance(col, pd.Series)
        and col.dtype == object
        and not any(isinstance(v, str | bytes) for v in col)
    ):  # numbers held as objects (a mixed array's column): read as numbers
        try:
            col = pd.to_numeric(col, errors="raise")
        except (TypeError, ValueError):
            pass  # not numbers: refused below, naming the column
    if isinstance(col, pd.Series) and not (
        types.is_numeric_dtype(col.dtype) or types.is_bool_dtype(col.dtype)
    ):
        raise TypeError(
            f"Column {name!r} of X (dtype {col.dtype}) is neither numeric nor "
            "categorical; declare it in categorical_features, convert it or drop it."
            + _TIME_HINT.format(name=name)
            * _is_time(col)
        )
    if (
        isinstance(X, ColumnBatch)
        and np.asarray(col).dtype.kind in "USO"
        and any(isinstance(v, str) for v in np.asarray(col))
    ):
        raise TypeError(
            f"Column {name!r} of X holds text: it is neither numeric nor "
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


def fit_encoding(X, categorical_mask, names, *, scale_numeric, sample_weight,
                 converted=None):  # fmt: skip
    """Learn categories and numeric scaling; return the encoding as plain values.

    ``converted`` (a dict), when given, receives each dense numeric column as
    float64 (by position), so :func:`build_design` need not convert it again.
    """
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
            if converted is not None:
                converted[j] = col
        seen = ~np.isnan(col) & keep
        if seen.any():
            value_range[j] = col[seen].min(), col[seen].max()
        else:  # never observed: its weight is the prior's; a value maps to nothing
            value_range[j] = 0.0, 0.0
        if not scale_numeric:
            _check_reach(names[j], value_range[j], 0.0, 1.0, "; scale_numeric=True "
                         "scales it")  # fmt: skip
            continue
        w_seen = weight * seen
        total_seen = w_seen.sum()
        if total_seen <= 0:
            continue
        col = np.where(seen, col, 0.0)
        if np.all((col == 0.0) | (col == 1.0)):
            continue  # a 0/1 indicator stays 0/1: sparse, like a one-hot column
        # on the column divided by its peak: values near 1e300 have squares
        # (and sums) beyond float64
        peak = float(np.max(np.abs(col)))
        peak = peak if 0.0 < peak < np.inf else 1.0
        unit = col / peak
        m_unit = float(w_seen @ unit / total_seen)
        std_unit = float(np.sqrt(w_seen @ ((unit - m_unit) * seen) ** 2 / total_seen))
        m, std = m_unit * peak, std_unit * peak
        if not sparse:
            mean[j] = m
        scale[j] = std if std_unit > 1e-12 * max(1.0, abs(m_unit)) else 1.0
        _check_reach(names[j], value_range[j], mean[j], scale[j], "")
    offsets = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
    return categories, mean, scale, value_range, offsets


def _check_reach(name, value_range, center, scale, hint):
    """``ValueError`` if a training value lies beyond 1e100 after scaling.

    The sampler squares the design's values: beyond that they (and their sums)
    overflow float64 and every prediction is NaN. Computed without forming
    ``value - center``, which overflows near the float64 limit.
    """
    lo, hi = value_range
    reach = max(abs(lo / scale - center / scale), abs(hi / scale - center / scale))
    if reach > HUGE_LABEL:
        raise ValueError(
            f"Numeric column {name!r} of X has values up to {reach:.3g}"
            + (" after scaling" if not hint else "")
            + f", beyond {HUGE_LABEL:.0e}: their squares overflow float64{hint}; "
            "divide it by a power of ten."
        )


def build_design(
    X, categories, mean, scale, offsets, names, value_range=None, converted=None,
    indexes=None, ids=(),
) -> FMDesign:  # fmt: skip
    """Encode ``X`` with a fitted encoding into an :class:`FMDesign`.

    ``value_range`` (``(n_fields, 2)``, or None: no clipping) bounds each
    numeric column before centring and scaling; ``converted`` holds numeric
    columns already converted by :func:`fit_encoding` (not modified);
    ``indexes`` (per field: ``(pd.Index, object array)`` of its categories,
    or None for a numeric field) are lookups built once per fitted model
    (:func:`category_indexes`) instead of on every call.
    """
    n_samples = X.shape[0]
    if sp.issparse(X):
        X = _canonical_csc(X)
    rows, cols, vals = [], [], []
    shared = _SharedArrays(n_samples)
    for j, cats in enumerate(categories):
        if cats is not None:
            col = _column(X, j)
            if isinstance(col, pd.Series):
                col = col.to_numpy(dtype=object)
            index, reference = (
                indexes[j] if indexes else (pd.Index(cats), np.asarray(cats, object))
            )
            if not len(cats):
                codes = index.get_indexer(col)
            elif names[j] in ids:  # ids of another type: converted or refused
                codes = index.get_indexer(conform_ids(col, reference, names[j]))
            else:  # a feature (a category of bools takes 0/1 and 'True' too)
                codes = category_codes(col, index, reference, names[j])
            # intp, as numpy's indexing and bincount take it (int32 would be
            # converted on every call)
            codes = np.asarray(codes, dtype=np.int64)
            present = codes >= 0
            if present.all():  # a field on every row: no copies
                rows.append(shared.rows())
                cols.append(codes)
            else:
                r = np.flatnonzero(present)
                rows.append(r)
                cols.append(codes[r])
            vals.append(shared.ones(rows[-1].size))
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
            v = converted.get(j) if converted else None
            v = _numeric_values(X, j, names[j]) if v is None else v  # not modified
            if value_range is not None:
                v = np.clip(v, *value_range[j])  # NaN stays NaN
            near = value_range is not None and (
                max(abs(value_range[j][0]), abs(value_range[j][1])) + abs(mean[j])
                < 1e307
            )  # clipped there: v - mean cannot overflow
            if near:
                v = (v - mean[j]) / scale[j]
            else:
                with np.errstate(over="ignore"):
                    scaled = (v - mean[j]) / scale[j]
                far = np.isinf(scaled) & np.isfinite(v)  # v - mean beyond float64
                if far.any():
                    scaled[far] = v[far] / scale[j] - mean[j] / scale[j]
                v = scaled
            v[np.isnan(v)] = 0.0  # a missing value maps to nothing (the mean)
            r = shared.rows()
        nz = v != 0
        if nz.all():  # v is this field's own array
            rows.append(r)
            vals.append(v)
        else:
            rows.append(r[nz])
            vals.append(v[nz])
        cols.append(shared.zeros(rows[-1].size))
    return FMDesign(n_samples, np.asarray(offsets, dtype=np.int64), rows, cols, vals)


class _SharedArrays:
    """Read-only arrays the fields of one design share, built once each.

    The rows of a field present on every row (``arange(n)``), the values of a
    one-hot field (ones) and the within-field columns of one-column fields
    (zeros): without them a design holds these 8 bytes per non-zero once per
    field. Read-only, so a change in place fails rather than reaching every
    field.
    """

    def __init__(self, n_samples):
        self.n_samples = n_samples
        self._arrays = {}

    def _get(self, name, make):
        if name not in self._arrays:
            array = make(self.n_samples)
            array.setflags(write=False)
            self._arrays[name] = array
        return self._arrays[name]

    def rows(self):
        return self._get("rows", np.arange)

    def ones(self, size):
        return self._get("ones", np.ones)[:size]

    def zeros(self, size):
        return self._get("zeros", lambda n: np.zeros(n, dtype=np.int64))[:size]


_INDEX_CACHE = weakref.WeakKeyDictionary()  # fitted FM -> its categories' lookups


def category_indexes(est):
    """Per field of a fitted FM: ``(pd.Index, object array)`` of its categories.

    None for a numeric field. Built once per encoding (``fit`` sets it,
    ``update`` grows it into new lists) and cached outside the estimator, so
    its ``__dict__`` and saved files are unchanged.
    """
    key = (id(est.categories_), tuple(len(c or ()) for c in est.categories_))
    cached = _INDEX_CACHE.get(est)
    if cached is None or cached[0] != key:
        lookups = [
            None if cats is None else (pd.Index(cats), np.asarray(cats, dtype=object))
            for cats in est.categories_
        ]
        cached = _INDEX_CACHE[est] = (key, lookups)
    return cached[1]
