"""Shared representations: user/item embeddings as scikit-learn transformers.

A new embedder subclasses :class:`BaseEmbedder` (the protocol the pipeline,
``Recommender`` and the CLI rely on) and uses :func:`id_index` and
:func:`lookup_ids` for its id columns.
"""

from .._ids import id_index, lookup_ids
from . import _als_kernels  # noqa: F401 - registers ALS's serving kernels
from ._als import ALSEmbedder
from ._base import BaseEmbedder
from ._fm import FMClassifier, FMEmbedder, FMRegressor, MultiTaskFM
from ._session import SessionEmbedder, session_context

__all__ = [
    "ALSEmbedder",
    "BaseEmbedder",
    "FMClassifier",
    "FMEmbedder",
    "FMRegressor",
    "MultiTaskFM",
    "SessionEmbedder",
    "id_index",
    "lookup_ids",
    "session_context",
]
