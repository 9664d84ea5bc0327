"""The report's version matrix: each experiment across the prover backends that ran it, prove ratios
only like for like (same statement), the overall table and the prove-time plot."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from zkbench.backends import DEFAULT_BACKEND, backend_of, statement_of
from zkbench.tools.markdown import md_table
from zkbench.tools.report.records import Record, backend_key, flatten, stage_median
from zkbench.tools.report.tables import time_cell
from zkbench.units import human_bytes

MATRIX_PNG = "backend_prove_time.png"
MATRIX_COLUMNS = (
    "backend",
    "tolerance_mode",
    "statement",
    "logrows",
    "rows",
    "pk",
    "proof",
    "setup s (median)",
    "prove s (median)",
    "prove peak RSS",
    "prove x like-for-like",
)
Group = tuple[str, str, str]  # (machine, profile, bare experiment id): what backends are compared within


def backend_label(result: dict) -> str:
    """name version (device). Documents before the backend block were proven by the default (on the CPU)."""
    b = result.get("backend") or {"name": DEFAULT_BACKEND, "version": result.get("ezkl_version"), "device": "cpu"}
    return f"{b['name']} {b['version'] or '?'} ({b['device']})"


def backend_groups(records: list[Record]) -> dict[Group, dict[str, Record]]:
    """Each experiment's record per backend, in registry order; same machine and profile only, so a
    ratio never compares machines."""
    groups: dict[Group, dict[str, Record]] = defaultdict(dict)
    for rec in records:
        groups[(rec.machine, rec.result["profile"], rec.result["id"])][backend_of(rec.result)] = rec
    return groups


def ok_prove(rec: Record | None) -> float | None:
    """The prove median of an ok result (None otherwise, or when not positive: it is divided by)."""
    if rec is None or rec.result["status"] != "ok":
        return None
    t = stage_median(rec.result, "prove")
    return t if t and t > 0 else None


def statement(rec: Record | None) -> str | None:
    """What the result proves (zkbench.backends.statement_of); None for a result without the record."""
    return statement_of((rec.result.get("circuit") or {}).get("constraints")) if rec else None


def like_for_like(by_backend: dict[str, Record], backend: str) -> tuple[float, str] | None:
    """backend's prove median over that of the first backend (default first, then by name) whose
    result of the same experiment proves the same statement, both ok; with that backend's name.
    None when no such pair exists (a ratio across statements is not given)."""
    mine, stmt = ok_prove(by_backend.get(backend)), statement(by_backend.get(backend))
    if not mine or stmt is None:
        return None
    for ref in sorted(by_backend, key=backend_key):
        theirs = ok_prove(by_backend[ref])
        if theirs and statement(by_backend[ref]) == stmt:
            return mine / theirs, ref
    return None


def matrix_row(rec: Record, ratio: tuple[float, str] | None) -> tuple:
    row, r = flatten(rec), rec.result
    head = (backend_label(r), row["tolerance_mode"], statement(rec) or "not recorded")
    if r["status"] != "ok":  # nothing comparable was measured: say why in one cell
        return (*head, f"**{r['status']}**: {row['failure'] or row['skip_reason'] or ''}", *[""] * 7)
    prove = r.get("stages", {}).get("prove")
    return (
        *head,
        row["logrows"] or "",
        row["num_rows"] or "",
        *("" if row[k] is None else human_bytes(row[k]) for k in ("pk_bytes", "proof_bytes")),
        time_cell(row, "setup"),
        time_cell(row, "prove"),
        human_bytes(prove["peak_rss_bytes"]) if prove else "",
        "-" if ratio is None else f"{ratio[0]:.2f} (vs {ratio[1]})",
    )


def overall_table(groups: dict[Group, dict[str, Record]], backends: list[str]) -> str:
    rows = []
    for b in backends:
        status = Counter(g[b].result["status"] for g in groups.values() if b in g)
        pairs = [x for g in groups.values() if (x := like_for_like(g, b)) is not None]
        refs: list[str | None] = [*sorted({r for _, r in pairs}, key=backend_key)] or [None]
        for ref in refs:
            ratios = [x for x, r in pairs if r == ref]
            geomean = math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else None
            rows.append(
                (
                    b,
                    status["ok"],
                    status["failed"],
                    status["skipped"],
                    ref or "-",
                    "-" if geomean is None else f"{geomean:.2f}",
                    len(ratios),
                )
            )
    return md_table(
        ("backend", "ok", "failed", "skipped", "same statement as", "prove x that (geomean)", "experiments"), rows
    )


def plot_backend_prove(
    groups: dict[Group, dict[str, Record]], backends: list[str], labels: list[str], path: Path
) -> None:
    """Grouped horizontal bars: one group per experiment (top to bottom), one bar per backend (ok results);
    horizontal so that 40 experiments x 3 backends stay legible."""
    y, height = np.arange(len(groups)), 0.8 / len(backends)
    fig = Figure(figsize=(9.0, max(4.0, 0.09 * len(groups) * (len(backends) + 1))), layout="constrained")
    ax = fig.subplots()
    for i, b in enumerate(backends):
        widths = [ok_prove(g.get(b)) or np.nan for g in groups.values()]
        ax.barh(y + (i - (len(backends) - 1) / 2) * height, widths, height, label=b)
    ax.set_xscale("log")
    ax.set(xlabel="prove median (s)", title="Prove time per backend")
    ax.set_yticks(y, labels, fontsize="small")
    ax.invert_yaxis()  # the report's experiment order, top down
    ax.legend(fontsize="small")
    fig.savefig(path, dpi=90)


def version_matrix_section(records: list[Record], out: Path) -> list[str]:
    """Each experiment across the backends that ran it; nothing when only one backend did."""
    backends = sorted({backend_of(rec.result) for rec in records}, key=backend_key)
    if len(backends) < 2:
        return []
    groups = backend_groups(records)
    several = len({g[:2] for g in groups}) > 1  # name machine and profile only where they differ
    labels = [f"{i} ({m}, {p})" if several else i for m, p, i in groups]
    lines = [
        "## Version matrix",
        "",
        "Each experiment as each prover backend (name, version, device) ran it, with the statement it "
        "proves (visibility of inputs, outputs and parameters; whether inputs and outputs are range-checked: "
        "ezkl 19 and 23 check them, 16.1 cannot, `ezkl-23-noio` is ezkl 23 without them). Times are medians "
        "in seconds (* = cached stage); peak RSS is the prove stage's. A prove ratio is given only like for "
        "like: over the first backend (the default first) whose result of the same experiment proves the "
        "same statement, named beside it; - where there is none.",
        "",
        overall_table(groups, backends),
    ]
    if any(ok_prove(rec) for rec in records):
        plot_backend_prove(groups, backends, labels, out / MATRIX_PNG)
        lines += ["", f"![Prove time per backend]({MATRIX_PNG})"]
    for label, by_backend in zip(labels, groups.values(), strict=True):
        rows = [matrix_row(by_backend[b], like_for_like(by_backend, b)) for b in backends if b in by_backend]
        lines += ["", f"### {label}", "", md_table(MATRIX_COLUMNS, rows)]
    return lines
