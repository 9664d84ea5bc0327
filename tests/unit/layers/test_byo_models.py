"""Bring-your-own models (issue 14), without a prover: input.json read as ezkl reads it, inputs typed
as the model declares, in-domain variations, the float reference and its fallbacks, discrete
outputs, and what an unchecked result counts as and shows. The zoo is tests/data/models/zoo
(make_zoo.py there rebuilds it); tests/integration/test_byo_zoo.py proves it end to end."""

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from zkbench.engine.child.workload_ops import op_prepare_onnx
from zkbench.engine.config import RunConfig
from zkbench.engine.search.explain import explain_miss
from zkbench.engine.search.metric import accuracy, agreement, meets, mismatches
from zkbench.fixtures.checks import why_not_done
from zkbench.fixtures.summary import accuracy_cell
from zkbench.layers.custom import (
    CustomSpec,
    discover,
    float_reference,
    ignored_entries,
    model_inputs,
    model_outputs,
    perturb_in_domain,
    read_calibration_json,
    read_input_json,
)
from zkbench.results.fields import outcome, shown_state, unchecked_reason
from zkbench.results.store import validate
from zkbench.tools.report.tables import error_cell, unchecked_section

ZOO = Path(__file__).parents[2] / "data" / "models" / "zoo"


def zoo(name: str) -> Path:
    return ZOO / name / "network.onnx"


def test_the_zoo_has_one_model_of_each_kind():
    assert [s.name for s in discover(ZOO)] == [
        "bool_where",
        "class_labels",
        "constants_only",
        "extra_entries",
        "int_inputs",
        "legacy_ops",
        "log_rsqrt_div",
        "maxpool_pad",
        "tree_int8",
    ]
    assert all(p.stat().st_size < 4096 for p in ZOO.glob("*/*"))  # small enough to commit


# --- input.json as ezkl reads it ------------------------------------------------------------------


def test_graph_inputs_have_their_declared_types_and_leave_out_initializers():
    assert model_inputs(zoo("int_inputs")) == [("idx", [1, 3], "int64"), ("count", [1, 4], "int32")]
    assert model_inputs(zoo("bool_where"))[0] == ("cond", [1, 6], "bool")
    # IR 3 lists initializers among the graph inputs; ezkl (tract) reads them as constants
    assert model_inputs(zoo("legacy_ops")) == [("x", [1, 6], "float32")]
    assert model_inputs(zoo("constants_only")) == []


def test_a_model_onnxs_checker_would_refuse_is_still_read(tmp_path):
    import onnx

    model = onnx.load(zoo("legacy_ops"))
    del model.graph.input[1]  # IR 3 without its initializer among the inputs: the checker refuses it
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(model)
    onnx.save(model, tmp_path / "network.onnx")
    assert model_inputs(tmp_path / "network.onnx") == [("x", [1, 6], "float32")]


def test_input_json_maps_to_the_inputs_as_ezkl_maps_it():
    path = ZOO / "extra_entries" / "input.json"
    entries = json.loads(path.read_text())["input_data"]
    inputs = model_inputs(zoo("extra_entries"))
    assert len(entries) == 4 and len(inputs) == 2
    assert read_input_json(path, inputs) == entries[:2]  # the first two; ezkl never reads the rest
    assert ignored_entries(path, inputs) == 2
    assert read_input_json(ZOO / "constants_only" / "input.json", []) == []  # {"input_data": [[]]}


def test_values_are_typed_as_the_inputs_declare(tmp_path):
    inputs = model_inputs(zoo("int_inputs"))
    path = tmp_path / "input.json"
    path.write_text(json.dumps({"input_data": [[1, 4.0, 2.7], [2, 3, 1, 4]]}))
    sample = read_input_json(path, inputs)
    assert sample == [[1, 4, 2], [2, 3, 1, 4]]  # truncated toward zero, as ezkl casts
    assert all(type(v) is int for x in sample for v in x)
    cond = ("cond", [1, 3], "bool")
    path.write_text(json.dumps({"input_data": [[True, 0, 1]]}))
    assert read_input_json(path, [cond]) == [[True, False, True]]


@pytest.mark.parametrize(
    "inputs, data, message",
    [
        ([("cond", [1, 2], "bool")], [[1, 2]], "input 'cond' is bool: write 0/1 or false/true"),
        ([("x", [1, 2], "float32")], [[True, 0.5]], "input 'x' is float32, not bool"),
        ([("x", [1, 2], "float32"), ("y", [1, 2], "float32")], [[0.5, 1]], "input_data has 1 entries, the model has 2"),
    ],
)
def test_what_ezkl_would_panic_on_is_refused_in_one_line(tmp_path, inputs, data, message):
    path = tmp_path / "input.json"
    path.write_text(json.dumps({"input_data": data}))
    with pytest.raises(ValueError) as e:
        read_input_json(path, inputs)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_calibration_json_is_typed_and_read_as_ezkl_reads_it(tmp_path):
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"input_data": [[1, 0, 0, 1], [0.5, 1.5, 2.5, 3.5], [9, 9]]}))
    inputs = [("cond", [1, 2], "bool"), ("a", [1, 2], "float32")]
    assert read_calibration_json(path, inputs) == [[[True, False], [0.5, 1.5]], [[False, True], [2.5, 3.5]]]
    path.write_text(json.dumps({"input_data": [[]]}))
    assert read_calibration_json(path, []) == [[]]


# --- inputs made from the user's sample -----------------------------------------------------------


def test_variations_stay_on_their_side_of_zero_and_no_closer_to_it_than_the_sample():
    divisor = [-2.0, -0.5, 0.25, 1.0, 3.0, -1.5]
    for [v] in perturb_in_domain([divisor], 60):
        for a, b in zip(divisor, v, strict=True):
            assert (a > 0) == (b > 0)
            assert (0.25 <= b <= 3.0) if a > 0 else (-2.0 <= b <= -0.5)


def test_integer_inputs_stay_whole_valid_and_nonzero_and_bools_flip():
    sample = [[1, 4, 2], [2, 3, 1, 4], [True, False, True, True]]
    variants = perturb_in_domain(sample, 40, dtypes=["int64", "int32", "bool"])
    for idx, count, cond in variants:
        assert all(type(v) is int and 1 <= v <= 4 for v in idx + count)  # valid indices of a 6-row table
        assert all(type(v) is bool for v in cond)
    assert {tuple(c) for _, _, c in variants} != {(True, False, True, True)}  # some flipped
    assert perturb_in_domain(sample, 3, dtypes=["int64", "int32", "bool"]) == variants[:3]  # seeded


# --- the float reference --------------------------------------------------------------------------


def test_the_reference_runs_onnxruntime_with_typed_inputs():
    inputs = model_inputs(zoo("int_inputs"))
    outputs, how = float_reference(zoo("int_inputs"), inputs, [[[1, 4, 2], [2, 3, 1, 4]]])
    assert how == {"evaluator": "onnxruntime", "errors": {}} and outputs is not None
    assert outputs[0][0].shape == (1, 4)


def test_the_reference_falls_back_to_onnxs_evaluator_when_onnxruntime_refuses():
    outputs, how = float_reference(zoo("tree_int8"), model_inputs(zoo("tree_int8")), [[[0.2, 0.9, 0.4]]])
    assert how["evaluator"] == "onnx.reference" and "int8" in how["errors"]["onnxruntime"]
    assert outputs is not None and [o.tolist() for o in outputs[0]] == [[1], [0.75]]  # label, leaf value


def test_without_any_evaluator_there_is_no_reference_and_each_says_why():
    outputs, how = float_reference(zoo("legacy_ops"), model_inputs(zoo("legacy_ops")), [[[0.1] * 6]])
    assert outputs is None and how["evaluator"] is None
    assert "Add(6)" in how["errors"]["onnxruntime"] and "ScaledTanh" in how["errors"]["onnx.reference"]


def prepare(tmp_path: Path, name: str, n_calibration: int = 4, n_heldout: int = 2) -> tuple[dict, Path]:
    out = tmp_path / "out"
    out.mkdir()
    meta, _ = op_prepare_onnx(str(zoo(name)), n_calibration=n_calibration, n_heldout=n_heldout, out_dir=str(out))
    return meta, out


def read(path: Path):
    return json.loads(path.read_text())


def test_prepared_inputs_are_written_as_ezkl_reads_them(tmp_path):
    meta, out = prepare(tmp_path, "bool_where")
    proven = read(out / "heldout_0.json")["input_data"]
    assert proven == read(ZOO / "bool_where" / "input.json")["input_data"]  # true/false, as the user wrote
    assert all(type(v) is bool for v in read(out / "calibration.json")["input_data"][0])
    assert meta["model_inputs"][0] == {"name": "cond", "shape": [1, 6], "dtype": "bool"}
    assert "bools flipped" in meta["inputs"]
    ref = read(out / "reference.json")
    assert ref["checked"] and ref["evaluator"] == "onnxruntime"
    assert [(o["name"], o["size"], o["discrete"]) for o in ref["outputs"]] == [("y", 6, False), ("flipped", 6, True)]
    assert len(ref["calibration"]) == 4 and len(ref["heldout"]) == 2 and len(ref["heldout"][0]) == 12


def test_a_model_of_constants_has_one_sample_and_no_inputs(tmp_path):
    meta, out = prepare(tmp_path, "constants_only")
    assert meta["input_source"] == "none" and meta["calibration_samples"] == meta["heldout_samples"] == 1
    assert read(out / "heldout_0.json") == read(out / "calibration.json") == {"input_data": [[]]}
    assert len(read(out / "reference.json")["heldout"][0]) == 6


def test_entries_ezkl_never_reads_are_recorded(tmp_path):
    meta, out = prepare(tmp_path, "extra_entries")
    assert meta["ignored_input_entries"] == 2 and len(read(out / "heldout_0.json")["input_data"]) == 2


def test_no_reference_is_recorded_with_the_reason(tmp_path):
    meta, out = prepare(tmp_path, "legacy_ops")
    ref = read(out / "reference.json")
    assert ref["checked"] is False and ref["heldout"] == ref["calibration"] == []
    assert ref["reason"].startswith("no evaluator could run the model") and "ScaledTanh" in ref["reason"]
    assert meta["reference"]["checked"] is False
    assert [o["name"] for o in ref["outputs"]] == ["y"]  # declared outputs, sizes unknown
    assert len(list(out.glob("heldout_*.json"))) == 2  # still proven and witnessed


def test_a_new_workload_build_is_another_workload():
    # workloads built by the suite before typed inputs and the reference's layout are not reused
    spec = CustomSpec("tree_int8", ZOO / "tree_int8")
    older = CustomSpec("tree_int8", ZOO / "tree_int8", workload_version=1)
    assert spec.workload_version == 2 and spec.fingerprint("custom") != older.fingerprint("custom")


# --- discrete outputs ------------------------------------------------------------------------------

LAYOUT = [{"name": "logits", "size": 3, "discrete": False}, {"name": "label", "size": 1, "discrete": True}]


def test_discrete_outputs_are_compared_exactly_and_left_out_of_the_error():
    pairs = [([1.01, 2.0, -1.0, 1.0], [1.0, 2.0, -1.0, 1.0]), ([0.5, 0.1, 0.2, 2.0], [0.5, 0.1, 0.2, 0.0])]
    acc = accuracy(pairs, LAYOUT)
    assert acc["tol_metric"] == pytest.approx(0.5)  # 0.01 of 2.0: the flipped label does not count here
    assert acc["float_values"] == 3
    assert acc["discrete"] == {
        "outputs": ["label"],
        "values": 2,
        "equal": 1,
        "agreement": 0.5,
        "differ": [{"sample": 1, "output": "label", "index": 0, "float": 0.0, "proven": 2.0}],
    }
    assert "discrete" not in accuracy(pairs)  # no layout (a torch layer): every value is float
    assert agreement([([3.0], [3.0])], [{"name": "k", "size": 1, "discrete": True}])["agreement"] == 1.0


def test_a_candidate_must_reproduce_every_calibration_label():
    assert mismatches([1.0, 2.0, 3.0, 1.0], [1.0, 2.0, 3.0, 0.0], LAYOUT) == (1, 1)
    assert meets({"tol_metric": 0.1}, 1.0)
    assert not meets({"tol_metric": 0.1, "discrete_mismatches": 1, "discrete_values": 16}, 1.0)
    miss = {"scale": 3, "decomp_base": 2, "decomp_legs": 2, "tol_metric": 0.1, "meets_tol": False}
    text = explain_miss([{**miss, "discrete_mismatches": 2, "discrete_values": 16}], 1.0)
    assert "2 of 16 discrete output values" in text


# --- an unchecked result: what it counts as and shows --------------------------------------------


@pytest.fixture
def unchecked(make_result, tmp_path):
    spec = CustomSpec("legacy_ops", ZOO / "legacy_ops")
    reason = "no evaluator could run the model for a float reference: onnxruntime: X; onnx.reference: Y"
    r = make_result(spec, 2.0, RunConfig(cache_dir=tmp_path))
    r["accuracy"] = {"checked": False, "reason": reason, "samples": 4, "tol": 2.0, "tolerance_mode": "suite"}
    return r


def test_an_unchecked_result_is_valid_but_never_done(unchecked):
    validate(unchecked)
    assert unchecked["status"] == "ok" and unchecked["verified"]
    assert outcome(unchecked) == "failed" and shown_state(unchecked) == "unchecked"
    assert unchecked_reason(unchecked).endswith("onnx.reference: Y")
    assert "accuracy unchecked" in why_not_done(unchecked) and "onnx.reference: Y" in why_not_done(unchecked)
    with pytest.raises(jsonschema.ValidationError):  # it claims nothing: no tolerance_met
        validate({**unchecked, "accuracy": {**unchecked["accuracy"], "tolerance_met": True}})
    with pytest.raises(jsonschema.ValidationError):  # and says why
        validate({**unchecked, "accuracy": {"checked": False, "tol": 2.0}})


def test_the_summary_and_the_report_say_unchecked(unchecked):
    assert accuracy_cell(unchecked).strip() == "unchecked"
    row = {"unchecked_reason": unchecked_reason(unchecked), "tol_metric": None, "tol": 2.0}
    assert error_cell(row) == "unchecked"
    section = unchecked_section([{**row, "machine": "m", "id": "legacy_ops-tol2", "backend": "ezkl-23"}])
    assert section[0] == "## Unchecked accuracy" and "onnx.reference: Y" in section[-1]


def test_the_cells_show_the_discrete_agreement(make_result, tmp_path):
    r = make_result(CustomSpec("class_labels", ZOO / "class_labels"), 2.0, RunConfig(cache_dir=tmp_path))
    r["accuracy"].update(discrete={"outputs": ["label"], "values": 4, "equal": 3, "agreement": 0.75, "differ": []})
    r["accuracy"]["float_values"] = 3
    validate(r)
    assert accuracy_cell(r).endswith("agree 3/4")
    row = {"unchecked_reason": None, "tol_metric": 0.5, "tol": 2.0, "discrete": r["accuracy"]["discrete"]}
    assert error_cell({**row, "float_values": 3}) == "0.5 / 2; 3/4 equal"
    assert error_cell({**row, "float_values": 0}) == "3/4 equal"  # labels only: no float error to show


def test_a_copied_zoo_model_keeps_working(tmp_path):
    # the zoo models are ordinary --models-dir models: copied elsewhere, found and read the same way
    shutil.copytree(ZOO / "int_inputs", tmp_path / "m" / "int_inputs")
    [spec] = discover(tmp_path / "m")
    assert [o["dtype"] for o in model_outputs(spec.onnx_path)] == ["float32"]
