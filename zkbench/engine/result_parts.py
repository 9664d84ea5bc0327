"""The result document: its skeleton, the circuit, GPU and harness blocks (a stage's record, from the
children's replies, in stage_records). One place decides what each field means."""

from __future__ import annotations

import zkbench.resources.fingerprint as environment
from zkbench.engine.config import RunConfig, run_identity
from zkbench.engine.stage_records import now
from zkbench.engine.stage_worker import Clock
from zkbench.layers import experiment_id

SCHEMA_VERSION = 4  # 4: backend block; 3: search stage, proof_bytes = transcript, soundness verdicts, harness parts


def base_result(spec, tol: float, config: RunConfig) -> dict:
    backend = config.backend_env().info(config.gpu)
    return {
        "schema_version": SCHEMA_VERSION,
        "id": experiment_id(spec.name, tol),
        "name": spec.name,
        "group": spec.group,
        "tags": sorted(spec.tags),
        "profile": spec.result_profile(config.profile),
        "tol": tol,
        "workload_version": spec.workload_version,
        "ezkl_version": backend["version"],
        "ezkl_build": backend["build"],
        "backend": backend,
        "tolerance_mode": config.tolerance_mode,
        "input_shape": list(spec.shape(config.profile).input_shape),
        "status": "pending",
        "verified": False,
        "started_at": now(),
        "config": {
            "rounds": config.rounds,
            "threads": config.threads,
            "max_memory_bytes": config.max_memory_bytes,
            "memory_limit_bytes": config.memory_limit_bytes,
            "n_calibration": config.n_calibration,
            "n_heldout": config.n_heldout,
        },
        "environment": environment.fingerprint(),
        "run_identity": run_identity(spec, config),
    }


def gpu_record(assignment: dict, samples: dict[str, list[dict]]) -> dict:
    """The experiment's GPU block: used_by_prover True when any sampled stage child used the GPU,
    False when every sample says it did not, None (unknown) otherwise; the note says what was
    measured, never what the prover is assumed to do."""
    flat = [(stage, s) for stage, ss in samples.items() for s in ss]
    verdicts = [s.get("used_by_prover") for _, s in flat]
    if any(v is True for v in verdicts):
        used = True
        stages = sorted({stage for stage, s in flat if s.get("used_by_prover") is True})
        note = f"the prover's own processes used the GPU in stage {', '.join(stages)} (NVML per-process accounting)"
    elif assignment.get("mode") != "gpu":
        used = None
        note = f"no GPU assigned ({assignment.get('reason')}): GPU use not measured"
    elif not flat:
        used = None
        note = "no stage was sampled: GPU use not measured"
    elif all(v is False for v in verdicts):
        used = False
        note = (
            f"the prover's processes were on none of the GPU's process listings in {len(flat)} sampled "
            "stage run(s) (NVML per-process accounting)"
        )
    else:
        used = None
        why = sorted(
            {
                s.get("evidence") or s.get("reason") or "not measured"
                for _, s in flat
                if s.get("used_by_prover") is not False
            }
        )
        note = f"GPU use unknown: {'; '.join(why)}"
    # the GPU memory the prover's own processes held at their peak, per sampled stage (setup, prove)
    peaks = {
        stage: max((s["pid_mem_peak_bytes"] for s in ss if s.get("pid_mem_peak_bytes") is not None), default=None)
        for stage, ss in samples.items()
    }
    return {**assignment, "stages": samples, "used_by_prover": used, "prover_peak_mem_bytes": peaks, "note": note}


def harness_record(clock: Clock, wall_s: float) -> dict:
    """Where the experiment's wall time went: the library calls the children timed (stages, the
    extra held-out witnesses, soundness verifies), named harness parts (child start and stop,
    IPC, cache I/O and lock waits, input preparation and CNN training, admission waits, GPU
    sampling), and what is left. overhead_s is everything but the timed calls, so it is never
    understated."""
    measured_s = clock.buckets.get("measured_stage_s", 0.0)
    parts = {k: v for k, v in sorted(clock.buckets.items()) if k != "measured_stage_s"}
    unaccounted = wall_s - measured_s - sum(parts.values())
    return {
        "wall_s": wall_s,
        "measured_stage_s": measured_s,
        "parts_s": parts,
        "unaccounted_s": unaccounted,
        "overhead_s": wall_s - measured_s,
        "accounted_fraction": (wall_s - abs(unaccounted)) / wall_s if wall_s > 0 else 1.0,
    }


def circuit_record(settings: dict, constraints: dict) -> dict:
    """The result's circuit block, read back from the final settings.json; `constraints`: what is
    proved (the backend's constraint_set: visibility, I/O range checks, ...)."""
    ra = settings["run_args"]
    return {
        "logrows": ra["logrows"],
        "num_rows": settings["num_rows"],
        "total_assignments": settings.get("total_assignments"),
        "input_scale": ra["input_scale"],
        "param_scale": ra["param_scale"],
        "scale_rebase_multiplier": ra["scale_rebase_multiplier"],
        "decomp_base": ra["decomp_base"],
        "decomp_legs": ra["decomp_legs"],
        "lookup_range": ra["lookup_range"],
        "num_inner_cols": ra["num_inner_cols"],
        "check_mode": ra.get("check_mode"),
        "constraints": constraints,
        "run_args": ra,  # everything ezkl used, read back from the final settings.json
    }
