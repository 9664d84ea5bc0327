"""Child side of the search: a candidate evaluated with real prover calls (its settings, calibration,
compile and the witness of every calibration input, measured with the suite's metric), and a lower
bound of a candidate's cost from gen_settings alone. Runs in the search stage's child
(zkbench.engine.search.child_stage), inside its timer and memory window."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from zkbench.engine.search.candidate import Candidate, fixed_run_args
from zkbench.engine.search.explain import worst_float_output
from zkbench.engine.search.metric import float_part, has_discrete, mismatches, tol_metric


def one_line(e: BaseException) -> str:
    """Why a candidate could not be built, in one line: as the child's replies say it
    (zkbench.engine.child.errors.one_line; the search does not import the child)."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:500]


class Evaluator:
    """Evaluations of one workload (its ONNX model, and the calibration inputs and float reference in
    `work`) with one prover; `bounds` holds every lower bound computed, as is."""

    def __init__(self, prover: Any, onnx: str, work: Path):
        self.prover, self.onnx, self.work = prover, onnx, work
        self.fixed = fixed_run_args(Path(onnx).parent)
        ref_doc = json.loads((work / "reference.json").read_text())
        self.reference, self.layout = ref_doc["calibration"], ref_doc.get("outputs")
        # no float reference (a user's model no evaluator can run): nothing to measure an error against
        self.checked = ref_doc.get("checked", True)
        self.n = len(self.reference)  # no float reference: no calibration witness to compare
        self.bounds: list[dict] = []

    def candidate(self, c: Candidate) -> dict:
        name = f"cand_s{c.scale}_b{c.decomp_base}_l{c.decomp_legs}_c{c.num_inner_cols}"
        return self.run_args(name, c.run_args(self.fixed), [c.scale], [1])

    def run_args(self, name: str, ra: dict, cal_scales: list[int] | None, cal_srm: list[int] | None) -> dict:
        """The circuit of run args `ra`, calibrated over `cal_scales` (None: ezkl's default scales), in
        folder `name`: its facts, calibration error and times, or `error` when it could not be built."""
        prover, work, n, reference, layout = self.prover, self.work, self.n, self.reference, self.layout
        d = work / name
        d.mkdir(exist_ok=True)
        settings, compiled = str(d / "settings.json"), str(d / "network.ezkl")
        try:
            t0 = time.perf_counter()
            prover.gen_settings(self.onnx, settings, ra)
            t1 = time.perf_counter()
            prover.calibrate(str(work / "calibration.json"), self.onnx, settings, cal_scales, cal_srm)
            t2 = time.perf_counter()
            prover.compile(self.onnx, compiled, settings)
            errors, proven, wrong = [], [], 0
            for i in range(n):
                prover.witness(str(work / f"calibration_{i}.json"), compiled, str(d / f"witness_{i}.json"))
                proven.append([v for o in prover.read_outputs(str(d / f"witness_{i}.json")) for v in o])
                errors.append(tol_metric(float_part(proven[-1], layout), float_part(reference[i], layout)))
                wrong += mismatches(proven[-1], reference[i], layout)[0]
        except BaseException as e:  # noqa: BLE001 - pyo3 panics are BaseException
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            return {"error": one_line(e)}
        s = json.loads(Path(settings).read_text())
        measured: dict = {}
        if n:
            worst = max(range(n), key=lambda i: errors[i])
            measured = {"tol_metric": errors[worst], **worst_float_output(proven[worst], reference[worst], layout)}
            if has_discrete(layout):  # only then: an all-float evaluation reads as before
                measured["discrete_mismatches"] = wrong
                measured["discrete_values"] = n * mismatches(proven[0], reference[0], layout)[1]
        return {
            **prover.circuit_facts(s),
            **measured,
            "settings_path": settings,
            "gen_settings_s": t1 - t0,
            "calibrate_s": t2 - t1,
            "evaluate_s": time.perf_counter() - t0,  # settings, calibration, compile and every witness
        }

    def bound(self, c: Candidate) -> dict | None:
        """gen_settings alone: what the candidate's calibrated circuit costs at least (None: unknown)."""
        settings = self.work / f"bound_{c.stem}.json"
        try:
            self.prover.gen_settings(self.onnx, str(settings), c.run_args(self.fixed))
        except BaseException as e:  # noqa: BLE001 - pyo3 panics are BaseException
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            self.bounds.append({**c.as_dict(), "error": f"{type(e).__name__}: {str(e)[:200]}"})
            return None  # the evaluation will say why it cannot be built
        b = self.prover.cost_lower_bound(json.loads(settings.read_text()))
        self.bounds.append({**c.as_dict(), **b})
        return b
