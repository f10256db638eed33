"""Per-task LightGBM heads and the GBDT forms of task sharing."""

from . import _kernels  # noqa: F401 - registers the heads' serving kernels
from ._multitask_lgbm import MultiTaskLGBM

__all__ = ["MultiTaskLGBM"]
