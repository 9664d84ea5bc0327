"""--rounds auto: repeat prove while one more round fits the budget; a single round's spread is unknown."""

from __future__ import annotations

import json
import subprocess
import sys

from zkbench.engine.config import AUTO_MAX_ROUNDS


def test_zkbench_run_with_auto_rounds_records_them(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "zkbench", "run", "ReLU", "--tol", "2", "--rounds", "auto", "--round-budget", "1000",
         "--cache-dir", str(tmp_path / "cache"), "--results-dir", str(tmp_path / "results")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    r = json.loads((tmp_path / "results" / "core_layers" / "ReLU_tol2.json").read_text())
    assert r["rounds"]["requested"] == "auto" and r["rounds"]["chosen"] == AUTO_MAX_ROUNDS  # a sub-second proof
    assert len(r["stages"]["prove"]["seconds"]) == len(r["stages"]["verify"]["seconds"]) == AUTO_MAX_ROUNDS
    assert r["run_identity"]["rounds"] == "auto" and r["run_identity"]["round_budget_s"] == 1000
    assert r["stages"]["prove"]["spread_s"] > 0 and r["stages"]["setup"]["spread_s"] is None
