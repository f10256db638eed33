"""``to_onnx``: a fitted model as one ONNX graph; ``onnx_inputs`` to feed it."""

import datetime
import json
import numbers
import os

import numpy as np
import pandas as pd

from .._compat import check_is_fitted
from .._onnx_graph import DOUBLE, INT64, MISSING_TEXT, STRING, Col, Graph
from .._schema import unused_columns
from .._serving import in_order, lookup
from .._version import __version__
from ..recommend import Recommender
from ..recommend._compiled import _as_columns, _drop_kernel

# --------------------------------------------------------------- input types


def _kind_of_series(col):
    """Return the ONNX input type of an input example column."""
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        if pd.api.types.is_numeric_dtype(cats.dtype):
            return DOUBLE  # missing values stay NaN; whole-number keys are exact
        return STRING
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
        return DOUBLE
    if pd.api.types.is_integer_dtype(dtype):
        if pd.api.types.is_extension_array_dtype(dtype):
            return DOUBLE
        return INT64 if _fits_int64(col.to_numpy()) else STRING
    values = col.dropna()
    if len(values) and all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values
    ):
        return INT64 if _fits_int64(values) else STRING
    if len(values) and all(isinstance(v, float | np.floating) for v in values):
        return DOUBLE
    return STRING


def _fits_int64(values):
    """Whether every int of ``values`` fits int64 (a uint64 hash may not: text)."""
    arr = np.asarray(values)
    if arr.dtype.kind == "i":
        return True
    if arr.dtype.kind == "u":
        return arr.size == 0 or int(arr.max()) < 2**63
    return all(-(2**63) <= int(v) < 2**63 for v in values)


def _kind_of_categories(cats):
    """Return the input type of a column with these fitted categories."""
    if cats and all(isinstance(c, int | np.integer) and not isinstance(c, bool)
                    for c in cats):  # fmt: skip
        return INT64 if _fits_int64(cats) else STRING
    if cats and all(isinstance(c, numbers.Real) and not isinstance(c, bool)
                    for c in cats):  # fmt: skip
        return DOUBLE
    return STRING


def _categorical_uses(model):
    """``{column: categories}`` of the input columns some step reads as ids.

    Each step's family says which (its ``"onnx_categories"`` kernel in
    :mod:`mtlclassic._serving`); the first step to read a column decides.
    """
    uses = {}
    for _, step in _steps(model):
        factory = lookup("onnx_categories", step)
        for name, cats in (factory(step) if factory is not None else {}).items():
            uses.setdefault(name, cats)
    return uses


# ------------------------------------------------------------------- steps


def _steps(model):
    steps = getattr(model, "steps", None)
    return list(steps) if steps is not None else [("model", model)]


def _unexportable(name, step, why):
    return ValueError(f"step {name!r} ({type(step).__name__}) cannot be exported "
                      f"to ONNX: {why}")  # fmt: skip


_NO_EXPORT = (
    "no ONNX export is registered for this estimator (ALSEmbedder, FMEmbedder, "
    "the FM estimators and MultiTaskLGBM have one; a new estimator registers "
    "its converters with mtlclassic._serving.register)."
)


def _export_transform(g, name, step, frame):
    """Return ``(new frame, names of the step's new columns)``."""
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return frame, []
    drop = _drop_kernel(step)
    if drop is not None:
        kept = drop({str(k): None for k in frame}, 0)
        return {k: v for k, v in frame.items() if str(k) in kept}, []
    converter = lookup("onnx_transform", step)
    if converter is None:
        raise _unexportable(name, step, _NO_EXPORT)
    made = converter(g, name, step, frame)
    out_names = [str(c) for c in step.get_feature_names_out()]
    try:
        return in_order(out_names, made, frame), list(made)
    except ValueError as exc:
        raise ValueError(f"step {name!r}: {exc}") from None


def _final(g, name, step, frame):
    """Return the last step's ``[(name, tensor, shape)]``, column names, (N, T) Y.

    The step's family converts it (``"onnx_predict"``); a transformer alone
    (an embedder) outputs its new columns as ``embedding``.
    """
    converter = lookup("onnx_predict", step)
    if converter is not None:
        return converter(g, name, step, frame)
    if lookup("onnx_transform", step) is not None:
        new, made = _export_transform(g, name, step, frame)
        cols = [new[c] for c in made]
        out = g.matrix(cols, "embedding")
        return [("embedding", out, [None, len(cols)])], made, None
    raise _unexportable(name, step, _NO_EXPORT)


# ------------------------------------------------------------------ public


def to_onnx(model, input_example=None, *, path=None):
    r"""Export a fitted model as one ONNX graph (ai.onnx opset 21, ml opset 5).

    The graph holds every step: the FM's id lookups, parameter gathers, field
    sums and posterior mean over its kept samples (probit links in double
    precision), ALS factor gathers, and each LightGBM head's trees as an
    ONNX ``TreeEnsemble`` in double precision with their ``init_score``
    offsets added back. It runs without Python, e.g. in onnxruntime from
    Java, C# or Go.

    Parameters
    ----------
    model : fitted estimator, Pipeline or Recommender
        :func:`~mtlclassic.make_multitask_recommender`'s pipeline,
        :class:`~mtlclassic.MultiTaskLGBM`, :class:`~mtlclassic.FMRegressor`,
        :class:`~mtlclassic.FMClassifier`, :class:`~mtlclassic.MultiTaskFM`,
        :class:`~mtlclassic.ALSEmbedder` or :class:`~mtlclassic.FMEmbedder`
        (their new columns), or a :class:`~mtlclassic.Recommender` (its
        model, plus the fused ``score``; the inputs are the model's rows, the
        ids with their side features and context joined, as
        ``Recommender`` builds them; ``fusion="product"`` gives NaN where a
        task prediction is negative, which ``score_pairs`` refuses).
    input_example : DataFrame or None, default=None
        Rows like those ``predict`` takes. A column some step looks up as
        ids or categories gets its input type from its dtype here (text,
        ``category`` of text or object: ``string``; integers: ``int64``;
        floats, bools and ``category`` of numbers: ``double``, where NaN is
        missing); None, or a column with no value: the type of its fitted
        categories. Every other column the graph reads is ``double``.
    path : str or path-like, optional
        Where to write the graph too.

    Returns
    -------
    onnx.ModelProto
        Inputs: one 1-D tensor (N,) per column the graph reads, named as the
        column (a column the model drops, such as the time, is not an
        input; a model fitted on an array: one ``X`` of shape
        (N, n_features), double). Outputs, double: ``predictions`` of shape
        (N, n_tasks), or (N,) when fitted on a 1-D ``y``; ``probabilities``
        (N, n_classes) for ``FMClassifier``; ``embedding`` (N, n_new_columns)
        for an embedder alone; and ``score`` (N,) for a Recommender. A
        missing value is NaN in a double input and the text ``"\x00missing"``
        (``mtlclassic._onnx.MISSING_TEXT``, in the metadata
        ``mtlclassic_missing_text``) in a text input, never ``""``, which can
        be a real category; an int64 input has none. Metadata:
        ``mtlclassic_inputs`` (input
        types) and ``mtlclassic_outputs`` (the output columns' names). Feed
        it with :func:`onnx_inputs`.

    Raises
    ------
    ValueError
        Naming the part that cannot be exported: a callable fusion or
        unknown task weights of a Recommender, a ``SessionEmbedder``, a step
        without an ONNX export, a head with linear trees, several trees per
        iteration or another objective than LightGBM's regression, binary,
        cross-entropy, Poisson, gamma, Tweedie and ranking ones, a category
        the input type cannot hold, an input column named as an output.
    TypeError
        If ``input_example`` is not a DataFrame, or gives a numeric column
        as text.
    sklearn.exceptions.NotFittedError
        If ``model`` is not fitted.
    ImportError
        Without the ``onnx`` package (``pip install 'mtlclassic[onnx]'``).

    Notes
    -----
    onnxruntime equals ``predict`` to about 1e-15: 2e-15 on 5,000 MovieLens
    events with unseen ids and missing values (``benchmarks/bench_onnx.py``);
    the tests require 1e-9 for every exportable estimator, except ALS's
    ``als_score`` column (``features`` with ``"score"``): a float32 dot
    product whose summation order may differ from numpy's in the last bit
    (1e-7). A LightGBM split compares doubles as LightGBM does. The FM's
    graph holds every kept sample: its size grows as samples x (categories
    + numeric columns) x (tasks + factors).
    """
    fused = None
    if isinstance(model, Recommender):
        if model.__dict__.get("ranker_") is not None:
            raise ValueError(
                "Recommender part 'ranker_': a Recommender fitted on events ranks "
                "the generators' candidates with a LambdaRank head, which the ONNX "
                "export does not cover; export its model, to_onnx(recommender."
                "model_), and serve the lists with Recommender.recommend."
            )
        if callable(model.fusion):
            raise ValueError("Recommender part 'fusion': a callable fusion cannot "
                             "be exported to ONNX; use fusion='weighted', "
                             "'standardized' or 'product'.")  # fmt: skip
        fused, model = model, model.model_
    if hasattr(model, "steps"):
        last = model.steps[-1][1]
        check_is_fitted(last)
    else:
        check_is_fitted(model)
    g = Graph()
    frame, inputs = _inputs(g, model, input_example)
    steps = _steps(model)
    for name, step in steps[:-1]:
        frame, _ = _export_transform(g, name, step, frame)
    outputs, out_names, Y = _final(g, *steps[-1], frame)
    if fused is not None:
        if Y is None:
            raise ValueError("Recommender part 'model': its last step predicts no "
                             "task scores to fuse.")  # fmt: skip
        outputs.append(("score", _fusion(g, fused, Y, out_names), [None]))
    clash = [name for name, _, _ in outputs if name in inputs]
    if clash:
        raise ValueError(f"input column(s) {clash} have the name of a graph output; "
                         "rename them before fitting.")  # fmt: skip
    for name, tensor, shape in outputs:
        g.output(tensor, name, shape)
    used = {name for node in g.nodes for name in node.input}
    g.inputs = [v for v in g.inputs if v.name in used]  # e.g. a dropped time
    inputs = {name: kind for name, kind in inputs.items() if name in used}

    meta = {
        "mtlclassic_version": __version__,
        "mtlclassic_inputs": json.dumps(inputs),
        "mtlclassic_outputs": json.dumps(out_names),
        "mtlclassic_missing_text": MISSING_TEXT,
    }
    proto = g.model(type(model).__name__, meta)
    if path is not None:
        with open(path, "wb") as fh:
            fh.write(proto.SerializeToString())
    return proto


def _input_names(model):
    """Return the columns the model's first step reads (and passes on)."""
    names = [str(c) for c in model.feature_names_in_]
    first = _steps(model)[0][1]
    # an FMEmbedder first: its excluded columns are read (passed through) too
    extra = [str(c) for c in getattr(first, "excluded_columns_", None) or []]
    return names + [c for c in extra if c not in names]


def _inputs(g, model, example):
    """Declare the graph inputs; return the first frame and ``{name: type}``.

    A column some step looks up as ids or categories takes its type from
    ``example`` (else from its fitted categories); every other column is
    read as a number: ``double``, whatever the example's dtype.
    """
    if getattr(model, "feature_names_in_", None) is None:
        n = int(model.n_features_in_)
        known = dict(_categorical_uses(model))
        for _, step in _steps(model):  # e.g. the heads' categories by position
            fitted = getattr(step, "categories_", None)
            pairs = fitted.items() if isinstance(fitted, dict) else (
                enumerate(fitted) if isinstance(fitted, list) else ())  # fmt: skip
            for column, cats in pairs:
                known.setdefault(column, cats if cats is not None else [])
        for column, cats in known.items():
            text = [c for c in cats if isinstance(c, str | bytes)]
            if text:
                raise ValueError(
                    f"The model has no feature names (fitted on an array, or on a "
                    "DataFrame whose column names are not all strings, which "
                    "scikit-learn does not record), so the graph reads one double "
                    f"matrix X; but column {column!r} has text categories "
                    f"{text[:3]!r}. Fit on a DataFrame with string column names "
                    "(X.columns = X.columns.astype(str))."
                )
        X = g.input("X", DOUBLE, [None, n])
        return {j: Col(X, DOUBLE, j) for j in range(n)}, {"X": DOUBLE}
    names = _input_names(model)
    uses = _categorical_uses(model)
    kinds = {c: _kind_of_categories(uses[c]) if c in uses else DOUBLE for c in names}
    if example is not None:
        if not isinstance(example, pd.DataFrame):
            raise TypeError("input_example must be a DataFrame of input rows; got "
                            f"{type(example).__name__}.")  # fmt: skip
        example = example.set_axis(example.columns.astype(str), axis=1)
        dropped = set(unused_columns(model))  # e.g. the time: no graph input
        missing = [c for c in names if c not in example.columns and c not in dropped]
        if missing:
            raise ValueError(f"input_example is missing the model's columns {missing}.")
        for c in names:
            if c in uses and c in example.columns and example[c].notna().any():
                kinds[c] = _kind_of_series(example[c])
    frame = {c: Col(g.input(c, kinds[c], [None]), kinds[c]) for c in names}
    return frame, kinds


def _fusion(g, rec, P, names):
    """Return the fused score of a Recommender over its predictions ``P``."""
    weights = rec.weights or {n: 1.0 for n in names}
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise ValueError(f"Recommender part 'weights': names unknown tasks {unknown}; "
                         f"tasks: {names}.")  # fmt: skip
    w = np.array([float(weights.get(n, 0.0)) for n in names])
    P2 = P
    if rec.fusion == "standardized":
        mean = np.array([rec.task_mean_.get(n, 0.0) for n in names])
        scale = np.array([rec.task_scale_.get(n, 0.0) for n in names])
        w = np.divide(w, scale, out=np.zeros_like(w), where=scale > 0)
        P2 = g.op("Sub", [P2, g.const(mean[None, :], "task_mean")])
    if rec.fusion in ("standardized", "weighted"):
        return g.op("MatMul", [P2, g.const(w, "fusion_w")], "fused")
    used = np.flatnonzero(w != 0)
    logs = g.op("Log", [g.op("Gather", [P2, g.const(used, "used", np.int64)],
                             axis=1)])  # fmt: skip
    return g.op("Exp", [g.op("MatMul", [logs, g.const(w[used], "fusion_w")])],
                "fused")  # fmt: skip


def onnx_inputs(data, model):
    """Return the input feed of an exported graph for ``data``.

    Parameters
    ----------
    data : DataFrame, dict of 1-D arrays or pyarrow Table
        The rows to score (for a model fitted on an array: a 2-D array).
    model : onnx.ModelProto, onnxruntime.InferenceSession, bytes or path
        A graph written by :func:`to_onnx` (a file is parsed once, until it
        changes).

    Returns
    -------
    dict
        ``{input name: 1-D array}`` (a graph of a model fitted on an array:
        ``{"X": (N, n_features) float64}``): ``string`` inputs as object
        arrays of text (a missing value as ``MISSING_TEXT``, kept apart
        from ``""``, a whole-number float id as its int: 52.0 -> "52"),
        ``int64`` inputs as int64, ``double`` inputs as float64 with NaN for
        a missing value.

    Raises
    ------
    ValueError
        If a column the graph reads is missing; a value of an ``int64``
        input is missing, fractional, text or beyond int64 (never
        truncated); a ``double`` input holds text; or ``model`` is not a
        graph of :func:`to_onnx`.
    """
    kinds = _graph_inputs(model)
    if list(kinds) == ["X"] and not isinstance(data, dict):  # fitted on an array
        X = np.asarray(data.to_numpy() if isinstance(data, pd.DataFrame) else data,
                       dtype=np.float64)  # fmt: skip
        if X.ndim != 2:
            raise ValueError(f"data must be 2-D for this graph; got ndim {X.ndim}.")
        return {"X": X}

    columns, _ = _as_columns(data)
    # the graph names its inputs str(column): a frame with int names (0, 1)
    named = {str(c): v for c, v in columns.items()}
    if len(named) < len(columns):
        seen, twice = set(), []
        for c in columns:
            twice += [c] if str(c) in seen else []
            seen.add(str(c))
        raise ValueError(
            f"data has columns whose names are equal as text ({twice[:3]}); the "
            "graph's inputs are named by text."
        )
    columns = named
    missing = [c for c in kinds if c not in columns]
    if missing:
        raise ValueError(f"data is missing the graph's input column(s) {missing}.")
    feed = {}
    for name, kind in kinds.items():
        values = columns[name]
        if kind == STRING:
            feed[name] = _as_text(values)
        elif kind == INT64:
            feed[name] = _as_int64(values, name)
        elif values.dtype.kind in "biuf":  # numbers already: no pandas
            feed[name] = values.astype(np.float64, copy=False)
        elif (
            values.dtype.kind in "mM"
            or any(
                isinstance(v, _TIMES) and v is not pd.NaT  # NaT: a missing value
                for v in values[: min(len(values), 1000)]
            )
        ):  # predict refuses them: float64 would give their ticks
            raise ValueError(
                f"column {name!r} (double) holds times ({values.dtype}); the model "
                "read numbers there: convert them as for fit."
            )
        else:
            try:
                boxed = pd.Series(values, dtype=object)
                boxed = boxed.where(~boxed.isna(), np.nan)  # NaT, NA, None: NaN
                numbers = pd.to_numeric(boxed, errors="raise")
            except (TypeError, ValueError) as exc:
                raise ValueError(f"column {name!r} (double): {exc}") from None
            feed[name] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    return feed


# values a double input refuses, as predict does (checked on the first 1,000 of
# an object column: a column of Timestamps)
_TIMES = (datetime.date, datetime.timedelta, np.datetime64, np.timedelta64)


def _as_text(values):
    """Return ids as text: whole-number floats as ints (52.0 -> "52").

    A missing value (None, NaN, NA, NaT) becomes :data:`MISSING_TEXT`, never
    ``""``, which can be a real category.
    """
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            out[i] = MISSING_TEXT
        elif isinstance(v, float | np.floating) and float(v).is_integer():
            out[i] = str(int(v))
        else:
            out[i] = str(v)
    return out


def _as_int64(values, name):
    """Return whole numbers as int64; refuse missing, fractional or huge values."""
    values = np.asarray(values)
    if values.dtype.kind == "b" or (
        values.dtype.kind == "O" and any(isinstance(v, bool | np.bool_) for v in values)
    ):  # True is no id 1: predict refuses them too
        raise ValueError(
            f"column {name!r} (int64 ids in the graph) holds bools ({values.dtype})."
        )
    if values.dtype.kind in "mM":
        raise ValueError(f"column {name!r} (int64 in the graph) holds times.")
    if values.dtype.kind in "iu":
        if values.dtype.kind == "u" and values.size and values.max() > 2**63 - 1:
            raise ValueError(f"column {name!r} (int64 in the graph) has values "
                             "beyond the int64 range.")  # fmt: skip
        return values.astype(np.int64)
    try:
        numbers = pd.to_numeric(pd.Series(values), errors="raise").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
    except (TypeError, ValueError):
        raise ValueError(f"column {name!r} (int64 in the graph) holds text.") from None
    bad = ~np.isfinite(numbers) | (numbers != np.round(numbers))
    bad |= np.abs(numbers) >= 2.0**63
    if bad.any():
        raise ValueError(
            f"column {name!r} (int64 in the graph) has {int(bad.sum())} value(s) "
            f"that are missing, fractional or beyond int64, e.g. "
            f"{values[np.argmax(bad)]!r} at position {int(np.argmax(bad))}."
        )
    return numbers.astype(np.int64)


_LOADED = {}  # (path, mtime, size) -> input types: a file is parsed once


def _graph_inputs(model):
    """``{input name: type}`` from the metadata of a graph of :func:`to_onnx`."""
    if hasattr(model, "get_modelmeta"):  # an onnxruntime InferenceSession
        meta = dict(model.get_modelmeta().custom_metadata_map)
    elif hasattr(model, "metadata_props"):
        meta = {p.key: p.value for p in model.metadata_props}
    elif isinstance(model, bytes):
        meta = _metadata(lambda onnx: onnx.load_from_string(model))
    else:
        stat = os.stat(model)
        key = (os.path.abspath(model), stat.st_mtime_ns, stat.st_size)
        if key not in _LOADED:
            _LOADED.clear()  # the newest file only: no growth
            _LOADED[key] = _metadata(lambda onnx: onnx.load(model))
        meta = _LOADED[key]
    if "mtlclassic_inputs" not in meta:
        raise ValueError("model is not a graph written by mtlclassic.to_onnx.")
    return json.loads(meta["mtlclassic_inputs"])


def _metadata(load):
    """Return the metadata of the graph ``load(onnx)`` parses."""
    onnx = Graph().onnx
    try:
        proto = load(onnx)
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and kin
        if isinstance(exc, OSError):
            raise
        raise ValueError(f"model is not an ONNX graph ({type(exc).__name__}: "
                         f"{exc}).") from None  # fmt: skip
    return {p.key: p.value for p in proto.metadata_props}
