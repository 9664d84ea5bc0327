"""The benchmark JSON read as the CI-trend tools read it, from their documented formats and source:

- github-action-benchmark, `tool: 'pytest'` (benchmark-action/github-action-benchmark, src/extract.ts,
  extractPytestResult): per entry of `benchmarks`, name = `fullname`, value = `stats.ops` (iter/sec,
  bigger is better), range = "stddev: " + `stats.stddev`, extra = `stats.mean` (seconds, scaled to a
  readable unit) and `stats.rounds`. Nothing is type-checked there: a missing field becomes the text
  "undefined" in the chart, so each must be present with its type; an empty list is an error.
- Bencher, `--adapter python_pytest` (bencherdev/bencher, lib/bencher_adapter/src/adapters/python/
  pytest.rs): serde structs with required `machine_info` and `commit_info` (objects), `benchmarks`,
  per entry `fullname` (a benchmark name: non-empty, at most 1024 bytes) and `stats.mean`,
  `stats.stddev`, `stats.median`, `stats.iqr` (numbers; serde_json rejects NaN/Infinity); the
  latency metric is mean ± stddev (or median ± iqr), in seconds.
- pytest-benchmark's own `pytest-benchmark compare FILE`: loads every entry's `stats`, groups by
  `group` (the key must exist), names by `name`, and reads min/max/mean/median/iqr/stddev/ops,
  outliers, rounds and iterations for its table; a file it cannot load is a warning and exit 0, so
  the check is that the entries are in its table.
Each checker returns the series that tool would chart, so a test can also check the values."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path


def _strict_load(path: Path) -> dict:
    def no_constant(name: str):
        raise AssertionError(f"{path}: {name} in the JSON (Bencher's serde_json rejects it)")

    return json.loads(path.read_text(), parse_constant=no_constant)


def _number(value, where: str) -> float:
    assert isinstance(value, int | float) and not isinstance(value, bool), f"{where}: {value!r} is not a number"
    assert math.isfinite(value), f"{where}: {value!r} is not finite"
    return float(value)


def github_action_benchmark_pytest(path: Path) -> dict[str, dict]:
    doc = _strict_load(path)
    benches = doc["benchmarks"]
    assert isinstance(benches, list) and benches, "github-action-benchmark: no benchmark result was found"
    out = {}
    for i, b in enumerate(benches):
        name, stats = b["fullname"], b["stats"]
        assert isinstance(name, str) and name, f"benchmarks[{i}].fullname"
        assert name not in out, f"benchmarks[{i}]: fullname {name!r} twice (two entries would share a chart)"
        ops = _number(stats["ops"], f"benchmarks[{i}].stats.ops")
        mean = _number(stats["mean"], f"benchmarks[{i}].stats.mean")
        rounds = stats["rounds"]
        assert isinstance(rounds, int) and rounds >= 1, f"benchmarks[{i}].stats.rounds"
        out[name] = {
            "value": ops,
            "unit": "iter/sec",
            "range": f"stddev: {_number(stats['stddev'], f'benchmarks[{i}].stats.stddev')}",
            "mean_s": mean,
            "rounds": rounds,
        }
    return out


def bencher_python_pytest(path: Path) -> dict[str, dict]:
    doc = _strict_load(path)
    for key in ("machine_info", "commit_info"):
        assert isinstance(doc.get(key), dict), f"Bencher: {key} must be an object"
    benches = doc["benchmarks"]
    assert isinstance(benches, list) and benches, "Bencher: no benchmarks"
    out = {}
    for i, b in enumerate(benches):
        name = b["fullname"]
        assert isinstance(name, str) and 0 < len(name.encode()) <= 1024, f"benchmarks[{i}].fullname"
        st = b["stats"]
        mean, stddev = (_number(st[k], f"benchmarks[{i}].stats.{k}") for k in ("mean", "stddev"))
        median, iqr = (_number(st[k], f"benchmarks[{i}].stats.{k}") for k in ("median", "iqr"))
        out[name] = {
            "latency_ns": mean * 1e9,
            "lower_ns": (mean - stddev) * 1e9,
            "upper_ns": (mean + stddev) * 1e9,
            "median_ns": median * 1e9,
            "iqr_ns": iqr * 1e9,
        }
    return out


def pytest_benchmark_compare(path: Path, cwd: Path) -> str:
    """`pytest-benchmark compare FILE` run for real, from a directory with no conftest; its table."""
    res = subprocess.run(
        [sys.executable, "-m", "pytest_benchmark", "compare", str(path.resolve())],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "250"},
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Failed to load" not in res.stderr, res.stderr[-2000:]
    return res.stdout


def check_all(path: Path, cwd: Path) -> dict[str, dict]:
    """Every tool's view of one file, cross-checked: the same entries, the same times."""
    doc = _strict_load(path)
    gab, bencher = github_action_benchmark_pytest(path), bencher_python_pytest(path)
    assert gab.keys() == bencher.keys() == {b["fullname"] for b in doc["benchmarks"]}
    table = pytest_benchmark_compare(path, cwd)
    for b in doc["benchmarks"]:
        assert b["name"] in table, f"{b['name']} not in pytest-benchmark compare's table"
        assert "group" in b
        st = b["stats"]
        assert math.isclose(gab[b["fullname"]]["value"], 1 / st["mean"], rel_tol=1e-6)  # ops is per second
        assert math.isclose(bencher[b["fullname"]]["latency_ns"], st["mean"] * 1e9)
        assert st["min"] <= st["median"] <= st["max"]
    return gab
