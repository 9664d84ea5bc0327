"""Run by tests/test_layout.py as `pytest tests/data/probe_import_names.py` from the repository root:
inside a real pytest session of this suite, which module do the names `fixtures` and `zkbench.fixtures`
resolve to? (Not collected on its own: its name does not match test_*.py.)"""

import importlib.util
import json
import os


def test_probe():
    found = {}
    for name in ("fixtures", "zkbench.fixtures", "zkbench.layers"):
        spec = importlib.util.find_spec(name)
        found[name] = spec.origin if spec else None
    with open(os.environ["ZKBENCH_PROBE_OUT"], "w") as f:
        json.dump(found, f)
