"""Item-to-item similarity: cosine top-k over item vectors, in bounded batches.

Used by every embedder's ``similar_items`` (:class:`BaseEmbedder`) and by
:meth:`mtlclassic.Recommender.similar_items`, which fuses several sources.
Memory is bounded: query items are scored in batches of at most
``_BATCH_CELLS`` query x catalogue cells, never a dense item x item matrix.
"""

import numbers

import numpy as np
import pandas as pd

_BATCH_CELLS = 4_000_000  # query x catalogue scores held at once (32 MB)


def check_ids(item_ids, name="item_ids"):
    """Return ``item_ids`` as a 1-D array; refuse missing ids and 2-D input."""
    if hasattr(item_ids, "to_numpy"):
        item_ids = item_ids.to_numpy(dtype=object)  # pandas NA stays missing
    elif isinstance(item_ids, str):  # numpy strings would drop a NUL
        item_ids = np.asarray([item_ids], dtype=object)
    elif isinstance(item_ids, list | tuple) and any(isinstance(v, str)
                                                     for v in item_ids):  # fmt: skip
        item_ids = np.asarray(item_ids, dtype=object)
    ids = np.atleast_1d(np.asarray(item_ids))
    if ids.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D list of item ids; got an array of shape {ids.shape}."
        )
    missing = pd.isna(ids)
    if missing.any():
        raise ValueError(
            f"{name} has {int(missing.sum())} missing id(s) (NaN/None); every "
            "query needs an item id."
        )
    if ids.dtype == object:  # as _ids.refuse_nul (a leaf: no import of it)
        nul = next((v for v in pd.unique(ids) if isinstance(v, str) and "\x00" in v),
                   None)  # fmt: skip
        if nul is not None:
            raise ValueError(
                f"The ids of {name!r} hold the NUL character '\\x00' (e.g. {nul!r}); "
                "an id cannot contain it: strip it first (.str.replace('\\x00', ''))."
            )
    return ids


def check_k(k):
    """Return ``k`` as an int, or raise ``ValueError`` if it is not positive."""
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int; got {k!r}.")
    return int(k)


def unit_rows(V):
    """Rows of ``V`` scaled to unit L2 norm (float64); all-zero rows stay zero."""
    V = np.asarray(V, dtype=np.float64)
    norms = np.linalg.norm(V, axis=1)
    return V / np.where(norms > 0, norms, 1.0)[:, None]


def query_batches(n_queries, n_items):
    """Slices of query rows whose score block fits in ``_BATCH_CELLS`` cells."""
    size = max(1, _BATCH_CELLS // max(1, n_items))
    return [slice(s, min(s + size, n_queries)) for s in range(0, n_queries, size)]


def top_k(scores, k, exclude=None):
    """Best ``k`` columns of each row of ``scores`` (NaN and -inf never chosen).

    Parameters
    ----------
    scores : ndarray of shape (n_rows, n_items)
        Modified in place (excluded cells set to -inf).
    k : int
    exclude : ndarray of shape (n_rows,) of int, default=None
        A column per row that is never returned (the query item itself; -1:
        none).

    Returns
    -------
    columns, values : list of ndarrays
        Per row, the chosen columns by decreasing score (ties by column) and
        their scores; fewer than ``k`` when fewer columns are eligible.
    """
    scores[np.isnan(scores)] = -np.inf
    if exclude is not None:
        rows = np.flatnonzero(exclude >= 0)
        scores[rows, exclude[rows]] = -np.inf
    n_items = scores.shape[1]
    kk = min(k, n_items)
    # the k-th best score of each row; every column scoring at least that is a
    # candidate (ties at the cut included), then a stable order by score and
    # column: the top k is a prefix of the top k + 1
    kth = -np.partition(-scores, kk - 1, axis=1)[:, kk - 1]
    columns, values = [], []
    for r in range(scores.shape[0]):
        cand = np.flatnonzero(scores[r] >= kth[r])
        s = scores[r, cand]
        order = np.lexsort((cand, -s))[:kk]
        cand, s = cand[order], s[order]
        keep = np.isfinite(s)
        columns.append(cand[keep])
        values.append(s[keep])
    return columns, values


def neighbours_frame(query_ids, item_ids, columns, values, item_col):
    """Return the neighbours as a frame: item, similar item, rank, score."""
    sizes = np.array([c.size for c in columns], dtype=np.int64)
    flat = np.concatenate(columns) if columns else np.empty(0, dtype=np.int64)
    score = np.concatenate(values) if values else np.empty(0)
    ranks = np.concatenate([np.arange(1, n + 1) for n in sizes]) if len(sizes) else []
    return pd.DataFrame(
        {
            item_col: np.repeat(np.asarray(query_ids), sizes),
            f"similar_{item_col}": np.asarray(item_ids)[flat.astype(np.int64)],
            "rank": np.asarray(ranks, dtype=np.int64),
            "score": score.astype(np.float64),
        }
    )


def cosine_neighbours(V, rows, k, cold_order=None):
    """Top-``k`` cosine neighbours of the items ``rows`` among all rows of ``V``.

    Parameters
    ----------
    V : ndarray of shape (n_items, d)
        Item vectors.
    rows : ndarray of shape (n_queries,) of int
        The query items' rows in ``V``; -1 for an item ``V`` does not hold.
    k : int
    cold_order : ndarray of int, default=None
        The ranking an unseen query item gets (scores NaN); None ranks the
        items by cosine to the mean item vector (the vector an unseen id
        gets from a group-mean rule).

    Returns
    -------
    columns, values : list of ndarrays
        Per query, neighbour rows of ``V`` and their cosine (NaN for a cold
        query); a query item is never its own neighbour.
    """
    U = unit_rows(V)
    columns, values = [None] * len(rows), [None] * len(rows)
    known = np.flatnonzero(rows >= 0)
    for batch in query_batches(known.size, U.shape[0]):
        q = known[batch]
        cols, vals = top_k(U[rows[q]] @ U.T, k, exclude=rows[q])
        for i, c, v in zip(q, cols, vals):
            columns[i], values[i] = c, v
    cold = np.flatnonzero(rows < 0)
    if cold.size:
        if cold_order is None:
            centre = unit_rows(V.mean(axis=0, keepdims=True))
            (cold_order,), _ = top_k(centre @ U.T, U.shape[0])
        ranked = np.asarray(cold_order)[: min(k, U.shape[0])]
        for i in cold:
            columns[i], values[i] = ranked, np.full(ranked.size, np.nan)
    return columns, values
