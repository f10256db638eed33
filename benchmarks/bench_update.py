"""Feedback without a full refit: a time-ordered replay against full refits.

Run: ``python benchmarks/bench_update.py`` (MovieLens-1M from
``../shared/data/get_dev_data.sh``: the first 150k ratings in time order, a few
minutes) or ``--quick`` (generated stand-in; the test suite runs it).

Protocol: the events are in time order. The default pipeline is fitted on
the first 60%; the next 20% arrive in 5 batches, each learnt with
``mtlclassic.update_model`` (what ``Recommender.update`` runs: the heads' leaf
refit, ALS fold-in) before the next; the last 20% are the test period.
Compared on the test period: the model never updated, the updated model, and
a full refit on the first 80%. The same replay is then run for the FM alone
(``MultiTaskFM.update``: new users and items get factors, known ones are
re-estimated), against the FM never updated and refitted.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _workloads import movielens_by_time, task_summary  # noqa: E402
from bench_real import data_dir  # noqa: E402

from mtlclassic import (  # noqa: E402
    MultiTaskFM,
    make_multitask_recommender,
    make_multitask_recsys,
    update_model,
)


def load(quick):
    if quick:
        X, Y = make_multitask_recsys(
            n_users=200, n_items=100, n_events=6000, random_state=0
        )
        return X, Y, "generated stand-in"
    found = movielens_by_time(data_dir() / "ml-1m", 150_000)
    return None if found is None else (*found, "MovieLens-1M, first 150k ratings")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    found = load(args.quick)
    if found is None:
        print("skipped: MovieLens-1M not found (run ../shared/data/get_dev_data.sh)")
        return 0
    X, Y, name = found
    n = len(X)
    base, replay_end = int(0.6 * n), int(0.8 * n)
    params = dict(random_state=0, n_jobs=1)
    if args.quick:
        params.update(n_estimators=50, fm_n_iter=10, iterations=5, cv=2)
    X_test, Y_test = X.iloc[replay_end:], Y.iloc[replay_end:]
    print(f"{name}: {base:,} training events, {replay_end - base:,} replayed in 5 "
          f"batches, {n - replay_end:,} test events")  # fmt: skip

    start = time.perf_counter()
    model = make_multitask_recommender(**params).fit(X.iloc[:base], Y.iloc[:base])
    fit_s = time.perf_counter() - start
    frozen = task_summary(Y_test, model.predict(X_test))
    update_s = 0.0
    for batch in np.array_split(np.arange(base, replay_end), 5):
        start = time.perf_counter()
        update_model(model, X.iloc[batch], Y.iloc[batch])
        update_s += time.perf_counter() - start
    updated = task_summary(Y_test, model.predict(X_test))
    start = time.perf_counter()
    refit = make_multitask_recommender(**params).fit(
        X.iloc[:replay_end], Y.iloc[:replay_end]
    )
    refit_s = time.perf_counter() - start
    full = task_summary(Y_test, refit.predict(X_test))
    print(f"  never updated ({fit_s:.1f}s fit): {frozen}")
    print(f"  5 updates ({update_s:.1f}s in all):  {updated}")
    print(f"  full refit ({refit_s:.1f}s):        {full}")
    fm_replay(X, Y, base, replay_end, args.quick)
    return 0


def fm_replay(X, Y, base, replay_end, quick):
    """The replay for a MultiTaskFM on the id columns alone."""
    ids = [c for c in ("user_id", "item_id") if c in X.columns]
    X = X[ids].astype(str)
    kw = dict(n_components=8, n_iter=20 if quick else 100, random_state=0)
    X_test, Y_test = X.iloc[replay_end:], Y.iloc[replay_end:]
    start = time.perf_counter()
    fm = MultiTaskFM(**kw).fit(X.iloc[:base], Y.iloc[:base])
    fit_s = time.perf_counter() - start
    frozen = task_summary(Y_test, fm.predict(X_test))
    update_s = 0.0
    for batch in np.array_split(np.arange(base, replay_end), 5):
        start = time.perf_counter()
        fm.update(X.iloc[batch], Y.iloc[batch])
        update_s += time.perf_counter() - start
    updated = task_summary(Y_test, fm.predict(X_test))
    start = time.perf_counter()
    refit = MultiTaskFM(**kw).fit(X.iloc[:replay_end], Y.iloc[:replay_end])
    refit_s = time.perf_counter() - start
    full = task_summary(Y_test, refit.predict(X_test))
    print("MultiTaskFM on the ids alone:")
    print(f"  never updated ({fit_s:.1f}s fit): {frozen}")
    print(f"  5 updates ({update_s:.1f}s in all):  {updated}")
    print(f"  full refit ({refit_s:.1f}s):        {full}")


if __name__ == "__main__":
    sys.exit(main())
