"""Parent side: the experiment's accuracy step. The witness of every held-out input (the first, the
proven sample's, is the benchmarked witness stage), their proven outputs against the float reference
(zkbench.engine.search.metric), judged against the experiment's tol."""

from __future__ import annotations

import json
import re
from pathlib import Path

from zkbench.engine.search.metric import accuracy, top1_agreement
from zkbench.engine.stage_records import measured


def committed(settings: dict) -> bool:
    """Whether the circuit commits to its inputs or outputs (polycommit: a graph split's part)."""
    ra = settings["run_args"]  # the run arg is "polycommit"; settings.json calls it "KZGCommit"
    return bool(
        {"polycommit", "kzgcommit"} & {str(ra.get(v)).lower() for v in ("input_visibility", "output_visibility")}
    )


def witnesses(exp, wl: dict, circuit: dict, vk: str, srs: str) -> None:
    """Stage `witness` and the result's `accuracy` block. `vk` and `srs` make the commitments of a
    circuit that commits to its inputs or outputs (otherwise unused)."""
    d, compiled = Path(wl["dir"]), str(Path(circuit["dir"]) / "network.ezkl")
    keys = {"vk": vk, "srs": srs} if committed(json.loads((Path(circuit["dir"]) / "settings.json").read_text())) else {}
    ref_doc = json.loads((d / "reference.json").read_text())
    # the held-out samples the workload has (a user's may be fewer), counted in its manifest
    n = sum(re.fullmatch(r"heldout_\d+\.json", f) is not None for f in wl["files"])
    outputs = []
    with exp.new_worker() as w:
        for i in range(n):
            rep = w.call(
                "witness",
                data=str(d / f"heldout_{i}.json"),
                compiled=compiled,
                out=str(exp.work / f"witness_{i}.json"),
                **keys,
            )
            if i == 0:  # the witness of the proven sample, from a fresh child, is the benchmarked one
                exp.stages["witness"] = measured(rep)
            outputs.append([v for o in rep["result"]["outputs"] for v in o])
    exp.r["accuracy"] = accuracy_record(exp, ref_doc, outputs)


def accuracy_record(exp, ref_doc: dict, outputs: list[list[float]]) -> dict:
    """The proven outputs of the held-out inputs (in order) against reference.json's `ref_doc`."""
    tol, mode = exp.tol, exp.cfg.tolerance_mode
    if not ref_doc.get("checked", True):  # every stage still runs; the accuracy is not claimed
        return {
            "checked": False,
            "reason": ref_doc["reason"],
            "samples": len(outputs),
            "tol": tol,
            "tolerance_mode": mode,
        }
    pairs = list(zip(outputs, ref_doc["heldout"], strict=True))
    acc = {"checked": True, "reference": ref_doc.get("evaluator") or "torch", **accuracy(pairs, ref_doc.get("outputs"))}
    # the suite's metric is measured in both tolerance modes; in mode ezkl, the tolerance is ezkl's
    # own in-circuit check of the outputs, met when the proof verifies (prove_and_verify)
    acc["suite_tolerance_met"] = acc["tol_metric"] <= tol
    acc["tolerance_mode"] = mode
    acc["tolerance_met"] = acc["suite_tolerance_met"] if mode == "suite" else False
    acc["tol"] = tol
    acc["tol_metric_calibration"] = exp.r["search"]["candidates"][exp.r["search"]["chosen"]]["tol_metric"]
    # how much worse unseen inputs came out than the ones the search chose on: the margin's data
    acc["heldout_calibration_ratio"] = (
        acc["tol_metric"] / acc["tol_metric_calibration"] if acc["tol_metric_calibration"] > 0 else None
    )
    if exp.spec.classifier:
        acc["top1_agreement"] = top1_agreement(pairs)
    return acc
