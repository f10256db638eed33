"""Argument parsers of ``score``, ``recommend``, ``similar`` and ``update``.

Their work is in :mod:`mtlclassic._scoring`.
"""

import argparse

from ._scoring import (
    _EXIT_CODES,
    run_recommend,
    run_score,
    run_similar,
    run_update,
)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an int") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive")
    return value


def _common(parser, chunksize):
    parser.add_argument(
        "--chunksize",
        type=_positive_int,
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


def add_parsers(subparsers):
    """Add the ``score``, ``recommend``, ``similar``, ``update``, ``export-onnx``."""
    fmt = argparse.RawDescriptionHelpFormatter
    _add_score(subparsers, fmt)
    _add_recommend(subparsers, fmt)
    _add_similar(subparsers, fmt)
    _add_update(subparsers, fmt)
    from ._onnx._cli import add_export_parser

    add_export_parser(subparsers, fmt)


def _add_score(subparsers, fmt):
    score = subparsers.add_parser(
        "score",
        help="score a CSV/parquet file with a saved model, in chunks",
        formatter_class=fmt,
        description=(
            "Read INPUT (CSV, or parquet for a .parquet/.pq suffix; parquet needs\n"
            "pyarrow) CHUNKSIZE rows at a time, cast each chunk to the dtypes saved\n"
            "with the model (mtlclassic.save(..., input_example=X)), predict every\n"
            "task and append the rows to OUTPUT: the id columns, then one column\n"
            "per task (E[y_t | x]: a probability for a binary task). Memory is\n"
            "bounded by the chunk size. OUTPUT is written to a temporary file\n"
            "beside it and renamed at the end, so a failure leaves no partial\n"
            "OUTPUT. INPUT must hold every column the model reads (else an error\n"
            "lists the missing ones); other columns are ignored, with a note.\n"
            "Unseen user/item ids are scored by the model's cold-start rule (e.g.\n"
            "ALSEmbedder(unknown=...)). Progress goes to stderr on a terminal."
        ),
        epilog=_EXIT_CODES,
    )
    score.add_argument("model", metavar="MODEL", help="a file saved by mtlclassic.save")
    score.add_argument("input", metavar="INPUT", help="CSV or parquet file of rows")
    score.add_argument("output", metavar="OUTPUT", help="file to write (csv/parquet)")
    score.add_argument(
        "--id-cols",
        nargs="+",
        metavar="COL",
        help="INPUT columns to copy to OUTPUT (default: the model's user/item id "
        "columns present in INPUT, e.g. user_id item_id)",
    )
    score.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="score on a Dask cluster (pip install 'mtlclassic[dask]'): a "
        "scheduler address (tcp://host:8786) or 'local' (a LocalCluster here); "
        "INPUT may then be a folder or glob of parquet/CSV files and OUTPUT is "
        "a folder of parquet parts, written atomically like a file",
    )
    _common(score, 100_000)
    score.set_defaults(func=run_score)


def _add_recommend(subparsers, fmt):
    recommend = subparsers.add_parser(
        "recommend",
        help="top-k items per user with a saved Recommender",
        formatter_class=fmt,
        description=(
            "MODEL is a saved mtlclassic.Recommender (a fitted model with its item\n"
            "catalogue). Read the user ids from the --users file (CSV or parquet,\n"
            "with the Recommender's user id column, e.g. user_id) in chunks and\n"
            "write the top-k items per user to OUTPUT: user id, item id, rank\n"
            "(1 = best), the fused score, and one column per task; sorted by user\n"
            "(in file order; a repeated user is served once) then rank. Unseen\n"
            "users get the model's cold-start recommendations. OUTPUT is written\n"
            "to a temporary file and renamed at the end."
        ),
        epilog=_EXIT_CODES,
    )
    recommend.add_argument("model", metavar="MODEL", help="a saved Recommender")
    recommend.add_argument(
        "--users", required=True, metavar="FILE", help="CSV/parquet of user ids"
    )
    recommend.add_argument(
        "-k", type=_positive_int, default=10, help="items per user (default 10)"
    )
    recommend.add_argument(
        "--n-candidates",
        type=_positive_int,
        metavar="N",
        help=(
            "candidates scored per user from the model's ALS step, for a "
            "Recommender around a fitted model (default: as saved, and at least k); "
            "a Recommender fitted on events keeps its generators' own counts"
        ),
    )
    recommend.add_argument(
        "--session",
        metavar="FILE",
        help=(
            "CSV/parquet of the session so far (user and item ids, time; other "
            "columns from the catalogue): the context of the model's "
            "SessionEmbedder, so the top-k follows the session"
        ),
    )
    recommend.add_argument(
        "output", metavar="OUTPUT", help="file to write (csv/parquet)"
    )
    _common(recommend, 10_000)
    recommend.set_defaults(func=run_recommend)


def _add_similar(subparsers, fmt):
    similar = subparsers.add_parser(
        "similar",
        help="top-k similar items per item with a saved Recommender",
        formatter_class=fmt,
        description=(
            "MODEL is a saved mtlclassic.Recommender. Read the item ids from ITEMS\n"
            "(CSV or parquet with the Recommender's item id column, e.g. item_id)\n"
            "in chunks and write the top-k most similar catalogue items per item\n"
            "to OUTPUT: item id, similar item id, rank (1 = most similar), the\n"
            "fused score and each source's cosine (score_als, score_fm,\n"
            "score_content, ...). Sources are fused by --weight (default: 1 per\n"
            "embedder, 0.25 for content).\n"
            "An item is never its own neighbour; an item no source knows gets\n"
            "the most popular items. OUTPUT is written atomically."
        ),
        epilog=_EXIT_CODES,
    )
    similar.add_argument("model", metavar="MODEL", help="a saved Recommender")
    similar.add_argument("items", metavar="ITEMS", help="CSV/parquet of item ids")
    similar.add_argument("output", metavar="OUTPUT", help="file to write (csv/parquet)")
    similar.add_argument(
        "-k", type=_positive_int, default=10, help="items per item (default 10)"
    )
    similar.add_argument(
        "--weight",
        action="append",
        default=[],
        metavar="SOURCE=W",
        help="weight of a source (als, fm, content, ...); repeatable; sources "
        "not named get 0 once one is named",
    )
    _common(similar, 10_000)
    similar.set_defaults(func=run_similar)


def _add_update(subparsers, fmt):
    update = subparsers.add_parser(
        "update",
        help="learn new events without a full refit",
        formatter_class=fmt,
        description=(
            "MODEL is a saved model or Recommender. Read EVENTS (CSV or parquet,\n"
            "the columns the model reads, and label columns named as its tasks\n"
            "where labels are known), update the model (the heads refit their\n"
            "leaves on the labelled rows, ALS folds the events in, a Recommender\n"
            "marks the pairs seen; see Recommender.update) and save it to OUTPUT\n"
            "(written to a temporary file and renamed). EVENTS is read whole."
        ),
        epilog=_EXIT_CODES,
    )
    update.add_argument("model", metavar="MODEL", help="a saved model or Recommender")
    update.add_argument("events", metavar="EVENTS", help="CSV/parquet of new events")
    update.add_argument("output", metavar="OUTPUT", help="the updated model file")
    update.add_argument(
        "--decay-rate",
        type=float,
        default=0.9,
        metavar="D",
        help="weight of the heads' old leaf values, in [0, 1] (default 0.9)",
    )
    update.add_argument(
        "--overwrite", action="store_true", help="replace OUTPUT if it exists"
    )
    update.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        metavar="N",
        help="threads for this update (the saved model keeps its own n_jobs)",
    )
    add_trust(update)
    update.set_defaults(func=run_update)
