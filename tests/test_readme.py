"""Every Python block of the README runs, in order, without a warning.

The blocks are executed in one namespace, as a reader pasting them into one
session would (a block may build on the one before it), in a temporary working
directory (the blocks write model files). The ``mtlclassic ...`` lines of the
bash blocks after the set-up section run through the CLI entry point and must
exit 0. The figures the README quotes from ``mtlclassic demo`` are checked by
``mtlclassic demo --check README.md`` (a full demo run, not part of this suite);
here the parser of that table is checked on the README itself.
"""

import re
import shlex
import warnings
from pathlib import Path

import pytest

from mtlclassic.cli import main
from mtlclassic.cli._demo import readme_figures

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(language):
    """Return the fenced ``language`` blocks of the README, in order."""
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def cli_lines():
    """The ``mtlclassic`` command lines of the bash blocks, set-up block aside."""
    lines = []
    for block in blocks("bash"):
        for line in block.splitlines():
            if line.startswith("mtlclassic "):
                lines.append(shlex.split(line)[1:])
    return lines


def test_readme_blocks_run_in_order_without_warnings(tmp_path, monkeypatch):
    python = blocks("python")
    assert len(python) >= 8, "the README lost its examples?"
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__readme__"}
    for number, code in enumerate(python, 1):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                exec(
                    compile(code, f"README.md python block {number}", "exec"), namespace
                )
            except Exception as exc:  # noqa: BLE001 - name the block that failed
                pytest.fail(f"README python block {number} failed: {exc!r}\n{code}")
        ours = [
            f"{w.category.__name__}: {w.message}"
            for w in caught
            if not issubclass(
                w.category, (DeprecationWarning, PendingDeprecationWarning)
            )
        ]
        assert not ours, f"README python block {number} warned: {ours}\n{code}"
    commands = cli_lines()
    assert commands, "the README lost its CLI examples?"
    for args in commands:
        assert main(args + ["--overwrite"]) == 0, args


def test_the_demo_figures_table_parses():
    rows = readme_figures(README.read_text(encoding="utf-8"))
    # five models: per-task scores, NDCG@10 and the fit time
    assert len(rows) == 5 and all(len(r) == 5 for r in rows)
    assert rows[-1][:3] == [0.0, 0.5, 0.5]  # the constant baseline


def test_the_real_data_figures_table_parses():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_real", README.parent / "benchmarks" / "bench_real.py"
    )
    bench_real = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_real)
    rows = readme_figures(README.read_text(encoding="utf-8"), bench_real.MARKER)
    assert len(rows) == len(bench_real.README_ROWS)
    assert all(len(r) == len(bench_real.README_COLUMNS) for r in rows)
