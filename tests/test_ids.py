"""Ids of another type than the fitted ones: converted losslessly or refused."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from mtlclassic import (
    ALSEmbedder,
    FMEmbedder,
    Recommender,
    make_multitask_recommender,
    make_multitask_recsys,
)
from mtlclassic._ids import conform_ids


def test_conform_ids_converts_losslessly_or_names_the_column():
    ints = np.array([3, 7, 42])
    assert_array_equal(conform_ids(np.array(["42", "3"]), ints, "user_id"), [42, 3])
    assert conform_ids(np.array(["42"]), ints, "user_id").dtype == np.int64
    assert_array_equal(conform_ids(np.array([42.0, 3.0]), ints, "user_id"), [42, 3])
    got = conform_ids(np.array([42.0, np.nan]), ints, "user_id")
    assert got[0] == 42 and np.isnan(got[1])  # missing stays missing
    strings = np.array(["3", "7", "42"])
    assert conform_ids(np.array([42, 3]), strings, "item_id").tolist() == ["42", "3"]
    for bad in (np.array(["042"]), np.array(["u7"]), np.array([4.5])):
        with pytest.raises(ValueError, match="Column 'user_id': the model was fitted"):
            conform_ids(bad, ints, "user_id")
    mixed = np.array([1, "1"], dtype=object)  # a model fitted on mixed types
    assert conform_ids(np.array(["1"]), mixed, "user_id").tolist() == ["1"]


@pytest.fixture(scope="module")
def recsys():
    return make_multitask_recsys(n_users=60, n_items=40, n_events=1500, random_state=0)


def test_embedders_read_string_ids_as_the_fitted_ints(recsys):
    X, Y = recsys
    as_str = X.assign(user_id=X.user_id.astype(str), item_id=X.item_id.astype(str))
    als = ALSEmbedder(factors=4, iterations=3, cv=None, random_state=0).fit(X)
    assert_array_equal(als.transform(as_str), als.transform(X))
    cands = als.recommend_candidates(["0", "1"], n=5)
    assert_array_equal(cands, als.recommend_candidates([0, 1], n=5))
    fm = FMEmbedder(n_components=2, n_iter=5, cv=None, random_state=0).fit(X, Y)
    assert_array_equal(fm.transform(as_str)[:, -3:], fm.transform(X)[:, -3:])
    with pytest.raises(
        ValueError, match="Column 'user_id': the model was fitted on int"
    ):
        als.transform(X.assign(user_id="u" + X.user_id.astype(str)))


def test_recommender_with_string_catalogue_and_user_ids(recsys):
    X, Y = recsys
    model = make_multitask_recommender(
        n_estimators=20, factors=4, iterations=3, fm_n_iter=5, cv=2, random_state=0,
        n_jobs=1,
    ).fit(X, Y)  # fmt: skip
    items = X.drop_duplicates("item_id")[["item_id", "item_f0", "item_f1",
                                          "item_category"]]  # fmt: skip
    users = X.drop_duplicates("user_id")[["user_id", "user_f0", "user_f1",
                                          "user_segment"]]  # fmt: skip
    ctx = {"timestamp": X.timestamp.max()}
    good = Recommender(model, items, users=users, context=ctx).recommend([0, 1], k=5)
    str_items = items.assign(item_id=items.item_id.astype(str))
    rec = Recommender(model, str_items, users=users, context=ctx)
    pd.testing.assert_frame_equal(rec.recommend([0, 1], k=5), good)
    assert items.item_id.dtype == np.int64  # the user's frame is not modified
    rec = Recommender(model, items, users=users, context=ctx)
    pd.testing.assert_frame_equal(rec.recommend(["0", "1"], k=5), good)
    with pytest.raises(ValueError, match=r"Column \"items\['item_id'\]\""):
        Recommender(model, items.assign(item_id="i" + items.item_id.astype(str)),
                    users=users, context=ctx)  # fmt: skip


def test_conform_ids_mixed_zero_padded_and_overflowing():
    ints = np.array([3, 7, 42])
    mixed = np.array([42, "7"], dtype=object)
    assert conform_ids(mixed, ints, "c").tolist() == [42, 7]
    padded = np.array(["003", "042"])
    with pytest.raises(ValueError, match="zero-padded"):
        conform_ids(np.array([3, 42]), padded, "c")
    for bad in (np.array([1e20]), np.array([2.0**63])):
        with pytest.raises(ValueError, match=r"float ids beyond 2\*\*53"):
            conform_ids(bad, ints, "c")
    big = np.array([np.iinfo(np.uint64).max], dtype=np.uint64)
    assert conform_ids(big, np.array(["1", "2"]), "c").tolist() == [str(2**64 - 1)]


def test_ids_beyond_float64_precision_stay_exact_or_are_refused():
    """Steam-like 64-bit ids: a text column with a gap became float64, which
    scored user b+1 as the fitted user b+8; a compiled model read pandas'
    nullable Int64 ids as float64 (another user) too."""
    from mtlclassic import compile as compile_model

    b = 76561197960265728  # 2**56 + ...: float64 steps by 8 here
    fitted = np.array([b + 1, b + 8])
    got = conform_ids(np.array([str(b + 1), None], dtype=object), fitted, "user_id")
    assert got[0] == b + 1 and type(got[0]) is int and pd.isna(got[1])
    got = conform_ids(np.array(["12", None], dtype=object), np.array([12]), "u")
    assert got.dtype == float and got[0] == 12  # float64 holds these exactly
    with pytest.raises(ValueError, match=r"'user_id'.*beyond 2\*\*53.*Int64"):
        conform_ids(np.array([float(b + 1), np.nan]), fitted, "user_id")

    X, Y = make_multitask_recsys(n_users=40, n_items=30, n_events=1200, random_state=0)
    X = X.assign(user_id=X.user_id + b)
    kw = dict(fm_n_iter=6, cv=2, n_estimators=10, random_state=0, n_jobs=1)
    for model in (make_multitask_recommender(embedders=("fm",), **kw).fit(X, Y),
                  make_multitask_recommender(**kw).fit(X, Y)):  # fmt: skip
        rows = X.head(4)
        want = model.predict(rows)
        assert not np.array_equal(want[0], model.predict(rows.assign(user_id=b))[0])
        nullable = rows.astype({"user_id": "Int64"})
        assert_array_equal(model.predict(nullable), want)
        assert_array_equal(compile_model(model).predict(nullable), want)
        if "alsembedder" in model.named_steps:
            continue  # ALS refuses a missing id
        gap = rows.assign(user_id=pd.array([*rows.user_id[:3], pd.NA], dtype="Int64"))
        text = rows.assign(user_id=[*rows.user_id[:3].astype(str), None])
        for frame in (gap, text):
            assert_array_equal(model.predict(frame)[:3], want[:3])
            assert_array_equal(compile_model(model).predict(frame)[:3], want[:3])
        # a Recommender around it: pandas gives an Int64 column with a gap as
        # float64, which the Recommender refused as "float ids beyond 2**53"
        items = X.drop_duplicates("item_id")[["item_id", "item_f0", "item_f1",
                                              "item_category"]]  # fmt: skip
        users = X.drop_duplicates("user_id")[["user_id", "user_f0", "user_f1",
                                              "user_segment"]]  # fmt: skip
        rec = Recommender(model, items, users=users, context={"timestamp": 0})
        pairs = rows[["user_id", "item_id"]]
        exact = rec.score_pairs(pairs)["score"].to_numpy()
        for frame in (gap, text):
            got = rec.score_pairs(frame[["user_id", "item_id"]])["score"].to_numpy()
            assert_array_equal(got[:3], exact[:3])


def test_string_ids_with_a_nul_character_are_refused_not_merged():
    # numpy's fixed-width strings end at a trailing NUL: 'a\x00' read as 'a'
    # merged two items into one (listed twice) and two users into one
    from mtlclassic.candidates import EASE, ItemKNN, Popularity

    events = pd.DataFrame({"user_id": ["u1", "u1", "u2", "u2", "u3"],
                           "item_id": ["a", "a\x00", "a", "b", "b"]})  # fmt: skip
    for generator in (Popularity(), EASE(1.0)):
        with pytest.raises(ValueError, match=r"'item_id' hold the NUL character"):
            generator.fit(events)
    clean = events.assign(item_id=events.item_id.str.replace("\x00", ""))
    fitted = Popularity().fit(clean)
    with pytest.raises(ValueError, match="NUL character"):
        fitted.recommend(["u1\x00"])
    with pytest.raises(ValueError, match="NUL character"):
        fitted.recommend("u1\x00")  # a scalar too
    knn = ItemKNN().fit(clean)
    with pytest.raises(ValueError, match="NUL character"):
        knn.similar_items(["a\x00"])
    with pytest.raises(ValueError, match="NUL character"):
        knn.similar_items("a\x00")
    with pytest.raises(ValueError, match="NUL character"):
        fitted.update(pd.DataFrame({"user_id": ["u1\x00"], "item_id": ["a"]}))
    assert fitted.recommend(["u3"], n=5).item_id.tolist() == ["a"]


def test_category_ids_score_a_new_user_by_the_cold_start_rule(recsys, tmp_path):
    # the FM's passthrough re-coded the ids to the fitted categories, so the new
    # user became a missing id and predict, update_model and the CLI refused it
    from mtlclassic import compile as compile_model
    from mtlclassic import save
    from mtlclassic.cli import main

    X, Y = recsys
    params = dict(fm_n_iter=6, n_estimators=20, factors=8, iterations=3, n_jobs=1,
                  random_state=0)  # fmt: skip
    rows = X.head(3).copy()
    rows.loc[rows.index[0], "user_id"] = 9999  # a user nobody has seen
    plain = make_multitask_recommender(**params).fit(X, Y)
    want = plain.predict(rows)
    ids = {"user_id": "category", "item_id": "category"}
    model = make_multitask_recommender(**params).fit(X.astype(ids), Y)
    assert_array_equal(model.predict(rows.iloc[1:]), want[1:])  # same model
    for frame in (rows, rows.astype(ids)):
        assert_array_equal(model.predict(frame), want)
        assert_array_equal(compile_model(model).predict(frame), want)
    save(model, tmp_path / "m.mtlc", input_example=X.astype(ids).head())
    rows.to_csv(tmp_path / "new.csv", index=False)
    assert main(["score", str(tmp_path / "m.mtlc"), str(tmp_path / "new.csv"),
                 str(tmp_path / "out.csv")]) == 0  # fmt: skip
    scored = pd.read_csv(tmp_path / "out.csv")
    np.testing.assert_allclose(scored[list(Y.columns)].to_numpy(), want, rtol=1e-12)


def test_categories_given_in_another_type_are_conformed_or_refused(recsys):
    # text categories given as their int codes, and a category of bools given as
    # 'True'/'False' text, were scored as missing on every row, silently
    from mtlclassic import MultiTaskLGBM

    X, Y = recsys
    X = X.drop(columns="timestamp").assign(flag=lambda d: pd.Categorical(d.user_f0 > 0))
    heads = MultiTaskLGBM(n_estimators=20, random_state=0, n_jobs=1).fit(X, Y)
    params = dict(time_col=None, fm_n_iter=6, n_estimators=20, factors=8,
                  iterations=3, n_jobs=1, random_state=0)  # fmt: skip
    pipe = make_multitask_recommender(**params).fit(X, Y)
    for model in (heads, pipe):
        want = model.predict(X)
        for flag in (X.flag.astype(str), X.flag.astype(str).str.upper(),
                     X.flag.astype(int), X.flag.astype(bool)):  # fmt: skip
            assert_array_equal(model.predict(X.assign(flag=flag)), want)
        with pytest.raises(ValueError, match="'flag': fitted as a category of bools"):
            model.predict(X.assign(flag=X.flag.astype(str).replace("True", "yes")))
    codes = X.assign(item_category=X.item_category.cat.codes)
    message = r"'item_category': fitted as a category of text .* but got numbers"
    for model in (heads, pipe):
        with pytest.raises(ValueError, match=message):
            model.predict(codes)
    # an unseen value of a type the categories can hold stays an unseen one
    ints = X.assign(item_category=X.item_category.cat.codes.astype("category"))
    on_ints = MultiTaskLGBM(n_estimators=20, random_state=0, n_jobs=1).fit(ints, Y)
    gone = ints.head(3).assign(item_category=np.nan)
    for value in (9.0, "9", 99):
        row = ints.head(3).assign(item_category=value)
        assert_array_equal(on_ints.predict(row), on_ints.predict(gone))
    # a category nobody saw, of the fitted type, is still scored as unseen
    unseen = X.head(3).assign(item_category="a new one")
    missing = X.head(3).assign(item_category=np.nan)
    assert_array_equal(heads.predict(unseen), heads.predict(missing))


def test_numbers_as_a_category_and_all_missing_objects_read_as_numbers(recsys):
    # a numeric column given as a category of floats, or as an object column of
    # pd.NA (a Recommender context), was "neither numeric nor categorical"
    from mtlclassic import compile as compile_model

    X, Y = recsys
    params = dict(fm_n_iter=6, n_estimators=20, factors=8, iterations=3, n_jobs=1,
                  random_state=0)  # fmt: skip
    model = make_multitask_recommender(**params).fit(X, Y)
    rounded = X.assign(item_f1=X.item_f1.round(1))
    want = model.predict(rounded)
    as_category = rounded.assign(item_f1=rounded.item_f1.astype("category"))
    assert_array_equal(model.predict(as_category), want)
    missing = X.head(4).assign(item_f1=np.nan)
    boxed = X.head(4).assign(item_f1=pd.Series([pd.NA] * 4, dtype=object,
                                               index=X.index[:4]))  # fmt: skip
    assert_array_equal(model.predict(boxed), model.predict(missing))
    assert_array_equal(compile_model(model).predict(boxed), model.predict(missing))


def test_the_fitted_kind_is_computed_once_per_array_and_never_stale(monkeypatch):
    from mtlclassic import _ids

    calls = []
    original = _ids.id_kind
    monkeypatch.setattr(_ids, "id_kind", lambda v: calls.append(1) or original(v))
    texts = np.array(["a", "b"], dtype=object)
    assert _ids.reference_kind(texts) == "str" and _ids.reference_kind(texts) == "str"
    assert len(calls) == 1  # the second call is the cached kind
    del texts
    ints = np.array([1, 2], dtype=object)  # may reuse the freed array's id
    assert _ids.reference_kind(ints) == "int"


def test_pipeline_predicts_an_array_by_position_as_its_frame(recsys):
    # the array's columns reach the FM as objects: 'user_f0 (dtype object) is
    # neither numeric nor categorical' where scikit-learn reads them by position
    import warnings

    X, Y = recsys
    params = dict(fm_n_iter=4, n_estimators=10, factors=4, iterations=2, n_jobs=1,
                  random_state=0)  # fmt: skip
    model = make_multitask_recommender(**params).fit(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn: X has no feature names
        got = model.predict(X.head(50).to_numpy())
    assert_array_equal(got, model.predict(X.head(50)))
