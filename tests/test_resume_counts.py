"""Resume only what is the same run; a missed tolerance is a failure; counts follow the run's own
selection. Unit tests on result documents (no ezkl run)."""

import dataclasses
import json
from pathlib import Path

import pytest

import zkbench.backends.identity as identity
import zkbench.cli as cli
import zkbench.resources.fingerprint as environment
import zkbench.tools.run as run_tool
from zkbench.engine.config import RunConfig, run_identity
from zkbench.engine.options import OPTIONS
from zkbench.fixtures.resume import done_results, resumable
from zkbench.layers import Shape, get
from zkbench.layers.custom import discover
from zkbench.resources.gpu import GpuAssignment
from zkbench.results.counts import count_by_group, experiment_states
from zkbench.results.fields import outcome
from zkbench.results.selection import selection_doc, selection_entry
from zkbench.results.store import read_result, result_path, write_result

RELU = get("ReLU")


def config(tmp_path, **kw) -> RunConfig:
    return RunConfig(**{"profile": "smoke", "threads": 1, "cache_dir": tmp_path / "cache", **kw})


# what the run changes -> (spec, RunConfig) of the run that finds the stored result
MISMATCHES = {
    "rounds": lambda spec, cfg: (spec, dataclasses.replace(cfg, rounds=1)),
    "threads": lambda spec, cfg: (spec, dataclasses.replace(cfg, threads=2)),
    "n_calibration": lambda spec, cfg: (spec, dataclasses.replace(cfg, n_calibration=8)),
    "n_heldout": lambda spec, cfg: (spec, dataclasses.replace(cfg, n_heldout=2)),
    "scales": lambda spec, cfg: (spec, dataclasses.replace(cfg, scales=(1, 2, 3))),
    "decompositions": lambda spec, cfg: (spec, dataclasses.replace(cfg, decompositions=((16384, 2),))),
    "inner_cols": lambda spec, cfg: (spec, dataclasses.replace(cfg, inner_cols=(2,))),
    "search_margin": lambda spec, cfg: (spec, dataclasses.replace(cfg, search_margin=0.7)),
    "profile": lambda spec, cfg: (spec, dataclasses.replace(cfg, profile="paper")),
    "workload_version": lambda spec, cfg: (dataclasses.replace(spec, workload_version=2), cfg),
    "workload_fingerprint": lambda spec, cfg: (dataclasses.replace(spec, smoke=Shape((1, 4, 4))), cfg),
}


@pytest.mark.parametrize("field", [*MISMATCHES, "ezkl_build"])
def test_a_result_of_another_run_is_not_resumed(field, tmp_path, monkeypatch, make_result):
    cfg = config(tmp_path)
    stored = make_result(RELU, 0.5, cfg)
    assert resumable(stored, RELU, cfg)  # the same run resumes it
    if field == "ezkl_build":
        monkeypatch.setattr(identity, "package_build", lambda name: "23.0.5+another-native-build")
        spec, other = RELU, cfg
    else:
        spec, other = MISMATCHES[field](RELU, cfg)
    assert not resumable(stored, spec, other)


def test_a_result_without_a_run_identity_or_with_a_missed_tolerance_is_not_resumed(
    tmp_path, make_result, make_missed_result
):
    cfg = config(tmp_path)
    good = make_result(RELU, 0.5, cfg)
    assert resumable(good, RELU, cfg)
    older = {k: v for k, v in good.items() if k not in ("run_identity", "ezkl_build")}
    assert not resumable(older, RELU, cfg)
    for status in ("ok", "failed"):
        missed = make_missed_result(RELU, 0.5, cfg, status=status)
        assert outcome(missed) == "failed"
        assert not resumable(missed, RELU, cfg)


def test_the_result_records_its_ezkl_build_and_run_identity(tmp_path, make_result):
    cfg = config(tmp_path)
    r = make_result(RELU, 2, cfg)
    assert r["ezkl_build"] == environment.package_build("ezkl")
    ident = r["run_identity"]
    assert ident["ezkl_build"] == r["ezkl_build"] and ident["rounds"] == 3 and ident["threads"] == 1
    assert ident["workload_fingerprint"] == RELU.fingerprint("smoke") and ident["profile"] == "smoke"
    assert ident["search"]["margin"] == cfg.search_margin and ident["search"]["inner_cols"] == list(cfg.inner_cols)


def test_done_results_skip_stale_and_tolerance_missed_results(tmp_path, make_result, make_missed_result):
    """The controller's resume set, read from results/ (-n 0: its config is the workers')."""
    results, cfg = tmp_path / "results", config(tmp_path)
    write_result(make_result(RELU, 0.5, cfg), results)  # same run: resumed
    write_result(make_result(RELU, 2, dataclasses.replace(cfg, rounds=1)), results)  # other rounds: redone
    write_result(make_missed_result(get("Tanh"), 0.5, cfg), results)  # missed tol: redone

    class Config:
        _zkbench_gpu = GpuAssignment(mode="cpu", worker_id=None, reason="test")
        option = type("O", (), {"collectonly": False})()

        def getoption(self, name, default=None):
            return {
                "rerun": False,
                "results_dir": str(results),
                "cache_dir": str(tmp_path / "cache"),
                "threads": 1,
                "profile": "smoke",
                "rounds": 3,
                "layers": None,
                "dist": "no",
            }.get(name, default)

        def getini(self, name):
            return OPTIONS[name.removeprefix("zkbench_")].default

    assert set(done_results(Config())) == {"ReLU-tol0.5"}


def paper_selection(cfg, names=("ReLU", "Tanh")) -> dict:
    return selection_doc(
        "paper",
        [selection_entry(get(n), t, "paper", identity=run_identity(get(n), cfg)) for n in names for t in (0.5, 2.0)],
    )


def test_count_over_a_selection_of_4_paper_experiments_with_4_results_is_4_done(tmp_path, make_result):
    results, cfg = tmp_path / "results", config(tmp_path, profile="paper")
    for name in ("ReLU", "Tanh"):
        for tol in (0.5, 2.0):
            write_result(make_result(get(name), tol, cfg), results)
    write_result(make_result(get("Dense"), 0.5, cfg), results)  # on disk, but not this run's selection
    counts = count_by_group(experiment_states(paper_selection(cfg), results))
    assert counts == {"core_layers": {"expected": 4, "done": 4, "running": 0, "failed": 0, "skipped": 0, "pending": 0}}


def test_a_stale_result_is_pending_and_a_tolerance_miss_failed(tmp_path, make_result, make_missed_result):
    results, cfg = tmp_path / "results", config(tmp_path, profile="paper")
    write_result(make_result(get("ReLU"), 0.5, dataclasses.replace(cfg, rounds=1)), results)  # will be redone
    write_result(make_missed_result(get("ReLU"), 2.0, cfg), results)  # status ok, tol missed
    write_result(make_missed_result(get("Tanh"), 0.5, cfg, status="failed"), results)
    write_result(make_result(get("Tanh"), 2.0, cfg), results)
    states = {e["id"]: s for e, s, _ in experiment_states(paper_selection(cfg), results)}
    assert states == {"ReLU-tol0.5": "pending", "ReLU-tol2": "failed", "Tanh-tol0.5": "failed", "Tanh-tol2": "done"}
    # this session's own results and skips come first
    session = {"ReLU-tol0.5": make_result(get("ReLU"), 0.5, cfg)}
    states = {e["id"]: s for e, s, _ in experiment_states(paper_selection(cfg), results, session, {"Tanh-tol2": "x"})}
    assert states["ReLU-tol0.5"] == "done" and states["Tanh-tol2"] == "skipped"


def test_a_custom_only_selection_counts_no_core_experiment(tmp_path, make_result):
    specs = discover(Path(__file__).parent / "data" / "models")
    results, cfg = tmp_path / "results", config(tmp_path)
    write_result(make_result(RELU, 0.5, cfg), results)
    write_result(make_result(specs[0], 0.5, cfg), results)
    selection = selection_doc(
        "smoke", [selection_entry(s, t, "smoke", identity=run_identity(s, cfg)) for s in specs for t in (0.5, 2.0)]
    )
    assert all(e["profile"] == "custom" for e in selection["experiments"])
    counts = count_by_group(experiment_states(selection, results))
    assert list(counts) == ["custom"]
    assert counts["custom"]["expected"] == 2 * len(specs) and counts["custom"]["done"] == 1
    assert counts["custom"]["pending"] == 2 * len(specs) - 1


def test_cli_run_exits_non_zero_when_the_tolerance_is_missed(
    tmp_path, monkeypatch, capsys, make_result, make_missed_result
):
    args = [
        "run",
        "ReLU",
        "--tol",
        "0.5",
        "--results-dir",
        str(tmp_path / "results"),
        "--threads",
        "1",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    monkeypatch.setattr(run_tool, "run_experiment", lambda name, tol, cfg: make_result(get(name), tol, cfg))
    assert cli.main(args) == 0  # a met tolerance passes
    # missed: status ok (as the pipeline used to say) or failed at stage accuracy (as it says now)
    for status in ("ok", "failed"):
        monkeypatch.setattr(
            run_tool,
            "run_experiment",
            lambda name, tol, cfg, status=status: make_missed_result(get(name), tol, cfg, status),
        )
        assert cli.main(args) == 1, status
        out = capsys.readouterr().out.splitlines()[-1]
        assert "ReLU-tol0.5" in out and "failed" in out, out
        stored = read_result(result_path(tmp_path / "results", "core_layers", "ReLU", 0.5))
        assert stored["accuracy"]["tolerance_met"] is False and outcome(stored) == "failed"


def test_after_a_rerun_only_results_finished_since_its_start_count(tmp_path, make_result):
    results, cfg = tmp_path / "results", config(tmp_path, profile="paper")
    write_result(make_result(get("ReLU"), 0.5, cfg), results)  # finished 10:00:30
    write_result(make_result(get("ReLU"), 2, cfg, finished_at="2024-05-01T11:00:05+00:00"), results)
    selection = {**paper_selection(cfg, names=("ReLU",)), "not_before": "2024-05-01T11:00:00+00:00"}
    states = {e["id"]: s for e, s, _ in experiment_states(selection, results)}
    assert states == {"ReLU-tol0.5": "pending", "ReLU-tol2": "done"}


def test_makespan_line_is_makespan_over_the_parallel_bound():
    from zkbench.results.counts import makespan_line

    def r(start, end, wall, resumed=False):
        return {
            "started_at": f"2026-01-01T00:00:{start:06.3f}+00:00",
            "finished_at": f"2026-01-01T00:00:{end:06.3f}+00:00",
            "harness": {"wall_s": wall},
            "resumed": resumed,
        }

    # two workers: 4 s and 3 s stacked on one (7 s), the 1 s cases on the other
    runs = [r(0, 4, 4), r(4, 7, 3), r(0, 1, 1), r(1, 2, 1), r(2, 3, 1), r(0, 50, 50, resumed=True)]
    assert makespan_line(runs, 2) == "makespan 7.0 s / max(total 10.0 s / 2 workers, longest 4.0 s) = 1.40"
    assert makespan_line([r(0, 1, 1, resumed=True)], 2) is None


def test_the_one_result_writer_keeps_what_it_replaces(tmp_path, make_result):
    from zkbench.results.store import write_result

    cfg = RunConfig(cache_dir=tmp_path / "cache")
    first = make_result(RELU, 0.5, cfg, started_at="2024-05-01T10:00:00+00:00")
    path = write_result(first, tmp_path / "results")
    assert path == tmp_path / "results" / "core_layers" / "ReLU_tol0.5.json"
    write_result(make_result(RELU, 0.5, cfg, started_at="2024-05-02T10:00:00+00:00"), tmp_path / "results")
    [old] = (tmp_path / "results" / "history" / "core_layers").glob("ReLU_tol0.5.*.json")
    assert json.loads(old.read_text())["started_at"] == "2024-05-01T10:00:00+00:00"
    assert json.loads(path.read_text())["started_at"] == "2024-05-02T10:00:00+00:00"
