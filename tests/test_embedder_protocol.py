"""A new embedder plugs into the pipeline, Recommender and CLI by the protocol.

``ItemPopularity`` below is the whole embedder: nothing else in the package
knows it (issue 13: one file touched to add an embedder).
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import KFold
from sklearn.utils.validation import validate_data

from mtlclassic import (
    ALSEmbedder,
    FMEmbedder,
    Recommender,
    make_multitask_recommender,
    make_multitask_recsys,
)
from mtlclassic.embedding import BaseEmbedder, id_index, lookup_ids
from tests._catalogue import catalogues


class ItemPopularity(BaseEmbedder):
    """log(1 + events of the item) in fit; 0 for an unseen item."""

    def __init__(self, user_col="user_id", item_col="item_id", passthrough=True,
                 cv=None, random_state=None):  # fmt: skip
        self.user_col = user_col
        self.item_col = item_col
        self.passthrough = passthrough
        self.cv = cv
        self.random_state = random_state

    def fit(self, X, y=None):
        validate_data(self, X, skip_check_array=True)
        self.item_ids_, codes = id_index(X[self.item_col].to_numpy(), self.item_col)
        self.counts_ = np.bincount(codes)
        self._remember_passthrough(X)
        return self

    def _embed(self, X):
        validate_data(self, X, skip_check_array=True, reset=False)
        rows = lookup_ids(self.item_ids_, X[self.item_col].to_numpy(), self.item_col)
        counts = np.where(rows >= 0, self.counts_[np.maximum(rows, 0)], 0)
        return X, np.log1p(counts)[:, None]

    def _embedding_names(self):
        return ["item_log_popularity"]

    def known_ids(self):
        return {self.item_col: self.item_ids_}


@pytest.fixture(scope="module")
def data():
    return make_multitask_recsys(n_users=50, n_items=30, n_events=1200, random_state=1)


def _hand_popularity(train_items, items):
    counts = pd.Series(train_items).value_counts()
    return np.log1p(pd.Series(items).map(counts).fillna(0).to_numpy())


def test_transform_equals_hand_counts_and_keeps_passthrough(data):
    X, _ = data
    train, test = X.iloc[:800], X.iloc[800:].copy()
    test.loc[test.index[:3], "item_id"] = [1000, 1001, 1002]  # unseen items
    emb = ItemPopularity().set_output(transform="pandas").fit(train)
    Z = emb.transform(test)
    np.testing.assert_allclose(
        Z["item_log_popularity"], _hand_popularity(train["item_id"], test["item_id"])
    )
    assert (Z["item_log_popularity"].iloc[:3] == 0).all()
    assert list(Z.columns) == ["item_log_popularity", *X.columns]
    pd.testing.assert_frame_equal(Z[list(X.columns)], test)  # dtypes kept
    assert list(emb.get_feature_names_out()) == list(Z.columns)
    dense = ItemPopularity(passthrough=False).fit(train).transform(test)
    np.testing.assert_allclose(dense[:, 0], Z["item_log_popularity"])
    with pytest.raises(ValueError, match="input_features"):
        emb.get_feature_names_out(["a", "b"])


def test_fit_transform_is_cross_fitted_by_the_base(data):
    X, _ = data
    folds = KFold(3, shuffle=True, random_state=0)
    Z = ItemPopularity(cv=folds, passthrough=False).fit_transform(X)
    expected = np.empty(len(X))
    for train, test in folds.split(X):
        expected[test] = _hand_popularity(
            X["item_id"].iloc[train], X["item_id"].iloc[test]
        )
    np.testing.assert_allclose(Z[:, 0], expected)


def test_plugs_into_the_pipeline_recommender_and_cli(data, tmp_path):
    X, Y = data
    model = make_multitask_recommender(
        embedders=("fm", ItemPopularity(), "als"), n_estimators=20, fm_n_iter=4,
        factors=4, iterations=3, cv=2, random_state=0, n_jobs=1,
    ).fit(X, Y)  # fmt: skip
    names = [n for n, _ in model.steps]
    assert names == ["drop_time", "fmembedder", "itempopularity", "alsembedder",
                     "multitasklgbm"]  # fmt: skip
    head = model.named_steps["multitasklgbm"]
    assert "item_log_popularity" in head.features_
    assert head.init_score == "fm_score_{task}"  # the FM step still gives offsets
    # the object had cv=None, so it got the pipeline's EventKFold (out-of-fold
    # training features, like the built-in steps)
    assert model.named_steps["itempopularity"].cv is not None
    items, users = catalogues(X)
    rec = Recommender(model, items, users=users,
                      context={"timestamp": int(X["timestamp"].max())})  # fmt: skip
    top = rec.recommend([0, 1], k=5)
    assert top.groupby("user_id").size().tolist() == [5, 5]
    pairs = top[["user_id", "item_id"]]
    np.testing.assert_allclose(rec.score_pairs(pairs)["score"], top["score"])


def test_custom_embedder_alone_serves_every_catalogue_item(data):
    X, Y = data
    model = make_multitask_recommender(
        embedders=(ItemPopularity(),), n_estimators=20, cv=2, random_state=0, n_jobs=1
    ).fit(X, Y)
    assert model.named_steps["multitasklgbm"].init_score is None
    items, users = catalogues(X)
    rec = Recommender(model, items, users=users,
                      context={"timestamp": int(X["timestamp"].max())})  # fmt: skip
    assert rec._candidate_source is None and rec.seen_ is None
    # ids are converted to the type the embedder saw in fit (its known_ids)
    got = rec.recommend(["3"], k=4)
    every = rec.score_pairs(
        pd.DataFrame({"user_id": 3, "item_id": items["item_id"].to_numpy()})
    )
    best = every.sort_values("score", ascending=False, kind="stable").head(4)
    np.testing.assert_array_equal(got["item_id"], best["item_id"])
    np.testing.assert_allclose(got["score"], best["score"])


def test_objects_that_are_not_embedders_are_refused():
    with pytest.raises(ValueError, match="embedders must be a non-empty subset"):
        make_multitask_recommender(embedders=("fm", object()))


def test_saved_with_the_model_loaded_when_trusted_and_served_by_the_cli(
    data, tmp_path, capsys
):
    from mtlclassic import load, save
    from mtlclassic.cli import main
    from mtlclassic.io import ModelFileError

    X, Y = data
    model = make_multitask_recommender(
        embedders=(ItemPopularity(), "als"), n_estimators=20, factors=4,
        iterations=3, cv=2, random_state=0, n_jobs=1,
    ).fit(X, Y)  # fmt: skip
    items, users = catalogues(X)
    rec = Recommender(model, items, users=users, context={"timestamp": 0})
    path = save(rec, tmp_path / "rec.mtlc", input_example=X.head())
    with pytest.raises(ModelFileError, match="ItemPopularity.*trusted="):
        load(path)  # a class outside the allow-list is never imported silently
    here = __name__  # this module, as the file names it
    loaded = load(path, trusted=[here])
    pd.testing.assert_frame_equal(loaded.recommend([0, 7], k=3),
                                  rec.recommend([0, 7], k=3))  # fmt: skip
    # the CLI finds the id columns by the protocol and copies them to OUTPUT
    X.head(20).to_csv(tmp_path / "in.csv", index=False)
    args = ["score", str(path), str(tmp_path / "in.csv"), str(tmp_path / "out.csv")]
    assert main(args) == 2
    assert "trusted" in capsys.readouterr().err
    assert main([*args, "--trust", here]) == 0
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns[:2]) == ["user_id", "item_id"]
    np.testing.assert_allclose(out[list(rec.tasks_)], model.predict(X.head(20)),
                               rtol=1e-6)  # fmt: skip


def test_embedders_order_duplicates_and_cross_fitting_of_objects():
    from mtlclassic.model_selection import EventKFold

    steps = make_multitask_recommender(embedders=("als", "fm")).steps
    assert [n for n, _ in steps][1:3] == ["fmembedder", "alsembedder"]  # ALS last
    steps = make_multitask_recommender(embedders=("als", ItemPopularity())).steps
    assert [n for n, _ in steps][1:3] == ["itempopularity", "alsembedder"]
    with pytest.raises(ValueError, match="each once"):
        make_multitask_recommender(embedders=("fm", "fm"))
    # an object without folds of its own is cross-fitted like the built-in steps
    pipe = make_multitask_recommender(embedders=(ItemPopularity(),), cv=3)
    assert isinstance(pipe.named_steps["itempopularity"].cv, EventKFold)
    kept = make_multitask_recommender(embedders=(ItemPopularity(cv=0),), cv=3)
    assert kept.named_steps["itempopularity"].cv == 0


def test_fm_object_of_one_task_gives_that_task_its_offset(data):
    from mtlclassic import FMEmbedder

    X, Y = data
    fm = FMEmbedder("click", 2, n_iter=4, features=("scores",), random_state=0)
    model = make_multitask_recommender(
        embedders=(fm, "als"), n_estimators=10, factors=4, iterations=2, cv=2,
        random_state=0, n_jobs=1,
    )  # fmt: skip
    head = model.named_steps["multitasklgbm"]
    assert head.init_score == {"click": "fm_score_click"}
    model.fit(X, Y)
    assert head.init_score_columns_ == {"click": head.features_.index("fm_score_click")}


class FrameOut(ItemPopularity):
    """Returns its new column as a DataFrame (index 0..n-1) or a 1-D array."""

    shape = "frame"

    def _embed(self, X):
        Xv, Z = super()._embed(X)
        if self.shape == "frame":
            return Xv, pd.DataFrame(Z, columns=["item_log_popularity"])
        if self.shape == "1d":
            return Xv, Z[:, 0]
        return Xv, Z[:-1]


@pytest.mark.parametrize("shape", ["frame", "1d"])
def test_embed_output_is_taken_by_position(data, shape):
    X, _ = data
    X = X.set_index(np.arange(len(X)) + 10_000)  # not aligned with 0..n-1
    expected = ItemPopularity(passthrough=False).fit(X).transform(X)
    emb = FrameOut(passthrough=False)
    emb.shape = shape
    for output in ("default", "pandas"):
        Z = emb.set_output(transform=output).fit(X).transform(X)
        np.testing.assert_array_equal(np.asarray(Z, dtype=float), expected)


def test_embed_with_the_wrong_number_of_rows_is_refused(data):
    X, _ = data
    emb = FrameOut()
    emb.shape = "short"
    with pytest.raises(ValueError, match=r"FrameOut._embed returned .* one row"):
        emb.fit(X).transform(X)


PLUGIN = """
import numpy as np
from sklearn.utils.validation import validate_data
from mtlclassic.embedding import BaseEmbedder, id_index, lookup_ids


class UserActivity(BaseEmbedder):
    def __init__(self, user_col="user_id", item_col="item_id", passthrough=True,
                 cv=None, random_state=None):
        self.user_col, self.item_col = user_col, item_col
        self.passthrough, self.cv, self.random_state = passthrough, cv, random_state

    def fit(self, X, y=None):
        validate_data(self, X, skip_check_array=True)
        self.user_ids_, codes = id_index(X[self.user_col].to_numpy(), self.user_col)
        self.counts_ = np.bincount(codes)
        self._remember_passthrough(X)
        return self

    def _embed(self, X):
        validate_data(self, X, skip_check_array=True, reset=False)
        rows = lookup_ids(self.user_ids_, X[self.user_col].to_numpy(), self.user_col)
        return X, np.log1p(np.where(rows >= 0, self.counts_[rows], 0))

    def _embedding_names(self):
        return ["user_log_activity"]
"""


def test_console_script_trusts_a_module_in_the_current_directory(
    data, tmp_path, monkeypatch
):
    import importlib
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from mtlclassic import save

    script = shutil.which("mtlclassic", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the mtlclassic console script is not installed")
    (tmp_path / "plugin_mod.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin = importlib.import_module("plugin_mod")
    X, Y = data
    model = make_multitask_recommender(
        embedders=(plugin.UserActivity(),), n_estimators=10, cv=2, random_state=0,
        n_jobs=1,
    ).fit(X, Y)  # fmt: skip
    save(model, tmp_path / "model.mtlc", input_example=X.head())
    X.head(30).to_csv(tmp_path / "in.csv", index=False)
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    run = [script, "score", "model.mtlc", "in.csv", "out.csv", "--trust", "plugin_mod"]
    done = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = pd.read_csv(tmp_path / "out.csv")
    np.testing.assert_allclose(out[list(Y.columns)], model.predict(X.head(30)),
                               rtol=1e-6)  # fmt: skip


@pytest.mark.parametrize(
    "embedder, column",
    [
        (ALSEmbedder(factors=4, iterations=2, cv=None, random_state=0), "als_score"),
        (FMEmbedder(n_iter=3, cv=None, random_state=0), "fm_score_rating"),
    ],
)
def test_an_input_column_named_like_an_output_column_is_refused(embedder, column):
    X, Y = make_multitask_recsys(n_users=60, n_items=40, n_events=800, random_state=0)
    X = X.rename(columns={"user_f0": column})
    for method in ("fit", "fit_transform"):  # refused before any fitting
        with pytest.raises(ValueError, match=rf"two columns named \['{column}'\]"):
            getattr(clone(embedder).set_output(transform="pandas"), method)(X, Y)
    # without the passthrough the names are unique again
    out = (
        clone(embedder)
        .set_params(passthrough=False)
        .set_output(transform="pandas")
        .fit(X, Y)
        .transform(X.head())
    )
    assert out.columns.is_unique and column in out.columns


@pytest.fixture(scope="module")
def small():
    return make_multitask_recsys(n_users=40, n_items=30, n_events=500, random_state=0)


@pytest.mark.parametrize("cv", [0, 1])
def test_cv_zero_or_one_keeps_every_embedder_in_sample(small, cv):
    from mtlclassic import SessionEmbedder

    X, Y = small
    for make in (
        lambda cv: FMEmbedder(n_components=2, n_iter=3, cv=cv, random_state=0),
        lambda cv: SessionEmbedder(cv=cv, random_state=0),
        lambda cv: ALSEmbedder(factors=2, iterations=2, cv=cv, random_state=0),
    ):
        off = make(None).set_output(transform="pandas").fit_transform(X, Y)
        got = make(cv).set_output(transform="pandas").fit_transform(X, Y)
        pd.testing.assert_frame_equal(got, off)


def test_fm_per_task_fits_take_one_weight_column_per_task_of_y(small):
    X, Y = small
    W = np.random.default_rng(0).uniform(0.5, 2.0, (len(X), Y.shape[1]))

    def embedding(target, weights):
        fm = FMEmbedder(target, n_components=2, n_iter=4, cv=None, random_state=0,
                        passthrough=False)  # fmt: skip
        return fm.fit(X, Y, sample_weight=weights).transform(X)

    by_name = pd.DataFrame(W, columns=Y.columns)  # the oracle: matched by name
    np.testing.assert_array_equal(embedding("each", W), embedding("each", by_name))
    click = list(Y.columns).index("click")
    np.testing.assert_array_equal(
        embedding("click", W), embedding("click", W[:, [click]])
    )


def test_a_one_shot_iterator_of_folds_is_refused_and_its_list_taken(small):
    X, _ = small
    als = ALSEmbedder(factors=2, iterations=2, random_state=0, passthrough=False)
    with pytest.raises(TypeError, match=r"one-shot iterator.*list\(cv\)"):
        clone(als).set_params(cv=KFold(3).split(X)).fit_transform(X)
    folds = list(KFold(3).split(X))
    listed = clone(als).set_params(cv=folds).fit_transform(X)
    splitter = clone(als).set_params(cv=KFold(3)).fit_transform(X)
    np.testing.assert_array_equal(listed, splitter)


def test_the_factory_leaves_a_given_embedder_as_it_was():
    from mtlclassic import SessionEmbedder

    given = SessionEmbedder()
    first = make_multitask_recommender(embedders=(given, "fm", "als"), cv=5)
    second = make_multitask_recommender(embedders=(given, "fm", "als"), cv=2)
    assert given.get_params()["cv"] is None
    assert first.steps[0][1] is not second.steps[0][1]
    assert second.steps[0][1].get_params()["cv"].get_n_splits() == 2
