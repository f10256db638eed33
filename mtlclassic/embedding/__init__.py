"""Shared representations: user/item embeddings as scikit-learn transformers."""

from ._als import ALSEmbedder
from ._fm import FMClassifier, FMEmbedder, FMRegressor, MultiTaskFM

__all__ = ["ALSEmbedder", "FMClassifier", "FMEmbedder", "FMRegressor", "MultiTaskFM"]
