"""Markdown for the tools: the tables that compare and report print."""

from __future__ import annotations

from collections.abc import Iterable


def md_table(headers: Iterable[str], rows: Iterable[Iterable]) -> str:
    def cell(v) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    headers = list(headers)
    return "\n".join(
        [
            "| " + " | ".join(headers) + " |",
            "|" + " --- |" * len(headers),
            *("| " + " | ".join(cell(v) for v in r) + " |" for r in rows),
        ]
    )


def fmt_threshold(x: float | None) -> str:
    return "off" if x is None else "exact" if x == 0 else f"+{x * 100:g}%"
