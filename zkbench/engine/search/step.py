"""Parent side of the search: the experiment's search step. The search stage in its child (on a
scratch copy of the calibration inputs, reading and keeping candidate evaluations in the candidate
store), then the chosen circuit's own gen_settings (stage `settings`) and calibrate_settings (stage
`calibrate`), each timed alone in a fresh child; the outcome cached and recorded in the result."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from zkbench.engine.cache_keys import search_key
from zkbench.engine.search.algorithm import ASSUMPTIONS
from zkbench.engine.search.candidate import Candidate, fixed_run_args
from zkbench.engine.search.explain import explain_miss
from zkbench.engine.stage_records import from_cache, measured
from zkbench.engine.stage_worker import StageFailed

# How many rows the layout takes (not what the circuit computes, nor its logrows): the one part of a
# circuit's settings that may differ between two gen_settings + calibrate calls with the same run args
LAYOUT_FACTS = ("num_rows", "total_assignments")
# The search child also imports what the search itself uses before its memory window opens.
SEARCH_MODULES = ("numpy", "filelock", "zkbench.engine.search.child_stage")


def grid_of(config) -> dict[str, Any]:
    """The grid the search runs over (a RunConfig's), as the search stage takes it and its key holds it."""
    return {
        "scales": list(config.scales),
        "decompositions": [list(x) for x in config.decompositions],
        "inner_cols": list(config.inner_cols),
    }


def search_child(
    exp,
    wl: dict,
    target: float,
    grid: dict,
    scan: str,
    ezkl_tolerance: float | None = None,
    timeout_s: float | None = None,
) -> dict:
    """The search stage in its child, on a scratch copy of the calibration inputs, reading and
    keeping candidate evaluations in the experiment's candidates_dir."""
    d = Path(wl["dir"])
    scratch = exp.work / "search"
    scratch.mkdir()
    for f in d.iterdir():
        if f.name.startswith("calibration") or f.name == "reference.json":
            shutil.copy(f, scratch / f.name)
    candidates = exp.candidates_dir(wl)
    candidates.mkdir(parents=True, exist_ok=True)
    [rep] = exp.stage(
        "search",
        preload=(*exp.backend.preload, *SEARCH_MODULES),
        onnx=str(d / "network.onnx"),
        work_dir=str(scratch),
        tol=target,
        scan=scan,
        candidate_dir=str(candidates),
        ezkl_tolerance=ezkl_tolerance,
        timeout_s=timeout_s,
        **grid,
    )
    return rep


def search(exp, wl: dict) -> dict:
    """The search step: its cache entry (built when missing), recorded in the result; StageFailed
    when no candidate met the target (or ezkl's own circuit could not be built)."""
    cfg = exp.cfg
    grid = grid_of(cfg)
    target = exp.tol * cfg.search_margin
    # no float reference (a user's model no evaluator runs): ezkl's own default circuit, unsearched
    unchecked = not json.loads((Path(wl["dir"]) / "reference.json").read_text()).get("checked", True)
    key = search_key(wl["files"], target, grid, cfg.search_scan, exp.prover_id, cfg.tolerance_mode, cfg.force_logrows)
    m, built = exp.cache.get_or_build("search", key, lambda tmp: build(exp, wl, tmp, target, grid, unchecked))
    meta = m["meta"]
    exp.stages["search"] = from_cache(meta["search"], built)
    exp.r["search"] = {
        **({"layout_drift": meta["layout_drift"]} if meta.get("layout_drift") else {}),
        "grid": meta["grid"],
        "chosen": meta["chosen"],
        "candidates": meta["candidates"],
        # what the search ran on (a user's calibration.json may hold fewer than n_calibration):
        # the workload's calibration_<i>.json files, counted in its manifest
        "calibration_samples": sum(re.fullmatch(r"calibration_\d+\.json", f) is not None for f in wl["files"]),
        "target_tol_metric": target,
        "margin": cfg.search_margin,
        # every lower bound the search computed (gen_settings alone), and what its choice rests on
        "bounds": meta.get("bounds", []),
        "assumes": meta.get("assumes", []),
    }
    exp.r["cache_keys"]["search"] = key
    if meta["chosen"] is None and unchecked:
        raise StageFailed(
            "search",
            "candidate_failed",
            f"ezkl's default circuit (no float reference to search against) failed to build: "
            f"{meta['candidates'][0].get('error', '?')}",
        )
    if meta["chosen"] is None:
        raise StageFailed(
            "search",
            "tolerance_not_met",
            f"no candidate reached {target:.3g}% ({cfg.search_margin:g} x tol {exp.tol:g}%) "
            f"on the calibration inputs; " + explain_miss(meta["candidates"], target),
        )
    exp.stages["settings"] = from_cache(meta["settings"], built)
    exp.stages["calibrate"] = from_cache(meta["calibrate"], built)
    return m


def build(exp, wl: dict, tmp: Path, target: float, grid: dict, unchecked: bool) -> dict:
    """The search entry's meta (and the chosen circuit's settings.json in `tmp`)."""
    ezkl_mode = exp.cfg.tolerance_mode == "ezkl"
    rep = search_child(exp, wl, target, grid, exp.cfg.search_scan, ezkl_tolerance=exp.tol if ezkl_mode else None)
    cands, chosen = rep["result"]["candidates"], rep["result"]["chosen"]
    bounds = rep["result"].get("bounds") or []
    used = [c for c in cands if "pruned" not in c]
    evaluated = [c for c in used if not c.get("cached")]
    ascending = None if ezkl_mode or unchecked else ascending_scan_evaluations(used, grid)
    meta = {
        "grid": grid,
        "chosen": chosen,
        "search": {
            **measured(rep),
            "candidates": len(cands),
            "candidates_built": sum("error" not in c for c in used),
            "evaluations": len(evaluated),  # made by this search, in its measured time
            "reused": len(used) - len(evaluated),  # read from earlier evaluations, free
            # structures left out by a lower bound of their cost (gen_settings alone)
            "pruned": len(cands) - len(used),
            "bounds": len(bounds),  # gen_settings-only calls; each one in result["search"]["bounds"]
            # what the ascending scan would evaluate, from a formula that assumes the error
            # depends on the scale only (algorithm.ASSUMPTIONS); CI measures the real scan
            "ascending_scan_evaluations_estimate": ascending,
            # against that estimate, nothing cached (negative when bisecting cost more)
            "evaluations_saved_estimate": None if ascending is None else ascending - len(evaluated),
            "fallback": rep["result"].get("fallback"),
            # inside the measured time: waiting for a concurrent search's evaluation of a
            # candidate this one needs too (the other tolerance of the same layer)
            "lock_wait_s": rep["result"].get("lock_wait_s", 0.0),
            "scan": "ezkl-calibrate" if ezkl_mode else "ezkl-defaults" if unchecked else exp.cfg.search_scan,
        },
    }
    meta["candidates"] = [{k: v for k, v in c.items() if k != "settings_path"} for c in cands]
    meta["bounds"] = bounds
    # ezkl's own calibration chose the circuit (mode ezkl, no reference): the search assumed nothing
    meta["assumes"] = [] if ezkl_mode or unchecked else list(ASSUMPTIONS[exp.cfg.search_scan])
    if chosen is not None:
        chosen_settings(exp, wl, cands[chosen], tmp, meta)
    return meta


def chosen_settings(exp, wl: dict, c: dict, tmp: Path, meta: dict) -> None:
    """The chosen candidate's circuit made again, each call timed alone (stages settings and
    calibrate), into tmp/settings.json; StageFailed when it is not the circuit the search measured."""
    d = Path(wl["dir"])
    onnx = str(d / "network.onnx")
    settings = str(tmp / "settings.json")
    if "run_args" in c:  # --tolerance-mode ezkl or no reference: ezkl's own calibration
        ra, cal_scales, cal_srm = c["run_args"], c["calibrate_scales"], c["calibrate_srm"]
    else:
        cand = Candidate(c["scale"], c["decomp_base"], c["decomp_legs"], c["num_inner_cols"])
        ra, cal_scales, cal_srm = cand.run_args(fixed_run_args(d)), [c["scale"]], [1]
    [gen] = exp.stage("settings", op="gen_settings", onnx=onnx, settings=settings, run_args=ra)
    [cal] = exp.stage(
        "calibrate",
        data=str(d / "calibration.json"),
        onnx=onnx,
        settings=settings,
        scales=cal_scales,
        scale_rebase_multiplier=cal_srm,
    )
    meta["settings"], meta["calibrate"] = measured(gen), measured(cal)
    made = json.loads(Path(settings).read_text())
    got = exp.backend.circuit_facts(made)
    want = {k: c[k] for k in got}
    # ezkl may lay out a different number of rows for the same run args from one call to the
    # next (ezkl-gpu 16.1 with 4 columns; ezkl 23 for a Gather of variable indices, whose proofs
    # verify all the same): the rows of both are recorded, the rest must be equal
    drift = {k: [want[k], got[k]] for k in LAYOUT_FACTS if got[k] != want[k]}
    if drift:
        meta["layout_drift"] = drift
    got, want = ({k: v for k, v in d.items() if k not in LAYOUT_FACTS} for d in (got, want))
    if got != want:  # the search's choice must be the circuit that is built
        raise StageFailed(
            "calibrate",
            "not_reproducible",
            f"settings for the chosen candidate differ from the search's: {got} vs {want}",
        )
    if exp.cfg.force_logrows and exp.cfg.force_logrows > made["run_args"]["logrows"]:
        made["run_args"]["logrows"] = exp.cfg.force_logrows
        Path(settings).write_text(json.dumps(made))


def ascending_scan_evaluations(candidates: list[dict], grid: dict) -> int:
    """An estimate, not a measurement (it assumes the error depends on the scale only): what
    `--search-scan exhaustive` evaluates for the same outcome, with nothing cached: the first
    structure's scales up to the first that met the target, then each other structure at that scale
    (the error depends on the scale only); every candidate of the grid when none met it."""
    passing = [c["scale"] for c in candidates if c.get("meets_tol")]
    structures = len(grid["decompositions"]) * len(grid["inner_cols"])
    if not passing:
        return len(grid["scales"]) * structures
    return sum(s <= min(passing) for s in grid["scales"]) + structures - 1
