"""MultiTaskLGBM's separate tasks trained side by side, one LightGBM thread each."""

import threading
import time

import lightgbm as lgb
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
def test_a_task_that_ends_hands_its_threads_to_the_others_next_booster(
    sampling, monkeypatch
):
    X, Y = make_multitask_recsys(150, 80, 1500, random_state=0)
    first, second = Y.columns[:2]
    extra = sampling.pop("task_params_extra", {})
    params = dict(
        COMMON, n_estimators=150, refit=True, early_stopping_rounds=150,
        task_params={first: {"n_estimators": 3}, second: dict(extra)}, **sampling,
    )  # fmt: skip
    resets = []
    reset = lgb.Booster.reset_parameter

    def recorded(self, params):
        resets.append(params)
        return reset(self, params)

    monkeypatch.setattr(lgb.Booster, "reset_parameter", recorded)
    # the later of the two refits waits for the other task to end (the first
    # task's 3 rounds end first on an idle machine, not always on a loaded one)
    starts, per_task = {}, _lgbm_train.ThreadShare.per_task

    def after_the_other_task(share):
        me = threading.get_ident()
        starts[me] = starts.get(me, 0) + 1
        if starts[me] == 2 and any(n == 2 for t, n in starts.items() if t != me):
            deadline = time.monotonic() + 30
            while share.running > 1 and time.monotonic() < deadline:
                time.sleep(0.005)
        return per_task(share)

    monkeypatch.setattr(_lgbm_train.ThreadShare, "per_task", after_the_other_task)
    side = MultiTaskLGBM(**params, n_jobs=2).fit(X, Y)
    # no running booster changes its thread count (that would restart
    # LightGBM's column sampling); the second task's refit took both threads
    assert not [p for p in resets if "num_threads" in p]
    # one refit waited for the other task to end and took both threads: the
    # second task's on an idle machine, either on a loaded one
    threads = sorted(
        next(n for n in (1, 2) if f"[num_threads: {n}]" in b.model_to_string())
        for b in (side.boosters_[first], side.boosters_[second])
    )
    assert threads == [1, 2]
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

    callback = _lgbm_train.ThreadShare.callback

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
    monkeypatch.setattr(_lgbm_train.ThreadShare, "callback", counted)
    before = threading.active_count()
    with pytest.raises(ValueError, match="the task failed"):
        MultiTaskLGBM(**dict(COMMON, n_estimators=5000), n_jobs=2).fit(X, Y)
    assert 0 < len(rounds) < 5000  # the other task stopped at its next round
    assert threading.active_count() == before


def test_one_task_or_one_thread_or_many_rows_train_one_after_another(monkeypatch):
    X, Y = make_multitask_recsys(150, 80, 1500, random_state=0)
    calls = _side_by_side_calls(monkeypatch)
    MultiTaskLGBM(**COMMON, n_jobs=1).fit(X, Y)
    MultiTaskLGBM(**COMMON, n_jobs=2).fit(X, Y.iloc[:, :1])
    MultiTaskLGBM(**COMMON, n_jobs=2, chain=True).fit(X, Y)
    assert calls == []
    MultiTaskLGBM(**COMMON, n_jobs=2).fit(X, Y)
    assert len(calls) == 1
