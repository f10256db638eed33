"""Shared representations: user/item embeddings as scikit-learn transformers."""

__all__ = []
