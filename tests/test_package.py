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


# ------------------------------------------------------------ import graph
# The layout's rules (DESIGN.md, "floors"): imports point down only, there
# are no circles, and the root's private modules are leaves. An import inside
# a function is allowed only for an optional dependency or start-up time,
# with a comment saying which; avoiding a circle is not a reason.

PACKAGE = ROOT / "mtlclassic"
FLOORS = {  # top-level unit -> floor; a unit imports only units on lower floors
    **dict.fromkeys(
        [
            "_version",
            "_compat",
            "_ids",
            "_targets",
            "_task_weights",
            "_crossfit",
            "_allowlist",
            "_schema",
            "_time",
            "_atomic",
            "_serving",
            "_similarity",
            "_interactions",
            "_onnx_graph",
            "_worker",
        ],
        0,
    ),  # fmt: skip
    **dict.fromkeys(["io", "metrics", "model_selection", "datasets"], 1),
    **dict.fromkeys(["linear_model", "boosting", "embedding", "candidates"], 2),
    "recommend": 3,
    **dict.fromkeys(["_onnx", "_batch"], 4),
    **dict.fromkeys(["cli", "dask"], 5),
    "__init__": 6,
}


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
    """Yield ``(imported module, line, inside a function, the line's text)``."""
    import ast

    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    nested = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            nested.update(id(n) for n in ast.walk(node) if n is not node)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("mtlclassic"):
                continue
            for alias in node.names:  # `from . import x`: the submodule x
                sub = f"{target}.{alias.name}"
                is_module = (ROOT / Path(*sub.split("."))).is_dir() or (
                    ROOT / Path(*sub.split("."))
                ).with_suffix(".py").is_file()
                yield (sub if is_module else target), node.lineno, \
                    id(node) in nested, lines[node.lineno - 1]  # fmt: skip
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mtlclassic"):
                    yield alias.name, node.lineno, id(node) in nested, \
                        lines[node.lineno - 1]  # fmt: skip


def _graph():
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        graph[_module_name(path)] = (path, list(_imports(path)))
    return graph


def _unit(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_the_import_graph_has_no_circles():
    graph = {m: {t for t, *_ in edges if t in _graph_keys()} for m, (_, edges)
             in _graph().items()}  # fmt: skip
    state, circles = {}, []

    def visit(module, stack):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                circles.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def _graph_keys():
    return {_module_name(p) for p in PACKAGE.rglob("*.py")}


def test_imports_point_down_the_floors():
    upward = []
    for module, (path, edges) in _graph().items():
        unit = _unit(module)
        assert unit in FLOORS, f"{path}: give the new unit {unit!r} a floor"
        for target, line, _, _ in edges:
            other = _unit(target)
            if other != unit and FLOORS[other] >= FLOORS[unit] and unit != "__init__":
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not upward, "imports that do not point down:\n" + "\n".join(upward)


def test_the_root_private_modules_are_leaves():
    """No root ``_*.py`` imports any module of the package (the ground floor)."""
    found = [
        f"{path.name}:{line} {text.strip()}"
        for path in sorted(PACKAGE.glob("_*.py"))
        if path.name != "__init__.py"
        for _, line, _, text in _imports(path)
    ]
    assert not found, "\n".join(found)


def test_imports_inside_functions_say_why():
    """An internal import inside a function is allowed only with a comment
    giving its reason (an optional dependency or start-up time)."""
    found = [
        f"{path.relative_to(ROOT)}:{line} {text.strip()}"
        for path, edges in _graph().values()
        for _, line, nested, text in edges
        if nested and "#" not in text
    ]
    assert not found, "imports inside functions without a reason:\n" + "\n".join(found)


def test_every_import_inside_a_function_says_why():
    """Third-party imports too: inside a function only for an optional
    dependency (pyarrow, onnx, distributed, ...) or start-up time, with a
    comment saying which; a required dependency is imported at the top."""
    import ast

    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for fn in ast.walk(ast.parse(source)):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import | ast.ImportFrom) and (
                    "#" not in lines[node.lineno - 1]
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, "imports inside functions without a reason:\n" + "\n".join(
        sorted(set(found))
    )
