"""Sampled non-events: the training data of a selection task (what users choose).

A model of E[rating | rated] knows what a user thinks of the items they chose,
not which items they choose. :func:`sample_negatives` adds, for every
observed event, ``n_negatives`` pairs of the same user with an item they never
had, labelled 0 in a new binary task (the observed events are 1). A
classifier of that task estimates the odds of "observed" against "sampled";
the sampling distribution is returned with the data, so its scale is known
(see :func:`sample_negatives`, Notes).
"""

import numbers

import numpy as np
import pandas as pd

from .._ids import check_query_ids, conform_ids
from ._union import check_generator

__all__ = ["sample_negatives"]

_MAX_ROUNDS = 50  # rejection rounds of the popularity draws


def _check(X, Y, user_col, item_col, n_negatives, hard_fraction, task):
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a DataFrame of events; got {type(X).__name__}.")
    missing = [c for c in (user_col, item_col) if c not in X.columns]
    if missing:
        raise ValueError(f"X lacks the id column(s) {missing}.")
    if not isinstance(n_negatives, numbers.Integral) or n_negatives < 1:
        raise ValueError(f"n_negatives must be a positive int; got {n_negatives!r}.")
    if not (isinstance(hard_fraction, numbers.Real) and 0 <= hard_fraction <= 1):
        raise ValueError(f"hard_fraction must be in [0, 1]; got {hard_fraction!r}.")
    if Y is not None:
        if not isinstance(Y, pd.DataFrame) or len(Y) != len(X):
            raise ValueError("Y must be a DataFrame with one row per event of X.")
        if task in Y.columns:
            raise ValueError(f"Y already has a column {task!r} (task).")
    for col in (user_col, item_col):
        check_query_ids(X[col], f"X[{col!r}]")


def _hard_pools(generator, users, n_candidates, codes_of, seen):
    """Per user (code order), the item codes the generator proposes (unseen).

    Unseen in ``X``'s events (``seen``: (user code, item code) pairs), not
    only in the generator's, which may have been fitted on other events.
    """
    if generator is None:
        return None
    cands = generator.recommend(users, n_candidates, exclude_seen=True)
    cands = cands[cands["score"].notna()]
    user_codes = codes_of["user"].get_indexer(cands.iloc[:, 0].to_numpy())
    item_codes = codes_of["item"].get_indexer(cands.iloc[:, 1].to_numpy())
    ok = (item_codes >= 0) & ~pd.MultiIndex.from_arrays([user_codes, item_codes]).isin(
        seen
    )
    pools = [[] for _ in range(users.size)]
    for u, i in zip(user_codes[ok], item_codes[ok]):
        pools[u].append(i)
    return [np.asarray(p, dtype=np.int64) for p in pools]


def sample_negatives(
    X,
    Y=None,
    *,
    n_negatives=1,
    hard_fraction=0.5,
    generator=None,
    n_candidates=100,
    items=None,
    popularity_power=0.75,
    user_col="user_id",
    item_col="item_id",
    task="chosen",
    random_state=None,
):
    r"""Add sampled non-events to events: the data of a selection task.

    For every event of user :math:`u`, ``n_negatives`` items :math:`u` has no
    event with are drawn: a share ``hard_fraction`` uniformly from the user's
    candidate pool (``generator``'s top ``n_candidates`` unseen items: hard
    negatives, items the user plausibly chose not to), the rest from the
    popularity distribution :math:`q(i) \propto n_i^{\beta}` over the user's
    unseen items (easy negatives; :math:`n_i` the item's events,
    :math:`\beta` = ``popularity_power``, as word2vec's 0.75). Draws are with
    replacement; never a pair of an observed event.

    Parameters
    ----------
    X : DataFrame of shape (n_events, n_columns)
        The events, with ``user_col`` and ``item_col``.
    Y : DataFrame of shape (n_events, n_tasks), default=None
        The events' labels; the sampled rows get NaN for every task.
    n_negatives : int, default=1
        Sampled pairs per event.
    hard_fraction : float in [0, 1], default=0.5
        Share of the negatives drawn from the generator's pool (0 without a
        generator, or for a user with an empty pool).
    generator : fitted candidate generator, default=None
        E.g. a fitted :class:`EASE` or :class:`~mtlclassic.ALSEmbedder`.
    n_candidates : int, default=100
        Size of each user's hard pool.
    items : DataFrame, default=None
        The catalogue: ``item_col`` and item side columns. A sampled row copies
        its source event and takes the new item's side columns from here (the
        columns of ``X`` that ``items`` has); without it only the item id
        changes. Easy negatives are drawn among the items of ``X`` and
        ``items``.
    popularity_power : float, default=0.75
        :math:`\beta` (0: uniform over the catalogue).
    user_col, item_col : str, default="user_id", "item_id"
    task : str, default="chosen"
        The name of the selection task's column.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X_out : DataFrame of shape (n_events + n_sampled, n_columns)
        ``X`` (its rows first, as they are; index reset), then the sampled rows.
    Y_out : DataFrame of shape (n_events + n_sampled, n_tasks + 1)
        ``Y`` then NaN, with the column ``task``: 1 for events, 0 for sampled.
    sampling : DataFrame of shape (n_events + n_sampled, 2)
        ``kind`` ("event", "hard" or "easy") and ``log_q``: the log of the
        probability that one draw for the row's user gives its item under the
        mixture of both samplers (NaN for events).

    Notes
    -----
    A classifier of ``task`` trained on this data estimates, for a user's
    unseen item :math:`i`, the odds :math:`p_u(i) / (r\, q_u(i))` of an event
    against a draw, :math:`r` = ``n_negatives``. So
    :math:`\log p_u(i) = \operatorname{logit} \hat p + \log q_u(i) + c_u`:
    add ``log_q`` back to rank a user's items by their probability of being
    chosen (the logQ correction of Yi et al., RecSys 2019), or compare items
    of the same sampler's pool directly.

    Examples
    --------
    >>> import pandas as pd
    >>> from mtlclassic.candidates import sample_negatives
    >>> X = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 10]})
    >>> items = pd.DataFrame({"item_id": [10, 11, 12, 13]})
    >>> X2, Y2, info = sample_negatives(X, n_negatives=2, items=items,
    ...                                 random_state=0)
    >>> len(X2), Y2["chosen"].tolist()
    (9, [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    >>> bool(X2.iloc[3:].merge(X).empty)  # no sampled pair is an event
    True
    """
    _check(X, Y, user_col, item_col, n_negatives, hard_fraction, task)
    if generator is not None:
        check_generator(generator, "generator")
    rng = np.random.RandomState(random_state) if not isinstance(
        random_state, np.random.RandomState) else random_state  # fmt: skip
    X = X.reset_index(drop=True)
    if items is not None:  # the catalogue's ids as the events' type ("10" is 10)
        items = items.reset_index(drop=True).assign(**{item_col: conform_ids(
            items[item_col].to_numpy(), X[item_col].to_numpy(), "items")})  # fmt: skip
    catalogue = pd.unique(
        np.concatenate(
            [X[item_col].to_numpy()]
            + ([items[item_col].to_numpy()] if items is not None else [])
        )
    )
    user_codes, users = pd.factorize(X[user_col])
    item_index = pd.Index(catalogue)
    item_codes = item_index.get_indexer(X[item_col].to_numpy())
    n_items = item_index.size
    counts = np.bincount(item_codes, minlength=n_items).astype(np.float64)
    weight = counts**popularity_power if popularity_power else np.ones(n_items)
    weight = np.where(counts > 0, weight, weight[counts > 0].min(initial=1.0))
    seen = pd.MultiIndex.from_arrays([user_codes, item_codes]).unique()
    seen_users, seen_items = seen.get_level_values(0), seen.get_level_values(1)
    seen_weight = pd.Series(weight[seen_items]).groupby(np.asarray(seen_users)).sum()
    easy_mass = weight.sum() - seen_weight.reindex(range(users.size)).to_numpy()
    pools = _hard_pools(
        generator, np.asarray(users), n_candidates,
        {"user": pd.Index(users), "item": item_index}, seen,
    )  # fmt: skip
    source, chosen, kinds, log_q = _draw(
        rng, user_codes, n_negatives, hard_fraction, pools, weight, easy_mass, seen
    )
    sampled = X.iloc[source].reset_index(drop=True)
    sampled[item_col] = catalogue[chosen]
    if items is not None:
        table = items.drop_duplicates(item_col).set_index(item_col)
        for col in table.columns.intersection(X.columns.drop([user_col, item_col])):
            sampled[col] = table[col].reindex(sampled[item_col].to_numpy()).to_numpy()
            if isinstance(X[col].dtype, pd.CategoricalDtype):  # X's categories
                codes = X[col].cat.categories.get_indexer(sampled[col].to_numpy())
                sampled[col] = pd.Categorical.from_codes(codes, dtype=X[col].dtype)
    X_out = pd.concat([X, sampled], ignore_index=True)
    labels = pd.DataFrame(index=range(len(X))) if Y is None else Y.reset_index(
        drop=True)  # fmt: skip
    Y_out = pd.concat(
        [labels, pd.DataFrame(np.nan, index=range(len(sampled)),
                              columns=labels.columns)],
        ignore_index=True,
    )  # fmt: skip
    Y_out[task] = np.r_[np.ones(len(X)), np.zeros(len(sampled))]
    sampling = pd.DataFrame(
        {
            "kind": np.r_[np.repeat("event", len(X)), kinds],
            "log_q": np.r_[np.full(len(X), np.nan), log_q],
        }  # fmt: skip
    )
    return X_out, Y_out, sampling


def _draw(rng, user_codes, n_negatives, hard_fraction, pools, weight, easy_mass,
          seen):  # fmt: skip
    """Draw the negatives: source event rows, item codes, kinds and log q."""
    n_users = easy_mass.size
    events = np.arange(user_codes.size)
    source = np.repeat(events, n_negatives)
    owner = user_codes[source]
    pool_size = np.array(
        [0 if pools is None else pools[u].size for u in range(n_users)]
    )
    share = np.where(pool_size[owner] > 0, hard_fraction, 0.0)
    hard = rng.random_sample(source.size) < share
    chosen = np.full(source.size, -1, dtype=np.int64)
    for u in np.unique(owner[hard]):
        rows = np.flatnonzero(hard & (owner == u))
        chosen[rows] = pools[u][rng.randint(pools[u].size, size=rows.size)]
    p = weight / weight.sum()
    todo = np.flatnonzero(~hard)
    for _ in range(_MAX_ROUNDS):
        if todo.size == 0:
            break
        draw = rng.choice(weight.size, size=todo.size, p=p)
        ok = ~pd.MultiIndex.from_arrays([owner[todo], draw]).isin(seen)
        chosen[todo[ok]] = draw[ok]
        todo = todo[~ok]
    keep = chosen >= 0  # a user who has seen (nearly) every item gets fewer
    source, owner, chosen, hard = source[keep], owner[keep], chosen[keep], hard[keep]
    in_pool = np.zeros(chosen.size, dtype=bool)
    if pools is not None:
        for u in np.unique(owner):
            rows = np.flatnonzero(owner == u)
            in_pool[rows] = np.isin(chosen[rows], pools[u])
    h = np.where(pool_size[owner] > 0, hard_fraction, 0.0)
    q_easy = weight[chosen] / easy_mass[owner]
    q_hard = np.where(in_pool, 1.0 / np.maximum(pool_size[owner], 1), 0.0)
    log_q = np.log(h * q_hard + (1 - h) * q_easy)
    kinds = np.where(hard, "hard", "easy")
    return source, chosen, kinds, log_q
