"""Recommender-aware cross-validation splitters, usable as ``cv=`` anywhere."""

from ._split import TemporalSplit, UserKFold, UserTemporalSplit

__all__ = ["TemporalSplit", "UserKFold", "UserTemporalSplit"]
