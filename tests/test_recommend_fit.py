"""Recommender.fit: the two-stage recommender, with oracles for what it learns from."""

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

import mtlclassic
from mtlclassic import (
    MultiTaskLGBM,
    Recommender,
    make_multitask_recommender,
    make_multitask_recsys,
)
from mtlclassic.candidates import EASE, CandidateUnion, Popularity
from mtlclassic.metrics import evaluate_recommendations, make_topk_scorer
from mtlclassic.model_selection import UserTemporalSplit
from mtlclassic.recommend import _recommender as recommender_module
from mtlclassic.recommend._ranker import base_scores, label_cut, relevance_labels
from tests._catalogue import catalogues

SMALL_MODEL = dict(
    n_estimators=20, fm_n_iter=5, factors=4, iterations=3, cv=2, random_state=0,
    n_jobs=1,
)  # fmt: skip


@pytest.fixture(scope="module")
def data():
    X, Y = make_multitask_recsys(n_users=80, n_items=50, n_events=3000, random_state=0)
    items, users = catalogues(X)
    return X, Y, items, users


def _rec(data, **kwargs):
    _, _, items, users = data
    kwargs.setdefault("random_state", 0)
    kwargs.setdefault("n_jobs", 1)
    return Recommender(
        make_multitask_recommender(**SMALL_MODEL), items, users=users, **kwargs
    )


@pytest.fixture(scope="module")
def fitted(data):
    X, Y, _, _ = data
    captured = {}
    real = recommender_module.relevance_labels

    def spy(cands, X_label, *args, **kwargs):
        grades = real(cands, X_label, *args, **kwargs)
        captured["cands"], captured["grades"] = cands.copy(), grades
        return grades

    recommender_module.relevance_labels = spy
    try:
        rec = _rec(data).fit(X, Y)
    finally:
        recommender_module.relevance_labels = real
    return rec, captured


def test_label_cut_is_user_temporal_split_with_a_fraction(data):
    X, *_ = data
    label = label_cut(
        X["user_id"].to_numpy(), X["timestamp"].to_numpy(dtype=float), 0.2, 0
    )
    _, test = next(UserTemporalSplit(test_size=0.2).split(X))
    assert set(np.flatnonzero(label)) == set(test)


def test_the_model_and_generators_learn_only_history_and_labels_only_future(
    data, fitted
):
    X, Y, _, _ = data
    rec, captured = fitted
    train, test = next(UserTemporalSplit(test_size=0.2).split(X))
    history = set(zip(X.user_id.iloc[train], X.item_id.iloc[train]))
    future = X.iloc[test]
    # the multi-task model was fitted on the history only
    als = rec.model_.named_steps["alsembedder"]
    assert set(zip(*als.seen_pairs())) == history
    # every positive training label is a label-period event, none a history one
    cands, grades = captured["cands"], captured["grades"]
    positives = set(zip(cands.user_id[grades > 0], cands.item_id[grades > 0]))
    assert positives and positives <= set(zip(future.user_id, future.item_id))
    assert not positives & history
    # the grade is 1 + the event's binary labels (click, like)
    Yf = Y.iloc[test]
    grade = 1 + (Yf["click"] > 0).astype(int) + (Yf["like"] > 0).astype(int)
    best = grade.groupby([future.user_id.to_numpy(), future.item_id.to_numpy()]).max()
    for u, i, g in zip(cands.user_id, cands.item_id, grades):
        if g:
            assert g == best.loc[(u, i)]
    # serving: the generators know every event
    assert len(rec.generators_.generators_[0][1].user_items_.nonzero()[0]) == len(
        X.drop_duplicates(["user_id", "item_id"])
    )


def test_future_only_items_give_the_ranker_nothing_to_learn(data):
    """A leak test: label events on items the history never saw cannot be labels
    of candidates generated from the history, so fit refuses (were history
    events used as labels, it would find positives)."""
    X, Y, items, users = data
    X = X.copy()
    _, test = next(UserTemporalSplit(test_size=0.2).split(X))
    future_items = 1000 + np.arange(test.size)
    X.loc[X.index[test], "item_id"] = future_items
    items = pd.concat(
        [items, items.iloc[np.zeros(test.size, int)].assign(item_id=future_items)]
    )
    rec = Recommender(
        make_multitask_recommender(**SMALL_MODEL), items, users=users,
        generators=[("ease", EASE(10.0))], random_state=0, n_jobs=1,
    )  # fmt: skip
    with pytest.raises(ValueError, match="No label event is among"):
        rec.fit(X, Y)


def test_relevance_labels_by_hand():
    cands = pd.DataFrame({"user_id": [1, 1, 1, 2], "item_id": [10, 11, 12, 10]})
    X_label = pd.DataFrame({"user_id": [1, 1, 2, 1], "item_id": [11, 12, 9, 11]})
    Y_label = pd.DataFrame({"rating": [5.0, 2.0, 4.0, 3.0], "liked": [1, 0, 1, np.nan]})
    tasks = {"rating": "regression", "liked": "binary"}
    grades = relevance_labels(
        cands, X_label, Y_label, "user_id", "item_id", tasks, None
    )
    assert grades.tolist() == [0, 2, 1, 0]  # 11: liked once (max of 2 and 1)
    custom = relevance_labels(
        cands, X_label, Y_label, "user_id", "item_id", tasks,
        lambda X, Y: Y["rating"] >= 3,
    )  # fmt: skip
    assert custom.tolist() == [0, 1, 0, 0]
    # a fractional grade is refused (it was rounded: 0.4 -> 0, nothing chosen)
    with pytest.raises(ValueError, match="relevance grades must be ints"):
        relevance_labels(
            cands, X_label, Y_label, "user_id", "item_id", tasks,
            lambda X, Y: np.full(len(X), 0.4),
        )  # fmt: skip


def test_base_scores_rank_each_user_apart():
    # users interleaved, a tie (broken by position) and a missing score (last)
    cands = pd.DataFrame({"user_id": [7, 3, 7, 3, 7, 3, 7],
                          "s": [1.0, 9.0, 3.0, 8.0, 3.0, np.nan, 2.0]})  # fmt: skip
    ranks = [4, 1, 1, 2, 2, 3, 3]
    assert_allclose(base_scores(cands, "s", "user_id"), -np.log2(ranks))
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "u": rng.choice(["a", "b", "c", "d"], size=500),
        "s": np.where(rng.random(500) < 0.1, np.nan, rng.integers(0, 20, 500)),
    })  # fmt: skip
    oracle = frame.groupby("u")["s"].rank(
        method="first", ascending=False, na_option="bottom"
    )
    assert_allclose(base_scores(frame, "s", "u"), -np.log2(oracle.to_numpy()))


def test_a_users_list_does_not_depend_on_the_other_users_asked_for(data, fitted):
    X, _, _, _ = data
    rec, _ = fitted
    users = X.user_id.unique()[:6].tolist()
    together = rec.recommend(users + [123456, 654321], k=5)
    for user in users + [654321]:
        alone = rec.recommend([user], k=5).reset_index(drop=True)
        part = together[together.user_id == user].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, alone)
    # a new user: -log2 of the popularity rank, whoever else is asked for
    cold = together[together.user_id == 654321]["score"].to_numpy()
    assert_allclose(cold, -np.log2(np.arange(1, 6)))


def test_score_pairs_scores_each_pair_alone_as_in_a_batch(data, fitted):
    X, _, items, _ = data
    rec, _ = fitted
    user = X.user_id.iloc[0]
    listed = rec.recommend([user], k=len(items), exclude_seen=False)
    # proposed and seen pairs, and a new user's pairs (popularity ranks)
    chosen = listed.item_id.iloc[[0, 3, -1, -2, len(listed) // 2]].tolist()
    pairs = pd.DataFrame({"user_id": [user] * 5 + [424242] * 3,
                          "item_id": chosen + chosen[:3]})  # fmt: skip
    together = rec.score_pairs(pairs)
    alone = pd.concat([rec.score_pairs(pairs.iloc[[i]]) for i in range(len(pairs))])
    assert_allclose(together["score"], alone["score"], rtol=1e-12)
    # a new user's pair: -log2 of the item's rank in the popularity list
    popular = rec.recommend([424242], k=len(items)).set_index("item_id")["score"]
    assert_allclose(
        together["score"].iloc[5:], popular.reindex(chosen[:3]).to_numpy(), rtol=1e-12
    )


def test_a_new_users_pair_with_an_item_without_events_ranks_after_the_list(data):
    X, Y, items, users = data
    extra = items.iloc[[0]].assign(item_id=999_999)  # in the catalogue, no event
    rec = Recommender(
        make_multitask_recommender(**SMALL_MODEL),
        pd.concat([items, extra], ignore_index=True), users=users, random_state=0,
        n_jobs=1,
    ).fit(X, Y)  # fmt: skip
    proposed = len(rec.generators_.recommend([424242]))  # the popularity list
    listed = rec.recommend([424242], k=len(items) + 1)
    assert 999_999 not in set(listed.item_id[:proposed])
    assert listed.item_id.iloc[-1] == 999_999  # no event: last of the completion
    pairs = pd.DataFrame({"user_id": [424242, 424242],
                          "item_id": [999_999, listed.item_id.iloc[0]]})  # fmt: skip
    got = rec.score_pairs(pairs)["score"].to_numpy()
    assert_allclose(got, [-np.log2(proposed + 1), 0.0])
    assert_allclose(listed.score.iloc[-1], got[0])


def test_a_list_with_seen_items_keeps_the_unseen_ones_in_order(data, fitted):
    X, _, items, _ = data
    rec, _ = fitted
    user = X.user_id.iloc[0]
    unseen = rec.recommend([user], k=len(items))
    every = rec.recommend([user], k=len(items), exclude_seen=False)
    seen = set(X.loc[X.user_id == user, "item_id"])
    assert seen & set(every.item_id)  # the seen items are listed too
    kept = every[~every.item_id.isin(seen)].reset_index(drop=True)
    assert kept.item_id.tolist() == unseen.item_id.tolist()
    assert_allclose(kept["score"], unseen["score"], rtol=1e-12)
    again = rec.score_pairs(every[["user_id", "item_id"]])
    assert_allclose(again["score"], every["score"], rtol=1e-12)


def test_score_pairs_equals_recommend_when_the_catalogue_lacks_proposed_items(data):
    X, Y, items, users = data
    popular = X.item_id.value_counts().index[:4]
    rec = Recommender(
        make_multitask_recommender(**SMALL_MODEL), items[~items.item_id.isin(popular)],
        users=users, random_state=0, n_jobs=1,
    ).fit(X, Y)  # fmt: skip
    top = rec.recommend(X.user_id.unique()[:5], k=5)
    assert not top.item_id.isin(popular).any()
    again = rec.score_pairs(top[["user_id", "item_id"]])
    assert_allclose(again["score"], top["score"], rtol=1e-12)


def test_repeated_candidate_pairs_are_refused(data, fitted):
    X, _, _, _ = data
    rec, _ = fitted
    user, item = X.user_id.iloc[0], X.item_id.iloc[0]
    frame = pd.DataFrame({"user_id": [user, user], "item_id": [item, item]})
    with pytest.raises(ValueError, match=r"1 repeated \(user, item\) pair"):
        rec.recommend([user], k=2, candidates=frame)


def test_the_ranker_is_lambdarank_grouped_by_user_as_lgb_train(data, monkeypatch):
    X, Y, _, _ = data
    seen = {}
    real_fit = MultiTaskLGBM.fit

    def capture(self, X_, y_, **kwargs):
        if "__user__" in X_.columns:
            seen["X"], seen["y"] = X_.copy(), y_.copy()
        return real_fit(self, X_, y_, **kwargs)

    monkeypatch.setattr(MultiTaskLGBM, "fit", capture)
    head = MultiTaskLGBM(n_estimators=15, num_leaves=7, min_child_samples=5,
                         random_state=0, n_jobs=1)  # fmt: skip
    rec = _rec(data, ranker=head).fit(X, Y)
    frame, grades = seen["X"], seen["y"]["relevance"].to_numpy()
    order = np.argsort(frame["__user__"].to_numpy(), kind="stable")
    features = frame.drop(columns="__user__").iloc[order]
    groups = np.bincount(frame["__user__"].to_numpy())
    params = dict(objective="lambdarank", num_leaves=7, min_data_in_leaf=5,
                  learning_rate=0.05, seed=0, deterministic=True, num_threads=1,
                  verbose=-1)  # fmt: skip
    booster = lgb.train(
        params, lgb.Dataset(features, grades[order], group=groups[groups > 0]),
        num_boost_round=15,
    )  # fmt: skip
    assert_allclose(
        rec.ranker_.predict(frame).ravel()[order], booster.predict(features),
        rtol=1e-9, atol=1e-9,
    )  # fmt: skip


def test_recommend_excludes_seen_and_new_users_get_popularity(data, fitted):
    X, Y, _, _ = data
    rec, _ = fitted
    users = X.user_id.unique()[:10].tolist() + [123456]
    top = rec.recommend(users, k=5)
    assert top.groupby("user_id").size().tolist() == [5] * 11
    assert pd.unique(top.user_id).tolist() == users
    seen = set(zip(X.user_id, X.item_id))
    assert not any(p in seen for p in zip(top.user_id, top.item_id))
    expected = Popularity().fit(X).recommend([123456], n=5)
    assert top[top.user_id == 123456].item_id.tolist() == expected.item_id.tolist()
    # the task columns are the model's predictions of the listed pairs
    pairs = rec.score_pairs(top[["user_id", "item_id"]])
    assert_allclose(pairs["score"], top["score"], rtol=1e-12)
    assert_allclose(pairs["like"], top["like"], rtol=1e-12)


def test_fit_is_deterministic_and_round_trips_through_save(data, fitted, tmp_path):
    X, Y, _, _ = data
    rec, _ = fitted
    again = _rec(data).fit(X, Y)
    users = X.user_id.unique()[:20]
    a, b = rec.recommend(users, k=5), again.recommend(users, k=5)
    pd.testing.assert_frame_equal(a, b)
    mtlclassic.save(rec, tmp_path / "rec.mtlc")
    loaded = mtlclassic.load(tmp_path / "rec.mtlc")
    pd.testing.assert_frame_equal(loaded.recommend(users, k=5), a)


def test_without_ranker_the_tasks_are_fused_over_generator_candidates(data):
    X, Y, _, _ = data
    rec = _rec(data, ranker=None, fusion="weighted", weights={"like": 1.0}).fit(X, Y)
    top = rec.recommend([0, 1], k=4)
    assert (np.diff(top[top.user_id == 0]["like"].to_numpy()) <= 0).all()
    assert not hasattr(rec, "ranker_features_")
    assert rec.ranker_ is None


def test_clone_gridsearch_and_topk_scorer(data):
    X, Y, _, _ = data
    rec = _rec(data, ranker=None, fusion="weighted", weights={"like": 1.0})
    assert clone(rec).get_params()["ranker"] is None
    cv = UserTemporalSplit(test_size=0.2)
    search = GridSearchCV(
        rec, {"n_candidates": [5, 40]}, cv=cv,
        scoring=make_topk_scorer("ndcg", k=5), refit=False,
    )  # fmt: skip
    search.fit(X, Y)
    train, test = next(cv.split(X))
    fold = clone(rec).set_params(n_candidates=40).fit(
        X.iloc[train], Y.iloc[train]
    )  # fmt: skip
    recs = fold.recommend(X.iloc[test].user_id.unique(), k=5)
    expected = evaluate_recommendations(recs, X.iloc[test], k=5)["ndcg@5"]
    assert_allclose(search.cv_results_["mean_test_score"][1], expected, rtol=1e-12)
    with pytest.raises(ValueError, match="takes no sample_weight"):
        make_topk_scorer("ndcg", k=5)(fold, X.iloc[test], sample_weight=np.ones(3))


def test_bad_input_is_refused_by_name(data):
    X, Y, _, _ = data
    with pytest.raises(TypeError, match="X must be a DataFrame"):
        _rec(data).fit(X.to_numpy(), Y)
    with pytest.raises(ValueError, match=r"X lacks the id column\(s\) \['user_id'\]"):
        _rec(data).fit(X.drop(columns="user_id"), Y)
    with pytest.raises(ValueError, match="Y has 3 rows but X has"):
        _rec(data).fit(X, Y.iloc[:3])
    with pytest.raises(ValueError, match="ranker_fraction must be in"):
        _rec(data, ranker_fraction=1.5).fit(X, Y)
    with pytest.raises(ValueError, match=r"X\['user_id'\] has 1 missing id"):
        _rec(data).fit(X.assign(user_id=[np.nan] + X.user_id.tolist()[1:]), Y)
    with pytest.raises(Exception, match="not fitted"):
        _rec(data).recommend([0], k=2)


def test_selection_task_from_sampled_non_events(data):
    X, Y, items, users = data
    with pytest.raises(
        ValueError, match=r"\['ALSEmbedder'\] would count the sampled"
    ) as err:
        _rec(data, n_negatives=1).fit(X, Y)
    assert "ranker_fraction" not in str(err.value)  # not a history-rows failure
    fm_only = make_multitask_recommender(embedders=("fm",), **SMALL_MODEL)
    rec = Recommender(fm_only, items, users=users, n_negatives=2, random_state=0,
                      n_jobs=1).fit(X, Y)  # fmt: skip
    assert list(rec.tasks_) == ["rating", "click", "like", "chosen"]
    # P(chosen) ranks the users' held-out events above random unseen items
    _, test = next(UserTemporalSplit(test_size=0.2).split(X))
    future = X.iloc[test][["user_id", "item_id"]].drop_duplicates()
    rng = np.random.RandomState(0)
    other = future.assign(item_id=rng.choice(X.item_id.unique(), len(future)))
    seen = pd.MultiIndex.from_frame(X[["user_id", "item_id"]])
    other = other[~pd.MultiIndex.from_frame(other).isin(seen)]
    chosen = rec.score_pairs(future)["chosen"].mean()
    assert chosen > rec.score_pairs(other)["chosen"].mean()


def test_update_teaches_the_generators_new_users(data):
    X, Y, _, _ = data
    train = X[X.user_id != 5]
    rec = _rec(data).fit(train, Y.loc[train.index])
    new = X[X.user_id == 5]
    before = rec.recommend([5], k=5)
    expected = Popularity().fit(train).recommend([5], n=5).item_id.tolist()
    assert before.item_id.tolist() == expected  # a new user: popularity
    rec.update(new, Y.loc[new.index])
    after = rec.recommend([5], k=5)
    assert not set(after.item_id) & set(new.item_id)  # now seen
    # user 5 is known to the generators now: personal candidates, ranked
    known = rec.generators_.generators_[0][1].known_ids()
    assert 5 in set(next(iter(known.values())))


def test_an_update_with_times_of_another_kind_is_refused_before_anything_learns(data):
    """Fitted on datetimes, an update in unix milliseconds decayed every fitted
    event to nothing in the recency popularity; refused after EASE had learnt."""
    X, _, items, _ = data
    X = X.assign(timestamp=pd.to_datetime(X["timestamp"], unit="s", utc=True))
    train, new = X.iloc[:2800], X.iloc[2800:]
    rec = Recommender(None, items, random_state=0, n_jobs=1).fit(train)
    users = new.user_id.unique()[:5]
    before, seen = rec.recommend(users, k=5), rec.seen_
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    ms = new.assign(timestamp=(new.timestamp - epoch) // pd.Timedelta("1ms"))
    with pytest.raises(ValueError, match="holds numbers, but it held datetimes in fit"):
        rec.update(ms)
    pd.testing.assert_frame_equal(rec.recommend(users, k=5), before)
    assert rec.seen_.equals(seen)
    rec.update(new)  # the fitted kind: learnt
    assert not rec.recommend(users, k=5).equals(before)


def test_a_model_that_fails_on_the_history_events_says_so(data):
    """Labels only in the users' newest events: the history rows have one class."""
    X, Y, _, _ = data
    newest = X.groupby("user_id")["timestamp"].rank(ascending=False) <= 1
    Y = Y.assign(click=newest.astype(float))
    with pytest.raises(
        ValueError,
        match=r"history events \(the events before the "
        r"label cut.*ranker_fraction=0.2.*'click' has a single class",
    ):
        _rec(data).fit(X, Y)
    # the model's own bad settings are not blamed on the rows
    from mtlclassic._compat import InvalidParameterError

    bad = _rec(data).set_params(model__multitasklgbm__learning_rate=-1.0)
    with pytest.raises(InvalidParameterError, match="'learning_rate' parameter"):
        bad.fit(X, data[1])


def test_export_of_a_fitted_two_stage_recommender_is_refused_clearly(fitted):
    pytest.importorskip("onnx")
    from mtlclassic import to_onnx

    rec, _ = fitted
    with pytest.raises(ValueError, match=r"ranker_.*to_onnx\(recommender\.model_\)"):
        to_onnx(rec)
    assert to_onnx(rec.model_) is not None


@pytest.mark.parametrize("tz", [None, "UTC"])
def test_a_recommender_on_datetime_events_saves_and_loads(data, tmp_path, tz):
    X, Y, _, _ = data
    stamps = pd.to_datetime(X["timestamp"], unit="s")
    X = X.assign(timestamp=stamps if tz is None else stamps.dt.tz_localize(tz))
    rec = _rec(data).fit(X, Y)
    assert isinstance(rec._context["timestamp"], pd.Timestamp)
    loaded = mtlclassic.load(mtlclassic.save(rec, tmp_path / "rec.mtlc"))
    users = X.user_id.unique()[:10]
    pd.testing.assert_frame_equal(
        loaded.recommend(users, k=5), rec.recommend(users, k=5)
    )


def test_implicit_feedback_without_a_model(data, tmp_path):
    X, Y, items, users = data
    events = X[["user_id", "item_id", "timestamp"]]
    rec = Recommender(None, items, users=users, random_state=0, n_jobs=1).fit(events)
    assert rec.tasks_ == {} and rec.model_ is None
    top = rec.recommend([0, 1, 123456], k=4)
    assert list(top.columns) == ["user_id", "item_id", "rank", "score"]
    seen = set(zip(events.user_id, events.item_id))
    assert not any(p in seen for p in zip(top.user_id, top.item_id))
    new = top[top.user_id == 123456]
    assert (
        new.item_id.tolist()
        == Popularity().fit(events).recommend([123456], 4).item_id.tolist()
    )
    assert new.score.tolist() == [0.0, -1.0, -np.log2(3), -2.0]
    assert_allclose(rec.score_pairs(top[["user_id", "item_id"]])["score"], top["score"])
    loaded = mtlclassic.load(mtlclassic.save(rec, tmp_path / "r.mtlc"))
    pd.testing.assert_frame_equal(loaded.recommend([0, 1], k=4), top.iloc[:8])
    with pytest.raises(ValueError, match="model=None to rank from the events alone"):
        _rec(data).fit(X, None)
    with pytest.raises(ValueError, match="leave nothing to rank with"):
        Recommender(None, items, ranker=None).fit(events)


def test_an_events_only_recommender_learns_new_events_without_their_time(data):
    X, _, items, users = data
    events = X[["user_id", "item_id", "timestamp"]]
    new = pd.DataFrame({"user_id": [0, 424242], "item_id": [3, 4]})
    by_ids = Recommender(None, items, users=users, random_state=0, n_jobs=1)
    by_ids.fit(events).update(new)
    timed = Recommender(None, items, users=users, random_state=0, n_jobs=1)
    timed.fit(events).update(new.assign(timestamp=events.timestamp.max()))
    pd.testing.assert_frame_equal(  # the newest fitted time, as for a model
        by_ids.recommend([0, 424242], k=4), timed.recommend([0, 424242], k=4)
    )


def test_side_columns_the_tables_lack_come_from_the_events(data):
    """Fitted without a users table, the user columns the model reads are taken
    from X (each user's newest values): the same lists as with the table."""
    X, Y, items, users = data
    with_table = _rec(data).fit(X, Y)
    without = Recommender(
        make_multitask_recommender(**SMALL_MODEL), items, random_state=0, n_jobs=1
    ).fit(X, Y)
    assert {"user_f0", "user_f1", "user_segment"} <= set(without.users_.columns)
    ids = X.user_id.unique()[:8]
    pd.testing.assert_frame_equal(
        without.recommend(ids, k=5), with_table.recommend(ids, k=5)
    )


def test_the_default_union_chooses_its_als_settings_on_the_history(data):
    """One ALS setting does not fit every data set (Instacart: 16 factors and
    regularization 0.01 beat the fixed 32 / 0.1 by a quarter): it is chosen on
    the history by NDCG@10 on each user's newest 20%, as EASE's λ."""
    from mtlclassic import ALSEmbedder
    from mtlclassic.recommend._ranker import (
        ALS_GRID,
        default_generators,
        select_als,
    )

    X, _, items, _ = data
    template = default_generators(X, "user_id", "item_id", "timestamp", 50)
    chosen, scores = select_als(template, X, "timestamp")
    assert list(scores) == ALS_GRID
    # the oracle: each setting fitted and scored by hand on the same hold-out
    held = UserTemporalSplit(test_size=0.2)  # each user's newest 20%, by time
    keep, test = next(held.split(X))
    test_events = X.iloc[test][["user_id", "item_id"]]
    for factors, reg in [ALS_GRID[0], ALS_GRID[-1]]:
        als = ALSEmbedder(factors=factors, regularization=reg, cv=None, random_state=0)
        recs = als.fit(X.iloc[keep][["user_id", "item_id"]]).recommend(
            test_events.user_id.unique(), 10
        )
        want = evaluate_recommendations(recs, test_events, 10)["ndcg@10"]
        assert_allclose(scores[(factors, reg)], want, rtol=1e-12)
    best = max(scores, key=scores.get)
    als = dict(chosen.generators)["als"]
    assert (als.factors, als.regularization) == best
    assert dict(template.generators)["als"].factors == 32  # the template unchanged
    # Recommender.fit chooses on the history and serves with the same settings
    rec = Recommender(None, items, random_state=0, n_jobs=1).fit(X)
    history = X.iloc[np.flatnonzero(~label_cut(
        X.user_id.to_numpy(), X.timestamp.to_numpy(), 0.2, 0))]  # fmt: skip
    on_history = dict(select_als(template, history, "timestamp")[0].generators)
    served = dict(rec.generators_.generators_)["als"]
    assert (served.factors, served.regularization) == (
        on_history["als"].factors, on_history["als"].regularization)  # fmt: skip
    # generators given by the user are left as they are
    mine = [("als", ALSEmbedder(factors=4, cv=None, random_state=0))]
    rec = Recommender(None, items, generators=mine, random_state=0, n_jobs=1).fit(X)
    assert dict(rec.generators_.generators_)["als"].factors == 4


def test_labels_as_an_array_fit_as_the_same_frame(data):
    """An array Y failed with KeyError '0' (tasks named '0'.. by the model)."""
    X, Y, _, _ = data
    named = Y.set_axis([str(c) for c in range(Y.shape[1])], axis=1)
    users = X.user_id.unique()[:8]
    want = _rec(data).fit(X, named).recommend(users, k=5)
    got = _rec(data).fit(X, Y.to_numpy()).recommend(users, k=5)
    pd.testing.assert_frame_equal(got, want)
    # with the selection task the model has one more task ('chosen'): the
    # array's labels were all lost (every label NaN)
    _, _, items, table = data
    fm_only = make_multitask_recommender(embedders=("fm",), **SMALL_MODEL)

    def chosen(y):
        rec = Recommender(fm_only, items, users=table, n_negatives=1,
                          random_state=0, n_jobs=1)  # fmt: skip
        return rec.fit(X, y).recommend(users, k=5)

    pd.testing.assert_frame_equal(chosen(Y.to_numpy()), chosen(named))


def test_a_time_column_of_another_name_is_pointed_at(data):
    """An 'event_time' column: the pipeline's error named categorical_features,
    and the Recommender dropped recency without a word."""
    X, Y, items, _ = data
    X = X.rename(columns={"timestamp": "event_time"})
    X["event_time"] = pd.to_datetime(X["event_time"], unit="s")
    with pytest.raises(TypeError, match=r"time_col='event_time'"):
        make_multitask_recommender(**SMALL_MODEL).fit(X, Y)
    with pytest.warns(UserWarning, match=r"no column 'timestamp' .*'event_time'"):
        Recommender(None, items, random_state=0, n_jobs=1).fit(X)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Recommender(None, items, time_col="event_time", random_state=0,
                    n_jobs=1).fit(X)  # fmt: skip


def test_short_lists_are_completed_by_popularity_after_the_candidates(data, fitted):
    # a new user's candidates are the popularity generators' (30 each): k
    # beyond them used to cut the list short (implicit #345, #557)
    X, Y, items, _ = data
    rec, _ = fitted
    new = 10_000
    cands = rec.generators_.recommend([new])
    k = len(cands) + 7
    assert k <= len(items)
    top = rec.recommend([0, new], k=k)
    unseen = len(items) - X.loc[X.user_id == 0, "item_id"].nunique()
    assert top.groupby("user_id").size().to_dict() == {0: min(k, unseen), new: k}
    mine = top[top.user_id == new]
    assert set(mine.item_id[: len(cands)]) == set(cands.item_id)  # candidates first
    assert mine.item_id.tolist()[:10] == rec.recommend([new], k=10).item_id.tolist()
    # then the next items by users in the seen pairs, most first (ties by id)
    counts = X.groupby("item_id").user_id.nunique()
    order = sorted(counts.index, key=lambda i: (-counts[i], i))
    rest = [i for i in order if i not in set(cands.item_id)][:7]
    assert mine.item_id.tolist()[len(cands) :] == rest  # in that order
    # every list is the start of the longer ones, wherever completed
    for user in (0, new):
        longest = rec.recommend([user], k=k + 3).item_id.tolist()
        for shorter in (len(cands) - 1, len(cands) + 1, k):
            assert (
                rec.recommend([user], k=shorter).item_id.tolist() == (longest[:shorter])
            )
    assert mine["rank"].tolist() == list(range(1, k + 1))
    scored = rec.score_pairs(mine[["user_id", "item_id"]])
    np.testing.assert_allclose(scored["score"], mine["score"])
    # every unseen catalogue item when k asks for more than there are
    seen = set(X.loc[X.user_id == 0, "item_id"])
    full = rec.recommend([0], k=len(items) + 5)
    assert set(full.item_id) == set(items.item_id) - seen


def test_ranker_none_recommends_among_the_generators_candidates(data):
    X, Y, _, _ = data
    rec = _rec(
        data, ranker=None,
        generators=CandidateUnion([("pop", Popularity())], n_candidates=6),
    ).fit(X, Y)  # fmt: skip
    for user in (0, 1):
        proposed = rec.generators_.recommend([user])
        top = rec.recommend([user], k=4)
        pool = rec.score_pairs(proposed[["user_id", "item_id"]]).sort_values(
            ["score", "item_id"], ascending=[False, True]
        )
        assert top.item_id.tolist() == pool.item_id.tolist()[:4]


def test_the_completion_state_is_rebuilt_after_an_update_and_never_stored(
    data, fitted, tmp_path
):
    import pickle

    import mtlclassic

    X, Y, items, _ = data
    rec, _ = fitted
    rec = pickle.loads(pickle.dumps(rec))  # a copy: the fixture stays as it is
    new = 20_000
    k = len(rec.generators_.recommend([new])) + 5
    before = rec.recommend([new], k=k)
    assert "_completion_cache" in vars(rec)
    assert "_completion_cache" not in pickle.loads(pickle.dumps(rec)).__dict__
    assert "_completion_cache" in vars(rec)  # pickling leaves the live object be
    loaded = mtlclassic.load(mtlclassic.save(rec, tmp_path / "rec.mtlc"))
    assert "_completion_cache" not in vars(loaded)
    pd.testing.assert_frame_equal(loaded.recommend([new], k=k), before)
    # the new user's events: its seen items leave the completed list
    last = before.item_id.iloc[-1]
    event = X.iloc[[0]].assign(user_id=new, item_id=last)
    rec.update(event, Y.iloc[[0]])
    after = rec.recommend([new], k=k)
    assert last not in set(after.item_id) and len(after) == k
