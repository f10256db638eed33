"""Recommender-aware cross-validation splitters."""

__all__ = []
