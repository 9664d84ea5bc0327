"""zkbench/engine/graph_choice.py: --split auto on a model with no tiles: the whole first, split along
its graph only when it does not fit, into the fewest segments whose largest is predicted to fit, and
past its most segments into one segment per layer with tiles; a part that still does not fit sends it
to the next count; none fitting is a skip with the reason.
The graph is tests/data/models/mlp (Gemm 80, Relu 8, Gemm 24: cost shares 80/112 at 2 segments and
3 segments alike: the first Gemm alone is the largest; its layers are Gemm-Relu (88, 8 output
features) and Gemm (24, 3 output features))."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zkbench.engine.config import RunConfig
from zkbench.engine.graph_choice import graph_counts, graph_ladder, run_auto_graph
from zkbench.layers import get

MLP = Path(__file__).parents[2] / "data" / "models" / "mlp" / "network.onnx"
WHOLE = {"num_rows": 1000, "run_args": {"logrows": 11}, "total_assignments": 5000}


def predict(settings: dict) -> dict:
    """A stand-in predictor: 1 MiB per row per inner column, 1 ms per row (the same cells, as many
    fewer rows as more columns, cost the same)."""
    cells = settings["num_rows"] * settings["run_args"].get("num_inner_cols", 1)
    return {"peak_rss_bytes": cells * 2**20, "prove_seconds": settings["num_rows"] / 1000}


def test_the_counts_are_what_the_cut_points_allow():
    assert graph_counts(MLP) == [2, 3]


def test_the_fewest_segments_whose_largest_fits():
    parts, rungs, why = graph_ladder(MLP, WHOLE, predict, budget_bytes=800 * 2**20)
    assert parts == 2 and why == "" and len(rungs) == 1
    assert rungs[0].num_rows == 742  # 1000 rows x 321.6/433.6, the Relu and the last Gemm's share
    assert "/0/Gemm_output_0 -> y: 74% of the graph's cost" in rungs[0].why


def test_past_its_most_segments_the_layers_are_tiled_fewest_parts_first():
    """500 MiB: 3 segments still leave the Relu whole (665 MiB); one segment per layer, the first
    layer in 2 tiles of its 8 features (200 of 433.6 each: 462 rows), fits in 3 parts."""
    parts, rungs, why = graph_ladder(MLP, WHOLE, predict, budget_bytes=500 * 2**20)
    assert parts == 3 and why == ""
    assert [(r.parts, r.tiles) for r in rungs] == [(2, None), (3, None), (2, (1, 1)), (3, (2, 1))]
    assert rungs[-1].num_rows == 462 and rungs[-1].fits and "in tiles [2, 1]" in rungs[-1].why
    # every part's prove seconds: 462 + 462 + 78 rows at 1 ms each
    assert rungs[-1].all_prove_seconds == pytest.approx(1.002)
    # 150 MiB: the first layer at its most tiles, 8 of 50 each (116 rows), and the last layer whole
    parts, rungs, _ = graph_ladder(MLP, WHOLE, predict, budget_bytes=150 * 2**20)
    assert parts == 9 and rungs[-1].tiles == (8, 1)


def test_nothing_finer_than_every_layer_at_its_most_tiles():
    parts, rungs, why = graph_ladder(MLP, WHOLE, predict, budget_bytes=10 * 2**20)
    assert parts is None and rungs[-1].tiles == (8, 1) and rungs[-1].parts == 9
    assert "even 9 parts need ~116.0 MiB" in why and "10.0 MiB budget" in why
    assert "no finer split: layer segment x -> /1/Relu_output_0 is at its most tiles (8)" in why


def whole_result(status: str, peak: int, **extra) -> dict:
    r = {"status": status, "prediction": {"peak_rss_bytes": peak}, "circuit": {"logrows": 11}, **extra}
    if status == "skipped":
        r["skip_reason"] = f"needs ~{peak} B (predicted peak RSS at logrows 11), over the budget"
    return r


@pytest.fixture
def config(tmp_path) -> RunConfig:
    return RunConfig(cache_dir=tmp_path, max_memory_bytes=800 * 2**20, split="auto")


def run_auto(config, whole: dict, graph_runs: list[dict], tiles: list | None = None):
    seen: list[int] = []

    def run_graph(cfg: RunConfig) -> dict:
        seen.append(cfg.split)
        if tiles is not None:
            tiles.append(cfg.graph_tiles)
        assert cfg.part_budget_bytes == config.max_memory_bytes  # each part admitted by the budget
        return graph_runs.pop(0)

    result = run_auto_graph(
        get("CNN_Strided"),
        2.0,
        config,
        lambda budget: whole,
        run_graph,
        lambda budget, start: graph_ladder(MLP, WHOLE, predict, budget, start),
        "no tiles",
    )
    return result, seen


def test_a_whole_that_fits_is_not_split(config):
    result, seen = run_auto(config, whole_result("ok", 100), [])
    assert result["status"] == "ok" and seen == [] and result["split_choice"]["parts"] == 1
    assert result["split_choice"]["ladder"] == [
        {"parts": 1, "logrows": 11, "predicted_peak_rss_bytes": 100, "fits": True}
    ]


def test_a_whole_over_the_budget_is_split_and_a_part_over_it_again_resplit(config):
    part_skipped = {"status": "skipped", "skip_reason": "part 1 of 2: needs more (predicted peak RSS ...)"}
    ok = {"status": "ok", "split": {"parts": 3}}
    result, seen = run_auto(config, whole_result("skipped", 2**31), [part_skipped, ok])
    assert seen == [2, 3] and result is ok
    choice = result["split_choice"]
    assert choice["parts"] == 3 and [a["parts"] for a in choice["earlier_attempts"]] == [1, 2]
    assert choice["how"] == "along the graph" and json.dumps(choice)


def test_a_plan_with_tiles_runs_with_its_tiles(config):
    tight = RunConfig(cache_dir=config.cache_dir, max_memory_bytes=500 * 2**20, split="auto")
    tiles: list = []
    ok = {"status": "ok", "split": {"parts": 3}}
    result, seen = run_auto(tight, whole_result("skipped", 2**31), [ok], tiles)
    assert seen == [3] and tiles == [(2, 1)] and result["split_choice"]["ladder"][-1]["tiles"] == [2, 1]


def test_no_count_fitting_is_a_skip_that_says_why(config):
    small = RunConfig(cache_dir=config.cache_dir, max_memory_bytes=10 * 2**20, split="auto")
    result, seen = run_auto(small, whole_result("skipped", 2**31), [])
    assert seen == [] and result["status"] == "skipped"
    assert result["skip_reason"].startswith("--split auto: even 9 parts need")
    assert result["split_choice"]["parts"] is None


def test_a_part_s_estimate_carries_its_own_public_values_and_commitments(tmp_path):
    """CNN_ReLU smoke, its second layer in 2 tiles: the first part makes the model's input public and
    commits its output; a tile commits the first part's output (its whole input) and its 2 channels;
    the last part commits both tiles' outputs and makes the 10 logits public (the col-overflow floors)."""
    import onnx
    import torch

    from zkbench.engine.graph_choice import parts_settings
    from zkbench.layers.graph_tiles import layer_segments

    spec = get("CNN_ReLU")
    path = tmp_path / "m.onnx"
    torch.onnx.export(
        spec.module("smoke"),
        torch.randn(*spec.shape("smoke").input_shape),
        str(path),
        opset_version=18,
        input_names=["input"],
        output_names=["output"],
        dynamo=False,
    )
    model = onnx.load(str(path))
    each, parts = parts_settings(model, layer_segments(model), [1, 2, 1], WHOLE)
    assert [p.label for p in parts] == ["graph1of3", "graph2of3t1of2", "graph2of3t2of2", "graph3of3"]
    io = [(s["model_instance_shapes"], s["module_sizes"]["polycommit"]) for s in each]
    # smoke: input 3x8x8; first layer out 2x4x4 = 32; second layer 4x2x2 = 16, 8 per tile; 10 logits
    assert io == [([[192]], [32]), ([], [32, 8]), ([], [32, 8]), ([[10]], [8, 8])]
    assert sum(s["num_rows"] for s in each) >= WHOLE["num_rows"]  # the tiles' shares cover the whole
    # its last layer in 2 tiles of its 10 logits: each commits its 5, the join makes all 10 public
    each, parts = parts_settings(model, layer_segments(model), [1, 1, 2], WHOLE)
    assert parts[-1].label == "graph3of3join"
    io = [(s["model_instance_shapes"], s["module_sizes"]["polycommit"]) for s in each]
    assert io[2:] == [([], [16, 5]), ([], [16, 5]), ([[10]], [5, 5])]
