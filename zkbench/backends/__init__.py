"""The prover-backend seam: every prover operation the engine needs, behind one protocol.

The engine never imports a prover library. It names a backend (RunConfig.backend), and the stage
child (zkbench.engine.stage_child) calls that backend's methods inside its timer and memory window.
The parent uses only the backend's identity (name, version, build, device: cache keys and results)
and its file formats (settings.json facts, proof transcript and public values), which are plain
Python. A new ezkl build or a GPU prover is a new module here plus one line in BACKENDS.
"""

from __future__ import annotations

import importlib
from typing import Protocol

# name -> module path (imported only when asked for, so listing backends imports no prover)
BACKENDS = {"ezkl-23": "zkbench.backends.ezkl23"}
DEFAULT_BACKEND = "ezkl-23"


class Backend(Protocol):
    name: str
    package: str  # the distribution whose version and native build identify the backend
    preload: tuple[str, ...]  # modules a stage child imports before its memory window opens
    field_modulus: int  # public values are elements of this field

    # --- identity (parent side, no prover import) ---
    def info(self) -> dict:
        """{"name", "version", "build", "device"}: what proved, for results and cache keys."""
        ...

    # --- prover operations (stage child side): plain calls, timed by the caller ---
    def gen_settings(self, onnx: str, settings: str, run_args: dict) -> None: ...
    def calibrate(
        self, data: str, onnx: str, settings: str, scales: list[int], scale_rebase_multiplier: list[int]
    ) -> None: ...
    def compile(self, onnx: str, compiled: str, settings: str) -> None: ...
    def gen_srs(self, path: str, logrows: int) -> None: ...
    def witness(self, data: str, compiled: str, out: str) -> None: ...
    def setup(self, compiled: str, vk: str, pk: str, srs: str) -> None: ...
    def prove(self, witness: str, compiled: str, pk: str, proof: str, srs: str) -> None: ...
    def verify(self, proof: str, settings: str, vk: str, srs: str) -> dict:
        """{"verdict": accepted | rejected | malformed | error, "reason": str | None}: rejected only
        when the verifier itself judged the proof false."""
        ...

    # --- file formats (both sides, plain Python) ---
    def read_outputs(self, witness_path: str) -> list[list[float]]:
        """The proven outputs as floats, one list per model output."""
        ...

    def circuit_facts(self, settings: dict) -> dict:
        """What a settings document says of the circuit: logrows, num_rows, effective scales."""
        ...

    def transcript(self, proof: dict) -> bytes: ...
    def with_transcript(self, proof: dict, transcript: bytes) -> dict: ...
    def public_values(self, proof: dict) -> list[list[int]]: ...
    def with_public_values(self, proof: dict, values: list[list[int]]) -> dict: ...


def backend_of(result: dict) -> str:
    """The backend a result document was proven with (schema < 4 documents: the default)."""
    return (result.get("backend") or {}).get("name") or DEFAULT_BACKEND


def with_backend(experiment_id: str, backend: str, always: bool = False) -> str:
    """An experiment's id with its backend: `Tanh-tol0.5-ezkl-gpu-16`. The default backend's ids stay
    bare unless `always` (several backends selected in one run), so today's ids stay stable."""
    return f"{experiment_id}-{backend}" if always or backend != DEFAULT_BACKEND else experiment_id


def get_backend(name: str = DEFAULT_BACKEND) -> Backend:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    return importlib.import_module(BACKENDS[name]).BACKEND
