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
