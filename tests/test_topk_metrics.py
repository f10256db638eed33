"""evaluate_recommendations against a hand computation on three users."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from mtlclassic.metrics import evaluate_recommendations, make_topk_scorer

L2, L3, L4 = 1 / np.log2(2), 1 / np.log2(3), 1 / np.log2(4)


@pytest.fixture
def example():
    # user 1: list a, b, c; relevant b (gain 2) and z (not listed, gain 1)
    # user 2: list d, e; relevant d (gain 1)
    # user 3: no list; relevant a (gain 1)
    # user 4: a list, but no relevant test event: not evaluated
    recs = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 2, 2, 4],
            "item_id": ["c", "a", "b", "d", "e", "a"],
            "rank": [3, 1, 2, 1, 2, 1],
        }
    )
    test = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 2, 3, 4],
            "item_id": ["b", "z", "c", "d", "a", "q"],
            "liked": [2.0, 1.0, 0.0, 1.0, 1.0, 0.0],
        }
    )
    train = pd.DataFrame(
        {"user_id": [1, 2, 3, 3, 5], "item_id": ["x", "a", "a", "b", "c"]}
    )
    return recs, test, train


def test_graded_relevance_by_hand(example):
    recs, test, train = example
    report, per_user = evaluate_recommendations(
        recs, test, k=3, relevance="liked", train_events=train, return_per_user=True
    )
    # user 1: DCG = 2/log2(3); IDCG = 2/log2(2) + 1/log2(3)
    ndcg1 = (2 * L3) / (2 * L2 + 1 * L3)
    assert_allclose(per_user.loc[1, "ndcg"], ndcg1)
    assert_allclose(per_user.loc[2, "ndcg"], 1.0)
    assert_allclose(per_user.loc[3, "ndcg"], 0.0)  # relevant, but no list
    assert 4 not in per_user.index
    assert report["n_users"] == 3
    assert_allclose(report["ndcg@3"], (ndcg1 + 1 + 0) / 3)
    # recall: user 1 one of two relevant (z is missing from the list)
    assert_allclose(report["recall@3"], (1 / 2 + 1 + 0) / 3)
    assert_allclose(report["precision@3"], (1 / 3 + 1 / 3 + 0) / 3)
    # MAP: user 1 precision@2 = 1/2 over min(3, 2); user 2 precision@1 = 1
    assert_allclose(report["map@3"], ((1 / 2) / 2 + 1 + 0) / 3)
    assert_allclose(report["mrr@3"], (1 / 2 + 1 + 0) / 3)
    assert_allclose(report["hit_rate@3"], 2 / 3)
    # coverage: a, b, c of the catalogue (train items x, a, b, c) are listed
    assert_allclose(report["coverage@3"], 3 / 4)
    # novelty: 4 train users; a: 2 users, b, c: 1, d, e: 0 -> 1
    info = {"a": -np.log2(2 / 4), "b": 2.0, "c": 2.0, "d": 2.0, "e": 2.0}
    per = [np.mean([info[i] for i in "abc"]), np.mean([info[i] for i in "de"]),
           info["a"]]  # fmt: skip
    assert_allclose(report["novelty@3"], np.mean(per))


def test_binary_relevance_and_a_cut_below_the_list(example):
    recs, test, _ = example
    report = evaluate_recommendations(recs, test, k=1)  # every test event relevant
    # user 1: a at 1 not relevant; user 2: d relevant; user 3: nothing; user 4: q
    assert report["n_users"] == 4
    assert_allclose(report["ndcg@1"], (0 + 1 + 0 + 0) / 4)
    assert_allclose(report["recall@1"], (0 + 1 + 0 + 0) / 4)


def test_callable_relevance_and_scores_instead_of_ranks(example):
    recs, test, _ = example
    by_score = recs.assign(score=-recs["rank"]).drop(columns="rank")
    a = evaluate_recommendations(recs, test, k=3, relevance=lambda t: t.liked >= 1)
    b = evaluate_recommendations(by_score, test, k=3, relevance=lambda t: t.liked >= 1)
    assert a == pytest.approx(b, nan_ok=True)


def test_bad_inputs_name_the_problem(example):
    recs, test, _ = example
    with pytest.raises(ValueError, match="k must be a positive int"):
        evaluate_recommendations(recs, test, k=0)
    with pytest.raises(ValueError, match=r"test_events lacks the column\(s\) \['r'\]"):
        evaluate_recommendations(recs, test, relevance="r")
    with pytest.raises(ValueError, match=r"recommendations lacks.*'user_id'"):
        evaluate_recommendations(recs.drop(columns="user_id"), test)
    with pytest.raises(ValueError, match="gains must be finite and >= 0"):
        evaluate_recommendations(recs, test.assign(liked=-1.0), relevance="liked")


def test_topk_scorer_reads_the_relevance_from_the_folds_Y(example):
    recs, test, _ = example

    class Fixed:
        def recommend(self, user_ids, k=10):
            return recs[recs.user_id.isin(user_ids)]

    scorer = make_topk_scorer("ndcg", k=3, relevance="liked")
    X = test[["user_id", "item_id"]]
    Y = test[["liked"]]
    expected = evaluate_recommendations(recs, test, k=3, relevance="liked")["ndcg@3"]
    assert_allclose(scorer(Fixed(), X, Y), expected)
    with pytest.raises(ValueError, match="metric must be one of"):
        make_topk_scorer("auc")


def test_ids_of_two_kinds_are_refused_by_column():
    recs = pd.DataFrame({"user_id": [1, 1], "item_id": [10, 11], "rank": [1, 2]})
    test = pd.DataFrame({"user_id": ["1"], "item_id": ["10"]})
    with pytest.raises(ValueError, match="Column 'user_id' holds numbers in one"):
        evaluate_recommendations(recs, test, k=2)
    train = pd.DataFrame({"user_id": [1], "item_id": ["10"]})
    with pytest.raises(ValueError, match="Column 'item_id'"):
        evaluate_recommendations(recs, test.astype(int), k=2, train_events=train)
    # the same kind of ids: a hand-checked hit at rank 1 of 2
    report = evaluate_recommendations(recs, test.astype(int), k=2)
    assert report["recall@2"] == 1.0 and report["mrr@2"] == 1.0


def test_int_and_float_ids_beyond_2_to_the_53_are_refused_not_merged():
    """Users b and b+1 as float64 are one user: b+1 was scored with b's events."""
    b = 76561197960265728
    recs = pd.DataFrame({"user_id": [b, b + 1], "item_id": [11, 11], "rank": [1, 1]})
    as_float = pd.DataFrame({"user_id": [float(b)], "item_id": [11]})
    with pytest.raises(ValueError, match=r"'user_id' holds ints .* beyond 2\*\*53"):
        evaluate_recommendations(recs, as_float, k=1)
    report = evaluate_recommendations(recs, as_float.astype({"user_id": "Int64"}), k=1)
    assert report["n_users"] == 1 and report["recall@1"] == 1.0
    # small ids: floats and ints compare exactly, as before
    small = evaluate_recommendations(recs.assign(user_id=[1, 2]),
                                     as_float.assign(user_id=1.0), k=1)  # fmt: skip
    assert small["n_users"] == 1 and small["recall@1"] == 1.0


def test_tied_scores_at_the_cut_off_do_not_depend_on_row_order():
    """The tied item that made the top-2 was the one listed first."""
    recs = pd.DataFrame({"user_id": [1, 1, 1], "item_id": [10, 12, 11],
                         "score": [0.9, 0.5, 0.5]})  # fmt: skip
    test = pd.DataFrame({"user_id": [1], "item_id": [12]})
    got = [evaluate_recommendations(r, test, k=2)["recall@2"]
           for r in (recs, recs.iloc[::-1], recs.iloc[[1, 0, 2]])]  # fmt: skip
    assert got == [0.0, 0.0, 0.0]  # item 11 wins the tie (by id) in every order
    hit = evaluate_recommendations(recs, test.assign(item_id=11), k=2)
    assert hit["recall@2"] == 1.0 and hit["mrr@2"] == 0.5  # hand-checked


def test_users_with_relevant_events_but_no_list_are_counted_and_warned():
    # the demo scored 300 users' lists against 888 users' test clicks: the
    # others counted as 0, silently, and every figure was 300 / 888 of its own
    import warnings

    recs = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 10, 12],
                         "rank": [1, 2, 1, 2]})  # fmt: skip
    test = pd.DataFrame({"user_id": [1, 2, 3], "item_id": [11, 12, 13]})
    with pytest.warns(UserWarning, match=r"1 of 3 users .* have no list .*e\.g\. 3"):
        wide = evaluate_recommendations(recs, test, k=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        narrow = evaluate_recommendations(recs, test[test.user_id < 3], k=2)
    assert wide["n_users"] == 3 and narrow["n_users"] == 2
    assert wide["ndcg@2"] == pytest.approx(narrow["ndcg@2"] * 2 / 3)
