"""zkbench.tools.compare on stored real results: injected regressions must fail, identical runs and noise
must pass, bad input must exit 2 with one line.

tests/data/bench_smoke.json is the benchmark JSON the suite writes (fixtures/benchmark_json.py) for the
results in tests/data/results_smoke; a test checks that it still is. Regenerate it with
    python -m tests.test_compare
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import pytest_benchmark
from pytest_benchmark.stats import Stats

from zkbench.backends import constraint_set
from zkbench.cli import main as zkbench
from zkbench.fixtures.benchmark_json import benchmark_entries
from zkbench.results.store import load_results_dir, read_result
from zkbench.tools.compare import compare

DATA = Path(__file__).parents[2] / "data"
RESULTS = DATA / "results_smoke"
BENCH = DATA / "bench_smoke.json"


@pytest.fixture
def bench() -> dict:
    return json.loads(BENCH.read_text())


def write(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc))
    return path


def bench_doc(results: list[dict]) -> dict:
    """The benchmark JSON of these results, built with fixtures/benchmark_json.py (benchmark_entries)
    and pytest-benchmark (pytest_benchmark_generate_json) build it during a run."""
    benchmarks = []
    for r in results:
        nodeid = f"benchmarks/test_{r['group']}.py::test_{r['group']}[{r['id']}]"
        benchmarks += [meta.as_dict(include_data=True) for meta in benchmark_entries(nodeid, r)]
    env = results[0]["environment"]
    machine_info = {
        "node": env["hostname"],
        "cpu": {"brand_raw": env["cpu_model"]},
        **{k: env[k] for k in ("ezkl", "torch", "onnx", "gpus", "cpu_model", "ram_bytes")},
    }
    return {
        "machine_info": machine_info,
        "commit_info": {"id": None, "project": "zkml-bench"},
        "benchmarks": benchmarks,
        "datetime": max(r["finished_at"] for r in results),
        "version": pytest_benchmark.__version__,
    }


def entries(doc: dict, experiment: str, stage: str | None = None) -> list[dict]:
    return [
        b
        for b in doc["benchmarks"]
        if b["extra_info"]["experiment"] == experiment and stage in (None, b["extra_info"]["stage"])
    ]


def set_extra(doc: dict, experiment: str, **values) -> dict:
    """What the suite repeats in every stage entry of an experiment."""
    for b in entries(doc, experiment):
        b["extra_info"].update(values)
    return doc


def set_times(entry: dict, data: list[float]) -> None:
    """New measured rounds, stats recomputed by pytest-benchmark."""
    stats = Stats()
    for x in data:
        stats.update(x)
    entry["stats"] = {**stats.as_dict(), "data": data, "iterations": 1}


def scale_times(doc: dict, factor: float, experiment: str | None = None, stage: str | None = None) -> dict:
    for b in doc["benchmarks"]:
        if experiment in (None, b["extra_info"]["experiment"]) and stage in (None, b["extra_info"]["stage"]):
            set_times(b, [x * factor for x in b["stats"]["data"]])
    return doc


def extra(doc: dict, experiment: str) -> dict:
    return entries(doc, experiment)[0]["extra_info"]


def prove_median(doc: dict, experiment: str) -> float:
    return entries(doc, experiment, "prove")[0]["stats"]["median"]


def flagged(comparison) -> set[tuple[str, str]]:
    return {(r.experiment, r.metric) for r in comparison.regressions}


def cli(capsys, *args) -> tuple[int, str, str]:
    rc = zkbench(["compare", *(str(a) for a in args)])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_stored_results_match_the_schema():
    invalid = sorted(p.name for p in RESULTS.glob("*/*.json") if read_result(p) is None)
    assert not invalid, (
        f"stored results no longer match fixtures/result.schema.json: {invalid}; refresh "
        "tests/data/results_smoke from a new run (same files), then python -m tests.test_compare"
    )


def test_stored_bench_is_built_from_stored_results():
    assert bench_doc(load_results_dir(RESULTS)) == json.loads(BENCH.read_text()), (
        "tests/data/bench_smoke.json is stale: regenerate it with python -m tests.test_compare"
    )


@pytest.mark.parametrize("base, new", [(BENCH, BENCH), (RESULTS, RESULTS), (RESULTS, BENCH)])
def test_identical_runs_pass(capsys, base, new):
    rc, out, err = cli(capsys, base, new)
    assert (rc, err) == (0, "")
    assert "**0 regression(s)**" in out and "_No changes beyond noise._" in out


def test_noise_inside_the_band_passes(tmp_path, capsys, bench):
    new = write(tmp_path / "new.json", scale_times(bench, 1.03))
    assert compare(BENCH, new).regressions == []
    assert cli(capsys, BENCH, new)[0] == 0


def test_prove_slowdown_is_flagged(tmp_path, capsys, bench):
    new = write(tmp_path / "new.json", scale_times(bench, 1.3, "Dense-tol0.5", "prove"))
    assert flagged(compare(BENCH, new)) == {("Dense-tol0.5", "prove time")}
    rc, out, _ = cli(capsys, BENCH, new)
    m = prove_median(json.loads(BENCH.read_text()), "Dense-tol0.5")
    assert rc == 1
    assert f"| Dense-tol0.5 | prove time | {m:.3g} s | {m * 1.3:.3g} s | +30.0% | REGRESSION |" in out


def test_slowdown_inside_the_base_spread_is_noise(tmp_path, bench):
    base = json.loads(json.dumps(bench))
    set_times(entries(base, "Dense-tol0.5", "prove")[0], [1.0, 1.0, 2.0])  # noisy base: median 1, max 2
    set_times(entries(bench, "Dense-tol0.5", "prove")[0], [1.3, 1.3, 1.3])  # +30%, but below the base max
    (row,) = [
        r
        for r in compare(write(tmp_path / "base.json", base), write(tmp_path / "new.json", bench)).rows
        if (r.experiment, r.metric) == ("Dense-tol0.5", "prove time")
    ]
    assert row.verdict == "noise"


def test_millisecond_stage_change_is_noise(tmp_path, capsys, bench):
    """A single-round stage of a few ms tripled: timer noise, unless --min-time-delta allows it."""
    entry = min((b for b in bench["benchmarks"] if not b["extra_info"]["cached"]), key=lambda b: b["stats"]["median"])
    assert entry["stats"]["median"] * 2 < 0.050, "the stored data has no millisecond stage"
    set_times(entry, [x * 3 for x in entry["stats"]["data"]])
    key = (entry["extra_info"]["experiment"], f"{entry['extra_info']['stage']} time")
    new = write(tmp_path / "new.json", bench)
    assert compare(BENCH, new).regressions == []
    assert flagged(compare(BENCH, new, min_time_delta=0)) == {key}
    assert cli(capsys, BENCH, new, "--min-time-delta", "0")[0] == 1


def test_speedup_is_reported_and_passes(tmp_path, capsys, bench):
    new = write(tmp_path / "new.json", scale_times(bench, 0.5, "Dense-tol0.5", "prove"))
    m = prove_median(json.loads(BENCH.read_text()), "Dense-tol0.5")
    rc, out, _ = cli(capsys, BENCH, new)
    assert rc == 0
    assert f"| Dense-tol0.5 | prove time | {m:.3g} s | {m * 0.5:.3g} s | -50.0% | improved |" in out


# Each case: what changes, as a function of the base's extra_info (tol_metric is % of output range, tol too).
@pytest.mark.parametrize(
    "exp_id, change, metric",
    [
        ("ReLU-tol0.5", lambda e: {"logrows": e["logrows"] + 1}, "logrows"),
        ("ReLU-tol0.5", lambda e: {"num_rows": e["num_rows"] + 1}, "num_rows"),
        ("Tanh-tol0.5", lambda e: {"tolerance_met": False}, "tolerance_met"),
        ("Tanh-tol0.5", lambda e: {"verified": False}, "verified"),
        ("Dense-tol2", lambda e: {"status": "failed"}, "status"),
        ("Dense-tol0.5", lambda e: {"proof_bytes": round(e["proof_bytes"] * 1.05)}, "proof_bytes"),
        ("Dense-tol0.5", lambda e: {"pk_bytes": e["pk_bytes"] * 2}, "pk_bytes"),
        # +20% of itself and +10% of the tolerance: beyond both parts of the rule.
        ("Dense-tol0.5", lambda e: {"tol_metric": e["tol_metric"] * 1.2 + 0.1 * e["tol"]}, "tol_metric"),
    ],
)
def test_metric_regression_is_flagged(tmp_path, capsys, bench, exp_id, change, metric):
    new = write(tmp_path / "new.json", set_extra(bench, exp_id, **change(extra(bench, exp_id))))
    assert flagged(compare(BENCH, new)) == {(exp_id, metric)}
    rc, out, _ = cli(capsys, BENCH, new)
    assert rc == 1 and f"| {exp_id} | {metric} |" in out


@pytest.mark.parametrize(
    "exp_id, change, metric",
    [
        ("Dense-tol0.5", lambda e: {"proof_bytes": round(e["proof_bytes"] * 1.002)}, "proof_bytes"),  # < 1%
        ("Dense-tol0.5", lambda e: {"tol_metric": e["tol_metric"] * 1.03}, "tol_metric"),  # < 10%
        # More than 10% of itself but less than 10% of the tolerance (holds for any error below tol).
        ("ReLU-tol2", lambda e: {"tol_metric": e["tol_metric"] + 0.05 * (e["tol_metric"] + e["tol"])}, "tol_metric"),
    ],
)
def test_small_metric_change_is_shown_but_passes(tmp_path, capsys, bench, exp_id, change, metric):
    new = write(tmp_path / "new.json", set_extra(bench, exp_id, **change(extra(bench, exp_id))))
    rc, out, _ = cli(capsys, BENCH, new)
    assert rc == 0 and f"| {exp_id} | {metric} |" in out and "| within threshold |" in out


def test_error_growth_for_a_smaller_circuit_is_a_trade_off(tmp_path, capsys, bench):
    e = extra(bench, "Dense-tol0.5")
    new = write(
        tmp_path / "new.json",
        set_extra(
            bench, "Dense-tol0.5", num_rows=e["num_rows"] // 2, tol_metric=e["tol_metric"] * 1.2 + 0.1 * e["tol"]
        ),
    )
    rc, out, _ = cli(capsys, BENCH, new)
    assert rc == 0 and "| Dense-tol0.5 | tol_metric |" in out and "| traded for a smaller circuit |" in out


def test_peak_rss_growth_is_flagged_per_stage(tmp_path, bench):
    (entry,) = entries(bench, "Dense-tol0.5", "prove")
    entry["extra_info"]["peak_rss_bytes"] = int(entry["extra_info"]["peak_rss_bytes"] * 1.5)
    assert flagged(compare(BENCH, write(tmp_path / "new.json", bench))) == {("Dense-tol0.5", "prove peak_rss_bytes")}


def test_a_stage_peak_threshold_applies_to_that_stage_only(tmp_path, bench):
    for stage in ("prove", "compile"):
        (entry,) = entries(bench, "Dense-tol0.5", stage)
        entry["extra_info"]["peak_rss_bytes"] = int(entry["extra_info"]["peak_rss_bytes"] * 1.5)
    new = write(tmp_path / "new.json", bench)
    assert flagged(compare(BENCH, new, peak_compile=None)) == {("Dense-tol0.5", "prove peak_rss_bytes")}
    assert flagged(compare(BENCH, new, peak_prove=0.6)) == {("Dense-tol0.5", "compile peak_rss_bytes")}


@pytest.mark.parametrize(
    "field, change", [("input_scale", +1), ("param_scale", -1), ("logrows", -1), ("num_rows", +64)]
)
def test_circuit_only_flags_any_change_of_the_circuit(tmp_path, capsys, field, change):
    new = shutil.copytree(RESULTS, tmp_path / "results")
    path = new / "core_layers" / "Tanh_tol0.5.json"
    doc = json.loads(path.read_text())
    doc["circuit"][field] += change
    doc["stages"]["prove"]["seconds"] = [s * 3 for s in doc["stages"]["prove"]["seconds"]]  # not compared
    write(path, doc)
    assert flagged(compare(RESULTS, new, circuit_only=True)) == {("Tanh-tol0.5", field)}
    rc, out, _ = cli(capsys, RESULTS, new, "--circuit-only")
    assert rc == 1 and f"| Tanh-tol0.5 | {field} |" in out and "CHANGED" in out and "prove time" not in out


def test_circuit_only_flags_a_changed_decomposition_of_equal_height(tmp_path, capsys):
    """Three decompositions can tie at the same logrows and rows: the field that changed is named."""
    new = shutil.copytree(RESULTS, tmp_path / "results")
    path = new / "core_layers" / "Tanh_tol0.5.json"
    doc = json.loads(path.read_text())
    c = doc["circuit"]
    c["decomp_base"], c["decomp_legs"] = c["run_args"]["decomp_base"], c["run_args"]["decomp_legs"] = (16384, 2)
    c["run_args"]["ignore_range_check_inputs_outputs"] = not c["run_args"].get("ignore_range_check_inputs_outputs")
    write(path, doc)
    assert flagged(compare(RESULTS, new, circuit_only=True)) == {
        ("Tanh-tol0.5", "decomp_base"),
        ("Tanh-tol0.5", "decomp_legs"),
        ("Tanh-tol0.5", "run_args.ignore_range_check_inputs_outputs"),
    }
    rc, out, _ = cli(capsys, RESULTS, new, "--circuit-only")
    assert rc == 1 and "| Tanh-tol0.5 | decomp_base | 1024 | 16384 |" in out
    # the same through the benchmark JSON, which carries the circuit's fields in extra_info
    base_json = write(tmp_path / "base.json", bench_doc(load_results_dir(RESULTS)))
    new_json = write(tmp_path / "new.json", bench_doc(load_results_dir(new)))
    assert ("Tanh-tol0.5", "decomp_base") in flagged(compare(base_json, new_json, circuit_only=True))
    assert flagged(compare(base_json, base_json, circuit_only=True)) == set()


def test_circuit_only_ignores_the_order_of_sets_and_flags_a_changed_member(tmp_path):
    """ezkl lists the range checks from a hash set: two runs of one circuit order them differently
    (CI saw it), which is no change; a different range check is one."""
    old, new = (shutil.copytree(RESULTS, tmp_path / name) for name in ("old", "new"))

    def set_checks(root: Path, checks: list) -> None:
        path = root / "core_layers" / "Tanh_tol0.5.json"
        doc = json.loads(path.read_text())
        doc["circuit"]["constraints"] = {"io_range_checks": True, "range_checks": checks, "lookups": []}
        write(path, doc)

    set_checks(old, [[-1, 1], [0, 1023]])
    set_checks(new, [[0, 1023], [-1, 1]])
    assert flagged(compare(old, new, circuit_only=True)) == set()
    set_checks(new, [[0, 2047], [-1, 1]])
    assert flagged(compare(old, new, circuit_only=True)) == {("Tanh-tol0.5", "constraints")}


def test_the_constraint_set_is_in_one_order_whatever_order_ezkl_wrote():
    settings = {"run_args": {"ignore_range_check_inputs_outputs": False}, "required_lookups": []}
    a = constraint_set({**settings, "required_range_checks": [[-1, 1], [0, 1023]]})
    b = constraint_set({**settings, "required_range_checks": [[0, 1023], [-1, 1]]})
    assert a == b and a["range_checks"] == [[-1, 1], [0, 1023]] and a["io_range_checks"]


def test_circuit_only_passes_identical_circuits(capsys):
    rc, out, _ = cli(capsys, RESULTS, RESULTS, "--circuit-only", "--all")
    assert rc == 0 and "| ReLU-tol0.5 | input_scale |" in out and "CHANGED" not in out


def test_a_results_dir_with_history_and_a_baseline_reads_its_results_only(tmp_path):
    new = shutil.copytree(RESULTS, tmp_path / "results")
    shutil.copy(BENCH, mkdir(new / "baseline") / "bench-smoke.json")  # as in this repository's results/
    shutil.copy(new / "core_layers" / "ReLU_tol2.json", mkdir(new / "history" / "core_layers") / "ReLU_tol2.x.json")
    assert len(load_results_dir(new)) == len(load_results_dir(RESULTS))
    assert flagged(compare(RESULTS, new, circuit_only=True)) == set()


def test_results_dirs_compare(tmp_path):
    new = shutil.copytree(RESULTS, tmp_path / "results")
    path = new / "core_layers" / "ReLU_tol2.json"
    doc = json.loads(path.read_text())
    doc["circuit"]["logrows"] += 1
    write(path, doc)
    assert flagged(compare(RESULTS, new)) == {("ReLU-tol2", "logrows")}


def test_a_result_whose_accuracy_went_unchecked_is_a_regression(tmp_path):
    """checked -> unchecked (no float reference any more): nothing says the outputs are right now."""
    new = shutil.copytree(RESULTS, tmp_path / "results")
    path = new / "core_layers" / "ReLU_tol2.json"
    doc = json.loads(path.read_text())
    doc["accuracy"] = {"checked": False, "reason": "no evaluator", "samples": 1, "tol": 2.0}
    write(path, doc)
    assert ("ReLU-tol2", "accuracy_checked") in flagged(compare(RESULTS, new))


@pytest.mark.parametrize(
    "options",
    [["--no-times"], ["--time-threshold", "50%"], ["--threshold", "time_prove=0.5"], ["--threshold", "time_prove=off"]],
)
def test_time_threshold_options(tmp_path, capsys, bench, options):
    new = write(tmp_path / "new.json", scale_times(bench, 1.3, "Dense-tol0.5", "prove"))
    assert cli(capsys, BENCH, new, *options)[0] == 0


def test_metric_threshold_option(tmp_path, capsys, bench):
    proof_bytes = round(extra(bench, "Dense-tol0.5")["proof_bytes"] * 1.05)
    new = write(tmp_path / "new.json", set_extra(bench, "Dense-tol0.5", proof_bytes=proof_bytes))
    assert cli(capsys, BENCH, new, "--threshold", "proof_bytes=10%")[0] == 0


def test_normalize_by_a_reference_workload(tmp_path, capsys, bench):
    slower_machine = write(tmp_path / "slow.json", scale_times(bench, 2.0))
    assert cli(capsys, BENCH, slower_machine)[0] == 1
    assert cli(capsys, BENCH, slower_machine, "--normalize-by", "Dense-tol0.5::prove")[0] == 0
    regressed = write(tmp_path / "regressed.json", scale_times(bench, 1.3, "Conv2d_k3_s1-tol0.5", "prove"))
    assert flagged(compare(BENCH, regressed, normalize_by="Dense-tol0.5::prove")) == {
        ("Conv2d_k3_s1-tol0.5", "prove time")
    }


def test_missing_and_new_experiments(tmp_path, capsys, bench):
    base = {**bench, "benchmarks": [b for b in bench["benchmarks"] if b["extra_info"]["experiment"] != "ReLU-tol2"]}
    new = {**bench, "benchmarks": [b for b in bench["benchmarks"] if b["extra_info"]["experiment"] != "Tanh-tol0.5"]}
    base, new = write(tmp_path / "base.json", base), write(tmp_path / "new.json", new)
    c = compare(base, new)
    assert (c.missing, c.new, c.regressions) == (["Tanh-tol0.5"], ["ReLU-tol2"], [])
    rc, out, _ = cli(capsys, base, new)
    assert rc == 0 and "## Missing in new (1)\n\n- Tanh-tol0.5" in out and "## New in new (1)\n\n- ReLU-tol2" in out
    assert flagged(compare(base, new, fail_on_missing=True)) == {("Tanh-tol0.5", "experiment")}
    assert cli(capsys, base, new, "--fail-on-missing")[0] == 1


def test_all_rows(capsys, bench):
    rc, out, _ = cli(capsys, BENCH, BENCH, "--all")
    assert rc == 0 and "| experiment | stage/metric | base | new | change | verdict |" in out
    for b in bench["benchmarks"]:  # a cached stage was not measured in this run: its time is not compared
        info, median = b["extra_info"], b["stats"]["median"]
        verdict = "cached" if info["cached"] else "unchanged"
        row = f"| {info['experiment']} | {info['stage']} time | {median:.3g} s | {median:.3g} s | +0.0% | {verdict} |"
        assert row in out


def test_unknown_threshold_is_an_error():
    with pytest.raises(TypeError, match="unknown threshold"):
        compare(BENCH, BENCH, proof_size=0.1)


def _invalid_result_dir(tmp_path: Path) -> Path:
    d = shutil.copytree(RESULTS, tmp_path / "bad_results")
    doc = json.loads((d / "core_layers" / "Tanh_tol0.5.json").read_text())
    doc["tol"] = "high"
    write(d / "core_layers" / "Tanh_tol0.5.json", doc)
    return d


def raw(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda t: raw(t / "x.json", "{not json"), "not valid JSON"),
        (lambda t: write(t / "x.json", [1, 2]), "not a pytest-benchmark JSON"),
        (lambda t: Path(shutil.copy(RESULTS / "core_layers" / "ReLU_tol2.json", t)), "it is a result document"),
        (lambda t: write(t / "x.json", {"benchmarks": [{"name": "other", "stats": {}}]}), "no EZKL experiment entries"),
        (
            lambda t: write(t / "x.json", {"benchmarks": [{"extra_info": {"experiment": "A-tol1"}}]}),
            "benchmarks[0] lacks",
        ),
        (lambda t: mkdir(t / "empty"), "no result documents"),
        (
            _invalid_result_dir,
            "Tanh_tol0.5.json: not a valid result document: 'high' is not of type 'number' (at $.tol)",
        ),
        (lambda t: t / "nowhere", "no such file or directory"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, make, message):
    bad = make(tmp_path)
    rc, out, err = cli(capsys, BENCH, bad)
    assert (rc, out) == (2, "")
    assert err.count("\n") == 1 and message in err and bad.name in err


def test_missing_normalization_reference_is_bad_input(capsys):
    rc, out, err = cli(capsys, BENCH, BENCH, "--normalize-by", "Nope-tol1::prove")
    assert (rc, out) == (2, "") and err.count("\n") == 1 and "bench_smoke.json: no Nope-tol1::prove entry" in err


if __name__ == "__main__":
    BENCH.write_text(json.dumps(bench_doc(load_results_dir(RESULTS)), indent=1) + "\n")
    print(f"wrote {BENCH}")


def test_a_cached_stage_has_no_benchmark_entry_and_compares_as_not_measured(tmp_path):
    """Dense-tol0.5's SRS was generated by another experiment: its JSON has no srs entry (no tool
    counts that measurement twice), names it in cached_stages, and compare does not time it."""
    doc = bench_doc(load_results_dir(RESULTS))
    assert entries(doc, "Dense-tol0.5", "srs") == [] and entries(doc, "Dense-tol0.5", "prove")
    assert all(b["extra_info"]["cached_stages"] == ["srs"] for b in entries(doc, "Dense-tol0.5"))
    assert not any(b["extra_info"]["cached"] for b in doc["benchmarks"])
    slow = json.loads(json.dumps(doc))
    for b in entries(slow, "Dense-tol2", "export"):  # measured in one run, cached in the other
        slow["benchmarks"].remove(b)
    for b in entries(slow, "Dense-tol2"):
        b["extra_info"]["cached_stages"] = ["export"]
    c = compare(write(tmp_path / "a.json", doc), write(tmp_path / "b.json", slow), fail_on_missing=True)
    assert flagged(c) == set()
    srs = [r for r in c.rows if r.experiment == "Dense-tol0.5" and r.metric.startswith("srs")]
    assert srs and all(r.verdict == "cached" for r in srs)
    assert [(r.base, r.new) for r in srs if r.metric == "srs time"] == [(None, None)]  # no time, not 0 s
