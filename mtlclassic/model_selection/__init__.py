"""Recommender-aware cross-validation splitters, usable as ``cv=`` anywhere."""

from ._split import EventKFold, TemporalSplit, UserKFold, UserTemporalSplit

__all__ = ["EventKFold", "TemporalSplit", "UserKFold", "UserTemporalSplit"]
