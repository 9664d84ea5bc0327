"""--split auto for a registry model with no tiles (the CNNs; a LayerNorm by its own ladder): split only
when the budget demands it, into the fewest segments predicted to fit.

The whole runs first, admitted by the budget (its own prediction after compile, before any key).
Only a whole that does not fit is split: for each count n = 2, 3, ... up to the model's cut points
(zkbench.layers.graph_split), the largest segment's circuit is estimated as the whole's chosen
circuit (its search, cached) scaled by that segment's share of the graph's cost (its
multiply-accumulates; split_choice.scaled_settings), and predicted. The fewest segments whose
largest is predicted to fit are run (zkbench.engine.graph_split_step), each part admitted by the
budget after its own search and compile; a part that still does not fit, or dies of memory, sends
the experiment to the next count up, never retried as it was. Plan mode weighs the same ladder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from zkbench.engine.config import RunConfig
from zkbench.engine.result_parts import base_result
from zkbench.engine.split_choice import RULE, Rung, scaled_settings, weigh
from zkbench.engine.split_step import MAX_RESPLITS, budget_of, memory_trouble
from zkbench.engine.stage_worker import StageFailed
from zkbench.layers import Spec
from zkbench.layers.graph_split import cuts, segments
from zkbench.units import human_bytes

HOW = "along the graph"


def graph_counts(onnx_path: Path) -> list[int]:
    """The segment counts a model's graph allows: 2 up to its cut points + 1 ([] with none)."""
    import onnx

    points, _ = cuts(onnx.load(str(onnx_path)))
    return list(range(2, len(points) + 2))


def weigh_graph(
    onnx_path: Path, n: int, whole_settings: dict, predict: Callable[[dict], dict], budget_bytes: int
) -> tuple[Rung, float]:
    """The rung of n segments (its largest segment's estimate) and the n parts' predicted prove
    seconds summed, each at the one logrows all are laid out at."""
    segs = segments(onnx_path, n)
    total = sum(s.cost for s in segs)
    each = [scaled_settings(whole_settings, s.cost / total) for s in segs]
    i = max(range(len(segs)), key=lambda k: segs[k].cost)
    largest = segs[i]
    why = f"largest segment {largest.input} -> {largest.output}: {largest.cost / total:.0%} of the graph's cost"
    rung = weigh(n, each[i], predict, budget_bytes, why=why)
    # every part is laid out at the largest logrows any needs (one commitment domain)
    domain = max(e["run_args"]["logrows"] for e in each)
    prove_s = sum(predict(at_logrows(e, domain))["prove_seconds"] for e in each)
    return rung, prove_s


def at_logrows(settings: dict, logrows: int) -> dict:
    return {**settings, "run_args": {**settings["run_args"], "logrows": logrows}}


def graph_ladder(
    onnx_path: Path, whole_settings: dict, predict: Callable[[dict], dict], budget_bytes: int, start: int = 2
) -> tuple[int | None, list[Rung], str]:
    """The fewest segments (>= start) whose largest is predicted to fit, every rung weighed, and
    why none fits ("" when one does)."""
    counts = [n for n in graph_counts(onnx_path) if n >= start]
    if not counts:
        return None, [], "its graph has no (further) point where one tensor alone crosses"
    rungs = []
    for n in counts:
        rung, _ = weigh_graph(onnx_path, n, whole_settings, predict, budget_bytes)
        rungs.append(rung)
        if rung.fits:
            return n, rungs, ""
    last = rungs[-1]
    return (
        None,
        rungs,
        f"even {last.parts} segments along its graph (its most) need ~{human_bytes(last.peak_rss_bytes)} "
        f"at logrows {last.logrows} for the largest ({last.why}), above the {human_bytes(budget_bytes)} budget",
    )


Ladder = Callable[[int, int], tuple[int | None, list[Rung], str]]  # (budget, start) -> graph_ladder's answer


def run_auto_graph(
    spec: Spec,
    tol: float,
    config: RunConfig,
    run_whole: Callable[[int | None], dict],
    run_graph: Callable[[RunConfig], dict],
    ladder: Ladder,
    no_tiles: str,
    how: str = HOW,
    whole_first: str | None = None,
) -> dict:
    """The experiment's result document under --split auto (the module docstring's rule). `ladder`:
    the fewest parts from `start` predicted to fit the budget (graph_ladder for a graph; a
    LayerNorm's own, zkbench.engine.norm_choice). `whole_first`: None runs the whole first; else
    why it is not (too big to search), and the ladder starts at 2."""
    budget, where = budget_of(config)
    record: dict = {"parts": 1, "budget_bytes": budget, "budget_from": where, "how": how, "rule": RULE}
    record["no_tiles"] = no_tiles
    record["ladder"] = []
    if whole_first is None:
        result = run_whole(budget)
        trouble = memory_trouble(result, budget)
        prediction = result.get("prediction") or {}
        if "peak_rss_bytes" in prediction and "logrows" in (result.get("circuit") or {}):
            record["ladder"].append(
                {
                    "parts": 1,
                    "logrows": result["circuit"]["logrows"],
                    "predicted_peak_rss_bytes": prediction["peak_rss_bytes"],
                    "fits": prediction["peak_rss_bytes"] <= budget,
                }
            )
        if trouble is None:
            result["split_choice"] = {**record, "earlier_attempts": []}
            return result
        attempts = [{"parts": 1, "trouble": trouble}]
    else:
        result = base_result(spec, tol, config)
        result.update(status="skipped", skip_reason=f"--split auto: not run whole: {whole_first}", stages={})
        attempts = [{"parts": 1, "trouble": f"not run whole: {whole_first}"}]
    start = 2
    while True:
        try:
            parts, rungs, why = ladder(budget, start)
        except (StageFailed, ValueError) as e:
            cause = e.cause if isinstance(e, StageFailed) else str(e)
            result["split_choice"] = {**record, "parts": None, "earlier_attempts": attempts, "why": cause}
            return result  # the whole's own result (skipped or failed), with why no split was made
        record["ladder"] = record["ladder"] + [r.record() for r in rungs]
        if parts is None:
            skipped = base_result(spec, tol, config)
            skipped.update(
                status="skipped",
                skip_reason=f"--split auto: {why}",
                stages={},
                split_choice={**record, "parts": None, "earlier_attempts": attempts},
            )
            return skipped
        result = run_graph(replace(config, split=parts, part_budget_bytes=budget))
        result["split_choice"] = {**record, "parts": parts, "earlier_attempts": attempts}
        trouble = memory_trouble(result, budget)
        if trouble is None:
            return result
        attempts.append({"parts": parts, "trouble": trouble})
        if len(attempts) > MAX_RESPLITS:
            result["split_choice"]["gave_up"] = f"memory trouble at {len(attempts)} part counts in a row"
            return result
        start = parts + 1
