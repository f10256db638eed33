"""mtlclassic: multi-task learning for recommender systems with classical ML.

Shared representations (ALS, factorization machines), per-task LightGBM heads and
task-relationship linear models, all scikit-learn estimators.
"""

__version__ = "0.1.0.dev0"

from . import datasets, metrics, model_selection
from .datasets import load_census_income, load_movielens, make_multitask_recsys
from .embedding import ALSEmbedder, FMClassifier, FMEmbedder, FMRegressor

__all__ = [
    "ALSEmbedder",
    "FMClassifier",
    "FMEmbedder",
    "FMRegressor",
    "__version__",
    "datasets",
    "load_census_income",
    "load_movielens",
    "make_multitask_recsys",
    "metrics",
    "model_selection",
]
