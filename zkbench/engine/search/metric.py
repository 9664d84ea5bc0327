"""The suite's own accuracy tolerance (ezkl 23 has none): the metric, and when a candidate meets it.

tol metric (percent): max_i |y_zk_i - y_i| / max_j |y_j| * 100 over one sample's float outputs;
over a set of samples the worst sample counts. A circuit meets tol when that number is <= tol.
Discrete outputs (integer or bool: class labels, comparisons, indices), where one flipped value
would be "100 %", are compared by exact agreement instead (`agreement`): the share of values equal
to the reference, and which differ. The workload's output layout (reference.json's "outputs": name,
size, discrete per model output) says which values are which; without one, every value is float.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def tol_metric(y_zk: Sequence[float] | np.ndarray, y_ref: Sequence[float] | np.ndarray) -> float:
    zk, ref = np.asarray(y_zk, dtype=np.float64).ravel(), np.asarray(y_ref, dtype=np.float64).ravel()
    if zk.shape != ref.shape:
        raise ValueError(f"proven outputs have {zk.size} values, float outputs {ref.size}")
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    err = float(np.abs(zk - ref).max()) if ref.size else 0.0
    if scale == 0.0:
        return 0.0 if err == 0.0 else math.inf
    return err / scale * 100.0


def discrete_mask(layout: list[dict] | None, n: int) -> np.ndarray:
    """Per flat output value (the model's outputs one after another): True where it is discrete.
    No layout (the registry's torch layers): every value is float."""
    if not layout:
        return np.zeros(n, dtype=bool)
    mask = np.concatenate([np.full(o["size"], bool(o["discrete"])) for o in layout])
    if mask.size != n:
        raise ValueError(f"proven outputs have {n} values, the model's outputs {mask.size}")
    return mask


def float_part(y: Sequence[float] | np.ndarray, layout: list[dict] | None) -> np.ndarray:
    a = np.asarray(y, dtype=np.float64).ravel()
    return a[~discrete_mask(layout, a.size)]


def has_discrete(layout: list[dict] | None) -> bool:
    return any(o["discrete"] and o["size"] for o in layout or ())


def mismatches(y_zk: Sequence[float], y_ref: Sequence[float], layout: list[dict] | None) -> tuple[int, int]:
    """(discrete values that differ, discrete values) of one sample."""
    zk, ref = np.asarray(y_zk, dtype=np.float64).ravel(), np.asarray(y_ref, dtype=np.float64).ravel()
    if zk.shape != ref.shape:
        raise ValueError(f"proven outputs have {zk.size} values, float outputs {ref.size}")
    mask = discrete_mask(layout, ref.size)
    return int((zk[mask] != ref[mask]).sum()), int(mask.sum())


MAX_LISTED = 20  # differing discrete values listed by name (all are counted)


def agreement(pairs: Iterable[tuple[Sequence[float], Sequence[float]]], layout: list[dict]) -> dict:
    """Exact agreement of the discrete outputs over samples: how many values, how many equal, their
    share, and which differ (sample, output name, index in it, reference and proven value; the
    first MAX_LISTED). A proven integer is read back exactly (scale 0), so equal means equal."""
    values = equal = 0
    differ: list[dict] = []
    for s, (a, b) in enumerate(pairs):
        zk, ref = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
        start = 0
        for o in layout:
            if o["discrete"]:
                for j in range(o["size"]):
                    values += 1
                    if zk[start + j] == ref[start + j]:
                        equal += 1
                    elif len(differ) < MAX_LISTED:
                        differ.append(
                            {
                                "sample": s,
                                "output": o["name"],
                                "index": j,
                                "float": ref[start + j],
                                "proven": zk[start + j],
                            }
                        )
            start += o["size"]
    return {
        "outputs": [o["name"] for o in layout if o["discrete"]],
        "values": values,
        "equal": equal,
        "agreement": equal / values if values else 1.0,
        "differ": differ,
    }


def accuracy(pairs: Iterable[tuple[Sequence[float], Sequence[float]]], layout: list[dict] | None = None) -> dict:
    """Accuracy of proven vs float outputs over samples; `pairs` are (y_zk, y_ref) per sample. The
    error metrics cover the float outputs (all of them without a layout); a model whose outputs are
    all discrete has none (`float_values` 0, every error 0)."""
    pairs = list(pairs)
    arrays = [(float_part(a, layout), float_part(b, layout)) for a, b in pairs]
    diffs = np.concatenate([np.abs(a - b) for a, b in arrays])
    refs = np.concatenate([np.abs(b) for _, b in arrays])
    # Percent error is meaningless where the float output is ~0: skip those elements.
    significant = refs > 1e-3 * refs.max() if refs.size and refs.max() > 0 else np.zeros_like(refs, bool)
    mape = float((diffs[significant] / refs[significant]).mean() * 100) if significant.any() else 0.0
    out: dict[str, Any] = {
        "samples": len(arrays),
        "float_values": int(arrays[0][1].size) if arrays else 0,  # per sample
        "max_abs_error": float(diffs.max()) if diffs.size else 0.0,
        "mean_abs_error": float(diffs.mean()) if diffs.size else 0.0,
        "tol_metric": max(tol_metric(a, b) for a, b in arrays),
        "mean_abs_percent_error": mape,
    }
    if has_discrete(layout):
        assert layout is not None
        out["discrete"] = agreement(pairs, layout)
    return out


def top1_agreement(pairs: Iterable[tuple[Sequence[float], Sequence[float]]]) -> float:
    pairs = list(pairs)
    same = sum(int(np.argmax(a) == np.argmax(b)) for a, b in pairs)
    return same / len(pairs)


def meets(evaluated: dict, tol: float) -> bool:
    """A candidate meets tol when it was built, its float outputs are within tol and every discrete
    output of the calibration inputs (`discrete_mismatches`, absent without any) equals the reference."""
    return "error" not in evaluated and evaluated["tol_metric"] <= tol and not evaluated.get("discrete_mismatches")
