"""Parent side: a LayerNorm proved as statistics parts, then normalising parts (`--split N`: N
normalising parts; zkbench.layers.norm_split says what each computes). Every part is a model of its
own (a zkbench.layers.custom.CustomSpec: search, keys, witness, prove, verify, soundness), and the
split's result puts them together:

- one scale: every part proves at the input scale the first normalising part's search chooses
  (searched on the float statistics), so that a statistics part's outputs (at its input scale: ezkl
  rebases a mean to it) are the normalising parts' inputs, the same field elements;
- the normalising parts' statistics inputs are the statistics parts' proven outputs (their
  witnesses'), on every held-out input; their calibration inputs the float statistics;
- linked, on the proved sample, from the verified proofs' public values: every part's input chunk is
  its chunk of the layer's input (within half a quantization step, as a tile's), and every
  normalising part's statistics are exactly the statistics parts' proven outputs. Anything else
  fails the experiment (stage link);
- accuracy: the suite's metric on the reassembled output against the whole layer's float outputs,
  on every held-out input.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from zkbench.backends import get_backend
from zkbench.engine.config import RunConfig
from zkbench.engine.result_parts import base_result
from zkbench.engine.search.metric import accuracy
from zkbench.engine.split_step import combine, failed, judged, proof_io, same_input
from zkbench.engine.stage_worker import StageFailed
from zkbench.layers import LayerSpec
from zkbench.layers.custom import CustomSpec
from zkbench.layers.norm_split import (
    ChunkStats,
    NormSplit,
    check_layer,
    norm_input,
    norm_module,
    norm_split,
    reassemble,
    statistics,
    stats_input,
)
from zkbench.layers.workload import build_workload

PROBE_SHARE = 0.5  # of the tolerance, that the scale probe's search aims for


def decomposable(spec, profile: str) -> bool:
    """Whether `spec` is a LayerNorm this module splits (over the whole of a batch of one)."""
    if not isinstance(spec, LayerSpec) or spec.build is not nn.LayerNorm:
        return False
    try:
        check_layer(spec.module(profile), spec.shape(profile).input_shape)
    except ValueError:
        return False
    return True


def stats_name(name: str, i: int, k: int) -> str:
    return f"{name}__stats{i + 1}of{k}"


def norm_name(name: str, j: int, n: int) -> str:
    return f"{name}__norm{j + 1}of{n}"


def write_part(d: Path, module: nn.Module, proven: list[list[torch.Tensor]], calibration: list[list[torch.Tensor]]):
    """A part's model directory as zkbench.layers.custom reads one: network.onnx, input.json (the
    proved sample) and calibration.json (its calibration samples, then its other held-out ones);
    a sample is one tensor per model input."""
    d.mkdir(parents=True, exist_ok=True)
    names = ["input", "stats"][: len(proven[0])]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, tuple(proven[0]), str(d / "network.onnx"), opset_version=18, input_names=names, dynamo=False
        )
    (d / "input.json").write_text(json.dumps({"input_data": [t.flatten().tolist() for t in proven[0]]}))
    more = calibration + proven[1:]
    per_input = [[v for sample in more for v in sample[j].flatten().tolist()] for j in range(len(names))]
    (d / "calibration.json").write_text(json.dumps({"input_data": per_input}))


def witness_output(backend, kept: Path, h: int) -> torch.Tensor:
    """A part's proven outputs on held-out input h, from its witness (dequantized: exact at its scale)."""
    return torch.tensor(
        [[v for o in backend.read_outputs(str(kept / f"witness_{h}.json")) for v in o]], dtype=torch.float64
    )


@dataclass
class Layer:
    """The whole LayerNorm's workload as its parts read it: its module (weights), inputs and float outputs."""

    module: nn.LayerNorm
    heldout: list[torch.Tensor]
    calibration: list[torch.Tensor]
    reference: dict  # reference.json: the float outputs per held-out and calibration input


def load(spec: LayerSpec, config: RunConfig, whole: Path) -> Layer:
    shape = spec.shape(config.profile).input_shape
    module = build_workload(spec, config.profile, None, config.n_calibration, config.n_heldout).module
    assert isinstance(module, nn.LayerNorm)
    ref_doc = json.loads((whole / "reference.json").read_text())

    def read(kind: str, i: int) -> torch.Tensor:
        values = json.loads((whole / f"{kind}_{i}.json").read_text())["input_data"][0]
        return torch.tensor(values, dtype=torch.float32).reshape(shape)

    return Layer(
        module,
        [read("heldout", i) for i in range(len(ref_doc["heldout"]))],
        [read("calibration", i) for i in range(len(ref_doc["calibration"]))],
        ref_doc,
    )


def norm_part(
    layer: Layer, s: NormSplit, j: int, stats_of: Callable[[int], torch.Tensor], name: str, models: Path, group: str
) -> CustomSpec:
    """Normalising part j as a model of its own: its held-out statistics `stats_of(h)`, its
    calibration statistics the float ones."""
    d = models / name
    write_part(
        d,
        norm_module(layer.module, s, j),
        [[norm_input(x, s, j), stats_of(h)] for h, x in enumerate(layer.heldout)],
        [[norm_input(x, s, j), statistics(x, s)] for x in layer.calibration],
    )
    return CustomSpec(name, d, group=group)


def scale_probe(
    spec: LayerSpec, layer: Layer, s: NormSplit, tol: float, config: RunConfig, part_settings, models: Path
) -> dict:
    """The settings the first normalising part's search chooses on the float statistics, against
    PROBE_SHARE of the tolerance (the other parts' errors differ a little at one scale): its scale
    is every part's. StageFailed as the search's."""
    name = f"{spec.name}__scale_probe_norm1of{s.norm_parts}"
    probe = norm_part(layer, s, 0, lambda h: statistics(layer.heldout[h], s), name, models, spec.group)
    return part_settings(probe, tol * PROBE_SHARE, replace(config, split="never"))


def scale_probe_settings(
    spec: LayerSpec, tol: float, config: RunConfig, n: int, whole_workload: Callable[[], dict], part_settings
) -> dict:
    """scale_probe's settings for a split of n normalising parts, outside a run of it (the same search,
    cached: a run of that split reads it)."""
    s = norm_split(spec.module(config.profile), spec.shape(config.profile).input_shape, n)
    layer = load(spec, config, Path(whole_workload()["dir"]))
    with tempfile.TemporaryDirectory(prefix=f"zkbench-norm-probe-{spec.name}-") as tmp:
        return scale_probe(spec, layer, s, tol, config, part_settings, Path(tmp))


def run_norm_split(
    spec: LayerSpec,
    tol: float,
    config: RunConfig,
    run_part: Callable[..., dict],
    whole_workload: Callable[[], dict],
    part_settings: Callable[[CustomSpec, float, RunConfig], dict],
) -> dict:
    """The split experiment's result document, its parts run by `run_part` (run_experiment);
    `part_settings`: the settings a part's search chooses (probe_settings), for the one scale."""
    result = base_result(spec, tol, config)
    shape = spec.shape(config.profile).input_shape
    try:
        s = norm_split(spec.module(config.profile), shape, int(config.split))
    except ValueError as e:
        return failed(result, "split", "no_split", f"{spec.name} cannot be split into {config.split} parts: {e}")
    layer = load(spec, config, Path(whole_workload()["dir"]))
    heldout, calibration, ref_doc, n_held = layer.heldout, layer.calibration, layer.reference, len(layer.heldout)
    backend = get_backend(config.backend)
    with tempfile.TemporaryDirectory(prefix=f"zkbench-norm-{result['id']}-") as tmp:
        keep = Path(tmp)
        cfg = replace(config, split="never", artifacts_dir=keep / "kept")
        names = [stats_name(spec.name, i, s.stats_parts) for i in range(s.stats_parts)]
        names += [norm_name(spec.name, j, s.norm_parts) for j in range(s.norm_parts)]

        def prove_parts(scale: int) -> list[dict]:
            """Every part at `scale`, the statistics parts first; stops at the first part not ok."""
            at = replace(cfg, scales=(scale,))
            results = []
            for i in range(s.stats_parts):
                d = keep / "models" / names[i]
                cut = [[stats_input(x, s, i)] for x in heldout], [[stats_input(x, s, i)] for x in calibration]
                write_part(d, ChunkStats(), *cut)
                results.append(run_part(names[i], tol, at, spec=CustomSpec(names[i], d, group=spec.group)))
                if results[-1]["status"] != "ok":
                    return results
            # the statistics the normalising parts are proved on: the statistics parts' proven outputs
            proven = [
                torch.cat([witness_output(backend, keep / "kept" / n, h) for n in names[: s.stats_parts]], 1).float()
                for h in range(n_held)
            ]
            for j, name in enumerate(names[s.stats_parts :]):
                part = norm_part(layer, s, j, lambda h: proven[h], name, keep / "models", spec.group)
                results.append(run_part(name, tol, at, spec=part))
                if results[-1]["status"] != "ok":
                    break
            return results

        try:
            scale = int(
                scale_probe(spec, layer, s, tol, cfg, part_settings, keep / "models")["run_args"]["input_scale"]
            )
        except StageFailed as e:
            cause = f"the first normalising part's search, whose scale every part proves at: {e.cause}"
            return failed(result, e.stage, e.kind, cause)
        raised = []
        while True:
            results = prove_parts(scale)
            failure = results[-1].get("failure") or {}
            if failure.get("kind") != "tolerance_not_met" or failure.get("stage") != "search":
                break
            if scale + 1 > max(config.scales):
                break
            # a part misses the tolerance at this scale: every part again one scale finer
            raised.append({"scale": scale, "missed_by": results[-1]["name"], "cause": failure["cause"]})
            scale += 1
        combined = combine(result, names, s.how, results)
        if combined["status"] != "ok":
            return combined
        combined["split"]["scale"] = {
            "input_scale": scale,
            "from": f"the first normalising part's search at {PROBE_SHARE:g} x tol",
            "raised": raised,
        }
        combined["split"]["rounds"] = {"statistics": names[: s.stats_parts], "normalise": names[s.stats_parts :]}
        return check_and_measure(combined, s, names, keep / "kept", heldout, ref_doc, backend, config, tol)


def check_and_measure(
    result: dict,
    s: NormSplit,
    names: list[str],
    kept: Path,
    heldout: list[torch.Tensor],
    ref_doc: dict,
    backend,
    config: RunConfig,
    tol: float,
) -> dict:
    """The linking check on the proved sample (from the verified proofs), then the accuracy of the
    reassembled outputs on every held-out input."""
    bad: list[str] = []
    stats_out: list[torch.Tensor] = []
    stats_scales: set[int] = set()
    norm_out: list[torch.Tensor] = []
    x0 = heldout[0]
    for idx, name in enumerate(names):
        is_stats = idx < s.stats_parts
        chunk = stats_input(x0, s, idx) if is_stats else norm_input(x0, s, idx - s.stats_parts)
        proof = json.loads((kept / name / "proof.json").read_text())
        settings = json.loads((kept / name / "settings.json").read_text())
        n_in = chunk.numel() + (0 if is_stats else 2 * s.stats_parts)
        inputs, proved = proof_io(proof, settings, n_in, backend)
        if inputs.numel() != n_in or not same_input(inputs[: chunk.numel()], chunk.flatten(), settings):
            bad.append(f"{name}: its proof's public inputs are not its chunk of the layer's input")
        if is_stats:
            stats_out.append(proved)
            stats_scales.add(int(settings["model_output_scales"][0]))
            continue
        norm_out.append(proved)
        expected = torch.cat(stats_out) if stats_out else torch.empty(0)
        scales = settings["model_input_scales"]
        if (
            len(scales) < 2
            or stats_scales != {int(scales[1])}
            or inputs.numel() != n_in
            or not torch.equal(inputs[chunk.numel() :], expected)
        ):
            bad.append(f"{name}: its proof's statistics are not the statistics parts' proven outputs")
    result["split"]["linked"] = {
        "checked": "every part proof's input chunk against the layer's input; every normalising part's statistics "
        "against the statistics parts' proven outputs, value for value",
        "ok": not bad,
    }
    if bad:
        return failed(result, "link", "not_linked", "; ".join(bad))
    outputs: list[list[float]] = [reassemble(norm_out, s).flatten().tolist()]
    for h in range(1, len(heldout)):
        pieces = [witness_output(backend, kept / n, h) for n in names[s.stats_parts :]]
        outputs.append(reassemble(pieces, s).flatten().tolist())
    pairs = list(zip(outputs, ref_doc["heldout"], strict=True))
    acc = {"checked": True, "reference": "torch", **accuracy(pairs, None), "tol": tol, "reassembled": True}
    return judged(result, acc, config, tol, "the reassembled outputs are off by {:.3g}% of the float outputs")
