"""Feedback without a full refit: Recommender.update and ``mtlclassic update``."""

import numpy as np
import pandas as pd
import pytest

from mtlclassic import (
    Recommender,
    load,
    make_multitask_recommender,
    make_multitask_recsys,
    save,
)
from tests._catalogue import catalogues

PARAMS = dict(n_estimators=20, fm_n_iter=4, factors=4, iterations=3, cv=2,
              random_state=0, n_jobs=1)  # fmt: skip


@pytest.fixture(scope="module")
def data():
    X, Y = make_multitask_recsys(n_users=60, n_items=40, n_events=1800, random_state=2)
    return X.iloc[:1500], Y.iloc[:1500], X.iloc[1500:], Y.iloc[1500:]


def _fitted(data):
    X, Y, _, _ = data
    model = make_multitask_recommender(**PARAMS).fit(X, Y)
    items, users = catalogues(pd.concat([data[0], data[2]]))
    return Recommender(model, items, users=users, context={"timestamp": 0})


def test_update_equals_heads_refit_on_prior_features_then_embedders(data):
    _, _, X_new, Y_new = data
    rec, manual = _fitted(data), _fitted(data).model
    rec.update(X_new, Y_new, decay_rate=0.5)
    features = manual[:-1].transform(X_new)  # before the embedders learn X_new
    fm_input = manual[:1].transform(X_new)  # the FM's own input (time dropped)
    manual.named_steps["multitasklgbm"].update(features, Y_new, decay_rate=0.5)
    manual.named_steps["fmembedder"].update(fm_input, Y_new)
    manual.named_steps["alsembedder"].fold_in(X_new)
    probe = pd.concat([data[0].tail(50), X_new])
    np.testing.assert_array_equal(rec.model.predict(probe), manual.predict(probe))


def test_new_user_gets_factors_and_their_items_become_seen(data):
    _, _, X_new, Y_new = data
    rec = _fitted(data)
    new_user = int(rec._candidate_source.user_index_.max()) + 1
    events = X_new.head(4).assign(user_id=new_user)
    before = rec.recommend([new_user], k=40)
    assert set(events["item_id"]) & set(before["item_id"])  # cold: popular items
    rec.update(events)  # no labels: the heads stay as they are
    assert new_user in set(rec._candidate_source.user_index_)
    after = rec.recommend([new_user], k=40)
    assert not set(events["item_id"]) & set(after["item_id"])
    assert rec._candidate_source.recommend_candidates([new_user])["score"].notna().all()


def test_empty_update_and_label_errors(data):
    _, _, X_new, Y_new = data
    rec = _fitted(data)
    before = rec.model.predict(X_new)
    rec.update(X_new.iloc[:0], Y_new.iloc[:0])
    np.testing.assert_array_equal(rec.model.predict(X_new), before)
    with pytest.raises(ValueError, match="not tasks of the model"):
        rec.update(X_new, Y_new.rename(columns={"like": "buy"}))
    with pytest.raises(ValueError, match="one row of labels per event"):
        rec.update(X_new, Y_new.iloc[:3])
    with pytest.raises(ValueError, match=r"decay_rate must be in \[0, 1\]"):
        rec.update(X_new, Y_new, decay_rate=2)


def test_update_cli_equals_recommender_update(data, tmp_path, capsys):
    from mtlclassic.cli import main

    X, _, X_new, Y_new = data
    rec = _fitted(data)
    path = save(rec, tmp_path / "rec.mtlc", input_example=X.head())
    pd.concat([X_new, Y_new[["rating", "click"]]], axis=1).to_csv(
        tmp_path / "new.csv", index=False
    )
    out = tmp_path / "updated.mtlc"
    args = ["update", str(path), str(tmp_path / "new.csv"), str(out)]
    assert main([*args, "--decay-rate", "0.7"]) == 0
    assert "labels: ['rating', 'click']" in capsys.readouterr().err
    rec.update(X_new, Y_new[["rating", "click"]], decay_rate=0.7)
    np.testing.assert_allclose(load(out).model.predict(X_new), rec.model.predict(X_new),
                               rtol=1e-12)  # fmt: skip
    assert main(args) == 2  # OUTPUT exists
    assert "--overwrite" in capsys.readouterr().err


def test_als_update_is_its_fold_in(data):
    from sklearn.base import clone

    from mtlclassic import ALSEmbedder

    X, _, X_new, _ = data
    a = ALSEmbedder(factors=4, iterations=3, cv=None, random_state=0).fit(X)
    b = clone(a).fit(X)
    a.update(X_new)
    b.fold_in(X_new)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.user_index_, b.user_index_)


def test_update_cli_keeps_n_jobs_and_checks_decay_rate(data, tmp_path, capsys):
    from mtlclassic.cli import main

    X, _, X_new, _ = data
    path = save(_fitted(data), tmp_path / "rec.mtlc", input_example=X.head())
    X_new.to_csv(tmp_path / "new.csv", index=False)
    args = ["update", str(path), str(tmp_path / "new.csv"), str(tmp_path / "o.mtlc")]
    assert main([*args, "--decay-rate", "2"]) == 2
    assert "--decay-rate must be in [0, 1]" in capsys.readouterr().err
    assert main([*args, "--n-jobs", "2"]) == 0
    saved = load(tmp_path / "o.mtlc").model.get_params()
    assert saved["multitasklgbm__n_jobs"] == 1 and saved["alsembedder__n_jobs"] == 1
    # a ';'-separated file is named as such (it failed in scikit-learn's
    # feature-name check), as score, similar and recommend name it
    X_new.to_csv(tmp_path / "semi.csv", index=False, sep=";")
    semi = ["update", str(path), str(tmp_path / "semi.csv"), str(tmp_path / "s.mtlc")]
    assert main(semi) == 2
    assert "EVENTS" in (err := capsys.readouterr().err) and "';'-separated" in err


def test_update_model_on_a_bare_head_and_ranking_grades(data):
    from mtlclassic import MultiTaskLGBM, update_model

    X, Y, X_new, Y_new = data
    F, F_new = X.drop(columns="timestamp"), X_new.drop(columns="timestamp")
    single = MultiTaskLGBM(n_estimators=10, random_state=0).fit(F, Y["rating"])
    before = single.predict(F_new)
    update_model(single, F_new, Y_new["rating"], decay_rate=1.0)  # a Series
    np.testing.assert_allclose(single.predict(F_new), before, rtol=0, atol=1e-12)
    grades = Y[["rating"]].fillna(0).astype(int)
    rank = MultiTaskLGBM(tasks={"rating": "ranking"}, query_col="user_id",
                         n_estimators=5, random_state=0).fit(F, grades)  # fmt: skip
    with pytest.raises(
        ValueError, match="Ranking task 'rating' has relevance grade 40"
    ):
        rank.update(F_new.head(5), pd.DataFrame({"rating": [40, 1, 2, 3, 4]}))


def test_update_builds_missing_columns_from_the_catalogue(data):
    # events with the ids only: the other columns come from items, users and
    # context, as score_pairs builds them
    _, _, X_new, Y_new = data
    full, ids_only = _fitted(data), _fitted(data)
    rows = full._model_rows(X_new[["user_id", "item_id"]].reset_index(drop=True))
    full.update(rows, Y_new, decay_rate=0.5)
    ids_only.update(X_new[["user_id", "item_id"]], Y_new, decay_rate=0.5)
    np.testing.assert_array_equal(
        ids_only.model.predict(X_new), full.model.predict(X_new)
    )


def test_labelled_update_teaches_the_fm_new_users(data):
    _, _, X_new, Y_new = data
    rec = _fitted(data)
    fm = rec.model.named_steps["fmembedder"]
    new_user = 10_000
    events, labels = X_new.head(6).assign(user_id=new_user), Y_new.head(6)
    rec.update(events)  # no labels: the FM has nothing to learn from
    assert new_user not in set(fm.known_ids()["user_id"])
    before = rec.model[:2].transform(events)["fm_score_rating"].to_numpy()
    rec.update(events, labels)
    assert new_user in set(fm.known_ids()["user_id"])
    after = rec.model[:2].transform(events)["fm_score_rating"].to_numpy()
    assert not np.allclose(before, after)


def test_update_gives_the_same_numbers_on_every_path(tmp_path):
    """Python update_model, `mtlclassic update` then `mtlclassic score`, compile,
    save/load and ONNX agree, with new users, items and category values."""
    import mtlclassic as mtl
    from mtlclassic.cli import main

    X, Y = mtl.make_multitask_recsys(n_users=80, n_items=50, n_events=2500,
                                     random_state=0)  # fmt: skip
    old = (X.user_id < 60) & (X.item_id < 45)
    model = mtl.make_multitask_recommender(
        n_estimators=15, factors=4, fm_n_iter=5, random_state=0, cv=2, n_jobs=1
    ).fit(X[old], Y[old])
    new = X[~old].head(200).copy()
    new["item_category"] = new.item_category.cat.add_categories(["brand_new"])
    new.loc[new.index[:20], "item_category"] = "brand_new"
    labels = Y.loc[new.index]
    path = str(mtl.save(model, tmp_path / "m.mtlc", input_example=X.head()))
    in_python = mtl.update_model(mtl.load(path), new, labels)
    events = pd.concat([new.reset_index(drop=True), labels.reset_index(drop=True)],
                       axis=1)  # fmt: skip
    events.to_csv(tmp_path / "events.csv", index=False)
    assert main(["update", path, str(tmp_path / "events.csv"),
                 str(tmp_path / "m2.mtlc")]) == 0  # fmt: skip
    rows = X.sample(300, random_state=1)
    rows = rows.assign(item_category=rows.item_category.cat.add_categories(
        ["brand_new"]))  # fmt: skip
    rows.loc[rows.index[:30], "item_category"] = "brand_new"
    expected = in_python.predict(rows)
    assert np.abs(expected - model.predict(rows)).max() > 1e-3  # it learned
    np.testing.assert_allclose(
        mtl.load(tmp_path / "m2.mtlc").predict(rows), expected, rtol=0, atol=1e-12
    )
    rows.to_csv(tmp_path / "rows.csv", index=False)
    assert main(["score", str(tmp_path / "m2.mtlc"), str(tmp_path / "rows.csv"),
                 str(tmp_path / "out.csv")]) == 0  # fmt: skip
    scored = pd.read_csv(tmp_path / "out.csv")[list(Y.columns)].to_numpy()
    np.testing.assert_allclose(scored, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(mtl.compile(in_python).predict(rows), expected)


def test_update_refusals_leave_everything_as_it_was(data):
    # a 1e200 rating: the heads learned it before the FM refused it; labels in
    # another row order were paired by position; an unfitted Recommender gave
    # an AttributeError
    from sklearn.exceptions import NotFittedError

    from mtlclassic import MultiTaskFM, update_model

    _, _, X_new, Y_new = data
    rec = _fitted(data)
    before = rec.recommend([0, 1, 2], k=5)
    heads = rec.model_.named_steps["multitasklgbm"]
    trees = {n: b.model_to_string() for n, b in heads.boosters_.items()}
    huge = Y_new.assign(rating=Y_new.rating.fillna(3.0) * 1e200)
    with pytest.raises(ValueError, match="'rating' has labels up to .*beyond 1e\\+100"):
        rec.update(X_new, huge)
    with pytest.raises(ValueError, match="labels has X's index labels in another"):
        rec.update(X_new, Y_new.sort_values("rating"))
    assert {n: b.model_to_string() for n, b in heads.boosters_.items()} == trees
    pd.testing.assert_frame_equal(rec.recommend([0, 1, 2], k=5), before)
    with pytest.raises(NotFittedError):
        Recommender(make_multitask_recommender(**PARAMS), rec.items).update(X_new)
    # ids alone (no time column) for a Recommender around a fitted model
    rec.update(X_new[["user_id", "item_id"]].head(5))
    # a factorization machine as the last step learns through update(X, y)
    X, Y, _, _ = data
    cols = ["user_id", "item_id", "user_f0", "item_f0"]
    fm = MultiTaskFM(2, n_iter=4, random_state=0).fit(X[cols], Y)
    manual = MultiTaskFM(2, n_iter=4, random_state=0).fit(X[cols], Y)
    update_model(fm, X_new[cols], Y_new)
    manual.update(X_new[cols], Y_new)
    np.testing.assert_array_equal(fm.predict(X_new[cols]), manual.predict(X_new[cols]))


def test_generators_take_an_empty_update_as_no_change(data):
    from mtlclassic.candidates import EASE, CandidateUnion, ItemKNN, Popularity

    X, _, _, _ = data
    events = X[["user_id", "item_id"]]
    union = CandidateUnion([("pop", Popularity()), ("ease", EASE())])
    for generator in (EASE(), ItemKNN(), Popularity(), union):
        generator.fit(events)
        before = generator.recommend([0, 1], 5)
        generator.update(events.head(0))
        pd.testing.assert_frame_equal(generator.recommend([0, 1], 5), before)
