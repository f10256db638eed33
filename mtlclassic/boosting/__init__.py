"""Per-task LightGBM heads and the GBDT forms of task sharing."""

from ._multitask_lgbm import MultiTaskLGBM

__all__ = ["MultiTaskLGBM"]
