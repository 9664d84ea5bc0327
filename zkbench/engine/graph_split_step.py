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
from dataclasses import dataclass, replace
from pathlib import Path

import onnx

from zkbench.backends import get_backend
from zkbench.engine.config import RunConfig
from zkbench.engine.result_parts import base_result
from zkbench.engine.search.metric import accuracy, top1_agreement
from zkbench.engine.split_step import combine, failed, judged, proof_io
from zkbench.engine.stage_worker import StageFailed
from zkbench.layers import Spec
from zkbench.layers.custom import RUN_ARGS_FILE, CustomSpec
from zkbench.layers.graph_split import Segment, extract, segments
from zkbench.layers.graph_tiles import GraphPart, graph_parts, layer_segments, part_model

# the backends whose prover swaps commitments into a proof (ezkl 23's swap_proof_commitments), the
# graph link's check; the older releases' adapters do not speak it yet
LINKABLE = ("ezkl-23", "ezkl-23-noio")


def linkable(config: RunConfig) -> bool:
    """Whether this run's backend can prove a graph split (its parts linked by commitments)."""
    return config.backend in LINKABLE


def visibility(part: GraphPart, graph_output: str) -> dict:
    """A part commits to each cut tensor it touches; the model's own input and output are left as
    the backend proves them."""
    ra = {}
    if part.producers != (None,):
        ra["input_visibility"] = "polycommit"
    if part.output != graph_output:
        ra["output_visibility"] = "polycommit"
    return ra


def part_name(name: str, part: GraphPart) -> str:
    return f"{name}__{part.label}"


def samples(doc_paths: list[Path]) -> list[list[float]]:
    return [json.loads(p.read_text())["input_data"][0] for p in doc_paths]


@dataclass(frozen=True)
class Produced:
    """What a proved part hands on: its kept witness of the proved sample (whose output commitment a
    later part is linked to), its proven outputs and its float outputs on the calibration samples,
    one flat list per sample, and the scale its outputs are at."""

    witness: Path
    proven: list[list[float]]
    calibration: list[list[float]]
    scale: int


def write_model(
    d: Path,
    whole_onnx: Path,
    plan: tuple[onnx.ModelProto, list[Segment], list[GraphPart]],
    index: int,
    proven: list[list[list[float]]],
    calibration: list[list[list[float]]],
) -> None:
    """A part's model directory, as zkbench.layers.custom reads one: network.onnx, input.json (the
    proved sample), calibration.json (its calibration samples, then its other held-out ones; per
    input one flat list of them all) and run_args.json (its commitments). A sample is a list of
    flat lists, one per model input."""
    model, segs, parts = plan
    part = parts[index]
    d.mkdir(parents=True)
    if part.tile is None and not part.join and len(part.inputs) == 1:
        extract(whole_onnx, segs[part.segment], d / "network.onnx")  # a segment as it is
    else:
        onnx.save(part_model(model, segs, parts, index), str(d / "network.onnx"))
    (d / "input.json").write_text(json.dumps({"input_data": proven[0]}))
    rest = calibration + proven[1:]
    (d / "calibration.json").write_text(
        json.dumps({"input_data": [[v for x in rest for v in x[j]] for j in range(len(part.inputs))]})
    )
    (d / RUN_ARGS_FILE).write_text(json.dumps(visibility(part, model.graph.output[0].name)))


def split_plan(onnx_path: Path, config: RunConfig) -> tuple[onnx.ModelProto, list[Segment], list[GraphPart]]:
    """The model, its segments and its parts: --split N's N segments as even in cost as its cut points
    allow, or (config.graph_tiles, set by --split auto) one segment per layer, each cut into that
    many tiles of its channels. ValueError (one line) when the graph does not split so."""
    model = onnx.load(str(onnx_path))
    if config.graph_tiles:
        segs, tiles = layer_segments(model), list(config.graph_tiles)
    else:
        segs = segments(onnx_path, int(config.split))
        tiles = [1] * len(segs)
    return model, segs, graph_parts(model, segs, tiles, "graph")


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
        plan = split_plan(whole / "network.onnx", config)
    except ValueError as e:
        return failed(result, "split", "no_split", f"{spec.name} cannot be split into {n} parts along its graph: {e}")
    _, segs, parts = plan
    backend = get_backend(config.backend)
    names = [part_name(spec.name, p) for p in parts]
    n_cal = config.n_calibration
    heldout = sorted(whole.glob("heldout_*.json"), key=lambda p: int(p.stem.split("_")[1]))
    proven = [[x] for x in samples(heldout)]  # the whole's held-out inputs: the first parts'
    calibration = [[x] for x in samples([whole / f"calibration_{i}.json" for i in range(n_cal)])]
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
            made: dict[int, Produced] = {}
            for i, (part, name) in enumerate(zip(parts, names, strict=True)):
                if part.producers == (None,):
                    inputs, cal, link_from, scales = proven, calibration, None, (scale,)
                else:  # proved on the producing parts' proven outputs, at their output scale
                    prods = [made[p] for p in part.producers if p is not None]
                    if len({p.scale for p in prods}) > 1:
                        raise StageFailed(
                            "split", "no_split", f"{name}: its inputs come at scales {[p.scale for p in prods]}"
                        )
                    inputs = [[p.proven[s] for p in prods] for s in range(len(proven))]
                    cal = [[p.calibration[s] for p in prods] for s in range(len(calibration))]
                    link_from, scales = tuple(p.witness for p in prods), (prods[0].scale,)
                d = keep / "models" / name
                shutil.rmtree(d, ignore_errors=True)
                write_model(d, whole / "network.onnx", plan, i, inputs, cal)
                spec_k = CustomSpec(name, d, group=spec.group)
                cfg = replace(config, split="never", artifacts_dir=keep / "kept", link_from=link_from, scales=scales)
                try:
                    # its search (cached), laid out to fit the budget at the domain where it can
                    needs = int(
                        part_settings(spec_k, tol, replace(cfg, commit_logrows=lay or None))["run_args"]["logrows"]
                    )
                except StageFailed:
                    needs = 0  # run_part fails at the same stage and records it
                if needs > lay and results:
                    return results, lay, needs
                lay = max(lay, needs)
                results.append(run_part(name, tol, replace(cfg, commit_logrows=lay), spec=spec_k))
                if results[-1]["status"] != "ok":
                    break
                made[i] = produced(keep / "kept" / name, results[-1], backend, config)
            return results, lay, None

        # --split auto starts at the logrows its ladder laid the largest part out at (RunConfig.commit_logrows)
        lay, relaid = config.commit_logrows or 0, []
        try:
            for _ in range(len(parts)):  # each new round lays every part out larger: at most one per part
                results, used, larger = prove_parts(lay)
                if larger is None:
                    break
                relaid.append({"parts_proved": [r["name"] for r in results], "logrows": used, "then_needed": larger})
                lay = larger
        except StageFailed as e:
            return failed(result, e.stage, e.kind, e.cause)
        tiled = any(p.tile for p in parts)
        how = "along the graph: " + ", ".join(
            f"{s.input} -> {s.output}" + (f" in {t} tiles of its channels" if t > 1 else "")
            for s, t in zip(segs, tiles_per_segment(segs, parts), strict=True)
        )
        combined = combine(result, names, how, results)
        if combined["status"] != "ok":
            return combined
        combined["split"]["linked"] = {
            "checked": "each part's proof over its producing parts' committed outputs (swap_proof_commitments, verified)",
            "ok": all(r["commitments"].get("linked", {"ok": True})["ok"] for r in results),
            "per_part": [r["commitments"] for r in results],
        }
        combined["split"]["segments"] = [
            {"input": s.input, "output": s.output, "cost": s.cost, **({"tiles": t} if tiled else {})}
            for s, t in zip(segs, tiles_per_segment(segs, parts), strict=True)
        ]
        if tiled:
            combined["split"]["parts_graph"] = [
                {
                    "name": name,
                    "inputs": list(p.inputs),
                    "from": [names[q] if q is not None else "input" for q in p.producers],
                }
                for name, p in zip(names, parts, strict=True)
            ]
        combined["split"]["scale"] = {"input_scale": scale, "from": "the whole model's search"}
        combined["split"]["domain"] = {
            "logrows": max(r["circuit"]["logrows"] for r in results),
            "why": "every part laid out at the largest logrows any part needs: commitments over one domain",
            "proved_again": relaid,  # the rounds whose parts were proved at a smaller logrows, then again
        }
        return measure_accuracy(combined, spec, keep / "kept" / names[-1], whole, backend, config, tol)


def tiles_per_segment(segs: list[Segment], parts: list[GraphPart]) -> list[int]:
    return [max([p.tile[1] for p in parts if p.segment == s.index and p.tile] or [1]) for s in segs]


def produced(kept: Path, part_result: dict, backend, config: RunConfig) -> Produced:
    """What a proved part hands on (Produced), read from its kept artifacts and its workload's float reference."""
    settings = json.loads((kept / "settings.json").read_text())
    witnesses = sorted(kept.glob("witness_[0-9]*.json"), key=lambda p: int(p.stem.split("_")[1]))
    ref = json.loads(
        (config.cache_dir / "workload" / part_result["cache_keys"]["workload"] / "reference.json").read_text()
    )
    return Produced(
        witness=kept / "witness_0.json",
        # proven outputs: the same field elements the next part quantizes at this scale
        proven=[[v for o in backend.read_outputs(str(w)) for v in o] for w in witnesses],
        calibration=ref["calibration"],  # float activations at the cut
        scale=int(settings["model_output_scales"][0]),
    )


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
