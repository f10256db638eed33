"""The ``mtlclassic`` command and its table of subcommands.

The subcommands are ``demo``, ``score``, ``recommend``, ``similar``,
``update`` and ``export-onnx``. Each command is one module of this package
with ``add_parser(subparsers)`` and ``run(args) -> exit code``;
:data:`COMMANDS` lists them in help order, so a new command is one module
and one line there. The exit codes are written
once, in :mod:`mtlclassic.cli._common`: 0 success; 1 a run-time failure (the
message says what); 2 bad command-line usage or bad input (a missing file or
column).
"""

import argparse
import sys

from . import _demo, _export_onnx, _recommend, _score, _similar, _update
from ._common import EXIT_CODES, EXIT_USAGE

COMMANDS = {
    "demo": _demo,
    "score": _score,
    "recommend": _recommend,
    "similar": _similar,
    "update": _update,
    "export-onnx": _export_onnx,
}

__all__ = ["COMMANDS", "build_parser", "main"]


def build_parser():
    """Return the argument parser of the ``mtlclassic`` command."""
    parser = argparse.ArgumentParser(
        prog="mtlclassic",
        description="Multi-task learning for recommender systems with classical ML.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXIT_CODES,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return parser


def main(argv=None):
    """Run the ``mtlclassic`` command; return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        print(f"mtlclassic {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
