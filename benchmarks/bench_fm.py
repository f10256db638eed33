"""Factorization machines: time per epoch and test RMSE against myFM and an MF baseline.

Run: ``python benchmarks/bench_fm.py`` (full: ~100k events, then 400k) or
``--quick`` (a smoke test). Data: ``make_multitask_recsys`` split by time (the
last 20% of events are the test set), the ``rating`` task (about half of the
events are rated). Every model sees the same features: ``user_id`` and
``item_id`` one-hot, ``user_segment`` and ``item_category`` one-hot, the
numeric side features standardised.

Models (rank 8, the same number of epochs, one thread each):

- ``FMRegressor`` — ours, field-block coordinate descent (ALS);
- ``FM one-feature CD`` — the same solver updating one feature at a time
  (libFM's ALS order; the identical result, to show what the field blocks buy);
- ``myFM Gibbs`` — ``myfm.MyFMRegressor`` (C++ Gibbs sampler with hierarchical
  priors; the prediction averages the second half of the samples);
- ``MF (user x item)`` — ``FMRegressor`` on the two id columns only: a biased
  matrix factorisation trained by the same ALS;
- the training mean, for scale.

Optionally (``--multitask``) the multi-task ``FMEmbedder(target="all")`` against
one single-task FM per task, scored on each task's test labels.

Time per epoch is the fit time divided by the number of epochs (ours include
encoding ``X``; myFM is given the prebuilt CSR design).
"""

import argparse
import os
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402

from mtlclassic.embedding import FMEmbedder, FMRegressor  # noqa: E402
from mtlclassic.embedding._fm.coordinate_descent import (  # noqa: E402
    initial_parameters,
    solve_fm,
)

try:
    from benchmarks._workloads import recsys_time_split
except ModuleNotFoundError:  # run as a script from benchmarks/
    sys.path.insert(0, os.path.dirname(__file__))
    from _workloads import recsys_time_split

CATEGORICAL = ["user_id", "item_id", "user_segment", "item_category"]


def _rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def _rating_rows(X, Y):
    rows = Y["rating"].notna().to_numpy()
    return X[rows], Y["rating"].to_numpy()[rows]


def _best_of(repeat, func):
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - start)
    return best, out


def bench_rating(n_users, n_items, n_events, epoch_list, params, use_myfm, repeat):
    X_train, Y_train, X_test, Y_test = recsys_time_split(n_users, n_items, n_events)
    X_train, y_train = _rating_rows(X_train, Y_train)
    X_test, y_test = _rating_rows(X_test, Y_test)
    print(
        f"\n== rating: {n_events} events, {len(y_train)} train / {len(y_test)} test "
        f"ratings, rank {params['n_components']}, best of {repeat} =="
    )
    print(f"training mean: test RMSE {_rmse(y_test, y_train.mean()):.4f}")
    ids = ["user_id", "item_id"]
    gibbs_design = None
    if use_myfm:
        try:
            import myfm
        except ImportError:
            print("myfm is not installed (pip install myfm, the bench extra)")
        else:
            onehot = OneHotEncoder(handle_unknown="ignore").fit(X_train[CATEGORICAL])
            numeric = [c for c in X_train.columns if c not in CATEGORICAL]
            scaler = StandardScaler().fit(X_train[numeric])

            def design_of(X):
                return sp.hstack(
                    [onehot.transform(X[CATEGORICAL]),
                     sp.csr_matrix(scaler.transform(X[numeric]))]
                ).tocsr()  # fmt: skip

            gibbs_design = design_of(X_train), design_of(X_test)

    results = []
    for epochs in epoch_list:
        # interleaved per round, so a busy neighbour slows every model alike
        times = {}
        models = {}
        for _ in range(repeat):
            fm = FMRegressor(
                n_iter=epochs, tol=0, categorical_features=CATEGORICAL,
                random_state=0, **params,
            )  # fmt: skip
            t, models["fm"] = _best_of(1, lambda fm=fm: fm.fit(X_train, y_train))
            times["fm"] = min(times.get("fm", np.inf), t)
            mf = FMRegressor(
                n_iter=epochs, tol=0, categorical_features=ids, random_state=0,
                **params,
            )  # fmt: skip
            t, models["mf"] = _best_of(1, lambda mf=mf: mf.fit(X_train[ids], y_train))
            times["mf"] = min(times.get("mf", np.inf), t)
            if gibbs_design is not None:
                gibbs = myfm.MyFMRegressor(rank=params["n_components"], random_seed=0)

                def fit_gibbs(gibbs=gibbs, epochs=epochs):
                    return gibbs.fit(
                        gibbs_design[0], y_train, n_iter=epochs,
                        n_kept_samples=epochs // 2,
                    )  # fmt: skip

                t, models["gibbs"] = _best_of(1, fit_gibbs)
                times["gibbs"] = min(times.get("gibbs", np.inf), t)
                # ours on myFM's CSR matrix: one-hot blocks detected as fields
                csr = FMRegressor(
                    n_iter=epochs, tol=0, scale_numeric=False, random_state=0,
                    **params,
                )  # fmt: skip
                t, models["csr"] = _best_of(
                    1, lambda csr=csr: csr.fit(gibbs_design[0], y_train)
                )
                times["csr"] = min(times.get("csr", np.inf), t)
        results.append(
            ("FMRegressor (ours, field-block CD)", epochs, times["fm"] / epochs,
             _rmse(y_test, models["fm"].predict(X_test)))
        )  # fmt: skip
        bayes = FMRegressor(
            params["n_components"], n_iter=epochs, categorical_features=CATEGORICAL,
            random_state=0,
        )  # fmt: skip
        t, bayes = _best_of(1, lambda: bayes.fit(X_train, y_train))
        results.append(
            ("FMRegressor (ours, Gibbs, avg of last half)", epochs, t / epochs,
             _rmse(y_test, bayes.predict(X_test)))
        )  # fmt: skip
        results.append(
            ("MF: FMRegressor on user_id, item_id", epochs, times["mf"] / epochs,
             _rmse(y_test, models["mf"].predict(X_test[ids])))
        )  # fmt: skip
        if gibbs_design is not None:
            results.append(
                ("FMRegressor on myFM's CSR matrix", epochs, times["csr"] / epochs,
                 _rmse(y_test, models["csr"].predict(gibbs_design[1])))
            )  # fmt: skip
            results.append(
                ("myFM Gibbs (C++, avg of last half)", epochs,
                 times["gibbs"] / epochs,
                 _rmse(y_test, models["gibbs"].predict(gibbs_design[1])))
            )  # fmt: skip

    # the same solver one feature at a time (libFM's order): same model, slower
    epochs = 3
    fm = FMRegressor(
        n_iter=epochs, tol=0, categorical_features=CATEGORICAL, random_state=0,
        **params,
    ).fit(X_train, y_train)  # fmt: skip
    _, design = fm._encode(X_train)
    Y = y_train[:, None]
    weight = np.ones_like(Y)
    init = initial_parameters(
        design.n_features, 1, params["n_components"], Y, weight, np.array([False]),
        init_stdev=params["init_stdev"], random_state=np.random.RandomState(0),
    )  # fmt: skip
    t_single, single = _best_of(
        1,
        lambda: solve_fm(
            design, Y, weight, np.array([False]), init,
            alpha_w=params["alpha_w"] * len(Y), alpha_v=params["alpha_v"] * len(Y),
            n_iter=epochs, tol=0, learn_scale=False,
            field_block=False,
        ),
    )  # fmt: skip
    same = np.allclose(single.factors, fm.factors_, rtol=1e-6, atol=1e-8)
    results.append(
        (f"same solver, one feature at a time (same model: {same})", epochs,
         t_single / epochs, np.nan)
    )  # fmt: skip

    width = max(len(r[0]) for r in results)
    print(f"{'model':<{width}}  {'epochs':>6}  {'s/epoch':>8}  {'test RMSE':>9}")
    for name, epochs, per_epoch, rmse in results:
        print(f"{name:<{width}}  {epochs:6d}  {per_epoch:8.4f}  {rmse:9.4f}")


def bench_multitask(n_users, n_items, n_events, epochs, params):
    X_train, Y_train, X_test, Y_test = recsys_time_split(n_users, n_items, n_events)
    print(
        f"\n== multi-task: {n_events} events, tasks {list(Y_train.columns)} "
        f"(labelled train rows {Y_train.notna().sum().tolist()}) =="
    )
    kw = dict(n_iter=epochs, tol=0, cv=None, passthrough=False, random_state=0)
    start = time.perf_counter()
    joint = FMEmbedder("all", **params, **kw).fit(X_train, Y_train)
    t_joint = time.perf_counter() - start
    scores_joint = joint.transform(X_test)[:, -Y_train.shape[1] :]
    print(
        f"multi-task FM fit {t_joint:.1f}s; per-task scale "
        f"{np.round(joint.interaction_scale_, 3).tolist()}"
    )
    print(f"{'task':<8} {'metric':<5} {'multi-task':>10} {'single-task':>11}")
    for t, name in enumerate(Y_train.columns):
        single = FMEmbedder(name, **params, **kw).fit(X_train, Y_train)
        s_single = single.transform(X_test)[:, -1]
        rows = Y_test[name].notna().to_numpy()
        y = Y_test[name].to_numpy()[rows]
        if joint.task_kinds_[t] == "regression":
            metric, a, b = (
                "RMSE",
                _rmse(y, scores_joint[rows, t]),
                _rmse(y, s_single[rows]),
            )
        else:
            metric = "AUC"
            a = roc_auc_score(y, scores_joint[rows, t])
            b = roc_auc_score(y, s_single[rows])
        print(f"{name:<8} {metric:<5} {a:10.4f} {b:11.4f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few-second smoke run")
    parser.add_argument("--no-myfm", action="store_true", help="skip myFM")
    parser.add_argument("--multitask", action="store_true",
                        help="also compare the multi-task FMEmbedder")  # fmt: skip
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    # the ALS solver (penalties per unit of sample weight: 3 and 5 summed over
    # 80k rows); the Gibbs sampler (the default) has its own rows below
    params = dict(
        n_components=8, solver="als", alpha_w=4e-5, alpha_v=6e-5, init_stdev=0.02
    )
    myfm_on = not args.no_myfm
    if args.quick:
        bench_rating(200, 100, 5_000, [5], params, myfm_on, repeat=1)
        bench_multitask(200, 100, 5_000, 5, params)
        return
    bench_rating(2_000, 1_000, 100_000, [30, 100], params, myfm_on, repeat=3)
    bench_rating(8_000, 4_000, 400_000, [30], params, myfm_on, repeat=1)
    if args.multitask:
        bench_multitask(2_000, 1_000, 100_000, 30, params)


if __name__ == "__main__":
    main()
