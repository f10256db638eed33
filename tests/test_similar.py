"""Item-to-item similarity: every embedder's similar_items, the fused
Recommender.similar_items and ``mtlclassic similar``, against brute force."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics.pairwise import cosine_similarity

from mtlclassic import (
    ALSEmbedder,
    FMEmbedder,
    Recommender,
    _similarity,
    make_multitask_recommender,
    make_multitask_recsys,
    save,
)
from tests._catalogue import catalogues


@pytest.fixture(scope="module")
def data():
    return make_multitask_recsys(n_users=60, n_items=40, n_events=1500, random_state=0)


@pytest.fixture(scope="module")
def als(data):
    X, _ = data
    return ALSEmbedder(factors=6, iterations=4, cv=None, random_state=0).fit(X)


@pytest.fixture(scope="module")
def rec(data):
    X, Y = data
    model = make_multitask_recommender(
        n_estimators=10, fm_n_iter=6, factors=6, iterations=4, cv=2, random_state=0
    ).fit(X, Y)
    items, users = catalogues(X)
    return Recommender(model, items, users=users, context={"timestamp": 0})


def _brute(ids, V, queries, k):
    """Top-k by cosine over all items, self excluded (ties by position)."""
    S = cosine_similarity(V[[list(ids).index(q) for q in queries]], V)
    out = {}
    for q, row in zip(queries, S):
        row = row.copy()
        row[list(ids).index(q)] = -np.inf
        order = np.lexsort((np.arange(row.size), -row))[:k]
        out[q] = (np.asarray(ids)[order], row[order])
    return out


def _check_against_brute(frame, ids, V, queries, k):
    expected = _brute(ids, V, queries, k)
    for q in queries:
        got = frame[frame["item_id"] == q]
        np.testing.assert_array_equal(got["similar_item_id"], expected[q][0])
        np.testing.assert_allclose(got["score"], expected[q][1], rtol=1e-6)
        assert list(got["rank"]) == list(range(1, len(got) + 1))
        assert q not in set(got["similar_item_id"])


def test_als_similar_items_equal_brute_force_cosine(als):
    queries = list(als.item_index_[:7])
    frame = als.similar_items(queries, k=5)
    _check_against_brute(frame, als.item_index_, als.item_factors_, queries, 5)
    # k beyond the catalogue: every other item, once
    whole = als.similar_items([queries[0]], k=10_000)
    assert len(whole) == als.item_index_.size - 1
    assert whole["similar_item_id"].is_unique


def test_batches_and_string_ids_change_nothing(als, monkeypatch):
    queries = list(als.item_index_[:9])
    full = als.similar_items(queries, k=4)
    monkeypatch.setattr(_similarity, "_BATCH_CELLS", 50)  # one query per batch
    pd.testing.assert_frame_equal(als.similar_items(queries, k=4), full)
    as_str = als.similar_items([str(q) for q in queries] + [str(queries[0])], k=4)
    pd.testing.assert_frame_equal(as_str, full)  # converted, duplicate dropped


def test_unseen_item_gets_the_cold_rule(als):
    cold = als.similar_items([10_000], k=6)
    assert cold["score"].isna().all()
    # ALS: the most popular items, as recommend_candidates gives an unseen user
    popular = als.recommend_candidates([-1], n=6)["item_id"].to_numpy()
    np.testing.assert_array_equal(cold["similar_item_id"], popular)


def test_fm_similar_items_use_the_item_field_factors(data):
    X, Y = data
    fm = FMEmbedder(n_components=4, n_iter=8, cv=None, random_state=0).fit(X, Y)
    ids, V = fm.item_vectors()
    F = fm.field_names_.index("item_id")
    lo, hi = fm.field_offsets_[F], fm.field_offsets_[F + 1]
    np.testing.assert_array_equal(V, fm.factors_[lo:hi])
    queries = list(ids[:5])
    _check_against_brute(fm.similar_items(queries, k=4), ids, V, queries, 4)
    # unseen: the items closest to the mean item vector (the FM's group mean)
    cold = fm.similar_items([10_000], k=3)
    centre = cosine_similarity(V.mean(axis=0, keepdims=True), V)[0]
    np.testing.assert_array_equal(
        cold["similar_item_id"], np.asarray(ids)[np.argsort(-centre, kind="stable")[:3]]
    )
    with pytest.raises(ValueError, match="k must be a positive int"):
        fm.similar_items(queries, k=0)


def _zscores(S, known, self_col):
    mask = known.copy()
    if self_col >= 0:
        mask[self_col] = False
    z = np.zeros_like(S)
    sd = S[mask].std()
    if sd > 0:
        z[mask] = (S[mask] - S[mask].mean()) / sd
    return z


def test_recommender_fusion_equals_hand_computed_z_scores(rec):
    from mtlclassic.recommend._similar import item_sources

    catalogue = rec.items_["item_id"].to_numpy()
    sources = item_sources(rec.model, rec.items_, "item_id")
    assert list(sources) == ["fm", "als", "content"]
    weights = {"als": 1.0, "fm": 0.5, "content": 2.0}
    queries = list(catalogue[:4])
    got = rec.similar_items(queries, k=5, weights=weights)
    for q in queries:
        fused = np.zeros(catalogue.size)
        self_col = list(catalogue).index(q)
        cos = {}
        for name, w in weights.items():
            ids, V = sources[name]
            pos = {i: r for r, i in enumerate(ids)}
            known = np.array([c in pos for c in catalogue])
            U = np.zeros((catalogue.size, V.shape[1]))
            U[known] = V[[pos[c] for c in catalogue[known]]]
            S = cosine_similarity(V[[pos[q]]], U)[0]
            cos[name] = np.where(known, S, np.nan)
            fused += w * _zscores(S, known, self_col)
        fused[self_col] = -np.inf
        order = np.lexsort((np.arange(catalogue.size), -fused))[:5]
        rows = got[got["item_id"] == q]
        np.testing.assert_array_equal(rows["similar_item_id"], catalogue[order])
        np.testing.assert_allclose(rows["score"], fused[order], rtol=1e-9)
        for name in weights:
            np.testing.assert_allclose(rows[f"score_{name}"], cos[name][order])
    # one source alone ranks as that source's cosine
    content = rec.similar_items(queries[:1], k=3, weights={"content": 1.0})
    assert (np.diff(content["score_content"]) <= 1e-12).all()


def test_recommender_similar_items_errors_and_cold_items(rec):
    with pytest.raises(ValueError, match="unknown sources"):
        rec.similar_items([1], weights={"word2vec": 1.0})
    with pytest.raises(ValueError, match="not all 0"):
        rec.similar_items([1], weights={"als": 0.0})
    cold = rec.similar_items([99_999], k=4)  # no source knows it
    assert cold["score"].isna().all() and len(cold) == 4
    popular = rec._candidate_source.similar_items([99_999], k=4)["similar_item_id"]
    np.testing.assert_array_equal(cold["similar_item_id"], popular)


def test_similar_cli_equals_recommender(rec, data, tmp_path, capsys):
    from mtlclassic.cli import main

    X, _ = data
    path = save(rec, tmp_path / "rec.mtlc", input_example=X.head())
    wanted = [3, 5, 3, 99_999, 7]
    pd.DataFrame({"item_id": wanted}).to_csv(tmp_path / "items.csv", index=False)
    out = tmp_path / "similar.csv"
    args = ["similar", str(path), str(tmp_path / "items.csv"), str(out), "-k", "3"]
    assert main([*args, "--weight", "als=1", "--weight", "content=0.5",
                 "--chunksize", "2"]) == 0  # fmt: skip
    expected = rec.similar_items(wanted, k=3, weights={"als": 1, "content": 0.5})
    pd.testing.assert_frame_equal(
        pd.read_csv(out), expected, check_dtype=False, rtol=1e-12
    )
    assert main([*args, "--overwrite", "--weight", "als"]) == 2
    assert "SOURCE=NUMBER" in capsys.readouterr().err


def test_ties_keep_catalogue_order_and_k_is_a_prefix():
    V = np.repeat(np.eye(3), 20, axis=0)  # items 1..19 tie with item 0
    five, _ = _similarity.cosine_neighbours(V, np.array([0]), 5)
    eight, _ = _similarity.cosine_neighbours(V, np.array([0]), 8)
    np.testing.assert_array_equal(five[0], [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(eight[0][:5], five[0])


def test_bad_queries_and_weights_are_refused(als, rec):
    with pytest.raises(ValueError, match="missing id"):
        als.similar_items([3, np.nan])
    with pytest.raises(ValueError, match="missing id"):
        rec.similar_items(pd.array([3, None], dtype="Int64"))
    with pytest.raises(ValueError, match="1-D"):
        als.similar_items(np.array([[3], [5]]))
    for bad in ({"als": "1"}, {"als": True}, {"als": None}):
        with pytest.raises(ValueError, match="finite numbers"):
            rec.similar_items([3], weights=bad)


def test_items_unknown_to_every_source_of_the_query_are_left_out(rec, data):
    X, _ = data
    items = pd.concat(
        [rec.items_, rec.items_.head(3).assign(item_id=[900, 901, 902])],
        ignore_index=True,
    )
    wider = Recommender(rec.model, items, context={"timestamp": 0},
                        users=catalogues(X)[1])  # fmt: skip
    got = wider.similar_items([3, 5], k=100, weights={"als": 1.0})
    assert not set(got["similar_item_id"]) & {900, 901, 902}
    assert got.groupby("item_id").size().tolist() == [len(rec.items_) - 1] * 2
    # with content (which knows them) they can come back
    both = wider.similar_items([3], k=100, weights={"als": 1.0, "content": 1.0})
    assert {900, 901, 902} <= set(both["similar_item_id"])


def test_similar_cli_checks_weights_before_reading(rec, data, tmp_path, capsys):
    from mtlclassic.cli import main

    X, _ = data
    path = save(rec, tmp_path / "rec.mtlc", input_example=X.head())
    pd.DataFrame({"item_id": []}).to_csv(tmp_path / "none.csv", index=False)
    args = ["similar", str(path), str(tmp_path / "none.csv"), str(tmp_path / "o.csv")]
    assert main([*args, "--weight", "ALS=1"]) == 2
    assert "--weight: weights names unknown sources ['ALS']" in capsys.readouterr().err
