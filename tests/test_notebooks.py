"""Execute every notebook of ``notebooks/`` and check that it is stored stripped.

Each notebook runs in a fresh ``python3`` kernel (the interpreter running the
tests: jupyter_client starts the native kernel with ``sys.executable``), with
``MPLBACKEND=Agg``, under a time budget for the whole notebook.
"""

import re
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# Seconds for a whole notebook, kernel start-up included (each runs in ~5-15 s
# on one core of a quiet machine; the margin absorbs a loaded CI box).
NOTEBOOK_BUDGET = 120

KERNEL_PROBE = (
    "import os, sys, mtlclassic\n"
    "print(sys.prefix)\n"
    "print(mtlclassic.__file__)\n"
    "print(os.environ.get('MPLBACKEND'))"
)


def _final_text(nb):
    """The stream and plain-text output of the notebook's last code cell."""
    last = [cell for cell in nb.cells if cell.cell_type == "code"][-1]
    parts = []
    for output in last.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "".join(parts)


def _number(text, label):
    match = re.search(rf"^{re.escape(label)}\s*(-?[\d.]+)\s*$", text, re.MULTILINE)
    assert match, f"{label!r} not printed by the last cell:\n{text}"
    return float(match.group(1))


def _check_quickstart(text):
    assert "same predictions after load: True" in text
    # mean over tasks of R2 (rating) and ROC AUC (click, like) on the future
    # events; ~0.47 today, a constant model scores (0 + 0.5 + 0.5) / 3 = 0.33
    assert 0.36 < _number(text, "held-out mean score:") < 0.9


def _check_task_relationships(text):
    independent = _number(text, "held-out mean score, independent:")
    trace_norm = _number(text, "held-out mean score, trace norm:")
    # sharing a low-rank subspace helps the scarce tasks (0.28 vs 0.23 today)
    assert trace_norm > independent + 0.01


def _check_two_stage(text):
    rows = dict(
        (m.group(1).strip(), (float(m.group(2)), float(m.group(3))))
        for m in re.finditer(r"^(\D+?)\s+([\d.]+)\s+([\d.]+)\s*$", text, re.MULTILINE)
    )
    assert {"fused: weighted", "fused: product", "random"} <= set(rows), text
    for ndcg, precision in rows.values():
        assert 0.0 <= ndcg <= 1.0 and 0.0 <= precision <= 1.0
    # the fused ranking is far better than a random top-10 (~3x today)
    assert rows["fused: weighted"][0] > 1.5 * rows["random"][0]
    # the chain rule with an exposure estimate beats both of its factors (NDCG
    # 0.144 against 0.121 for popularity and 0.091 for the task heads today)
    chain = rows["popularity x P(click)"][0]
    assert chain > rows["most popular"][0] and chain > rows["fused: weighted"][0]


def _check_search(text):
    assert "best parameters: {'alsembedder__factors':" in text
    # the same search through joblib's Dask backend: the same choice and scores
    assert "Dask search agrees: True 0.0" in text
    cv_score = _number(text, "cross-validated mean score:")
    held_out = _number(text, "held-out mean score:")
    assert 0.34 < cv_score < 0.9 and 0.34 < held_out < 0.9


def _check_cross_domain(text):
    def value(label, model):
        return _number(text, f"{label} RMSE, {model}:")

    # the small domain borrows from the large one, most for its cold users
    # (books 0.950 vs 1.021 and cold 1.073 vs 1.177 today); films barely move
    assert value("books", "MultiTaskFM") < value("books", "per-domain FM") - 0.03
    cold = value("cold books", "per-domain FM")
    assert value("cold books", "MultiTaskFM") < cold - 0.03
    assert value("films", "MultiTaskFM") < value("films", "per-domain FM") + 0.03
    assert value("books", "trace norm") < value("books", "independent linear")
    similarity = _number(text, "similarity, trace norm:")
    assert similarity > _number(text, "similarity, independent:")


FINAL_CHECKS = {
    "01_quickstart.ipynb": _check_quickstart,
    "02_task_relationships.ipynb": _check_task_relationships,
    "03_two_stage_recommender.ipynb": _check_two_stage,
    "04_hyperparameter_search.ipynb": _check_search,
    "05_cross_domain.ipynb": _check_cross_domain,
}


def test_notebooks_present():
    assert [p.name for p in NOTEBOOKS] == sorted(FINAL_CHECKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} of {path.name} has outputs"
            assert cell.execution_count is None, f"cell {index} has a count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path, monkeypatch):
    import mtlclassic

    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(KERNEL_PROBE))
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=NOTEBOOK_BUDGET,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    deadline = time.monotonic() + NOTEBOOK_BUDGET
    client.reset_execution_trackers()
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            # every cell gets what is left of the notebook's budget
            client.timeout = max(1, int(deadline - time.monotonic()))
            client.execute_cell(cell, index)
    assert time.monotonic() < deadline, f"{path.name} exceeded {NOTEBOOK_BUDGET} s"

    probe = nb.cells.pop()
    prefix, module_file, backend = "".join(o.text for o in probe.outputs).split()
    assert prefix == sys.prefix, "the kernel does not run the tests' Python"
    assert Path(module_file) == Path(mtlclassic.__file__)
    assert backend == "Agg"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.output_type == "error"]
    FINAL_CHECKS[path.name](_final_text(nb))
