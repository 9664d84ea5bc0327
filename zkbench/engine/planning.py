"""Plan mode: settings and calibration only, then the predicted logrows, key size, peak memory and
proving time. No SRS, no setup, no prove."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from zkbench.engine.child import StageFailed
from zkbench.engine.config import RunConfig
from zkbench.engine.experiment import Experiment, predicted
from zkbench.engine.record import base_result
from zkbench.layers import experiment_id, get, parse_tolerance


def plan_experiment(
    name: str, tol, config: RunConfig, run_args: dict, spec=None, timeout_s: float | None = None
) -> dict:
    """Plan mode: settings and calibration only, at `run_args` (e.g. the circuit the search chose
    at smoke size for the same layer and tol), then the predicted logrows, pk bytes, peak RSS and
    proving time. No SRS, no setup, no prove."""
    spec, tol = spec or get(name), parse_tolerance(tol)
    config = RunConfig(**{**config.__dict__, "n_calibration": 1, "n_heldout": 1})
    log_stem = config.cache_dir / "logs" / f"plan-{experiment_id(spec.name, tol)}-{os.getpid()}"
    plan = {
        "id": experiment_id(spec.name, tol),
        "name": spec.name,
        "group": spec.group,
        "profile": config.profile,
        "tol": tol,
        "run_args": run_args,
        "tags": sorted(spec.tags),
    }
    with tempfile.TemporaryDirectory(prefix="zkbench-plan-") as tmp:
        exp = Experiment(spec, tol, config, Path(tmp), log_stem)
        exp.r = base_result(spec, tol, config)
        try:
            wl = exp.workload()
            onnx, settings = str(Path(wl["dir"]) / "network.onnx"), str(Path(tmp) / "settings.json")
            [gen] = exp.stage(
                "settings", op="gen_settings", onnx=onnx, settings=settings, run_args=run_args, timeout_s=timeout_s
            )
            [cal] = exp.stage(
                "calibrate",
                timeout_s=timeout_s,
                data=str(Path(wl["dir"]) / "calibration.json"),
                onnx=onnx,
                settings=settings,
                scales=[run_args["input_scale"]],
                scale_rebase_multiplier=[1],
            )
            s = json.loads(Path(settings).read_text())
            plan.update(
                status="ok",
                logrows=s["run_args"]["logrows"],
                num_rows=s["num_rows"],
                prediction=predicted(s, config),
                settings_s=gen["seconds"] + cal["seconds"],
            )
        except StageFailed as e:
            plan.update(status="failed", failure={"stage": e.stage, "kind": e.kind, "cause": e.cause})
    return plan
