"""ALSEmbedder's serving kernels, registered in :mod:`mtlclassic._serving`.

- ``"transform"``: id lookups through indexes built once (rebuilt when
  ``update``/``fold_in`` added ids), then factor gathers, by the function
  ``transform`` itself calls (:meth:`ALSEmbedder._embed_ids`).
- ``"onnx_transform"``: the same lookups as ``LabelEncoder`` nodes, the
  factor tables (one more row: the cold-start fallback) as ``Gather``.
- ``"onnx_categories"``: the user and item id columns with their fitted ids.
"""

import numpy as np
import pandas as pd

from .._onnx_graph import blocks_to_cols, lookup_keys
from .._serving import in_order, register
from ._als import ALSEmbedder


def _id_columns(als):
    names_in = [str(c) for c in als.feature_names_in_]
    user_pos, item_pos, _ = als._positions(als.feature_names_in_, len(names_in))
    return names_in[user_pos], names_in[item_pos]


def embedder_kernel(als):
    """Return the compiled ``transform`` kernel of a fitted ALSEmbedder, or None.

    None when it was fitted on an array (its own ``transform`` runs).
    """
    if not hasattr(als, "feature_names_in_"):
        return None
    user, item = _id_columns(als)
    new_names = list(als._embedding_names())
    out_names = [str(c) for c in als.get_feature_names_out()]  # transform's order
    built = {}

    def indexes():
        """Return the id indexes, rebuilt when ``update``/``fold_in`` added ids."""
        sizes = (als.user_index_.size, als.item_index_.size)
        current = built.get("indexes")
        if current is None or current[0] != sizes:
            current = (sizes,
                       pd.Index(np.asarray(als.user_index_, dtype=object)),
                       pd.Index(np.asarray(als.item_index_, dtype=object)))  # fmt: skip
            built["indexes"] = current  # one assignment: safe across threads
        return current[1], current[2]

    def kernel(columns, n_rows):
        for param, name in (("user_col", user), ("item_col", item)):
            if name not in columns:
                raise ValueError(f"X is missing columns seen in fit: [{name!r}].")
            missing = pd.isna(columns[name])
            if missing.any():
                raise ValueError(
                    f"{param}: the id column {name!r} has {int(missing.sum())} "
                    f"missing id(s) (NaN/None), the first at position "
                    f"{int(np.argmax(missing))} of X; every event needs a user "
                    "and an item id."
                )
        block = als._embed_ids(columns[user], columns[item], *indexes())
        made = {name: block[:, j] for j, name in enumerate(new_names)}
        return in_order(out_names, made, columns)

    return kernel


def embedder_onnx(g, name, step, frame):
    """Return the ALSEmbedder's new columns as ONNX columns."""
    names_in = ([str(c) for c in step.feature_names_in_]
                if hasattr(step, "feature_names_in_") else None)  # fmt: skip
    u, i, _ = step._positions(step.feature_names_in_ if names_in else None,
                              step.n_features_in_)  # fmt: skip
    features = step._resolve_features()
    gathered = {}
    for which, pos, factors, index in (
        ("user", u, step.user_factors_, step.user_index_),
        ("item", i, step.item_factors_, step.item_index_),
    ):
        key = names_in[pos] if names_in else pos
        if key not in frame:
            raise ValueError(f"step {name!r}: X is missing the column {key!r}.")
        table = np.vstack([factors, step._fallback(factors)[None, :]])
        cancelled = getattr(step, "cancelled_users_", None)
        if which == "user" and cancelled is not None and cancelled.size:
            table[cancelled] = table[-1]  # cancelled users: unseen (fold_in)
        col = frame[key]
        keys = lookup_keys(list(index), col.kind, key)
        rows = g.lookup(col, keys, f"{which}_row", len(keys))
        gathered[which] = g.op("Gather", [g.const(table, f"als_{which}_factors",
                                                  table.dtype), rows])  # fmt: skip
    k = step.user_factors_.shape[1]
    blocks = [(g.op("Cast", [gathered[b]], f"als_{b}", to=g.onnx.TensorProto.DOUBLE),
               k) for b in ("user", "item") if b in features]  # fmt: skip
    if "score" in features:  # in the factors' own precision, as numpy does
        dot = g.op("ReduceSum", [g.op("Mul", [gathered["user"], gathered["item"]]),
                                 g.const([1], "axis", np.int64)])  # fmt: skip
        blocks.append(
            (g.op("Cast", [dot], "als_score", to=g.onnx.TensorProto.DOUBLE), 1)
        )
    return blocks_to_cols(blocks, list(step._embedding_names()))


def embedder_categories(als):
    """Return the user and item id columns with their fitted ids."""
    if not hasattr(als, "feature_names_in_"):
        return {}
    user, item = _id_columns(als)
    return {user: list(als.user_index_), item: list(als.item_index_)}


register(
    ALSEmbedder,
    transform=embedder_kernel,
    onnx_transform=embedder_onnx,
    onnx_categories=embedder_categories,
)
