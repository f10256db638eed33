"""Streaming batch scoring and recommending: ``mtlclassic score`` / ``recommend``.

Both commands read their input in chunks (CSV with ``pandas.read_csv(chunksize=)``,
parquet with ``pyarrow.parquet.ParquetFile.iter_batches``), so memory is bounded
by the chunk size, not the input size. Each chunk is cast to the model's saved
input schema (``mtlclassic.save(..., input_example=X)``), scored, and appended
to a temporary file beside OUTPUT that is renamed to OUTPUT only when every
chunk has been written: a failure or an interrupt leaves no partial OUTPUT.
"""

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ._chunks import (
    AtomicOutput,
    InputError,
    Progress,
    Source,
    _note,
    file_format,
    input_columns_of,
    iter_chunks,
)
from ._chunks import cast_to_schema as cast_to_schema  # its home before the split
from ._schema import schema_dtype, unused_columns
from .embedding._session import SessionCarry
from .recommend._compiled import CompiledModel

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
_EXIT_CODES = (
    "exit codes:\n"
    "  0  success\n"
    "  1  run-time failure (e.g. the model fails on a chunk); no OUTPUT is left\n"
    "  2  bad usage or input: a missing or empty file, OUTPUT exists without\n"
    "     --overwrite, not a model file, INPUT lacks columns the model reads, a\n"
    "     cell that does not parse (the message names file, column and row),\n"
    "     rows the model refuses to score"
)


# ------------------------------------------------------------------- models


def _load_model(path, trusted=()):
    from .io import load, read_manifest

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MODEL {str(path)!r} does not exist.")
    manifest = read_manifest(path)
    if trusted and "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: a module beside you
    return load(path, trusted=trusted), manifest


def _n_jobs_params(model):
    """Every ``n_jobs`` parameter of an estimator or Pipeline, with its value."""
    if not hasattr(model, "get_params"):
        return {}
    return {
        k: v for k, v in model.get_params(deep=True).items() if k.endswith("n_jobs")
    }


def _set_n_jobs(model, n_jobs):
    """Set every ``n_jobs`` parameter of an estimator or Pipeline."""
    if n_jobs is None or not hasattr(model, "get_params"):
        return
    params = dict.fromkeys(_n_jobs_params(model), n_jobs)
    if params:
        model.set_params(**params)


def _model_id_columns(model):
    """Return the user/item id columns the model's embedders read (the protocol)."""
    from .embedding._base import find_embedders

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
        hint=_delimiter_hint(available),
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


def _delimiter_hint(columns):
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
    from .recommend import Recommender

    if not isinstance(recommender, Recommender):
        raise InputError(
            "MODEL must be a saved Recommender (mtlclassic.save(Recommender(...), "
            f"path)); got a {type(recommender).__name__}."
        )


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
        hint = _delimiter_hint(available)
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
    from .recommend._similar import check_weights, item_sources

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


# ---------------------------------------------------------------------- CLI


def _run(args, work):
    """Run ``work()``; map failures to exit codes with a one-line message."""
    try:
        work()
    except (InputError, FileNotFoundError, FileExistsError) as exc:
        print(f"mtlclassic {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"mtlclassic {args.command}: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - any run-time failure is exit 1
        from .io import ModelFileError

        print(
            f"mtlclassic {args.command}: error: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return EXIT_USAGE if isinstance(exc, ModelFileError) else EXIT_FAILURE
    return EXIT_OK


def run_score(args):
    """Run the ``score`` command; return its exit code."""

    def work():
        from .recommend import Recommender

        model, manifest = _load_model(args.model, args.trust)
        if isinstance(model, Recommender):  # score with the model it wraps
            model = model.model_
        _set_n_jobs(model, args.n_jobs)
        info = manifest.get("model", {})
        common = dict(
            overwrite=args.overwrite,
            id_cols=args.id_cols,
            input_columns=info.get("input_columns"),
            schema=manifest.get("input_schema"),
        )
        if args.scheduler is not None:
            if args.format == "csv":
                raise InputError(
                    "--scheduler writes OUTPUT as a folder of parquet parts; "
                    "--format csv is not supported with it."
                )
            from ._dask_scoring import score_dask

            n = score_dask(
                model, args.input, args.output, scheduler=args.scheduler, **common
            )
            _note(f"wrote {n:,} rows to {args.output} (parquet parts)")
            return
        n = score_file(
            model,
            args.input,
            args.output,
            chunksize=args.chunksize,
            output_format=args.format,
            task_names=list(info.get("tasks", {})) or None,
            **common,
        )
        if manifest.get("input_schema") is None:
            _note(
                "the model was saved without input_example: chunks were not "
                "cast to the training dtypes"
            )
        _note(f"wrote {n:,} rows to {args.output}")

    return _run(args, work)


def run_recommend(args):
    """Run the ``recommend`` command; return its exit code."""

    def work():
        recommender, manifest = _load_model(args.model, args.trust)
        _set_n_jobs(getattr(recommender, "model_", None), args.n_jobs)
        if args.n_candidates is not None and hasattr(recommender, "n_candidates"):
            recommender.n_candidates = args.n_candidates
        session = None
        if args.session is not None:
            session = _read_session(recommender, args.session)
        n, rows = recommend_file(
            recommender,
            args.users,
            args.output,
            k=args.k,
            chunksize=args.chunksize,
            output_format=args.format,
            overwrite=args.overwrite,
            schema=manifest.get("input_schema"),
            session=session,
        )
        short = (
            ""
            if rows == n * args.k
            else (
                f" ({n * args.k - rows:,} fewer than {args.k} per user: some users "
                "have fewer unseen items in the catalogue)"
            )
        )
        _note(
            f"wrote {rows:,} rows, top-{args.k} items for {n:,} "
            f"user{'' if n == 1 else 's'}{short}, "
            f"to {args.output}"
        )

    return _run(args, work)


def _read_session(recommender, path):
    """Read and check the ``--session`` file (errors name it, not --users)."""
    from .embedding._session import session_context
    from .recommend._update import session_rows

    source = Source(path, "--session")
    parts = list(iter_chunks(source, 1_000_000, label="--session"))
    session = pd.concat(parts, ignore_index=True) if parts else None
    try:
        with session_context(recommender.model_, session_rows(recommender, session)):
            pass
    except (ValueError, TypeError) as exc:
        raise InputError(f"--session {str(path)!r}: {exc}") from None
    return session


def run_similar(args):
    """Run the ``similar`` command; return its exit code."""

    def work():
        recommender, manifest = _load_model(args.model, args.trust)
        n, rows = similar_file(
            recommender,
            args.items,
            args.output,
            k=args.k,
            weights=_weights(args.weight),
            chunksize=args.chunksize,
            output_format=args.format,
            overwrite=args.overwrite,
            schema=manifest.get("input_schema"),
        )
        _note(f"wrote {rows:,} rows, top-{args.k} similar items for {n:,} items")

    return _run(args, work)


def _weights(pairs):
    """Parse ``["als=1", "content=0.5"]`` into a dict (None if empty)."""
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise InputError(f"--weight must be SOURCE=NUMBER; got {pair!r}.")
    return out


def _values_schema(schema):
    """Return ``schema`` with each category column read as its categories' values."""
    if not schema:
        return schema
    return [
        {"name": e["name"], "dtype": e.get("categories_dtype") or "str"}
        if e["dtype"] == "category"
        else e
        for e in schema
    ]


def _grown_categories(events, schema):
    """Cast the category columns with their saved categories plus any new ones.

    Returns ``(events, schema)``: new values are appended to the categories
    (in order of appearance), so the update learns them and the saved schema
    keeps them for scoring.
    """
    if not schema:
        return events, schema
    grown, changed = [], {}
    for entry in schema:
        name = entry["name"]
        if entry["dtype"] != "category" or name not in events.columns:
            grown.append(entry)
            continue
        dtype = schema_dtype(entry)
        values = events[name]
        known = set(dtype.categories.tolist())
        extra = [v for v in pd.unique(values.dropna()) if v not in known]
        categories = dtype.categories.tolist() + [
            v.item() if hasattr(v, "item") else v for v in extra
        ]
        grown.append({**entry, "categories": categories})
        changed[name] = pd.Categorical(
            values, categories=pd.Index(categories, dtype=dtype.categories.dtype),
            ordered=dtype.ordered,
        )  # fmt: skip
    return events.assign(**changed), grown


def run_update(args):
    """Run the ``update`` command; return its exit code."""

    def work():
        from .io import save
        from .recommend import Recommender
        from .recommend._update import update_model

        if not 0 <= args.decay_rate <= 1:
            raise InputError(f"--decay-rate must be in [0, 1]; got {args.decay_rate}.")
        model, manifest = _load_model(args.model, args.trust)
        if Path(args.output).exists() and not args.overwrite:
            raise InputError(f"OUTPUT {args.output!r} exists; pass --overwrite.")
        target = model.model_ if isinstance(model, Recommender) else model
        saved_jobs = _n_jobs_params(target)
        _set_n_jobs(target, args.n_jobs)
        schema = manifest.get("input_schema")
        tasks = list(manifest.get("model", {}).get("tasks", {}))
        source = Source(args.events, "EVENTS")
        label_cols = [t for t in tasks if t in input_columns_of(source)]
        # category columns are read as values, not cast to the saved categories:
        # a new category value is something to learn (as update_model does on a
        # frame), not a missing value; the saved schema then grows with it
        reading = _values_schema(schema)
        chunks = list(iter_chunks(source, 1_000_000, schema=reading, label="EVENTS"))
        events = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()
        events, schema = _grown_categories(events, schema)
        labels = events[label_cols] if label_cols else None
        events = events.drop(columns=label_cols)
        try:
            if isinstance(model, Recommender):
                model.update(events, labels, decay_rate=args.decay_rate)
            else:
                update_model(model, events, labels, decay_rate=args.decay_rate)
        except (ValueError, TypeError) as exc:
            raise InputError(f"{source}: {exc}") from None
        from ._schema import schema_example

        example = schema_example(schema) if schema else None
        if saved_jobs:
            target.set_params(**saved_jobs)  # --n-jobs is for this run only
        save(model, args.output, overwrite=True, input_example=example)
        _note(
            f"updated on {len(events):,} events (labels: {label_cols or 'none'}); "
            f"wrote {args.output}"
        )

    return _run(args, work)
