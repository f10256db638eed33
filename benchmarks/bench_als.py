"""ALSEmbedder: fit overhead over implicit, transform throughput over a bare gather.

Run: ``python benchmarks/bench_als.py`` (full: 500k events for fit, 1M rows
with 64 factors for transform) or ``--quick`` (a smoke test). Prints seconds
and ratios against baselines run in the same process:

- fit: ``ALSEmbedder(cv=None).fit(X)`` against implicit's
  ``AlternatingLeastSquares.fit`` on the already-built user x item CSR matrix
  under ``threadpool_limits(1, "blas")`` as implicit advises (the strict
  baseline: it leaves out the id mapping and the matrix build that
  a user calling implicit directly must also do), same parameters, one thread;
- transform: ``transform(X)`` (id lookup + gather + score) against a bare
  numpy gather of the same factor rows (row positions precomputed) into one
  output array with the same dot product: the physical limit;
- cross-fitting: ``fit_transform`` with ``cv=5`` against ``fit`` (full mode).
"""

import argparse
import time

import numpy as np

from mtlclassic import ALSEmbedder

try:
    from benchmarks._workloads import implicit_events
except ModuleNotFoundError:  # run as a script from benchmarks/
    from _workloads import implicit_events


def _timed(func, repeat=1):
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - start)
    return best, out


def bench_fit(n_users, n_items, n_events, factors, iterations, repeat):
    import implicit
    from threadpoolctl import threadpool_limits

    X = implicit_events(n_users, n_items, n_events, random_state=0)
    params = dict(factors=factors, iterations=iterations, regularization=0.05)
    emb = ALSEmbedder(cv=None, n_jobs=1, random_state=0, **params)
    emb.fit(X)  # warm-up: imports implicit
    user_items = emb.user_items_

    def direct():  # implicit as its docs recommend: BLAS on one thread
        with threadpool_limits(limits=1, user_api="blas"):
            model = implicit.cpu.als.AlternatingLeastSquares(
                num_threads=1, random_state=0, **params
            )
            model.fit(user_items, show_progress=False)
        return model

    # interleaved, so a busy neighbour on the machine slows both alike
    t_emb = t_direct = np.inf
    for _ in range(repeat):
        t, _ = _timed(lambda: emb.fit(X))
        t_emb = min(t_emb, t)
        t, model = _timed(direct)
        t_direct = min(t_direct, t)
    assert np.array_equal(model.user_factors, emb.user_factors_)
    print(
        f"fit  {n_events:>9,d} events, {n_users:,d} users x {n_items:,d} items, "
        f"{factors} factors, {iterations} iterations, 1 thread"
    )
    print(f"  ALSEmbedder.fit           {t_emb:8.3f} s")
    print(f"  implicit fit on the CSR   {t_direct:8.3f} s")
    print(f"  overhead ratio            {t_emb / t_direct:8.3f}x")
    return X, emb


def bench_transform(n_users, n_items, n_rows, factors, repeat):
    X = implicit_events(n_users, n_items, n_rows, random_state=1)[
        ["user_id", "item_id"]
    ]
    emb = ALSEmbedder(
        cv=None, factors=factors, iterations=1, n_jobs=1, random_state=0
    ).fit(X)
    U, V = emb.user_factors_, emb.item_factors_
    user_rows = np.searchsorted(emb.user_index_, X["user_id"].to_numpy())
    item_rows = np.searchsorted(emb.item_index_, X["item_id"].to_numpy())

    def bare_gather():
        out = np.empty((n_rows, 2 * factors + 1), dtype=U.dtype)
        np.take(U, user_rows, axis=0, out=out[:, :factors])
        np.take(V, item_rows, axis=0, out=out[:, factors : 2 * factors])
        out[:, -1] = np.einsum("ij,ij->i", out[:, :factors], out[:, factors:-1])
        return out

    # interleaved, so a busy neighbour on the machine slows both alike
    t_bare = t_emb = np.inf
    for _ in range(repeat):
        t, ref = _timed(bare_gather)
        t_bare = min(t_bare, t)
        t, Z = _timed(lambda: emb.transform(X))
        t_emb = min(t_emb, t)
    assert np.array_equal(Z, ref)
    emb.set_output(transform="pandas")
    t_pd, _ = _timed(lambda: emb.transform(X), repeat)
    X_str = X.astype({"user_id": str})
    emb_str = ALSEmbedder(
        cv=None, factors=factors, iterations=1, n_jobs=1, random_state=0
    ).fit(X_str)
    t_str, _ = _timed(lambda: emb_str.transform(X_str), 1)
    print(f"transform {n_rows:,d} rows, {factors} factors ({Z.shape[1]} columns)")
    print(
        f"  bare numpy gather + dot   {t_bare:8.3f} s  {n_rows / t_bare:12,.0f} rows/s"
    )
    print(f"  ALSEmbedder.transform     {t_emb:8.3f} s  {n_rows / t_emb:12,.0f} rows/s")
    print(f"  ratio                     {t_emb / t_bare:8.3f}x")
    print(f"  pandas output             {t_pd:8.3f} s  {n_rows / t_pd:12,.0f} rows/s")
    print(f"  string user ids           {t_str:8.3f} s  {n_rows / t_str:12,.0f} rows/s")


def bench_crossfit(X, emb, repeat):
    t_fit, _ = _timed(lambda: emb.fit(X), repeat)
    cross = ALSEmbedder(**{**emb.get_params(), "cv": 5, "passthrough": False})
    t_cf, _ = _timed(lambda: cross.fit_transform(X), 1)
    print("cross-fitting (cv=5) fit_transform vs fit")
    print(f"  fit                       {t_fit:8.3f} s")
    print(f"  fit_transform, cv=5       {t_cf:8.3f} s  ({t_cf / t_fit:.2f}x)")


def main(quick=False):
    if quick:
        bench_fit(2_000, 500, 20_000, 16, 3, repeat=1)
        bench_transform(2_000, 500, 50_000, 16, repeat=1)
        return
    X, emb = bench_fit(20_000, 5_000, 500_000, 64, 10, repeat=3)
    bench_transform(50_000, 10_000, 1_000_000, 64, repeat=5)
    bench_crossfit(X, emb, repeat=1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke test")
    main(parser.parse_args().quick)
