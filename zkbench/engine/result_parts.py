"""The result document: its skeleton, stage records from the children's replies, the GPU and
harness blocks. One place decides what each field means."""

from __future__ import annotations

import datetime as dt

import zkbench.resources.fingerprint as environment
from zkbench.engine.config import RunConfig, run_identity
from zkbench.engine.stage_worker import Clock
from zkbench.layers import experiment_id

SCHEMA_VERSION = 4  # 4: backend block; 3: search stage, proof_bytes = transcript, soundness verdicts, harness parts


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def measured(reply: dict, *more: dict) -> dict:
    """A stage record from one or more worker replies (repeated rounds, each in a fresh child).
    peak = base (the child before the call) + growth (what the call added at its high point),
    both from the round with the highest peak."""
    replies = (reply, *more)
    top = max(replies, key=lambda r: r["peak_rss_bytes"])
    seconds = [r["seconds"] for r in replies]
    return {
        "seconds": seconds,
        # max - min over the rounds; one round says nothing of the spread: unknown (None), never 0
        "spread_s": max(seconds) - min(seconds) if len(seconds) > 1 else None,
        "cpu_seconds": [r.get("cpu_seconds") for r in replies],
        "peak_rss_bytes": top["peak_rss_bytes"],
        "base_rss_bytes": top["base_rss_bytes"],
        "growth_rss_bytes": top["peak_rss_bytes"] - top["base_rss_bytes"],
        "rss_method": reply["rss_method"],
        "cached": False,
        "measured_at": now(),
    }


def from_cache(stage_record: dict, built_now: bool) -> dict:
    return {**stage_record, "cached": not built_now}


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
