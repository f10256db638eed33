"""The default pipeline's ALS models, fitted ahead on the core the FM leaves idle."""

import contextlib
import pickle
import threading
import time

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from mtlclassic import (
    ALSEmbedder,
    FMEmbedder,
    make_multitask_recommender,
    make_multitask_recsys,
)
from mtlclassic._worker import core_borrower, lend_cores
from mtlclassic.embedding import _als_ahead
from mtlclassic.embedding._fm import embedder as fm_embedder
from mtlclassic.recommend import _pipeline
from mtlclassic.recommend._pipeline import MultiTaskPipeline

from .test_worker import _ready_worker


def _data():
    return make_multitask_recsys(60, 40, 900, n_side_features=1, random_state=3)


def _als(**kw):
    return ALSEmbedder(
        **{"factors": 4, "iterations": 3, "cv": 3, "random_state": 0, **kw}
    )


def _count_solves(monkeypatch):
    """Count implicit's ALS solves per thread name."""
    from implicit.cpu.als import AlternatingLeastSquares

    solves = {}
    fit = AlternatingLeastSquares.fit

    def counted(self, *args, **kwargs):
        name = threading.current_thread().name
        solves[name] = solves.get(name, 0) + 1
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(AlternatingLeastSquares, "fit", counted)
    return solves


def test_models_fitted_ahead_are_taken_and_give_the_step_its_own_output(monkeypatch):
    X, _ = _data()
    ids = X[["user_id", "item_id"]]
    plain = _als().fit_transform(X)
    solves = _count_solves(monkeypatch)
    with _als_ahead.fitted_ahead(_als(n_jobs=2), ids) as ahead:
        ahead.start()  # as the FM does when its chain ends
        while not ahead.done.wait(0.01):
            pass  # every model fitted ahead before the step asks
        step = _als(n_jobs=2)
        out = step.fit_transform(X)
    assert ahead.error is None
    # the model on all rows taken, and the out-of-fold embedding of the 3 folds'
    assert ahead.taken == 1 and ahead.embedding_taken
    assert solves == {"mtlclassic-als-ahead": 4}  # none solved again here
    np.testing.assert_array_equal(out, plain)
    np.testing.assert_array_equal(step.user_factors_, _als().fit(X).user_factors_)


@pytest.mark.parametrize("claimed", [False, True])
def test_models_fitted_in_the_worker_until_it_is_claimed(monkeypatch, claimed):
    X, _ = _data()
    plain = _als().fit_transform(X)
    helper = _ready_worker()
    solves = _count_solves(monkeypatch)  # here only: the worker's are not counted
    with contextlib.ExitStack() as stack:
        if claimed:  # the FM's folds hold the worker: the models are fitted here
            stack.enter_context(helper.claimed())
        ahead = stack.enter_context(
            _als_ahead.fitted_ahead(_als(n_jobs=2), X[["user_id", "item_id"]], helper)
        )
        if claimed:
            time.sleep(0.3)  # time to have tried the worker
        for _ in range(0 if claimed else 3000):  # the worker needs no lent core
            if ahead.in_worker == 4:
                break
            time.sleep(0.01)
        ahead.start()
        while not ahead.done.wait(0.01):
            pass
        out = _als(n_jobs=2).fit_transform(X)
    assert ahead.error is None and ahead.taken == 1 and ahead.embedding_taken
    if claimed:
        assert ahead.in_worker == 0 and solves == {"mtlclassic-als-ahead": 4}
    else:
        assert ahead.in_worker == 4 and solves == {}
    np.testing.assert_array_equal(out, plain)


def test_an_ahead_fit_never_started_costs_no_solve(monkeypatch):
    X, _ = _data()
    plain = _als().fit_transform(X)
    solves = _count_solves(monkeypatch)
    with _als_ahead.fitted_ahead(_als(), X[["user_id", "item_id"]]) as ahead:
        out = _als().fit_transform(X)  # no FM lent its core
    assert ahead.taken == 0 and not ahead.models
    assert solves == {threading.main_thread().name: 4}
    np.testing.assert_array_equal(out, plain)


def test_the_step_stops_the_ahead_fit_and_solves_the_rest_itself(monkeypatch):
    X, _ = _data()
    plain = _als().fit_transform(X)
    solves = _count_solves(monkeypatch)
    second = threading.Event()
    record = _als_ahead.record

    def record_and_pause(*args):  # the ahead fit pauses after its second model
        record(*args)
        ahead = getattr(_als_ahead._local, "recording", None)
        if ahead is not None and len(ahead.models) == 2:
            second.set()
            ahead.stop.wait(60)  # until the step asks

    monkeypatch.setattr("mtlclassic.embedding._als.record", record_and_pause)
    with _als_ahead.fitted_ahead(_als(), X[["user_id", "item_id"]]) as ahead:
        ahead.start()
        assert second.wait(60)
        out = _als().fit_transform(X)
    # the model on all rows and fold 1's taken; folds 2 and 3 solved here
    assert ahead.taken == 2
    assert solves[threading.main_thread().name] == 4 - ahead.taken
    assert solves["mtlclassic-als-ahead"] == ahead.taken
    np.testing.assert_array_equal(out, plain)


@pytest.mark.parametrize("change", ["rows", "parameters"])
def test_a_model_fitted_on_other_inputs_is_not_taken(change):
    X, _ = _data()
    ids = X[["user_id", "item_id"]]
    step = _als()
    if change == "rows":
        ids = ids.iloc[:-50]
    else:
        step = _als(regularization=0.5)
    with _als_ahead.fitted_ahead(_als(), ids) as ahead:
        ahead.start()
        ahead.done.wait(60)
        out = clone(step).fit(X)
    assert ahead.error is None and len(ahead.models) >= 1
    assert ahead.taken == 0
    np.testing.assert_array_equal(out.user_factors_, clone(step).fit(X).user_factors_)


@pytest.mark.parametrize("change", ["ids", "index", "parameters"])
def test_an_embedding_fitted_ahead_for_other_inputs_is_not_taken(change):
    X, _ = _data()
    ids = X[["user_id", "item_id"]]
    step = _als(n_jobs=2)
    if change == "ids":  # the same users (so the same folds), other items
        X = X.assign(item_id=X["item_id"].to_numpy()[::-1])
    elif change == "index":
        X = X.set_axis(X.index + 1)
    else:  # the same models, another transform
        step = _als(n_jobs=2, features=("user", "score"))
    with _als_ahead.fitted_ahead(_als(n_jobs=2), ids) as ahead:
        ahead.start()
        while not ahead.done.wait(0.01):
            pass
        assert ahead.embedding is not None  # computed ahead
        out = step.fit_transform(X)
    assert not ahead.embedding_taken
    np.testing.assert_array_equal(out, clone(step).fit_transform(X))


class _LabelFolds:
    """Folds by the order of ``y`` (the ahead fit, without ``y``, draws others)."""

    def split(self, X, y=None, groups=None):
        order = np.arange(len(X)) if y is None else np.argsort(y, kind="stable")
        for k in range(3):
            test = np.sort(order[k::3])
            yield np.setdiff1d(np.arange(len(X)), test), test

    def get_n_splits(self, X=None, y=None, groups=None):
        return 3

    def __repr__(self):
        return "_LabelFolds()"


def test_an_embedding_fitted_ahead_on_other_folds_is_not_taken():
    X, Y = _data()
    y = Y["rating"].fillna(0).to_numpy()
    step = _als(n_jobs=2, cv=_LabelFolds())
    with _als_ahead.fitted_ahead(step, X[["user_id", "item_id"]]) as ahead:
        ahead.start()
        while not ahead.done.wait(0.01):
            pass
        assert ahead.embedding is not None
        out = step.fit_transform(X, y)
    assert not ahead.embedding_taken and ahead.embedding is None  # freed
    np.testing.assert_array_equal(out, clone(step).fit_transform(X, y))


def test_the_embedding_is_taken_with_the_id_columns_in_another_order():
    X, _ = _data()
    X = X[["item_id", *[c for c in X.columns if c != "item_id"]]]  # item first
    with _als_ahead.fitted_ahead(_als(n_jobs=2), X[["user_id", "item_id"]]) as ahead:
        ahead.start()
        while not ahead.done.wait(0.01):
            pass
        out = _als(n_jobs=2).fit_transform(X)
    assert ahead.embedding_taken
    np.testing.assert_array_equal(out, _als().fit_transform(X))


def test_an_ahead_fit_that_fails_leaves_the_step_to_solve(monkeypatch):
    X, _ = _data()
    ids = X[["user_id", "item_id"]].assign(user_id=np.nan)  # not valid ids
    with _als_ahead.fitted_ahead(_als(), ids) as ahead:
        ahead.start()
        ahead.done.wait(60)
        out = _als().fit(X)
    assert isinstance(ahead.error, (ValueError, TypeError))
    assert ahead.taken == 0
    np.testing.assert_array_equal(out.user_factors_, _als().fit(X).user_factors_)


def test_the_fm_lends_its_core_once_its_chain_ends_with_the_folds_in_the_worker(
    monkeypatch,
):
    X, Y = _data()
    kw = dict(n_components=2, n_iter=12, cv=3, random_state=0)
    _ready_worker()
    calls = []
    with lend_cores(lambda: calls.append(threading.current_thread().name)):
        assert core_borrower() is not None
        FMEmbedder(n_jobs=2, **kw).fit_transform(X, Y)
        lent = list(calls)
        FMEmbedder(n_jobs=1, **kw).fit_transform(X, Y)  # no worker: no lending
        with monkeypatch.context() as patch:  # the worker declines: threads
            patch.setattr(
                fm_embedder, "_cross_fit_folds_in", lambda h, j, *c: NotImplemented
            )
            FMEmbedder(n_jobs=2, **kw).fit_transform(X, Y)
        with monkeypatch.context() as patch:  # the folds back before the chain ends
            fit = FMEmbedder.fit

            def slow_chain(self, *args, **kwargs):
                fit(self, *args, **kwargs)
                if getattr(self, "_fork", None) is not None:
                    time.sleep(1.0)
                return self

            patch.setattr(FMEmbedder, "fit", slow_chain)
            FMEmbedder(n_jobs=2, **kw).fit_transform(X, Y)
        monkeypatch.setattr(fm_embedder, "WORKER_MAX_ROWS", 0)  # folds in threads
        FMEmbedder(n_jobs=2, **kw).fit_transform(X, Y)
    assert core_borrower() is None
    assert len(lent) == 1 and len(calls) == 1


SMALL = dict(fm_n_iter=12, fm_components=2, factors=4, iterations=3, cv=3,
             n_estimators=20, random_state=0)  # fmt: skip


def _ahead_threads():
    return [t for t in threading.enumerate() if t.name == "mtlclassic-als-ahead"]


def test_the_default_pipeline_fits_als_ahead_and_gives_pipelines_fit(monkeypatch):
    X, Y = _data()
    worker = _ready_worker()
    aheads, helpers = [], []
    fitted_ahead = _pipeline.fitted_ahead

    @contextlib.contextmanager
    def kept(step, ids, helper=None):
        helpers.append(helper)
        with fitted_ahead(step, ids, helper) as ahead:
            aheads.append(ahead)
            yield ahead

    folds_in = fm_embedder._cross_fit_folds_in

    def folds_then_a_model(helper, job, *cancelled):  # they outlast an ALS model
        Z = folds_in(helper, job, *cancelled)
        for _ in range(3000):
            if aheads[-1].models:
                break
            time.sleep(0.01)
        return Z

    monkeypatch.setattr(_pipeline, "fitted_ahead", kept)
    model = make_multitask_recommender(n_jobs=2, **SMALL)
    assert type(model) is MultiTaskPipeline
    with monkeypatch.context() as patch:
        patch.setattr(fm_embedder, "_cross_fit_folds_in", folds_then_a_model)
        model.fit(X, Y)
    assert len(aheads) == 1 and aheads[0].error is None
    assert helpers == [worker]  # the FM's folds go there: ALS first
    assert aheads[0].taken >= 1  # taken, not solved again
    assert not _ahead_threads()
    plain = Pipeline(clone(make_multitask_recommender(n_jobs=2, **SMALL)).steps)
    one = make_multitask_recommender(n_jobs=1, **SMALL).fit(X, Y)
    expected = plain.fit(X, Y).predict(X)
    assert len(aheads) == 1  # Pipeline and n_jobs=1 fit nothing ahead
    np.testing.assert_array_equal(model.predict(X), expected)
    np.testing.assert_array_equal(one.predict(X), expected)
    again = pickle.loads(pickle.dumps(model))
    assert type(again) is MultiTaskPipeline and type(clone(model)) is MultiTaskPipeline
    np.testing.assert_array_equal(again.predict(X), expected)


def test_the_pipeline_fits_nothing_ahead_where_it_does_not_apply(tmp_path):
    X, Y = _data()
    model = make_multitask_recommender(n_jobs=2, **SMALL)
    assert model._als_ahead(X) is not None
    assert type(model._als_ahead(X)).__name__ != "nullcontext"
    null = [
        model._als_ahead(X.to_numpy()),  # no id columns by name
        model._als_ahead(X.drop(columns="item_id")),
        make_multitask_recommender(n_jobs=1, **SMALL)._als_ahead(X),
        clone(model).set_params(alsembedder__n_jobs=1)._als_ahead(X),
        clone(model).set_params(fmembedder__n_jobs=1)._als_ahead(X),
        make_multitask_recommender(embedders=("als",), n_jobs=2, **SMALL),
        MultiTaskPipeline([model.steps[2], model.steps[1], model.steps[3]]),
        MultiTaskPipeline([("fm2", clone(model.steps[1][1])), *model.steps]),
        clone(model).set_params(memory=str(tmp_path)),
        clone(model).set_params(alsembedder__n_jobs="x"),
    ]
    null[-5:] = [pipeline._als_ahead(X) for pipeline in null[-5:]]
    assert [type(c).__name__ for c in null] == ["nullcontext"] * len(null)
