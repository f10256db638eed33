"""Chunked reading and atomic writing of the files that are scored.

Input is read in chunks (CSV with ``pandas.read_csv(chunksize=)``, parquet with
``pyarrow.parquet.ParquetFile.iter_batches``) and each chunk cast to the model's
saved input schema; output goes to a temporary file beside OUTPUT, renamed
only when every chunk has been written (:class:`AtomicOutput`).
"""

import contextlib
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .._atomic import replacing
from .._ids import with_unseen
from .._schema import schema_dtype

_PARQUET_SUFFIXES = (".parquet", ".pq")


def _note(message):
    print(f"[mtlclassic] note: {message}", file=sys.stderr, flush=True)


# pandas >= 3 parses CSV floats round-trip exactly by default (and deprecates
# the option); pandas 2 needs it asked for.
_ROUND_TRIP = (
    {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
)


class InputError(ValueError):
    """Bad usage or input: exit code 2 (a missing column, an existing OUTPUT...)."""


# --------------------------------------------------------------------- input


def file_format(path) -> str:
    """``"parquet"`` for ``.parquet``/``.pq`` files, else ``"csv"``."""
    return "parquet" if Path(path).suffix.lower() in _PARQUET_SUFFIXES else "csv"


def _import_parquet():
    try:
        import pyarrow.parquet as pq  # optional: the parquet extra
    except ImportError:  # an optional package is missing: exit 1, not bad input
        raise ImportError(
            "Reading or writing parquet needs pyarrow: pip install "
            "'mtlclassic[parquet]' (or pyarrow)."
        ) from None
    return pq


class Source:
    """Where input rows come from, for messages: ``INPUT 'events.csv', row 8 (line 9)``.

    ``label`` names the command-line argument (``INPUT``, ``--users``); rows are
    counted from 1 over the data rows (a CSV's after its header).
    """

    def __init__(self, path, label="INPUT"):
        self.path = Path(path)
        self.label = label
        self.csv = file_format(path) == "csv"

    def __str__(self):
        return f"{self.label} {str(self.path)!r}"

    def row(self, index):
        """Describe the data row at 0-based ``index`` of the whole file.

        A CSV's rows are counted after the header, as ``read_csv`` counts them
        (blank lines skipped), so no line number is claimed.
        """
        return f"row {index + 1:,}" + (" after the header" if self.csv else "")


def _source(path, label):
    return path if isinstance(path, Source) else Source(path, label)


def input_columns_of(path, label="INPUT") -> list:
    """Return the column names of a CSV or parquet file (its header only).

    An absent file is a ``FileNotFoundError``; an empty or unreadable one an
    :class:`InputError`; both name ``label`` (the argument) and the path.
    """
    source = _source(path, label)
    if not source.path.is_file():
        raise FileNotFoundError(f"{source} does not exist.")
    try:
        if not source.csv:
            pq = _import_parquet()
            names = list(pq.ParquetFile(source.path).schema_arrow.names)
        else:  # the header as it is written: read_csv would rename 'a' to 'a.1'
            header = pd.read_csv(source.path, nrows=1, header=None, dtype=str)
            names = [str(v) for v in header.iloc[0].tolist()] if len(header) else []
            if not names:
                raise pd.errors.EmptyDataError
            _check_first_row(source, len(names))
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise InputError(
                f"{source}: its header names the column(s) {duplicated} more than "
                "once; a column must appear once (which copy would the model "
                "read?). Remove or rename the extra copies."
            )
        if source.csv:
            return list(pd.read_csv(source.path, nrows=0).columns)
        return names
    except pd.errors.EmptyDataError:
        raise InputError(
            f"{source} is empty: it needs a header line with the column names "
            "(then one row per line)."
        ) from None
    except InputError:
        raise
    except (ValueError, OSError) as exc:  # parser, decoding, not a parquet file
        raise InputError(f"{source} cannot be read: {exc}") from None


def _check_first_row(source, n_names):
    """Refuse a CSV whose first data row has more fields than its header.

    pandas would take the first field as the row index and read every value
    one column to the left. Empty extra fields (a delimiter at the end of
    each line) are accepted: the files are read with ``index_col=False``.
    """
    width = n_names + 256  # room to see the extra fields (more: a parser error)
    first = pd.read_csv(source.path, skiprows=1, nrows=1, header=None, dtype=str,
                        names=range(width), keep_default_na=False)  # fmt: skip
    if not len(first):
        return
    extra = [v for v in first.iloc[0, n_names:].tolist() if isinstance(v, str) and v]
    if extra:
        raise InputError(
            f"{source}: {source.row(0)} has {n_names + len(extra)} or more fields "
            f"but the header names {n_names} columns (extra {extra[:3]}); every "
            "row must have one field per column of the header."
        )


def _csv_dtypes(schema, columns, *, floats=True, ids=()) -> dict:
    """``read_csv`` dtypes: text for text/category columns, float64 for floats.

    ``floats=False`` reads the float columns as text too (to find a bad cell);
    ``ids`` (id columns) are read as text, so ``"042"`` is not silently 42.
    """
    dtypes = {}
    for entry in schema or []:
        if entry["name"] not in columns:
            continue
        if entry["name"] in ids:
            dtypes[entry["name"]] = str
            continue
        dtype = schema_dtype(entry)
        if isinstance(dtype, pd.CategoricalDtype):
            if dtype.categories.dtype.kind not in "biuf":
                dtypes[entry["name"]] = str
        elif dtype.kind in "OSUT" or str(dtype) in ("str", "string"):
            dtypes[entry["name"]] = str
        elif dtype.kind == "f":
            dtypes[entry["name"]] = dtype if floats else str
    return dtypes


def _text_bools(column):
    """Return a text column with 'True'/'False' (any case) as 1.0/0.0, as read_csv.

    The Dask path reads every column as text; a bool column (or a category of
    bools) holds the words there. Other cells are left as they are.
    """
    if column.dtype.kind in "biufb" or isinstance(column.dtype, pd.CategoricalDtype):
        return column
    words = column.astype("string").str.strip().str.lower()
    return column.mask(words == "true", 1.0).mask(words == "false", 0.0)


def _first_bad(column, parsed):
    """0-based position of the first cell that is present but did not parse."""
    bad = np.flatnonzero(parsed.isna().to_numpy() & column.notna().to_numpy())
    return int(bad[0]) if bad.size else None


def _place(source, first_row, where):
    return "" if source is None else f"{source}, {source.row(first_row + where)}: "


def _not_parsed(name, dtype, column, parsed, source, first_row, is_id=False):
    where = _first_bad(column, parsed)
    return InputError(
        f"{_place(source, first_row, where)}column {name!r} holds "
        f"{column.iloc[where]!r}, which is not a valid {dtype} value (the "
        "column's dtype in training). "
        + (
            "Fix that cell: every row needs an id."
            if is_id
            else "Fix that cell, or leave it empty: an empty cell is a missing value."
        )
    )


def _as_datetime(name, dtype, column, source, first_row):
    """Parse a time column to its training dtype: time zones converted, not refused.

    A naive time is read as UTC for a time-zone-aware column, and an aware one
    is converted to UTC (then made naive) for a naive column; a value that is
    not a time is an :class:`InputError` naming the cell.
    """
    parsed = pd.to_datetime(column, errors="coerce", utc=True)
    if _first_bad(column, parsed) is not None:
        raise _not_parsed(name, dtype, column, parsed, source, first_row)
    tz = getattr(dtype, "tz", None)
    parsed = parsed.dt.tz_convert(tz) if tz is not None else parsed.dt.tz_localize(None)
    return parsed.astype(dtype)


_PLAIN_INT = re.compile(r"-?(0|[1-9][0-9]*)(\.0+)?")


def _plain_int(text):
    """Whether ``text`` spells an int plainly (``"42"``, or ``"42.0"``).

    ``"42.0"`` is how a float column writes 42; ``"042"`` (another id as
    text) and ``"4.2"`` are not ints.
    """
    return _PLAIN_INT.fullmatch(text) is not None


def _check_ids(name, dtype, column, source, first_row):
    """Refuse a missing id, and an int id not spelled plainly (``"042"``).

    The rule of ``mtlclassic._ids._as_int``, vectorised over the chunk.
    """
    missing = column.isna().to_numpy()
    if missing.any():
        where = int(np.argmax(missing))
        raise InputError(
            f"{_place(source, first_row, where)}column {name!r} is empty or "
            "missing (NaN/NA): every row needs an id."
        )
    if dtype.kind in "iu" and column.dtype.kind not in "biuf":
        text = column.astype(str)
        # the rule per distinct value, in Python ints: any width, unsigned too
        plainly = {t: _plain_int(t) for t in pd.unique(text.to_numpy())}
        plain = text.map(plainly).astype(bool)
        if not plain.all():
            parsed = pd.to_numeric(text, errors="coerce")
            where = int(np.argmax(~plain.to_numpy()))
            value = column.iloc[where]
            raise InputError(
                f"{_place(source, first_row, where)}column {name!r} holds "
                f"{value!r}, which is not an {dtype} id as in training"
                + (
                    f" ({value!r} and {str(int(parsed.iloc[where]))!r} would be "
                    "different ids)"
                    if pd.notna(parsed.iloc[where])
                    else ""
                )
                + ". Fix that cell: every row needs an id."
            )


def _note_empty_category(name, dtype, column, source, notes):
    """Say once that a CSV cannot tell the category "" from a missing value."""
    if source is None or not source.csv or notes is None or name in notes:
        return
    if "" in set(map(str, dtype.categories)) and column.isna().any():
        notes.add(name)
        _note(
            f"column {name!r}: the model knows the category '' (empty text), but "
            "an empty CSV field reads as a missing value, which the model scores "
            "as missing; give the rows as parquet to score that category"
        )


def cast_to_schema(frame, schema, *, source=None, first_row=0, notes=None, ids=()):
    """Cast the columns of ``frame`` named in ``schema`` to their saved dtypes.

    Category columns get the saved categories (a value outside them becomes
    missing, which the model treats like any missing value); numeric columns
    the saved dtype. A cell that does not parse as its column's dtype is an
    :class:`InputError` naming the file (``source``, a :class:`Source`), the
    column, the row (``first_row`` = the file row of ``frame``'s first row)
    and the value. An integer column with missing or fractional values is
    read as float64 (never truncated) with a note, once per column in
    ``notes`` (a set); the model then decides whether it can score them.
    The ``ids`` columns (user/item ids) must have a value in every row, and
    an int id given as text must be spelled plainly (``"42"``, not ``"042"``).
    """
    if not schema:
        return frame
    out = {}
    for entry in schema:
        name = entry["name"]
        if name not in frame.columns:
            continue
        column, dtype = frame[name], schema_dtype(entry)
        if name in ids:
            _check_ids(name, dtype, column, source, first_row)
        if column.dtype == dtype:
            continue
        if isinstance(dtype, pd.CategoricalDtype):
            _note_empty_category(name, dtype, column, source, notes)
            values = column
            if isinstance(values.dtype, pd.CategoricalDtype):
                values = values.astype(values.cat.categories.dtype)
            if dtype.categories.dtype.kind == "b":  # text 'True'/'False' (Dask)
                values = pd.to_numeric(_text_bools(values), errors="coerce")
                values = values.astype(np.float64).map({1.0: True, 0.0: False})
            elif dtype.categories.dtype.kind in "iuf":
                values = pd.to_numeric(values, errors="coerce")
            elif values.dtype.kind in "biufb":
                values = values.astype("str")
            codes = dtype.categories.get_indexer(values)  # unknown -> -1: missing
            if name in ids:  # a new user or item is itself (cold start), not missing
                grown, codes = with_unseen(dtype.categories, codes, values)
                dtype = pd.CategoricalDtype(grown, ordered=dtype.ordered)
            out[name] = pd.Categorical.from_codes(codes, dtype=dtype)
        elif dtype.kind == "M":
            out[name] = _as_datetime(name, dtype, column, source, first_row)
        elif dtype.kind in "biuf":
            parsed = column
            if column.dtype.kind not in "biuf":
                if column.dtype.kind == "b":
                    parsed = column.astype(np.float64)
                else:
                    text = _text_bools(column) if dtype.kind == "b" else column
                    parsed = pd.to_numeric(text, errors="coerce")
                    if _first_bad(column, parsed) is not None:
                        raise _not_parsed(
                            name, dtype, column, parsed, source, first_row,
                            name in ids,
                        )  # fmt: skip
            parsed = parsed.astype(np.float64) if dtype.kind == "f" else parsed
            if dtype.kind in "biu":
                values = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
                if np.isnan(values).any() or (values != np.round(values)).any():
                    if notes is not None and name not in notes:
                        notes.add(name)
                        _note(
                            f"column {name!r} was {dtype} in training but has "
                            "missing or fractional values here: read as float64"
                        )
                    out[name] = pd.Series(values, index=column.index)
                    continue
            out[name] = parsed.astype(dtype)
        else:
            try:
                out[name] = column.astype(dtype)
            except (TypeError, ValueError) as exc:
                raise InputError(
                    f"{'' if source is None else f'{source}: '}column {name!r} "
                    f"cannot be read as {dtype} (its dtype in training): {exc}"
                ) from None
    if not out:
        return frame
    frame = frame.copy(deep=False)
    for name, values in out.items():
        frame[name] = values
    return frame


def iter_chunks(path, chunksize, *, columns=None, schema=None, label="INPUT", ids=()):
    """Yield DataFrames of at most ``chunksize`` rows of a CSV or parquet file.

    Only ``columns`` are read (all when None), each chunk cast to ``schema``
    (see :func:`cast_to_schema`; a bad cell is an :class:`InputError` naming
    ``label``, the file, the column and the row). (pandas >= 3 parses CSV
    floats round-trip exactly: a float written by pandas reads back as the
    same double.)
    """
    source = _source(path, label)
    notes = set()
    if not source.csv:
        batches = (
            _import_parquet()
            .ParquetFile(source.path)
            .iter_batches(batch_size=chunksize, columns=columns)
        )
        first = 0
        for batch in batches:
            chunk = batch.to_pandas()
            yield cast_to_schema(
                chunk, schema, source=source, first_row=first, notes=notes, ids=ids
            )
            first += len(chunk)
        return
    names = columns or input_columns_of(source)
    first = 0
    try:
        for chunk in _read_csv(source, chunksize, names, schema, True, ids):
            yield cast_to_schema(
                chunk, schema, source=source, first_row=first, notes=notes, ids=ids
            )
            first += len(chunk)
    except InputError:
        raise
    except ValueError as exc:
        # A float column's text did not parse (or the CSV is malformed): find
        # the cell, reading those columns as text from the chunk that failed.
        rows = 0
        for chunk in _read_csv(source, chunksize, names, schema, False, ids):
            if rows >= first:
                cast_to_schema(chunk, schema, source=source, first_row=rows, ids=ids)
            rows += len(chunk)
        raise InputError(f"{source} cannot be read: {exc}") from None


# read_csv's default missing-value strings (pandas' documentation)
_NA_STRINGS = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
               "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a",
               "nan", "null")  # fmt: skip


def number_missing_strings(frame, schema, ids=()):
    """Mark read_csv's missing-value strings as NaN, except in text columns.

    The rule of :func:`iter_chunks` for the Dask path (which reads every
    column as text): a text column's value is missing only when empty.
    """
    dtypes = _csv_dtypes(schema, list(frame.columns), ids=ids)
    numbers = [c for c in frame.columns if dtypes.get(c) is not str]
    if not numbers:
        return frame
    frame = frame.copy()
    for c in numbers:
        frame[c] = frame[c].mask(frame[c].isin(_NA_STRINGS))
    return frame


def _read_csv(source, chunksize, columns, schema, floats, ids):
    dtypes = _csv_dtypes(schema, columns, floats=floats, ids=ids)
    # a text value is missing only when empty: "NA" (Namibia) and "None" are
    # categories and ids; numbers keep read_csv's missing-value strings (also
    # when read as text to find a bad cell: floats=False)
    text = _csv_dtypes(schema, columns, ids=ids)
    na_values = {c: [""] if text.get(c) is str else list(_NA_STRINGS)
                 for c in columns}  # fmt: skip
    try:
        reader = pd.read_csv(
            source.path,
            usecols=columns,
            dtype=dtypes,
            chunksize=chunksize,
            index_col=False,  # a trailing delimiter never makes an index column
            keep_default_na=False,
            na_values=na_values,
            **_ROUND_TRIP,
        )
    except pd.errors.EmptyDataError:
        input_columns_of(source)  # raises the message about an empty file
        raise
    with reader:
        yield from reader


# -------------------------------------------------------------------- output


def check_output_file(path, overwrite):
    """Refuse an OUTPUT that cannot be written as a file (:class:`InputError`).

    A folder, an existing file without ``overwrite``, or a missing parent
    folder: exit 2, before any work is done.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"OUTPUT {str(path)!r} is a folder; give a file name.")
    if path.exists() and not overwrite:
        raise InputError(
            f"OUTPUT {str(path)!r} exists; pass --overwrite to replace it."
        )
    if not path.parent.is_dir():
        raise InputError(
            f"OUTPUT {str(path)!r}: its folder {str(path.parent)!r} does not exist."
        )


class AtomicOutput:
    """Append DataFrames to a temporary file beside ``path``; rename on success.

    Use as a context manager: on an exception (or ``KeyboardInterrupt``) the
    temporary file is removed and ``path`` is left as it was. CSV is written
    with pyarrow's CSV writer when pyarrow is installed (about 10x faster than
    ``DataFrame.to_csv``; both write floats that read back bit for bit), else
    with pandas.
    """

    def __init__(self, path, output_format, *, overwrite=False):
        self.path = Path(path)
        if output_format not in ("csv", "parquet"):
            raise InputError(f"--format must be csv or parquet; got {output_format}.")
        check_output_file(self.path, overwrite)
        self.format = output_format
        if output_format == "parquet":
            self._pq = _import_parquet()
            self._arrow = True
        else:
            try:
                import pyarrow.csv  # noqa: F401
            except ImportError:  # pragma: no cover - pandas writes it then
                self._arrow = False
            else:
                self._arrow = True
        self.rows = 0
        self._writer = self._handle = self._tmp = self._schema = None

    def __enter__(self):
        self._stack = contextlib.ExitStack()
        self._tmp = self._stack.enter_context(replacing(self.path))
        if not self._arrow:
            self._handle = open(self._tmp, "w", newline="", encoding="utf-8")
        return self

    def _table(self, frame):
        import pyarrow as pa  # optional: pandas writes CSV without it

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.format == "csv":  # the CSV writer takes values, not dictionaries
            for i, field in enumerate(table.schema):
                if pa.types.is_dictionary(field.type):
                    column = table.column(i).cast(field.type.value_type)
                    table = table.set_column(i, field.name, column)
        if self._schema is None:
            self._schema = table.schema
        elif not table.schema.equals(self._schema):
            table = table.cast(self._schema)
        return table

    def write(self, frame):
        """Append the rows of ``frame``."""
        if not self._arrow:
            frame.to_csv(self._handle, header=self.rows == 0, index=False)
        else:
            table = self._table(frame)
            if self._writer is None:
                if self.format == "parquet":
                    self._writer = self._pq.ParquetWriter(self._tmp, table.schema)
                else:
                    import pyarrow.csv as pa_csv  # optional, as above

                    self._writer = pa_csv.CSVWriter(
                        str(self._tmp),
                        table.schema,
                        write_options=pa_csv.WriteOptions(quoting_style="needed"),
                    )
            self._writer.write_table(table)
        self.rows += len(frame)

    def __exit__(self, exc_type, exc, tb):
        try:
            if self._handle is not None:
                self._handle.close()
            if self._writer is not None:
                self._writer.close()
        except BaseException:
            self._stack.__exit__(*sys.exc_info())  # the temporary file goes
            raise
        self._stack.__exit__(exc_type, exc, tb)  # renamed over path on success
        return False


class Progress:
    """Rows done and rows/s on stderr, redrawn at most twice a second."""

    def __init__(self, label, enabled=None, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label = label
        self.start = self._last = time.perf_counter()
        self.rows = 0

    def update(self, rows):
        self.rows += rows
        now = time.perf_counter()
        if self.enabled and now - self._last >= 0.5:
            self._last = now
            self._draw(now, end="")

    def _draw(self, now, end):
        rate = self.rows / max(now - self.start, 1e-9)
        print(
            f"\r[mtlclassic] {self.label} {self.rows:,} rows ({rate:,.0f} rows/s)",
            end=end,
            file=self.stream,
            flush=True,
        )

    def close(self):
        if self.enabled:
            self._draw(time.perf_counter(), end="\n")
