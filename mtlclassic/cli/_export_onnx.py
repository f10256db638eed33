"""``mtlclassic export-onnx MODEL OUTPUT``: a saved model as one ONNX graph."""

from pathlib import Path

from .._atomic import replacing
from .._batch.chunks import InputError, _note, check_output_file, iter_chunks
from .._onnx import to_onnx
from .._schema import schema_example
from ._common import EXIT_CODES, FORMATTER, add_trust, load_model, run_work


def add_parser(subparsers):
    """Add ``export-onnx MODEL OUTPUT`` to the command's subparsers."""
    export = subparsers.add_parser(
        "export-onnx",
        help="write a saved model as one ONNX graph",
        formatter_class=FORMATTER,
        description=(
            "MODEL is a saved model or Recommender. Write it to OUTPUT as one\n"
            "ONNX graph (mtlclassic.to_onnx): one input per column the graph\n"
            "reads, id columns typed by --example when given, else by the input\n"
            "example saved with the model, else by their fitted categories;\n"
            "other columns double. Outputs: 'predictions' (and 'score' for a\n"
            "Recommender; 'probabilities' for an FMClassifier, 'embedding' for\n"
            "an embedder). Run it with onnxruntime from any language. Needs the\n"
            "onnx package (pip install 'mtlclassic[onnx]')."
        ),
        epilog=EXIT_CODES,
    )
    export.add_argument("model", metavar="MODEL", help="a saved model or Recommender")
    export.add_argument("output", metavar="OUTPUT", help="the .onnx file to write")
    export.add_argument(
        "--example",
        metavar="FILE",
        help="CSV/parquet rows of the model's input whose dtypes type the id "
        "inputs (instead of the saved input example)",
    )
    export.add_argument(
        "--overwrite", action="store_true", help="replace OUTPUT if it exists"
    )
    add_trust(export)


def run(args):
    """Run the ``export-onnx`` command; return its exit code."""

    def work():
        model, manifest = load_model(args.model, args.trust)
        output = Path(args.output)
        check_output_file(output, args.overwrite)
        schema = manifest.get("input_schema")
        source = "the saved input example"
        if args.example:
            # its own dtypes, not the saved schema's: it may retype the ids
            chunks = iter_chunks(args.example, 1000, label="--example")
            example, source = next(iter(chunks), None), f"--example {args.example!r}"
        else:
            example = schema_example(schema) if schema else None
        try:
            proto = to_onnx(model, example)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{exc} (inputs typed by {source})" if example is not None
                             else str(exc)) from None  # fmt: skip
        with replacing(output) as tmp:
            tmp.write_bytes(proto.SerializeToString())
        inputs = ", ".join(i.name for i in proto.graph.input)
        _note(f"wrote {args.output} ({output.stat().st_size / 2**20:.1f} MiB); "
              f"inputs: {inputs}")  # fmt: skip

    return run_work(args, work)
