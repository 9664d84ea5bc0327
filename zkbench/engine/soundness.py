"""Soundness checks: a verifier that accepts a tampered proof makes every number meaningless.

Two tampers of the real proof: one transcript byte flipped, and another public output claimed
(value + 1 in the field). A check counts only when the tampered proof is well formed and the
verifier itself said no; a verify that could not judge (missing file, unparsable proof) fails it.
The proof's format (transcript bytes, public values, their field) comes from the backend.
"""

from __future__ import annotations

from collections.abc import Callable

from zkbench.backends import Backend
from zkbench.engine.stage_worker import StageFailed

# A flipped byte can leave the transcript undecodable (a scalar >= r, a point off the curve): the
# verifier then says "malformed", which is no verdict on the proof. Try other 32-byte words.
FLIP_ATTEMPTS = 8

Verify = Callable[[dict, str], dict]  # (tampered proof, check name) -> the verify op's {verdict, reason}


def proof_sizes(backend: Backend, proof: dict, file_bytes: int) -> dict:
    """The proof transcript's length in bytes (what a verifier receives besides the public values),
    the number of public values (instances), and the proof file's size, each under its own name."""
    return {
        "proof_bytes": len(backend.transcript(proof)),
        "proof_instances": sum(len(col) for col in backend.public_values(proof)),
        "proof_file_bytes": file_bytes,
    }


def tamper_proof_byte(backend: Backend, proof: dict, index: int | None = None) -> dict:
    """The proof with the lowest bit of one transcript byte flipped (the middle one by default)."""
    data = bytearray(backend.transcript(proof))
    data[len(data) // 2 if index is None else index] ^= 0x01
    return backend.with_transcript(proof, bytes(data))


def tamper_public_output(backend: Backend, proof: dict) -> dict:
    """The proof claiming a different last public value (an output): value + 1 in the field, so it
    stays a valid field element (also where the value is r - 1, i.e. -1)."""
    values = backend.public_values(proof)
    values[-1][-1] = (values[-1][-1] + 1) % backend.field_modulus
    return backend.with_public_values(proof, values)


def malformed_tamper(backend: Backend, original: dict, tampered: dict) -> str | None:
    """Why a tampered proof is not a well-formed proof of the same shape, or None if it is."""
    try:
        transcript = backend.transcript(tampered)
    except (KeyError, TypeError, ValueError) as e:
        return f"its transcript is unreadable ({e})"
    if len(transcript) != len(backend.transcript(original)):
        return "its transcript has another length"
    try:
        values = backend.public_values(tampered)
    except (KeyError, TypeError, ValueError) as e:
        return f"a public value is not hex ({e})"
    before = backend.public_values(original)
    if [len(c) for c in values] != [len(c) for c in before]:
        return "it has another number of public values"
    for v in (v for col in values for v in col):
        if v >= backend.field_modulus:
            return f"public value {v:#x} is not a field element"
    if transcript == backend.transcript(original) and values == before:
        return "nothing was changed"
    return None


def tamper_check(backend: Backend, original: dict, tampered: dict, name: str, verify: Verify) -> dict:
    """Verify one tampered proof, after checking that it is well formed."""
    problem = malformed_tamper(backend, original, tampered)
    if problem:
        raise StageFailed("soundness", "check_failed", f"{name}: the tampered proof is not well formed: {problem}")
    v = verify(tampered, name)
    return {"verdict": v["verdict"], "rejected": v["verdict"] == "rejected", "reason": v["reason"]}


def flipped_byte_check(backend: Backend, proof: dict, verify: Verify, attempts: int = FLIP_ATTEMPTS) -> dict:
    """Flip the lowest bit of one 32-byte word of the transcript, from the middle on, until the
    verifier could decode the result (at most `attempts` words); every try is recorded."""
    words = max(1, len(backend.transcript(proof)) // 32)
    tries = []
    for k in range(min(attempts, words)):
        index = ((words // 2 + k) % words) * 32
        check = tamper_check(backend, proof, tamper_proof_byte(backend, proof, index), "flipped_proof_byte", verify)
        tries.append({"byte": index, "verdict": check["verdict"], "reason": check["reason"]})
        if check["verdict"] != "malformed":
            break
    return {**check, "attempts": tries}


def judge_soundness(checks: dict[str, dict]) -> bool:
    """True when every tampered proof was rejected by the verifier; raises StageFailed otherwise,
    naming an accepted tamper (unsound) or one the verifier could not judge (no check happened)."""
    accepted = [n for n, c in checks.items() if c["verdict"] == "accepted"]
    if accepted:
        raise StageFailed("soundness", "unsound", f"verify accepted a tampered proof: {', '.join(accepted)}")
    unjudged = {n: c for n, c in checks.items() if c["verdict"] != "rejected"}
    if unjudged or not checks:
        detail = "; ".join(f"{n}: {c['reason']}" for n, c in unjudged.items()) or "no check ran"
        raise StageFailed("soundness", "check_failed", f"verify did not judge the tampered proof: {detail}")
    return True


def check_proof(backend: Backend, proof: dict, verify: Verify) -> dict:
    """Both tamper checks of one proof: {check name: {verdict, rejected, reason[, attempts]}}. A proof
    with no public value at all (a middle part of a graph split: input and output committed, their
    commitments checked by zkbench.engine.graph_link) has no output to claim: the byte check alone."""
    checks = {"flipped_proof_byte": flipped_byte_check(backend, proof, verify)}
    if any(backend.public_values(proof)):
        checks["changed_public_output"] = tamper_check(
            backend, proof, tamper_public_output(backend, proof), "changed_public_output", verify
        )
    return checks
