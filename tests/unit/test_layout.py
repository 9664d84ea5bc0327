"""The layout's promises: only the backends import the prover, and the suite's folder names never
shadow (nor are shadowed by) another distribution's top-level package."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


SOURCES = ("zkbench", "fixtures", "layers", "benchmarks", "tests", "conftest.py")


def python_files():
    for top in SOURCES:
        path = ROOT / top
        yield from [path] if path.is_file() else sorted(path.rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_backends_import_ezkl():
    files = list(python_files())
    assert len(files) > 40
    importers = [p.relative_to(ROOT).as_posix() for p in files if "ezkl" in imports_of(p)]
    assert importers and all(p.startswith("zkbench/backends/") for p in importers), importers


def test_every_package_is_installed():
    """pyproject.toml lists the packages (layers/ and fixtures/ are mapped): a new one left out would
    be missing from a wheel, though an editable install finds it."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {p.parent.relative_to(ROOT).as_posix().replace("/", ".") for p in (ROOT / "zkbench").rglob("__init__.py")}
    assert found and found <= listed and {"zkbench.layers", "zkbench.fixtures"} <= listed, found - listed


def test_the_suite_imports_its_own_code_as_zkbench_only():
    # `import fixtures` / `import layers` would find PyPI's packages of that name, or nothing
    offenders = [p.relative_to(ROOT).as_posix() for p in python_files() if imports_of(p) & {"fixtures", "layers"}]
    assert offenders == []
