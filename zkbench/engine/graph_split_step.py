"""Parent side: an experiment proved as N consecutive segments of its graph (`--split N` on a model
that has no tiles: the CNNs, LayerNorm, a model of your own). ezkl's proof-splitting recipe:

- the model's ONNX is cut where one tensor alone crosses (zkbench.layers.graph_split), each
  segment a model of its own, run as an experiment of its own (a zkbench.layers.custom.CustomSpec:
  search, keys, witness, prove, verify, soundness), one after another;
- each cut tensor is committed (polycommit visibility): the first part's output, every later
  part's input and all but the last one's output; the model's own input and output stay as the
  backend proves them;
- part k's inputs are part k - 1's proven outputs, value for value (its witnesses' outputs, which
  part k quantizes at part k - 1's output scale: the same field elements), so its proof can be over
  exactly what part k - 1's proof committed; zkbench.engine.graph_link checks it, and a part proved
  on anything else fails the experiment (stage link);
- one domain: a KZG commitment of the same values over 2^17 rows differs from one over 2^18, so every
  part is laid out at the largest logrows any part needs (RunConfig.commit_logrows; CNN_Strided at
  the paper's shapes: parts of 18 and 19). A part's need is known after its search, before its keys;
  a later part needing more sends the split back to its first part, proved again at that logrows;
- accuracy: the suite's metric on the last part's outputs (the proved sample's from its verified
  proof) against the whole model's float outputs, on every held-out input.

The calibration inputs of a later part are the float activations at its cut (the previous part's
float reference), its held-out inputs the previous part's proven outputs.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from zkbench.backends import get_backend
from zkbench.engine.config import RunConfig
from zkbench.engine.result_parts import base_result
from zkbench.engine.search.metric import accuracy, top1_agreement
from zkbench.engine.split_step import combine, failed, judged, proof_io
from zkbench.engine.stage_worker import StageFailed
from zkbench.layers import Spec
from zkbench.layers.custom import RUN_ARGS_FILE, CustomSpec
from zkbench.layers.graph_split import Segment, extract, segments

# the backends whose prover swaps commitments into a proof (ezkl 23's swap_proof_commitments), the
# graph link's check; the older releases' adapters do not speak it yet
LINKABLE = ("ezkl-23", "ezkl-23-noio")


def linkable(config: RunConfig) -> bool:
    """Whether this run's backend can prove a graph split (its parts linked by commitments)."""
    return config.backend in LINKABLE


def visibility(k: int, n: int) -> dict:
    """Part k of n commits to each cut tensor it touches; the model's own input and output are left
    as the backend proves them."""
    ra = {}
    if k > 0:
        ra["input_visibility"] = "polycommit"
    if k < n - 1:
        ra["output_visibility"] = "polycommit"
    return ra


def part_name(name: str, k: int, n: int) -> str:
    return f"{name}__graph{k + 1}of{n}"


def samples(doc_paths: list[Path]) -> list[list[float]]:
    return [json.loads(p.read_text())["input_data"][0] for p in doc_paths]


def write_model(
    d: Path, whole_onnx: Path, seg: Segment, n: int, proven: list[list[float]], calibration: list[list[float]]
) -> None:
    """A part's model directory, as zkbench.layers.custom reads one: network.onnx, input.json (the
    proved sample), calibration.json (its calibration samples, then its other held-out ones) and
    run_args.json (its commitments)."""
    d.mkdir(parents=True)
    extract(whole_onnx, seg, d / "network.onnx")
    (d / "input.json").write_text(json.dumps({"input_data": [proven[0]]}))
    (d / "calibration.json").write_text(json.dumps({"input_data": [[v for x in calibration + proven[1:] for v in x]]}))
    (d / RUN_ARGS_FILE).write_text(json.dumps(visibility(seg.index, n)))


def run_graph_split(
    spec: Spec,
    tol: float,
    config: RunConfig,
    run_part: Callable[..., dict],
    whole_workload: Callable[[], dict],
    whole_settings: Callable[[], dict],
    part_settings: Callable[[Spec, float, RunConfig], dict],
) -> dict:
    """The split experiment's result document, its parts run by `run_part` (run_experiment).
    `whole_settings()`: the settings of the circuit the search chooses for the whole model (its
    search only, cached as a run of it caches it): every part proves at its scale. `part_settings`:
    the same for a part (probe_settings), whose logrows it needs is known before its keys."""
    n = int(config.split)
    result = base_result(spec, tol, config)
    if config.backend not in LINKABLE:
        return failed(
            result,
            "split",
            "no_split",
            f"{spec.name} splits along its graph, whose parts are linked by commitments: built for backend "
            f"{' and '.join(LINKABLE)}, not {config.backend}",
        )
    whole = Path(whole_workload()["dir"])
    try:
        segs = segments(whole / "network.onnx", n)
    except ValueError as e:
        return failed(result, "split", "no_split", f"{spec.name} cannot be split into {n} parts along its graph: {e}")
    backend = get_backend(config.backend)
    names = [part_name(spec.name, k, n) for k in range(n)]
    n_cal = config.n_calibration
    heldout = sorted(whole.glob("heldout_*.json"), key=lambda p: int(p.stem.split("_")[1]))
    proven = samples(heldout)  # the whole's held-out inputs: the first part's
    calibration = samples([whole / f"calibration_{i}.json" for i in range(n_cal)])
    try:
        # searched one part at a time, the first would choose the scale its own output needs, too
        # coarse for the rest (CNN_Strided smoke: scale 5, the second part then 7.1 % off at best)
        scale = int(whole_settings()["run_args"]["input_scale"])
    except StageFailed as e:
        return failed(result, e.stage, e.kind, f"the whole model's search, whose scale the parts prove at: {e.cause}")
    with tempfile.TemporaryDirectory(prefix=f"zkbench-graph-{result['id']}-") as tmp:
        keep = Path(tmp)

        def prove_parts(lay: int) -> tuple[list[dict], int, int | None]:
            """The parts in order, each laid out at least at logrows `lay`; stops before a part whose
            circuit needs more than the parts proved so far (their commitments are over a smaller
            domain). Returns the parts' results, the logrows they were laid out at, and the larger one
            the next part needs (None: every part ran)."""
            results: list[dict] = []
            inputs, cal = proven, calibration
            link_from, scales = None, (scale,)
            for seg, name in zip(segs, names, strict=True):
                d = keep / "models" / name
                shutil.rmtree(d, ignore_errors=True)
                write_model(d, whole / "network.onnx", seg, n, inputs, cal)
                part = CustomSpec(name, d, group=spec.group)
                cfg = replace(config, split="never", artifacts_dir=keep / "kept", link_from=link_from, scales=scales)
                try:
                    needs = int(part_settings(part, tol, cfg)["run_args"]["logrows"])  # its search, cached
                except StageFailed:
                    needs = 0  # run_part fails at the same stage and records it
                if needs > lay and results:
                    return results, lay, needs
                lay = max(lay, needs)
                results.append(run_part(name, tol, replace(cfg, commit_logrows=lay), spec=part))
                if results[-1]["status"] != "ok":
                    break
                kept = keep / "kept" / name
                settings = json.loads((kept / "settings.json").read_text())
                # the next part: proved on this one's proven outputs, at its output scale (the same field elements)
                witnesses = sorted(kept.glob("witness_[0-9]*.json"), key=lambda p: int(p.stem.split("_")[1]))
                inputs = [[v for o in backend.read_outputs(str(w)) for v in o] for w in witnesses]
                ref = json.loads(
                    (
                        config.cache_dir / "workload" / results[-1]["cache_keys"]["workload"] / "reference.json"
                    ).read_text()
                )
                cal = ref["calibration"]  # float activations at the cut
                link_from, scales = kept / "witness_0.json", (int(settings["model_output_scales"][0]),)
            return results, lay, None

        lay, relaid = 0, []
        for _ in range(n):  # each new round lays every part out at a larger logrows: at most n - 1 rounds more
            results, used, larger = prove_parts(lay)
            if larger is None:
                break
            relaid.append({"parts_proved": [r["name"] for r in results], "logrows": used, "then_needed": larger})
            lay = larger
        how = "along the graph: " + ", ".join(f"{s.input} -> {s.output}" for s in segs)
        combined = combine(result, names, how, results)
        if combined["status"] != "ok":
            return combined
        combined["split"]["linked"] = {
            "checked": "each later part's proof over the previous part's committed outputs (swap_proof_commitments, verified)",
            "ok": all(r["commitments"].get("linked", {"ok": True})["ok"] for r in results),
            "per_part": [r["commitments"] for r in results],
        }
        combined["split"]["segments"] = [{"input": s.input, "output": s.output, "cost": s.cost} for s in segs]
        combined["split"]["scale"] = {"input_scale": scale, "from": "the whole model's search"}
        combined["split"]["domain"] = {
            "logrows": max(r["circuit"]["logrows"] for r in results),
            "why": "every part laid out at the largest logrows any part needs: commitments over one domain",
            "proved_again": relaid,  # the rounds whose parts were proved at a smaller logrows, then again
        }
        return measure_accuracy(combined, spec, keep / "kept" / names[-1], whole, backend, config, tol)


def measure_accuracy(result: dict, spec: Spec, last: Path, whole: Path, backend, config: RunConfig, tol: float) -> dict:
    """The last part's outputs against the whole model's float outputs (the proved sample's taken from
    its verified proof's public outputs)."""
    ref_doc = json.loads((whole / "reference.json").read_text())
    settings = json.loads((last / "settings.json").read_text())
    _, from_proof = proof_io(json.loads((last / "proof.json").read_text()), settings, 0, backend)
    outputs = [from_proof.tolist()]
    for i in range(1, len(ref_doc["heldout"])):
        outputs.append([v for o in backend.read_outputs(str(last / f"witness_{i}.json")) for v in o])
    pairs = list(zip(outputs, ref_doc["heldout"], strict=True))
    acc = {
        "checked": True,
        "reference": ref_doc.get("evaluator") or "torch",
        **accuracy(pairs, ref_doc.get("outputs")),
        "tol": tol,
    }
    acc["through_parts"] = len(result["split"]["per_part"])
    if spec.classifier:
        acc["top1_agreement"] = top1_agreement(pairs)
    return judged(
        result, acc, config, tol, "the last part's outputs are off by {:.3g}% of the whole model's float outputs"
    )
