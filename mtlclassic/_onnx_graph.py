"""A small builder of ONNX graphs over named columns (used by :func:`to_onnx`).

A ground-floor leaf (numpy only; onnx is imported when a Graph is made), so
each family writes its own ONNX converter with it (``boosting/_onnx_heads.py``,
``embedding/_fm/onnx.py``) and registers it in :mod:`mtlclassic._serving`.

The graph's tensors are double precision (``tensor(double)``) except the
inputs of id and text columns (``int64``/``string``) and lookup indexes. A
*column* of the frame flowing between steps is a :class:`Col`: a 1-D tensor,
or column ``j`` of a 2-D block (a factor gather), materialised only when a
later step reads it alone.
"""

from dataclasses import dataclass

import numpy as np

DOUBLE, INT64, STRING = "double", "int64", "string"
# What a missing value is in a text input: not "", which can be a real category
# (a blank genre kept as text); no fitted category may equal it.
MISSING_TEXT = "\x00missing"

OPSETS = (("", 21), ("ai.onnx.ml", 5))


def _onnx():
    try:
        import onnx  # optional: the onnx extra
    except ImportError as exc:  # pragma: no cover - the extra is missing
        raise ImportError(
            "ONNX export needs the onnx package: pip install 'mtlclassic[onnx]'."
        ) from exc
    return onnx


@dataclass(frozen=True)
class Col:
    """A column: a 1-D tensor (``j`` None) or column ``j`` of a 2-D block."""

    tensor: str
    kind: str  # DOUBLE, INT64 or STRING
    j: object = None


class Graph:
    """Nodes, initializers, inputs and outputs of one ONNX graph."""

    def __init__(self):
        self.onnx = _onnx()
        self.nodes, self.inits, self.inputs, self.outputs = [], [], [], []
        self._names = set()
        self._consts = {}

    # ----------------------------------------------------------- names
    def name(self, hint):
        """Return a tensor name unique in the graph, from ``hint``."""
        base = "".join(c if c.isalnum() or c in "_." else "_" for c in str(hint))
        base = base or "t"
        name, k = base, 1
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    # ----------------------------------------------------------- tensors
    def const(self, values, hint="c", dtype=np.float64):
        """Return the name of an initializer holding ``values``."""
        array = np.asarray(values, dtype=dtype)
        key = None
        if array.size <= 8 and array.dtype != object:
            key = (array.dtype.str, array.shape, array.tobytes())
            if key in self._consts:
                return self._consts[key]
        name = self.name(hint)
        self.inits.append(self.onnx.numpy_helper.from_array(array, name))
        if key is not None:
            self._consts[key] = name
        return name

    def op(self, op_type, inputs, hint=None, domain="", n_out=1, **attrs):
        """Add a node; return its output name (or names when ``n_out`` > 1)."""
        outs = [self.name(hint or op_type.lower()) for _ in range(n_out)]
        self.nodes.append(
            self.onnx.helper.make_node(
                op_type, list(inputs), outs, domain=domain or None, **attrs
            )
        )
        return outs[0] if n_out == 1 else outs

    def input(self, name, kind, shape):
        """Declare a graph input ``name`` of element ``kind``; return its name."""
        elem = {DOUBLE: self.onnx.TensorProto.DOUBLE,
                INT64: self.onnx.TensorProto.INT64,
                STRING: self.onnx.TensorProto.STRING}[kind]  # fmt: skip
        self._names.add(name)
        self.inputs.append(self.onnx.helper.make_tensor_value_info(name, elem, shape))
        return name

    def output(self, tensor, name, shape):
        """Declare ``tensor`` (double) as the graph output ``name``."""
        if tensor != name:
            self._names.add(name)
            self.nodes.append(self.onnx.helper.make_node("Identity", [tensor], [name]))
        self.outputs.append(
            self.onnx.helper.make_tensor_value_info(
                name, self.onnx.TensorProto.DOUBLE, shape
            )
        )

    def tensor_attr(self, name, values, elem):
        """Return a tensor attribute value (for ``*_as_tensor`` style attributes)."""
        return self.onnx.numpy_helper.from_array(np.asarray(values, dtype=elem), name)

    # ----------------------------------------------------------- columns
    def vector(self, col):
        """Return ``col`` as a 1-D tensor name (a block column is gathered once)."""
        if col.j is None:
            return col.tensor
        key = ("vector", col.tensor, col.j)
        if key not in self._consts:
            self._consts[key] = self.op(
                "Gather", [col.tensor, self.const(col.j, "j", np.int64)], "col",
                axis=1,
            )  # fmt: skip
        return self._consts[key]

    def as_double(self, col):
        """Return ``col`` as a 1-D double tensor (int64 cast; text refused)."""
        if col.kind == STRING:
            raise TypeError(f"text column {col.tensor!r} read as a number")
        v = self.vector(col)
        if col.kind == INT64:
            v = self.op("Cast", [v], "as_double", to=self.onnx.TensorProto.DOUBLE)
        return v

    def matrix(self, cols, hint="features"):
        """Return the (N, len(cols)) double matrix of numeric ``cols``."""
        parts, k = [], 0
        while k < len(cols):
            col = cols[k]
            if col.j is not None and col.kind == DOUBLE:  # a run of one block
                end = k + 1
                while (
                    end < len(cols)
                    and cols[end].tensor == col.tensor
                    and cols[end].j == cols[end - 1].j + 1
                ):
                    end += 1
                parts.append(
                    self.op(
                        "Slice",
                        [col.tensor, self.const([col.j], "s", np.int64),
                         self.const([cols[end - 1].j + 1], "e", np.int64),
                         self.const([1], "axis", np.int64)],
                        "slice",
                    )
                )  # fmt: skip
                k = end
                continue
            parts.append(self.column2d(self.as_double(col)))
            k += 1
        if not parts:
            raise ValueError("no feature columns")
        return parts[0] if len(parts) == 1 else self.op("Concat", parts, hint, axis=1)

    def column2d(self, vector):
        """Return a 1-D tensor as (N, 1)."""
        return self.op("Unsqueeze", [vector, self.const([1], "axis", np.int64)],
                       "col2d")  # fmt: skip

    def lookup(self, col, keys, hint, default):
        """Return the int64 positions of ``col``'s values in ``keys`` (else default).

        ``keys`` are converted to the column's input type (see
        :func:`lookup_keys`); an ONNX ``LabelEncoder`` (of the graph's ai.onnx.ml
        opset 5). A value not among ``keys`` (unseen or missing) gets ``default``:
        pass ``len(keys)`` and append one row to the table gathered with it.
        """
        onnx = self.onnx
        values = np.arange(len(keys), dtype=np.int64)
        if col.kind == STRING:
            key_tensor = onnx.helper.make_tensor(
                "keys", onnx.TensorProto.STRING, [len(keys)],
                [str(k).encode() for k in keys],
            )  # fmt: skip
        else:
            key_tensor = onnx.numpy_helper.from_array(
                np.asarray(keys, dtype=np.int64 if col.kind == INT64 else np.float64),
                "keys",
            )
        if len(keys) == 0:  # LabelEncoder needs keys: every value is unseen
            return self.op(
                "ConstantOfShape", [self.op("Shape", [self.vector(col)], "n")], hint,
                value=onnx.numpy_helper.from_array(
                    np.asarray([default], dtype=np.int64), "default"
                ),
            )  # fmt: skip
        return self.op(
            "LabelEncoder", [self.vector(col)], hint, domain="ai.onnx.ml",
            keys_tensor=key_tensor,
            values_tensor=onnx.numpy_helper.from_array(values, "values"),
            default_tensor=onnx.numpy_helper.from_array(
                np.asarray([default], dtype=np.int64), "default"
            ),
        )  # fmt: skip

    def model(self, name, metadata):
        """Return the ``ModelProto`` (checked by ``onnx.checker``)."""
        onnx = self.onnx
        graph = onnx.helper.make_graph(
            self.nodes, name, self.inputs, self.outputs, initializer=self.inits
        )
        model = onnx.helper.make_model(
            graph,
            opset_imports=[onnx.helper.make_opsetid(d, v) for d, v in OPSETS],
            producer_name="mtlclassic",
        )
        model.ir_version = min(model.ir_version, 10)
        for key, value in metadata.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(model)
        return model


def lookup_keys(categories, kind, column):
    """Return the fitted ``categories`` as keys of an input of ``kind``.

    An int64 input matches whole-number categories, a double input numeric
    ones and a text input every category by its ``str``. Categories that no
    value of the input type can equal are refused: the input would never
    find them.

    Raises
    ------
    ValueError
        If a category cannot be written in the input's type.
    """
    cats = list(categories)
    if kind == STRING:
        keys = [c if isinstance(c, str) else str(c) for c in cats]
        if MISSING_TEXT in keys:
            raise ValueError(
                f"column {column!r}: the model knows the category "
                f"{MISSING_TEXT!r}, the text that stands for a missing value in the "
                "graph's text inputs; rename that category before fitting."
            )
        return keys
    # bools are numbers to a numeric input (a bool column feeds 0.0 / 1.0)
    cats = [(int(c) if kind == INT64 else float(c))
            if isinstance(c, bool | np.bool_) else c for c in cats]  # fmt: skip
    bad = [
        c for c in cats
        if isinstance(c, str | bytes)
        or not isinstance(c, int | float | np.integer | np.floating)
        or (kind == INT64 and not float(c).is_integer())
    ]  # fmt: skip
    if bad:
        raise ValueError(
            f"column {column!r}: its input is {kind} but the model knows the "
            f"categories {bad[:5]!r}; give input_example this column as text."
        )
    return cats


def blocks_to_cols(blocks, names):
    """Name the columns of a list of ``(tensor, width)`` (N, width) double blocks."""
    cols = [Col(b, DOUBLE, j) for b, w in blocks for j in range(w)]
    if len(cols) != len(names):  # pragma: no cover - a bug, not user input
        raise AssertionError(f"{len(cols)} columns for {len(names)} names")
    return dict(zip(names, cols))


def prediction_outputs(g, Y, ndim):
    """Return the ``predictions`` output of (N, T) ``Y``: (N,) when ``ndim`` is 1."""
    if ndim == 1:
        Y = g.op("Squeeze", [Y, g.const([1], "axis", np.int64)], "y")
        return [("predictions", Y, [None])]
    return [("predictions", Y, [None, None])]
