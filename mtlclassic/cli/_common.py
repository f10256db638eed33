"""What every ``mtlclassic`` command shares: exit codes, options, model loading.

A command module (``_score.py``, ``_update.py``, ...) holds ``add_parser(sub)``
and ``run(args)``; ``run`` wraps its work in :func:`run_work`, which maps
failures to the exit codes written once here (:data:`EXIT_CODES`).
"""

import argparse
import os
import sys
from pathlib import Path

from .._batch.chunks import InputError
from ..io import ModelFileError, load, read_manifest

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_CODES = (
    "Exit codes:\n"
    "  0  success\n"
    "  1  run-time failure (the model fails on a chunk, an optional package is\n"
    "     missing); no OUTPUT is left\n"
    "  2  bad usage or input: a missing or empty file, OUTPUT exists without\n"
    "     --overwrite or is a folder, not a model file, INPUT lacks columns the\n"
    "     model reads, a cell that does not parse (the message names file,\n"
    "     column and row), rows the model refuses to score, a model part that\n"
    "     cannot be exported (named)"
)
FORMATTER = argparse.RawDescriptionHelpFormatter


def run_work(args, work):
    """Run ``work()``; map failures to exit codes with a one-line message.

    :class:`InputError`, a missing or existing file and a file that is not a
    model are exit 2 (:data:`EXIT_USAGE`); any other exception and an
    interrupt are exit 1 (:data:`EXIT_FAILURE`).
    """
    try:
        work()
    except (InputError, FileNotFoundError, FileExistsError) as exc:
        print(f"mtlclassic {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"mtlclassic {args.command}: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - any run-time failure is exit 1
        print(
            f"mtlclassic {args.command}: error: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return EXIT_USAGE if isinstance(exc, ModelFileError) else EXIT_FAILURE
    return EXIT_OK


def load_model(path, trusted=()):
    """Return ``(model, manifest)`` of a saved model file (``--trust`` modules)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MODEL {str(path)!r} does not exist.")
    manifest = read_manifest(path)
    if trusted and "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: a module beside you
    try:
        return load(path, trusted=trusted), manifest
    except ModelFileError as exc:
        if "trusted" not in str(exc):
            raise
        raise ModelFileError(
            f"{exc} On the command line, name the module with --trust MODULE."
        ) from None


def n_jobs_params(model):
    """Every ``n_jobs`` parameter of an estimator or Pipeline, with its value."""
    if not hasattr(model, "get_params"):
        return {}
    return {
        k: v for k, v in model.get_params(deep=True).items() if k.endswith("n_jobs")
    }


def set_n_jobs(model, n_jobs):
    """Set every ``n_jobs`` parameter of an estimator or Pipeline."""
    if n_jobs is None or not hasattr(model, "get_params"):
        return
    params = dict.fromkeys(n_jobs_params(model), n_jobs)
    if params:
        model.set_params(**params)


def positive_int(text):
    """Argparse type: a positive int."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an int") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive")
    return value


def add_output_options(parser, chunksize):
    """Add ``--chunksize``, ``--format``, ``--overwrite``, ``--n-jobs``, ``--trust``."""
    parser.add_argument(
        "--chunksize",
        type=positive_int,
        default=chunksize,
        metavar="N",
        help=f"rows read per chunk; bounds memory (default {chunksize:,})",
    )
    parser.add_argument(
        "--format",
        choices=("csv", "parquet"),
        help="OUTPUT format (default: from its suffix, .parquet/.pq else csv)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace OUTPUT if it exists"
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        metavar="N",
        help="threads for the model (sets every n_jobs parameter; default: as saved)",
    )
    add_trust(parser)


def add_trust(parser):
    """Add ``--trust MODULE`` (modules whose classes a saved model may hold)."""
    parser.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="MODULE",
        help="a module whose classes MODEL may hold besides scikit-learn and "
        "mtlclassic (your own embedder), importable from the current directory "
        "or PYTHONPATH; its code runs. Repeatable",
    )
