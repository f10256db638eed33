"""The one reader of time columns: every form events arrive in, one number line.

Splitters, session features, the recency of popularity and histories, and the
two-stage cut all read their time column here, so the same instants give the
same result whatever form they come in: ints and floats (any unit, kept as
they are), naive datetimes (read as UTC) and time-zone-aware datetimes
(converted to UTC), also as an object column of ``Timestamp`` (what a
tz-aware column becomes in a NumPy array). Text is refused with the call that
converts it: a date written as text is ambiguous (formats, zones), so the
reader does not guess.
"""

import numbers

import numpy as np
import pandas as pd

__all__ = ["time_position", "time_span", "time_values"]


_PER_SECOND = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}


def _as_datetime_seconds(values, name):
    """Seconds since the epoch (float64) of datetime-like values, UTC.

    Read in the column's own unit: a ``datetime64[s]`` column (pandas keeps
    ``s``/``ms``/``us`` from parquet) holds dates past 2262, which a cast to
    nanoseconds wraps around without a word.
    """
    parsed = pd.to_datetime(pd.Series(values), utc=True)
    naive = parsed.dt.tz_localize(None).to_numpy()  # UTC wall time, own unit
    unit = np.datetime_data(naive.dtype)[0]
    if unit != "ns" and _fits_ns(naive):  # one unit: an instant is one number
        naive, unit = naive.astype("datetime64[ns]"), "ns"
    if unit not in _PER_SECOND:
        naive, unit = naive.astype("datetime64[us]"), "us"
    return naive.view(np.int64) / _PER_SECOND[unit]


def _fits_ns(values):
    """Whether datetimes lie within datetime64[ns] (years 1678 to 2262)."""
    if values.size == 0:
        return True
    low, high = values.min(), values.max()
    bounds = np.array(["1678-01-01", "2262-04-11"], dtype="datetime64[s]")
    return bool(low >= bounds[0] and high < bounds[1])


def time_values(values, name) -> tuple[np.ndarray, bool]:
    """Return ``(t, is_datetime)``: times as float64 on one axis.

    Parameters
    ----------
    values : array-like or Series of shape (n,)
        Numbers (any unit) or datetimes (naive: UTC; tz-aware: converted to
        UTC; ``Timestamp`` objects too).
    name : str
        The column, for messages.

    Returns
    -------
    t : ndarray of shape (n,), float64
        Numbers as they are; datetimes as seconds since 1970-01-01 UTC.
    is_datetime : bool

    Raises
    ------
    ValueError
        If a value is missing.
    TypeError
        If the values are text (with the conversion to use) or neither numbers
        nor datetimes.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    missing = series.isna().to_numpy()
    if missing.any():
        raise ValueError(
            f"The time column {name!r} has {int(missing.sum())} missing value(s), "
            f"the first at row {int(np.argmax(missing))}; every event needs a time."
        )
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        return _as_datetime_seconds(series, name), True
    if pd.api.types.is_bool_dtype(dtype):
        raise TypeError(f"The time column {name!r} holds booleans, not times.")
    if pd.api.types.is_numeric_dtype(dtype):
        return series.to_numpy(dtype=np.float64), False
    values = series.to_numpy(dtype=object)
    kinds = {type(v) for v in values}
    if kinds and all(issubclass(k, numbers.Real) for k in kinds):
        return series.to_numpy(dtype=np.float64), False
    if kinds and all(issubclass(k, pd.Timestamp | np.datetime64) for k in kinds):
        return _as_datetime_seconds(series, name), True
    if any(issubclass(k, str) for k in kinds):
        example = next(v for v in values if isinstance(v, str))
        raise TypeError(
            f"The time column {name!r} holds text (e.g. {example!r}), not numbers "
            "or datetimes; convert it first, e.g. "
            f"X[{name!r}] = pd.to_datetime(X[{name!r}], utc=True)."
        )
    raise TypeError(
        f"The time column {name!r} must hold numbers or datetimes; got dtype "
        f"{dtype} ({sorted(k.__name__ for k in kinds)[:3]})."
    )


def time_span(value, is_datetime, name) -> float:
    """Return a duration on the axis of :func:`time_values` (seconds for datetimes).

    ``value`` is a positive number (the column's unit; seconds for a
    datetime column), or a ``pandas.Timedelta`` or string such as ``"30D"``
    (datetime columns only).
    """
    if isinstance(value, str | pd.Timedelta | np.timedelta64):
        if not is_datetime:
            raise ValueError(
                f"{name}={value!r} is a duration, but the time column holds "
                "numbers: give a number in the column's unit."
            )
        seconds = pd.Timedelta(value).total_seconds()
    else:
        seconds = float(value)
    if not np.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{name} must be a positive duration; got {value!r}.")
    return seconds


def time_position(X, time_col, needed_by) -> int:
    """Position of the time column ``time_col`` (a name, or an int position).

    Raises
    ------
    ValueError
        Naming ``needed_by`` (the parameter that needs the time) when ``X``
        has no such column.
    """
    if isinstance(time_col, numbers.Integral) and not isinstance(time_col, bool):
        if not 0 <= time_col < X.shape[1]:
            raise ValueError(
                f"time_col={time_col} is out of range for X with {X.shape[1]} "
                f"column(s) ({needed_by} needs the event times)."
            )
        return int(time_col)
    columns = list(getattr(X, "columns", []))
    if time_col not in columns:
        raise ValueError(
            f"time_col={time_col!r}: X has no such column, and {needed_by} needs "
            f"the event times; its columns are {columns}."
        )
    return columns.index(time_col)
