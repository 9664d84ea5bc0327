"""The bring-your-own-model zoo (tests/data/models/zoo, issue 14) through real ezkl: every model is
one ezkl's own default pipeline accepts, and the suite benches every one of them end to end
(`pytest benchmarks --models-dir <zoo>`): proven, verified, soundness-checked and accuracy-checked,
or, for the model no evaluator can run, recorded as unchecked with the reason."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zkbench.backends.ezkl23 import Ezkl23
from zkbench.results.store import validate

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "tests" / "data" / "models" / "zoo"
MODELS = sorted(p.name for p in ZOO.iterdir() if (p / "network.onnx").is_file())
UNCHECKED = {"legacy_ops"}  # neither onnxruntime nor onnx's ReferenceEvaluator runs it


@pytest.mark.parametrize("name", MODELS)
def test_ezkls_own_default_pipeline_accepts_it(tmp_path, name):
    """gen_settings (ezkl 23's default run args), calibrate_settings (its default scales, target
    resources) on input.json, compile_circuit, gen_witness, mock: what a user of ezkl alone runs."""
    ezkl, d = Ezkl23(), ZOO / name
    onnx, data = str(d / "network.onnx"), str(d / "input.json")
    settings, compiled, witness = (str(tmp_path / f) for f in ("settings.json", "network.ezkl", "witness.json"))
    ezkl.gen_settings(onnx, settings, {})  # the suite's VISIBILITY is ezkl 23's default
    ezkl.calibrate(data, onnx, settings, None, None)
    ezkl.compile(onnx, compiled, settings)
    ezkl.witness(data, compiled, witness)
    assert ezkl.mock(witness, compiled)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """One run of the whole zoo at tol 2 %, one round: the pytest output and the results by model."""
    tmp, cache = tmp_path_factory.mktemp("zoo"), tmp_path_factory.mktemp("zkcache")
    results = tmp / "results"
    run = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", str(ROOT / "benchmarks"), "-p", "no:cacheprovider"),
            "--models-dir",
            str(ZOO),
            "-m",
            "custom",
            "--tol",
            "2",
            "--rounds",
            "1",
            "--threads",
            "2",
            "--results-dir",
            str(results),
        ],
        cwd=tmp,
        env={**os.environ, "ZKBENCH_CACHE": str(cache)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    docs = {p.name.removesuffix("_tol2.json"): json.loads(p.read_text()) for p in (results / "custom").glob("*.json")}
    return run, docs, results


def test_every_zoo_model_is_proven_verified_and_sound(bench):
    run, docs, _ = bench
    assert sorted(docs) == MODELS, run.stdout[-3000:]
    for name, r in docs.items():
        validate(r)
        assert r["status"] == "ok", (name, r.get("failure"))
        assert r["verified"] and r["soundness_checked"], name
        assert {"search", "settings", "calibrate", "compile", "srs", "witness", "setup", "prove", "verify"} <= set(
            r["stages"]
        )


def test_every_model_with_a_float_reference_meets_the_tolerance(bench):
    _, docs, _ = bench
    for name in set(MODELS) - UNCHECKED:
        acc = docs[name]["accuracy"]
        assert acc["checked"] and acc["tolerance_met"], (name, acc)
        assert acc["tol_metric"] <= 2.0 and acc["samples"] >= 1
        ratio = acc["heldout_calibration_ratio"]  # held-out error / calibration error, per result
        assert ratio is None or ratio == pytest.approx(acc["tol_metric"] / acc["tol_metric_calibration"])
    assert docs["tree_int8"]["accuracy"]["reference"] == "onnx.reference"  # onnxruntime: no int8 MatMul
    assert "int8" in docs["tree_int8"]["workload"]["reference"]["not_used"]["onnxruntime"]
    assert {docs[n]["accuracy"]["reference"] for n in set(MODELS) - UNCHECKED - {"tree_int8"}} == {"onnxruntime"}


def test_discrete_outputs_are_compared_by_exact_agreement(bench):
    _, docs, _ = bench
    for name, outputs, per_sample in [
        ("class_labels", ["label", "positive"], 1 + 3),
        ("tree_int8", ["label"], 1),
        ("bool_where", ["flipped"], 6),
    ]:
        acc = docs[name]["accuracy"]
        d = acc["discrete"]
        assert d["outputs"] == outputs and d["values"] == per_sample * acc["samples"], name
        assert d["agreement"] == 1.0 and d["equal"] == d["values"] and d["differ"] == [], name
    assert docs["tree_int8"]["accuracy"]["float_values"] == 1  # the leaf value; the label is discrete
    assert "discrete" not in docs["maxpool_pad"]["accuracy"]


def test_inputs_are_fed_as_the_model_declares_and_mapped_as_ezkl_maps_them(bench):
    _, docs, _ = bench
    wl = {name: r["workload"] for name, r in docs.items()}
    assert [i["dtype"] for i in wl["int_inputs"]["model_inputs"]] == ["int64", "int32"]
    assert wl["bool_where"]["model_inputs"][0]["dtype"] == "bool" and "bools flipped" in wl["bool_where"]["inputs"]
    assert wl["constants_only"]["model_inputs"] == [] and wl["constants_only"]["input_source"] == "none"
    assert wl["extra_entries"]["ignored_input_entries"] == 2
    for name in ("log_rsqrt_div", "maxpool_pad"):  # in the sample's domain: positive stays positive
        assert wl[name]["input_source"] == "perturbed" and "kept on its side of zero" in wl[name]["inputs"]


def test_a_model_no_evaluator_runs_is_measured_and_recorded_unchecked(bench):
    run, docs, results = bench
    r = docs["legacy_ops"]
    acc = r["accuracy"]
    assert acc["checked"] is False and "tolerance_met" not in acc
    assert "onnxruntime: NotImplemented" in acc["reason"] and "ScaledTanh" in acc["reason"]
    assert r["stages"]["search"]["scan"] == "ezkl-defaults"  # ezkl's own circuit: nothing to search against
    out = run.stdout
    assert any(line.startswith("legacy_ops-tol2") and "unchecked" in line for line in out.splitlines()), out
    assert "(unchecked) legacy_ops-tol2: no evaluator could run the model" in out
    # counted as failed, never as done; the benchmark test says why
    assert any(line.split() == ["custom", "9", "8", "1", "0", "0"] for line in out.splitlines()), out
    assert "1 failed, 8 passed" in out and "accuracy unchecked" in out
    report = tmp_report(results)
    md = (report / "report.md").read_text()
    assert "## Unchecked accuracy" in md and "legacy_ops-tol2" in md.split("## Unchecked accuracy")[1]
    rows = {row["name"]: row for row in csv.DictReader((report / "results.csv").open())}
    assert rows["legacy_ops"]["accuracy_checked"] == "False" and rows["maxpool_pad"]["accuracy_checked"] == "True"
    assert rows["class_labels"]["discrete_agreement"] == "1.0"


def tmp_report(results: Path) -> Path:
    out = results.parent / "report"
    res = subprocess.run(
        [sys.executable, "-m", "zkbench", "report", str(results), "--out", str(out)], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    return out
