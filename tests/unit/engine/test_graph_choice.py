"""zkbench/engine/graph_choice.py: --split auto on a model with no tiles: the whole first, split along
its graph only when it does not fit, into the fewest segments whose largest is predicted to fit; a
part that still does not fit sends it to the next count; none fitting is a skip with the reason.
The graph is tests/data/models/mlp (Gemm 80, Relu 8, Gemm 24: cost shares 80/112 at 2 segments and
3 segments alike: the first Gemm alone is the largest)."""

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
    """A stand-in predictor: 1 MiB per row, 1 ms per row."""
    return {"peak_rss_bytes": settings["num_rows"] * 2**20, "prove_seconds": settings["num_rows"] / 1000}


def test_the_counts_are_what_the_cut_points_allow():
    assert graph_counts(MLP) == [2, 3]


def test_the_fewest_segments_whose_largest_fits():
    parts, rungs, why = graph_ladder(MLP, WHOLE, predict, budget_bytes=800 * 2**20)
    assert parts == 2 and why == "" and len(rungs) == 1
    assert rungs[0].num_rows == 715  # 1000 rows x 80/112, the first Gemm's share
    assert "x -> /0/Gemm_output_0: 71% of the graph's cost" in rungs[0].why
    parts, rungs, why = graph_ladder(MLP, WHOLE, predict, budget_bytes=500 * 2**20)
    assert parts is None and [r.parts for r in rungs] == [2, 3]
    assert "even 3 segments along its graph (its most) need ~715.0 MiB" in why and "500.0 MiB budget" in why


def whole_result(status: str, peak: int, **extra) -> dict:
    r = {"status": status, "prediction": {"peak_rss_bytes": peak}, "circuit": {"logrows": 11}, **extra}
    if status == "skipped":
        r["skip_reason"] = f"needs ~{peak} B (predicted peak RSS at logrows 11), over the budget"
    return r


@pytest.fixture
def config(tmp_path) -> RunConfig:
    return RunConfig(cache_dir=tmp_path, max_memory_bytes=800 * 2**20, split="auto")


def run_auto(config, whole: dict, graph_runs: list[dict]):
    seen: list[int] = []

    def run_graph(cfg: RunConfig) -> dict:
        seen.append(cfg.split)
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


def test_no_count_fitting_is_a_skip_that_says_why(config):
    small = RunConfig(cache_dir=config.cache_dir, max_memory_bytes=500 * 2**20, split="auto")
    result, seen = run_auto(small, whole_result("skipped", 2**31), [])
    assert seen == [] and result["status"] == "skipped"
    assert result["skip_reason"].startswith("--split auto: even 3 segments along its graph")
    assert result["split_choice"]["parts"] is None
