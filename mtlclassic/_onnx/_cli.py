"""The ``mtlclassic export-onnx`` command."""

from pathlib import Path

from .._chunks import InputError, _note
from .._scoring import _EXIT_CODES, _load_model, _run


def add_export_parser(subparsers, fmt):
    """Add ``export-onnx MODEL OUTPUT``."""
    export = subparsers.add_parser(
        "export-onnx",
        help="write a saved model as one ONNX graph",
        formatter_class=fmt,
        description=(
            "MODEL is a saved model or Recommender. Write it to OUTPUT as one\n"
            "ONNX graph (mtlclassic.to_onnx): one input per column the model\n"
            "reads, typed from the input example saved with the model (else from\n"
            "--example, else ids from their fitted categories and the rest\n"
            "double); outputs 'predictions' (and 'score' for a Recommender).\n"
            "Run it with onnxruntime from any language. Needs the onnx package\n"
            "(pip install 'mtlclassic[onnx]')."
        ),
        epilog=_EXIT_CODES,
    )
    export.add_argument("model", metavar="MODEL", help="a saved model or Recommender")
    export.add_argument("output", metavar="OUTPUT", help="the .onnx file to write")
    export.add_argument(
        "--example",
        metavar="FILE",
        help="CSV/parquet rows of the model's input, to type the inputs by "
        "(instead of the saved input example)",
    )
    export.add_argument(
        "--overwrite", action="store_true", help="replace OUTPUT if it exists"
    )
    export.add_argument("--trust", action="append", default=[], metavar="MODULE")
    export.set_defaults(func=run_export_onnx)


def run_export_onnx(args):
    """Run the ``export-onnx`` command; return its exit code."""

    def work():
        from .._chunks import iter_chunks
        from .._schema import schema_example
        from . import to_onnx

        model, manifest = _load_model(args.model, args.trust)
        output = Path(args.output)
        if output.exists() and not args.overwrite:
            raise InputError(f"OUTPUT {args.output!r} exists; pass --overwrite.")
        schema = manifest.get("input_schema")
        if args.example:
            # its own dtypes, not the saved schema's: it may retype the ids
            chunks = iter_chunks(args.example, 1000, label="--example")
            example = next(iter(chunks), None)
        else:
            example = schema_example(schema) if schema else None
        try:
            proto = to_onnx(model, example)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        tmp = output.with_name(output.name + ".tmp")
        tmp.write_bytes(proto.SerializeToString())
        tmp.replace(output)
        inputs = ", ".join(f"{i.name}" for i in proto.graph.input)
        _note(f"wrote {args.output} ({output.stat().st_size / 2**20:.1f} MiB); "
              f"inputs: {inputs}")  # fmt: skip

    return _run(args, work)
