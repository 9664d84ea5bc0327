"""Parent side: how an experiment that is split (--split N, or --split auto when the budget demands
it) is run: which split (tiles of a layer, segments and tiles of a model's graph, a LayerNorm's
statistics and normalised chunks) and, under auto, which count. Each part is an experiment of the
one-experiment engine (zkbench.engine.experiment), which calls split_run and passes itself in as an
Engine: the two modules do not import each other."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from zkbench.engine import graph_choice, graph_split_step, norm_choice, norm_split_step, split_step
from zkbench.engine.config import RunConfig
from zkbench.engine.stage_records import now


@dataclass(frozen=True)
class Engine:
    """What the split paths need of the one-experiment engine."""

    run_experiment: Callable[..., dict]  # (name, tol, config, spec=...) -> result
    probe_settings: Callable[..., dict]  # (spec, tol, config) -> the settings a run would build
    whole_workload: Callable[..., dict]  # (spec, tol, config) -> the whole's workload entry
    predicted: Callable[..., dict]  # (settings, config) -> the prediction
    no_prediction: Callable[..., str | None]  # (config) -> why its backend has none


def graph_split(spec, tol: float, config: RunConfig, engine: Engine, run_part=None) -> dict:
    """--split N on a model with no tiles: N segments of its graph (zkbench.engine.graph_split_step),
    each run by `run_part` (run_experiment)."""
    return graph_split_step.run_graph_split(
        spec,
        tol,
        config,
        run_part or engine.run_experiment,
        lambda: engine.whole_workload(spec, tol, config),
        # the whole's search, for its scale: not laid out at the parts' domain (its own memory fit, cached)
        lambda: engine.probe_settings(spec, tol, replace(config, commit_logrows=None)),
        engine.probe_settings,
    )


def norm_split(spec, tol: float, config: RunConfig, engine: Engine, run_part=None) -> dict:
    """--split N on a LayerNorm: statistics parts, then N normalising parts (zkbench.engine.norm_split_step)."""
    return norm_split_step.run_norm_split(
        spec,
        tol,
        config,
        run_part or engine.run_experiment,
        lambda: engine.whole_workload(spec, tol, config),
        engine.probe_settings,
    )


def norm_auto(spec, tol: float, config: RunConfig, engine: Engine, run_whole) -> dict:
    """--split auto on a LayerNorm (zkbench.engine.norm_choice): whole first when small, else (or when
    the whole does not fit) the fewest normalising parts predicted to fit."""
    too_big = norm_choice.too_big_to_run_whole(spec, config.profile)

    def ladder(budget: int, start: int):
        if too_big is None:  # the whole ran: its own search is the basis
            basis, parts = engine.probe_settings(spec, tol, config), 1
        else:
            parts = norm_choice.probe_count(spec, config.profile)
            whole = lambda: engine.whole_workload(spec, tol, config)  # noqa: E731
            basis = norm_split_step.scale_probe_settings(spec, tol, config, parts, whole, engine.probe_settings)
        return norm_choice.norm_ladder(
            spec, config.profile, basis, parts, lambda s: engine.predicted(s, config), budget, start
        )

    return graph_choice.run_auto_graph(
        spec,
        tol,
        config,
        run_whole,
        lambda cfg: norm_split(spec, tol, cfg, engine),
        ladder,
        "LayerNorm: its statistics span the whole tensor (decomposed instead)",
        how=norm_choice.HOW,
        whole_first=too_big,
        one_domain=False,  # its parts are not linked by commitments
    )


def split_run(spec, tol: float, config: RunConfig, engine: Engine) -> dict:
    """--split N: the experiment as N parts; --split auto: as many as the memory budget demands
    (zkbench.engine.split_step), each part run by run_experiment."""
    t0 = time.perf_counter()

    def whole_workload() -> dict:
        return engine.whole_workload(spec, tol, config)

    def run_whole(budget: int | None) -> dict:  # auto's first try: one circuit, admitted by the budget
        return engine.run_experiment(
            spec.name, tol, replace(config, split="never", part_budget_bytes=budget), spec=spec
        )

    no_tiles = split_step.no_tiles(spec, config.profile)
    decomposable = norm_split_step.decomposable(spec, config.profile)
    if split_step.auto(config, spec) and decomposable and not engine.no_prediction(config):
        result = norm_auto(spec, tol, config, engine, run_whole)
    elif (
        split_step.auto(config, spec)
        and no_tiles
        and graph_split_step.linkable(config)
        and not engine.no_prediction(config)
    ):
        result = graph_choice.run_auto_graph(
            spec,
            tol,
            config,
            run_whole,
            lambda cfg: graph_split(spec, tol, cfg, engine),
            lambda budget, start: graph_choice.graph_ladder(
                Path(whole_workload()["dir"]) / "network.onnx",
                engine.probe_settings(spec, tol, config),
                lambda settings: engine.predicted(settings, config),
                budget,
                start,
            ),
            no_tiles,
        )
    elif split_step.auto(config, spec):
        result = split_step.run_auto(
            spec,
            tol,
            config,
            run_whole,
            engine.run_experiment,
            whole_workload,
            lambda probed: engine.probe_settings(probed, tol, config),
            lambda settings: engine.predicted(settings, config),
            unpredictable=engine.no_prediction(config),
        )
    elif decomposable:
        result = norm_split(spec, tol, config, engine)
    elif no_tiles is None:
        result = split_step.run_split(spec, tol, config, engine.run_experiment, whole_workload)
    else:  # along its graph, its parts linked by commitments
        result = graph_split(spec, tol, config, engine)
        if (result.get("failure") or {}).get("stage") == "split":
            result["failure"]["cause"] = f"{result['failure']['cause']} (no tiles either: {no_tiles})"
    result.setdefault("stages", {})
    wall = time.perf_counter() - t0
    # a split's wall time is the whole of it; a run whole under auto keeps its own, plus the choice's
    result.setdefault("harness", {"wall_s": wall})["with_split_choice_s"] = wall
    result.setdefault("finished_at", now())
    return result
