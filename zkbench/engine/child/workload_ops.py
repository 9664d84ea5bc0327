"""Child side: the workload's operations, torch and onnx work that runs in a child of its own so that
its memory never inflates a prover stage's peak. prepare (a registry layer's inputs and float
outputs), prepare_onnx (a user's ONNX model and input.json) and export (torch's ONNX export alone).

Each returns (result, timed_call); only timed_call() is inside the timer and the RSS window. torch,
numpy and the layers are imported inside the operation, never before the child says ready."""

from __future__ import annotations

import json
import os
from pathlib import Path

_state: dict = {}


def op_prepare(
    spec: str,
    profile: str,
    model_cache: str | None,
    n_calibration: int,
    n_heldout: int,
    out_dir: str,
    module_path: str | None = None,
):
    """Build the workload (training composite models if needed), write inputs and float outputs."""
    import torch

    from zkbench.layers.split import spec_named
    from zkbench.layers.workload import build_workload

    if os.environ.get("ZKBENCH_TORCH_THREADS"):
        torch.set_num_threads(int(os.environ["ZKBENCH_TORCH_THREADS"]))
    wl = build_workload(spec_named(spec), profile, Path(model_cache) if model_cache else None, n_calibration, n_heldout)
    _state["workload"] = wl
    out = Path(out_dir)
    samples = {"calibration": wl.calibration, "heldout": wl.heldout}
    with torch.no_grad():
        reference = {k: [wl.module(x).flatten().tolist() for x in xs] for k, xs in samples.items()}
    for kind, xs in samples.items():
        for i, x in enumerate(xs):
            (out / f"{kind}_{i}.json").write_text(json.dumps({"input_data": [x.flatten().tolist()]}))
    # All calibration samples in one file: ezkl's calibration reads them as a batch of chunks.
    (out / "calibration.json").write_text(
        json.dumps({"input_data": [[v for x in wl.calibration for v in x.flatten().tolist()]]})
    )
    (out / "reference.json").write_text(json.dumps(reference))
    if module_path:  # for the export child
        torch.save({"module": wl.module, "x": wl.calibration[0]}, module_path)
    return wl.meta, None


def op_prepare_onnx(onnx_path: str, n_calibration: int, n_heldout: int, out_dir: str, seed: int = 1234):
    """A user's ONNX model and input.json, read as ezkl reads them (zkbench.layers.custom): the
    proven sample, calibration.json's samples (or in-domain variations of the user's sample), and
    their float outputs from onnxruntime or onnx's ReferenceEvaluator. reference.json holds the
    outputs' layout (name, size, discrete) and, when no evaluator could run the model, no outputs
    but the reason (`checked: false`)."""
    import numpy as np

    from zkbench.engine.search.candidate import FIXED_RUN_ARGS
    from zkbench.layers.custom import (
        describe_variations,
        float_reference,
        ignored_entries,
        is_discrete,
        model_inputs,
        model_outputs,
        perturb_in_domain,
        read_calibration_json,
        read_input_json,
    )

    src = Path(onnx_path)
    inputs = model_inputs(src)
    dtypes = [i.dtype for i in inputs]
    sample = read_input_json(src.with_name("input.json"), inputs)
    calibration_file = src.with_name("calibration.json")
    if not inputs:  # constants only: every sample is the same (none), one of each is all there is
        more: list = [[]]
        source, described = "none", "none: the model has no graph inputs (input.json's [[]])"
    elif calibration_file.is_file():
        more = read_calibration_json(calibration_file, inputs)[: n_calibration + n_heldout - 1]
        source, described = "calibration.json", f"calibration.json ({len(more)} samples)"
    else:
        more = perturb_in_domain(sample, n_calibration + n_heldout - 1, seed, dtypes)
        source, described = "perturbed", describe_variations(dtypes)
    # the user's own sample is the proven one: first held-out; the rest calibrate first
    n_cal = max(1, min(n_calibration, len(more) - (n_heldout - 1))) if len(more) > 1 else len(more)
    if n_cal < 1:
        raise ValueError(f"{calibration_file}: no sample in it; give at least one")
    split = {"heldout": [sample] + more[n_cal : n_cal + n_heldout - 1], "calibration": more[:n_cal]}
    order = [(kind, x) for kind, xs in split.items() for x in xs]
    outputs, how = float_reference(src, inputs, [x for _, x in order])
    layout = model_outputs(src)
    if outputs is not None:  # what the evaluator computed: sizes, and dtypes where the declaration is vague
        for o, array in zip(layout, outputs[0], strict=False):
            o.update(size=int(array.size), dtype=str(array.dtype), discrete=is_discrete(str(array.dtype)))
    out = Path(out_dir)
    reference: dict = {"checked": outputs is not None, "evaluator": how["evaluator"], "outputs": layout}
    if outputs is None:
        reference["reason"] = "no evaluator could run the model for a float reference: " + "; ".join(
            f"{name}: {error}" for name, error in how["errors"].items()
        )
    for kind in split:
        reference[kind] = []
    for (kind, _), computed in zip(order, outputs or [], strict=False):
        reference[kind].append([float(v) for o in computed for v in np.asarray(o, dtype=np.float64).ravel()])
    for kind, xs in split.items():
        for i, x in enumerate(xs):
            (out / f"{kind}_{i}.json").write_text(json.dumps({"input_data": ezkl_input_data(x)}))
    (out / "calibration.json").write_text(
        json.dumps(
            {
                "input_data": ezkl_input_data(
                    [[v for x in split["calibration"] for v in x[j]] for j in range(len(inputs))]
                )
            }
        )
    )
    (out / "reference.json").write_text(json.dumps(reference))
    import shutil

    shutil.copy(src, out / "network.onnx")
    if src.with_name(FIXED_RUN_ARGS).is_file():  # a graph part's committed inputs/outputs
        shutil.copy(src.with_name(FIXED_RUN_ARGS), out / FIXED_RUN_ARGS)
    ignored = ignored_entries(src.with_name("input.json"), inputs)
    return {
        "inputs": f"the user's input.json (proven) and {described}",
        "input_source": source,
        "calibration_samples": len(split["calibration"]),
        "heldout_samples": len(split["heldout"]),
        "model_inputs": [{"name": i.name, "shape": i.shape, "dtype": i.dtype} for i in inputs],
        "model_outputs": layout,
        # entries of input.json past the model's inputs: ezkl never reads them, nor does the suite
        **({"ignored_input_entries": ignored} if ignored else {}),
        "reference": {
            "checked": outputs is not None,
            "evaluator": how["evaluator"],
            **({"not_used": how["errors"]} if how["errors"] else {}),
        },
        "source": str(src.parent),
    }, None


def ezkl_input_data(per_input: list[list]) -> list[list]:
    """input_data as ezkl's examples write it: one flat list per graph input, [[]] without any."""
    return per_input or [[]]


def op_export(module_path: str, onnx_path: str, opset: int = 18):
    """torch's ONNX export alone, in a child of its own: the module prepare saved is loaded before the
    timer starts, so export's peak is the interpreter, torch, the module and the export itself."""
    import torch

    saved = torch.load(module_path, weights_only=False)  # the suite's own file, written by prepare

    def call():
        torch.onnx.export(
            saved["module"],
            saved["x"],
            onnx_path,
            opset_version=opset,
            input_names=["input"],
            output_names=["output"],
            dynamo=False,
        )

    return None, call
