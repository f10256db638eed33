"""Production scoring: predict cost vs bare boosters, latency, streaming memory.

Run: ``python benchmarks/bench_scoring.py`` (full, about 3-4 minutes on the
2-core machine) or ``--quick`` (a smoke test, a few seconds). Prints:

- throughput: ``MultiTaskLGBM.predict`` of a float64 numpy array (1M rows x
  10 features, 4 tasks: 2 regression, 2 binary; 30 trees of 31 leaves per
  task) against the loop a user would write, ``[booster.predict(X) for each
  task]`` stacked into columns; one thread on both sides, CPU seconds of the
  process, best of interleaved runs; predictions asserted equal. Ratio
  target: <= 1.2.
- latency of one row: p50 / p99 over many calls of ``predict`` on a (1, 10)
  array, on a one-row DataFrame, and of the bare booster loop on the array;
  and of the default ``make_multitask_recommender`` pipeline (FMEmbedder ->
  ALSEmbedder -> MultiTaskLGBM) on one event row, through ``predict`` and
  through ``mtlclassic.compile(model).predict`` and, with the ``onnx`` extra,
  onnxruntime on ``mtlclassic.to_onnx(model)``; then the pipeline in bulk
  (500k rows; 20k with ``--quick``): rows x tasks per second of each (and of
  ``compile(model, n_jobs=2)``, wall clock), against the floor of the trees
  alone (LightGBM's ``predict`` of each head on the precomputed features) and,
  when lleaves is installed, the same trees compiled by lleaves.
- memory: peak RSS (``os.wait4`` rusage of the child) of ``mtlclassic score
  MODEL in.csv out.csv --chunksize 100000`` on CSVs of two sizes (1M and 5M
  rows; generated once into /tmp), and for contrast of reading the small
  CSV whole with pandas and predicting in memory. Streaming memory should
  not grow with the input.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mtlclassic import MultiTaskLGBM, save
from mtlclassic import compile as compile_model

N_FEATURES = 10


def _fit_model(n_train, n_estimators, rng):
    X = rng.normal(size=(n_train, N_FEATURES))
    W = rng.normal(size=(N_FEATURES, 4))
    Y = np.tanh(X) @ W + rng.normal(size=(n_train, 4))
    Y[:, 2:] = Y[:, 2:] > 0
    model = MultiTaskLGBM(
        tasks=["regression", "regression", "binary", "binary"],
        n_estimators=n_estimators,
        num_leaves=31,
        early_stopping_rounds=None,
        n_jobs=1,
        random_state=0,
    ).fit(X, Y)
    return model, X, Y


def bench_throughput(n_rows, n_estimators, repeat):
    rng = np.random.default_rng(0)
    model, X_fit, Y_fit = _fit_model(20_000, n_estimators, rng)
    boosters = [model.boosters_[name] for name in model.tasks_]
    X = rng.normal(size=(n_rows, N_FEATURES))

    def bare():
        return np.column_stack([b.predict(X, num_threads=1) for b in boosters])

    ours_t = bare_t = np.inf
    for _ in range(repeat):  # interleaved: both sides see the same load
        start = time.process_time()
        ours = model.predict(X)
        ours_t = min(ours_t, time.process_time() - start)
        start = time.process_time()
        loop = bare()
        bare_t = min(bare_t, time.process_time() - start)
    np.testing.assert_array_equal(ours, loop)
    print(
        f"predict {n_rows:,} rows x 4 tasks ({n_estimators} trees/task), 1 thread:\n"
        f"  MultiTaskLGBM.predict {ours_t:7.3f}s ({n_rows / ours_t:12,.0f} rows/s)\n"
        f"  bare Booster loop     {bare_t:7.3f}s ({n_rows / bare_t:12,.0f} rows/s)\n"
        f"  ratio {ours_t / bare_t:.3f} (target <= 1.2)"
    )
    return model, X_fit, Y_fit


def bench_latency(model, X_fit, Y_fit, n_calls, *, pipeline=True):
    from sklearn.base import clone

    rng = np.random.default_rng(1)
    rows = rng.normal(size=(n_calls, 1, N_FEATURES))
    columns = [f"f{j}" for j in range(N_FEATURES)]
    framed = clone(model).fit(pd.DataFrame(X_fit, columns=columns), Y_fit)
    frames = [pd.DataFrame(r, columns=columns) for r in rows]
    boosters = [model.boosters_[name] for name in model.tasks_]

    def percentiles(func, inputs):
        times = np.empty(len(inputs))
        for i, x in enumerate(inputs):
            start = time.perf_counter()
            func(x)
            times[i] = time.perf_counter() - start
        return np.percentile(times, [50, 99]) * 1e6

    cases = {
        "MultiTaskLGBM.predict, (1, 10) array": (model.predict, rows),
        "bare Booster loop, (1, 10) array": (
            lambda x: [b.predict(x, num_threads=1) for b in boosters],
            rows,
        ),
    }
    cases["MultiTaskLGBM.predict, one-row DataFrame"] = (framed.predict, frames)
    if pipeline:
        pipe, events = _pipeline_case(n_calls, quick=pipeline == "quick")
        compiled = compile_model(pipe)
        cases["default pipeline, one event row: predict"] = (pipe.predict, events)
        cases["default pipeline, one event row: compile(...).predict"] = (
            compiled.predict, events,
        )  # fmt: skip
        onnx = _onnx_runner(pipe, events[0])
        if onnx is not None:
            cases["default pipeline, one event row: onnxruntime"] = (onnx, events)
        pipeline_bulk(pipe, compiled, events[0], quick=pipeline == "quick")
    print(f"single-row latency over {n_calls:,} calls (microseconds):")
    for label, (func, inputs) in cases.items():
        func(inputs[0])  # warm up
        p50, p99 = percentiles(func, inputs)
        print(f"  {label:52s} p50 {p50:8.1f}   p99 {p99:8.1f}")


def _pipeline_case(n_calls, quick=False):
    """The fitted default recommender pipeline and one-row event frames."""
    import warnings

    from mtlclassic import make_multitask_recommender, make_multitask_recsys

    X, Y = make_multitask_recsys(
        n_users=300, n_items=200, n_events=6000, random_state=0
    )
    size = dict(n_estimators=20, fm_n_iter=10) if quick else dict(n_estimators=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make_multitask_recommender(
            factors=8, cv=2, n_jobs=1, random_state=0, **size
        ).fit(X, Y)
    rows = [X.iloc[[i % len(X)]] for i in range(n_calls)]
    return model, rows


def pipeline_bulk(model, compiled, row, quick=False):
    """Rows x tasks per second of the pipeline in bulk, against the trees alone.

    The floor: LightGBM's own ``predict`` of every head on the features the
    heads see (computed beforehand), the cost no scorer of these trees avoids.
    """
    n = 20_000 if quick else 500_000
    events = pd.concat([row] * n, ignore_index=True)
    rng = np.random.default_rng(0)
    for col in events.columns:  # varied rows: every user, item and value
        if col not in ("timestamp",):
            events[col] = rng.permutation(np.resize(row[col].to_numpy(), n))
    heads = model.steps[-1][1]
    features = model[:-1].transform(events)
    matrix = heads._check_X(features, reset=False)[0]
    n_tasks = len(heads.tasks_)
    cases = {
        "predict": lambda: model.predict(events),
        "compile(...).predict": lambda: compiled.predict(events),
        "trees alone (Booster.predict per head)": lambda: [
            b.predict(matrix, num_threads=1, raw_score=True)
            for b in heads.boosters_.values()
        ],
    }  # fmt: skip
    onnx = _onnx_runner(model, row, chunk=4096)
    if onnx is not None:
        cases["onnxruntime (batches of 4,096 rows)"] = lambda: onnx(events)
    trees = _lleaves_trees(heads)
    if trees is not None:
        cases["trees alone, compiled by lleaves (optional)"] = lambda: trees(matrix)
    print(f"default pipeline in bulk, {n:,} rows x {n_tasks} tasks, one thread:")
    for label, func in cases.items():
        start = time.process_time()
        func()
        seconds = time.process_time() - start
        rate = n * n_tasks / seconds
        print(f"  {label:52s} {seconds:6.2f} s  {rate:12,.0f} rows x tasks/s")
    threaded = compile_model(model, n_jobs=2)
    start = time.perf_counter()
    threaded.predict(events)
    seconds = time.perf_counter() - start  # wall clock: two threads
    rate = n * n_tasks / seconds
    label = "compile(model, n_jobs=2).predict, wall clock"
    print(f"  {label:52s} {seconds:6.2f} s  {rate:12,.0f} rows x tasks/s")


def _onnx_runner(model, example, chunk=None):
    """onnxruntime on ``to_onnx(model)``, one thread (None without onnxruntime)."""
    try:
        import onnxruntime as ort

        from mtlclassic import onnx_inputs, to_onnx
    except ImportError:
        return None
    proto = to_onnx(model, example)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )

    def run(rows):
        feed = onnx_inputs(rows, proto)
        n = len(rows)
        step = chunk or n
        parts = [{k: v[a : a + step] for k, v in feed.items()}
                 for a in range(0, n, step)]  # fmt: skip
        return np.concatenate([session.run(["predictions"], p)[0] for p in parts])

    return run


def _lleaves_trees(heads):
    """The heads' trees compiled by lleaves (None when it is absent or fails)."""
    try:
        import lleaves
    except ImportError:
        return None
    models = []
    with tempfile.TemporaryDirectory() as folder:
        for name, booster in heads.boosters_.items():
            path = Path(folder) / f"{name}.txt"
            booster.save_model(str(path), num_iteration=heads.best_iteration_[name])
            try:
                model = lleaves.Model(model_file=str(path))
                model.compile()
            except Exception as exc:  # noqa: BLE001 - report, do not fail
                print(f"  (lleaves: {type(exc).__name__}: {exc})")
                return None
            models.append(model)
    return lambda X: [m.predict(X, n_jobs=1) for m in models]


def _write_csv(path, n_rows, chunk=500_000):
    """Events-like CSV: ids, 8 float features, a category; written in chunks."""
    if path.exists():
        return
    rng = np.random.default_rng(2)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as handle:
        for start in range(0, n_rows, chunk):
            n = min(chunk, n_rows - start)
            frame = pd.DataFrame(
                rng.normal(size=(n, N_FEATURES - 2)).round(6),
                columns=[f"f{j}" for j in range(N_FEATURES - 2)],
            )
            frame.insert(0, "user_id", rng.integers(0, 100_000, n))
            frame.insert(1, "item_id", rng.integers(0, 20_000, n))
            frame["segment"] = rng.choice(["a", "b", "c", "d"], n)
            frame.to_csv(handle, header=start == 0, index=False)
    tmp.replace(path)


def _scoring_model(folder):
    rng = np.random.default_rng(3)
    n = 20_000
    X = pd.DataFrame(
        rng.normal(size=(n, N_FEATURES - 2)),
        columns=[f"f{j}" for j in range(N_FEATURES - 2)],
    )
    X.insert(0, "user_id", rng.integers(0, 100_000, n))
    X.insert(1, "item_id", rng.integers(0, 20_000, n))
    X["segment"] = pd.Categorical(rng.choice(["a", "b", "c", "d"], n))
    Y = pd.DataFrame(
        {"a": X["f0"] + X["f1"], "b": X["f2"], "c": X["f3"] > 0, "d": X["f4"] > 0}
    ).astype(float)
    model = MultiTaskLGBM(
        n_estimators=10,
        num_leaves=15,
        early_stopping_rounds=None,
        n_jobs=1,
        random_state=0,
    ).fit(X.drop(columns=["user_id", "item_id"]), Y)
    path = folder / "mtlclassic_bench_scoring_model.mtlc"
    return save(model, path, input_example=X.head())


_LAUNCHER = """
import os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(
    sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
)
err = child.stderr.read().decode()
_, status, usage = os.wait4(child.pid, 0)
if os.waitstatus_to_exitcode(status) != 0:
    sys.exit(err)
print(time.perf_counter() - start, usage.ru_maxrss)
"""


def _peak_rss_mb(args):
    """Run a command; return (seconds, its peak RSS in MiB).

    A small launcher process starts it: a child forked from this (large)
    benchmark process would count the parent's pages in its peak RSS.
    """
    out = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), int(out[1]) / 1024  # ru_maxrss is in KiB on Linux


def bench_memory(sizes, chunksize, folder, *, contrast=True):
    model_path = _scoring_model(folder)
    print(f"mtlclassic score --chunksize {chunksize:,} (peak RSS of the process):")
    for n in sizes:
        source = folder / f"mtlclassic_bench_scoring_{n}.csv"
        _write_csv(source, n)
        output = source.with_suffix(".scores.csv")
        seconds, peak = _peak_rss_mb(
            [sys.executable, "-m", "mtlclassic.cli", "score", str(model_path)]
            + [str(source), str(output), "--chunksize", str(chunksize)]
            + ["--overwrite", "--n-jobs", "1"]
        )
        size_mb = source.stat().st_size / 2**20
        print(
            f"  {n:>10,} rows ({size_mb:6.0f} MiB CSV): peak RSS {peak:6.0f} MiB, "
            f"{seconds:6.1f}s ({n / seconds:10,.0f} rows/s)"
        )
        output.unlink(missing_ok=True)
    if not contrast:
        return
    source = folder / f"mtlclassic_bench_scoring_{sizes[0]}.csv"
    code = (
        "import sys, pandas as pd; from mtlclassic import load;"
        "m = load(sys.argv[1]); X = pd.read_csv(sys.argv[2]);"
        "X['segment'] = X['segment'].astype('category');"
        "m.predict(X.drop(columns=['user_id', 'item_id']))"
    )
    seconds, peak = _peak_rss_mb(
        [sys.executable, "-c", code, str(model_path), str(source)]
    )
    print(
        f"  in memory, {sizes[0]:,} rows (read_csv whole + predict): peak RSS "
        f"{peak:6.0f} MiB, {seconds:6.1f}s"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke test, seconds")
    args = parser.parse_args(argv)
    if args.quick:
        fitted = bench_throughput(20_000, 10, repeat=1)
        bench_latency(*fitted, 200, pipeline="quick")
        with tempfile.TemporaryDirectory() as folder:
            bench_memory([20_000, 60_000], 10_000, Path(folder), contrast=False)
    else:
        fitted = bench_throughput(1_000_000, 30, repeat=2)
        bench_latency(*fitted, 3_000)
        bench_memory([1_000_000, 5_000_000], 100_000, Path("/tmp"))


if __name__ == "__main__":
    main()
