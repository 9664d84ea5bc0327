"""The pytest suite itself, exercised through real pytest runs (pytester) and real ezkl."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench_formats import check_all

ROOT = Path(__file__).resolve().parents[2]
BENCH = str(ROOT / "benchmarks")
pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One artifact cache for the module, so SRS files are generated once."""
    return tmp_path_factory.mktemp("zkcache")


@pytest.fixture
def run(pytester, shared_cache, monkeypatch):
    monkeypatch.setenv("ZKBENCH_CACHE", str(shared_cache))
    results = pytester.path / "results"

    def go(*args):
        return pytester.runpytest_subprocess(BENCH, "-p", "no:cacheprovider", "--results-dir", str(results), *args)

    go.results = results
    return go


def collected(pytester, *args):
    rec = pytester.inline_run(BENCH, "-p", "no:cacheprovider", "--collect-only", *args)
    items = rec.getcall("pytest_collection_finish").session.items  # after -m deselection
    skipped = [i for i in items if i.get_closest_marker("skip")]
    return items, skipped


def test_default_collection_is_the_study_with_memory_heavy_skipped(pytester, study_size):
    items, skipped = collected(pytester)
    assert len(items) == study_size() and len(skipped) == study_size(heavy=True) > 0
    assert all("memory_heavy" in i.keywords for i in skipped)
    reason = skipped[0].get_closest_marker("skip").kwargs["reason"]
    assert "--run-memory-heavy" in reason


def test_marker_selection(pytester, study_size):
    items, skipped = collected(pytester, "-m", "composite")
    assert len(items) == study_size("composite") and not skipped
    assert all(i.name.startswith("test_composite[CNN_") for i in items)
    items, skipped = collected(pytester, "-m", "memory_heavy")
    assert len(items) == study_size(heavy=True) and not skipped
    items, skipped = collected(pytester, "-m", "core")
    assert len(items) == study_size("core_layers") and len(skipped) == study_size("core_layers", heavy=True) > 0
    items, skipped = collected(pytester, "--run-memory-heavy")
    assert len(items) == study_size() and not skipped


def test_ids_are_stable_and_named_after_the_experiment(pytester):
    first = [i.nodeid for i in collected(pytester)[0]]
    second = [i.nodeid for i in collected(pytester)[0]]
    assert first == second
    assert "benchmarks/test_core_layers.py::test_core_layers[ReLU-tol0.5]" in first
    assert "benchmarks/test_scaling_study.py::test_scaling_study[Dense_Scaling_Large-tol2]" in first


def shows_benchmark_tables(result) -> bool:
    """pytest-benchmark printed its per-stage tables (one per stage: " benchmark 'prove': N tests ")."""
    return any(" benchmark 'prove': " in line for line in result.outlines)


def test_a_test_of_experiments_says_which_group_with_a_marker(pytester):
    pytester.makepyfile(test_unmarked="def test_unmarked(experiment):\n    pass\n")
    res = pytester.runpytest("-p", "no:cacheprovider", "--collect-only")
    res.stdout.fnmatch_lines(["*test_unmarked: say which experiments it runs with @pytest.mark.experiments(<group>)*"])


def test_bad_options_are_usage_errors(run):
    res = run("--tol", "-1", "--collect-only")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*tolerance '-1' must be a finite percentage > 0*"])


def test_resume_runs_nothing_and_rerun_keeps_history(run):
    sel = ("-k", "Dense_Scaling_Small-tol2")
    first = run(*sel)
    first.assert_outcomes(passed=1)
    path = run.results / "scaling_study" / "Dense_Scaling_Small_tol2.json"
    doc = json.loads(path.read_text())
    assert doc["status"] == "ok" and doc["stages"]["prove"]["seconds"]
    mtime = path.stat().st_mtime_ns

    assert not shows_benchmark_tables(first)  # pytest-benchmark's tables only when asked

    second = run(*sel, "-v")
    second.assert_outcomes(passed=1)
    second.stdout.fnmatch_lines(["*Dense_Scaling_Small-tol2*done[*]*"])
    assert shows_benchmark_tables(second)  # -v asks for them; a resumed result has its stages too
    assert path.stat().st_mtime_ns == mtime  # nothing re-ran, nothing rewritten

    third = run(*sel, "--rerun")
    third.assert_outcomes(passed=1)
    history = list((run.results / "history" / "scaling_study").glob("Dense_Scaling_Small_tol2.*.json"))
    assert len(history) == 1 and json.loads(history[0].read_text())["started_at"] == doc["started_at"]
    assert json.loads(path.read_text())["started_at"] >= doc["started_at"]


def test_xdist_run_merges_real_stats_into_benchmark_json(run, pytester):
    out = pytester.path / "out.json"
    res = run("-n", "2", "-k", "Tanh-tol2 or Dense_Scaling_Small-tol0.5", "--benchmark-json", str(out))
    res.assert_outcomes(passed=2)
    assert not shows_benchmark_tables(res)  # the summary table only, the JSON has every entry
    bench = json.loads(out.read_text())
    assert bench["machine_info"]["ezkl"] and "gpus" in bench["machine_info"]
    names = {b["name"] for b in bench["benchmarks"]}
    for eid in ("Tanh-tol2", "Dense_Scaling_Small-tol0.5"):
        for stage in ("setup", "prove", "verify", "witness"):
            assert f"{eid}::{stage}" in names
    prove = next(b for b in bench["benchmarks"] if b["name"] == "Tanh-tol2::prove")
    assert prove["group"] == "prove" and prove["stats"]["rounds"] == 3 and len(prove["stats"]["data"]) == 3
    assert 0 < prove["stats"]["min"] <= prove["stats"]["median"] <= prove["stats"]["max"]
    assert prove["extra_info"]["logrows"] > 0 and prove["extra_info"]["verified"] is True
    workers = {json.loads(p.read_text())["worker"] for p in run.results.glob("[!.]*/*.json")}
    assert workers <= {"gw0", "gw1"} and workers
    cmp = subprocess.run(
        [sys.executable, "-m", "pytest_benchmark", "compare", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert cmp.returncode == 0 and "Tanh-tol2::prove" in cmp.stdout
    # and as the CI-trend tools read it (github-action-benchmark, Bencher, pytest-benchmark compare)
    charted = check_all(out, pytester.path)
    assert any(name.endswith("[Tanh-tol2]::prove") for name in charted)


def test_max_memory_below_a_prediction_skips_exactly_that_case_with_the_numbers(run):
    # --split never: one circuit each, admitted or not (under auto, Tanh would be split to fit). Smoke,
    # tol 0.5: Tanh's circuit needs ~156 MiB, ~66 MiB at least laid out any way (2 columns); Dense's
    # ~79 MiB, ~56 MiB laid out with 2 columns, its rows spilled (zkbench.engine.memory_fit)
    res = run("--layer", "Tanh,Dense", "--tol", "0.5", "--max-memory", "62M", "--split", "never", "-rs")
    res.assert_outcomes(passed=1, skipped=1)
    res.stdout.fnmatch_lines(
        ["*SKIPPED*Tanh-tol0.5: needs ~* MiB (predicted peak RSS at logrows *), 62.0 MiB available*"]
    )
    dense = json.loads((run.results / "core_layers" / "Dense_tol0.5.json").read_text())
    assert dense["prediction"]["peak_rss_bytes"] < 62 * 2**20 < dense["stages"]["prove"]["peak_rss_bytes"] * 10
    assert dense["search"]["memory"]["chosen"]["num_inner_cols"] == 2  # laid out to fit
    tanh = json.loads((run.results / "core_layers" / "Tanh_tol0.5.json").read_text())
    assert tanh["status"] == "skipped" and tanh["prediction"]["peak_rss_bytes"] > 62 * 2**20
    assert tanh["search"]["memory"]["chosen"] is None  # no layout fits
    assert "setup" not in tanh["stages"] and "prove" not in tanh["stages"]  # nothing expensive ran


def test_longest_experiments_are_collected_first(pytester, tmp_path):
    rec = pytester.inline_run(BENCH, "-p", "no:cacheprovider", "--collect-only", "--run-memory-heavy")
    ids = [i.callspec.id for i in rec.getcall("pytest_collection_finish").session.items]
    # the FLOP-based estimate puts the biggest convolutions and CNNs before the element-wise layers
    assert ids.index("Conv2d_Scaling_Large-tol0.5") < ids.index("ReLU-tol0.5")
    assert ids.index("CNN_ReLU-tol0.5") < ids.index("Tanh-tol2")


def count_rows(lines) -> dict[str, list[str]]:
    """The summary's count check: group -> [expected, done, failed, skipped, pending]."""
    groups = ("core_layers", "scaling_study", "composite", "custom")
    return {
        line.split()[0]: line.split()[1:]
        for line in lines
        if line.split()[:1]
        and line.split()[0] in groups
        and len(line.split()) == 6
        and all(x.isdigit() for x in line.split()[1:])
    }


def run_on_stored_results(pytester, make_result, results, cfg, specs, *args, subprocess=False):
    """Store an ok result for each spec at both tolerances, then run the benchmarks on that results
    dir (they resume from them) with `args`."""
    from zkbench.results.store import write_result

    for spec in specs:
        for tol in (0.5, 2.0):
            write_result(make_result(spec, tol, cfg), results)
    run = pytester.runpytest_subprocess if subprocess else pytester.runpytest
    return run(BENCH, "-p", "no:cacheprovider", "--results-dir", str(results), "--cache-dir", str(cfg.cache_dir), *args)


def test_count_check_and_status_follow_the_runs_own_paper_selection(pytester, tmp_path, make_result):
    from zkbench.engine.config import RunConfig
    from zkbench.layers import get
    from zkbench.tools.status import collect

    results, cfg = tmp_path / "results", RunConfig(profile="paper", threads=1, cache_dir=tmp_path / "cache")
    specs = [get("ReLU"), get("Tanh")]
    args = ("--threads", "1", "--profile", "paper", "--layer", "ReLU,Tanh")
    res = run_on_stored_results(pytester, make_result, results, cfg, specs, *args)
    res.assert_outcomes(passed=4)  # all four resumed: nothing ran
    assert count_rows(res.outlines) == {"core_layers": ["4", "4", "0", "0", "0"]}, res.outlines
    selection = json.loads((results / ".status" / "selection.json").read_text())
    assert selection["profile"] == "paper"
    assert sorted(e["id"] for e in selection["experiments"]) == ["ReLU-tol0.5", "ReLU-tol2", "Tanh-tol0.5", "Tanh-tol2"]
    assert collect(results)["groups"] == {
        "core_layers": {"expected": 4, "done": 4, "running": 0, "failed": 0, "skipped": 0, "pending": 0}
    }


def test_a_custom_only_run_counts_no_core_experiment(pytester, tmp_path, make_result):
    from zkbench.engine.config import RunConfig
    from zkbench.layers.custom import discover
    from zkbench.tools.status import collect

    models = ROOT / "tests" / "data" / "models"
    specs = discover(models)
    results, cfg = tmp_path / "results", RunConfig(threads=1, cache_dir=tmp_path / "cache")
    args = ("--threads", "1", "--models-dir", str(models), "-m", "custom")
    res = run_on_stored_results(pytester, make_result, results, cfg, specs, *args)
    n = 2 * len(specs)
    res.assert_outcomes(passed=n)
    assert count_rows(res.outlines) == {"custom": [str(n), str(n), "0", "0", "0"]}, res.outlines
    assert list(collect(results)["groups"]) == ["custom"]


def test_xdist_controller_resumes_with_the_workers_identity_and_writes_their_selection(pytester, tmp_path, make_result):
    from zkbench.engine.config import RunConfig
    from zkbench.layers import get

    # no --threads: each of the 2 workers proves with cores / 2 threads, which the controller must know
    threads = max(1, (os.cpu_count() or 1) // 2)
    results, cfg = tmp_path / "results", RunConfig(threads=threads, cache_dir=tmp_path / "cache")
    specs = [get("ReLU"), get("Tanh")]
    res = run_on_stored_results(
        pytester, make_result, results, cfg, specs, "--layer", "ReLU,Tanh", "-n", "2", subprocess=True
    )
    res.assert_outcomes(passed=4)
    assert sum("done*" in line for line in res.outlines) == 4, res.outlines  # resumed, not run again
    assert count_rows(res.outlines) == {"core_layers": ["4", "4", "0", "0", "0"]}, res.outlines
    selection = json.loads((results / ".status" / "selection.json").read_text())
    assert len(selection["experiments"]) == 4
    assert {e["identity"]["threads"] for e in selection["experiments"]} == {threads}
