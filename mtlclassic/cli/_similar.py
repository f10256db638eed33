"""``mtlclassic similar MODEL ITEMS OUTPUT``: top-k similar items per item."""

from .._batch.chunks import InputError, _note
from .._batch.files import similar_file
from ._common import (
    EXIT_CODES,
    FORMATTER,
    add_output_options,
    load_model,
    positive_int,
    run_work,
)


def add_parser(subparsers):
    """Add ``similar`` to the command's subparsers."""
    similar = subparsers.add_parser(
        "similar",
        help="top-k similar items per item with a saved Recommender",
        formatter_class=FORMATTER,
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
        epilog=EXIT_CODES,
    )
    similar.add_argument("model", metavar="MODEL", help="a saved Recommender")
    similar.add_argument("items", metavar="ITEMS", help="CSV/parquet of item ids")
    similar.add_argument("output", metavar="OUTPUT", help="file to write (csv/parquet)")
    similar.add_argument(
        "-k", type=positive_int, default=10, help="items per item (default 10)"
    )
    similar.add_argument(
        "--weight",
        action="append",
        default=[],
        metavar="SOURCE=W",
        help="weight of a source (als, fm, content, ...); repeatable; sources "
        "not named get 0 once one is named",
    )
    add_output_options(similar, 10_000)


def run(args):
    """Run the ``similar`` command; return its exit code."""

    def work():
        recommender, manifest = load_model(args.model, args.trust)
        n, rows = similar_file(
            recommender,
            args.items,
            args.output,
            k=args.k,
            weights=_weights(args.weight),
            chunksize=args.chunksize,
            output_format=args.format,
            overwrite=args.overwrite,
            schema=manifest.get("input_schema"),
        )
        _note(
            f"wrote {rows:,} rows, top-{args.k} similar items for {n:,} items, "
            f"to {args.output}"
        )

    return run_work(args, work)


def _weights(pairs):
    """Parse ``["als=1", "content=0.5"]`` into a dict (None if empty)."""
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise InputError(f"--weight must be SOURCE=NUMBER; got {pair!r}.")
    return out
