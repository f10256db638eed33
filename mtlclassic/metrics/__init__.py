"""Masked per-task metrics, ranking metrics and multi-task scorers."""

__all__ = []
