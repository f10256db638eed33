"""MultiTaskLGBM's serving kernels, registered in :mod:`mtlclassic._serving`.

- ``"predict"``: the compiled scorer's kernel. The feature matrix is built
  from a dict of arrays (categories coded as in fit, through indexes built
  once), then each head's booster runs (:func:`._lgbm_predict.predict_matrix`,
  the function ``predict`` itself calls: the same numbers to the bit).
- ``"onnx_predict"``: each head's trees as an ONNX ``TreeEnsemble``
  (:mod:`._onnx_heads`).
- ``"onnx_categories"``: the columns the heads read as categories.
"""

import numpy as np
import pandas as pd

from .._onnx_graph import prediction_outputs
from .._serving import register
from ._lgbm_input import frame_matrix
from ._lgbm_predict import predict_matrix
from ._multitask_lgbm import MultiTaskLGBM
from ._onnx_heads import export_heads


def heads_kernel(heads):
    """Return ``predict(columns, n_rows, threads=None)`` of fitted heads, or None.

    None for heads fitted on an array (their own ``predict`` matches columns
    by position). ``threads`` None uses the heads' ``n_jobs``.
    """
    if not (
        hasattr(heads, "feature_names_in_")
        and all(isinstance(c, str) for c in heads.feature_columns_)
    ):
        return None
    columns_fit = list(heads.feature_columns_)
    indexes = {c: (pd.Index(cats), np.asarray(cats, dtype=object))
               for c, cats in heads.categories_.items()}  # fmt: skip

    def predict(columns, n_rows, threads=None):
        missing = [c for c in columns_fit if c not in columns]
        if missing:
            raise ValueError(f"X is missing columns seen in fit: {missing}.")
        X = frame_matrix(columns, columns_fit, heads.categories_, indexes)
        out = predict_matrix(heads, X, threads=threads)
        return out if heads.targets_ndim_ == 2 else out[:, 0]

    return predict


def heads_onnx(g, name, heads, frame):
    """Return the heads' ONNX ``predictions`` output, task names and (N, T) Y."""
    Y = export_heads(g, heads, frame)
    return prediction_outputs(g, Y, heads.targets_ndim_), list(heads.tasks_), Y


def heads_categories(heads):
    """Return ``{column: categories}`` the heads read as categories."""
    if not hasattr(heads, "feature_names_in_"):
        return {}
    return {str(name): list(cats) for name, cats in heads.categories_.items()}


register(
    MultiTaskLGBM,
    predict=heads_kernel,
    onnx_predict=heads_onnx,
    onnx_categories=heads_categories,
)
