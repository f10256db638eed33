"""Choosing a generator's setting on the events it is fitted on.

EASE's ``regularization="auto"`` and the two-stage union's ALS settings are
chosen the same way: each user's newest 20% of the events (a seeded random
20% without times) is held out, each setting is fitted on the rest, and its
top-10 for the held-out users is scored by NDCG@10 on their held-out events.
"""

import numpy as np
import pandas as pd

from ..metrics import evaluate_recommendations
from ..model_selection._split import user_holdout


class NewestHoldout:
    """The hold-out of each user's newest 20%: ``keep`` rows and a scorer.

    Parameters
    ----------
    users, items : ndarray of shape (n,)
        The events' ids.
    times : ndarray of shape (n,) or None
        Their times (float64 on one axis), or None for a seeded random share.
    """

    def __init__(self, users, items, times):
        held = user_holdout(users, times, 0.2, 0)
        self.keep = np.flatnonzero(~held)
        test = np.flatnonzero(held)
        self.test_events = pd.DataFrame(
            {"user_id": users[test], "item_id": items[test]}
        )
        self.users = pd.unique(users[test])

    def ndcg(self, fitted):
        """NDCG@10 of ``fitted.recommend(users, 10)`` on the held-out events."""
        recs = fitted.recommend(self.users, 10)
        recs = recs.set_axis(["user_id", "item_id", *recs.columns[2:]], axis=1)
        return evaluate_recommendations(recs, self.test_events, 10)["ndcg@10"]
