"""The layout's promises: only the backends import the prover, and the suite's folder names never
shadow (nor are shadowed by) another distribution's top-level package."""

import ast
import os
import shutil
import subprocess
import sys
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


def test_the_import_contract_holds_and_catches_an_upward_import(tmp_path):
    """scripts/lint-imports (CI's check of the layering and of circles) passes on this tree and fails,
    naming the import, on a copy where the lowest layer imports the engine."""
    bin_dir = str(Path(sys.executable).parent)  # this environment's console scripts, activated or not
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    if shutil.which("lint-imports", path=env["PATH"]) is None:
        pytest.skip("import-linter is not installed: pip install -e '.[dev]'")
    for name in ("zkbench", "layers", "fixtures", "scripts"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")

    def lint() -> subprocess.CompletedProcess:
        return subprocess.run([str(tmp_path / "scripts" / "lint-imports")], capture_output=True, text=True, env=env)

    ok = lint()
    assert ok.returncode == 0 and "Contracts: 2 kept, 0 broken." in ok.stdout, ok.stdout + ok.stderr
    units = tmp_path / "zkbench" / "units.py"
    units.write_text(units.read_text() + "\nimport zkbench.engine.options  # noqa: E402\n")
    broken = lint()
    assert broken.returncode == 1 and "zkbench.units -> zkbench.engine.options" in broken.stdout, broken.stdout
