"""Parent side: the experiment's workload step. The layer's inputs and float outputs (a registry
layer's from torch, a user's from its ONNX model and input.json) and torch's ONNX export, each in a
child of its own so torch's memory never inflates an ezkl stage's peak; the result cached."""

from __future__ import annotations

from pathlib import Path

from zkbench.engine.cache_keys import ONNX_OPSET, workload_key
from zkbench.engine.stage_records import from_cache, measured


def export(exp, tmp: Path) -> dict:
    """Build the workload's files into `tmp`: what the cache entry's meta holds."""
    # torch work runs in its own children, so torch's memory never inflates an ezkl stage's peak.
    if exp.spec.onnx_path is not None:  # the user brought the ONNX: nothing to export
        [prep] = exp.stage(
            "input",
            op="prepare_onnx",
            preload=(),
            prover=False,
            onnx_path=str(exp.spec.onnx_path),
            n_calibration=exp.cfg.n_calibration,
            n_heldout=exp.cfg.n_heldout,
            out_dir=str(tmp),
        )
        return {"workload": prep["result"]}
    module = exp.work / "module.pt"  # scratch, not a workload file: the export child's input
    with exp.new_worker(preload=(), prover=False) as tw:
        prep = tw.call(
            "prepare",
            spec=exp.spec.name,
            profile=exp.cfg.profile,
            model_cache=str(exp.cfg.cache_dir / "models"),
            n_calibration=exp.cfg.n_calibration,
            n_heldout=exp.cfg.n_heldout,
            out_dir=str(tmp),
            module_path=str(module),
        )
    # export in a fresh child of its own: its peak holds no input preparation or CNN training
    [exported] = exp.stage(
        "export",
        preload=("torch",),
        prover=False,
        module_path=str(module),
        onnx_path=str(tmp / "network.onnx"),
        opset=ONNX_OPSET,
    )
    module.unlink()
    return {"workload": prep["result"], "export": measured(exported)}


def workload(exp) -> dict:
    """The workload's cache entry, built when missing; recorded in the result."""
    key = workload_key(exp.spec.fingerprint(exp.cfg.profile), exp.cfg.n_calibration, exp.cfg.n_heldout)
    m, built = exp.cache.get_or_build("workload", key, lambda tmp: export(exp, tmp))
    if "export" in m["meta"]:
        exp.stages["export"] = from_cache(m["meta"]["export"], built)
    exp.r["workload"] = {
        **m["meta"]["workload"],
        "fingerprint": exp.spec.fingerprint(exp.cfg.profile),
        "workload_version": exp.spec.workload_version,
    }
    exp.r["sizes"] = {"onnx_bytes": m["files"]["network.onnx"]["bytes"]}
    exp.r["cache_keys"] = {"workload": key}
    return m
