"""Workloads shared by the benchmark scripts (seeded, built in seconds)."""

import numpy as np
import pandas as pd


def implicit_events(n_users, n_items, n_events, *, random_state=0):
    """An events table with skewed user activity and Zipf-like item popularity.

    Returns a DataFrame with int64 ``user_id`` (non-contiguous: multiples of
    3), ``item_id`` and a float ``hour`` side column, in random row order.
    Fast enough for millions of rows (the generator of ``mtlclassic.datasets``
    also draws labels and side features, which an embedding benchmark does not
    need).
    """
    rng = np.random.default_rng(random_state)
    activity = rng.lognormal(sigma=1.0, size=n_users)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    users = rng.choice(n_users, size=n_events, p=activity / activity.sum())
    items = rng.choice(n_items, size=n_events, p=popularity / popularity.sum())
    return pd.DataFrame(
        {
            "user_id": users.astype(np.int64) * 3,
            "item_id": rng.permutation(n_items)[items].astype(np.int64),
            "hour": rng.uniform(0, 24, size=n_events),
        }
    )


def recsys_time_split(
    n_users,
    n_items,
    n_events,
    *,
    task_correlation=0.7,
    missing_rate=None,
    test_fraction=0.2,
    random_state=0,
):
    """``make_multitask_recsys`` data split by time: the last events are the test.

    Returns ``(X_train, Y_train, X_test, Y_test)``; ``timestamp`` is dropped
    from X (it only orders the events).
    """
    from mtlclassic import make_multitask_recsys

    X, Y = make_multitask_recsys(
        n_users,
        n_items,
        n_events,
        task_correlation=task_correlation,
        missing_rate=missing_rate,
        random_state=random_state,
    )
    cut = int(round((1 - test_fraction) * len(X)))  # X is sorted by timestamp
    X = X.drop(columns=["timestamp"])
    return X.iloc[:cut], Y.iloc[:cut], X.iloc[cut:], Y.iloc[cut:]


def movielens_by_time(path, n_ratings):
    """The first ``n_ratings`` MovieLens ratings in time order, or None if absent."""
    from mtlclassic.datasets import load_movielens

    if not (path / "ratings.dat").is_file():
        return None
    X, Y = load_movielens(path)
    order = np.argsort(X["timestamp"].to_numpy(), kind="stable")[:n_ratings]
    X, Y = X.iloc[order].reset_index(drop=True), Y.iloc[order].reset_index(drop=True)
    return X.drop(columns=[c for c in X.columns if X[c].isna().all()]), Y


def task_summary(Y, P):
    """One line: RMSE of each regression task, ROC AUC of each binary one."""
    from mtlclassic.metrics import multitask_report

    cells = []
    for task, row in multitask_report(Y, P).iterrows():
        metric = "rmse" if row["kind"] == "regression" else "roc_auc"
        cells.append(f"{task} {metric} {row[metric]:.4f}")
    return ", ".join(cells)
