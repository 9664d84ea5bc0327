"""Child side: the prover's operations, each one library call of the backend (zkbench.backends) named
on the child's command line (gen_settings ... verify, import_srs), and the search stage (search).

Each returns (result, timed_call); only timed_call() is inside the timer and the RSS window. result
may be a callable, evaluated after the timed call (reading back what it wrote). The backend and the
search are imported inside the operation (or by the child's preload), never on import."""

from __future__ import annotations

# The backend (zkbench.backends) named on the child's command line does the work (loop.main sets it).
_backend_name = "ezkl-23"


def use_backend(name: str) -> None:
    global _backend_name
    _backend_name = name


def backend():
    from zkbench.backends import get_backend

    return get_backend(_backend_name)


def op_gen_settings(onnx: str, settings: str, run_args: dict):
    prover = backend()
    return None, lambda: prover.gen_settings(onnx, settings, run_args)


def op_calibrate(
    data: str,
    onnx: str,
    settings: str,
    scales: list[int],
    scale_rebase_multiplier: list[int],
    target: str = "resources",
):
    prover = backend()
    return None, lambda: prover.calibrate(data, onnx, settings, scales, scale_rebase_multiplier, target)


def op_layouts(onnx: str, data: str, out_dir: str, layouts: list[dict]):
    """Each layout's settings (gen_settings, then calibrate_settings at its one scale with its target) in
    out_dir/<name>.json, for the memory fit (zkbench.engine.memory_fit) to predict: one line of why for
    one that could not be made."""
    from pathlib import Path

    prover = backend()
    box: dict = {}

    def call():
        for lay in layouts:
            path = str(Path(out_dir) / f"{lay['name']}.json")
            try:
                prover.gen_settings(onnx, path, lay["run_args"])
                prover.calibrate(data, onnx, path, [lay["scale"]], [1], lay["target"])
                box[lay["name"]] = {"settings": path}
            except BaseException as e:  # noqa: BLE001 - pyo3 panics are BaseException
                if isinstance(e, (KeyboardInterrupt, SystemExit)):
                    raise
                text = str(e).strip().splitlines()
                box[lay["name"]] = {"error": f"{type(e).__name__}: {text[0] if text else ''}"[:300]}

    return box, call


def op_compile(onnx: str, compiled: str, settings: str):
    prover = backend()
    return None, lambda: prover.compile(onnx, compiled, settings)


def op_gen_srs(path: str, logrows: int):
    prover = backend()
    return None, lambda: prover.gen_srs(path, logrows)


def op_witness(data: str, compiled: str, out: str, vk: str | None = None, srs: str | None = None):
    # The proven outputs as floats are read from the file after the timed call.
    prover = backend()
    return (lambda: {"outputs": prover.read_outputs(out)}), (lambda: prover.witness(data, compiled, out, vk, srs))


def op_link(proof: str, witness: str, settings: str, vk: str, srs: str, out: str):
    """A copy of `proof` (at `out`) with `witness`'s commitments swapped in, then verified: accepted only
    when the proof was made over exactly those committed values (zkbench.engine.graph_link)."""
    import shutil
    from pathlib import Path

    prover = backend()
    box: dict = {}

    def call():
        shutil.copyfile(proof, out)
        prover.swap_commitments(out, witness)
        box["verdict"] = prover.verify(out, settings, vk, srs)
        box["unchanged"] = Path(out).read_bytes() == Path(proof).read_bytes()

    return box, call


def op_import_srs(src: str, dst: str, expected_sha256: str | None):
    """A user-supplied SRS: hash it (and check the hash when one is given), copy it into the cache."""
    import shutil

    from zkbench.files import sha256_file

    box = {}

    def call():
        box["sha256"] = sha256_file(src)
        if expected_sha256 and box["sha256"] != expected_sha256.lower():
            raise ValueError(f"SRS {src} has sha256 {box['sha256']}, expected {expected_sha256}: wrong or corrupt file")
        shutil.copyfile(src, dst)

    return box, call


def op_setup(compiled: str, vk: str, pk: str, srs: str):
    prover = backend()
    return None, lambda: prover.setup(compiled, vk, pk, srs)


def op_prove(witness: str, compiled: str, pk: str, proof: str, srs: str):
    prover = backend()
    return None, lambda: prover.prove(witness, compiled, pk, proof, srs)


def op_verify(proof: str, settings: str, vk: str, srs: str):
    """verdict: "accepted", "rejected" (the verifier itself said no), "malformed" (it could not decode
    the transcript) or "error" (it could not judge for another reason: a missing file, say)."""
    box = {}
    prover = backend()

    def call():
        box.update(prover.verify(proof, settings, vk, srs))
        box["verified"] = box["verdict"] == "accepted"

    return box, call


def op_search(
    onnx: str,
    work_dir: str,
    tol: float,
    scales: list[int],
    decompositions: list[list[int]],
    inner_cols: list[int],
    scan: str = "bisect",
    candidate_dir: str | None = None,
    ezkl_tolerance: float | None = None,
):
    """The tolerance search with real prover evaluations, kept in candidate_dir
    (zkbench.engine.search.child_stage.search_stage); imported here: the search imports numpy."""
    from zkbench.engine.search.child_stage import search_stage

    return search_stage(
        backend(), onnx, work_dir, tol, scales, decompositions, inner_cols, scan, candidate_dir, ezkl_tolerance
    )
