import os
import time

from zkbench.cli import main as zkbench
from zkbench.engine.config import RunConfig, run_identity
from zkbench.files import atomic_write_json
from zkbench.layers import GROUPS, get
from zkbench.results.selection import selection_doc, selection_entry, write_selection
from zkbench.results.store import write_result
from zkbench.tools.status import collect, render


def test_status_shows_groups_running_workers_and_an_eta(tmp_path, make_result, study_size):
    results = tmp_path / "results"
    done = write_result(make_result(get("ReLU"), 0.5, RunConfig(cache_dir=tmp_path)), results)  # one finished
    status = results / ".status"
    status.mkdir()
    now = time.time()
    atomic_write_json(
        status / "host-1.json",
        {  # a live worker proving
            "experiment": "Tanh-tol2",
            "group": "core_layers",
            "stage": "prove",
            "pid": os.getpid(),
            "child_pid": os.getpid(),
            "worker": "gw1",
            "host": "host",
            "experiment_started": now - 30,
            "stage_started": now - 5,
            "gpu": None,
            "predicted_peak_rss_bytes": 2**27,
            "log": str(tmp_path / "x.log"),
        },
    )
    atomic_write_json(status / "gone-1.json", {"experiment": "ReLU-tol2", "stage": "setup", "pid": 2**22 + 12345})
    (tmp_path / "x.log").write_text("[zkbench] stage prove alive 30s rss=120MiB\n")

    state = collect(results, "smoke")  # no run left a selection: the whole smoke study
    assert state["groups"]["core_layers"] == {
        "expected": study_size("core_layers"),
        "done": 1,
        "running": 1,
        "failed": 0,
        "skipped": 0,
        "pending": study_size("core_layers") - 2,
    }
    assert [w["experiment"] for w in state["workers"]] == ["Tanh-tol2"]  # the dead worker's file is ignored
    assert state["eta_s"] is not None and state["eta_s"] > 0 and state["remaining"] == study_size() - 1
    text = render(state)
    for expected in ("gw1", "Tanh-tol2", "stage prove", "ETA ~", "alive 30s", "128.0 MiB"):
        assert expected in text, text
    assert done.name == "ReLU_tol0.5.json"


def paper_run(tmp_path, names=("ReLU", "Tanh")):
    """results/ of a paper run of 4 experiments (its selection written as the controller does)."""
    results, cfg = tmp_path / "results", RunConfig(profile="paper", threads=1, cache_dir=tmp_path / "cache")
    write_selection(
        results,
        selection_doc(
            "paper",
            [
                selection_entry(get(n), t, "paper", identity=run_identity(get(n), cfg))
                for n in names
                for t in (0.5, 2.0)
            ],
        ),
    )
    return results, cfg


def test_status_counts_the_runs_own_selection(tmp_path, make_result, make_missed_result):
    results, cfg = paper_run(tmp_path)
    write_result(make_result(get("ReLU"), 0.5, cfg), results)
    write_result(make_result(get("ReLU"), 2, cfg), results)
    write_result(make_missed_result(get("Tanh"), 2, cfg), results)  # tolerance missed: failed
    write_result(make_result(get("Dense"), 0.5, cfg), results)  # not in the selection
    now = time.time()
    atomic_write_json(
        results / ".status" / "host-1.json",
        {
            "experiment": "Tanh-tol0.5",
            "group": "core_layers",
            "stage": "setup",
            "pid": os.getpid(),
            "worker": "gw0",
            "host": "host",
            "experiment_started": now - 3,
            "stage_started": now - 1,
        },
    )
    state = collect(results)
    assert state["groups"] == {
        "core_layers": {"expected": 4, "done": 2, "running": 1, "failed": 1, "skipped": 0, "pending": 0}
    }
    assert [w["experiment"] for w in state["workers"]] == ["Tanh-tol0.5"]  # selection.json is no worker
    assert state["remaining"] == 1 and state["profile"] == "paper"
    assert "4 experiments of profile paper: the latest run's selection" in render(state)


def test_status_of_4_finished_paper_experiments_is_4_done_0_pending(tmp_path, make_result, capsys):
    results, cfg = paper_run(tmp_path)
    for name in ("ReLU", "Tanh"):
        for tol in (0.5, 2):
            write_result(make_result(get(name), tol, cfg), results)
    assert zkbench(["status", "--results-dir", str(results)]) == 0
    out = capsys.readouterr().out
    row = next(line.split() for line in out.splitlines() if line.startswith("core_layers"))
    assert row == ["core_layers", "4", "4", "0", "0", "0", "0"], out
    assert "scaling_study" not in out and "composite" not in out


def test_status_without_a_selection_or_of_another_profile_counts_the_whole_study(tmp_path, study_size):
    results, _ = paper_run(tmp_path)
    state = collect(results, "smoke")  # asked for smoke, the run was paper
    assert state["profile"] == "smoke" and state["selection"] == "registry"
    assert {g: c["expected"] for g, c in state["groups"].items()} == {g: study_size(g) for g in GROUPS}
    assert collect(results, "paper")["groups"]["core_layers"]["expected"] == 4
