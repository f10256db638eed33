"""``mtlclassic recommend MODEL --users FILE OUTPUT``: top-k items per user."""

import pandas as pd

from .._batch.chunks import InputError, Source, _note, iter_chunks
from .._batch.files import recommend_file
from ..embedding._session import session_context
from ..recommend._update import session_rows
from ._common import (
    EXIT_CODES,
    FORMATTER,
    add_output_options,
    load_model,
    positive_int,
    run_work,
    set_n_jobs,
)


def add_parser(subparsers):
    """Add ``recommend`` to the command's subparsers."""
    recommend = subparsers.add_parser(
        "recommend",
        help="top-k items per user with a saved Recommender",
        formatter_class=FORMATTER,
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
        epilog=EXIT_CODES,
    )
    recommend.add_argument("model", metavar="MODEL", help="a saved Recommender")
    recommend.add_argument(
        "--users", required=True, metavar="FILE", help="CSV/parquet of user ids"
    )
    recommend.add_argument(
        "-k", type=positive_int, default=10, help="items per user (default 10)"
    )
    recommend.add_argument(
        "--n-candidates",
        type=positive_int,
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
    add_output_options(recommend, 10_000)


def run(args):
    """Run the ``recommend`` command; return its exit code."""

    def work():
        recommender, manifest = load_model(args.model, args.trust)
        set_n_jobs(getattr(recommender, "model_", None), args.n_jobs)
        if args.n_candidates is not None and hasattr(recommender, "n_candidates"):
            recommender.n_candidates = args.n_candidates
        session = None
        if args.session is not None:
            session = _read_session(recommender, args.session)
        n, rows = recommend_file(
            recommender,
            args.users,
            args.output,
            k=args.k,
            chunksize=args.chunksize,
            output_format=args.format,
            overwrite=args.overwrite,
            schema=manifest.get("input_schema"),
            session=session,
        )
        short = (
            ""
            if rows == n * args.k
            else (
                f" ({n * args.k - rows:,} fewer than {args.k} per user: some users "
                "have fewer unseen items in the catalogue)"
            )
        )
        _note(
            f"wrote {rows:,} rows, top-{args.k} items for {n:,} "
            f"user{'' if n == 1 else 's'}{short}, "
            f"to {args.output}"
        )

    return run_work(args, work)


def _read_session(recommender, path):
    """Read and check the ``--session`` file (errors name it, not --users)."""
    source = Source(path, "--session")
    parts = list(iter_chunks(source, 1_000_000, label="--session"))
    session = pd.concat(parts, ignore_index=True) if parts else None
    try:
        with session_context(recommender.model_, session_rows(recommender, session)):
            pass
    except (ValueError, TypeError) as exc:
        raise InputError(f"--session {str(path)!r}: {exc}") from None
    return session
