"""Multi-task recommendation: the default pipeline and fused top-K."""

from ._pipeline import MultiTaskPipeline, make_multitask_recommender
from ._recommender import Recommender
from ._update import update_model

__all__ = [
    "MultiTaskPipeline",
    "Recommender",
    "make_multitask_recommender",
    "update_model",
]
