"""MultiTaskLGBM's separate tasks trained side by side, one LightGBM thread each."""

import threading

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from mtlclassic import MultiTaskLGBM, make_multitask_recsys
from mtlclassic.boosting import _lgbm_train, _multitask_lgbm

COMMON = dict(n_estimators=60, learning_rate=0.1, num_leaves=15, random_state=0)


def _trees(model):
    """Every booster's trees as text (the parameters, thread count included, cut)."""
    return {
        name: booster.model_to_string().split("end of trees")[0]
        for name, booster in model.boosters_.items()
    }


def _side_by_side_calls(monkeypatch):
    calls = []
    fit = _multitask_lgbm.fit_side_by_side

    def counted(*args, **kwargs):
        calls.append(args[2])
        return fit(*args, **kwargs)

    monkeypatch.setattr(_multitask_lgbm, "fit_side_by_side", counted)
    return calls


@pytest.mark.parametrize(
    "kind", ["refit", "no refit", "ranking"], ids=["refit", "plain", "ranking"]
)
def test_side_by_side_gives_the_boosters_of_one_after_another(kind, monkeypatch):
    if kind == "ranking":
        tasks = {"rating": "regression", "click": "binary", "relevance": "ranking"}
        X, Y = make_multitask_recsys(
            60, 40, 1500, tasks=tasks, missing_rate=0.2, random_state=0
        )
        params = dict(COMMON, tasks=list(tasks.values()), query_col="user_id")
    else:
        X, Y = make_multitask_recsys(150, 80, 1500, random_state=0)
        params = dict(COMMON, refit=kind == "refit", early_stopping_rounds=5)
    calls = _side_by_side_calls(monkeypatch)
    side = MultiTaskLGBM(**params, n_jobs=2).fit(X, Y)
    assert len(calls) == 1 and len(calls[0]) == Y.shape[1]  # every task at once
    one = MultiTaskLGBM(**params, n_jobs=1).fit(X, Y)
    monkeypatch.setattr(_multitask_lgbm, "SIDE_BY_SIDE_MAX_ROWS", 0)
    serial = MultiTaskLGBM(**params, n_jobs=2).fit(X, Y)
    assert len(calls) == 1  # above the rows: one after another
    assert _trees(side) == _trees(serial) == _trees(one)
    assert side.best_iteration_ == one.best_iteration_
    # the validation scores: LightGBM sums a metric over its threads, so the
    # last bits follow the thread count (the trees do not)
    assert side.evals_result_.keys() == one.evals_result_.keys()
    for task, history in one.evals_result_.items():
        assert side.evals_result_[task].keys() == history.keys()
        for metric, values in history.items():
            got = side.evals_result_[task][metric]
            np.testing.assert_allclose(got, values, rtol=1e-12)
    assert list(side.boosters_) == list(one.boosters_)
    assert_array_equal(side.predict(X), one.predict(X))


@pytest.mark.parametrize(
    "sampling",
    [{}, {"colsample_bytree": 0.5}, {"task_params_extra": {"extra_trees": True}}],
    ids=["plain", "columns", "extra trees"],
)
def test_a_refit_after_the_other_task_ended_keeps_one_thread(sampling, monkeypatch):
    # two LightGBM threads in a task's thread, beside the fit's own (binning)
    # and the ended task's, made libgomp sleep at every barrier: 3x slower
    X, Y = make_multitask_recsys(150, 80, 1500, random_state=0)
    first, second = Y.columns[:2]
    extra = sampling.pop("task_params_extra", {})
    params = dict(
        COMMON, n_estimators=150, refit=True, early_stopping_rounds=150,
        task_params={first: {"n_estimators": 3}, second: dict(extra)}, **sampling,
    )  # fmt: skip
    ended, calls = threading.Event(), []
    fit_separate, train = _lgbm_train.fit_separate, _lgbm_train.train_booster

    def recorded_fit(lgb_, data, t, **kwargs):
        trained = fit_separate(lgb_, data, t, **kwargs)
        if data.names[t] == first:
            ended.set()
        return trained

    def recorded_train(lgb_, name, setting, *args, **kwargs):
        if name == second and any(n == second for n, _ in calls):
            assert ended.wait(30)  # the second task's refit: after the first ended
        calls.append((name, kwargs["share"] is not None))
        return train(lgb_, name, setting, *args, **kwargs)

    monkeypatch.setattr(_lgbm_train, "fit_separate", recorded_fit)
    monkeypatch.setattr(_lgbm_train, "train_booster", recorded_train)
    side = MultiTaskLGBM(**params, n_jobs=2).fit(X, Y)
    assert sorted(calls) == sorted((t, True) for t in Y.columns for _ in "ab")
    for name in Y.columns:  # every early-stopped fit and refit side by side
        assert "[num_threads: 1]" in side.boosters_[name].model_to_string()
    one = MultiTaskLGBM(**params, n_jobs=1).fit(X, Y)
    assert _trees(side) == _trees(one)
    assert side.best_iteration_ == one.best_iteration_
    assert_array_equal(side.predict(X), one.predict(X))


def test_tasks_on_the_same_rows_train_on_copies_of_one_binned_dataset(monkeypatch):
    X, Y = make_multitask_recsys(150, 80, 1500, random_state=0)
    Y = Y.fillna(0.0)  # every task labelled on every row
    weights = np.ones(Y.shape)
    weights[:, 0] = np.random.default_rng(0).uniform(0.2, 3.0, len(Y))
    params = dict(COMMON, refit=True, early_stopping_rounds=5)
    copies = []
    take = _lgbm_train.BinnedRows.take

    def spied(self, *args, **kwargs):
        found = take(self, *args, **kwargs)
        if found is not None:
            copies.append(self.copies)
        return found

    monkeypatch.setattr(_lgbm_train.BinnedRows, "take", spied)
    side = MultiTaskLGBM(**params, n_jobs=2).fit(X, Y, sample_weight=weights)
    assert copies and all(copies)  # the later tasks took copies
    one = MultiTaskLGBM(**params, n_jobs=1).fit(X, Y, sample_weight=weights)
    assert _trees(side) == _trees(one)
    assert side.best_iteration_ == one.best_iteration_
    assert_array_equal(side.predict(X), one.predict(X))


def test_a_task_that_fails_stops_the_others_and_raises_its_error(monkeypatch):
    X, Y = make_multitask_recsys(150, 80, 1500, random_state=0)
    failing = Y.columns[0]
    train = _lgbm_train.train_booster
    training = threading.Event()
    rounds = []

    def failing_train(lgb_, name, *args, **kwargs):
        if name == failing:
            training.wait(30)  # the other task has started
            raise ValueError("the task failed")
        return train(lgb_, name, *args, **kwargs)

    callback = _lgbm_train.SideBySide.callback

    def counted(self):
        stop_if_failed = callback(self)

        def count(env):
            rounds.append(env.iteration)
            training.set()
            stop_if_failed(env)

        count.before_iteration = True
        count.order = 0
        return count

    monkeypatch.setattr(_lgbm_train, "train_booster", failing_train)
    monkeypatch.setattr(_lgbm_train.SideBySide, "callback", counted)
    before = threading.active_count()
    with pytest.raises(ValueError, match="the task failed"):
        MultiTaskLGBM(**dict(COMMON, n_estimators=5000), n_jobs=2).fit(X, Y)
    assert 0 < len(rounds) < 5000  # the other task stopped at its next round
    assert threading.active_count() == before


def test_one_task_or_one_thread_or_many_rows_or_threads_go_one_after_another(
    monkeypatch,
):
    X, Y = make_multitask_recsys(150, 80, 1500, random_state=0)
    calls = _side_by_side_calls(monkeypatch)
    MultiTaskLGBM(**COMMON, n_jobs=1).fit(X, Y)
    MultiTaskLGBM(**COMMON, n_jobs=2).fit(X, Y.iloc[:, :1])
    MultiTaskLGBM(**COMMON, n_jobs=2, chain=True).fit(X, Y)
    MultiTaskLGBM(**COMMON, n_jobs=4).fit(X, Y)  # more threads than the 3 tasks
    assert calls == []
    MultiTaskLGBM(**COMMON, n_jobs=2).fit(X, Y)
    MultiTaskLGBM(**COMMON, n_jobs=3).fit(X, Y)
    assert len(calls) == 2
