"""Candidate generators: each against an oracle (closed form, brute force, hand)."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from mtlclassic import ALSEmbedder
from mtlclassic.candidates import EASE, CandidateUnion, ItemKNN, Popularity


@pytest.fixture(scope="module")
def events():
    rng = np.random.RandomState(0)
    n_users, n_items = 40, 25
    pop = rng.zipf(1.5, n_items).astype(float)
    rows = []
    for u in range(n_users):
        k = rng.randint(2, 10)
        items = rng.choice(n_items, size=k, replace=False, p=pop / pop.sum())
        rows += [(f"u{u}", 100 + i, float(t)) for t, i in enumerate(items)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def dense_matrix(events):
    users = np.sort(events["user_id"].unique())
    items = np.sort(events["item_id"].unique())
    X = np.zeros((users.size, items.size))
    for u, i in zip(events["user_id"], events["item_id"]):
        X[np.searchsorted(users, u), np.searchsorted(items, i)] += 1
    return users, items, X


def brute_top(scores, seen, n):
    """Top-n columns of one score row, seen excluded, ties by column."""
    s = np.where(seen, -np.inf, scores)
    order = np.lexsort((np.arange(s.size), -s))
    return [c for c in order if np.isfinite(s[c])][:n]


def test_ease_equals_the_closed_form_with_numpy_inv(events):
    users, items, X = dense_matrix(events)
    lam = 3.0
    P = np.linalg.inv(X.T @ X + lam * np.eye(items.size))
    B = -P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    model = EASE(lam).fit(events)
    assert_allclose(model.coef_, B, rtol=1e-10, atol=1e-12)
    # recommend: x_u B, seen excluded, top 5
    top = model.recommend(users[:6], n=5)
    for r, u in enumerate(users[:6]):
        expected = items[brute_top(X[r] @ B, X[r] > 0, 5)]
        assert_array_equal(top.loc[top.user_id == u, "item_id"], expected)
        assert_array_equal(top.loc[top.user_id == u, "rank"], np.arange(1, 6))
    pairs = model.score_pairs(np.repeat(users[:3], 2), np.tile(items[:2], 3))
    assert_allclose(pairs, (X[:3] @ B)[:, :2].ravel(), rtol=1e-10)


def test_ease_refuses_a_catalogue_above_max_items_pointing_to_itemknn(events):
    with pytest.raises(ValueError, match=r"max_items=10.*Use ItemKNN"):
        EASE(max_items=10).fit(events)


def test_itemknn_cosine_equals_brute_force_cosine(events):
    users, items, X = dense_matrix(events)
    norms = np.linalg.norm(X, axis=0)
    S = (X.T @ X) / np.outer(norms, norms)
    model = ItemKNN(n_neighbors=items.size, similarity="cosine").fit(events)
    assert_allclose(model.similarity_.toarray(), S, rtol=1e-5, atol=1e-6)
    top = model.recommend(users[:8], n=4)
    for r, u in enumerate(users[:8]):
        scores = X[r] @ S
        got = top.loc[top.user_id == u]
        assert_allclose(got["score"], np.sort(scores[X[r] == 0])[::-1][:4], rtol=1e-5)


def test_itemknn_keeps_only_k_neighbours_per_item(events):
    _, items, X = dense_matrix(events)
    norms = np.linalg.norm(X, axis=0)
    S = (X.T @ X) / np.outer(norms, norms)
    k = 3
    model = ItemKNN(n_neighbors=k).fit(events)
    sim = model.similarity_.toarray()
    assert (np.diff(model.similarity_.indptr) <= k).all()
    for i in range(items.size):
        kept = np.flatnonzero(sim[i])
        # every kept neighbour is among the k largest cosines of the row
        kth = np.sort(S[i])[::-1][k - 1]
        assert (S[i, kept] >= kth - 1e-6).all()


def test_popularity_counts_and_recency_decay_by_hand():
    events = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 2, 3, 3],
            "item_id": ["a", "b", "a", "c", "c", "b"],
            "timestamp": pd.to_datetime(
                [
                    "2026-01-01",
                    "2026-01-30",
                    "2026-01-02",
                    "2026-01-31",
                    "2026-01-31",
                    "2026-01-31",
                ],
                utc=True,
            ),  # fmt: skip
        }
    )
    flat = Popularity().fit(events)
    assert_allclose(flat.popularity_, [2, 2, 2])
    decayed = Popularity(half_life="1D").fit(events)
    t_max = pd.Timestamp("2026-01-31", tz="UTC")
    ages = (t_max - events["timestamp"]).dt.total_seconds() / 86400
    expected = (
        pd.Series(0.5 ** ages.to_numpy()).groupby(events["item_id"].to_numpy()).sum()
    )
    assert_allclose(decayed.popularity_, expected.loc[["a", "b", "c"]], rtol=1e-12)
    # a new user gets the list with its scores; a known one without its items
    top = decayed.recommend([9, 1], n=3)
    assert top.loc[top.user_id == 9, "item_id"].tolist() == ["c", "b", "a"]
    assert top.loc[top.user_id == 1, "item_id"].tolist() == ["c"]
    assert_allclose(top.loc[top.user_id == 9, "score"], np.sort(expected)[::-1])
    # the same instants as numbers of seconds give the same popularity
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    seconds = events.assign(timestamp=(events.timestamp - epoch).dt.total_seconds())
    assert_allclose(
        Popularity(half_life=86400).fit(seconds).popularity_, decayed.popularity_
    )


def test_popularity_update_takes_times_of_the_fitted_kind_only():
    """Fitted on datetimes, an update in unix milliseconds was taken as seconds:
    every fitted event decayed to nothing and the top item changed."""
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    days = pd.to_timedelta([0, 1, 2], unit="D")
    old = pd.DataFrame({"user_id": [1, 2, 3], "item_id": ["a", "a", "b"],
                        "timestamp": t0 + days})  # fmt: skip
    new = pd.DataFrame({"user_id": [4], "item_id": ["b"], "timestamp": [t0]})
    new["timestamp"] += pd.Timedelta("3D")
    both = Popularity(half_life="1D").fit(pd.concat([old, new], ignore_index=True))
    updated = Popularity(half_life="1D").fit(old).update(new)
    assert updated.time_is_datetime_ is True
    assert_allclose(updated.popularity_, both.popularity_, rtol=1e-12)
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    ms = new.assign(timestamp=(new.timestamp - epoch) // pd.Timedelta("1ms"))
    fitted = Popularity(half_life="1D").fit(old)
    with pytest.raises(ValueError, match="holds numbers, but it held datetimes in fit"):
        fitted.update(ms)
    again = Popularity(half_life="1D").fit(old)  # nothing was learnt
    assert_allclose(fitted.popularity_, again.popularity_)
    assert (fitted.user_items_ != again.user_items_).nnz == 0
    assert_array_equal(fitted.user_index_, again.user_index_)
    numbers = old.assign(timestamp=(old.timestamp - epoch).dt.total_seconds())
    with pytest.raises(ValueError, match="holds datetimes, but it held numbers"):
        Popularity(half_life=86400).fit(numbers).update(new)


def test_popularity_refuses_a_duration_for_a_numeric_time_column(events):
    with pytest.raises(ValueError, match="half_life='30D' is a duration"):
        Popularity(half_life="30D").fit(events)


def test_union_keeps_each_sources_score_and_rank(events):
    users, items, X = dense_matrix(events)
    union = CandidateUnion(
        [("ease", EASE(3.0)), ("knn", ItemKNN(10)), ("pop", Popularity())],
        n_candidates={"ease": 3, "knn": 2, "pop": 4},
    ).fit(events)
    queried = [users[0], "new-user", users[1]]
    cands = union.recommend(queried)
    assert pd.unique(cands.user_id).tolist() == queried
    ease = EASE(3.0).fit(events).recommend(queried, n=3)
    for name, single in (("ease", ease),):
        for u in (users[0], users[1]):
            proposed = single.loc[single.user_id == u]
            got = cands.loc[cands.user_id == u].set_index("item_id")
            assert_array_equal(got.loc[proposed.item_id, f"rank_{name}"], [1, 2, 3])
            assert_allclose(got.loc[proposed.item_id, f"score_{name}"], proposed.score)
            # not proposed by EASE: rank NaN, score filled by EASE's own score
            other = got.index.difference(proposed.item_id)
            assert got.loc[other, f"rank_{name}"].isna().all()
            assert_allclose(
                got.loc[other, f"score_{name}"],
                union.generators_[0][1].score_pairs(np.repeat(u, other.size), other),
            )
    # the new user: popularity only, every other source NaN
    new = cands[cands.user_id == "new-user"]
    assert len(new) == 4 and new.rank_ease.isna().all() and new.score_ease.isna().all()
    # no pair twice, no seen pair
    assert not cands.duplicated(["user_id", "item_id"]).any()
    seen = set(zip(events.user_id, events.item_id))
    assert not any(p in seen for p in zip(cands.user_id, cands.item_id))
    # the fused score is the reciprocal rank fusion, and rank follows it
    ranks = cands[["rank_ease", "rank_knn", "rank_pop"]].to_numpy()
    assert_allclose(cands.score, np.nansum(1 / (60 + ranks), axis=1))
    for _, group in cands.groupby("user_id", sort=False):
        assert (np.diff(group.score.to_numpy()) <= 0).all()


def test_union_ties_go_by_the_first_generators_order():
    # 'z' (A's first) and 'a' (B's first) tie on the fused score: A's comes
    # first whatever the ids (an outer merge had ordered them by id)
    ev = pd.DataFrame({"user_id": [1, 2, 3, 4, 5, 6],
                       "item_id": ["z", "z", "z", "a", "m", "m"],
                       "wa": [1, 1, 1, 0.1, 0.2, 0.2],
                       "wb": [0.1, 0.1, 0.1, 5, 0.2, 0.2]})  # fmt: skip
    pops = [("A", Popularity(weight_col="wa")), ("B", Popularity(weight_col="wb"))]
    for order, first in ((pops, "z"), (pops[::-1], "a")):
        union = CandidateUnion(order, n_candidates=1).fit(ev)
        got = union.recommend([99])
        assert got.score.iloc[0] == got.score.iloc[1]
        assert got.item_id.tolist() == [first, "az".replace(first, "")]
        assert union.recommend([99], n=1).item_id.tolist() == [first]


def test_union_without_fill_leaves_unproposed_scores_missing(events):
    union = CandidateUnion(
        [("ease", EASE(3.0)), ("pop", Popularity())], n_candidates=2, fill_scores=False
    ).fit(events)
    cands = union.recommend(["u1"])
    assert (cands.rank_ease.isna() == cands.score_ease.isna()).all()


def test_als_embedder_follows_the_generator_protocol(events):
    als = ALSEmbedder(factors=4, iterations=5, random_state=0, cv=None).fit(
        events[["user_id", "item_id"]]
    )
    users = ["u5", "u1", "u3"]
    top = als.recommend(users, n=3)
    assert pd.unique(top.user_id).tolist() == users
    legacy = als.recommend_candidates(users, n=3)
    merged = top.merge(legacy, on=["user_id", "item_id"], suffixes=("", "_old"))
    assert len(merged) == len(top)
    assert_array_equal(merged["rank"], merged["rank_old"])
    scores = als.score_pairs(top.user_id, top.item_id)
    assert_allclose(scores, top.score, rtol=1e-5)
    assert np.isnan(als.score_pairs(["nobody"], [top.item_id.iloc[0]])).all()
    union = CandidateUnion([("als", als), ("pop", Popularity())], n_candidates=3)
    assert len(union.fit(events).recommend(users)) >= 9


@pytest.mark.parametrize("bad", [[0, np.nan], [0, None], pd.array([0, pd.NA])])
def test_a_missing_user_id_is_refused_naming_its_position(events, bad):
    for generator in (EASE(3.0), Popularity(), ItemKNN(5)):
        generator.fit(events)
        with pytest.raises(ValueError, match="user_ids has 1 missing id.*position 1"):
            generator.recommend(bad, n=2)


def test_union_refuses_non_generators_and_bad_counts(events):
    with pytest.raises(TypeError, match="'x'.*lacks"):
        CandidateUnion([("x", object())]).fit(events)
    with pytest.raises(ValueError, match="count for each generator"):
        CandidateUnion([("e", EASE())], n_candidates={"f": 2}).fit(events)
    with pytest.raises(ValueError, match="distinct"):
        CandidateUnion([("e", EASE()), ("e", Popularity())]).fit(events)


def test_similar_items_of_ease_and_knn(events):
    _, items, X = dense_matrix(events)
    norms = np.linalg.norm(X, axis=0)
    S = (X.T @ X) / np.outer(norms, norms)
    sim = ItemKNN(n_neighbors=items.size).fit(events).similar_items([items[0]], k=3)
    order = [c for c in np.lexsort((np.arange(items.size), -S[0])) if c != 0][:3]
    assert_allclose(sim.score, S[0, order], rtol=1e-5)
    assert items[0] not in sim.similar_item_id.tolist()


def test_history_half_life_weighs_each_users_newer_events_by_hand():
    events = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 2, 2, 3],
            "item_id": ["a", "b", "c", "b", "c", "a"],
            "timestamp": [5, 1, 5, 2, 1, 0],  # user 1: b, then a and c (tie: row order)
        }
    )
    model = EASE(2.0, history_half_life=1.0).fit(events)
    H = model.history_.toarray()
    # user 1: c is newest (age 0), a has one newer event, b two
    assert_allclose(H[0], [0.5, 0.25, 1.0])
    assert_allclose(H[1], [0.0, 1.0, 0.5])
    assert_allclose(H[2], [1.0, 0.0, 0.0])
    # the model is learned from the unweighted matrix; scores from the history
    assert_allclose(model.coef_, EASE(2.0).fit(events).coef_)
    assert_allclose(
        model.score_pairs([1, 1, 1], ["a", "b", "c"]), H[0] @ model.coef_, rtol=1e-6
    )
    with pytest.raises(ValueError, match="history_half_life needs the event times"):
        EASE(history_half_life=2.0).fit(events.drop(columns="timestamp"))


def test_update_equals_a_refit_of_the_histories_and_popularity(events):
    ordered = events.sort_values("timestamp", kind="stable").reset_index(drop=True)
    old, new = ordered.iloc[:150], ordered.iloc[150:]
    new = pd.concat([new, pd.DataFrame({"user_id": ["fresh"], "item_id": [100],
                                        "timestamp": [99.0]})])  # fmt: skip
    full = pd.concat([old, new], ignore_index=True)
    for make in (
        lambda: EASE(3.0, history_half_life=2.0),
        lambda: Popularity(half_life=5.0),
        lambda: ItemKNN(10),
    ):
        updated = make().fit(old).update(new)
        refit = make().fit(full)
        order = pd.Index(updated.user_index_).get_indexer(refit.user_index_)
        assert (order >= 0).all()
        items = pd.Index(updated.item_index_).get_indexer(refit.item_index_)
        keep = items >= 0  # items first seen in the update are not scored
        ui = updated.user_items_.toarray()[order][:, items[keep]]
        assert_allclose(ui, refit.user_items_.toarray()[:, keep])
        if updated.history_ is not None:
            h = updated.history_.toarray()[order][:, items[keep]]
            assert_allclose(h, refit.history_.toarray()[:, keep], rtol=1e-6)
        if isinstance(updated, Popularity):
            assert_allclose(
                updated.popularity_[items[keep]], refit.popularity_[keep], rtol=1e-9
            )
    # the new user is served from its history, seen items excluded
    ease = EASE(3.0).fit(old).update(new)
    top = ease.recommend(["fresh"], n=3)
    assert 100 not in top.item_id.tolist() and top.score.notna().all()


def test_ease_auto_regularization_walks_to_a_local_best_on_the_holdout(events):
    from mtlclassic.candidates._ease import REGULARIZATION_GRID
    from mtlclassic.metrics import evaluate_recommendations
    from mtlclassic.model_selection import UserTemporalSplit

    model = EASE("auto").fit(events)
    scores = model.validation_scores_
    assert model.regularization_ in scores and len(scores) >= 2
    chosen = REGULARIZATION_GRID.index(model.regularization_)
    for neighbour in (chosen - 1, chosen + 1):
        if 0 <= neighbour < len(REGULARIZATION_GRID):
            lam = REGULARIZATION_GRID[neighbour]
            assert scores.get(lam, -1) <= scores[model.regularization_]
    # a score equals the NDCG@10 of that lambda on UserTemporalSplit(0.2)
    train, test = next(UserTemporalSplit(test_size=0.2).split(events))
    lam = REGULARIZATION_GRID[3]
    recs = (
        EASE(lam)
        .fit(events.iloc[train])
        .recommend(events.iloc[test].user_id.unique(), 10)
    )
    ndcg = evaluate_recommendations(recs, events.iloc[test], 10)["ndcg@10"]
    assert_allclose(scores[lam], ndcg, rtol=1e-12)
    assert_allclose(model.coef_, EASE(model.regularization_).fit(events).coef_)


def test_ease_top_items_models_the_most_popular_items_only(events):
    _, items, X = dense_matrix(events)
    top = EASE(3.0, top_items=5).fit(events)
    kept = np.argsort(-(X > 0).sum(axis=0), kind="stable")[:5]
    assert_array_equal(top.modelled_items_, np.sort(kept))
    Xk = X[:, np.sort(kept)]
    P = np.linalg.inv(Xk.T @ Xk + 3.0 * np.eye(5))
    B = -P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    assert_allclose(top.coef_, B, rtol=1e-10, atol=1e-12)
    recs = top.recommend(events.user_id.unique(), n=10)
    scored = recs[recs.score.notna()]
    assert set(scored.item_id) <= set(items[np.sort(kept)])
    # a user with no score on an unseen modelled item: the unseen users' list
    assert (
        recs.score.isna()
        .groupby(recs.user_id)
        .agg(["all", "any"])
        .pipe(lambda g: (g["all"] == g["any"]).all())
    )


def test_union_passes_the_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    union = CandidateUnion(
        [
            ("ease", EASE(10.0, user_col=0, item_col=1)),
            ("pop", Popularity(user_col=0, item_col=1)),
        ]  # fmt: skip
    )
    failed = [
        r for r in check_estimator(union, on_fail=None) if r["status"] == "failed"
    ]
    assert not failed, [(r["check_name"], str(r["exception"])) for r in failed]


def test_update_needs_only_the_columns_the_generator_reads(events):
    wide = events.assign(side=1.0, genre="x")
    ease = EASE(3.0, history_half_life=2.0).fit(wide)
    new = pd.DataFrame({"user_id": ["fresh"], "item_id": [100], "timestamp": [99.0]})
    ease.update(new)  # no 'side' nor 'genre': not read
    assert "fresh" in set(ease.user_index_)
    with pytest.raises(ValueError, match="X has no such column, and history_half"):
        ease.update(new.drop(columns="timestamp"))


@pytest.fixture(scope="module")
def int_events(events):
    out = events.copy()
    out["user_id"] = out["user_id"].str[1:].astype(int)
    return out


@pytest.mark.parametrize("make", [EASE, ItemKNN, Popularity])
def test_update_conforms_new_user_ids_to_the_fitted_type(int_events, make):
    new = pd.DataFrame({"user_id": [999, 999], "item_id": [100, 101],
                        "timestamp": [1e9, 1e9 + 1]})  # fmt: skip
    as_text = make().fit(int_events).update(new.astype({"user_id": str}))
    as_int = make().fit(int_events).update(new)
    assert_array_equal(as_text.user_index_, as_int.user_index_)  # one user 999, an int
    pd.testing.assert_frame_equal(
        as_text.recommend([999], n=5), as_int.recommend([999], n=5)
    )
    assert as_int.recommend([999], n=5)["score"].notna().all()  # a known user now


def test_union_takes_ids_of_another_type_like_its_generators(int_events):
    union = CandidateUnion([("ease", EASE()), ("pop", Popularity())], n_candidates=10)
    union.fit(int_events)
    users = [3, 7]
    pd.testing.assert_frame_equal(
        union.recommend([str(u) for u in users], n=3), union.recommend(users, n=3)
    )
    assert len(union.recommend(users, n=3)) == 6
    pd.testing.assert_frame_equal(
        union.similar_items(["100", "101"], k=3), union.similar_items([100, 101], k=3)
    )


def _popular_order(events, exclude=()):
    """Items by decreasing users (ties by id), the oracle of the cold list."""
    users = events.drop_duplicates(["user_id", "item_id"]).groupby("item_id").size()
    ranked = users.reset_index().sort_values([0, "item_id"], ascending=[False, True])
    return [i for i in ranked["item_id"] if i not in set(exclude)]


@pytest.mark.parametrize("make", [EASE, ItemKNN])
def test_a_user_without_usable_history_gets_the_popular_items(events, make):
    weighted = events.assign(w=np.where(events.user_id == "u0", 0.0, 1.0))
    model = make(weight_col="w").fit(weighted)
    top = model.recommend(["u0"], n=5)
    seen = events.loc[events.user_id == "u0", "item_id"]
    positive = weighted[weighted.w > 0]
    assert top.item_id.tolist() == _popular_order(positive, exclude=seen)[:5]
    assert top.score.isna().all()  # as an unseen user's: the union's popularity fills
    other = model.recommend(["u1"], n=5)
    assert other.score.notna().all()


def test_items_the_model_leaves_out_fall_back_to_popularity(events):
    left_out = _popular_order(events)[-2:]  # one user each: far below the top 10
    user = "only_left_out"
    extra = pd.DataFrame({"user_id": [user, user], "item_id": left_out[:2],
                          "timestamp": [50.0, 51.0]})  # fmt: skip
    data = pd.concat([events, extra], ignore_index=True)
    model = EASE(top_items=10).fit(data)
    top = model.recommend([user], n=4)
    assert top.item_id.tolist() == _popular_order(data, exclude=left_out[:2])[:4]
    assert top.score.isna().all()
    near = model.similar_items([left_out[0]], k=3)
    assert (
        near.similar_item_id.tolist() == _popular_order(data, exclude=[left_out[0]])[:3]
    )
    assert near.score.isna().all()


@pytest.mark.parametrize("make", [lambda: EASE(10.0), lambda: ItemKNN(10)])
def test_a_user_whose_items_share_no_other_user_gets_the_popular_items(make):
    rng = np.random.default_rng(0)
    rows = [(u, i) for u in (0, 1) for i in (0, 1)]  # items 0, 1: only these two
    p = np.arange(2, 20) / np.arange(2, 20).sum()
    for u in range(2, 40):
        rows += [(u, int(i)) for i in rng.choice(np.arange(2, 20), 5, False, p)]
    events = pd.DataFrame(rows, columns=["user_id", "item_id"])
    top = make().fit(events).recommend([0], n=5)
    assert top.item_id.tolist() == _popular_order(events, exclude=[0, 1])[:5]
    assert top.score.isna().all()


def test_a_union_with_als_refuses_a_batch_before_any_generator_learns():
    """ALS refused a NaN weight after Popularity and EASE had learnt the batch."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"user_id": rng.integers(0, 30, 600),
                      "item_id": rng.integers(0, 20, 600),
                      "w": rng.random(600) + 0.5})  # fmt: skip

    def union():
        als = ALSEmbedder(factors=4, cv=None, weight_col="w", random_state=0)
        return CandidateUnion([("pop", Popularity()), ("ease", EASE(10.0)),
                               ("als", als)], n_candidates=5).fit(X)  # fmt: skip

    fitted, fresh = union(), union()
    new = pd.DataFrame({"user_id": [0, 0, 1], "item_id": [19, 19, 19],
                        "w": [1.0, np.nan, 1.0]})  # fmt: skip
    with pytest.raises(ValueError, match="weight_col='w' has NaN or infinite"):
        fitted.update(new)
    users = [0, 1, 2]
    pd.testing.assert_frame_equal(fitted.recommend(users), fresh.recommend(users))
    for (_, a), (_, b) in zip(fitted.generators_, fresh.generators_):
        assert (a.user_items_ != b.user_items_).nnz == 0


def test_a_recency_generator_refuses_a_batch_without_times_before_learning():
    """EASE(history_half_life) grew its users and histories, then refused a NaN time."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"user_id": rng.integers(0, 30, 600),
                      "item_id": rng.integers(0, 20, 600),
                      "timestamp": np.arange(600.0)})  # fmt: skip

    def union():
        return CandidateUnion([("pop", Popularity()),
                               ("ease", EASE(10.0, history_half_life=5))],
                              n_candidates=5).fit(X)  # fmt: skip

    fitted, fresh = union(), union()
    new = pd.DataFrame({"user_id": [0, 99], "item_id": [3, 4],
                        "timestamp": [700.0, np.nan]})  # fmt: skip
    with pytest.raises(ValueError, match="'timestamp' has 1 missing value"):
        fitted.update(new)
    for (_, a), (_, b) in zip(fitted.generators_, fresh.generators_):
        assert_array_equal(a.user_index_, b.user_index_)
        assert (a.user_items_ != b.user_items_).nnz == 0


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_large_weights_scale_ease_and_overflowing_ones_are_refused(events):
    # EASE's B is unchanged when the weights grow by c and lambda by c**2; its
    # Gram matrix in float32 overflowed at c = 1e20 and every score went NaN
    c = 1e20
    base = EASE(3.0, weight_col="w").fit(events.assign(w=1.0))
    big = EASE(3.0 * c * c, weight_col="w").fit(events.assign(w=c))
    assert_allclose(big.coef_, base.coef_, rtol=1e-6, atol=1e-9)  # 1e20 in float32
    users = events.user_id.unique()[:5]
    assert_array_equal(
        big.recommend(users, n=5).item_id, base.recommend(users, n=5).item_id
    )
    # beyond float32 (the user x item matrix's type, as implicit's): refused
    huge = events.assign(w=1e39)
    kinds = (EASE(3.0, weight_col="w"), Popularity(weight_col="w"),
             ItemKNN(weight_col="w"), ALSEmbedder(weight_col="w"))  # fmt: skip
    for generator in kinds:
        with pytest.raises(ValueError, match=r"weight_col='w'.*float32's range"):
            generator.fit(huge)
    fitted = Popularity(weight_col="w").fit(events.assign(w=1.0))
    before = fitted.user_items_.copy()
    with pytest.raises(ValueError, match=r"weight_col='w'.*float32's range"):
        twice = pd.concat([events.head(1)] * 2).assign(w=3e38)
        fitted.update(twice)  # the pair's sum is beyond the range
    assert (fitted.user_items_ != before).nnz == 0  # nothing learnt


@pytest.mark.parametrize("kind", [EASE, ItemKNN, Popularity])
def test_a_zero_weight_event_is_seen_after_an_update_as_after_a_fit(kind):
    # fit kept the (user, item) pair of a weight-0 event (excluded as seen);
    # update's sparse sum dropped it, so the item came back
    ev = pd.DataFrame({"user_id": [1, 1, 2, 2, 3, 3, 4, 5, 1],
                       "item_id": ["a", "b", "a", "b", "a", "d", "d", "c", "c"],
                       "w": [1, 1, 1, 1, 1, 1, 1, 1, 0.0]})  # fmt: skip
    make = (lambda: kind(1.0, weight_col="w")) if kind is EASE else (
        lambda: kind(weight_col="w"))  # fmt: skip
    refit = make().fit(ev)
    updated = make().fit(ev.iloc[:-1]).update(ev.iloc[-1:])
    assert (updated.user_items_ != refit.user_items_).nnz == 0
    assert_array_equal(updated.user_items_.indices, refit.user_items_.indices)
    assert (
        updated.recommend([1], n=5).item_id.tolist()
        == refit.recommend([1], n=5).item_id.tolist()
    )
    assert "c" not in updated.recommend([1], n=5).item_id.tolist()
