"""The ``mtlclassic`` command: ``demo``, ``score``, ``recommend``.

Exit codes: 0 success; 1 a run-time failure (the message says what);
2 bad command-line usage or bad input (missing file or column).
"""

import argparse
import sys
import time


def _progress(message, verbose=True):
    if verbose:
        print(f"[mtlclassic] {message}", file=sys.stderr, flush=True)


def _load_demo_data(args):
    from .datasets import load_census_income, load_movielens, make_multitask_recsys

    if args.movielens:
        X, Y = load_movielens(args.movielens)
        return X, Y, f"MovieLens from {args.movielens}"
    if args.census:
        X, Y = load_census_income(args.census)
        return X, Y, f"Census-Income (KDD) from {args.census}"
    n_events = 15_000 if args.quick else 100_000
    X, Y = make_multitask_recsys(
        n_users=300 if args.quick else 1_000,
        n_items=150 if args.quick else 500,
        n_events=n_events,
        random_state=args.seed,
    )
    return X, Y, f"built-in make_multitask_recsys ({n_events:,} events)"


def run_demo(args):
    """Fit on a temporal holdout and print per-task metrics against baselines."""
    from . import _demo

    X, Y, source = _load_demo_data(args)
    _progress(
        f"data: {source}; {X.shape[0]:,} rows, tasks {list(Y.columns)}",
        not args.silent,
    )
    start = time.perf_counter()
    text = None
    marker = _demo.QUICK_MARKER if args.quick else _demo.FIGURES_MARKER
    if args.check:
        try:
            with open(args.check, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise FileNotFoundError(f"--check {args.check!r}: {exc}") from None
        _demo.readme_figures(text, marker)  # no figures: fail before the fit

    def progress(message):  # a line per stage, with the time so far
        _progress(f"{time.perf_counter() - start:6.1f} s  {message}", not args.silent)

    report, table = _demo.run(
        X, Y, quick=args.quick, seed=args.seed, n_jobs=args.n_jobs, progress=progress
    )
    print(report)
    progress("done")
    if text is None:
        return 0
    problems = _demo.check_figures(_demo.demo_figures(table), text, marker=marker)
    return _demo.report_check(problems, args.check, marker)


def build_parser():
    """Return the argument parser of the ``mtlclassic`` command."""
    parser = argparse.ArgumentParser(
        prog="mtlclassic",
        description="Multi-task learning for recommender systems with classical ML.",
        epilog="Exit codes: 0 success, 1 run-time failure, 2 bad usage or input.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="fit and evaluate on the built-in data (or MovieLens / Census files)",
        description=(
            "Generate the built-in multi-task recommender data (or read MovieLens "
            "/ Census-Income files you have), split by time, fit mtlclassic and "
            "the baselines, and print per-task metrics, ranking metrics and times."
        ),
        epilog="Exit codes: 0 success, 1 run-time failure, 2 bad usage or input.",
    )
    source = demo.add_mutually_exclusive_group()
    source.add_argument(
        "--movielens",
        metavar="PATH",
        help="folder with MovieLens files (ml-100k, ml-1m, ml-latest)",
    )
    source.add_argument(
        "--census", metavar="PATH", help="folder with census-income.data (UCI KDD)"
    )
    demo.add_argument(
        "--quick",
        action="store_true",
        help="small data and models (seconds, for smoke tests)",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        help="threads for LightGBM and ALS (default 1; -1 = all cores)",
    )
    demo.add_argument("--silent", action="store_true", help="no progress messages")
    demo.add_argument(
        "--check",
        metavar="FILE",
        help="compare the summary with the Markdown table after the line "
        "'<!-- figures: mtlclassic demo -->' in FILE (e.g. README.md; with "
        "--quick, '<!-- figures: mtlclassic demo --quick -->'); exit 1 when a "
        "score differs at 3 decimals (fit times are not compared)",
    )
    demo.set_defaults(func=run_demo)
    from ._parsers import add_parsers

    add_parsers(sub)  # score, recommend, similar, update
    return parser


def main(argv=None):
    """Run the ``mtlclassic`` command; return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        print(f"mtlclassic {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
