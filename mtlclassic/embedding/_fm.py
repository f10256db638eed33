r"""Factorization machines: FMRegressor, FMClassifier, MultiTaskFM and FMEmbedder.

The estimators assemble three private pieces: the design encoder
(:mod:`._fm_design`: ``X`` → sparse one-hot/numeric design organised in
fields), the datafits and the field-block coordinate-descent solver
(:mod:`._fm_solver`).
"""

# The classes live in _fm_supervised and _fm_embedder; this module keeps the
# names that model files saved before the split refer to.
from ._fm_embedder import FMEmbedder
from ._fm_supervised import FMClassifier, FMRegressor, MultiTaskFM

__all__ = ["FMClassifier", "FMEmbedder", "FMRegressor", "MultiTaskFM"]
