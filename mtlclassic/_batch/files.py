"""Files in, files out: score, recommend and find similar items in chunks.

The library half of ``mtlclassic score`` / ``recommend`` / ``similar`` (the
commands are in :mod:`mtlclassic.cli`; nothing here parses arguments, so a
scheduler or a notebook calls these functions directly). They read their
input in chunks (CSV with ``pandas.read_csv(chunksize=)``, parquet with
``pyarrow.parquet.ParquetFile.iter_batches``), so memory is bounded by the
chunk size, not the input size. Each chunk is cast to the model's saved
input schema (``mtlclassic.save(..., input_example=X)``), scored, and appended
to a temporary file beside OUTPUT that is renamed to OUTPUT only when every
chunk has been written: a failure or an interrupt leaves no partial OUTPUT.
"""

import numpy as np
import pandas as pd

from .._schema import unused_columns
from ..embedding._base import find_embedders
from ..embedding._session import SessionCarry
from ..recommend._compiled import CompiledModel
from ..recommend._recommender import check_recommender
from ..recommend._similar import check_weights, item_sources
from .chunks import (
    AtomicOutput,
    InputError,
    Progress,
    Source,
    _note,
    file_format,
    input_columns_of,
    iter_chunks,
)


def _model_id_columns(model):
    """Return the user/item id columns the model's embedders read (the protocol)."""
    names = []
    for step in find_embedders(model):
        for name in (getattr(step, "user_col", None), getattr(step, "item_col", None)):
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names


def _id_columns(model, available):
    """Default id columns: the model's user/item columns present in the input."""
    names = _model_id_columns(model) + ["user_id", "item_id"]
    out = []
    for name in names:
        if isinstance(name, str) and name in available and name not in out:
            out.append(name)
    return out


def resolve_columns(
    model, available, where, *, input_columns, id_cols, schema, task_names, hint=""
):
    """Return the columns ``score`` reads and copies (``InputError`` if wrong).

    ``input_columns`` None: the model's ``feature_names_in_``, else the saved
    schema's names. ``id_cols`` None: the model's user/item id columns present
    in ``available``. Used by the local ``score`` and ``score --scheduler``.
    Returns ``(input_columns, id_cols, needed)`` (``needed``: ids first, each
    column once).
    """
    if input_columns is None:
        names = getattr(model, "feature_names_in_", None)
        if names is None and schema:
            names = [entry["name"] for entry in schema]
        if names is None:
            raise InputError(
                "The model does not record the input columns it reads (it was "
                "fitted on an array): save it with input_example=X_dataframe."
            )
        input_columns = [str(c) for c in names]
    # a column the model drops (the pipeline's time) is neither needed nor read:
    # its values, in whatever form, cannot change a prediction
    unused = set(unused_columns(model))
    input_columns = [c for c in input_columns if c not in unused]
    missing = [c for c in input_columns if c not in available]
    if missing and hint:  # the separator first: every column is "missing"
        raise InputError(
            f"{where}: {hint}. Read that way, none of the {len(missing)} columns "
            f"the model reads is there (it reads {input_columns[:8]}...)."
        )
    if missing:
        raise InputError(
            f"{where} lacks the columns {missing}, which the model reads (it reads "
            f"{input_columns}; the file has {available})."
        )
    if id_cols is None:
        id_cols = _id_columns(model, available)
    bad_ids = [c for c in id_cols if c not in available]
    if bad_ids:
        raise InputError(f"--id-cols names {bad_ids}, which INPUT does not have.")
    twice = sorted({c for c in id_cols if list(id_cols).count(c) > 1})
    if twice:
        raise InputError(f"--id-cols names {twice} more than once; name each once.")
    clash = [n for n in task_names or [] if n in id_cols]
    if clash:
        raise InputError(
            f"Task names {clash} are also --id-cols; rename the id columns."
        )
    extra = [c for c in available if c not in input_columns and c not in id_cols]
    if extra:
        _note(f"ignoring INPUT columns the model does not read: {extra}")
    return input_columns, id_cols, list(dict.fromkeys([*id_cols, *input_columns]))


def score_file(
    model,
    input_path,
    output_path,
    *,
    chunksize=100_000,
    output_format=None,
    overwrite=False,
    id_cols=None,
    input_columns=None,
    schema=None,
    task_names=None,
    progress=None,
):
    """Score a CSV/parquet file chunk by chunk into OUTPUT; return the row count.

    Parameters
    ----------
    model : fitted estimator or Pipeline
        Its ``predict`` returns one column per task (or a 1-D array).
    input_path, output_path : path-like
        The input format comes from its suffix (``.parquet``/``.pq`` or CSV);
        the output format is ``output_format``, else from its suffix.
    chunksize : int, default=100_000
        Rows per chunk: bounds memory.
    output_format : {"csv", "parquet"}, default=None
    overwrite : bool, default=False
        Replace an existing OUTPUT; otherwise an existing OUTPUT is an
        :class:`InputError`.
    id_cols : list of str, default=None
        Input columns copied to OUTPUT before the task columns; None copies
        the model's user/item id columns present in the input.
    input_columns : list of str, default=None
        The columns the model reads; None uses ``model.feature_names_in_``.
    schema : list of dict, default=None
        The saved ``input_schema`` to cast every chunk to.
    task_names : list of str, default=None
        Names of the output task columns (``task_0..`` when None).
    progress : bool, default=None
        Show rows done and rows/s on stderr; None: when stderr is a terminal.

    Returns
    -------
    n_rows : int
    """
    if not isinstance(chunksize, int) or chunksize < 1:
        raise InputError(f"--chunksize must be a positive int; got {chunksize!r}.")
    output_format = output_format or file_format(output_path)
    output = AtomicOutput(output_path, output_format, overwrite=overwrite)
    source = Source(input_path, "INPUT")
    available = input_columns_of(source)
    input_columns, id_cols, needed = resolve_columns(
        model,
        available,
        str(source),
        input_columns=input_columns,
        id_cols=id_cols,
        schema=schema,
        task_names=task_names,
        hint=delimiter_hint(available),
    )
    by_name = hasattr(model, "feature_names_in_")
    meter = Progress("scored", progress)
    carry = SessionCarry(model)
    scorer = CompiledModel(model) if by_name else model  # the array path
    with output as out:
        first = 0
        ids = [c for c in _model_id_columns(model) if c in input_columns]
        for chunk in iter_chunks(
            source, chunksize, columns=needed, schema=schema, ids=ids
        ):
            if len(chunk) == 0:
                continue
            rows = chunk[input_columns]
            if not by_name:  # fitted on an array: the columns in schema order
                rows = rows.to_numpy()
            with carry.context():  # open sessions of earlier chunks
                P = np.asarray(_predict(scorer, rows, source, first), dtype=np.float64)
            carry.push(rows)
            first += len(chunk)
            if P.ndim == 1:
                P = P[:, None]
            names = list(task_names or [])
            if len(names) != P.shape[1]:
                names = [f"task_{t}" for t in range(P.shape[1])]
            frame = chunk[id_cols].reset_index(drop=True)
            clash = [n for n in names if n in frame.columns]
            if clash:
                raise InputError(
                    f"Task names {clash} are also --id-cols; rename the id columns."
                )
            for t, name in enumerate(names):
                frame[name] = P[:, t]
            out.write(frame)
            meter.update(len(frame))
        if out.rows == 0:  # an empty input: OUTPUT with the header only
            out.write(pd.DataFrame({c: [] for c in [*id_cols, *(task_names or [])]}))
    meter.close()
    return out.rows


def delimiter_hint(columns):
    """Say which separator a one-column header seems to use ("" if none)."""
    if len(columns) == 1:
        for sep, name in ((";", "';'"), ("\t", "tab"), ("|", "'|'")):
            if sep in str(columns[0]):
                return (
                    f"the file looks {name}-separated (its header is one column, "
                    f"{str(columns[0])[:60]!r}): write it comma-separated"
                )
    return ""


def _predict(model, rows, source, first_row):
    """``model.predict(rows)``; the model refusing the rows is bad input (exit 2).

    The message names the first row the model refuses, found by bisection over
    prefixes of the chunk (about log2(chunksize) more calls, on failure only).
    """
    try:
        return model.predict(rows)
    except (ValueError, TypeError) as exc:
        error = exc
    good, bad = 0, len(rows)  # predict(rows[:good]) works, rows[:bad] fails
    while bad - good > 1:
        middle = (good + bad) // 2
        try:
            model.predict(rows[:middle])
            good = middle
        except (ValueError, TypeError) as exc:
            bad, error = middle, exc
    raise InputError(
        f"{source}, {source.row(first_row + bad - 1)}: the model cannot score "
        f"this row: {error}"
    ) from None


def _check_recommender(recommender):
    try:
        check_recommender(recommender)
    except TypeError as exc:
        raise InputError(str(exc)) from None


def _per_id_file(serve, ids_path, output_path, *, col, label, what, verb,
                 chunksize, output_format, overwrite, schema, progress):  # fmt: skip
    """Read the ids of column ``col`` in chunks and write ``serve(ids)`` frames.

    An id listed twice is served once. Returns ``(n_ids, n_rows)``.
    """
    output_format = output_format or file_format(output_path)
    output = AtomicOutput(output_path, output_format, overwrite=overwrite)
    source = Source(ids_path, label)
    available = input_columns_of(source)
    if col not in available:
        hint = delimiter_hint(available)
        if hint:
            raise InputError(f"{source}: {hint}.")
        raise InputError(
            f"{source} lacks the {what} id column {col!r} (it has {available})."
        )
    schema = [e for e in schema or [] if e["name"] == col]
    meter = Progress(verb, progress)
    served = pd.Index([])
    first, rows = 0, 0
    with output as out:
        for chunk in iter_chunks(
            source, chunksize, columns=[col], schema=schema, ids=[col]
        ):
            ids = pd.unique(chunk[col].to_numpy())
            ids = ids[~pd.Index(ids).isin(served)]
            first += len(chunk)
            if ids.size == 0:
                continue
            served = served.append(pd.Index(ids))
            try:
                frame = serve(ids)
            except (ValueError, TypeError) as exc:
                raise InputError(
                    f"{source}, {source.row(first - len(chunk))} to "
                    f"{source.row(first - 1)}: {exc}"
                ) from None
            out.write(frame)
            rows += len(frame)
            meter.update(ids.size)
        if served.size == 0:  # no id: OUTPUT with the header only, still readable
            out.write(serve(np.array([], dtype=object)))
    meter.close()
    return served.size, rows


def recommend_file(
    recommender,
    users_path,
    output_path,
    *,
    k=10,
    chunksize=10_000,
    output_format=None,
    overwrite=False,
    schema=None,
    progress=None,
    session=None,
):
    """Top-``k`` items for every user of a CSV/parquet file into OUTPUT.

    Users are read ``chunksize`` at a time; a user listed twice is
    recommended for once (as :meth:`Recommender.recommend` does). ``session``
    (a DataFrame) is the session so far (:meth:`Recommender.recommend`).
    Returns ``(n_users, n_rows)``: the users served and the rows written
    (``k`` per user, fewer for a user whose unseen catalogue has fewer than
    ``k`` items).
    """
    _check_recommender(recommender)
    if not isinstance(k, int) or k < 1:
        raise InputError(f"-k must be a positive int; got {k!r}.")

    def serve(users):
        try:
            return recommender.recommend(users, k, session=session)
        except (ValueError, TypeError) as exc:
            if session is None:
                raise
            raise InputError(f"--session: {exc}") from None

    return _per_id_file(
        serve, users_path, output_path,
        col=recommender.user_col, label="--users", what="user",
        verb="recommended for",
        chunksize=chunksize, output_format=output_format, overwrite=overwrite,
        schema=schema, progress=progress,
    )  # fmt: skip


def similar_file(
    recommender,
    items_path,
    output_path,
    *,
    k=10,
    weights=None,
    chunksize=10_000,
    output_format=None,
    overwrite=False,
    schema=None,
    progress=None,
):
    """Top-``k`` similar catalogue items for every item of a file into OUTPUT.

    As :meth:`Recommender.similar_items` (sources fused with ``weights``), the
    items read ``chunksize`` at a time. Returns ``(n_items, n_rows)``.
    """
    _check_recommender(recommender)
    if not isinstance(k, int) or k < 1:
        raise InputError(f"-k must be a positive int; got {k!r}.")
    sources = item_sources(recommender.model_, recommender.items_, recommender.item_col)
    try:
        check_weights(weights, sources)
    except (TypeError, ValueError) as exc:
        raise InputError(f"--weight: {exc}") from None
    return _per_id_file(
        lambda items: recommender.similar_items(items, k, weights=weights),
        items_path, output_path, col=recommender.item_col, label="ITEMS",
        what="item", verb="similar items for", chunksize=chunksize,
        output_format=output_format,
        overwrite=overwrite, schema=schema, progress=progress,
    )  # fmt: skip
