"""Item-to-item similarity fused over several sources (``Recommender.similar_items``).

Each source gives item vectors: every embedder of the model that has them
(``item_vectors()``: ALS item factors, the FM item field's factors, ...) and
``"content"``, the catalogue's side columns. For a query item, a source's
cosine to every catalogue item is standardised over the catalogue items it
knows (z-scores; 0 for the items it does not know), and the fused score is
the weighted sum of the sources' z-scores: scale-free, so a source whose
cosines are all near 1 does not drown one whose cosines spread widely.
"""

import numbers

import numpy as np
import pandas as pd

from .._ids import conform_ids, lookup_ids
from .._similarity import (
    check_ids,
    check_k,
    neighbours_frame,
    query_batches,
    top_k,
    unit_rows,
)
from ..embedding._base import find_embedders


def content_vectors(items, item_col):
    """Return the catalogue's side columns as vectors, or None if it has none.

    Numeric, boolean and datetime columns are standardised (missing values at
    0, the mean); a ``category``/object column is one-hot encoded, each of its
    columns scaled by ``1/sqrt(2)`` so that two items differing in one
    category are as far apart as two items one standard deviation apart in
    one numeric column.
    """
    blocks = []
    for col in items.columns:
        if col == item_col:
            continue
        values = items[col]
        dtype = values.dtype
        if pd.api.types.is_datetime64_any_dtype(dtype):
            values = (values - values.min()).dt.total_seconds()  # a number
            dtype = values.dtype
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
            v = values.to_numpy(dtype=np.float64, na_value=np.nan)
            if np.isfinite(v).any():
                sd = np.nanstd(v)
                v = (v - np.nanmean(v)) / (sd if sd > 0 else 1.0)
            blocks.append(np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)[:, None])
        else:
            onehot = pd.get_dummies(values, dtype=np.float64).to_numpy()
            blocks.append(onehot / np.sqrt(2))
    if not blocks:
        return None
    return items[item_col].to_numpy(), np.hstack(blocks)


def item_sources(model, items, item_col):
    """``{name: (item ids, vectors)}`` of every source, in the model's order."""
    sources = {}
    for step in find_embedders(model):
        found = getattr(step, "item_vectors", lambda: None)()
        if found is None:
            continue
        name = type(step).__name__.lower().removesuffix("embedder") or "embedder"
        base, k = name, 1
        while name in sources:
            k += 1
            name = f"{base}-{k}"
        sources[name] = found
    content = content_vectors(items, item_col)
    if content is not None:
        sources["content"] = content
    return sources


def _aligned(ids, U, catalogue):
    """Return the catalogue items' unit vectors (0 where unknown) and a mask."""
    pos = lookup_ids(np.asarray(ids), catalogue, "items")
    known = pos >= 0
    aligned = np.zeros((catalogue.size, U.shape[1]))
    aligned[known] = U[pos[known]]
    return aligned, known


def _zscores(S, known, self_cols):
    """Standardise each row of ``S`` over the ``known`` columns (self excluded)."""
    mask = np.broadcast_to(known, S.shape).copy()
    rows = np.flatnonzero(self_cols >= 0)
    mask[rows, self_cols[rows]] = False
    n = mask.sum(axis=1, keepdims=True)
    mean = np.where(mask, S, 0.0).sum(axis=1, keepdims=True) / np.maximum(n, 1)
    var = np.where(mask, (S - mean) ** 2, 0.0).sum(axis=1, keepdims=True)
    sd = np.sqrt(var / np.maximum(n, 1))
    Z = np.where(mask, (S - mean) / np.where(sd > 0, sd, 1.0), 0.0)
    return np.where(sd > 0, Z, 0.0)


def fused_neighbours(sources, weights, catalogue, queries, k, item_col,
                     cold_order=None):  # fmt: skip
    """Top-``k`` catalogue items per query by the weighted sum of z-scores.

    Parameters
    ----------
    sources : dict
        ``{name: (item ids, vectors of shape (n_ids, d))}``.
    weights : dict
        ``{name: weight}``; sources with weight 0 are skipped.
    catalogue : ndarray of shape (n_items,)
        The items that may be returned.
    queries : ndarray of shape (n_queries,)
        Query item ids (already in the catalogue's id type).
    k : int
    item_col : str
    cold_order : ndarray of int, default=None
        Catalogue positions, best first, for a query no source knows (score
        NaN); None: catalogue order.

    Returns
    -------
    DataFrame
        ``<item_col>, similar_<item_col>, rank, score`` and one column per
        source with its cosine (NaN where the source does not know an item).
    """
    k = check_k(k)
    used = [(n, w) for n, w in weights.items() if w != 0]
    self_cols = lookup_ids(catalogue, queries, "item_ids")
    parts = {}
    for name, _ in used:
        ids, V = sources[name]
        unit = unit_rows(V)  # once per source
        U, known = _aligned(ids, unit, catalogue)
        q = lookup_ids(np.asarray(ids), queries, "item_ids")
        Q = np.zeros((queries.size, V.shape[1]))
        Q[q >= 0] = unit[q[q >= 0]]
        parts[name] = (U, known, Q, q >= 0)
    columns, values = [None] * queries.size, [None] * queries.size
    for batch in query_batches(queries.size, catalogue.size):
        fused = np.zeros((batch.stop - batch.start, catalogue.size))
        any_known = np.zeros(batch.stop - batch.start, dtype=bool)
        rated = np.zeros_like(fused, dtype=bool)  # known to a source used
        for name, w in used:
            U, known, Q, has = parts[name]
            S = Q[batch] @ U.T
            fused += w * _zscores(S, known, self_cols[batch]) * has[batch, None]
            any_known |= has[batch]
            rated |= has[batch, None] & known[None, :]
        fused[~rated] = -np.inf  # no source of the query knows the item: left out
        cols, vals = top_k(fused, k, exclude=self_cols[batch])
        for i, c, v, ok in zip(range(batch.start, batch.stop), cols, vals, any_known):
            columns[i], values[i] = (c, v) if ok else (None, None)
    order = np.arange(catalogue.size) if cold_order is None else np.asarray(cold_order)
    for i in range(queries.size):
        if columns[i] is None:
            ranked = order[order != self_cols[i]][:k]
            columns[i], values[i] = ranked, np.full(ranked.size, np.nan)
    frame = neighbours_frame(queries, catalogue, columns, values, item_col)
    picked = lookup_ids(catalogue, frame[f"similar_{item_col}"].to_numpy(), "items")
    asked = lookup_ids(queries, frame[item_col].to_numpy(), "items")
    for name, _ in used:
        U, known, Q, has = parts[name]
        cos = np.einsum("ij,ij->i", Q[asked], U[picked])
        frame[f"score_{name}"] = np.where(has[asked] & known[picked], cos, np.nan)
    return frame


CONTENT_WEIGHT = 0.25  # the default weight of "content" (every embedder: 1)


def check_weights(weights, sources):
    """Return ``{source: weight}`` (None: each embedder 1, ``"content"`` 0.25).

    The default was chosen on MovieLens-1M (``benchmarks/bench_similar.py``):
    recall@10 of the most associated items 0.216 with content at 0.25, 0.197
    at 1; content alone 0.088, ALS alone 0.209.
    """
    if weights is None:
        return {n: CONTENT_WEIGHT if n == "content" else 1.0 for n in sources}
    if not isinstance(weights, dict):
        raise TypeError(f"weights must be a dict {{source: weight}}; got {weights!r}.")
    unknown = sorted(set(weights) - set(sources))
    if unknown:
        raise ValueError(
            f"weights names unknown sources {unknown}; the sources are {list(sources)}."
        )
    bad = {
        n: w
        for n, w in weights.items()
        if not isinstance(w, numbers.Real)
        or isinstance(w, bool)
        or not np.isfinite(w)
        or w < 0
    }
    if bad or not any(w > 0 for w in weights.values()):
        raise ValueError(
            f"weights must map sources to finite numbers >= 0, not all 0; got "
            f"{weights!r}."
        )
    return dict(weights)


def conform_queries(item_ids, catalogue):
    """Query ids in the catalogue's id type, duplicates dropped, order kept."""
    ids = conform_ids(check_ids(item_ids), catalogue, "item_ids")
    return pd.unique(ids)
