import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_is_lazy_and_versioned():
    code = (
        "import sys, mtlclassic; "
        "assert mtlclassic.__version__; "
        "assert 'lightgbm' not in sys.modules, 'lightgbm imported eagerly'; "
        "assert 'implicit' not in sys.modules, 'implicit imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_all_names_exist():
    import mtlclassic

    for name in mtlclassic.__all__:
        assert hasattr(mtlclassic, name), name


@pytest.mark.parametrize(
    "script", sorted(p.name for p in (ROOT / "benchmarks").glob("bench_*.py"))
)
def test_benchmark_smoke(script):
    """Every benchmark runs in --quick mode, so none can rot (figures not asserted)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_optional_extras_of_the_test_suite_import_and_dask_pairs_match():
    """Every optional package the tests use imports, and dask == distributed.

    pip once paired dask 2026.11.0 with distributed 2021.4.1 (a bare
    ``distributed`` requirement), which failed deep inside ``distributed``
    at collection; this test names such a break in one line.
    """
    import importlib
    from importlib import metadata

    dask_version = metadata.version("dask")
    distributed_version = metadata.version("distributed")
    assert dask_version == distributed_version, (
        f"dask {dask_version} with distributed {distributed_version}: "
        "install 'dask[dataframe,distributed]' (see pyproject.toml)"
    )
    for name in (
        "dask.dataframe",
        "distributed",
        "onnx",
        "onnxruntime",
        "pyarrow",
        "cvxpy",
        "nbclient",
        "nbformat",
        "matplotlib",
    ):
        importlib.import_module(name)
    import mtlclassic.dask  # noqa: F401  (checks the stack itself)


def test_a_mismatched_dask_stack_names_both_versions(monkeypatch):
    from mtlclassic import _compat

    versions = {"dask": "2026.11.0", "distributed": "2021.4.1"}
    monkeypatch.setattr(_compat, "_installed_version", versions.get)
    with pytest.raises(ImportError, match=r"dask 2026\.11\.0, distributed 2021\.4\.1"):
        _compat.import_dask_stack()
    with pytest.raises(ImportError, match=r"pip install 'mtlclassic\[dask\]'"):
        _compat.import_dask_stack()
    monkeypatch.setattr(_compat, "_installed_version", {"dask": "2026.8.0"}.get)
    with pytest.raises(ImportError, match=r"distributed None"):
        _compat.import_dask_stack()
