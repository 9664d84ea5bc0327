"""The benchmark JSON the suite writes, read as github-action-benchmark's pytest extractor, Bencher's
python_pytest adapter and pytest-benchmark compare read it (tests/bench_formats.py says from where):
the committed CI baseline and the stored smoke run. A freshly written file is checked the same way
in tests/integration/test_suite.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench_formats import bencher_python_pytest, check_all, github_action_benchmark_pytest

ROOT = Path(__file__).parents[3]
FILES = (ROOT / "results" / "baseline" / "bench-smoke.json", ROOT / "tests" / "data" / "bench_smoke.json")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_suite_json_loads_in_each_trend_tool(path, tmp_path):
    series = check_all(path, tmp_path)
    doc = json.loads(path.read_text())
    prove = next(b for b in doc["benchmarks"] if b["name"].endswith("::prove"))
    chart = series[prove["fullname"]]
    assert chart["unit"] == "iter/sec" and chart["rounds"] == prove["stats"]["rounds"]
    assert chart["mean_s"] == prove["stats"]["mean"] > 0


def _mutated(tmp_path: Path, change) -> Path:
    doc = json.loads(FILES[0].read_text())
    change(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    return path


def test_the_checkers_reject_what_the_tools_cannot_read(tmp_path):
    def no_fullname(doc):
        del doc["benchmarks"][3]["fullname"]

    def nan_mean(doc):
        doc["benchmarks"][0]["stats"]["mean"] = float("nan")

    def no_commit_info(doc):
        del doc["commit_info"]

    with pytest.raises(KeyError, match="fullname"):
        github_action_benchmark_pytest(_mutated(tmp_path, no_fullname))
    with pytest.raises(AssertionError, match="NaN"):
        bencher_python_pytest(_mutated(tmp_path, nan_mean))
    with pytest.raises(AssertionError, match="commit_info"):
        bencher_python_pytest(_mutated(tmp_path, no_commit_info))
    github_action_benchmark_pytest(_mutated(tmp_path, no_commit_info))  # that tool does not read it
