"""The layout's promises: only the backends import the prover, and the suite's folder names never
shadow (nor are shadowed by) another distribution's top-level package."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


# a pytest subprocess
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
