"""Values of another type or encoding than the fitted ones: conformed, or refused.

A model fitted on integer user ids and asked about ``"42"`` (a CSV column, a
web request) would otherwise find no such id and serve a cold-start answer
without a word; a catalogue with string item ids would match no candidate.
Every place where ids enter a fitted model goes through :func:`conform_ids`.
"""

import numpy as np
import pandas as pd

_KINDS = {
    "integer": "int",
    "string": "str",
    "floating": "float",
    "mixed-integer-float": "float",
    "empty": None,
}


def id_kind(values) -> str | None:
    """``"int"``, ``"str"`` or ``"float"`` for uniform ids, None when mixed or empty."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        return "int"
    if arr.dtype.kind in "US":
        return "str"
    if arr.dtype.kind == "f":
        return "float"
    return _KINDS.get(pd.api.types.infer_dtype(arr, skipna=True))


def conform_ids(values, reference, column) -> np.ndarray:
    """Return ``values`` as ids of the fitted ids' type (``reference``).

    Ints given as strings (``"42"``, not ``"042"``) or integral floats
    (``42.0``, e.g. from a CSV column with gaps) become ints; ints and
    integral floats become strings for a model fitted on string ids. Missing
    values stay missing. Anything else raises ``ValueError`` naming
    ``column`` and both types. A model fitted on mixed types is left alone.
    """
    arr = np.asarray(values)
    wanted = id_kind(reference)
    have = id_kind(arr)
    if wanted is None or have is None or have == wanted:
        return arr
    if wanted == "float" and have == "int":
        return arr
    series = pd.Series(arr, dtype=object)
    missing = series.isna()
    if wanted in ("int", "float"):
        numbers = pd.to_numeric(series, errors="coerce")
        integral = numbers.notna() & (numbers == np.round(numbers))
        if have == "str":  # lossless only if the text is the int's own spelling
            spelled = series[integral].astype(str).str.strip()
            integral[integral] = spelled == numbers[integral].astype(np.int64).astype(
                str
            )
        if (integral | missing).all():
            if missing.any():
                return numbers.to_numpy(dtype=np.float64)
            return numbers.to_numpy().astype(np.int64)
    elif wanted == "str" and have in ("int", "float"):
        numbers = pd.to_numeric(series, errors="coerce")
        integral = numbers.notna() & (numbers == np.round(numbers))
        if (integral | missing).all():
            out = np.full(arr.shape, None, dtype=object)
            out[~missing.to_numpy()] = (
                numbers[~missing].astype(np.int64).astype(str).to_numpy()
            )
            return out
    bad = series[~missing].iloc[0] if (~missing).any() else None
    raise ValueError(
        f"Column {column!r}: the model was fitted on {wanted} ids but got {have} "
        f"ids (e.g. {bad!r}) that do not convert losslessly; convert the column "
        f"to {wanted}."
    )


def category_dtypes(X, positions) -> dict:
    """``{position: categories}`` of the ``category`` columns of a fit-time frame."""
    if not hasattr(X, "iloc"):
        return {}
    return {
        int(j): X.iloc[:, j].cat.categories.tolist()
        for j in positions
        if isinstance(X.iloc[:, j].dtype, pd.CategoricalDtype)
    }


def recode_categories(column, categories):
    """Re-code a ``category`` column by the categories seen in ``fit``.

    The same value gets the same code whatever categories (or order) the
    incoming frame declares; a category unseen in ``fit`` becomes missing.
    ``categories`` None (not a category column in fit) leaves it as it is.
    """
    if categories is None or not isinstance(column.dtype, pd.CategoricalDtype):
        return column
    if column.cat.categories.tolist() == categories:
        return column
    codes = pd.Index(categories).get_indexer(column.astype(object))  # unseen: -1
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=categories),
        index=column.index,
        name=column.name,
    )
