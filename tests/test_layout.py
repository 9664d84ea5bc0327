"""The layout's promises: only the backends import the prover, and the suite's folder names never
shadow (nor are shadowed by) another distribution's top-level package."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
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


@pytest.mark.integration  # a pytest subprocess
def test_a_pytest_session_does_not_put_the_repository_folders_on_the_import_path(tmp_path):
    out = tmp_path / "found.json"
    pytest_script = Path(sys.executable).with_name("pytest")  # the console script, as the README runs it
    res = subprocess.run(
        [str(pytest_script), "-p", "no:cacheprovider", "-q", "tests/data/probe_import_names.py"],
        cwd=ROOT,
        env={**os.environ, "ZKBENCH_PROBE_OUT": str(out)},
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    found = json.loads(out.read_text())
    # our glue and zoo under their one name
    assert found["zkbench.fixtures"] == str(ROOT / "fixtures" / "__init__.py")
    assert found["zkbench.layers"] == str(ROOT / "layers" / "__init__.py")
    # and `fixtures` is PyPI's (when installed, as in CI, whose venv may sit inside the checkout) or
    # nothing: never the repository's folder
    assert found["fixtures"] != str(ROOT / "fixtures" / "__init__.py"), found
