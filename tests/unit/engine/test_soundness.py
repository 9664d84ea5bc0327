"""The tampering helpers and the soundness verdicts, without running a prover: the proof format
is the ezkl 23 backend's (a JSON transcript of bytes, public values as little-endian hex)."""

import functools

import pytest

from zkbench.backends import get_backend
from zkbench.backends.ezkl23 import BN254_R
from zkbench.backends.ezkl23 import _felt_from_hex as felt_from_hex
from zkbench.backends.ezkl23 import _felt_to_hex as felt_to_hex
from zkbench.engine import soundness
from zkbench.engine.soundness import judge_soundness
from zkbench.engine.stage_worker import StageFailed

B = get_backend("ezkl-23")
flipped_byte_check = functools.partial(soundness.flipped_byte_check, B)
malformed_tamper = functools.partial(soundness.malformed_tamper, B)
proof_sizes = functools.partial(soundness.proof_sizes, B)
tamper_proof_byte = functools.partial(soundness.tamper_proof_byte, B)
tamper_public_output = functools.partial(soundness.tamper_public_output, B)


def proof_with_last_output(value: int) -> dict:
    return {
        "proof": [1, 2, 3, 4],
        "hex_proof": "0x01020304",
        "instances": [[felt_to_hex(7), felt_to_hex(value)]],
        "pretty_public_inputs": {},
    }


def test_felts_are_little_endian_hex():
    assert felt_to_hex(0x10FF) == "ff10" + "00" * 30
    assert felt_from_hex("ff10" + "00" * 30) == 0x10FF


def test_flipping_a_byte_keeps_bytes_and_hex_consistent():
    proof = proof_with_last_output(5)
    flipped = tamper_proof_byte(proof)
    assert flipped["proof"] == [1, 2, 2, 4] and flipped["hex_proof"] == "0x01020204"
    assert proof["proof"] == [1, 2, 3, 4]
    assert malformed_tamper(proof, flipped) is None


@pytest.mark.parametrize("value", [0, 5, BN254_R - 1])  # r - 1 is -1: a bit flip would leave the field
def test_a_changed_output_stays_a_field_element(value):
    proof = proof_with_last_output(value)
    changed = tamper_public_output(proof)
    new = felt_from_hex(changed["instances"][-1][-1])
    assert new == (value + 1) % BN254_R and new < BN254_R
    assert changed["instances"][-1][0] == proof["instances"][-1][0] and "pretty_public_inputs" not in changed
    assert malformed_tamper(proof, changed) is None


@pytest.mark.parametrize(
    "edit, why",
    [
        (lambda p: p["instances"][-1].__setitem__(-1, "ff" * 32), "not a field element"),
        (lambda p: p["instances"][-1].__setitem__(-1, "zz"), "not hex"),
        (lambda p: p.__setitem__("proof", p["proof"][:2]), "another length"),
        (lambda p: p["instances"][-1].pop(), "another number of public values"),
        (lambda p: None, "nothing was changed"),
    ],
)
def test_malformed_tampers_are_named(edit, why):
    proof = proof_with_last_output(5)
    tampered = tamper_public_output(proof) if why != "nothing was changed" else dict(proof)
    edit(tampered)
    assert why in malformed_tamper(proof, tampered)


def check(verdict, reason="x"):
    return {"verdict": verdict, "rejected": verdict == "rejected", "reason": reason}


def test_only_verifier_rejections_count():
    assert judge_soundness({"a": check("rejected"), "b": check("rejected")}) is True
    with pytest.raises(StageFailed) as e:
        judge_soundness({"a": check("rejected"), "b": check("error", "failed to load the proof")})
    assert e.value.kind == "check_failed" and "failed to load the proof" in e.value.cause
    with pytest.raises(StageFailed) as e:
        judge_soundness({"a": check("accepted"), "b": check("rejected")})
    assert e.value.kind == "unsound" and "a" in e.value.cause
    with pytest.raises(StageFailed):
        judge_soundness({})


def test_proof_sizes_name_the_transcript_the_instances_and_the_file():
    proof = {"proof": list(range(64)), "instances": [["00" * 32] * 3, ["00" * 32] * 2]}
    assert proof_sizes(proof, 9999) == {"proof_bytes": 64, "proof_instances": 5, "proof_file_bytes": 9999}


def test_a_flip_the_verifier_cannot_decode_is_retried_on_another_word():
    proof = {"proof": list(range(32 * 6)), "instances": [[felt_to_hex(1)]]}
    seen = []

    def verify(tampered, name):  # undecodable twice (e.g. a scalar >= r), then a real "no"
        changed = [i for i, (a, b) in enumerate(zip(proof["proof"], tampered["proof"], strict=True)) if a != b]
        seen.append(changed)
        verdict = "malformed" if len(seen) < 3 else "rejected"
        return {"verdict": verdict, "reason": "Transcript error" if verdict == "malformed" else "not satisfied"}

    check = flipped_byte_check(proof, verify)
    assert seen == [[96], [128], [160]]  # one byte each time, word by word from the middle
    assert check["verdict"] == "rejected" and check["rejected"] and len(check["attempts"]) == 3
    assert [a["verdict"] for a in check["attempts"]] == ["malformed", "malformed", "rejected"]


def test_a_proof_that_never_decodes_is_not_a_rejection():
    proof = {"proof": [i % 256 for i in range(32 * 20)], "instances": [[felt_to_hex(1)]]}
    check = flipped_byte_check(proof, lambda t, n: {"verdict": "malformed", "reason": "Transcript error"})
    assert len(check["attempts"]) == 8 and not check["rejected"]
    with pytest.raises(StageFailed) as e:
        judge_soundness(
            {
                "flipped_proof_byte": check,
                "changed_public_output": {"verdict": "rejected", "rejected": True, "reason": "x"},
            }
        )
    assert e.value.kind == "check_failed" and "Transcript error" in e.value.cause


def test_a_proof_with_no_public_value_is_checked_by_its_flipped_byte_alone():
    """A middle part of a graph split commits its input and output: no instance to claim another
    output in (its commitments are the graph link's to check)."""
    names = []

    def verify(tampered, name):
        names.append(name)
        return {"verdict": "rejected", "reason": "not satisfied"}

    checks = soundness.check_proof(B, {"proof": list(range(64)), "instances": [[]]}, verify)
    assert list(checks) == ["flipped_proof_byte"] and names == ["flipped_proof_byte"]
    assert judge_soundness(checks)
    both = soundness.check_proof(B, {"proof": list(range(64)), "instances": [[felt_to_hex(3)]]}, verify)
    assert list(both) == ["flipped_proof_byte", "changed_public_output"]
