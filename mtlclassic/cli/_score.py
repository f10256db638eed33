"""``mtlclassic score MODEL INPUT OUTPUT``: score a file with a saved model."""

from .._batch.chunks import InputError, _note
from .._batch.dask_scoring import score_dask
from .._batch.files import score_file
from ..recommend._recommender import scoring_model
from ._common import (
    EXIT_CODES,
    FORMATTER,
    add_output_options,
    load_model,
    run_work,
    set_n_jobs,
)


def add_parser(subparsers):
    """Add ``score`` to the command's subparsers."""
    score = subparsers.add_parser(
        "score",
        help="score a CSV/parquet file with a saved model, in chunks",
        formatter_class=FORMATTER,
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
        epilog=EXIT_CODES,
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
    add_output_options(score, 100_000)


def run(args):
    """Run the ``score`` command; return its exit code."""

    def work():
        model, manifest = load_model(args.model, args.trust)
        scorer = scoring_model(model)  # a Recommender scores with the model it wraps
        if scorer is None:
            raise InputError(
                f"MODEL {args.model!r} is a Recommender fitted on events alone "
                "(Recommender(None, ...)): it has no multi-task model to score rows "
                "with. Use `mtlclassic recommend` for its lists."
            )
        model = scorer
        set_n_jobs(model, args.n_jobs)
        info = manifest.get("model", {})
        common = dict(
            overwrite=args.overwrite,
            id_cols=args.id_cols,
            input_columns=info.get("input_columns"),
            schema=manifest.get("input_schema"),
        )
        if args.scheduler is not None:
            if args.format == "csv":
                raise InputError(
                    "--scheduler writes OUTPUT as a folder of parquet parts; "
                    "--format csv is not supported with it."
                )
            n = score_dask(
                model, args.input, args.output, scheduler=args.scheduler, **common
            )
            _note(f"wrote {n:,} rows to {args.output} (parquet parts)")
            return
        n = score_file(
            model,
            args.input,
            args.output,
            chunksize=args.chunksize,
            output_format=args.format,
            task_names=list(info.get("tasks", {})) or None,
            **common,
        )
        if manifest.get("input_schema") is None:
            _note(
                "the model was saved without input_example: chunks were not "
                "cast to the training dtypes"
            )
        _note(f"wrote {n:,} rows to {args.output}")

    return run_work(args, work)
