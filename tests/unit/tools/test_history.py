"""zkbench.results.history and `zkbench history`: runs kept per machine, commit, profile and backend;
adding twice is a no-op; merging keeps machines apart; bad input is one line. And the report's
trend view over such a store: the run with an injected slowdown, and only it, is marked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.report_data import later_run
from zkbench.cli import main
from zkbench.results.history import add_run, entries, merge_stores
from zkbench.results.store import BadInput
from zkbench.tools.report import trends

SLOWED = ("Dense-tol0.5", "ReLU-tol2")


@pytest.fixture
def store(tmp_path) -> Path:
    hist = tmp_path / "hist"
    for i, slow in enumerate(((), (), SLOWED)):
        add_run(hist, later_run(tmp_path, f"run{i}", hours=i, slow=slow), commit=f"{i:040x}")
    return hist


def test_a_run_is_one_entry_per_series_and_adding_it_again_changes_nothing(store, tmp_path):
    found = entries(store)
    assert [e.commit[-1] for e in found] == ["0", "1", "2"]  # oldest first
    assert {e.series for e in found} == {found[0].series} and all(e.results == 10 for e in found)
    assert all(len(list(e.results_dir.glob("*/*.json"))) == 10 for e in found)
    again = add_run(store, tmp_path / "run1", commit=f"{1:040x}")
    assert [e.path for e in again] == [found[1].path] and len(entries(store)) == 3


def test_merging_stores_keeps_machines_apart(store, tmp_path):
    other = tmp_path / "other"
    add_run(other, later_run(tmp_path, "elsewhere", hours=5, host="gpu-box"), commit="f" * 40)
    assert merge_stores([other, store], tmp_path / "merged") == (4, 0)
    assert merge_stores([other], tmp_path / "merged") == (0, 1)  # what is there is not copied again
    merged = entries(tmp_path / "merged")
    assert sorted({e.hostname for e in merged}) == ["gpu-box", "vm"]
    assert len({e.path.parent for e in merged}) == 2  # one directory per machine
    series = trends.load_series(tmp_path / "merged")
    assert sorted(len(s.entries) for s in series) == [1, 3]  # never compared across machines


def test_the_trend_marks_the_slowed_run_and_only_its_slowed_experiments(store):
    (series,) = trends.load_series(store)
    assert [sorted(f) for f in series.flagged] == [[], [], sorted(SLOWED)]
    for exp in SLOWED:
        assert {r.metric for r in series.flagged[2][exp]} == {"prove time"}
    html = trends.regressions_table([series])
    assert html.count("<tr>") == 1 + len(SLOWED) and "prove time" in html and "+200%" in html


def test_the_cli_adds_lists_and_reports_bad_input(tmp_path, capsys):
    run = later_run(tmp_path, "run", hours=0)
    assert main(["history", "add", str(run), "--store", str(tmp_path / "h"), "--commit", "abc123"]) == 0
    assert "10 results (vm, smoke, ezkl-23, abc123)" in capsys.readouterr().out
    assert main(["history", "list", "--store", str(tmp_path / "h")]) == 0
    assert "abc123" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["history", "add", str(empty), "--store", str(tmp_path / "h")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no result documents" in err
    assert main(["history", "list", "--store", str(tmp_path / "nowhere")]) == 2
    assert "no such history directory" in capsys.readouterr().err
    with pytest.raises(BadInput, match="not a pytest-benchmark JSON"):
        bad = tmp_path / "bad.json"
        bad.write_text("[]")
        add_run(tmp_path / "h2", run, commit="x", bench_json=bad)
    assert not (tmp_path / "h2").exists() or not entries(tmp_path / "h2")


def test_the_commit_comes_from_the_benchmark_json(tmp_path, capsys):
    run = later_run(tmp_path, "run", hours=0)
    bench = tmp_path / "bench.json"
    doc = json.loads((Path(__file__).parents[3] / "results" / "baseline" / "bench-smoke.json").read_text())
    doc["commit_info"] = {"id": "d" * 40}
    bench.write_text(json.dumps(doc))
    assert main(["history", "add", str(run), "--store", str(tmp_path / "h"), "--benchmark-json", str(bench)]) == 0
    (entry,) = entries(tmp_path / "h")
    assert entry.commit == "d" * 40 and entry.bench_json is not None
    assert len(json.loads(entry.bench_json.read_text())["benchmarks"]) == len(doc["benchmarks"])
