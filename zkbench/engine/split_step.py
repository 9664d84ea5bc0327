"""Parent side: an experiment proved as N parts (`--split N`). The layer is tiled
(zkbench.layers.split: each part the same op with its slice of the layer's weights, on the part of
the input its outputs depend on); every part runs as an experiment of its own (export, search,
keys, witness, prove, verify, soundness), and the split's result puts them together:

- linked: each part's proof proves its outputs for the input it was given, so the parts prove the
  layer only if every proof's public inputs are its slice of the layer's input. The check reads
  them from each verified proof (the instances the verifier checked), dequantized, against the
  whole input's slice; a part proved on any other input fails the experiment (stage `link`);
- accuracy: the suite's metric on the reassembled output against the whole layer's float outputs,
  on every held-out input (the proved sample's outputs taken from the proofs themselves);
- stages: a stage's time is the parts' times summed (they run one after another), its peak the
  largest part's; sizes summed; `circuit` is the largest part's, with `parts`; `split` lists every
  part (circuit, sizes, peaks, times, verdicts).

The parts reuse the engine unchanged; `run_part` is zkbench.engine.experiment.run_experiment,
passed in so that this module does not import it back.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from zkbench.backends import definition, get_backend
from zkbench.engine.config import RunConfig
from zkbench.engine.result_parts import base_result
from zkbench.engine.search.metric import accuracy
from zkbench.engine.split_choice import RULE, choose, ladder_counts, part_ops, probe_count
from zkbench.engine.stage_worker import StageFailed
from zkbench.layers import LayerSpec, Spec
from zkbench.layers.split import PartSpec, Tiling, parts_of, reassemble, tile_input
from zkbench.resources.admission import default_budget_bytes

SUMMED_SIZES = ("onnx_bytes", "compiled_bytes", "pk_bytes", "vk_bytes", "proof_bytes")
MEMORY_DEATHS = ("out_of_memory", "killed")  # zkbench.engine.stage_worker's kinds of a child dead of memory
MAX_RESPLITS = 4  # counts tried after the first before a run in memory trouble is given up as it is
KILLED_NEAR_BUDGET = 0.5  # a SIGKILL counts as memory's when the predicted peak was at least this share of the budget


def wanted(config: RunConfig, spec) -> bool:
    """Split this experiment: --split N with N > 1 (a part is never split again; a model with no
    tiles fails in run_split with the reason)."""
    return isinstance(config.split, int) and config.split > 1 and not isinstance(spec, PartSpec)


def auto(config: RunConfig, spec) -> bool:
    """--split auto decides for this experiment: a registry layer (a user's model and a part run whole)."""
    return config.split == "auto" and isinstance(spec, LayerSpec)


def budget_of(config: RunConfig) -> tuple[int, str]:
    """The memory one part may use, and where that figure comes from: --max-memory (else the
    machine's admission budget, else RAM less the reserve), and a GPU's own memory when the worker
    proves on one (the host-RSS prediction standing in for GPU memory, which is not modelled)."""
    if config.max_memory_bytes:
        budget, where = config.max_memory_bytes, "--max-memory"
    elif config.memory_budget:
        budget, where = config.memory_budget.total_bytes, "the machine's memory budget (RAM less a reserve)"
    else:
        budget, where = default_budget_bytes(), "RAM less a reserve"
    on_gpu = config.gpu.get("mode") == "gpu" and definition(config.backend).gpu
    gpu_bytes = config.gpu.get("memory_bytes") if on_gpu else None
    if gpu_bytes and gpu_bytes < budget:
        budget, where = gpu_bytes, f"the GPU's memory ({config.gpu.get('name')}; predicted host peak as its proxy)"
    return budget, where


def memory_trouble(result: dict, budget_bytes: int) -> str | None:
    """Why a run (whole or split) should be split further: a part (or the whole) skipped because its
    predicted peak is over the budget, or dead of memory (a MemoryError; a SIGKILL, the OOM killer's
    signal, only when the dead run's predicted peak was near the budget: a kill far below it is
    someone else's); None otherwise."""
    if result["status"] == "skipped" and "predicted peak" in (result.get("skip_reason") or ""):
        return result["skip_reason"]
    failure = result.get("failure") or {}
    if result["status"] != "failed" or failure.get("kind") not in MEMORY_DEATHS:
        return None
    if failure["kind"] == "killed":
        dead = [p for p in (result.get("split") or {}).get("per_part", []) if p.get("status") == "failed"]
        prediction = (dead[-1] if dead else result).get("prediction") or {}
        if prediction.get("peak_rss_bytes", 0) < KILLED_NEAR_BUDGET * budget_bytes:
            return None
    return f"{failure['stage']}: {failure['cause']}"


def run_auto(
    spec: LayerSpec,
    tol: float,
    config: RunConfig,
    run_whole: Callable[[int | None], dict],
    run_part: Callable[..., dict],
    whole_workload: Callable[[], dict],
    probe: Callable[[LayerSpec | PartSpec], dict],
    predict: Callable[[dict], dict],
    unpredictable: str | None = None,
) -> dict:
    """--split auto: the fewest parts the predictor says fit (split_choice), run; a run that still
    meets memory trouble is split further (the next count up), never retried as it was.
    `unpredictable`: why this run's backend has no prediction (then one circuit, as under never)."""
    budget, where = budget_of(config)
    why_whole = None
    try:
        ladder_counts(spec, config.profile)
    except ValueError as e:  # no tiles: one circuit, under the engine's own admission
        why_whole = f"no tile split: {e}"
    if why_whole is None and unpredictable is not None:
        why_whole = f"nothing to choose parts by: {unpredictable}"
    if why_whole:
        result = run_whole(None)
        result["split_choice"] = {"parts": 1, "budget_bytes": budget, "budget_from": where, "why": why_whole}
        return result
    start, attempts, weighed = 1, list[dict](), list[dict]()
    if probe_count(spec, config.profile, ladder_counts(spec, config.profile)) == 1:
        # the whole is small enough to be its own probe: run it, admitted by the budget (its own
        # prediction after compile, before any key); only a whole that does not fit is split, so a
        # run that fits measures its own export and search rather than reading a probe's from the cache
        result = run_whole(budget)
        result["split_choice"] = {**whole_record(spec, config.profile, result, budget), "budget_from": where}
        trouble = memory_trouble(result, budget)
        if trouble is None:
            return result
        attempts.append({"parts": 1, "trouble": trouble})
        start, weighed = 2, result["split_choice"]["ladder"]
    while True:
        try:
            choice = choose(spec, config.profile, budget, probe, predict, start=start)
        except StageFailed as e:
            return failed(base_result(spec, tol, config), e.stage, e.kind, f"probe for --split auto: {e.cause}")
        record = {**choice.record(), "budget_from": where, "earlier_attempts": attempts}
        record["ladder"] = weighed + record["ladder"]  # the whole's own rung first, when it ran
        if choice.parts is None:
            result = base_result(spec, tol, config)
            why = (
                choice.why_none()
                if choice.ladder or not attempts
                else f"{attempts[-1]['parts']} parts, the most it tiles into, still do not fit: {attempts[-1]['trouble']}"
            )
            result.update(status="skipped", skip_reason=f"--split auto: {why}", split_choice=record)
            result.setdefault("stages", {})
            return result
        if choice.parts == 1:
            result = run_whole(budget)
        else:
            result = run_split(spec, tol, replace(config, split=choice.parts), run_part, whole_workload)
        result["split_choice"] = record
        trouble = memory_trouble(result, budget)
        if trouble is None:
            return result
        attempts.append({"parts": choice.parts, "trouble": trouble})
        if len(attempts) > MAX_RESPLITS:  # memory trouble at every count tried: it is not the size
            result["split_choice"]["gave_up"] = f"memory trouble at {len(attempts)} part counts in a row"
            return result
        start = choice.parts + 1


def whole_record(spec: LayerSpec, profile: str, result: dict, budget_bytes: int) -> dict:
    """split_choice for a whole run as its own probe: the one rung weighed is the whole's own
    prediction (made by the run after compile); parts 1 when it fitted, None when it did not."""
    prediction, circuit = result.get("prediction") or {}, result.get("circuit") or {}
    rung = []
    if "peak_rss_bytes" in prediction and "logrows" in circuit:
        rung = [
            {
                "parts": 1,
                "logrows": circuit["logrows"],
                "num_rows": circuit.get("num_rows"),
                "predicted_peak_rss_bytes": prediction["peak_rss_bytes"],
                "predicted_prove_seconds": prediction.get("prove_seconds"),
                "fits": prediction["peak_rss_bytes"] <= budget_bytes,
            }
        ]
    fitted = not rung or rung[0]["fits"]
    return {
        "parts": 1 if fitted else None,
        "budget_bytes": budget_bytes,
        "probe": {"spec": spec.name, "parts": 1, "ops": part_ops(spec, profile, 1), "run": "the whole, as the run"},
        "ladder": rung,
        "rule": RULE,
        "earlier_attempts": [],
    }


def no_tiles(spec: Spec, profile: str) -> str | None:
    """Why `spec` has no tiles (then it splits along its graph); None when it tiles."""
    if not isinstance(spec, LayerSpec):
        return "a model of your own has no tiles"
    try:
        ladder_counts(spec, profile)
    except ValueError as e:
        return str(e)
    return None


def run_split(
    spec: Spec,
    tol: float,
    config: RunConfig,
    run_part: Callable[..., dict],
    whole_workload: Callable[[], dict],
) -> dict:
    """The split experiment's result document. `whole_workload()`: the whole layer's workload entry
    (its inputs and float outputs), as the engine's workload step caches it."""
    result = base_result(spec, tol, config)
    assert isinstance(spec, LayerSpec), "a model with no tiles splits along its graph (graph_split_step)"
    try:
        parts = parts_of(spec, config.profile, int(config.split))
    except ValueError as e:
        return failed(result, "split", "no_split", f"{spec.name} cannot be split into {config.split} parts: {e}")
    t = parts[0].tiling(config.profile)
    with tempfile.TemporaryDirectory(prefix=f"zkbench-split-{result['id']}-") as keep:
        part_cfg = replace(config, split="never", artifacts_dir=Path(keep))
        results = []
        for p in parts:  # the first part that is not ok ends the split: the rest could not save it
            results.append(run_part(p.name, tol, part_cfg, spec=p))
            if results[-1]["status"] != "ok":
                break
        combined = combine(result, [p.name for p in parts], t.how, results)
        if combined["status"] != "ok":
            return combined
        whole = whole_workload()
        return check_and_measure(combined, t, parts, Path(keep), Path(whole["dir"]), config, tol)


def failed(result: dict, stage: str, kind: str, cause: str) -> dict:
    result.update(status="failed", failure={"stage": stage, "kind": kind, "cause": cause})
    return result


def combine(result: dict, names: list[str], how: str, results: list[dict]) -> dict:
    """The parts' records (the parts named `names`, split as `how` says) as one: status, stages,
    sizes, circuit, soundness and the split block."""
    n = len(names)
    result["split"] = {
        "parts": n,
        "how": how,
        "per_part": [part_record(name, r) for name, r in zip(names, results, strict=False)]
        + [
            {"name": name, "status": "not run", "reason": "an earlier part was not ok"}
            for name in names[len(results) :]
        ],
    }
    for k, (name, r) in enumerate(zip(names, results, strict=False)):
        if r["status"] != "ok":
            what = f"part {k + 1} of {n} ({name})"
            if r["status"] == "skipped":
                result.update(status="skipped", skip_reason=f"{what}: {r['skip_reason']}")
                return result
            f = r["failure"]
            return failed(result, f["stage"], f["kind"], f"{what}: {f['cause']}")
    result["stages"] = {s: summed_stage([r["stages"][s] for r in results]) for s in results[0]["stages"]}
    result["sizes"] = {k: sum(r["sizes"].get(k, 0) for r in results) for k in SUMMED_SIZES if k in results[0]["sizes"]}
    largest = max(results, key=lambda r: (r["circuit"]["logrows"], r["circuit"]["num_rows"]))
    result["circuit"] = {**largest["circuit"], "parts": n}
    result["srs"] = {**largest["srs"], "parts_logrows": sorted({r["srs"]["logrows"] for r in results})}
    # every part searched on its own: the grid is theirs, no one candidate is the split's choice
    result["search"] = {
        "grid": results[0]["search"]["grid"],
        "chosen": None,
        "candidates": [],
        "parts": [r["search"]["candidates"][r["search"]["chosen"]] for r in results],
    }
    result["verified"] = all(r["verified"] for r in results)
    result["soundness"] = {
        f"{check} (part {k + 1})": v for k, r in enumerate(results) for check, v in r["soundness"].items()
    }
    result["soundness_checked"] = all(r["soundness_checked"] for r in results)
    result["workload"] = {k: v for k, v in results[0]["workload"].items() if k != "part"}
    result["gpu"] = split_gpu([r["gpu"] for r in results if "gpu" in r])
    result["status"] = "ok"
    return result


def split_gpu(blocks: list[dict]) -> dict:
    """The parts' GPU blocks as one: used when any part's prover used the GPU, not used when none
    did, unknown otherwise; the GPU memory peak per stage the largest part's; each part's note kept."""
    if not blocks:
        return {"mode": "cpu", "used_by_prover": None, "note": "no part recorded its GPU use"}
    used = [b.get("used_by_prover") for b in blocks]
    peaks: dict[str, int | None] = {}
    for b in blocks:
        for stage, v in (b.get("prover_peak_mem_bytes") or {}).items():
            if v is None:
                peaks.setdefault(stage, None)
            else:
                peaks[stage] = max(peaks.get(stage) or 0, v)
    return {
        **{
            k: v for k, v in blocks[0].items() if k not in ("stages", "note", "used_by_prover", "prover_peak_mem_bytes")
        },
        "used_by_prover": True if any(u is True for u in used) else False if all(u is False for u in used) else None,
        "prover_peak_mem_bytes": peaks,
        "note": f"{len(blocks)} parts: " + "; ".join(f"part {i + 1}: {b.get('note')}" for i, b in enumerate(blocks)),
    }


def part_record(name: str, r: dict) -> dict:
    """What the split block says of one part."""
    rec = {"name": name, "status": r["status"]}
    if r["status"] != "ok":
        reason = (r.get("failure") or {}).get("cause") or r.get("skip_reason")
        return {**rec, "reason": reason, "prediction": r.get("prediction")}
    stages = r["stages"]
    return {
        **rec,
        "logrows": r["circuit"]["logrows"],
        # laid out larger than its rows need: a graph split's parts commit over one domain
        **(
            {"raised_from_logrows": r["circuit"]["raised_from_logrows"]}
            if "raised_from_logrows" in r["circuit"]
            else {}
        ),
        "num_rows": r["circuit"]["num_rows"],
        "input_scale": r["circuit"]["input_scale"],
        # who sees the part's input and output: public, or committed (a graph split's cut tensors)
        "visibility": {k: r["circuit"]["constraints"].get(f"{k}_visibility") for k in ("input", "output", "param")},
        "pk_bytes": r["sizes"]["pk_bytes"],
        "proof_bytes": r["sizes"]["proof_bytes"],
        "setup_peak_rss_bytes": stages["setup"]["peak_rss_bytes"],
        "prove_peak_rss_bytes": stages["prove"]["peak_rss_bytes"],
        "setup_s": statistics.median(stages["setup"]["seconds"]),
        "prove_s": statistics.median(stages["prove"]["seconds"]),
        "verified": r["verified"],
        "soundness_checked": r["soundness_checked"],
        "tol_metric": r["accuracy"]["tol_metric"],
        "prediction": r.get("prediction"),
    }


def summed_stage(records: list[dict]) -> dict:
    """One stage of N parts run one after another: per round the parts' times summed, the peak the
    largest part's (each part's stage ran in a child of its own), cached only if every part's was."""
    rounds = min(len(r["seconds"]) for r in records)
    peak = max(records, key=lambda r: r["peak_rss_bytes"])
    out = {
        "seconds": [sum(r["seconds"][i] for r in records) for i in range(rounds)],
        "peak_rss_bytes": peak["peak_rss_bytes"],
        "cached": all(r["cached"] for r in records),
        "parts": len(records),
    }
    if all("cpu_seconds" in r for r in records):
        out["cpu_seconds"] = [sum(r["cpu_seconds"][i] for r in records) for i in range(rounds)]
    for k in ("base_rss_bytes", "growth_rss_bytes", "rss_method"):
        if k in peak:
            out[k] = peak[k]
    return out


def check_and_measure(
    result: dict, t: Tiling, parts: list[PartSpec], keep: Path, whole_dir: Path, config: RunConfig, tol: float
) -> dict:
    """The linking check on the proved sample, then the accuracy of the reassembled outputs."""
    ref_doc = json.loads((whole_dir / "reference.json").read_text())
    n_samples = len(ref_doc["heldout"])
    whole_inputs = [
        torch.tensor(json.loads((whole_dir / f"heldout_{i}.json").read_text())["input_data"][0]).reshape(t.input_shape)
        for i in range(n_samples)
    ]
    backend = get_backend(config.backend)
    proved, bad = {}, []
    for p in parts:
        expected = tile_input(whole_inputs[0], t, p.tile(config.profile)).flatten()
        proof = json.loads((keep / p.name / "proof.json").read_text())
        settings = json.loads((keep / p.name / "settings.json").read_text())
        inputs, proved[p.name] = proof_io(proof, settings, expected.numel(), backend)
        if not same_input(inputs, expected, settings):
            bad.append(f"part {p.k + 1} of {p.n} ({p.name}): its proof's public inputs are not its slice of the input")
    result["split"]["linked"] = {
        "checked": "every part proof's public inputs against its slice of the input",
        "ok": not bad,
    }
    if bad:
        return failed(result, "link", "not_linked", "; ".join(bad))
    outputs = []
    for i in range(n_samples):
        pieces = []
        for p in parts:
            if i == 0:  # the proved sample: the outputs the verified proof carries
                pieces.append(proved[p.name])
            else:
                pieces.append(
                    torch.tensor([v for o in backend.read_outputs(str(keep / p.name / f"witness_{i}.json")) for v in o])
                )
        outputs.append(reassemble(pieces, t).flatten().tolist())
    pairs = list(zip(outputs, ref_doc["heldout"], strict=True))
    acc = {"checked": True, "reference": "torch", **accuracy(pairs, None), "tol": tol, "reassembled": True}
    return judged(result, acc, config, tol, "the reassembled outputs are off by {:.3g}% of the float outputs")


def judged(result: dict, acc: dict, config: RunConfig, tol: float, off_by: str) -> dict:
    """A split's accuracy block judged against tol (the parts' worst error beside it); failed at stage
    accuracy when missed, `off_by` (a format of the metric) saying what was off."""
    acc["suite_tolerance_met"] = acc["tolerance_met"] = acc["tol_metric"] <= tol
    acc["tolerance_mode"] = config.tolerance_mode
    acc["tol_metric_parts_max"] = max(p["tol_metric"] for p in result["split"]["per_part"])
    result["accuracy"] = acc
    if not acc["tolerance_met"]:
        return failed(
            result, "accuracy", "tolerance_not_met", f"{off_by.format(acc['tol_metric'])}, above tol {tol:g}%"
        )
    return result


def same_input(proved: torch.Tensor, expected: torch.Tensor, settings: dict) -> bool:
    """A proof's public inputs are `expected` (float) as the circuit quantized them: as many values,
    each within half a quantization step of the circuit's input scale."""
    return proved.numel() == expected.numel() and not bool(
        (proved - expected).abs().max() > 0.5 / 2 ** input_scale(settings)
    )


def input_scale(settings: dict) -> int:
    return settings["model_input_scales"][0]


def proof_io(proof: dict, settings: dict, n_inputs: int, backend) -> tuple[torch.Tensor, torch.Tensor]:
    """A proof's public values (one instance column: the inputs, then the outputs) as floats,
    dequantized at the circuit's input and output scales."""
    m = backend.field_modulus
    values = [v - m if v > m // 2 else v for column in backend.public_values(proof) for v in column]
    ins, outs = values[:n_inputs], values[n_inputs:]
    out_scale = settings["model_output_scales"][0]
    return (
        torch.tensor([v / 2 ** input_scale(settings) for v in ins], dtype=torch.float64),
        torch.tensor([v / 2**out_scale for v in outs], dtype=torch.float64),
    )
