"""The factorization machines' serving kernels (see :mod:`mtlclassic._serving`).

- ``FMEmbedder`` ``"transform"``: the design is built from a dict of arrays
  (the fitted encoding; id lookups through indexes built once) and scored
  with the samples flattened once per model, by the functions ``transform``
  itself calls (equal within 1e-12).
- ``"onnx_transform"`` / ``"onnx_predict"``: the graph of :mod:`.onnx`
  (lookups, gathers, field sums, the posterior mean over the kept samples).
- ``"onnx_categories"``: the columns each FM reads as categories.
"""

import numpy as np

from ..._onnx_graph import blocks_to_cols, prediction_outputs
from ..._serving import in_order, register
from .base import _BaseFM
from .design import ColumnBatch
from .embedder import FMEmbedder
from .onnx import fm_fields, fm_scores
from .supervised import FMClassifier, MultiTaskFM


def embedder_kernel(fm):
    """Return the compiled ``transform`` kernel of a fitted FMEmbedder, or None.

    None when it was fitted on an array or fits one FM per task (their own
    ``transform`` runs).
    """
    if not getattr(fm, "frame_input_", False) or fm._each():
        return None
    names = [str(c) for c in fm.feature_names_in_]
    new_names = list(fm._embedding_names())
    out_names = [str(c) for c in fm.get_feature_names_out()]  # transform's order

    def kernel(columns, n_rows):
        missing = [c for c in names if c not in columns]
        if missing:
            raise ValueError(f"X is missing columns seen in fit: {missing}.")
        design = fm._build(ColumnBatch([columns[c] for c in names], n_rows))
        fields, scores = fm._blocks_of(design)
        new = np.hstack(fields + ([] if scores is None else [scores]))
        made = {name: new[:, j] for j, name in enumerate(new_names)}
        return in_order(out_names, made, columns)

    return kernel


def embedder_onnx(g, name, step, frame):
    """Return the FMEmbedder's new columns as ONNX columns."""
    features = step._resolve_features()
    if not step.frame_input_ and not all(isinstance(k, int) for k in frame):
        raise ValueError(
            f"step {name!r} ({type(step).__name__}) cannot be exported to ONNX: "
            "it was fitted on an array inside a pipeline of named columns."
        )
    subs = step.task_embedders_ if step._each() else [step]
    blocks = []
    if "fields" in features:
        for sub in subs:
            blocks += [(b, step.n_components) for b in fm_fields(g, sub, frame)]
    if "scores" in features:
        for sub in subs:
            blocks.append((fm_scores(g, sub, frame, link=True), len(sub.task_names_)))
    return blocks_to_cols(blocks, list(step._embedding_names()))


def regressor_onnx(g, name, step, frame):
    """Return an FMRegressor's or MultiTaskFM's ``predictions``, names and Y."""
    Y = fm_scores(g, step, frame, link=False)
    ndim = step.targets_ndim_ if isinstance(step, MultiTaskFM) else 1
    names = list(getattr(step, "task_names_", ["y"]))
    return prediction_outputs(g, Y, ndim), names, Y


def classifier_onnx(g, name, step, frame):
    """Return an FMClassifier's ``probabilities`` output and class names."""
    p = fm_scores(g, step, frame, link=False)
    if len(step.classes_) == 2 and np.atleast_2d(step.coef_).shape[0] == 1:
        proba = g.op("Concat", [g.op("Sub", [g.const(1.0), p]), p], "proba", axis=1)
    else:
        total = g.op("ReduceSum", [p, g.const([1], "axis", np.int64)])
        positive = g.op("Greater", [total, g.const(0.0)])
        proba = g.op("Div", [p, g.op("Where", [positive, total, g.const(1.0)])])
    outputs = [("probabilities", proba, [None, len(step.classes_)])]
    return outputs, [str(c) for c in step.classes_], None


def fm_categories(step):
    """Return ``{column: categories}`` the FM (or its per-task FMs) read."""
    uses = {}
    for est in getattr(step, "task_embedders_", None) or [step]:
        if getattr(est, "frame_input_", False):
            for name, cats in zip(est.field_names_, est.categories_):
                if cats is not None:
                    uses.setdefault(name, list(cats))
    return uses


register(_BaseFM, onnx_predict=regressor_onnx, onnx_categories=fm_categories)
register(FMClassifier, onnx_predict=classifier_onnx)
register(
    FMEmbedder,
    transform=embedder_kernel,
    onnx_transform=embedder_onnx,
    onnx_predict=None,  # alone, an embedder's output is its new columns
)
