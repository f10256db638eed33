"""Dask scoring: predict_dask and ``mtlclassic score --scheduler``.

Public through :mod:`mtlclassic.dask`; see its docstring.
"""

import glob
import os

import numpy as np
import pandas as pd

from .._atomic import replacing
from .._compat import import_dask_stack
from .._targets import fitted_tasks
from ..io import load
from ..recommend._recommender import scoring_model
from .chunks import InputError, cast_to_schema, number_missing_strings
from .files import _model_id_columns, resolve_columns


def _check_frame(value, name):
    _, dd = import_dask_stack()
    if isinstance(value, dd.Series):
        raise TypeError(
            f"{name} is a Dask Series; pass a Dask DataFrame with one column per "
            f"task (e.g. {name}.to_frame()), NaN where a row has no label."
        )
    if not isinstance(value, dd.DataFrame):
        raise TypeError(
            f"{name} must be a Dask DataFrame; got {type(value).__name__}. For "
            "pandas data use MultiTaskLGBM."
        )
    return value


def _score_partition(df, model, names):
    if len(df) == 0:
        return pd.DataFrame(
            {n: pd.Series(dtype="float64") for n in names}, index=df.index
        )
    P = np.asarray(model.predict(df), dtype=np.float64)
    if P.ndim == 1:
        P = P[:, None]
    return pd.DataFrame(P, columns=names, index=df.index)


def predict_dask(model, X, *, trusted=()):
    """Score a Dask DataFrame partition by partition with a fitted model.

    Parameters
    ----------
    model : fitted estimator, Pipeline, or str / os.PathLike
        Any fitted mtlclassic estimator (or pipeline ending in one, e.g.
        :func:`~mtlclassic.make_multitask_recommender`), or the path of a
        file written by :func:`mtlclassic.save` (loaded once, here). The
        model enters the task graph once (one ``dask.delayed`` node), so
        every worker receives it once, not once per partition.
    X : dask DataFrame
        The columns the model was fitted on.
    trusted : iterable of str, default=()
        Passed to :func:`mtlclassic.load` when ``model`` is a path (modules of
        your own classes, e.g. a plug-in embedder); the workers must be able
        to import them too.

    Returns
    -------
    Y_pred : dask DataFrame of shape (n_samples, n_tasks)
        One float column per task (named as the model's tasks), the input's
        index and partitions; row for row what ``model.predict`` returns on
        the same rows.

    Raises
    ------
    TypeError
        ``X`` is not a Dask DataFrame.
    ValueError
        ``model`` is not fitted or has no named tasks.
    """
    dask, _ = import_dask_stack()
    X = _check_frame(X, "X")
    if isinstance(model, str | os.PathLike):
        model = load(model, trusted=trusted)
    scorer = scoring_model(model)  # a Recommender scores with the model it wraps
    if scorer is None:
        raise ValueError(
            "This Recommender was fitted on events alone (Recommender(None, ...)): "
            "it has no multi-task model to score rows with."
        )
    model = scorer
    names = list(fitted_tasks(model))
    if not names:
        raise ValueError(
            f"{type(model).__name__} has no fitted tasks; pass a fitted mtlclassic "
            "estimator, pipeline or model file."
        )
    meta = pd.DataFrame({n: pd.Series(dtype="float64") for n in names})
    return X.map_partitions(_score_partition, _ship(dask, model), names, meta=meta)


def _ship(dask, model):
    """Return the model as a graph argument, scattered once when there is a client.

    Embedded in the graph, a model of a few MiB made distributed warn "Sending
    large graph" on every call and travel with every graph; scattered
    (broadcast, one copy per worker), the graph holds only its key.
    """
    try:
        from distributed import get_client  # optional: the dask extra

        client = get_client()
    except (ImportError, ValueError):  # no distributed, or no client: local
        return dask.delayed(model, pure=True, traverse=False)
    return client.scatter(model, broadcast=True, hash=False)


def _input_paths(spec):
    """Return INPUT's files (a file, a folder's parquet/CSV files or a glob)."""
    path = str(spec)
    if os.path.isdir(path):
        files = sorted(
            os.path.join(path, f)
            for f in os.listdir(path)
            if f.lower().endswith((".parquet", ".pq", ".csv"))
        )
    elif any(ch in path for ch in "*?["):
        files = sorted(glob.glob(path))
    else:
        files = [path] if os.path.exists(path) else []
    if not files:
        raise InputError(f"INPUT {path!r} matches no parquet or CSV file.")
    kinds = {f.lower().endswith((".parquet", ".pq")) for f in files}
    if len(kinds) > 1:
        raise InputError(
            f"INPUT {path!r} mixes parquet and CSV files; give one format."
        )
    return files, kinds.pop()


def _cast_partition(df, schema, ids, csv=False):
    if csv:  # read as text: "NA" is missing in a number column, not in a text one
        df = number_missing_strings(df, schema, ids)
    return cast_to_schema(df, schema, notes=set(), ids=ids)


def score_dask(
    model,
    input_path,
    output_path,
    *,
    scheduler="local",
    overwrite=False,
    id_cols=None,
    input_columns=None,
    schema=None,
):
    """``mtlclassic score --scheduler``: score files on a Dask cluster.

    INPUT is a file, a folder or a glob of parquet or CSV files; OUTPUT a
    folder of parquet parts (one per partition: the id columns, then one
    column per task), written to a temporary folder beside it and renamed at
    the end, so a failure leaves no partial OUTPUT. Every partition is cast
    to the saved input schema as the local ``score`` casts its chunks (a
    cell that does not parse is exit 2). ``scheduler`` is a scheduler
    address (``tcp://host:8786``) or ``"local"`` (a ``LocalCluster`` on this
    machine). Returns the number of rows written.
    """
    _, dd = import_dask_stack()
    from distributed import Client, LocalCluster  # optional: the dask extra

    output = os.fspath(output_path)
    if os.path.exists(output) and not overwrite:
        raise InputError(f"OUTPUT {output!r} exists; pass --overwrite to replace it.")
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise InputError(f"The folder of OUTPUT {parent!r} does not exist.")
    files, parquet = _input_paths(input_path)
    names = list(fitted_tasks(model))
    cluster = LocalCluster(dashboard_address=":0") if scheduler == "local" else None
    client = Client(cluster if cluster is not None else scheduler)
    try:
        if parquet:
            frame = dd.read_parquet(files)
        elif schema:  # text, cast per partition as the local path casts chunks
            frame = dd.read_csv(
                files, dtype=str, keep_default_na=False, index_col=False
            )
            frame = frame.replace("", np.nan)
        else:  # no saved schema: pandas' own type inference, as the local path
            frame = dd.read_csv(files, assume_missing=True, index_col=False)
        available = [str(c) for c in frame.columns]
        input_columns, id_cols, needed = resolve_columns(
            model,
            available,
            f"INPUT {str(input_path)!r}",
            input_columns=input_columns,
            id_cols=id_cols,
            schema=schema,
            task_names=names,
        )
        frame = frame[needed]
        ids = [c for c in _model_id_columns(model) if c in input_columns]
        if schema:
            csv = not parquet
            meta = _cast_partition(frame._meta, schema, ids, csv)
            frame = frame.map_partitions(_cast_partition, schema, ids, csv, meta=meta)
        scores = predict_dask(model, frame[input_columns])
        result = (
            frame[id_cols].assign(**{n: scores[n] for n in names})
            if id_cols
            else scores
        )
        with replacing(output, directory=True) as tmp:
            try:
                result.to_parquet(str(tmp), write_index=False)
            except (ValueError, TypeError) as exc:  # a partition the model refuses
                raise InputError(
                    f"INPUT {str(input_path)!r}: the model cannot score a row of "
                    f"it: {exc}"
                ) from exc
            import pyarrow.parquet as pq  # optional: the dask extra brings it

            return sum(
                pq.ParquetFile(tmp / f).metadata.num_rows
                for f in os.listdir(tmp)
                if f.endswith(".parquet")
            )
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
