"""sample_negatives: never an observed pair, the sampling distribution recorded."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from mtlclassic.candidates import EASE, sample_negatives


@pytest.fixture(scope="module")
def events():
    rng = np.random.RandomState(0)
    rows = []
    for u in range(30):
        for i in rng.choice(40, size=rng.randint(3, 12), replace=False, p=None):
            rows.append((u, int(i), float(rng.rand())))
    X = pd.DataFrame(rows, columns=["user_id", "item_id", "side"])
    Y = pd.DataFrame({"rating": rng.randint(1, 6, len(X)).astype(float)})
    return X, Y


def test_no_sampled_pair_is_an_event_and_labels_are_set(events):
    X, Y = events
    ease = EASE(5.0).fit(X)
    X2, Y2, info = sample_negatives(
        X, Y, n_negatives=3, generator=ease, n_candidates=10, random_state=0
    )
    n = len(X)
    assert (X2.iloc[:n].to_numpy() == X.to_numpy()).all()
    sampled = X2.iloc[n:]
    assert len(sampled) == 3 * n
    observed = set(zip(X.user_id, X.item_id))
    assert not any(p in observed for p in zip(sampled.user_id, sampled.item_id))
    assert (Y2["chosen"].iloc[:n] == 1).all() and (Y2["chosen"].iloc[n:] == 0).all()
    assert Y2["rating"].iloc[n:].isna().all()
    assert_allclose(Y2["rating"].iloc[:n], Y["rating"])
    # hard negatives come from the generator's pool of the user
    pools = ease.recommend(X.user_id.unique(), n=10)
    pool = set(zip(pools.user_id, pools.item_id))
    hard = info.kind.iloc[n:].to_numpy() == "hard"
    assert all(p in pool for p in zip(sampled.user_id[hard], sampled.item_id[hard]))
    assert 0.4 < hard.mean() < 0.6  # hard_fraction=0.5
    # a sampled row copies its source event (the user's other columns)
    source_sides = set(zip(X.user_id, X.side))
    assert all(p in source_sides for p in zip(sampled.user_id, sampled.side))


def test_log_q_is_the_popularity_distribution_over_unseen_items_by_hand():
    X = pd.DataFrame({"user_id": [1, 2, 2, 3, 3, 3], "item_id": [7, 7, 8, 7, 8, 9]})
    # item events: 7: 3, 8: 2, 9: 1; power 1 -> weights 3, 2, 1
    X2, _, info = sample_negatives(
        X, n_negatives=200, hard_fraction=0.0, popularity_power=1.0, random_state=1
    )
    sampled = X2.iloc[len(X) :].assign(q=np.exp(info.log_q.iloc[len(X) :]))
    user1 = sampled[sampled.user_id == 1]
    # user 1 saw item 7: q(8) = 2 / 3, q(9) = 1 / 3
    assert_allclose(user1.groupby("item_id").q.first(), [2 / 3, 1 / 3])
    freq = user1.item_id.value_counts(normalize=True).sort_index()
    assert abs(freq.loc[8] - 2 / 3) < 0.05  # 200 draws: 0.05 is > 4 s.e.
    # user 2 saw 7 and 8: only 9 is left, with probability 1
    assert (sampled[sampled.user_id == 2].item_id == 9).all()
    assert_allclose(sampled[sampled.user_id == 2].q, 1.0)
    # user 3 saw every item: no negative, not a seen pair
    assert (sampled.user_id != 3).all()


def test_item_side_columns_follow_the_sampled_item():
    X = pd.DataFrame({"user_id": [1, 2], "item_id": ["a", "b"], "genre": ["x", "y"]})
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "genre": ["x", "y", "z"]})
    X2, _, _ = sample_negatives(X, items=items, n_negatives=5, random_state=0)
    sampled = X2.iloc[2:]
    assert (sampled.genre == sampled.item_id.map({"a": "x", "b": "y", "c": "z"})).all()


def test_bad_input_is_refused_by_name(events):
    X, Y = events
    with pytest.raises(ValueError, match="n_negatives must be a positive int"):
        sample_negatives(X, n_negatives=0)
    with pytest.raises(ValueError, match="already has a column 'rating'"):
        sample_negatives(X, Y, task="rating")
    with pytest.raises(ValueError, match="missing id"):
        sample_negatives(X.assign(user_id=[np.nan] + X.user_id.tolist()[1:]))


def test_a_generator_fitted_on_other_events_never_gives_an_observed_pair():
    from mtlclassic import make_multitask_recsys

    X, Y = make_multitask_recsys(n_users=60, n_items=40, n_events=1500, random_state=0)
    older = EASE(30.0).fit(X.iloc[:1000])  # the older events only
    X2, _, info = sample_negatives(X, Y, n_negatives=2, generator=older, random_state=0)
    sampled = X2.iloc[len(X) :]
    observed = set(zip(X.user_id, X.item_id))
    assert not any(p in observed for p in zip(sampled.user_id, sampled.item_id))
    assert (info.kind.iloc[len(X) :] == "hard").any()  # the pools were used


def test_catalogue_ids_of_another_type_are_the_events_items():
    X = pd.DataFrame({"user_id": [1, 2], "item_id": [11, 10]})
    items = pd.DataFrame({"item_id": ["10", "11", "12", "13"]})
    X2, _, _ = sample_negatives(X, n_negatives=3, items=items, random_state=0)
    assert X2.item_id.map(type).eq(int).all()  # one id type: the events'
    sampled = X2.iloc[2:]
    assert not any(
        p in {(1, 11), (2, 10)} for p in zip(sampled.user_id, sampled.item_id)
    )
    assert set(sampled.item_id) <= {10, 11, 12, 13}
