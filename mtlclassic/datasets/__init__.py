"""Data sets: the built-in generator and loaders of public data from local files."""

from ._loaders import load_census_income, load_movielens
from ._synthetic import make_multitask_recsys

__all__ = ["load_census_income", "load_movielens", "make_multitask_recsys"]
