"""Fit cost against data size: time and peak memory per stage, beside myFM,
LightGBM and implicit ALS on the same rows.

Rows: the first N MovieLens-1M ratings in time order (``--sizes``, default
100k, 300k and 1M; the data comes from ``../shared/data/get_dev_data.sh`` and
is skipped with a message when absent), and with ``--generated N`` also N
events of ``make_multitask_recsys`` (e.g. 10M). Tasks: ``rating`` (regression)
and ``liked`` (rating >= 4) for MovieLens; the generator's three for its data.

Every measurement runs in its own process, one thread (``n_jobs=1``,
``OMP_NUM_THREADS=1``), so its peak resident memory (``ru_maxrss``) is its
own; ``--n-jobs 1 2`` also fits the pipeline with ``n_jobs=2`` (and two BLAS
and OpenMP threads) and prints its speed-up over ``n_jobs=1``, per stage and
in all:

- ``pipeline``: ``make_multitask_recommender()`` with its defaults, fitted
  step by step as ``Pipeline.fit`` does (each step's ``fit_transform``, then
  the heads' ``fit``), so the seconds of each stage (FM, ALS, heads) are
  reported with the peak memory after it; then the fitted pipeline's
  ``predict`` on (up to) 100k of the rows, in microseconds per row, with the
  number of trees early stopping kept in the heads;
- ``myfm``: myFM's Gibbs sampler on the two id columns one-hot, rank 10, 200
  samples (the issue's reference), when myFM is installed (the ``bench``
  extra);
- ``lightgbm``: one ``lightgbm.train`` per task on the raw columns (ids as
  categories), 100 rounds;
- ``als``: ``implicit`` ALS (64 factors, 15 iterations) on the user x item
  matrix.

Printed: a table of seconds and peak MiB per method and size (with the peak
after loading the data alone, ``data MiB``: the whole MovieLens file is read
before the first N rows are kept), the ratio of the
pipeline to myFM, and the growth exponent of each method's time (the slope of
log time against log events between the smallest and the largest size).
Written: ``benchmarks/figures/bench_scale.png``, the log-log plot the README
shows (``--plot PATH`` elsewhere). ``--quick`` runs two small generated sizes
in seconds (used by the tests) and plots into a temporary folder.

Run: ``python benchmarks/bench_scale.py [--sizes 100000 300000 1000000]
[--generated 10000000] [--only pipeline lightgbm ...] [--n-jobs 1 2]``.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
METHODS = ("pipeline", "myfm", "lightgbm", "als")
EXTRA = {}  # a worker's figures beside its stages (the pipeline's predict cost)


def data_dir():
    return Path(
        os.environ.get(
            "MTLCLASSIC_DEV_DATA", Path.home() / ".cache" / "mtlclassic" / "dev-data"
        )
    )


# ------------------------------------------------------------------ workers


def _rows(source, n, seed):
    """Return ``(X, Y)`` of ``source`` ("movielens" or "generated") with n rows."""
    if source == "movielens":
        sys.path.insert(0, str(HERE))
        from _workloads import movielens_by_time

        data = movielens_by_time(data_dir() / "ml-1m", n)
        if data is None:
            raise FileNotFoundError("MovieLens-1M is not in the dev-data folder")
        return data
    from mtlclassic import make_multitask_recsys

    n_users = max(50, int(np.sqrt(n) * 6))  # about ML-1M's events per user
    return make_multitask_recsys(
        n_users=n_users, n_items=max(30, n_users // 2), n_events=n, random_state=seed
    )


def _peak_mib():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _worker_pipeline(X, Y, quick, n_jobs=1):
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    from mtlclassic import make_multitask_recommender

    params = dict(n_jobs=n_jobs, random_state=0)
    if quick:
        params.update(fm_n_iter=6, n_estimators=20, factors=8, iterations=3)
    model = make_multitask_recommender(**params)
    stages, Z, fitted = {}, X, []
    # the steps one by one (a time per stage), as MultiTaskPipeline.fit runs
    # them: ALS fitted ahead on the core the FM's chain leaves idle
    with model._als_ahead(X):
        for name, step in model.steps[:-1]:
            step = clone(step)
            start = time.perf_counter()
            Z = step.fit_transform(Z, Y)
            stages[name] = (time.perf_counter() - start, _peak_mib())
            fitted.append((name, step))
        name, heads = model.steps[-1]
        start = time.perf_counter()
        heads.fit(Z, Y)
        stages[name] = (time.perf_counter() - start, _peak_mib())
    pipeline = Pipeline([*fitted, (name, heads)])  # as Pipeline.fit leaves it
    rows = X.iloc[: min(len(X), 1_000 if quick else 100_000)]
    start = time.perf_counter()
    pipeline.predict(rows)
    EXTRA["predict_us_per_row"] = (time.perf_counter() - start) / len(rows) * 1e6
    EXTRA["trees"] = int(sum(heads.best_iteration_.values()))
    return stages


def _worker_myfm(X, Y, quick):
    import myfm
    import scipy.sparse as sp
    from sklearn.preprocessing import OneHotEncoder

    rows = Y.iloc[:, 0].notna().to_numpy()
    design = OneHotEncoder(handle_unknown="ignore").fit_transform(
        X.loc[rows, ["user_id", "item_id"]].astype(str)
    )
    y = Y.iloc[:, 0].to_numpy()[rows]
    samples = 10 if quick else 200
    start = time.perf_counter()
    myfm.MyFMRegressor(rank=10, random_seed=0).fit(
        sp.csr_matrix(design), y, n_iter=samples, n_kept_samples=samples
    )
    return {"myfm": (time.perf_counter() - start, _peak_mib())}


def _worker_lightgbm(X, Y, quick):
    import lightgbm as lgb

    frame = X.drop(columns=[c for c in ("timestamp",) if c in X.columns]).copy()
    for c in ("user_id", "item_id"):
        frame[c] = frame[c].astype("category")
    start = time.perf_counter()
    for task in Y.columns:
        rows = Y[task].notna().to_numpy()
        binary = set(np.unique(Y[task].to_numpy()[rows])) <= {0.0, 1.0}
        params = {"objective": "binary" if binary else "regression",
                  "num_threads": 1, "verbosity": -1, "seed": 0}  # fmt: skip
        data = lgb.Dataset(frame[rows], Y[task].to_numpy()[rows])
        lgb.train(params, data, num_boost_round=20 if quick else 100)
    return {"lightgbm": (time.perf_counter() - start, _peak_mib())}


def _worker_als(X, Y, quick):
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares

    users, u = np.unique(X["user_id"].to_numpy(), return_inverse=True)
    items, i = np.unique(X["item_id"].to_numpy(), return_inverse=True)
    matrix = sp.csr_matrix(
        (np.ones(len(u), dtype=np.float32), (u, i)), shape=(users.size, items.size)
    )
    start = time.perf_counter()
    als = AlternatingLeastSquares(
        factors=8 if quick else 64, iterations=3 if quick else 15, num_threads=1,
        random_state=0,
    )  # fmt: skip
    als.fit(matrix, show_progress=False)
    return {"als": (time.perf_counter() - start, _peak_mib())}


def worker(method, source, n, seed, quick, n_jobs=1):
    """Run one measurement; print one JSON line ``{stage: [seconds, MiB]}``."""
    X, Y = _rows(source, n, seed)
    base = _peak_mib()
    run = globals()[f"_worker_{method}"]
    stages = run(X, Y, quick, n_jobs) if method == "pipeline" else run(X, Y, quick)
    print(json.dumps({"rows": len(X), "data_mib": base, "stages": stages, **EXTRA}))


# ------------------------------------------------------------------ driver


def measure(method, source, n, seed, quick, n_jobs=1):
    """Run ``worker`` in a fresh process; return its record or None (skipped)."""
    threads = str(n_jobs)
    env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
               MKL_NUM_THREADS=threads)  # fmt: skip
    args = [sys.executable, __file__, "--worker", method, "--source", source,
            "--n", str(n), "--seed", str(seed), "--n-jobs", threads]  # fmt: skip
    args += ["--quick"] if quick else []
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        print(f"  {method} at {n:,} {source} events: skipped ({last})")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _exponent(points):
    """Slope of log seconds against log events, smallest to largest size."""
    if len(points) < 2:
        return float("nan")
    (n0, t0), (n1, t1) = points[0], points[-1]
    return float(np.log(t1 / t0) / np.log(n1 / n0))


def report(results):
    """Print the table, the pipeline / myFM ratios and the growth exponents."""
    print(f"\n{'data':>22} {'method':>9} {'seconds':>9} {'peak MiB':>9} "
          f"{'data MiB':>9}  stages")  # fmt: skip
    curves = {}
    for (source, n), by_method in results.items():
        for method, rec in by_method.items():
            total = sum(s for s, _ in rec["stages"].values())
            peak = max(m for _, m in rec["stages"].values())
            detail = ", ".join(
                f"{k} {s:.1f} s (peak {m:,.0f} MiB)"
                for k, (s, m) in rec["stages"].items()
            )
            print(f"{f'{n:,} {source}':>22} {method:>9} {total:9.1f} {peak:9.0f} "
                  f"{rec['data_mib']:9.0f}  "
                  f"{detail if len(rec['stages']) > 1 else ''}")  # fmt: skip
            if "predict_us_per_row" in rec:
                print(f"{'':>22} predict: {rec['predict_us_per_row']:.1f} us per row "
                      f"(heads: {rec['trees']} trees)")  # fmt: skip
            curves.setdefault((source, method), []).append((n, total))
        if "pipeline" in by_method and "myfm" in by_method:
            ratio = sum(s for s, _ in by_method["pipeline"]["stages"].values()) / sum(
                s for s, _ in by_method["myfm"]["stages"].values()
            )
            print(f"{'':>22} pipeline / myFM: {ratio:.1f}x")
        for label, rec in by_method.items():
            if label.startswith("pipeline/") and "pipeline" in by_method:
                base = by_method["pipeline"]["stages"]
                per_stage = ", ".join(
                    f"{k} {base[k][0] / s:.2f}x"
                    for k, (s, _) in rec["stages"].items()
                    if k in base
                )
                speedup = sum(s for s, _ in base.values()) / sum(
                    s for s, _ in rec["stages"].values()
                )
                print(f"{'':>22} n_jobs={label.split('/')[1]}: {speedup:.2f}x "
                      f"faster ({per_stage})")  # fmt: skip
    print("\ngrowth exponent of fit time in events (log-log slope, first to last):")
    for (source, method), points in sorted(curves.items()):
        print(f"  {source:>10} {method:>9}: {_exponent(sorted(points)):.2f} "
              f"({', '.join(f'{n:,}' for n, _ in sorted(points))})")  # fmt: skip
    return curves


def plot(curves, path):
    """Write the log-log plot of fit seconds against events."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for (source, method), points in sorted(curves.items()):
        n, t = zip(*sorted(points))
        name, _, jobs = method.partition("/")
        label = f"{name}, n_jobs={jobs}" if jobs else name
        ax.loglog(n, t, marker="o", label=f"{label} ({source})")
    ax.set_xlabel("events")
    ax.set_ylabel("fit seconds (one thread unless n_jobs)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="*",
                        default=[100_000, 300_000, 1_000_000])  # fmt: skip
    parser.add_argument(
        "--generated", type=int, nargs="*", default=[],
        help="sizes of generated data to add (e.g. 10000000)",
    )  # fmt: skip
    parser.add_argument("--only", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default=str(HERE / "figures" / "bench_scale.png"))
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--n-jobs", type=int, nargs="+", default=[1],
        help="the pipeline's n_jobs (and BLAS threads); more than one value "
        "measures the pipeline at each and prints the speed-up over the first",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.source, args.n, args.seed, args.quick,
               args.n_jobs[0])  # fmt: skip
        return 0
    runs = [("generated", n) for n in (3_000, 6_000)] if args.quick else (
        [("movielens", n) for n in args.sizes]
        + [("generated", n) for n in args.generated]
    )  # fmt: skip
    results = {}
    for source, n in runs:
        print(f"{n:,} {source} events ...", flush=True)
        for method in args.only:
            for n_jobs in args.n_jobs if method == "pipeline" else [1]:
                rec = measure(method, source, n, args.seed, args.quick, n_jobs)
                if rec is not None:
                    label = method if n_jobs == args.n_jobs[0] else f"{method}/{n_jobs}"
                    results.setdefault((source, n), {})[label] = rec
    curves = report(results)
    if curves:
        target = args.plot
        if args.quick:
            target = Path(tempfile.mkdtemp()) / "bench_scale.png"
        plot(curves, target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
