"""What a result document says, read one way everywhere: its outcome (done / failed / skipped), the
key and machine the tools file it under, whether its accuracy was checked, its circuit's fields."""

from __future__ import annotations

from zkbench.backends import backend_of, canonical_set, with_backend


def outcome(result: dict) -> str:
    """done / failed / skipped. Done is an ok result whose proven outputs met the tolerance; a
    result with accuracy.tolerance_met false is failed whatever its status says.

    An unchecked result (accuracy.checked false: no evaluator could compute the float outputs of a
    user's model) is status ok, every stage measured and the proof verified and sound, but nothing
    says its outputs are within the tolerance: it counts as failed, never as done, in every count
    (the summary, status, merge and report tables), and is not resumed. Where a row is shown it says
    "unchecked" with the reason (`unchecked_reason`), not "failed"."""
    met = (result.get("accuracy") or {}).get("tolerance_met")
    if met is False:
        return "failed"
    if result["status"] == "skipped":
        return "skipped"
    return "done" if result["status"] == "ok" and met is True else "failed"


def unchecked_reason(result: dict) -> str | None:
    """Why the result's accuracy was not checked (no float reference), or None when it was."""
    acc = result.get("accuracy") or {}
    return (acc.get("reason") or "not checked") if acc.get("checked") is False else None


def shown_state(result: dict) -> str:
    """The state a row shows: outcome(), but "unchecked" for a result whose accuracy was not checked."""
    state = outcome(result)
    return "unchecked" if state == "failed" and result["status"] == "ok" and unchecked_reason(result) else state


def machine_of(environment: dict) -> str:
    """The fingerprint a result is attributed to: host, CPU model and ezkl version."""
    return (
        f"{environment.get('hostname') or 'unknown host'} ({environment.get('cpu_model') or 'unknown CPU'}, "
        f"ezkl {environment.get('ezkl') or '?'})"
    )


def result_key(result: dict) -> str:
    """What the tools key a result by: its id, with its backend unless the default (with_backend),
    so two backends' runs of one experiment never collide and default-only runs keep bare ids."""
    return with_backend(result["id"], backend_of(result))


def accuracy_checked(accuracy: dict) -> bool | None:
    """Whether the proven outputs were checked against a float reference: false for a user's model
    no evaluator could run (unchecked_reason); None when there is no accuracy."""
    return bool(accuracy.get("checked", True)) if accuracy else None


def circuit_fields(result: dict) -> dict | None:
    """Everything that shapes the proven circuit, one flat field each: the circuit block's facts
    (logrows, rows, assignments, scales, decomposition, columns, lookup range, check mode), every
    other run arg ezkl used (`run_args.<name>`: visibility, I/O range checks, ...), and the split
    (`split`: None for a single circuit). None when the result has no circuit."""
    circuit = result.get("circuit")
    if not circuit:
        return None
    fields = {k: v for k, v in circuit.items() if k != "run_args"}
    fields.update({f"run_args.{k}": v for k, v in (circuit.get("run_args") or {}).items() if k not in circuit})
    if isinstance(fields.get("constraints"), dict):  # results from before the sets were sorted
        c = fields["constraints"]
        fields["constraints"] = {**c, **{k: canonical_set(c.get(k)) for k in ("range_checks", "lookups")}}
    fields["split"] = split_shape(result.get("split"))
    return fields


# what of a split is its circuit: the tiling and each part's circuit and sizes, not its times or peaks
PART_SHAPE = ("name", "logrows", "num_rows", "input_scale", "pk_bytes", "proof_bytes")


def split_shape(split: dict | None) -> dict | None:
    """A split's circuit, field by field as --circuit-only compares it (None: a single circuit)."""
    if not split:
        return None
    parts = [{k: p.get(k) for k in PART_SHAPE} for p in split.get("per_part", [])]
    return {"parts": split.get("parts"), "how": split.get("how"), "per_part": parts}


def logrows_cell(result: dict) -> str:
    """A result's logrows as tables show it: a split's as its largest part's times the parts ("12 x2")."""
    logrows = result["circuit"]["logrows"]
    parts = (result.get("split") or {}).get("parts")
    return f"{logrows} x{parts}" if parts else str(logrows)
