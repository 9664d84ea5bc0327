"""Parent side: the commitments that link the parts of a graph split (ezkl's proof splitting).

A part that commits to its inputs or outputs (polycommit visibility) proves them as KZG commitments
in its proof, not as public values. Its proof is over the values its witness commits when swapping
the witness's commitments into a copy of the proof (ezkl.swap_proof_commitments) leaves the proof
as it was and the copy verifies. Two checks, each in the prover's child (op `link`):

- own: the proof with its own witness's commitments (what the witness says is what was proved);
- linked (a part after the first): the proof with its inputs' commitments replaced by the output
  commitments of the parts that made them (one previous part, or one per tile of a tiled segment,
  in the order of its inputs). Accepted only when this part was proved on exactly the values those
  parts' proofs committed as their outputs; any other input fails the experiment (stage link).
"""

from __future__ import annotations

import json
from pathlib import Path

from zkbench.engine.stage_worker import StageFailed


def with_inputs_of(witness: Path, previous: tuple[Path, ...], out: Path) -> Path:
    """`witness` with its committed inputs replaced by the committed outputs of the `previous`
    witnesses, one input after another, written to `out`."""
    doc = json.loads(witness.read_text())
    outputs = [json.loads(p.read_text())["processed_outputs"] for p in previous]
    doc["processed_inputs"] = {**outputs[0], "polycommit": [c for o in outputs for c in o["polycommit"]]}
    out.write_text(json.dumps(doc))
    return out


def swapped(worker, proof: Path, witness: Path, settings: Path, vk: Path, srs: Path, out: Path) -> dict:
    """The verdict on a copy of `proof` carrying `witness`'s commitments: ok when it is unchanged and
    accepted (an error of the verifier is not a rejection: it is recorded as what it is)."""
    reply = worker.call(
        "link",
        op="link",
        proof=str(proof),
        witness=str(witness),
        settings=str(settings),
        vk=str(vk),
        srs=str(srs),
        out=str(out),
    )["result"]
    verdict = reply["verdict"]
    return {
        "verdict": verdict["verdict"],
        "reason": verdict["reason"],
        "proof_unchanged": reply["unchanged"],
        "ok": verdict["verdict"] == "accepted" and reply["unchanged"],
    }


def check(worker, work: Path, settings: Path, vk: Path, srs: Path, previous: tuple[Path, ...] | None) -> dict:
    """The `commitments` block of a part's result; StageFailed (stage link) when a check fails."""
    proof, witness = work / "proof.json", work / "witness_0.json"
    block = {"own": swapped(worker, proof, witness, settings, vk, srs, work / "proof_own.json")}
    if previous is not None:
        linking = with_inputs_of(witness, previous, work / "witness_linked.json")
        block["linked"] = {
            "from": [str(p) for p in previous],
            **swapped(worker, proof, linking, settings, vk, srs, work / "proof_linked.json"),
        }
    for name, c in block.items():
        if not c["ok"]:
            what = "its own witness's" if name == "own" else "the previous part's output"
            if name != "own" and previous is not None and len(previous) > 1:
                what = f"its {len(previous)} producing parts' output"
            raise StageFailed(
                "link",
                "not_linked",
                f"the proof is not over {what} commitments: {c['verdict']}"
                + (f" ({c['reason']})" if c["reason"] else "")
                + ("" if c["proof_unchanged"] else ", the swap changed the proof"),
            )
    return block
