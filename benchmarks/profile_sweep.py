"""One Gibbs sweep of the default pipeline's FM, block by block.

Fits the pipeline's ``FMEmbedder("all", 8)`` (no cross-fitting) for
``--sweeps`` sweeps on the first ``--n`` MovieLens-1M ratings in time order
(``rating`` and ``liked``, every side column; the data comes from
``../shared/data/get_dev_data.sh`` and the script says so when it is absent)
and prints the milliseconds per sweep of every block of the sampler
(:class:`mtlclassic.embedding._fm.gibbs.FMGibbsSampler`), one thread. With
``--per-row`` the fields are drawn from per-row sums only (the reference
sampler, no entity blocks): the two runs draw the same chain, so the
difference is the blocks' saving.

Run: ``python benchmarks/profile_sweep.py [--n 300000] [--sweeps 10] [--per-row]``.
"""

import argparse
import collections
import functools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import data_dir  # noqa: E402

BLOCKS = (
    "sample_latent",
    "sample_hyperparameters",
    "sample_intercept",
    "sample_linear",
    "sample_linear_block",
    "sample_factors",
    "sample_scale",
    "sample_noise",
    "refresh",
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300_000)
    parser.add_argument("--sweeps", type=int, default=10)
    parser.add_argument("--per-row", action="store_true")
    args = parser.parse_args(argv)
    from _workloads import movielens_by_time

    from mtlclassic import FMEmbedder
    from mtlclassic.embedding._fm import gibbs, relational

    data = movielens_by_time(data_dir() / "ml-1m", args.n)
    if data is None:
        print("MovieLens-1M not found (../shared/data/get_dev_data.sh); skipped")
        return 0
    X, Y = data
    seconds = collections.Counter()

    def timed(fn, name):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                seconds[name] += time.perf_counter() - start

        return wrapper

    sampler = gibbs.FMGibbsSampler
    for name in BLOCKS:
        if hasattr(sampler, name):
            setattr(sampler, name, timed(getattr(sampler, name), name))
    gibbs.sample_linear_block = timed(
        relational.sample_linear_block, "sample_linear_block"
    )
    if args.per_row:
        init = sampler.__init__

        def per_row(self, *a, **k):
            init(self, *a, **{**k, "relational": False})

        sampler.__init__ = per_row
    model = FMEmbedder("all", 8, n_iter=args.sweeps, features=("scores",), cv=None,
                       random_state=0)  # fmt: skip
    start = time.perf_counter()
    model.fit(X.drop(columns=["timestamp"]), Y)
    total = time.perf_counter() - start
    mode = "per-row sums" if args.per_row else "entity blocks"
    print(f"{len(X):,} events, {args.sweeps} sweeps ({mode}): fit {total:.2f} s")
    per_sweep = 0.0
    for name, value in seconds.most_common():
        ms = value / args.sweeps * 1e3
        per_sweep += ms
        print(f"  {name:24s} {ms:8.1f} ms per sweep")
    print(f"  {'all blocks':24s} {per_sweep:8.1f} ms per sweep")
    return 0


if __name__ == "__main__":
    sys.exit(main())
