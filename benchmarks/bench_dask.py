"""The Dask engine: batch scoring and head training on a LocalCluster.

Run: ``python benchmarks/bench_dask.py`` (full: 10M rows scored, heads
trained on 2M rows; several minutes on the 2-core machine) or ``--quick``
(a smoke test on small data, used by the tests). Needs ``pip install
'mtlclassic[dask]'`` (and pyarrow). Prints:

- scoring: rows/s of ``predict_dask`` with 2 worker processes (1 thread
  each) reading parquet parts from disk, against one process scoring the
  same parts chunk by chunk (the local ``mtlclassic score`` loop), and the
  peak RSS of every worker (``ru_maxrss``) for two input sizes: it should
  not grow with the input (each worker holds one partition at a time).
- training: wall time and test AUC / RMSE of :class:`DaskMultiTaskLGBM`
  (2 workers) against a local :class:`MultiTaskLGBM` with the same
  parameters (2 threads) on the same rows.

Data: generated, 8 numeric features, 3 tasks (rating: regression; click:
binary; like: binary with 85 % of labels missing), the same generator for
training and scoring. The model scored is a local MultiTaskLGBM (100 trees
per task) fitted on 50k rows.
"""

import argparse
import resource
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def generate(n, seed):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.standard_normal((n, 8)), columns=[f"f{j}" for j in range(8)])
    z = X["f0"] + 0.5 * X["f1"] * X["f2"] - 0.3 * X["f3"] ** 2
    rating = 3 + z + rng.standard_normal(n)
    click = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float)
    like = np.where(
        rng.random(n) < 0.15, (rng.random(n) < 0.3 + 0.1 * z.clip(-2, 2)), np.nan
    )
    Y = pd.DataFrame({"rating": rating, "click": click, "like": like.astype(float)})
    return X, Y


def write_parts(n, folder, part_rows, seed):
    folder.mkdir(parents=True, exist_ok=True)
    done, i = 0, 0
    while done < n:
        rows = min(part_rows, n - done)
        X, _ = generate(rows, seed + i)
        X.to_parquet(folder / f"part{i:04d}.parquet", index=False)
        done, i = done + rows, i + 1


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def score_bench(model, sizes, part_rows, tmp):
    import dask.dataframe as dd
    import pyarrow.parquet as pq
    from distributed import Client, LocalCluster

    from mtlclassic.dask import predict_dask

    for n in sizes:
        folder = tmp / f"in_{n}"
        write_parts(n, folder, part_rows, seed=1)
        files = sorted(folder.glob("*.parquet"))
        start = time.perf_counter()
        for f in files:  # the local loop: one chunk (part) at a time
            model.predict(pq.read_table(f).to_pandas())
        local = n / (time.perf_counter() - start)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cluster = LocalCluster(
                n_workers=2, threads_per_worker=1, dashboard_address=":0"
            )
            client = Client(cluster)
        start = time.perf_counter()
        out = tmp / f"out_{n}"
        predict_dask(model, dd.read_parquet([str(f) for f in files])).to_parquet(out)
        remote = n / (time.perf_counter() - start)
        rss = client.run(peak_rss_mib)
        client.close()
        cluster.close()
        shutil.rmtree(out)
        print(
            f"score {n:>11,} rows: local loop {local:>10,.0f} rows/s; 2 workers "
            f"{remote:>10,.0f} rows/s ({remote / local:.2f}x); worker peak RSS "
            + ", ".join(f"{v:.0f}" for v in rss.values())
            + " MiB",
            flush=True,
        )


def train_bench(n, n_estimators):
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    from mtlclassic import MultiTaskLGBM
    from mtlclassic.dask import DaskMultiTaskLGBM
    from mtlclassic.metrics import multitask_report

    X, Y = generate(n, seed=2)
    Xt, Yt = generate(200_000, seed=3)
    params = dict(n_estimators=n_estimators, learning_rate=0.1, random_state=0)
    start = time.perf_counter()
    local = MultiTaskLGBM(**params, n_jobs=2).fit(X, Y)
    t_local = time.perf_counter() - start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=":0"
        )
        client = Client(cluster)
        dX, dY = dd.from_pandas(X, npartitions=4), dd.from_pandas(Y, npartitions=4)
        dX, dY = client.persist(dX), client.persist(dY)
        start = time.perf_counter()
        remote = DaskMultiTaskLGBM(**params, client=client).fit(dX, dY)
        t_remote = time.perf_counter() - start
    client.close()
    cluster.close()
    a = multitask_report(Yt, local.predict(Xt))
    b = multitask_report(Yt, remote.to_local().predict(Xt))
    print(
        f"train {n:,} rows, {n_estimators} trees/task: local {t_local:.1f} s, "
        f"2 workers {t_remote:.1f} s; rating RMSE {a.loc['rating', 'rmse']:.4f} vs "
        f"{b.loc['rating', 'rmse']:.4f}, click AUC {a.loc['click', 'roc_auc']:.4f} "
        f"vs {b.loc['click', 'roc_auc']:.4f}, like AUC "
        f"{a.loc['like', 'roc_auc']:.4f} vs {b.loc['like', 'roc_auc']:.4f}",
        flush=True,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    from mtlclassic import MultiTaskLGBM

    X, Y = generate(20_000 if args.quick else 50_000, seed=0)
    model = MultiTaskLGBM(
        n_estimators=20 if args.quick else 100, learning_rate=0.1, random_state=0
    ).fit(X, Y)
    tmp = Path(tempfile.mkdtemp(prefix="bench_dask_"))
    try:
        if args.quick:
            score_bench(model, [40_000], 10_000, tmp)
            train_bench(20_000, 20)
        else:
            score_bench(model, [2_000_000, 10_000_000], 500_000, tmp)
            train_bench(2_000_000, 100)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
