"""The prover-backend seam: every prover operation the engine needs, behind one protocol.

The engine never imports a prover library. It names a backend (RunConfig.backend), and the stage
child (zkbench.engine.child) calls that backend's methods inside its timer and memory window,
under the backend's own Python interpreter (zkbench.backends.venvs): every ezkl release
installs the import name `ezkl`, so each one but the project's own lives in its own venv. The
parent uses only the backend's identity (environments.BackendEnv: version, build, device) and its
file formats (settings.json facts, proof transcript and public values), which are plain Python.
A new ezkl build is an adapter module here plus one entry in BACKENDS.
"""

from __future__ import annotations

import importlib
import json
from typing import NamedTuple, Protocol

DEFAULT_BACKEND = "ezkl-23"
# The statement every backend proves: public input and output, parameters fixed in the circuit
# (ezkl 23's defaults; ezkl 16-19 default to private inputs and parameters, another circuit).
VISIBILITY = {"input_visibility": "public", "output_visibility": "public", "param_visibility": "fixed"}


class BackendDef(NamedTuple):
    """A shipped backend: the adapter that speaks its API and the exact wheel it runs. (Not a
    dataclass: every stage child imports this module, and importing dataclasses costs it ~7 ms.)"""

    name: str
    adapter: str  # "module:attribute" of its Backend object
    requirement: str  # the pinned distribution its environment installs
    package: str  # the distribution whose version and native build identify it
    own_environment: bool  # True: a venv of its own (it clashes with the project's ezkl)
    gpu: bool = False  # proves on a GPU (ENABLE_ICICLE_GPU) when its worker has one
    tolerance_arg: bool = False  # its run args have ezkl's own `tolerance` (--tolerance-mode ezkl)
    about: str = ""


BACKENDS = {
    d.name: d
    for d in (
        BackendDef(
            "ezkl-23",
            "zkbench.backends.ezkl23:BACKEND",
            "ezkl==23.0.5",
            "ezkl",
            own_environment=False,
            about="the project's own ezkl (CPU)",
        ),
        BackendDef(
            "ezkl-23-noio",
            "zkbench.backends.ezkl23:NO_IO_RANGE_CHECKS",
            "ezkl==23.0.5",
            "ezkl",
            own_environment=False,
            about="ezkl 23 without range checks on inputs and outputs: the statement ezkl 16.1 proves (CPU)",
        ),
        BackendDef(
            "ezkl-19",
            "zkbench.backends.ezkl_async:EZKL_19",
            "ezkl==19.0.7",
            "ezkl",
            own_environment=True,
            tolerance_arg=True,
            about="the last ezkl with the `tolerance` run arg (CPU)",
        ),
        BackendDef(
            "ezkl-gpu-16",
            "zkbench.backends.ezkl_async:EZKL_GPU_16",
            "ezkl-gpu==16.1.0",
            "ezkl-gpu",
            own_environment=True,
            gpu=True,
            tolerance_arg=True,
            about="ezkl's icicle GPU build (MSM/NTT on the GPU; on the CPU without one)",
        ),
    )
}


class Backend(Protocol):
    name: str
    preload: tuple[str, ...]  # modules a stage child imports before its memory window opens
    field_modulus: int  # public values are elements of this field

    # --- prover operations (stage child side): plain calls, timed by the caller ---
    def gen_settings(self, onnx: str, settings: str, run_args: dict) -> None: ...
    def calibrate(
        self,
        data: str,
        onnx: str,
        settings: str,
        scales: list[int] | None,
        scale_rebase_multiplier: list[int] | None,
        target: str = "resources",
    ) -> None:
        """scales / scale_rebase_multiplier None: ezkl's own defaults. target: ezkl's calibration target;
        "resources/col-overflow" lays the rows out over more advice columns at a lower logrows."""
        ...

    def compile(self, onnx: str, compiled: str, settings: str) -> None: ...
    def gen_srs(self, path: str, logrows: int) -> None: ...
    def witness(self, data: str, compiled: str, out: str, vk: str | None = None, srs: str | None = None) -> None:
        """vk and srs: only for a circuit with committed (polycommit) inputs or outputs."""
        ...

    def setup(self, compiled: str, vk: str, pk: str, srs: str) -> None: ...
    def swap_commitments(self, proof: str, witness: str) -> None: ...
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

    def cost_lower_bound(self, settings: dict) -> dict:
        """From gen_settings' document, before calibration: logrows, num_rows and total_assignments
        that the calibrated circuit's can only equal or exceed (zkbench.engine.search.algorithm prunes by it)."""
        ...

    def transcript(self, proof: dict) -> bytes: ...
    def with_transcript(self, proof: dict, transcript: bytes) -> dict: ...
    def public_values(self, proof: dict) -> list[list[int]]: ...
    def with_public_values(self, proof: dict, values: list[list[int]]) -> dict: ...


def canonical_set(items: list | None) -> list:
    """A settings list that ezkl fills from a set, in one fixed order, so equal sets compare equal."""
    return sorted(items or [], key=lambda item: json.dumps(item, sort_keys=True))


def constraint_set(settings: dict) -> dict:
    """What a circuit's settings.json says the circuit constrains, beyond the layer's arithmetic: who
    sees inputs, outputs and parameters, whether inputs and outputs are range-checked (ezkl 19 and 23
    do unless `ignore_range_check_inputs_outputs`; 16.1 has no such checks, nor the run arg), the
    range checks and lookups the layout needs, and the check mode. Recorded with every result, so
    that two backends' results say whether they prove the same statement (`statement_of`)."""
    ra = settings["run_args"]
    ignore = ra.get("ignore_range_check_inputs_outputs")
    return {
        **{k: str(ra.get(k)).lower() for k in ("input_visibility", "output_visibility", "param_visibility")},
        "io_range_checks": ignore is not None and not ignore,
        # ezkl collects both from a hash set: their order changes run to run and means nothing
        "range_checks": canonical_set(settings.get("required_range_checks")),
        "lookups": canonical_set(settings.get("required_lookups")),
        "check_mode": ra.get("check_mode"),
    }


def statement_of(constraints: dict | None) -> str | None:
    """The statement a result proves, in words (visibility and I/O range checks): equal for two
    backends' results of one experiment when their ratio compares like with like. The layout's own
    range checks and lookups are how a statement is proved, not what."""
    if not constraints:
        return None
    vis = ", ".join(
        f"{k.removesuffix('_visibility')} {constraints[k]}"
        for k in ("input_visibility", "output_visibility", "param_visibility")
    )
    return f"{vis}; I/O {'range-checked' if constraints['io_range_checks'] else 'not range-checked'}"


def definition(name: str) -> BackendDef:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    return BACKENDS[name]


def get_backend(name: str = DEFAULT_BACKEND) -> Backend:
    """The adapter object (no prover import until one of its operations runs)."""
    module, _, attr = definition(name).adapter.partition(":")
    return getattr(importlib.import_module(module), attr)


def backend_of(result: dict) -> str:
    """The backend a result document was proven with (schema < 4 documents: the default)."""
    return (result.get("backend") or {}).get("name") or DEFAULT_BACKEND


def with_backend(experiment_id: str, backend: str, always: bool = False) -> str:
    """An experiment's id with its backend: `Tanh-tol0.5-ezkl-gpu-16`. The default backend's ids stay
    bare unless `always` (several backends selected in one run), so today's ids stay stable."""
    return f"{experiment_id}-{backend}" if always or backend != DEFAULT_BACKEND else experiment_id
