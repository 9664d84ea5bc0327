"""Child side: how a failure reads in the child's replies, one line a user can act on."""

from __future__ import annotations


def one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:500]


def failure_reply(e: BaseException) -> dict:
    """The reply to a stage that raised: out_of_memory (MemoryError), panic (a pyo3 panic) or error."""
    kind = (
        "out_of_memory" if isinstance(e, MemoryError) else "panic" if type(e).__name__ == "PanicException" else "error"
    )
    return {"ok": False, "kind": kind, "error": one_line(e)}
