"""Why a search missed its target (explain_miss), and which output was off the most (worst_output)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from zkbench.engine.search.metric import discrete_mask


def explain_miss(candidates: list[dict], target: float) -> str:
    """Why no candidate met the target, for the failure message: the best error reached, and
    whether raising the scale could help. Quantization error roughly halves per scale step; when
    the error of the highest scales tried is not clearly below that of the lowest ones, the
    circuit computes something else than the ONNX model (an operator ezkl reads differently), so
    a larger scale will not help. Names the worst output (index, float and proven value)."""
    built = [c for c in candidates if "tol_metric" in c and "error" not in c]  # not the pruned ones
    if not built:
        errors = [c["error"] for c in candidates if "error" in c]
        last = errors[-1] if errors else "no candidate was tried"
        return f"every candidate failed to build: {last}"
    best = min(built, key=lambda c: (c.get("discrete_mismatches") or 0, c["tol_metric"]))
    text = f"best was {best['tol_metric']:.3g}% at scale {best['scale']}"
    if best.get("discrete_mismatches"):
        text += (
            f" with {best['discrete_mismatches']} of {best['discrete_values']} discrete output values "
            "(labels, comparisons) unlike the reference on the calibration inputs"
        )
    by_structure: dict[tuple, list[dict]] = {}
    for c in built:
        by_structure.setdefault((c["decomp_base"], c["decomp_legs"], c.get("num_inner_cols")), []).append(c)
    flat = []
    for runs in by_structure.values():
        runs = sorted(runs, key=lambda c: c["scale"])
        if len(runs) < 2 or runs[-1]["scale"] - runs[0]["scale"] < 3:
            continue
        half = len(runs) // 2
        low = min(c["tol_metric"] for c in runs[:half])
        high = min(c["tol_metric"] for c in runs[half:])
        # over 3 or more scale steps the error should have fallen far more than by half
        flat.append(math.isfinite(high) and high > 0.5 * low)
    if flat and all(flat):
        worst = ""
        if best.get("worst_index") is not None:
            worst = (
                f"; largest error at output {best['worst_index']}: float {best['worst_float']:.6g}, "
                f"proven {best['worst_proven']:.6g}"
            )
        text += (
            f"; the error does not fall as the scale grows (scales {min(c['scale'] for c in built)}-"
            f"{max(c['scale'] for c in built)}): a mismatch between ezkl's circuit and the ONNX model, "
            f"not quantization, so raising the scale will not help{worst}"
        )
    return text


def worst_output(y_zk: Sequence[float], y_ref: Sequence[float]) -> dict:
    """The output with the largest error: its flat index, float value and proven value."""
    zk, ref = np.asarray(y_zk, dtype=np.float64).ravel(), np.asarray(y_ref, dtype=np.float64).ravel()
    if not ref.size:
        return {}
    i = int(np.argmax(np.abs(zk - ref)))
    return {"worst_index": i, "worst_float": float(ref[i]), "worst_proven": float(zk[i])}


def worst_float_output(y_zk: list[float], y_ref: list[float], layout: list[dict] | None) -> dict:
    """worst_output over the float outputs, its index into all of the sample's outputs."""
    floats = np.flatnonzero(~discrete_mask(layout, len(y_ref)))
    worst = worst_output([y_zk[i] for i in floats], [y_ref[i] for i in floats])
    return {**worst, "worst_index": int(floats[worst["worst_index"]])} if worst else {}
