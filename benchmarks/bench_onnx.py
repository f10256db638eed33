"""ONNX export on real data: onnxruntime against predict, latency and bulk speed.

Run: ``python benchmarks/bench_onnx.py`` (MovieLens-1M from
``../shared/data/get_dev_data.sh``: the first 100k ratings in time order, about
two minutes) or ``--quick`` (generated stand-in; the test suite runs it).
Needs ``pip install 'mtlclassic[onnx]'`` (skips with a message otherwise).

1. Oracle: the default pipeline is fitted on the first 80% of the events and
   exported with ``mtlclassic.to_onnx``; onnxruntime scores 5,000 later events
   (users and items first seen after the training period, and more: 2% of the
   rows get a never-seen user id, 2% a never-seen item id, 5% a missing
   value in each side column) and must equal ``predict`` within 1e-5.
2. Why the heads are not converted with onnxmltools: the same heads through
   ``onnxmltools.convert_lightgbm`` (float32 thresholds and inputs, when
   installed) on every event (perturbed as above), the largest difference
   and the rows that differ by more than 1e-5 from LightGBM's own raw scores
   on the same features.
3. Latency of one row (p50 / p99 over 1,000 calls) and bulk rows x tasks per
   second (100k rows; onnxruntime in batches of 4,096 rows, since the FM's
   intermediate tensors are rows x samples x factors), one thread, of
   ``predict``, ``mtlclassic.compile`` and onnxruntime.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _workloads import movielens_by_time  # noqa: E402
from bench_real import data_dir  # noqa: E402

from mtlclassic import compile as compile_model  # noqa: E402
from mtlclassic import make_multitask_recommender, make_multitask_recsys  # noqa: E402


def load(quick):
    if quick:
        X, Y = make_multitask_recsys(
            n_users=150, n_items=80, n_events=4000, random_state=0
        )
        return X, Y, "generated stand-in"
    found = movielens_by_time(data_dir() / "ml-1m", 100_000)
    return None if found is None else (*found, "MovieLens-1M, first 100k ratings")


def perturb(X, rng):
    """Unseen ids and missing side values in a copy of ``X``."""
    X = X.copy()
    n = len(X)
    for col, new in (("user_id", 10**7), ("item_id", 10**7)):
        rows = rng.random(n) < 0.02
        X.loc[rows, col] = new + np.arange(int(rows.sum()))
    for col in X.columns:
        if col in ("user_id", "item_id", "timestamp"):
            continue
        rows = rng.random(n) < 0.05
        if isinstance(X[col].dtype, pd.CategoricalDtype):
            X.loc[rows, col] = np.nan
        elif pd.api.types.is_float_dtype(X[col].dtype):
            X.loc[rows, col] = np.nan
    return X


def onnxmltools_gap(model, X):
    """Largest |raw score difference| of the heads through onnxmltools."""
    try:
        import onnxmltools
        import onnxruntime as ort
        from onnxmltools.convert.common.data_types import FloatTensorType
    except ImportError:
        return None
    heads = model.steps[-1][1]
    features = heads._check_X(model[:-1].transform(X), reset=False)[0]
    worst, rows = 0.0, 0
    for name, booster in heads.boosters_.items():
        text = booster.model_to_string(num_iteration=heads.best_iteration_[name])
        lines = [
            "objective=regression" if line.startswith("objective=")
            else "[objective: regression]" if line.startswith("[objective:")
            else line
            for line in text.splitlines()
        ]  # fmt: skip
        import lightgbm as lgb

        raw_booster = lgb.Booster(model_str="\n".join(lines))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            proto = onnxmltools.convert_lightgbm(
                raw_booster,
                initial_types=[("X", FloatTensorType([None, features.shape[1]]))],
                zipmap=False,
                target_opset=15,
            )
        session = ort.InferenceSession(
            proto.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        got = session.run(None, {"X": features.astype(np.float32)})[0].ravel()
        want = raw_booster.predict(features, raw_score=True)
        diff = np.abs(got - want)
        worst = max(worst, float(diff.max()))
        rows += int((diff > 1e-5).sum())
    return worst, rows


def latency(funcs, rows, n_calls):
    print(f"one row, p50 / p99 over {n_calls:,} calls (ms), one thread:")
    for label, func in funcs.items():
        times = np.empty(n_calls)
        func(rows[0])
        for i in range(n_calls):
            row = rows[i % len(rows)]
            start = time.perf_counter()
            func(row)
            times[i] = time.perf_counter() - start
        p50, p99 = np.percentile(times, [50, 99]) * 1e3
        print(f"  {label:28s} p50 {p50:7.2f}   p99 {p99:7.2f}")


def bulk(funcs, X, n_tasks):
    print(f"bulk, {len(X):,} rows x {n_tasks} tasks, one thread:")
    for label, func in funcs.items():
        start = time.process_time()
        func(X)
        seconds = time.process_time() - start
        rate = len(X) * n_tasks / seconds
        print(f"  {label:28s} {seconds:6.2f} s  {rate:12,.0f} rows x tasks/s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    try:
        import onnxruntime as ort

        from mtlclassic import onnx_inputs, to_onnx
    except ImportError:
        print("skipped: pip install 'mtlclassic[onnx]' (onnx, onnxruntime)")
        return 0
    found = load(args.quick)
    if found is None:
        print("skipped: MovieLens-1M not found (run ../shared/data/get_dev_data.sh)")
        return 0
    X, Y, name = found
    cut = int(0.8 * len(X))
    params = dict(random_state=0, n_jobs=1)
    if args.quick:
        params.update(n_estimators=30, fm_n_iter=10, iterations=5, cv=2)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make_multitask_recommender(**params).fit(X.iloc[:cut], Y.iloc[:cut])
    fit_s = time.perf_counter() - start
    rng = np.random.default_rng(0)
    test = X.iloc[cut:]
    test = perturb(test.iloc[rng.permutation(len(test))[:5000]], rng)
    start = time.perf_counter()
    proto = to_onnx(model, X.iloc[:cut].head(100))
    export_s = time.perf_counter() - start
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )

    def run_onnx(rows, step=4096):  # bounded batches: N x samples x factors
        feed = onnx_inputs(rows, proto)
        parts = [{k: v[a : a + step] for k, v in feed.items()}
                 for a in range(0, len(rows), step)]  # fmt: skip
        return np.concatenate([session.run(["predictions"], p)[0] for p in parts])

    want, got = model.predict(test), run_onnx(test)
    gap = np.abs(got - want).max(axis=0)
    n_unseen = int((~test["user_id"].isin(X["user_id"].iloc[:cut])).sum())
    print(f"{name}: fit {fit_s:.1f}s on {cut:,} events; to_onnx {export_s:.2f}s, "
          f"{len(proto.SerializeToString()) / 2**20:.1f} MiB")  # fmt: skip
    gaps = np.array2string(gap, precision=2)
    print(f"  onnxruntime vs predict on {len(test):,} rows ({n_unseen} with users "
          f"unseen in fit): max |diff| per task {gaps}")  # fmt: skip
    assert (gap <= 1e-5).all(), gap
    big = pd.concat([test] * (4 if args.quick else 20), ignore_index=True)
    found = onnxmltools_gap(model, perturb(X, rng))  # every event, perturbed
    if found is not None:
        print(f"  the heads through onnxmltools (float32) on {len(X):,} rows: max "
              f"|diff| {found[0]:.2e}, {found[1]} row x head scores off by more "
              "than 1e-5")  # fmt: skip
    heads = model.steps[-1][1]
    n_tasks = len(heads.tasks_)
    compiled = compile_model(model)
    rows = [test.iloc[[i]] for i in range(min(len(test), 1000))]
    funcs = {"predict": model.predict, "compile(...).predict": compiled.predict,
             "onnxruntime": lambda rows: run_onnx(rows, len(rows))}  # fmt: skip
    latency(funcs, rows, 200 if args.quick else 1000)
    bulk({**funcs, "onnxruntime": run_onnx}, big, n_tasks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
