"""The memory-aware choice of a circuit through real ezkl (zkbench.engine.memory_fit): under a budget
its search's circuit does not fit, another layout of it (fewer columns, ezkl's col-overflow) that
is predicted to fit is built, proved and measured under the budget; and the col-overflow logrows the
ladders predict with (zkbench.resources.predict.layout.overflow_logrows) are ezkl's own."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from zkbench.backends import get_backend
from zkbench.engine.experiment import run_experiment, whole_workload_of
from zkbench.engine.options import run_config
from zkbench.layers import get
from zkbench.layers.graph_split import Segment
from zkbench.layers.graph_tiles import layer_segments, segment_model
from zkbench.resources.predict.layout import overflow_logrows
from zkbench.results.store import validate

MiB = 2**20


def test_a_budget_the_searched_circuit_misses_is_met_by_another_layout_of_it(tmp_path):
    """Tanh smoke, tol 2: the search's circuit (4 columns, logrows 10) is predicted at ~58 MiB; under
    55 MiB the same candidate with 2 columns, col-overflow, is predicted at ~44 MiB, built, proved and
    measured under the budget, meeting the tolerance."""
    budget = 55 * MiB
    cfg = run_config({"rounds": "1", "cache_dir": str(tmp_path / "cache"), "split": "never"}, max_memory_bytes=budget)
    r = run_experiment("Tanh", 2.0, cfg)
    validate(r)
    assert r["status"] == "ok", r.get("failure") or r.get("skip_reason")
    memory = r["search"]["memory"]
    assert memory["budget_bytes"] == budget and not memory["search_choice"]["fits"]
    assert memory["search_choice"]["predicted_peak_rss_bytes"] > budget
    chosen = memory["chosen"]
    assert isinstance(chosen, dict) and (chosen["num_inner_cols"], chosen["layout"]) == (2, "col-overflow")
    weighed = {(w["num_inner_cols"], w["layout"]): w for w in memory["layouts"]}
    assert weighed[(2, "col-overflow")]["fits"] and weighed[(2, "col-overflow")]["predicted_peak_rss_bytes"] <= budget
    # what was built is the layout weighed, not the search's
    assert r["circuit"]["num_inner_cols"] == 2 and r["circuit"]["logrows"] == chosen["logrows"]
    assert r["prediction"]["peak_rss_bytes"] <= budget
    assert max(r["stages"]["setup"]["peak_rss_bytes"], r["stages"]["prove"]["peak_rss_bytes"]) <= budget
    assert r["verified"] and r["soundness_checked"] and r["accuracy"]["tolerance_met"]
    assert not r["stages"]["settings"]["cached"] and not r["stages"]["calibrate"]["cached"]
    again = run_experiment("Tanh", 2.0, cfg)  # the memory fit is cached like the search
    assert again["search"]["memory"]["chosen"] == chosen and again["stages"]["calibrate"]["cached"]
    assert again["cache_keys"]["circuit"] == r["cache_keys"]["circuit"]
    roomy = run_experiment(
        "Tanh",
        2.0,
        run_config({"rounds": "1", "cache_dir": str(tmp_path / "cache"), "split": "never"}, max_memory_bytes=2**34),
    )
    assert roomy["search"]["memory"]["chosen"] == "the search's" and roomy["circuit"]["num_inner_cols"] == 4


def test_a_budget_no_layout_fits_leaves_the_search_s_circuit_to_admission(tmp_path):
    cfg = run_config({"rounds": "1", "cache_dir": str(tmp_path / "cache"), "split": "never"}, max_memory_bytes=20 * MiB)
    r = run_experiment("Tanh", 2.0, cfg)
    assert r["status"] == "skipped" and "20.0 MiB available" in r["skip_reason"]
    memory = r["search"]["memory"]
    assert memory["chosen"] is None and memory["why"].startswith("no layout is predicted to fit")
    assert "setup" not in r["stages"]  # nothing expensive ran


def ezkl_layouts(tmp: Path, onnx_path: Path, data: Path, fixed: dict) -> tuple[dict, dict]:
    """The same candidate calibrated by ezkl for rows and for col-overflow: (rows settings, overflow settings)."""
    prover = get_backend("ezkl-23")
    ra = {"input_scale": 8, "param_scale": 8, "decomp_base": 1024, "decomp_legs": 3, "num_inner_cols": 2, **fixed}
    out = []
    for target in ("resources", "resources/col-overflow"):
        path = tmp / f"{target.replace('/', '_')}.json"
        prover.gen_settings(str(onnx_path), str(path), ra)
        prover.calibrate(str(data), str(onnx_path), str(path), [8], [1], target)
        out.append(json.loads(path.read_text()))
    return out[0], out[1]


@pytest.mark.parametrize("name", ["ReLU", "Tanh", "Dense", "Conv2d_k3_s1", "AvgPool2d_k2", "CNN_ReLU"])
def test_the_col_overflow_logrows_predicted_are_ezkl_s(tmp_path, name):
    cfg = run_config({"cache_dir": str(tmp_path / "cache")})
    wl = Path(whole_workload_of(get(name), 2.0, cfg)["dir"])
    rows, spilled = ezkl_layouts(tmp_path, wl / "network.onnx", wl / "calibration.json", {})
    assert overflow_logrows(rows) == spilled["run_args"]["logrows"] <= rows["run_args"]["logrows"]


def test_the_col_overflow_logrows_of_a_committed_graph_part_are_ezkl_s(tmp_path):
    """The second layer of CNN_ReLU smoke, its input and output committed (a graph split's middle part)."""
    cfg = run_config({"cache_dir": str(tmp_path / "cache")})
    wl = Path(whole_workload_of(get("CNN_ReLU"), 2.0, cfg)["dir"])
    model = onnx.load(str(wl / "network.onnx"))
    seg: Segment = layer_segments(model)[1]
    part = tmp_path / "part.onnx"
    onnx.save(segment_model(model, seg), str(part))
    # its calibration inputs: the first layer's float outputs are not needed for a layout, any values do
    first = segment_model(model, layer_segments(model)[0])
    shape = [d.dim_value for d in first.graph.output[0].type.tensor_type.shape.dim]
    values = [((i * 37) % 101) / 50 - 1 for i in range(int(__import__("math").prod(shape)))]
    (tmp_path / "cal.json").write_text(json.dumps({"input_data": [values]}))
    committed = {"input_visibility": "polycommit", "output_visibility": "polycommit"}
    rows, spilled = ezkl_layouts(tmp_path, part, tmp_path / "cal.json", committed)
    assert rows["module_sizes"]["polycommit"]  # committed tensors: a floor of their own
    assert overflow_logrows(rows) == spilled["run_args"]["logrows"]
