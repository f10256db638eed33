"""The serving table: how each estimator class is scored fast and exported.

Serving paths (:func:`mtlclassic.compile` in ``recommend/_compiled.py`` and
:func:`mtlclassic.to_onnx` in ``_onnx/``) know no estimator class: they look
up a step's *kernels* here by its class (the first class of its MRO with an
entry of that kind), in the way skl2onnx's ``update_registered_converter``
maps a model class to its converter. Each family registers its own kernels
next to its estimators (``boosting/_kernels.py``, ``embedding/_fm/kernels.py``,
``embedding/_als_kernels.py``), so a new head strategy or embedder is served
and exported by code in its own folder only.

Kinds, and what a registered factory is called with and returns:

``"transform"``
    ``factory(step) -> kernel or None``; ``kernel(columns, n_rows) -> dict``
    maps the step's output columns (in ``get_feature_names_out`` order) to
    1-D arrays, from ``columns`` (a dict of 1-D arrays). None: this fitted
    step has no kernel (its own ``transform`` runs instead).
``"predict"``
    ``factory(step) -> predict or None``; ``predict(columns, n_rows,
    threads) -> ndarray`` as ``step.predict`` returns.
``"onnx_transform"``
    ``converter(g, name, step, frame) -> dict`` of the step's *new* columns
    (:class:`~mtlclassic._onnx_graph.Col`), built with the graph builder
    ``g`` (:class:`~mtlclassic._onnx_graph.Graph`) from ``frame`` (the
    columns so far). May raise ValueError naming why the step cannot be
    exported.
``"onnx_predict"``
    ``converter(g, name, step, frame) -> (outputs, names, Y)``: the graph
    outputs ``[(name, tensor, shape)]``, the prediction columns' names, and
    the (N, T) double prediction tensor (None if the step has no task
    predictions, as a classifier's probabilities).
``"onnx_categories"``
    ``factory(step) -> {column: categories}``: the input columns the step
    looks up as ids or categories, with their fitted values (they type the
    graph's inputs).

A ground-floor leaf: it imports nothing of mtlclassic.
"""

KINDS = ("transform", "predict", "onnx_transform", "onnx_predict", "onnx_categories")
_TABLE = {}

__all__ = ["KINDS", "in_order", "lookup", "register"]


def register(cls, **kernels):
    """Register ``cls``'s kernels (keyword per kind, see the module docstring).

    A value of None registers "no kernel of this kind" for ``cls``, which
    stops the lookup from using a base class's entry.

    Raises
    ------
    TypeError
        If ``cls`` is not a class, or a kernel is neither callable nor None.
    ValueError
        If a keyword is not one of :data:`KINDS`.
    """
    if not isinstance(cls, type):
        raise TypeError(f"cls must be a class; got {cls!r}.")
    for kind, kernel in kernels.items():
        if kind not in KINDS:
            raise ValueError(f"unknown kernel kind {kind!r}; expected one of {KINDS}.")
        if kernel is not None and not callable(kernel):
            raise TypeError(f"the {kind!r} kernel of {cls.__name__} must be callable.")
        _TABLE[kind, cls] = kernel
    return cls


def lookup(kind, obj):
    """Return the ``kind`` kernel registered for ``obj``'s class, or None.

    The first class of ``type(obj).__mro__`` with an entry decides.
    """
    for cls in type(obj).__mro__:
        if (kind, cls) in _TABLE:
            return _TABLE[kind, cls]
    return None


def in_order(out_names, made, columns):
    """Return a transform kernel's output columns, in the step's order.

    Each of ``out_names`` comes from ``made`` (the step's new columns) or
    passes through from ``columns``.

    Raises
    ------
    ValueError
        If an output column is neither made nor in ``columns``.
    """
    missing = [c for c in out_names if c not in made and c not in columns]
    if missing:
        raise ValueError(f"X is missing columns seen in fit: {missing}.")
    return {c: made[c] if c in made else columns[c] for c in out_names}
