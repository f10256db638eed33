"""MultiTaskLGBM as ONNX: the feature matrix, each head's trees, offsets, links.

Mirrors :func:`mtlclassic.boosting._lgbm_predict.predict_column`: separate
heads (with their ``init_score`` offset column added back to the raw score,
or the offset alone when early stopping kept no tree), chained heads (the
earlier tasks' predictions as extra features), and the shared booster (its
rows stacked with the task column, plus each task's base score and its
fine-tuned tower). Binary tasks end with the logistic function.
"""

import numpy as np

from .._onnx_graph import DOUBLE, STRING, Col, lookup_keys
from ._onnx_trees import booster_output, booster_raw


def heads_matrix(g, heads, frame):
    """Return the (N, d) double feature matrix of ``heads`` from ``frame``.

    Categorical columns become their codes among the categories seen in fit
    (NaN where unseen or missing), as ``frame_matrix``/``array_matrix`` do.

    Raises
    ------
    ValueError
        If a feature column is missing from ``frame``.
    TypeError
        If a numeric feature column is text.
    """
    columns = []
    by_position = list(frame.values())  # heads fitted on an array read positions
    for name in heads.feature_columns_:
        key = next((k for k in (name, str(name)) if k in frame), None)
        if key is not None:
            col = frame[key]
        elif isinstance(name, int) and 0 <= name < len(by_position):
            col = by_position[name]
        else:
            raise ValueError(f"MultiTaskLGBM: X is missing the column {name!r}.")
        if name in heads.categories_:
            keys = lookup_keys(heads.categories_[name], col.kind, name)
            code = g.lookup(col, keys, f"code_{name}", -1)
            code = g.op("Cast", [code], "code_d", to=g.onnx.TensorProto.DOUBLE)
            missing = g.op("Less", [code, g.const(0.0)])
            code = g.op("Where", [missing, g.const(np.nan), code], f"cat_{name}")
            columns.append(Col(code, DOUBLE))
        elif col.kind == STRING:
            raise TypeError(
                f"MultiTaskLGBM: column {name!r} must be numeric (as in fit); the "
                "input example gives it as text."
            )
        else:
            columns.append(col)
    return g.matrix(columns, "heads_X")


def export_heads(g, heads, frame):
    """Return the (N, T) double predictions of a fitted MultiTaskLGBM."""
    X = heads_matrix(g, heads, frame)
    preds = []
    stacked = _shared_raw(g, heads, X) if heads.shared_booster_ is not None else {}
    for t, name in enumerate(heads.tasks_):
        F = X
        if heads.chain_ and t > 0 and name not in heads.shared_init_score_:
            F = g.op("Concat", [X] + preds[:t], "chain_X", axis=1)
        preds.append(_task(g, heads, name, X, F, stacked))
    return preds[0] if len(preds) == 1 else g.op("Concat", preds, "Y", axis=1)


def _task(g, heads, name, X, F, stacked):
    """Return one task's (N, 1) prediction, as ``predict_column`` computes it."""
    what = f"MultiTaskLGBM task {name!r}"
    best = heads.best_iteration_.get(name, 0)
    if name in heads.shared_init_score_:
        raw = g.op("Add", [stacked[name],
                           g.const(float(heads.shared_init_score_[name]))])  # fmt: skip
        if name in heads.boosters_:
            tower = booster_raw(g, heads.boosters_[name], best, X, what + " tower")
            raw = g.op("Add", [raw, tower])
    else:
        offset = getattr(heads, "init_score_columns_", {}).get(name)
        if offset is None:  # LightGBM's own output: the objective's link
            booster = heads.boosters_[name]
            raw = booster_raw(g, booster, best, F, what)
            return booster_output(g, booster, raw, what)
        booster = heads.boosters_[name]
        raw = _column(g, X, offset)
        if best != 0:
            raw = g.op("Add", [booster_raw(g, booster, best, F, what), raw],
                       f"offset_{name}")  # fmt: skip
        return booster_output(g, booster, raw, what)  # the link after the offset
    if heads.tasks_[name] == "binary":
        raw = g.op("Sigmoid", [raw], f"p_{name}")
    return raw


def _column(g, X, j):
    return g.op("Slice", [X, g.const([j], "s", np.int64),
                          g.const([j + 1], "e", np.int64),
                          g.const([1], "axis", np.int64)], "offset")  # fmt: skip


def _shared_raw(g, heads, X):
    """Return ``{task: (N, 1) raw score}`` of the shared booster."""
    shared = list(heads.shared_tasks_)
    if len(shared) == 1:
        raw = booster_raw(g, heads.shared_booster_, heads.shared_best_iteration_, X,
                          "MultiTaskLGBM's shared booster")  # fmt: skip
        return {shared[0]: raw}
    names = list(heads.tasks_)
    # rows stacked task by task, the task's position as the last column
    n = g.op("Shape", [X], "shape", start=0, end=1)
    blocks = []
    for name in shared:
        t = float(names.index(name))
        task_col = g.op("Expand", [g.const([[t]], "task"),
                                   g.op("Concat", [n, g.const([1], "one", np.int64)],
                                        "task_shape", axis=0)])  # fmt: skip
        blocks.append(g.op("Concat", [X, task_col], "stacked_task", axis=1))
    stacked = g.op("Concat", blocks, "stacked", axis=0)
    raw = booster_raw(g, heads.shared_booster_, heads.shared_best_iteration_,
                      stacked, "MultiTaskLGBM's shared booster")  # fmt: skip
    parts = g.op("Split", [raw], "shared_part", n_out=len(shared), axis=0,
                 num_outputs=len(shared))  # fmt: skip
    parts = [parts] if len(shared) == 1 else parts
    return dict(zip(shared, parts))
