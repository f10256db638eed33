"""Small built-in data, a fast default pipeline, and rows that exercise every
cold-start and missing-value rule of a fitted model (the compiled and ONNX tests).
"""

import numpy as np

from mtlclassic import make_multitask_recsys

PARAMS = dict(n_estimators=20, fm_n_iter=10, factors=4, iterations=3, cv=2,
              random_state=0, n_jobs=1)  # fmt: skip


def small_events():
    """Return ``(X, Y)``: 1,500 events of 60 users and 40 items."""
    return make_multitask_recsys(n_users=60, n_items=40, n_events=1500, random_state=3)


def awkward_rows(X):
    """Unseen users and items, missing and out-of-range side values, categories
    in another order (the first 300 events of the built-in data ``X``).
    """
    rows = X.iloc[:300].copy()
    rows.loc[rows.index[:40], "user_id"] = 10_000 + np.arange(40)
    rows.loc[rows.index[20:60], "item_id"] = 20_000 + np.arange(40)
    rows.loc[rows.index[::7], "user_f0"] = np.nan
    rows.loc[rows.index[::5], "item_f1"] = 1e6  # beyond the training range
    rows.loc[rows.index[3::11], "user_segment"] = np.nan
    cats = rows["item_category"].cat.categories
    rows["item_category"] = rows["item_category"].cat.reorder_categories(cats[::-1])
    return rows
