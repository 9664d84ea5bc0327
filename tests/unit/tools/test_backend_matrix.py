"""Several prover backends in one results directory: report's version matrix, compare's --base-backend /
--new-backend, and no experiment of one backend colliding with another's. Built from copies of the stored
smoke results (tests/data/results_smoke) with a backend block and the per-backend file names the engine
writes: <name>_tol<tol>.json for the default backend, <name>_tol<tol>-<backend>.json for the others."""

from __future__ import annotations

import json
import math
import re
import statistics
from pathlib import Path

import pytest
from PIL import Image

from zkbench.backends import DEFAULT_BACKEND, with_backend
from zkbench.cli import main as zkbench
from zkbench.fixtures.benchmark_json import benchmark_entries
from zkbench.results.store import load_results_dir
from zkbench.tools.compare import compare
from zkbench.tools.report.build import build_report
from zkbench.tools.report.records import load_records
from zkbench.tools.report.scaling import scaling_curves

RESULTS = Path(__file__).parents[2] / "data" / "results_smoke"
IDS = sorted(json.loads(p.read_text())["id"] for p in RESULTS.glob("*/*.json"))
HOST = "vm"  # the stored results' hostname
OLD, GPU, NOIO = "ezkl-19", "ezkl-gpu-16", "ezkl-23-noio"
# whether each backend range-checks inputs and outputs: GPU (16.1) and NOIO prove the other statement
IO_CHECKED = {DEFAULT_BACKEND: True, OLD: True, GPU: False, NOIO: False}
BLOCKS = {
    NOIO: {"name": NOIO, "version": "23.0.5", "build": "23.0.5+abc", "device": "cpu"},
    DEFAULT_BACKEND: {"name": DEFAULT_BACKEND, "version": "23.0.5", "build": "23.0.5+abc", "device": "cpu"},
    OLD: {"name": OLD, "version": "19.0.7", "build": "19.0.7+def", "device": "cpu"},
    GPU: {"name": GPU, "version": "16.1.0", "build": None, "device": "cuda:0"},
}
OOM = {"stage": "prove", "kind": "oom", "cause": "out of GPU memory"}


def add_backend(results: Path, backend: str, prove: dict | float = 1.0, fail: tuple = (), drop: tuple = ()) -> Path:
    """The stored results as `backend` ran them, into results/: prove times times prove[id] (or prove),
    the ids in fail failed at prove, the ids in drop left out."""
    for path in sorted(RESULTS.glob("*/*.json")):
        doc = json.loads(path.read_text())
        if doc["id"] in drop:
            continue
        factor = prove.get(doc["id"], 1.0) if isinstance(prove, dict) else prove
        doc.update(schema_version=4, backend=BLOCKS[backend])
        doc["circuit"]["constraints"] = {
            "input_visibility": "public",
            "output_visibility": "public",
            "param_visibility": "fixed",
            "io_range_checks": IO_CHECKED[backend],
            "range_checks": [],
            "lookups": [],
            "check_mode": "UNSAFE",
        }
        doc["stages"]["prove"]["seconds"] = [s * factor for s in doc["stages"]["prove"]["seconds"]]
        if doc["id"] in fail:
            doc.update(status="failed", verified=False, failure=OOM)
        stem = path.stem if backend == DEFAULT_BACKEND else f"{path.stem}-{backend}"
        (results / path.parent.name).mkdir(parents=True, exist_ok=True)
        (results / path.parent.name / f"{stem}.json").write_text(json.dumps(doc))
    return results


def stored_prove(exp_id: str) -> float:
    docs = (json.loads(p.read_text()) for p in RESULTS.glob("*/*.json"))
    return statistics.median(next(d for d in docs if d["id"] == exp_id)["stages"]["prove"]["seconds"])


def section(md: str, heading: str) -> str:
    """The text of one section (## or ###) up to the next heading of any level."""
    start = md.index(heading + "\n")
    following = re.search(r"\n#{2,3} ", md[start + len(heading) :])
    return md[start : start + len(heading) + (following.start() if following else len(md))]


def cli(capsys, *args) -> tuple[int, str, str]:
    rc = zkbench(["compare", *(str(a) for a in args)])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


# --- report ---------------------------------------------------------------------------------------

# Three backends: ezkl-19 proves 2x slower (Tanh 8x); the GPU 4x faster, failed ReLU-tol0.5 and ran
# Dense-tol2, which the default backend did not.
OLD_FACTORS = {i: 8.0 if i == "Tanh-tol0.5" else 2.0 for i in IDS}


@pytest.fixture(scope="module")
def three(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("three")
    add_backend(results, DEFAULT_BACKEND, drop=("Dense-tol2",))
    add_backend(results, OLD, OLD_FACTORS)
    add_backend(results, GPU, 0.25, fail=("ReLU-tol0.5",))
    add_backend(results, NOIO, 0.5)
    return results


@pytest.fixture(scope="module")
def three_report(three, tmp_path_factory) -> Path:
    return build_report([three], tmp_path_factory.mktemp("out"))


@pytest.fixture(scope="module")
def three_md(three_report) -> str:
    return three_report.read_text()


def test_one_backend_report_is_unchanged(tmp_path):
    """Default-only results with a backend block: the same report as the stored schema-3 documents."""
    blocked = add_backend(tmp_path / "results", DEFAULT_BACKEND)
    before = build_report([RESULTS], tmp_path / "a").read_text().replace(str(RESULTS), "X")
    after = build_report([blocked], tmp_path / "b").read_text().replace(str(blocked), "X")
    assert after == before and "Version matrix" not in after
    assert not (tmp_path / "b" / "backend_prove_time.png").exists()


def test_one_non_default_backend_has_no_matrix(tmp_path):
    md = build_report([add_backend(tmp_path / "results", GPU)], tmp_path / "out").read_text()
    assert "Version matrix" not in md and f"| {HOST} | Dense-tol0.5-{GPU} |" in md


def test_matrix_section(three_md):
    md = three_md
    assert "## Version matrix" in md
    assert "![Prove time per backend](backend_prove_time.png)" in md
    assert md.index("## Failed and skipped") < md.index("## Version matrix") < md.index("## Scaling")
    # one table per experiment, one row per backend that ran it, the default first
    for exp_id in IDS:
        table = section(md, f"### {exp_id}")
        backends = [
            b for b in (DEFAULT_BACKEND, OLD, NOIO, GPU) if not (b == DEFAULT_BACKEND and exp_id == "Dense-tol2")
        ]
        assert [line.split(" | ")[0][2:].split()[0] for line in table.splitlines()[4:]] == backends, exp_id
    assert "| ezkl-gpu-16 16.1.0 (cuda:0) | suite |" in md and "| ezkl-23 23.0.5 (cpu) | suite |" in md


def test_matrix_plot_is_a_png(three_report):
    with Image.open(three_report.parent / "backend_prove_time.png") as img:
        img.verify()


def test_matrix_ratios(three_md):
    """A ratio only between results that prove the same statement: ezkl-19 against the default (both
    range-check I/O), the GPU build against ezkl-23-noio (neither does), never the GPU's against the
    default's; the reference named in the cell."""
    for exp_id in IDS:
        table = section(three_md, f"### {exp_id}")
        rows = {line.split(" | ")[0][2:].split()[0]: line for line in table.splitlines()[4:]}
        assert "I/O range-checked" in rows[OLD] and "I/O not range-checked" in rows[NOIO]
        if exp_id == "Dense-tol2":  # no default result: ezkl-19 is its own reference
            assert rows[OLD].endswith(f"| 1.00 (vs {OLD}) |")
        else:
            assert rows[DEFAULT_BACKEND].endswith(f"| 1.00 (vs {DEFAULT_BACKEND}) |")
            assert rows[OLD].endswith(f"| {OLD_FACTORS[exp_id]:.2f} (vs {DEFAULT_BACKEND}) |")
        assert rows[NOIO].endswith(f"| 1.00 (vs {NOIO}) |")
        if exp_id == "ReLU-tol0.5":  # failed: status and cause in one cell, no numbers
            assert rows[GPU].startswith(f"| {GPU} 16.1.0 (cuda:0) | suite | input public")
            assert rows[GPU].endswith("| **failed**: prove/oom: out of GPU memory |" + "  |" * 7)
        else:
            assert rows[GPU].endswith(f"| 0.50 (vs {NOIO}) |")
            assert f"| {stored_prove(exp_id) * 0.25:.3g} |" in rows[GPU]


def test_overall_table(three_md):
    both_old = [i for i in IDS if i != "Dense-tol2"]  # ok on the default and ezkl-19
    geomean = math.exp(statistics.mean(math.log(OLD_FACTORS[i]) for i in both_old))
    head = "| backend | ok | failed | skipped | same statement as | prove x that (geomean) | experiments |"
    assert head in three_md
    assert f"| {DEFAULT_BACKEND} | 9 | 0 | 0 | {DEFAULT_BACKEND} | 1.00 | 9 |" in three_md
    assert f"| {OLD} | 10 | 0 | 0 | {DEFAULT_BACKEND} | {geomean:.2f} | 9 |" in three_md
    assert f"| {GPU} | 9 | 1 | 0 | {NOIO} | 0.50 | 9 |" in three_md
    assert f"| {GPU} | 9 | 1 | 0 | {DEFAULT_BACKEND} |" not in three_md  # never across statements


def test_tolerance_mode_is_shown(tmp_path):
    results = add_backend(tmp_path / "results", DEFAULT_BACKEND)
    add_backend(results, GPU)
    for path in results.glob(f"*/*-{GPU}.json"):
        path.write_text(json.dumps({**json.loads(path.read_text()), "tolerance_mode": "ezkl"}))
    md = build_report([results], tmp_path / "out").read_text()
    assert "| ezkl-gpu-16 16.1.0 (cuda:0) | ezkl |" in md and "| ezkl-23 23.0.5 (cpu) | suite |" in md


def test_two_backends_do_not_collide_in_the_report(tmp_path, study_size):
    results = add_backend(tmp_path / "results", DEFAULT_BACKEND)
    add_backend(results, GPU, 0.5)
    records, superseded = load_records([results])
    assert (len(records), superseded) == (20, 0)
    md = build_report([results], tmp_path / "out").read_text()
    assert f"| {HOST} | Dense-tol0.5 |" in md and f"| {HOST} | Dense-tol0.5-{GPU} |" in md
    # each backend counted against the study on its own
    assert "| machine | profile | backend | group | expected | done | failed | skipped | missing |" in md
    core = study_size("core_layers")
    for b in (DEFAULT_BACKEND, GPU):
        assert f"| {HOST} | smoke | {b} | core_layers | {core} | 6 | 0 | 0 | {core - 6} |" in md
    # no scaling curve mixes backends
    curves = [c for c in scaling_curves(records) if c.drawable]
    assert {(c.family, c.backend) for c in curves} == {
        (f, b) for f in ("Dense", "Conv2d") for b in (DEFAULT_BACKEND, GPU)
    }
    for c in curves:
        assert {r["backend"]["name"] for r in c.results} == {c.backend}


# --- compare --------------------------------------------------------------------------------------


@pytest.fixture
def two(tmp_path) -> Path:
    results = add_backend(tmp_path / "results", DEFAULT_BACKEND)
    return add_backend(results, GPU)  # the same times: nothing to flag


def test_two_backends_without_flags_keep_apart(two):
    c = compare(two, two)
    assert len(c.base_run.experiments) == 20 and c.regressions == [] and c.missing == c.new == []
    assert {f"{i}-{GPU}" for i in IDS} < c.base_run.experiments.keys()
    # against default-only results: the GPU's experiments are new, not matched with the default's
    c = compare(RESULTS, two)
    assert c.new == sorted(f"{i}-{GPU}" for i in IDS) and c.missing == [] and c.regressions == []


def test_backend_flags_match_by_bare_id(capsys, two):
    c = compare(two, two, base_backend=DEFAULT_BACKEND, new_backend=GPU)
    assert sorted(c.base_run.experiments) == sorted(c.new_run.experiments) == IDS
    assert c.regressions == [] and c.missing == c.new == []
    rc, out, err = cli(capsys, two, two, "--base-backend", DEFAULT_BACKEND, "--new-backend", GPU)
    assert (rc, err) == (0, "") and f"; backend {DEFAULT_BACKEND}" in out and f"; backend {GPU}" in out


def test_backend_flags_flag_a_slower_backend(tmp_path, capsys):
    results = add_backend(tmp_path / "results", DEFAULT_BACKEND)
    add_backend(results, GPU, {"Tanh-tol0.5": 2.0})
    c = compare(results, results, base_backend=DEFAULT_BACKEND, new_backend=GPU)
    assert {(r.experiment, r.metric) for r in c.regressions} == {("Tanh-tol0.5", "prove time")}
    rc, out, _ = cli(capsys, results, results, "--base-backend", DEFAULT_BACKEND, "--new-backend", GPU)
    assert rc == 1 and "| Tanh-tol0.5 | prove time |" in out and "REGRESSION" in out
    # either flag alone: a default-only base against the GPU's runs
    assert cli(capsys, RESULTS, results, "--new-backend", GPU)[0] == 1
    assert cli(capsys, results, RESULTS, "--base-backend", DEFAULT_BACKEND)[0] == 0


def test_several_backends_are_named_in_the_header(capsys, two):
    rc, out, _ = cli(capsys, two, two)
    assert rc == 0 and f"; backends {DEFAULT_BACKEND}, {GPU}" in out
    assert "backend" not in cli(capsys, RESULTS, RESULTS)[1].split("\n\n")[1]  # default only: as before


@pytest.mark.parametrize("flag", ["--base-backend", "--new-backend"])
def test_unknown_backend_exits_2_with_one_line(capsys, two, flag):
    rc, out, err = cli(capsys, two, two, flag, "ezkl-99")
    assert (rc, out) == (2, "") and err.count("\n") == 1
    assert f"no experiments of backend ezkl-99 (present: {DEFAULT_BACKEND}, {GPU})" in err and str(two) in err


def bench_of(results: Path, *, suffix_all: bool) -> dict:
    """A benchmark JSON of a results dir as a several-backend run writes it: extra_info.backend, and
    every experiment suffixed with its backend (the default's too) when suffix_all."""
    benchmarks = []
    for r in load_results_dir(results):
        for meta in benchmark_entries(f"benchmarks/test_x.py::test_x[{r['id']}]", r):
            entry = meta.as_dict(include_data=True)
            backend = r["backend"]["name"]
            entry["extra_info"].update(backend=backend, experiment=with_backend(r["id"], backend, always=suffix_all))
            benchmarks.append(entry)
    return {
        "machine_info": {"node": HOST, "cpu_model": "Intel(R) Xeon(R) Processor", "ezkl": "23.0.5"},
        "benchmarks": benchmarks,
    }


@pytest.mark.parametrize("suffix_all", [True, False])
def test_benchmark_json_of_several_backends(tmp_path, capsys, suffix_all):
    results = add_backend(tmp_path / "results", DEFAULT_BACKEND)
    add_backend(results, GPU, {"Tanh-tol0.5": 2.0})
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps(bench_of(results, suffix_all=suffix_all)))
    # keyed as the results dir is: nothing missing, nothing new, nothing changed
    c = compare(results, bench)
    assert c.missing == c.new == [] and c.regressions == []
    c = compare(bench, bench, base_backend=DEFAULT_BACKEND, new_backend=GPU)
    assert sorted(c.base_run.experiments) == IDS
    assert {(r.experiment, r.metric) for r in c.regressions} == {("Tanh-tol0.5", "prove time")}
    rc, _, err = cli(capsys, bench, bench, "--base-backend", OLD)
    assert rc == 2 and err.count("\n") == 1 and f"present: {DEFAULT_BACKEND}, {GPU}" in err
