"""The report: report.md, results.csv and the PNGs of one or more results directories."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from zkbench.results.selection import selection_of_dirs
from zkbench.tools.report.counts import count_section, selection_count_section
from zkbench.tools.report.matrix import version_matrix_section
from zkbench.tools.report.plots import plot_breakdown, plot_section, plot_tradeoff
from zkbench.tools.report.records import flatten, load_records, write_csv
from zkbench.tools.report.scaling import scaling_section
from zkbench.tools.report.tables import (
    experiments_section,
    failures_section,
    machines_section,
    time_section,
    unchecked_section,
)


def build_report(results_dirs: Iterable[str | Path], out_dir: str | Path) -> Path:
    """Write report.md, results.csv and the PNGs into out_dir; return report.md's path."""
    results_dirs = [Path(d) for d in results_dirs]
    records, superseded = load_records(results_dirs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = [flatten(rec) for rec in records]
    write_csv(rows, out / "results.csv")
    ok = [rec for rec in records if rec.result["status"] == "ok"]
    sources = ", ".join(f"`{d}`" for d in results_dirs)
    sections = [
        [
            "# EZKL benchmark report",
            "",
            f"{len(records)} results from {sources}"
            + (f"; {superseded} older duplicate(s) superseded by newer runs" if superseded else "")
            + ".",
        ],
        machines_section(records),
        selection_count_section(records, selection_of_dirs(results_dirs)),
        count_section(records),
        experiments_section(rows),
        unchecked_section(rows),
        failures_section(rows),
        time_section(records),
        version_matrix_section(records, out),
        scaling_section(records, out),
        plot_section(
            "Tolerance trade-off",
            "tolerance_tradeoff.png",
            plot_tradeoff,
            ok,
            out,
            "Cost of each layer at each tolerance (ok results).",
        ),
        plot_section(
            "Stage time breakdown",
            "stage_breakdown.png",
            plot_breakdown,
            [rec for rec in records if rec.result.get("stages")],
            out,
            "Median time per stage; cached stages show the time measured when they were built.",
        ),
    ]
    path = out / "report.md"
    path.write_text("\n\n".join("\n".join(lines) for lines in sections if lines) + "\n")
    return path
