"""Parent side: the content-addressed cache's keys of an experiment's deterministic artifacts (workload,
candidate evaluations, search outcome, compiled circuit, keys; the SRS's in srs.srs_cache_key) and
the versions in them. A changed key rebuilds every artifact cached under the old one: bump a
version only when what its entry holds or means changes."""

from __future__ import annotations

import os
from typing import Any

import zkbench.resources.fingerprint as environment
from zkbench.files import content_key

SEARCH_VERSION = 5  # bump when the search's meaning changes (metric, grid, what its entry holds)
EXPORT_VERSION = 2  # bump when what the export stage measures changes (2: a child of its own)
CANDIDATE_VERSION = 1  # bump when what a candidate's evaluation holds or means changes
ONNX_OPSET = 18


def prover_id(backend_name: str, build: str | None, device: str) -> str:
    """What identifies the prover in cache keys: its name, its native build and where it computes
    (a cached stage reports the time it was measured in: a GPU's is not a CPU's)."""
    return f"{backend_name}:{build}:{device}"


def workload_key(fingerprint: Any, n_calibration: int, n_heldout: int) -> str:
    """The workload (ONNX model, inputs, float outputs) of the layer whose fingerprint is given, with
    that many calibration and held-out inputs."""
    return content_key(
        "workload",
        fingerprint,
        environment.package_version("torch"),
        environment.package_version("onnx"),
        ONNX_OPSET,
        n_calibration,
        n_heldout,
        os.environ.get("ZKBENCH_CIFAR10"),
        EXPORT_VERSION,
    )


def candidates_key(files: dict, prover: str, force_logrows: int | None) -> str:
    """The folder of a workload's candidate evaluations with one prover: the same for every
    tolerance, every rerun and plan mode. `files`: the workload's manifest."""
    return content_key(
        "candidates",
        files["network.onnx"]["sha256"],
        files["calibration.json"]["sha256"],
        files["reference.json"]["sha256"],
        prover,
        CANDIDATE_VERSION,
        *([force_logrows] if force_logrows else []),
    )


def search_key(
    files: dict, target: float, grid: dict, scan: str, prover: str, tolerance_mode: str, force_logrows: int | None
) -> str:
    """The search's outcome for one target error over one grid with one scan, and the chosen circuit's
    settings."""
    return content_key(
        "search",
        files["network.onnx"]["sha256"],
        files["calibration.json"]["sha256"],
        files["reference.json"]["sha256"],
        target,
        grid,
        scan,
        prover,
        SEARCH_VERSION,
        *([tolerance_mode] if tolerance_mode == "ezkl" else []),
        *([force_logrows] if force_logrows else []),
    )


def circuit_key(files: dict, run_args: dict, prover: str, workload_version: Any) -> str:
    """The compiled circuit of the final settings' run args."""
    return content_key("circuit", files["network.onnx"]["sha256"], run_args, prover, workload_version)


def keys_key(circuit: str, srs_sha256: str) -> str:
    """The proving and verifying keys of a circuit (its key) with one SRS (its hash)."""
    return content_key("keys", circuit, srs_sha256)
