"""Masked per-task metrics, ranking metrics and multi-task scorers.

Every per-task metric scores each task on its labelled rows only (NaN in
``Y_true`` means "no label"). Ranking metrics take a per-row group (query or
user) id; :func:`evaluate_recommendations` scores top-K lists against
held-out events. Scorers plug into ``GridSearchCV(scoring=...)``.
"""

from ._masked import (
    average_precision,
    log_loss,
    mae,
    masked_metric,
    multitask_report,
    multitask_score,
    r2,
    rmse,
    roc_auc,
)
from ._ranking import (
    hit_rate_at_k,
    map_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)
from ._scorers import (
    make_multitask_scorer,
    make_multitask_scoring,
    make_task_scorer,
)
from ._topk import evaluate_recommendations, make_topk_scorer

__all__ = [
    "average_precision",
    "evaluate_recommendations",
    "hit_rate_at_k",
    "log_loss",
    "mae",
    "make_multitask_scorer",
    "make_multitask_scoring",
    "make_task_scorer",
    "make_topk_scorer",
    "map_at_k",
    "masked_metric",
    "multitask_report",
    "multitask_score",
    "ndcg_at_k",
    "precision_at_k",
    "r2",
    "recall_at_k",
    "rmse",
    "roc_auc",
]
