"""zkbench.tools.report on the stored real results (tests/data/results_smoke): files, count check, CSV,
per-machine merge, bad input."""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import shutil
import statistics
from pathlib import Path

import pytest
from PIL import Image

from zkbench.tools import report as report_tool
from zkbench.tools.report.build import build_report
from zkbench.tools.report.records import Record, load_records, machine_labels
from zkbench.tools.report.scaling import scaling_curves
from zkbench.tools.report.tables import time_section

RESULTS = Path(__file__).parents[2] / "data" / "results_smoke"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = ("scaling_dense.png", "scaling_conv2d.png", "tolerance_tradeoff.png", "stage_breakdown.png")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    return build_report([RESULTS], tmp_path_factory.mktemp("report"))


def stored(exp_id: str | None = None):
    """The stored documents as plain JSON (all, or one by id)."""
    docs = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*/*.json"))]
    return docs if exp_id is None else next(d for d in docs if d["id"] == exp_id)


def stored_ids() -> set[str]:
    return {d["id"] for d in stored()}


HOST = stored()[0]["environment"]["hostname"]


def copy_results(dst: Path, edit=lambda doc: None) -> Path:
    """A copy of the stored results with every document passed through edit()."""
    shutil.copytree(RESULTS, dst)
    for path in dst.glob("*/*.json"):
        doc = json.loads(path.read_text())
        edit(doc)
        path.write_text(json.dumps(doc))
    return dst


def main(argv: list[str]) -> int:
    """The tool's command line (HELP, add_arguments, run), as the zkbench CLI runs it."""
    ap = argparse.ArgumentParser(prog="zkbench report", description=report_tool.HELP)
    report_tool.add_arguments(ap)
    return report_tool.run(ap.parse_args(argv))


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_writes_markdown_csv_and_valid_pngs(report):
    out = report.parent
    assert report == out / "report.md"
    for name in PLOTS:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000, name
        with Image.open(out / name) as img:
            img.verify()
    linked = re.findall(r"!\[[^]]*\]\(([^)]+)\)", report.read_text())
    assert sorted(linked) == sorted(PLOTS)


def test_count_check_of_the_stored_subset(report, study_size):
    md = report.read_text()
    # 6 core layer and 4 scaling results are stored (all ok); the registry expects 24 / 8 / 8.
    assert "| machine | profile | group | expected | done | failed | skipped | missing |" in md
    core = study_size("core_layers")
    assert f"| {HOST} | smoke | core_layers | {core} | 6 | 0 | 0 | {core - 6} |" in md
    assert f"| {HOST} | smoke | scaling_study | 8 | 4 | 0 | 0 | 4 |" in md
    assert f"| {HOST} | smoke | composite | 8 | 0 | 0 | 0 | 8 |" in md


def test_csv_has_one_row_per_result(report):
    rows = read_csv(report.parent / "results.csv")
    assert len(rows) == len(stored_ids()) == 10
    assert {r["id"] for r in rows} == stored_ids()
    row, doc = next(r for r in rows if r["id"] == "Dense-tol0.5"), stored("Dense-tol0.5")
    assert (row["logrows"], row["num_rows"], row["tolerance_met"]) == (
        str(doc["circuit"]["logrows"]),
        str(doc["circuit"]["num_rows"]),
        str(doc["accuracy"]["tolerance_met"]),
    )
    assert float(row["prove_median_s"]) == statistics.median(doc["stages"]["prove"]["seconds"])
    assert row["cached_stages"].split() == [s for s, rec in doc["stages"].items() if rec["cached"]]


def test_experiment_table_and_scaling_notes(report):
    md = report.read_text()
    for d in stored():
        c = d["circuit"]
        assert f"| {HOST} | {d['id']} | {d['group']} | ok | {c['logrows']} | {c['num_rows']} |" in md
    # Dense at tol 2 and Conv2d at tol 2 have one stored point each: said, not drawn.
    assert md.count(f"- no curve for {HOST} smoke tol 2%: 1 point(s), 2 or more needed") == 2
    rows = {
        n: stored(f"{n}-tol0.5")["circuit"]["num_rows"] for n in ("Dense_Scaling_Small", "Dense", "Dense_Scaling_Large")
    }
    points = ", ".join(f"{n} ({r})" for n, r in sorted(rows.items(), key=lambda item: item[1]))
    assert f"| {HOST} | smoke | 0.5 | {points} |" in md


def test_slope_is_the_log_log_gradient():
    (curve,) = [c for c in scaling_curves(load_records([RESULTS])[0]) if c.family == "Conv2d" and c.drawable]
    small, large = stored("Conv2d_Scaling_Small-tol0.5"), stored("Conv2d_k3_s1-tol0.5")  # its two points
    expected = math.log(large["sizes"]["pk_bytes"] / small["sizes"]["pk_bytes"]) / math.log(
        large["circuit"]["num_rows"] / small["circuit"]["num_rows"]
    )
    assert curve.slope(lambda r: r["sizes"]["pk_bytes"]) == pytest.approx(expected)


def test_merge_keeps_machines_apart(tmp_path, study_size):
    other = copy_results(tmp_path / "other", lambda doc: doc["environment"].update(hostname="box2"))
    path = build_report([RESULTS, other], tmp_path / "out")
    md = path.read_text()
    assert f"| {HOST} | {HOST} |" in md and "| box2 | box2 |" in md  # machines table
    assert f"| {HOST} | Dense-tol0.5 |" in md and "| box2 | Dense-tol0.5 |" in md  # one row per machine
    core = study_size("core_layers")
    assert f"| box2 | smoke | core_layers | {core} | 6 | 0 | 0 | {core - 6} |" in md
    assert len(read_csv(path.parent / "results.csv")) == 20
    dense = [c for c in scaling_curves(load_records([RESULTS, other])[0]) if c.family == "Dense" and c.drawable]
    assert sorted(c.machine for c in dense) == sorted(["box2", HOST])
    for c in dense:  # no curve mixes machines
        assert {r["environment"]["hostname"] for r in c.results} == {c.machine}


def test_failed_result_is_counted_and_explained(tmp_path, study_size):
    def fail_relu(doc):
        if doc["id"] == "ReLU-tol0.5":
            doc.update(
                status="failed",
                verified=False,
                failure={"stage": "prove", "kind": "oom", "cause": "killed by the memory limit"},
            )

    md = build_report([copy_results(tmp_path / "results", fail_relu)], tmp_path / "out").read_text()
    core = study_size("core_layers")
    assert f"| {HOST} | smoke | core_layers | {core} | 5 | 1 | 0 | {core - 6} |" in md
    assert f"| {HOST} | ReLU-tol0.5 | failed | prove/oom: killed by the memory limit |" in md


def test_duplicates_keep_the_newest(tmp_path):
    newer = copy_results(tmp_path / "newer", lambda doc: doc.update(started_at="2099-01-01T00:00:00+00:00"))
    records, superseded = load_records([RESULTS, newer])
    assert (len(records), superseded) == (10, 10)
    assert {rec.source for rec in records} == {newer}


def test_same_host_with_another_ezkl_is_another_machine():
    env = {"hostname": "vm", "cpu_model": "Xeon", "ezkl": "23.0.5"}
    assert sorted(machine_labels([env, {**env, "ezkl": "24.0.0"}]).values()) == ["vm-1", "vm-2"]
    assert list(machine_labels([env, env]).values()) == ["vm"]


def test_cli(tmp_path, capsys):
    assert main([str(RESULTS), "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "out" / "report.md")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda t: t / "nowhere", "not a directory"),
        (lambda t: (t / "empty").mkdir() or t / "empty", "no result documents"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, make, message):
    bad = make(tmp_path)
    assert main([str(bad), "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert message in captured.err and str(bad) in captured.err


def test_where_the_time_went_sums_the_stages_that_ran_and_the_search_work():
    def result(search: dict, prove: list[float], srs_cached: bool) -> dict:
        stage = lambda seconds, cached=False: {"seconds": seconds, "cached": cached}  # noqa: E731
        return {
            "stages": {
                "search": {**stage([1.0]), **search},
                "prove": stage(prove),
                "srs": stage([4.0], srs_cached),
            },
            "harness": {"wall_s": 20.0, "parts_s": {"child_start_s": 0.5, "prepare_s": 1.5, "predict_s": 0.01}},
        }

    first = result(
        {"evaluations": 3, "reused": 0, "pruned": 5, "ascending_scan_evaluations_estimate": 11}, [2.0, 2.0], False
    )
    second = result({"evaluations": 1, "reused": 3, "pruned": 5, "ascending_scan_evaluations_estimate": 9}, [1.0], True)
    text = "\n".join(time_section([Record(first, "m", Path("r")), Record(second, "m", Path("r"))]))
    # 2 searches of 1 s, 5 s of proving, one SRS that ran (the other was cached: an earlier run's time)
    assert "| prove | 5.0 | 45.5 % |" in text and "| srs | 4.0 | 36.4 % |" in text
    assert "| search | 2.0 | 18.2 % |" in text and "| all stages | 11.0 | 100 % |" in text
    assert "4 candidate evaluations made, 3 read from earlier ones, 10 structures left out" in text
    assert "would evaluate about 20 for the" in text
    assert "building workloads (torch, CNN training) 3.0 s, stage children starting 1.0 s" in text
    assert time_section([Record({"status": "failed", "id": "x"}, "m", Path("r"))]) == []
