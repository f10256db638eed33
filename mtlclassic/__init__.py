"""mtlclassic: multi-task learning for recommender systems with classical ML.

Shared representations (ALS, factorization machines), per-task LightGBM heads and
task-relationship linear models, all scikit-learn estimators.
"""

from . import datasets, linear_model, metrics, model_selection
from ._onnx import onnx_inputs, to_onnx
from ._targets import tasks_from_column
from ._version import __version__
from .boosting import MultiTaskLGBM
from .datasets import load_census_income, load_movielens, make_multitask_recsys
from .embedding import (
    ALSEmbedder,
    FMClassifier,
    FMEmbedder,
    FMRegressor,
    MultiTaskFM,
    SessionEmbedder,
)
from .io import load, save
from .linear_model import (
    ClusteredMultiTask,
    ClusteredMultiTaskCV,
    L21MultiTask,
    L21MultiTaskCV,
    MeanRegularizedMultiTask,
    MeanRegularizedMultiTaskCV,
    TraceNormMultiTask,
    TraceNormMultiTaskCV,
)
from .recommend import (
    MultiTaskPipeline,
    Recommender,
    make_multitask_recommender,
    update_model,
)
from .recommend._compiled import CompiledModel, compile

__all__ = [
    "ALSEmbedder",
    "CompiledModel",
    "ClusteredMultiTask",
    "ClusteredMultiTaskCV",
    "compile",
    "datasets",
    "FMClassifier",
    "FMEmbedder",
    "FMRegressor",
    "L21MultiTask",
    "L21MultiTaskCV",
    "MeanRegularizedMultiTask",
    "MeanRegularizedMultiTaskCV",
    "linear_model",
    "load",
    "load_census_income",
    "load_movielens",
    "make_multitask_recommender",
    "make_multitask_recsys",
    "metrics",
    "model_selection",
    "MultiTaskFM",
    "MultiTaskLGBM",
    "MultiTaskPipeline",
    "Recommender",
    "SessionEmbedder",
    "tasks_from_column",
    "onnx_inputs",
    "to_onnx",
    "update_model",
    "save",
    "TraceNormMultiTask",
    "TraceNormMultiTaskCV",
    "__version__",
]
