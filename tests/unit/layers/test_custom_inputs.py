"""Inputs of a --models-dir model: calibration.json, in-domain variations, and the failure hint
when the error does not fall with the scale."""

import json
from pathlib import Path

import pytest

from zkbench.engine.child.workload_ops import op_prepare_onnx
from zkbench.engine.search.explain import explain_miss, worst_output
from zkbench.layers.custom import CustomSpec, perturb_in_domain, read_calibration_json

MODELS = Path(__file__).parents[2] / "data" / "models"


MLP = [("x", [1, 10])]


def test_calibration_json_holds_samples_one_after_another(tmp_path):
    samples = [[float(i * 10 + j) for j in range(10)] for i in range(3)]
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"input_data": [[v for s in samples for v in s]]}))
    assert read_calibration_json(path, MLP) == [[s] for s in samples]
    two = [("a", [1, 2]), ("b", [1, 3])]
    path.write_text(json.dumps({"input_data": [[1, 2, 3, 4], [5, 6, 7, 8, 9, 10]]}))
    assert read_calibration_json(path, two) == [[[1, 2], [5, 6, 7]], [[3, 4], [8, 9, 10]]]


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"input_data": [[0.5] * 15]}, "input 'x' has 15 values, not a multiple of its 10 (shape [1, 10])"),
        ({"input_data": []}, "input_data has 0 entries, the model has 1 inputs (x)"),
        ({"input_data": [[0.5] * 10, [True]]}, None),  # an entry past the model's inputs: never read, as by ezkl
        ({"samples": []}, "not an ezkl calibration file"),
    ],
)
def test_a_bad_calibration_json_says_what_to_fix_in_one_line(tmp_path, doc, message):
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(doc))
    if message is None:
        assert read_calibration_json(path, MLP) == [[[0.5] * 10]]
        return
    with pytest.raises(ValueError) as e:
        read_calibration_json(path, MLP)
    assert message in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value)


def test_variations_keep_each_values_sign_and_the_inputs_range():
    sample = [[0.0, 0.2, 3.0, 1.5, 0.01], [-2.0, -0.5, 0.0, -1.0, -0.1]]
    for variant in perturb_in_domain(sample, 40):
        for x, v in zip(sample, variant, strict=True):
            for a, b in zip(x, v, strict=True):
                assert (a > 0) == (b > 0) and (a < 0) == (b < 0) and (a == 0) == (b == 0)
                assert min(x) <= b <= max(x)
    assert perturb_in_domain(sample, 3) == perturb_in_domain(sample, 3)  # seeded


def test_prepare_uses_calibration_json_when_there_is_one(tmp_path, copy_model):
    d = copy_model(tmp_path)
    positive = [[float(i + j + 1) / 10 for j in range(10)] for i in range(6)]
    (d / "calibration.json").write_text(json.dumps({"input_data": [[v for s in positive for v in s]]}))
    out = tmp_path / "out"
    out.mkdir()
    meta, _ = op_prepare_onnx(str(d / "network.onnx"), n_calibration=4, n_heldout=3, out_dir=str(out))
    assert meta["input_source"] == "calibration.json" and "calibration.json (6 samples)" in meta["inputs"]
    assert meta["calibration_samples"] == 4 and meta["heldout_samples"] == 3
    assert json.loads((out / "calibration_0.json").read_text())["input_data"] == [positive[0]]
    assert json.loads((out / "heldout_1.json").read_text())["input_data"] == [positive[4]]
    user = json.loads((d / "input.json").read_text())["input_data"]
    assert json.loads((out / "heldout_0.json").read_text())["input_data"] == user  # the proven sample
    spec = CustomSpec("mlp", d)
    before = spec.fingerprint("custom")
    (d / "calibration.json").write_text(json.dumps({"input_data": [[0.3] * 20]}))
    assert spec.fingerprint("custom") != before  # other calibration data: another workload


def test_prepare_without_calibration_json_stays_in_the_samples_domain(tmp_path, copy_model):
    d = copy_model(tmp_path)
    positive = [abs(v) + 0.01 for v in json.loads((d / "input.json").read_text())["input_data"][0]]
    (d / "input.json").write_text(json.dumps({"input_data": [positive]}))
    out = tmp_path / "out"
    out.mkdir()
    meta, _ = op_prepare_onnx(str(d / "network.onnx"), n_calibration=8, n_heldout=2, out_dir=str(out))
    assert meta["input_source"] == "perturbed"
    for f in out.glob("calibration_*.json"):
        values = json.loads(f.read_text())["input_data"][0]
        assert all(min(positive) <= v <= max(positive) for v in values), f


def candidates(errors_by_scale, **worst):
    return [
        {
            "scale": s,
            "decomp_base": 16384,
            "decomp_legs": 2,
            "num_inner_cols": 2,
            "tol_metric": e,
            "meets_tol": False,
            **worst,
        }
        for s, e in errors_by_scale
    ]


def test_an_error_that_falls_with_the_scale_is_quantization():
    hint = explain_miss(candidates([(s, 100 / 2**s) for s in range(1, 17)]), 1e-9)
    assert hint.startswith("best was 0.00153% at scale 16") and "mismatch" not in hint


def test_an_error_that_does_not_fall_is_a_mismatch_with_the_worst_output_named():
    worst = {"worst_index": 7, "worst_float": 0.25, "worst_proven": -0.5}
    hint = explain_miss(candidates([(s, 40.0 - s * 0.01) for s in range(1, 17)], **worst), 1.0)
    assert "does not fall as the scale grows" in hint and "raising the scale will not help" in hint
    assert "output 7: float 0.25, proven -0.5" in hint


def test_when_nothing_builds_the_hint_is_ezkls_message():
    assert (
        explain_miss([{"scale": 1, "decomp_base": 2, "decomp_legs": 2, "error": "E: sort"}], 1)
        == "every candidate failed to build: E: sort"
    )


def test_worst_output_names_index_and_values():
    assert worst_output([1.0, 2.0, 3.5], [1.0, 2.1, 3.0]) == {"worst_index": 2, "worst_float": 3.0, "worst_proven": 3.5}
