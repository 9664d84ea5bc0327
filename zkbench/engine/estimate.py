"""Plan mode: one candidate evaluation (settings, calibration, compile, the witnesses of the
calibration inputs and their error) at the circuit a run is expected to choose, then the predicted
logrows, key size, peak memory and proving time, and the time the whole experiment will take
(search, setup, the rounds --rounds would run). No SRS, no setup, no prove.

The evaluation uses the run's own workload and is read from and kept in the run's candidate cache
(zkbench.engine.experiment.Experiment.candidates_dir): a plan after a run costs no prover call, and
the run after a plan does not evaluate that candidate again."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from zkbench.engine.config import RunConfig
from zkbench.engine.experiment import Experiment, predicted
from zkbench.engine.graph_choice import graph_ladder
from zkbench.engine.graph_split_step import LINKABLE
from zkbench.engine.norm_choice import norm_ladder
from zkbench.engine.norm_split_step import decomposable
from zkbench.engine.result_parts import base_result
from zkbench.engine.search.candidate import Candidate, fixed_run_args
from zkbench.engine.split_choice import (
    choose,
    ladder_counts,
    part_ops,
    probe_count,
    probe_spec,
    scaled_settings,
    weigh,
)
from zkbench.engine.stage_worker import StageFailed
from zkbench.layers import experiment_id, get, parse_tolerance
from zkbench.layers.norm_split import norm_split

# the largest circuit plan mode calibrates and witnesses on a machine of this project's size (24 GiB:
# the search at logrows 20 takes a few GiB); bigger ones are predicted from gen_settings alone
EVALUATE_MAX_LOGROWS = 20


def plan_experiment(
    name: str,
    tol,
    config: RunConfig,
    run_args: dict,
    spec=None,
    timeout_s: float | None = None,
    basis: dict | None = None,
    evaluate_max_logrows: int | None = None,
) -> dict:
    """Plan one experiment at `run_args` (e.g. the circuit the search chose at smoke size for the same
    layer and tol). `basis` is that smoke result, when there is one: its count of search evaluations
    and its setup/prove time ratio scale the estimate of the whole experiment's time. With
    `evaluate_max_logrows`, a circuit whose gen_settings alone needs more logrows is not evaluated
    (calibration and witnesses at that size could not run here): it is predicted from gen_settings."""
    spec, tol = spec or get(name), parse_tolerance(tol)
    log_stem = config.cache_dir / "logs" / f"plan-{experiment_id(spec.name, tol)}-{os.getpid()}"
    plan: dict = {
        "id": experiment_id(spec.name, tol),
        "name": spec.name,
        "group": spec.group,
        "profile": config.profile,
        "tol": tol,
        "run_args": run_args,
        "tags": sorted(spec.tags),
    }
    cand = Candidate(
        run_args["input_scale"], run_args["decomp_base"], run_args["decomp_legs"], run_args["num_inner_cols"]
    )
    target = tol * config.search_margin
    with tempfile.TemporaryDirectory(prefix="zkbench-plan-") as tmp:
        exp = Experiment(spec, tol, config, Path(tmp), log_stem)
        exp.r = base_result(spec, tol, config)
        try:
            wl = exp.workload()
            plan["onnx"] = str(Path(wl["dir"]) / "network.onnx")  # what a graph split would cut (plan_split)
            if evaluate_max_logrows is not None:
                bound = settings_bound(exp, wl, cand, Path(tmp), timeout_s)
                if bound["run_args"]["logrows"] > evaluate_max_logrows:
                    plan.update(from_settings_only(bound, config, target, evaluate_max_logrows, basis))
                    return plan
            grid = {
                "scales": [cand.scale],
                "decompositions": [[cand.decomp_base, cand.decomp_legs]],
                "inner_cols": [cand.num_inner_cols],
            }
            rep = exp.search_child(wl, target, grid, "exhaustive", timeout_s=timeout_s)
            [evaluation] = rep["result"]["candidates"]
            if "error" in evaluation:
                raise StageFailed("search", "candidate_failed", evaluation["error"])
            settings = Path(
                evaluation["settings_path"]
                if not evaluation["cached"]
                else exp.candidates_dir(wl) / f"{cand.stem}.settings.json"
            )
            if not settings.is_file():  # kept by an older version without its settings: make them again
                settings = remake_settings(exp, wl, cand, Path(tmp), timeout_s)
            s = json.loads(settings.read_text())
            prediction = predicted(s, config)
            plan.update(
                status="ok",
                settings=s,  # what the prediction read (and what --split auto scales, plan_split)
                logrows=s["run_args"]["logrows"],
                num_rows=s["num_rows"],
                prediction=prediction,
                candidate={
                    "tol_metric": evaluation["tol_metric"],
                    "target_tol_metric": target,
                    "meets_target": evaluation["tol_metric"] <= target,
                    "from_cache": bool(evaluation["cached"]),
                    "evaluate_s": evaluation_seconds(evaluation),
                },
                estimate=time_estimate(prediction, evaluation_seconds(evaluation), config, basis),
            )
        except StageFailed as e:
            plan.update(status="failed", failure={"stage": e.stage, "kind": e.kind, "cause": e.cause})
    return plan


def settings_bound(exp: Experiment, wl: dict, cand: Candidate, tmp: Path, timeout_s: float | None) -> dict:
    """gen_settings alone at `cand` (one pass of ezkl's layout, no calibration), its logrows and rows
    the lower bound the search prunes by (the backend's cost_lower_bound): what calibration can only
    equal or exceed."""
    path = tmp / "bound.settings.json"
    [rep] = exp.stage(
        "settings",
        op="gen_settings",
        onnx=str(Path(wl["dir"]) / "network.onnx"),
        settings=str(path),
        run_args=cand.run_args(fixed_run_args(Path(wl["dir"]))),
        timeout_s=timeout_s,
    )
    s = json.loads(path.read_text())
    low = exp.backend.cost_lower_bound(s)
    s["run_args"]["logrows"] = low["logrows"]
    s["_gen_settings_s"] = rep["seconds"]
    return s


def from_settings_only(s: dict, config: RunConfig, target: float, max_logrows: int, basis: dict | None) -> dict:
    """A plan predicted from gen_settings' circuit (a lower bound: calibration may add a lookup
    table), its error not measured."""
    seconds = s.pop("_gen_settings_s")
    prediction = predicted(s, config)
    return {
        "status": "ok",
        "settings": s,
        "logrows": s["run_args"]["logrows"],
        "num_rows": s["num_rows"],
        "prediction": prediction,
        "candidate": {
            "tol_metric": None,
            "target_tol_metric": target,
            "meets_target": None,
            "from_cache": False,
            "evaluate_s": seconds,
            "predicted_from": f"gen_settings alone (logrows {s['run_args']['logrows']} > {max_logrows}, "
            "too big to calibrate here): a lower bound, its error not measured",
        },
        "estimate": time_estimate(prediction, seconds, config, basis),
    }


def evaluation_seconds(evaluation: dict) -> float:
    """One candidate evaluation's time; an entry kept by an older version has only its settings and
    calibration times, the larger part at paper size."""
    if evaluation.get("evaluate_s") is not None:
        return evaluation["evaluate_s"]
    return evaluation.get("gen_settings_s", 0.0) + evaluation.get("calibrate_s", 0.0)


def remake_settings(exp: Experiment, wl: dict, cand: Candidate, tmp: Path, timeout_s: float | None) -> Path:
    onnx, settings = str(Path(wl["dir"]) / "network.onnx"), tmp / "settings.json"
    exp.stage(
        "settings",
        op="gen_settings",
        onnx=onnx,
        settings=str(settings),
        run_args=cand.run_args(fixed_run_args(Path(wl["dir"]))),
        timeout_s=timeout_s,
    )
    exp.stage(
        "calibrate",
        timeout_s=timeout_s,
        data=str(Path(wl["dir"]) / "calibration.json"),
        onnx=onnx,
        settings=str(settings),
        scales=[cand.scale],
        scale_rebase_multiplier=[1],
    )
    return settings


def time_estimate(prediction: dict, evaluate_s: float, config: RunConfig, basis: dict | None) -> dict:
    """Seconds the experiment will take, by part: the search (the smoke search's count of evaluations,
    each as long as this plan's evaluation of the expected circuit), setup (the predicted prove time
    times the smoke run's setup/prove ratio) and the proving rounds (--rounds, or what auto will choose
    for the predicted prove time). Rough by construction; each part says where it came from."""
    prove_s = prediction["prove_seconds"]
    stages = (basis or {}).get("stages", {})
    evaluations = stages.get("search", {}).get("evaluations")
    smoke_prove = stages.get("prove", {}).get("seconds") or []
    smoke_setup = stages.get("setup", {}).get("seconds") or []
    if smoke_prove and smoke_setup and sum(smoke_prove) > 0:
        setup_ratio, setup_from = (
            (sum(smoke_setup) / len(smoke_setup)) / (sum(smoke_prove) / len(smoke_prove)),
            "the smoke run's setup/prove ratio",
        )
    else:
        setup_ratio, setup_from = 1.0, "assumed as long as one prove (no smoke result)"
    if evaluations is None:
        evaluations, search_from = len(config.scales), "one evaluation per scale of the grid (no smoke result)"
    else:
        search_from = "the smoke search's evaluations x this plan's evaluation"
    rounds = (
        Experiment.planned_auto_rounds(prove_s, config.round_budget_s)
        if config.rounds == "auto"
        else int(config.rounds)
    )
    search_s = evaluations * evaluate_s
    setup_s = setup_ratio * prove_s
    total = search_s + setup_s + rounds * prove_s
    return {
        "search_s": search_s,
        "search_evaluations": evaluations,
        "search_from": search_from,
        "setup_s": setup_s,
        "setup_from": setup_from,
        "rounds": rounds,
        "rounds_from": "--rounds auto" if config.rounds == "auto" else "--rounds",
        "prove_s": rounds * prove_s,
        "total_s": total,
    }


def whole_row(plan: dict, memory: int, config: RunConfig) -> dict:
    """The plan's row for one memory size as one circuit: the whole's prediction, or that of its
    col-overflow layout where only that fits (the memory fit's choice: split_choice.layout_fit)."""
    rung = weigh(1, plan["settings"], lambda s: predicted(s, config), memory)
    if rung.layout == "rows":
        logrows, peak, total = plan["logrows"], plan["prediction"]["peak_rss_bytes"], plan["estimate"]["total_s"]
    else:  # the setups and proves scaled by the layout's predicted prove seconds
        est, whole_prove = plan["estimate"], plan["prediction"].get("prove_seconds") or 0.0
        ratio = rung.prove_seconds / whole_prove if whole_prove else 1.0
        logrows, peak = rung.logrows, rung.peak_rss_bytes
        total = est["search_s"] + (est["setup_s"] + est["prove_s"]) * ratio
    return {
        "memory_bytes": memory,
        "parts": 1,
        "logrows": logrows,
        "peak_rss_bytes": peak,
        "total_s": total,
        "why": "",
        **({"layout": rung.layout} if rung.layout != "rows" else {}),
    }


def by_memory_whole_or_graph(plan: dict, memory: int, config: RunConfig, no_tiles: str) -> dict:
    """A model with no tiles under one memory size, as --split auto runs it (zkbench.engine.graph_choice):
    whole when its prediction fits, else the fewest segments of its graph whose largest is predicted
    to fit (the whole's circuit scaled by each segment's share of the cost), else nowhere."""
    row = whole_row(plan, memory, config)
    if row["peak_rss_bytes"] <= memory:
        return row
    if config.backend not in LINKABLE:
        return {
            **row,
            "parts": None,
            "why": f"one circuit needs more, no tiles ({no_tiles}), and {config.backend} cannot link a graph split",
        }

    def predict(s: dict) -> dict:
        return predicted(s, config)

    parts, rungs, why = graph_ladder(Path(plan["onnx"]), plan["settings"], predict, memory)
    if parts is None:
        last = rungs[-1] if rungs else None
        return {
            **row,
            "parts": None,
            **({"logrows": last.logrows, "peak_rss_bytes": last.peak_rss_bytes} if last else {}),
            "why": f"no tiles ({no_tiles}); {why}",
            "ladder": [r.record() for r in rungs],
        }
    rung = rungs[-1]  # the chosen one
    prove_s = rung.all_prove_seconds or rung.prove_seconds * parts
    # the whole's search (it runs first, then is found too big) and the parts' searches (about as much
    # again), the setups and proves scaled by the parts' predicted prove seconds summed
    est, whole_prove = plan["estimate"], plan["prediction"].get("prove_seconds") or 0.0
    scale = prove_s / whole_prove if whole_prove else 1.0
    return {
        **row,
        "parts": parts,
        "logrows": rung.logrows,
        "peak_rss_bytes": rung.peak_rss_bytes,
        "total_s": 2 * est["search_s"] + (est["setup_s"] + est["prove_s"]) * scale,
        "how": "along the graph" + (f", one segment per layer in tiles {list(rung.tiles)}" if rung.tiles else ""),
        "ladder": [r.record() for r in rungs],
        **({"layout": rung.layout} if rung.layout != "rows" else {}),
    }


def by_memory_whole_or_norm(plan: dict, memory: int, config: RunConfig, spec) -> dict:
    """A LayerNorm under one memory size, as --split auto runs it (zkbench.engine.norm_choice): whole
    when its prediction fits, else the fewest normalising parts whose circuit (the whole's scaled to
    1/n of it) is predicted to fit, each with its statistics parts, else nowhere."""
    row = whole_row(plan, memory, config)
    if row["peak_rss_bytes"] <= memory:
        return row
    parts, rungs, why = norm_ladder(spec, config.profile, plan["settings"], 1, lambda s: predicted(s, config), memory)
    last = rungs[-1] if rungs else None
    if parts is None or last is None:
        return {
            **row,
            "parts": None,
            **({"logrows": last.logrows, "peak_rss_bytes": last.peak_rss_bytes} if last else {}),
            "why": why,
            "ladder": [r.record() for r in rungs],
        }
    all_parts = (
        parts + norm_split(spec.module(config.profile), spec.shape(config.profile).input_shape, parts).stats_parts
    )
    # the parts' searches (about one whole's), the setups and proves scaled by the parts' predicted
    # prove seconds (each statistics part counted as a normalising one: an overestimate)
    est, whole_prove = plan["estimate"], plan["prediction"].get("prove_seconds") or 0.0
    scale = last.prove_seconds * all_parts / whole_prove if whole_prove else 1.0
    return {
        **row,
        "parts": all_parts,
        "logrows": last.logrows,
        "peak_rss_bytes": last.peak_rss_bytes,
        "total_s": est["search_s"] + (est["setup_s"] + est["prove_s"]) * scale,
        "how": f"{parts} normalised chunks after {all_parts - parts} statistics parts",
        "ladder": [r.record() for r in rungs],
        **({"layout": last.layout} if last.layout != "rows" else {}),
    }


def plan_split(
    spec,
    tol,
    config: RunConfig,
    run_args: dict,
    memories: list[int],
    timeout_s: float | None = None,
    basis: dict | None = None,
) -> dict:
    """One experiment under each memory size, as --split auto would run it there: one circuit, the
    fewest parts predicted to fit (zkbench.engine.split_choice, probing the same part a run probes,
    here by one candidate evaluation at `run_args`), or nothing that fits, and the time it would take.
    A layer with no tiles (LayerNorm, the CNNs, a user's model) is planned whole, and where the whole
    does not fit, split along its graph (by_memory_whole_or_graph)."""
    try:
        ladder_counts(spec, config.profile)
    except (ValueError, AttributeError) as e:  # no tiles (a user's model has no module to tile)
        plan = plan_experiment(
            spec.name,
            tol,
            config,
            run_args,
            spec=spec,
            timeout_s=timeout_s,
            basis=basis,
            evaluate_max_logrows=EVALUATE_MAX_LOGROWS,
        )
        plan["probe"] = {"spec": spec.name, "parts": 1, "no_tiles": str(e)}
        if plan["status"] == "ok" and decomposable(spec, config.profile):
            plan["by_memory"] = [by_memory_whole_or_norm(plan, m, config, spec) for m in memories]
        elif plan["status"] == "ok":
            plan["by_memory"] = [by_memory_whole_or_graph(plan, m, config, str(e)) for m in memories]
        return plan
    n_probe = probe_count(spec, config.profile, ladder_counts(spec, config.profile))
    probed = probe_spec(spec, config.profile, n_probe)
    probe = plan_experiment(probed.name, tol, config, run_args, spec=probed, timeout_s=timeout_s, basis=basis)
    plan = {k: probe[k] for k in ("status", "failure") if k in probe}
    plan.update(
        id=experiment_id(spec.name, parse_tolerance(tol)),
        name=spec.name,
        group=spec.group,
        profile=config.profile,
        tol=parse_tolerance(tol),
        run_args=run_args,
        tags=sorted(spec.tags),
        probe={
            "spec": probed.name,
            "parts": n_probe,
            **{k: probe.get(k) for k in ("logrows", "num_rows", "candidate")},
        },
    )
    if probe["status"] != "ok":
        return plan
    probe_ops = part_ops(spec, config.profile, n_probe)
    evaluated = {probed.name: probe}

    def probe_of(part) -> dict:  # the settings of a part at run_args, each part evaluated once
        if part.name not in evaluated:
            evaluated[part.name] = plan_experiment(
                part.name, tol, config, run_args, spec=part, timeout_s=timeout_s, basis=basis
            )
        if evaluated[part.name]["status"] != "ok":
            f = evaluated[part.name]["failure"]
            raise StageFailed(f["stage"], f["kind"], f"{part.name}: {f['cause']}")
        return evaluated[part.name]["settings"]

    try:
        choices = [choose(spec, config.profile, m, probe_of, lambda s: predicted(s, config)) for m in memories]
    except StageFailed as e:
        plan.update(status="failed", failure={"stage": e.stage, "kind": e.kind, "cause": e.cause})
        return plan
    # one circuit as the search chose it (its rows layout: weighed against no limit), scaled from the probe
    one_circuit = (
        probe["settings"]
        if n_probe == 1
        else scaled_settings(probe["settings"], part_ops(spec, config.profile, 1) / probe_ops)
    )
    whole = weigh(1, one_circuit, lambda s: predicted(s, config), 2**62)
    plan.update(
        candidate=probe["candidate"],
        logrows=whole.logrows,
        num_rows=whole.num_rows,
        # the whole as one circuit (the probe's own prediction, or its circuit scaled to the whole)
        prediction=predicted(probe["settings"], config)
        if n_probe == 1
        else {"peak_rss_bytes": whole.peak_rss_bytes, "prove_seconds": whole.prove_seconds, "scaled_from_probe": True},
        whole={"logrows": whole.logrows, "num_rows": whole.num_rows, "peak_rss_bytes": whole.peak_rss_bytes},
        by_memory=[],
    )
    for m, choice in zip(memories, choices, strict=True):
        # the chosen count's rung (the last weighed when none fits)
        rung = next((r for r in reversed(choice.ladder) if r.parts == choice.parts), choice.ladder[-1])
        scale = part_ops(spec, config.profile, rung.parts) / probe_ops
        one = time_estimate(
            {"prove_seconds": rung.prove_seconds}, evaluation_seconds(probe["candidate"]) * scale, config, basis
        )
        plan["by_memory"].append(
            {
                "memory_bytes": m,
                "parts": choice.parts,
                "logrows": rung.logrows,
                "peak_rss_bytes": rung.peak_rss_bytes,
                "total_s": one["total_s"] * rung.parts,
                "why": "" if choice.parts else choice.why_none(),
                "ladder": [r.record() for r in choice.ladder],
                **({"layout": rung.layout} if rung.layout != "rows" else {}),
            }
        )
    return plan
