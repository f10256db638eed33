"""Masked per-task metrics, ranking metrics and multi-task scorers."""

from ._masked import masked_metric, multitask_score

__all__ = ["masked_metric", "multitask_score"]
