"""Values of another type or encoding than the fitted ones: conformed, or refused.

A model fitted on integer user ids and asked about ``"42"`` (a CSV column, a
web request) would otherwise find no such id and serve a cold-start answer
without a word; a catalogue with string item ids would match no candidate.
Every place where ids enter a fitted model goes through :func:`conform_ids`.
"""

import numbers
import weakref

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


_KINDS_SEEN = {}  # id(fitted array) -> (weakref to it, its id_kind)


def reference_kind(reference) -> str | None:
    """:func:`id_kind` of fitted ids or categories, computed once per array.

    Fitted arrays are kept for the model's life (a compiled scorer's
    lookups): scanning 200k categories on every one-row call cost 1-5 ms.
    """
    if not isinstance(reference, np.ndarray):
        return id_kind(reference)
    seen = _KINDS_SEEN.get(id(reference))
    if seen is not None and seen[0]() is reference:
        return seen[1]
    kind = id_kind(reference)
    if len(_KINDS_SEEN) > 4096:  # drop the entries of arrays gone
        # a copy first: another thread may add an entry meanwhile
        for key in [k for k, (ref, _) in list(_KINDS_SEEN.items()) if ref() is None]:
            _KINDS_SEEN.pop(key, None)
    _KINDS_SEEN[id(reference)] = (weakref.ref(reference), kind)
    return kind


def _canonical_int_strings(reference) -> bool:
    """Whether string ids that look like ints are spelled as ``str(int)``."""
    ref = pd.Series(np.asarray(reference, dtype=object)).dropna().astype(str)
    numeric = ref[ref.str.fullmatch(r"-?\d+")]
    if numeric.empty:
        return True
    return bool((numeric == numeric.map(lambda v: str(int(v)))).all())


def _as_int(value):
    """Return the int a scalar id stands for, or None if no lossless int exists."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return int(value) if np.isfinite(value) and value == int(value) else None
    if isinstance(value, str) and value.strip() == value:
        try:
            number = int(value)
        except ValueError:
            return None
        return number if str(number) == value else None  # "042" is not 42
    return None


def exact_values(values) -> np.ndarray:
    """Return ids as a numpy array without rounding pandas' nullable ints.

    numpy turns an ``Int64`` column with a missing value into float64, which
    merges neighbouring ids beyond 2**53: those become exact ints beside NaN
    (an object array); smaller ones float64, as numpy gives them. Anything
    else is ``np.asarray(values)``.
    """
    dtype = getattr(values, "dtype", None)
    if not (
        isinstance(dtype, pd.api.extensions.ExtensionDtype)
        and pd.api.types.is_integer_dtype(dtype)
    ):
        return np.asarray(values)
    series = pd.Series(values, copy=False)
    if not series.isna().any():
        return series.to_numpy(dtype=dtype.numpy_dtype)
    if series.abs().max() > 2**53:
        return series.to_numpy(dtype=object, na_value=np.nan)
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def conform_ids(values, reference, column) -> np.ndarray:
    """Return ``values`` as ids of the fitted ids' type (``reference``).

    Ints given as strings (``"42"``, not ``"042"``), integral floats
    (``42.0``, e.g. from a CSV column with gaps) or a mix of those become
    ints; ints become strings for a model fitted on string ids whose numeric
    ids are spelled plainly (not zero-padded). Missing values stay missing.
    Anything else raises ``ValueError`` naming ``column`` and both types. A
    model fitted on mixed types is left alone.
    """
    arr = exact_values(values)
    wanted = reference_kind(reference)
    have = id_kind(arr)
    if wanted is None or have == wanted or arr.size == 0:
        return arr
    if wanted == "float" and have == "int":
        return arr
    series = pd.Series(arr, dtype=object)
    missing = series.isna().to_numpy()
    converted = [None if m else _as_int(v) for v, m in zip(series, missing)]
    ok = [m or c is not None for c, m in zip(converted, missing)]
    if wanted == "int" and have == "float":
        # a float beyond 2**53 stands for several ints: which one is unknown
        big = next(
            (v for v, m in zip(series, missing) if not m and abs(v) >= 2**53), None
        )
        if big is not None:
            raise ValueError(
                f"Column {column!r}: the model was fitted on int ids but got float "
                f"ids beyond 2**53 (e.g. {big!r}), where float64 cannot tell "
                "neighbouring ints apart; read the column as int64 (pandas 'Int64' "
                "when it has gaps) or as text."
            )
    if wanted in ("int", "float") and all(ok):
        if any(abs(c) >= 2**63 for c in converted if c is not None):
            ok = [False]
        elif missing.any() and any(abs(c) > 2**53 for c in converted if c is not None):
            # float64 would merge neighbouring ids: exact ints, NaN where missing
            return np.array(
                [np.nan if c is None else c for c in converted], dtype=object
            )
        elif missing.any():
            return np.array(
                [np.nan if c is None else float(c) for c in converted], dtype=float
            )
        else:
            return np.array(converted, dtype=np.int64)
    elif wanted == "str" and have != "str" and all(ok):
        if _canonical_int_strings(reference):
            return np.array(
                [None if c is None else str(c) for c in converted], dtype=object
            )
        ok = [False]
    # quote the first id that fails (an overflowing int; else the first id)
    pairs = list(zip(series, missing, converted))
    bad = next((v for v, m, c in pairs if not m and c is None), None)
    if bad is None:
        bad = next((v for v, m, c in pairs if c is not None and abs(c) >= 2**63), None)
    if bad is None:
        bad = next((v for v, m in zip(series, missing) if not m), None)
    raise ValueError(
        f"Column {column!r}: the model was fitted on {wanted} ids but got "
        f"{have or 'mixed'} ids (e.g. {bad!r}) that do not convert losslessly"
        + (" (the fitted ids are zero-padded strings)" if wanted == "str" else "")
        + f"; convert the column to {wanted} ids as in fit."
    )


def conform_categories(values, reference, column) -> np.ndarray:
    """Return values of a categorical feature as the fitted categories' type.

    A category of bools takes bools, 0/1 and the text ``'True'``/``'False'``
    (any case, as ``read_csv`` reads them); other values are converted as
    :func:`conform_ids` converts ids (an unseen value stays unseen: missing).
    Missing values stay missing. See :func:`refuse_codes_for_text` for the
    one mismatch refused.
    """
    if len(reference) and isinstance(reference[0], bool | np.bool_):
        return _as_bools(values, column)  # a category's type is one
    return conform_ids(values, reference, column)


def refuse_codes_for_text(given, codes, reference, column):
    """Refuse numbers none of which is a category, for text categories without numbers.

    ``given``: the values as passed; ``codes``: their positions among the
    fitted categories ``reference`` (-1: unseen). Integer codes given for text
    categories (``X.genre.cat.codes``) would otherwise all be scored as
    missing, silently; a number can never be one of these categories. An
    unseen value of a type the categories can hold (9.0 for int categories,
    a new text) stays an unseen category. Raises ``ValueError`` naming
    ``column``.
    """
    codes = np.asarray(codes)
    if not codes.size or (codes >= 0).any():
        return
    values = np.asarray(given, dtype=object)
    present = values[~pd.isna(values)]
    if not present.size or id_kind(present) not in ("int", "float"):
        return
    if reference_kind(reference) != "str":
        return
    text = pd.Series(np.asarray(reference, dtype=object), dtype=object)
    if text.astype(str).str.fullmatch(r"\s*-?\d+(\.\d*)?\s*").any():
        return  # categories that spell numbers: a new one may be given as one
    raise ValueError(
        f"Column {column!r}: fitted as a category of text (e.g. "
        f"{text.iloc[0]!r}) but got numbers (e.g. {present[0]!r}), none of them "
        "a category; give the values as in fit (not, say, their codes)."
    )


def category_codes(values, index, reference, column) -> np.ndarray:
    """Positions of a categorical feature's ``values`` among its fitted categories.

    ``index``: the fitted categories as a ``pd.Index``; ``reference``: them as
    an array. Values are conformed (:func:`conform_categories`); -1 where
    unseen or missing. Numbers given for text categories are refused
    (:func:`refuse_codes_for_text`).
    """
    codes = index.get_indexer(conform_categories(values, reference, column))
    refuse_codes_for_text(values, codes, reference, column)
    return codes


def with_unseen(categories, codes, values):
    """``(categories, codes)`` grown by the unseen values: new ids kept, not missing.

    ``categories``: a ``pd.Index``; ``codes``: ``values``' positions in it
    (-1: unseen). The unseen non-missing values join after the fitted ones,
    in order of appearance; whole floats of int categories as ints (a CSV
    column read as floats).
    """
    codes = np.asarray(codes).copy()
    values = np.asarray(values, dtype=object)
    unseen = (codes < 0) & ~pd.isna(values)
    if not unseen.any():
        return categories, codes
    extra = pd.Index(pd.unique(values[unseen]))
    whole = extra.dtype.kind in "iu" or (
        extra.dtype.kind == "f" and bool(np.all(np.mod(extra, 1) == 0))
    )
    if categories.dtype.kind in "iu" and whole:
        extra = extra.astype(categories.dtype)
    grown = categories.append(extra)
    codes[unseen] = len(categories) + extra.get_indexer(
        pd.Index(values[unseen]).astype(extra.dtype)
    )
    return grown, codes


def _as_bools(values, column) -> np.ndarray:
    """Bools (object array, NaN where missing) from bools, 0/1 or 'True'/'False'."""
    arr = np.asarray(values)
    if arr.dtype.kind == "b":
        return arr.astype(object)
    series = pd.Series(arr, dtype=object)
    missing = series.isna().to_numpy()
    words = series.astype(str).str.strip().str.lower()
    out = words.map(_BOOL_WORDS).to_numpy(dtype=object)
    bad = pd.isna(out) & ~missing
    if bad.any():
        raise ValueError(
            f"Column {column!r}: fitted as a category of bools but got "
            f"{series[bad].iloc[0]!r}; give True/False (or 1/0)."
        )
    out[missing] = np.nan
    return out


_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False, "1.0": True,
               "0.0": False}  # fmt: skip


def category_dtypes(X, positions) -> dict:
    """``{position: categories}`` of the ``category`` columns of a fit-time frame."""
    if not hasattr(X, "iloc"):
        return {}
    return {
        int(j): X.iloc[:, j].cat.categories.tolist()
        for j in positions
        if isinstance(X.iloc[:, j].dtype, pd.CategoricalDtype)
    }


def recode_categories(column, categories, keep_unseen=False):
    """Re-code a ``category`` column by the categories seen in ``fit``.

    The same value gets the same code whatever categories (or order) the
    incoming frame declares, or if it comes as plain values (of the fitted
    type, or converted losslessly); a category unseen in ``fit`` becomes
    missing, or with ``keep_unseen`` a category after the fitted ones (an
    id a later step reads: its new user is not a missing one).
    ``categories`` None (not a category column in fit) leaves it.
    """
    if categories is None:
        return column
    if (
        isinstance(column.dtype, pd.CategoricalDtype)
        and column.cat.categories.tolist() == categories
    ):
        return column
    given = column.astype(object).to_numpy()
    reference, index = np.asarray(categories, dtype=object), pd.Index(categories)
    if keep_unseen:
        values = conform_ids(given, reference, column.name)
        index, codes = with_unseen(index, index.get_indexer(values), values)
    else:
        codes = category_codes(given, index, reference, column.name)  # unseen: -1
    categories = index
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=categories),
        index=column.index,
        name=column.name,
    )


def check_query_ids(ids, name):
    """Return query ids as a 1-D array; refuse a missing id naming its position.

    Ids keep their type: every integer dtype (unsigned 64-bit hashes too) and
    every string dtype; pandas nullable and object columns without a missing
    value become the numpy type that holds them.

    Raises
    ------
    ValueError
        If ``ids`` is not 1-D or holds a missing value (NaN, None, NA): a
        missing id is never retyped or served as a cold user.
    """
    if hasattr(ids, "to_numpy"):
        native = getattr(ids, "dtype", None)
        if native is not None and getattr(native, "kind", "O") in "iu":
            ids = ids.to_numpy()  # a numpy integer dtype: no missing value
        else:
            ids = ids.to_numpy(dtype=object)  # pandas NA stays missing
    elif isinstance(ids, str):
        ids = np.asarray([ids], dtype=object)  # numpy strings would drop a NUL
    elif isinstance(ids, list | tuple) and any(isinstance(v, str) for v in ids):
        ids = np.asarray(ids, dtype=object)
    arr = np.atleast_1d(np.asarray(ids))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {arr.shape}.")
    missing = pd.isna(arr)
    if missing.any():
        raise ValueError(
            f"{name} has {int(missing.sum())} missing id(s) (NaN/None), the first "
            f"at position {int(np.argmax(missing))}; every query needs an id."
        )
    if arr.dtype == object and arr.size:  # no NaN left: ints and strings as numpy
        kinds = {type(v) for v in arr}
        if all(issubclass(k, numbers.Integral) for k in kinds):
            typed = np.asarray(arr.tolist())  # int64, uint64, or object if larger
            arr = typed if typed.dtype.kind in "iu" else arr
        elif all(issubclass(k, str) for k in kinds):
            refuse_nul(pd.unique(arr), name)
            arr = arr.astype(str)
    return arr


def check_pairs(user_ids, item_ids):
    """Return ``(users, items)`` of query pairs, checked as :func:`check_query_ids`.

    Raises
    ------
    ValueError
        If either holds a missing id, or their lengths differ.
    """
    users = check_query_ids(user_ids, "user_ids")
    items = check_query_ids(item_ids, "item_ids")
    if users.size != items.size:
        raise ValueError(
            f"user_ids and item_ids must have the same length; got "
            f"{users.size} and {items.size}."
        )
    return users, items


def column_positions(estimator, params, columns, n_features):
    """Return the positions of the columns ``estimator``'s parameters ``params`` name.

    A parameter holds a column name (``columns``: the input's names, None
    for an array) or an int position; a parameter set to None gives None.

    Raises
    ------
    ValueError
        If a name is not a column, or a position is out of range.
    """
    out = []
    for param in params:
        key = getattr(estimator, param, None)
        if key is None:
            out.append(None)
            continue
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            if not 0 <= key < n_features:
                raise ValueError(
                    f"{param}={key} is out of range for X with {n_features} "
                    f"feature(s) (an int {param} is a column position)."
                )
            out.append(int(key))
        else:
            if columns is None:
                raise ValueError(
                    f"{param}={key!r} names a column, but X has no column "
                    "names (an ndarray): pass a DataFrame, or an int "
                    f"{param} (a column position)."
                )
            matches = np.flatnonzero(np.asarray(columns, dtype=object) == key)
            if matches.size == 0:
                raise ValueError(
                    f"{param}={key!r}: X has no column {key!r}; its columns "
                    f"are {list(columns)}."
                )
            out.append(int(matches[0]))
    return out


def refuse_nul(strings, column):
    """Refuse string ids holding NUL: numpy's strings end at it ("a" + NUL is "a").

    Raises
    ------
    ValueError
        Naming ``column`` and the first such id.
    """
    nul = next((v for v in strings if "\x00" in v), None)
    if nul is not None:
        raise ValueError(
            f"The ids of {column!r} hold the NUL character '\\x00' (e.g. {nul!r}); "
            "an id cannot contain it (it would be read as the id without it): "
            "strip it first (.str.replace('\\x00', ''))."
        )


def id_index(ids: np.ndarray, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique ids and each row's position among them.

    Raises
    ------
    TypeError
        If the ids mix types that cannot be sorted together.
    """
    try:
        codes, uniques = pd.factorize(ids, sort=True)
    except TypeError as exc:
        raise TypeError(
            f"The ids of column {column!r} must all be of one sortable type "
            f"(all ints or all strings); got {exc}."
        ) from exc
    uniques = np.asarray(uniques)
    if uniques.dtype == object and all(isinstance(v, str) for v in uniques):
        refuse_nul(uniques, column)
        # fixed-width unicode: saveable as a plain array (no pickle)
        uniques = uniques.astype(str)
    return uniques, codes.astype(np.int64, copy=False)


def lookup_ids(index: np.ndarray, ids: np.ndarray, column: str, *,
               built=None) -> np.ndarray:  # fmt: skip
    """Rows of ``ids`` in ``index`` (a 1-D array of unique ids); -1 if unseen.

    ``ids`` of another type than the fitted ones are converted losslessly or
    refused (:func:`~mtlclassic._ids.conform_ids`), never silently unseen.
    ``built`` is a pandas Index of ``index`` built once by the caller (the
    compiled path), or None.
    """
    ids = conform_ids(ids, index, column)
    if built is None:
        if index.dtype.kind == "U":  # hash lookups are fastest on object strings
            index = index.astype(object)
        built = pd.Index(index)
    return built.get_indexer(ids)
