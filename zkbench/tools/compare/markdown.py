"""A Comparison as the markdown `zkbench compare` prints: header, the rows, missing and new experiments."""

from __future__ import annotations

from zkbench.tools.compare.rules import IMPROVED, QUIET, Comparison
from zkbench.tools.compare.runs import Run
from zkbench.tools.markdown import fmt_threshold, md_table
from zkbench.units import human_bytes


def to_markdown(comparison: Comparison, all_rows: bool = False) -> str:
    """The changed or flagged rows; every row with all_rows."""
    c = comparison
    shown = c.rows if all_rows else [r for r in c.rows if r.verdict not in QUIET]
    improved = sum(r.verdict == IMPROVED for r in c.rows)
    lines = [
        "# Benchmark comparison",
        "",
        f"- base: `{c.base_run.source}`: {c.base_run.machine}{backends(c.base_run)}",
        f"- new: `{c.new_run.source}`: {c.new_run.machine}{backends(c.new_run)}",
        "- circuits only: status, logrows, num_rows, scales, pk/vk/proof bytes and every run arg of the "
        "effective circuit; any change fails"
        if c.circuit_only
        else "- thresholds: "
        + ", ".join(f"{k} {fmt_threshold(v)}" for k, v in c.thresholds.items())
        + f"; a time regresses only above the base's max and by more than {c.min_time_delta:g} s",
    ]
    if c.normalized_by:
        lines.append(f"- times are multiples of `{c.normalized_by}` in their own run")
    elif c.base_run.machine != c.new_run.machine:
        lines.append(
            "- **warning**: different environments (host, CPU or ezkl); to compare times across "
            "machines use `--normalize-by EXPERIMENT::STAGE`"
        )
    lines += [
        "",
        f"**{len(c.regressions)} regression(s)**, {improved} improvement(s), {len(c.rows)} comparison(s)",
        "",
    ]
    if shown:
        lines.append(
            md_table(
                ("experiment", "stage/metric", "base", "new", "change", "verdict"),
                [
                    (
                        r.experiment,
                        r.metric,
                        cell(r.metric, r.base, c.normalized_by),
                        cell(r.metric, r.new, c.normalized_by),
                        "" if r.change is None else f"{r.change:+.1%}",
                        f"{r.verdict} ({r.note})" if r.note else r.verdict,
                    )
                    for r in shown
                ],
            )
        )
    else:
        lines.append("_No changes beyond noise._")
    for title, ids in (
        (f"Missing in new ({len(c.missing)})", c.missing),
        (f"New in new ({len(c.new)})", c.new),
    ):
        lines += ["", f"## {title}", ""] + ([f"- {i}" for i in ids] or ["none"])
    return "\n".join(lines) + "\n"


def backends(run: Run) -> str:
    """The selected backend, or the backends a run holds when several (default only: nothing)."""
    if run.backend:
        return f"; backend {run.backend}"
    return f"; backends {', '.join(run.backends)}" if len(run.backends) > 1 else ""


def cell(metric: str, value, normalized_by: str | None = None) -> str:
    """One base/new value: seconds (or multiples of the reference), bytes, numbers, flags."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if metric.endswith(" time"):
        return f"{value:.3g}x ref" if normalized_by else f"{value:.3g} s"
    if metric.endswith("_bytes"):
        return human_bytes(value)
    return f"{value:.3g}" if isinstance(value, float) else str(value)
