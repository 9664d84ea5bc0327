"""The ezkl 23 Python backend (the `ezkl` wheel from PyPI, which proves on the CPU), and the base of
the adapters for older releases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zkbench.backends import VISIBILITY, Backend

# What halo2's verifier says when a well-formed proof is false: only these count as a rejection.
# Anything else (a missing file, an unparsable proof, a transcript cut short) is an error.
VERIFIER_REJECTIONS = ("The constraint system is not satisfied", "Multi-opening proof was invalid")
# What it says when it cannot even decode the transcript (a scalar >= r, a point off the curve, too
# few bytes): the proof is malformed, not judged.
TRANSCRIPT_UNDECODABLE = "[halo2] Transcript error"
# BN254's scalar field: every public value (instance) is an element of it.
BN254_R = 0x30644E72E131A029B85045B68181585D2833E84879B9709143E1F593F0000001


def _ezkl() -> Any:
    """The ezkl module, untyped: its bundled stubs list optional arguments as required."""
    import ezkl

    return ezkl


def _felt_from_hex(h: str) -> int:
    """ezkl writes field elements as 32 little-endian bytes in hex."""
    return int.from_bytes(bytes.fromhex(h.removeprefix("0x")), "little")


def _felt_to_hex(v: int) -> str:
    return v.to_bytes(32, "little").hex()


class Ezkl23:
    stable_layout = True  # the same run args lay out the same rows on every call
    name: str = "ezkl-23"
    preload: tuple[str, ...] = ("ezkl",)
    field_modulus: int = BN254_R
    run_args: dict = {}  # what this backend sets on every circuit, over VISIBILITY

    def _call(self, function: str, *args, **kwargs) -> Any:
        """One ezkl call; adapters for other releases change how it is made (zkbench.backends.ezkl_async)."""
        return getattr(_ezkl(), function)(*args, **kwargs)

    # --- prover operations ---
    def _run_args(self, values: dict) -> Any:
        ra = _ezkl().PyRunArgs()
        for k, v in {**VISIBILITY, **self.run_args, **values}.items():
            setattr(ra, k, v)
        return ra

    def gen_settings(self, onnx: str, settings: str, run_args: dict) -> None:
        self._call("gen_settings", onnx, settings, py_run_args=self._run_args(run_args))

    def calibrate(
        self,
        data: str,
        onnx: str,
        settings: str,
        scales: list[int] | None,
        scale_rebase_multiplier: list[int] | None,
        target: str = "resources",
    ) -> None:
        given = {"scales": scales, "scale_rebase_multiplier": scale_rebase_multiplier}
        self._call(
            "calibrate_settings", data, onnx, settings, target, **{k: v for k, v in given.items() if v is not None}
        )

    def compile(self, onnx: str, compiled: str, settings: str) -> None:
        self._call("compile_circuit", onnx, compiled, settings)

    def gen_srs(self, path: str, logrows: int) -> None:
        self._call("gen_srs", path, logrows)

    def witness(self, data: str, compiled: str, out: str, vk: str | None = None, srs: str | None = None) -> None:
        # a circuit with committed (polycommit) inputs or outputs needs the key and SRS to commit them
        self._call("gen_witness", data, compiled, out, *((vk, srs) if vk else ()))

    def swap_commitments(self, proof: str, witness: str) -> None:
        """Put the witness's input/output commitments into the proof file (ezkl's proof splitting)."""
        self._call("swap_proof_commitments", proof, witness)

    def setup(self, compiled: str, vk: str, pk: str, srs: str) -> None:
        self._call("setup", compiled, vk, pk, srs)

    def prove(self, witness: str, compiled: str, pk: str, proof: str, srs: str) -> None:
        self._call("prove", witness, compiled, pk, proof, srs)

    def mock(self, witness: str, compiled: str) -> bool:
        """ezkl's mock prover: the circuit's constraints hold for the witness (no keys, no proof).
        Not part of the Backend protocol: the tests use it to check that ezkl's own default
        pipeline accepts a model."""
        return bool(self._call("mock", witness, compiled))

    def verify(self, proof: str, settings: str, vk: str, srs: str) -> dict:
        try:
            ok = self._call("verify", proof, settings, vk, srs)
        except Exception as e:  # noqa: BLE001 - ezkl raises RuntimeError for both kinds
            text = str(e).strip()
            verdict = (
                "rejected"
                if any(r in text for r in VERIFIER_REJECTIONS)
                else "malformed"
                if TRANSCRIPT_UNDECODABLE in text
                else "error"
            )
            return {"verdict": verdict, "reason": text.splitlines()[0][:300] if text else type(e).__name__}
        return {
            "verdict": "accepted" if ok is True else "rejected",
            "reason": None if ok is True else f"verify returned {ok!r}",
        }

    # --- file formats ---
    def read_outputs(self, witness_path: str) -> list[list[float]]:
        doc = json.loads(Path(witness_path).read_text())
        return [[float(v) for v in o] for o in doc["pretty_elements"]["rescaled_outputs"]]

    def circuit_facts(self, settings: dict) -> dict:
        ra = settings["run_args"]
        return {
            "logrows": ra["logrows"],
            "num_rows": settings["num_rows"],
            "total_assignments": settings.get("total_assignments"),
            "effective_input_scale": ra["input_scale"],
            "effective_param_scale": ra["param_scale"],
            "lookup_range": ra["lookup_range"],
        }

    def cost_lower_bound(self, settings: dict) -> dict:
        # calibrate_settings keeps the layout (rows, assignments) and only adds to what sets logrows:
        # a lookup table sized to the calibrated range, range checks it observed. What gen_settings
        # already needs: 2**logrows rows above the model's rows and above every range-check table,
        # each with at least one row reserved for blinding (ezkl's calc_min_logrows). A build whose
        # layout moves from one call to the next bounds by its range-check tables alone.
        rows = settings["num_rows"] if self.stable_layout else 0
        tables = [hi - lo + 1 for lo, hi in settings.get("required_range_checks") or ()]
        return {
            "logrows": max([rows, *tables]).bit_length(),
            "num_rows": rows,
            "total_assignments": settings.get("total_assignments") if self.stable_layout else 0,
        }

    def transcript(self, proof: dict) -> bytes:
        return bytes(proof["proof"])

    def with_transcript(self, proof: dict, transcript: bytes) -> dict:
        out = json.loads(json.dumps(proof))
        out["proof"] = list(transcript)
        if out.get("hex_proof"):
            out["hex_proof"] = "0x" + transcript.hex()
        return out

    def public_values(self, proof: dict) -> list[list[int]]:
        return [[_felt_from_hex(h) for h in col] for col in proof["instances"]]

    def with_public_values(self, proof: dict, values: list[list[int]]) -> dict:
        out = json.loads(json.dumps(proof))
        old = self.public_values(proof)
        # re-encode only what changed, so the other values stay byte-identical to what ezkl wrote
        out["instances"] = [
            [h if was == v else _felt_to_hex(v) for h, was, v in zip(hs, olds, vs, strict=True)]
            for hs, olds, vs in zip(proof["instances"], old, values, strict=True)
        ]
        out.pop("pretty_public_inputs", None)  # a derived copy; the verifier reads the instances
        return out


class Ezkl23NoIoRangeChecks(Ezkl23):
    """ezkl 23 proving what ezkl 16.1 proves: inputs and outputs are not range-checked."""

    name = "ezkl-23-noio"
    run_args = {"ignore_range_check_inputs_outputs": True}


BACKEND: Backend = Ezkl23()  # mypy checks that the class meets the protocol
NO_IO_RANGE_CHECKS: Backend = Ezkl23NoIoRangeChecks()
