"""The built-in data: a seeded generator of multi-task recommender events."""

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

from .._targets import TASK_KINDS

DEFAULT_TASKS = {"rating": "regression", "click": "binary", "like": "binary"}
DEFAULT_MISSING_RATE = {"rating": 0.5, "click": 0.0, "like": 0.85}


def _resolve_tasks(tasks) -> dict:
    if tasks is None:
        return dict(DEFAULT_TASKS)
    if isinstance(tasks, int | np.integer):
        if tasks < 1:
            raise ValueError(f"tasks must be >= 1 when an int; got {tasks}.")
        kinds = ["regression", "binary"]
        return {f"task_{t}": kinds[t % 2] for t in range(tasks)}
    if isinstance(tasks, Mapping):
        out = {str(k): v for k, v in tasks.items()}
    elif isinstance(tasks, Sequence) and not isinstance(tasks, str):
        out = {f"task_{t}": k for t, k in enumerate(tasks)}
    else:
        raise TypeError(
            "tasks must be None, an int, a sequence of kinds or a dict {name: kind}; "
            f"got {tasks!r}."
        )
    if not out:
        raise ValueError("tasks must name at least one task.")
    for name, kind in out.items():
        if kind not in TASK_KINDS:
            raise ValueError(
                f"Unknown kind {kind!r} for task {name!r}; expected one of "
                f"{list(TASK_KINDS)}."
            )
    return out


def _resolve_missing(missing_rate, names: list[str]) -> np.ndarray:
    if missing_rate is None:
        rates = [DEFAULT_MISSING_RATE.get(n, 0.3) for n in names]
    elif isinstance(missing_rate, Mapping):
        unknown = sorted(set(map(str, missing_rate)) - set(names))
        if unknown:
            raise ValueError(f"missing_rate names unknown tasks {unknown}.")
        rates = [missing_rate.get(n, 0.0) for n in names]
    elif np.ndim(missing_rate) == 0:
        rates = [float(missing_rate)] * len(names)
    else:
        rates = list(missing_rate)
        if len(rates) != len(names):
            raise ValueError(
                f"missing_rate has {len(rates)} values but there are "
                f"{len(names)} tasks."
            )
    rates = np.asarray(rates, dtype=float)
    if np.any((rates < 0) | (rates >= 1)):
        raise ValueError(
            f"missing_rate values must be in [0, 1); got {rates.tolist()}."
        )
    return rates


_EVENT_CHUNK = 1 << 18  # events per chunk of the exposure draws


def make_multitask_recsys(
    n_users=500,
    n_items=300,
    n_events=20_000,
    *,
    tasks=None,
    rank=8,
    task_correlation=0.7,
    missing_rate=None,
    n_side_features=4,
    noise=0.5,
    selection_strength=1.0,
    return_truth=False,
    random_state=None,
):
    r"""Generate a multi-task recommender data set of events.

    Users and items have latent factors :math:`u_i, v_j \in \mathbb{R}^{r}`.
    Each task ``t`` has its own private factors :math:`u^t_i, v^t_j` and an
    affinity

    .. math::

        s_t(i, j) = \sqrt{\rho}\,\langle u_i, v_j\rangle
                  + \sqrt{1 - \rho}\,\langle u^t_i, v^t_j\rangle + b_i + c_j,

    standardised. The user and item biases :math:`b_i, c_j` are shared by
    every task, so the correlation between two tasks' affinities is
    :math:`\rho` plus what the biases share: about 0.13 at
    ``task_correlation=0``, 0.37 at 0.3 and 0.72 at 0.7 (300 users, 200
    items, 3,000 events, 8 seeds; ``return_truth`` gives the measured one).
    Labels: a regression task is a
    1-5 rating ``round(3 + 1.2 s + noise)``; a binary task is a Bernoulli draw
    with probability ``sigmoid(1.5 s - 1 + noise)``; a ranking task is a graded
    relevance 0-3 from the quantiles of ``s + noise``. Each task then loses a
    random fraction ``missing_rate`` of its labels (NaN).

    Users are drawn with a skewed activity, items with a Zipf-like popularity;
    timestamps increase over 100 days. Side features are noisy projections of
    the factors, so they carry signal a model can use for cold-start rows.

    Parameters
    ----------
    n_users, n_items, n_events : int, default=500, 300, 20_000
        Numbers of users, items and events (rows).
    tasks : None, int, sequence of str or dict, default=None
        The tasks: None gives ``{"rating": "regression", "click": "binary",
        "like": "binary"}``; an int gives that many tasks alternating
        regression and binary; a sequence of kinds gives tasks ``task_0..``; a
        dict maps names to kinds.
    rank : int, default=8
        Dimension of the latent factors.
    task_correlation : float in [0, 1], default=0.7
        Share of every task's affinity that comes from the shared factors
        (the shared biases add some correlation on top; see above).
    missing_rate : None, float, sequence or dict, default=None
        Fraction of each task's rows left unlabelled. None gives 0.5 for
        ``rating``, 0 for ``click``, 0.85 for ``like`` (a scarce task) and 0.3
        for any other task.
    n_side_features : int, default=4
        Number of numeric side features, split between users (``user_f*``)
        and items (``item_f*``); categorical ``user_segment`` and
        ``item_category`` are always present.
    noise : float, default=0.5
        Standard deviation of the label noise.
    selection_strength : float, default=1.0
        How strongly the shared affinity drives which items a user interacts
        with (0 = items drawn by popularity only). Each event picks among 8
        popularity-drawn candidates by ``selection_strength * <u, v> / sqrt(r)``
        plus Gumbel noise.
    return_truth : bool, default=False
        Also return the ground truth (a :class:`~sklearn.utils.Bunch`).
    random_state : int, RandomState or None, default=None
        Seed; the same seed gives the same data.

    Returns
    -------
    X : DataFrame of shape (n_events, n_columns)
        ``user_id``, ``item_id``, ``timestamp`` (seconds, sorted), the user
        side features, then the item side features.
    Y : DataFrame of shape (n_events, n_tasks)
        One float column per task, NaN where unlabelled.
    truth : Bunch
        Only with ``return_truth``: ``user_factors``, ``item_factors``
        (the shared factors), ``affinity`` (n_events, n_tasks),
        ``task_correlation`` (the empirical correlation of the affinities),
        ``task_kinds`` and ``expected`` (E[y_t|x] per row and task before
        masking).

    Examples
    --------
    >>> X, Y = make_multitask_recsys(n_users=50, n_items=40, n_events=500,
    ...                              random_state=0)
    >>> X.shape[0], list(Y.columns)
    (500, ['rating', 'click', 'like'])
    """
    rng = check_random_state(random_state)
    _check_sizes(n_users, n_items, n_events, rank, task_correlation, n_side_features)
    task_kinds = _resolve_tasks(tasks)
    names = list(task_kinds)
    n_tasks = len(names)
    rates = _resolve_missing(missing_rate, names)

    scale = 1.0 / np.sqrt(rank)
    user_factors = rng.normal(scale=1.0, size=(n_users, rank))
    item_factors = rng.normal(scale=1.0, size=(n_items, rank))
    user_private = rng.normal(size=(n_tasks, n_users, rank))
    item_private = rng.normal(size=(n_tasks, n_items, rank))
    user_bias = rng.normal(scale=0.3, size=n_users)
    item_bias = rng.normal(scale=0.3, size=n_items)

    users, items, timestamp = _draw_events(
        rng, user_factors, item_factors, n_events, selection_strength, scale
    )

    shared = _pair_dots(user_factors, users, item_factors, items) * scale
    affinity = np.empty((n_events, n_tasks))
    for t in range(n_tasks):
        private = _pair_dots(user_private[t], users, item_private[t], items) * scale
        s = np.sqrt(task_correlation) * shared + np.sqrt(1 - task_correlation) * private
        s = s + user_bias[users] + item_bias[items]
        affinity[:, t] = (s - s.mean()) / s.std()

    Y, expected = _draw_labels(rng, affinity, task_kinds, noise, rates)

    X = _event_frame(rng, user_factors, item_factors, users, items, timestamp,
                     n_side_features, rank, scale)  # fmt: skip
    Y = pd.DataFrame(Y, columns=names)
    if not return_truth:
        return X, Y
    truth = Bunch(
        user_factors=user_factors,
        item_factors=item_factors,
        affinity=affinity,
        task_correlation=np.corrcoef(affinity, rowvar=False),
        task_kinds=dict(task_kinds),
        expected=expected,
    )
    return X, Y, truth


def _pair_dots(left, i, right, j):
    """``<left[i_n], right[j_n]>`` for every event n, in chunks of events."""
    out = np.empty(i.size)
    for start in range(0, i.size, _EVENT_CHUNK):
        part = slice(start, start + _EVENT_CHUNK)
        out[part] = np.einsum("nr,nr->n", left[i[part]], right[j[part]])
    return out


def _check_sizes(n_users, n_items, n_events, rank, task_correlation, n_side_features):
    """Refuse sizes that are not positive ints and out-of-range parameters."""
    for name, value in (
        ("n_users", n_users),
        ("n_items", n_items),
        ("n_events", n_events),
        ("rank", rank),
    ):
        if not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}.")
    if not 0 <= task_correlation <= 1:
        raise ValueError(f"task_correlation must be in [0, 1]; got {task_correlation}.")
    if n_side_features < 0:
        raise ValueError(f"n_side_features must be >= 0; got {n_side_features}.")


def _draw_events(rng, user_factors, item_factors, n_events, selection_strength, scale):
    """Draw who touches which item, and when (sorted timestamps)."""
    n_users, n_items = user_factors.shape[0], item_factors.shape[0]
    activity = rng.lognormal(sigma=1.0, size=n_users)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity = popularity[rng.permutation(n_items)]
    users = rng.choice(n_users, size=n_events, p=activity / activity.sum())
    # Exposure is preference-driven: each event picks, among a few popular
    # candidates, the one with the highest shared affinity plus Gumbel noise,
    # so *which* items a user touches carries the signal implicit-feedback
    # embeddings (ALS) learn from.
    n_candidates = 8
    candidates = rng.choice(
        n_items, size=(n_events, n_candidates), p=popularity / popularity.sum()
    )
    # in chunks of events: the candidates' factors are (events, 8, rank); the
    # Gumbel draws are consecutive, so the data are the same for any chunk
    items = np.empty(n_events, dtype=candidates.dtype)
    for start in range(0, n_events, _EVENT_CHUNK):
        stop = min(start + _EVENT_CHUNK, n_events)
        chunk = candidates[start:stop]
        pull = np.einsum("nr,ncr->nc", user_factors[users[start:stop]],
                         item_factors[chunk])  # fmt: skip
        pull = selection_strength * pull * scale + rng.gumbel(size=pull.shape)
        items[start:stop] = chunk[np.arange(stop - start), np.argmax(pull, axis=1)]
    del candidates
    timestamp = np.sort(
        rng.randint(1_600_000_000, 1_600_000_000 + 100 * 86400, size=n_events)
    )
    return users, items, timestamp


def _draw_labels(rng, affinity, task_kinds, noise, rates):
    """Draw each task's labels from its affinity; return (Y, expected)."""
    n_events, n_tasks = affinity.shape
    names = list(task_kinds)
    Y = np.empty((n_events, n_tasks))
    expected = np.empty((n_events, n_tasks))
    for t, name in enumerate(names):
        s = affinity[:, t]
        eps = rng.normal(scale=noise, size=n_events)
        kind = task_kinds[name]
        if kind == "regression":
            Y[:, t] = np.clip(np.round(3 + 1.2 * s + eps), 1, 5)
            expected[:, t] = np.clip(3 + 1.2 * s, 1, 5)
        elif kind == "binary":
            p = 1.0 / (1.0 + np.exp(-(1.5 * s - 1.0 + eps)))
            Y[:, t] = (rng.uniform(size=n_events) < p).astype(float)
            expected[:, t] = 1.0 / (1.0 + np.exp(-(1.5 * s - 1.0)))
        else:
            z = s + eps
            Y[:, t] = np.searchsorted(np.quantile(z, [0.5, 0.8, 0.95]), z)
            expected[:, t] = s
        missing = rng.uniform(size=n_events) < rates[t]
        if missing.all():
            missing[rng.randint(n_events)] = False
        Y[missing, t] = np.nan
    return Y, expected


def _event_frame(rng, user_factors, item_factors, users, items, timestamp,
                 n_side_features, rank, scale):  # fmt: skip
    """Build the events' X: ids, time, side features and categories."""
    n_users, n_items = user_factors.shape[0], item_factors.shape[0]
    n_user_side = (n_side_features + 1) // 2
    n_item_side = n_side_features // 2
    proj_u = rng.normal(size=(rank, n_user_side))
    proj_i = rng.normal(size=(rank, n_item_side))
    user_side = user_factors @ proj_u * scale + rng.normal(
        scale=0.5, size=(n_users, n_user_side)
    )
    item_side = item_factors @ proj_i * scale + rng.normal(
        scale=0.5, size=(n_items, n_item_side)
    )
    n_segments = min(5, rank)
    user_segment = np.argmax(user_factors[:, :n_segments], axis=1)
    item_category = np.argmax(item_factors[:, :n_segments], axis=1)

    columns = {
        "user_id": users.astype(np.int64),
        "item_id": items.astype(np.int64),
        "timestamp": timestamp.astype(np.int64),
    }
    for k in range(n_user_side):
        columns[f"user_f{k}"] = user_side[users, k]
    columns["user_segment"] = pd.Categorical.from_codes(
        user_segment[users], categories=[f"seg{s}" for s in range(n_segments)]
    )
    for k in range(n_item_side):
        columns[f"item_f{k}"] = item_side[items, k]
    columns["item_category"] = pd.Categorical.from_codes(
        item_category[items], categories=[f"cat{s}" for s in range(n_segments)]
    )
    X = pd.DataFrame(columns)
    return X
