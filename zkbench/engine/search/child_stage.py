"""Child side of the search: the search stage as its child runs it (zkbench.engine.child.prover_ops.op_search),
the search (zkbench.engine.search.algorithm) over real prover evaluations (evaluate) kept in the
candidate store (store), or ezkl's own circuit where nothing is searched."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zkbench.engine.search.algorithm import search
from zkbench.engine.search.evaluate import Evaluator
from zkbench.engine.search.metric import meets
from zkbench.engine.search.store import CandidateStore


def search_stage(
    prover: Any,
    onnx: str,
    work_dir: str,
    tol: float,
    scales: list[int],
    decompositions: list[list[int]],
    inner_cols: list[int],
    scan: str = "bisect",
    candidate_dir: str | None = None,
    ezkl_tolerance: float | None = None,
) -> tuple[dict, Callable[[], None]]:
    """The search stage's (result, timed call): the tolerance search with real prover evaluations. With
    candidate_dir, every evaluation is kept there (one JSON per candidate, keyed by the workload and
    prover the parent named the folder after) and one made before is read instead of redone.

    With ezkl_tolerance (--tolerance-mode ezkl) there is no search: the one candidate is ezkl's own
    circuit for that tolerance run arg, calibrated by ezkl over its default scales, as the original
    study built it; its calibration error is still measured with the suite's metric.

    Without a float reference (a user's model no evaluator can run: reference.json's `checked`
    false) there is nothing to measure an error against, so no search either: the one candidate is
    ezkl's own default circuit (default run args, calibrate_settings over its default scales), what
    ezkl's own pipeline would prove. Discrete outputs (the reference's layout) are compared exactly:
    a candidate's `discrete_mismatches` must be 0 to meet tol (metric.meets)."""
    evaluator = Evaluator(prover, onnx, Path(work_dir))
    store = CandidateStore(Path(candidate_dir) if candidate_dir else None)
    box: dict = {}

    def call():
        if ezkl_tolerance is not None or not evaluator.checked:
            box.update(ezkl_circuit(evaluator, tol, ezkl_tolerance))
            return
        outcome = search(
            tol,
            lambda c: store.evaluate_and_keep(c, evaluator.candidate),
            scales,
            [(x[0], x[1]) for x in decompositions],
            inner_cols,
            scan=scan,
            known=store.known,
            bound=evaluator.bound,
        )
        box["candidates"], box["chosen"], box["fallback"] = outcome
        box["lock_wait_s"] = store.lock_wait_s
        box["bounds"] = evaluator.bounds

    return box, call


def ezkl_circuit(evaluator: Evaluator, tol: float, ezkl_tolerance: float | None) -> dict:
    """The one candidate where nothing is searched: ezkl's own circuit for its tolerance run arg (or
    its default one), calibrated by ezkl over its default scales."""
    checked = evaluator.checked
    ra = {"tolerance": ezkl_tolerance} if ezkl_tolerance is not None else {}
    # what ezkl chose is read back from its settings (scale, decomposition, columns)
    r = evaluator.run_args("ezkl", ra, None, None)
    if "error" not in r:
        chosen = json.loads(Path(r["settings_path"]).read_text())["run_args"]
        r.update({k: chosen[k] for k in ("decomp_base", "decomp_legs", "num_inner_cols")})
        r["scale"] = chosen["input_scale"]
    r.update(run_args=ra, calibrate_scales=None, calibrate_srm=None, cached=False)
    r["meets_tol"] = checked and meets(r, tol)  # unchecked: nothing was met, nothing missed
    return {
        "candidates": [r],
        "chosen": None if "error" in r else 0,
        "lock_wait_s": 0.0,
        "fallback": None,
        "bounds": [],
    }
