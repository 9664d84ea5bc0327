"""--split auto for a registry model with no tiles (the CNNs; a LayerNorm by its own ladder): split only
when the budget demands it, into the fewest segments predicted to fit, and where even its most
segments do not, into one segment per layer with the layers too big cut into tiles of their channels.

The whole runs first, admitted by the budget (its own prediction after compile, before any key).
Only a whole that does not fit is split: for each count n = 2, 3, ... up to the model's cut points
(zkbench.layers.graph_split), the largest segment's circuit is estimated as the whole's chosen
circuit (its search, cached) scaled by that segment's share of the graph's cost (its
multiply-accumulates; split_choice.scaled_settings), and predicted. The fewest segments whose
largest is predicted to fit are run (zkbench.engine.graph_split_step), each part admitted by the
budget after its own search and compile; a part that still does not fit, or dies of memory, sends
the experiment to the next count up, never retried as it was. Plan mode weighs the same ladder.

Past the most segments (its largest still too big): one segment per layer (zkbench.layers.graph_tiles
.layer_segments), each tiled into the fewest tiles of its channels that keep every part at most a
cost cap; the caps tried from the largest down (so the parts from the fewest up), each plan weighed by
its largest part as above, until one fits. A segment that does not tile (and does not fit) ends it.
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
from zkbench.layers.graph_tiles import (
    Tiling,
    graph_parts,
    layer_segments,
    part_tensor_sizes,
    segment_model,
    tile_cost,
    tiling,
)
from zkbench.resources.predict.layout import at_logrows
from zkbench.units import human_bytes

HOW = "along the graph"


def graph_counts(onnx_path: Path) -> list[int]:
    """The segment counts a model's graph allows: 2 up to its cut points + 1 ([] with none)."""
    import onnx

    points, _ = cuts(onnx.load(str(onnx_path)))
    return list(range(2, len(points) + 2))


def parts_settings(model, segs: list, tiles: list[int], whole_settings: dict) -> tuple[list[dict], list]:
    """Every part's estimated circuit: the whole's chosen one scaled by the part's share of the graph's
    cost, its public values and committed tensors the part's own (the model's input and output are
    public, a cut tensor committed: what sets its col-overflow floor). (settings per part, the parts)."""
    parts = graph_parts(model, segs, tiles, "graph")
    total = sum(s.cost for s in segs)
    graph_output = model.graph.output[0].name
    each = []
    for p, (ins, out) in zip(parts, part_tensor_sizes(model, segs, parts), strict=True):
        s = scaled_settings(whole_settings, p.cost / total)
        public_in, public_out = p.producers == (None,), p.output == graph_output
        s["model_instance_shapes"] = [[n] for n in ins if public_in] + ([[out]] if public_out else [])
        s["module_sizes"] = {
            **(s.get("module_sizes") or {}),
            "polycommit": ([] if public_in else list(ins)) + ([] if public_out else [out]),
        }
        each.append(s)
    return each, parts


def weigh_parts(
    model, segs: list, tiles: list[int], whole_settings: dict, predict: Callable[[dict], dict], budget_bytes: int, why
) -> Rung:
    """The rung of these parts: its largest part's estimate, and every part's predicted prove seconds
    summed, each at the one logrows all are laid out at. `why(share)`: what the rung says of its largest."""
    each, parts = parts_settings(model, segs, tiles, whole_settings)
    total = sum(s.cost for s in segs)
    i = max(range(len(parts)), key=lambda k: parts[k].cost)
    rung = weigh(len(parts), each[i], predict, budget_bytes, why=why(parts[i].cost / total))
    rung.all_prove_seconds = all_parts_seconds(each, predict)
    return rung


def weigh_graph(
    onnx_path: Path, n: int, whole_settings: dict, predict: Callable[[dict], dict], budget_bytes: int
) -> Rung:
    """The rung of n segments along the graph (weigh_parts)."""
    import onnx

    segs = segments(onnx_path, n)
    largest = max(segs, key=lambda s: s.cost)
    return weigh_parts(
        onnx.load(str(onnx_path)),
        segs,
        [1] * n,
        whole_settings,
        predict,
        budget_bytes,
        lambda share: f"largest segment {largest.input} -> {largest.output}: {share:.0%} of the graph's cost",
    )


def all_parts_seconds(each: list[dict], predict: Callable[[dict], dict]) -> float:
    """The parts' predicted prove seconds summed, every part laid out at the largest logrows any needs
    (one commitment domain)."""
    domain = max(e["run_args"]["logrows"] for e in each)
    return sum(predict(at_logrows(e, domain))["prove_seconds"] for e in each)


def tiled_plans(onnx_path: Path) -> tuple[list[tuple[tuple[int, ...], list[float]]], str]:
    """Plans of one segment per layer with tiles, fewest parts first: (tiles per segment, each part's
    cost); and why no finer plan exists (a segment that does not tile, or its most tiles)."""
    import onnx

    model = onnx.load(str(onnx_path))
    segs = layer_segments(model)
    tilings: list[Tiling | str] = [tiling(segment_model(model, s)) for s in segs]

    def cost(k: int, t: int) -> float:
        til = tilings[k]
        return segs[k].cost if isinstance(til, str) else tile_cost(segs[k].cost, til, t)

    def most(k: int) -> int:
        til = tilings[k]
        return 1 if isinstance(til, str) else til.channels

    caps = sorted({cost(k, t) for k in range(len(segs)) for t in range(1, most(k) + 1)}, reverse=True)
    plans: list[tuple[tuple[int, ...], list[float]]] = []
    seen: set[tuple[int, ...]] = set()
    for cap in caps:
        tiles = []
        for k in range(len(segs)):
            fitting = [t for t in range(1, most(k) + 1) if cost(k, t) <= cap]
            if not fitting:
                til = tilings[k]
                why = (
                    f"layer segment {segs[k].input} -> {segs[k].output} does not tile ({til})"
                    if isinstance(til, str)
                    else f"layer segment {segs[k].input} -> {segs[k].output} is at its most tiles ({most(k)})"
                )
                return plans, why
            tiles.append(fitting[0])
        if tuple(tiles) not in seen:
            seen.add(tuple(tiles))
            each = [cost(k, t) for k, t in enumerate(tiles) for _ in range(t)]
            plans.append((tuple(tiles), each + ([0.0] if tiles[-1] > 1 else [])))  # a tiled last: its join
    return plans, "every layer at its most tiles"


def tiled_ladder(
    onnx_path: Path, whole_settings: dict, predict: Callable[[dict], dict], budget_bytes: int, start: int
) -> tuple[list[Rung], str]:
    """The tiled plans with at least `start` parts, fewest first, weighed until one fits (the last
    rung then fits); and why none does ("" when one does)."""
    import onnx

    plans, end = tiled_plans(onnx_path)
    model = onnx.load(str(onnx_path))
    segs = layer_segments(model)
    rungs: list[Rung] = []
    for tiles, costs in plans:
        if len(costs) < start:
            continue
        rung = weigh_parts(
            model,
            segs,
            list(tiles),
            whole_settings,
            predict,
            budget_bytes,
            lambda share, t=tiles: (
                f"one segment per layer in tiles {list(t)}: its largest part {share:.0%} of the graph's cost"
            ),
        )
        rung.tiles = tiles
        rungs.append(rung)
        if rung.fits:
            return rungs, ""
    return rungs, end


def graph_ladder(
    onnx_path: Path, whole_settings: dict, predict: Callable[[dict], dict], budget_bytes: int, start: int = 2
) -> tuple[int | None, list[Rung], str]:
    """The fewest parts (>= start) whose largest is predicted to fit: segments along the graph, then
    one segment per layer with tiles (tiled_ladder); every rung weighed, and why none fits ("" when
    one does). The chosen rung is the last, its `tiles` set when it has tiles."""
    rungs = []
    for n in [n for n in graph_counts(onnx_path) if n >= start]:
        rung = weigh_graph(onnx_path, n, whole_settings, predict, budget_bytes)
        rungs.append(rung)
        if rung.fits:
            return n, rungs, ""
    tiled, end = tiled_ladder(onnx_path, whole_settings, predict, budget_bytes, start)
    rungs += tiled
    if tiled and tiled[-1].fits:
        return tiled[-1].parts, rungs, ""
    if not rungs:
        return None, [], f"its graph has no (further) point where one tensor alone crosses, nor a finer tiling: {end}"
    last = rungs[-1]
    what = "parts" if last.tiles else "segments along its graph (its most)"
    return (
        None,
        rungs,
        f"even {last.parts} {what} need ~{human_bytes(last.peak_rss_bytes)} "
        f"at logrows {last.logrows} for the largest ({last.why}), above the {human_bytes(budget_bytes)} budget"
        + (f"; no finer split: {end}" if tiled or end else ""),
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
    one_domain: bool = True,
) -> dict:
    """The experiment's result document under --split auto (the module docstring's rule). `ladder`:
    the fewest parts from `start` predicted to fit the budget (graph_ladder for a graph; a
    LayerNorm's own, zkbench.engine.norm_choice). `whole_first`: None runs the whole first; else
    why it is not (too big to search), and the ladder starts at 2. `one_domain`: parts that commit
    over one domain (a graph's) start it at the logrows the ladder laid the largest part out at."""
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
        result = run_graph(
            replace(
                config,
                split=parts,
                part_budget_bytes=budget,
                graph_tiles=rungs[-1].tiles,
                commit_logrows=rungs[-1].logrows if one_domain else None,
            )
        )
        result["split_choice"] = {**record, "parts": parts, "earlier_attempts": attempts}
        trouble = memory_trouble(result, budget)
        if trouble is None:
            return result
        attempts.append({"parts": parts, "trouble": trouble})
        if len(attempts) > MAX_RESPLITS:
            result["split_choice"]["gave_up"] = f"memory trouble at {len(attempts)} part counts in a row"
            return result
        start = parts + 1
