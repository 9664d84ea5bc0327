"""The report's tables of results: machines, experiments, unchecked accuracy, where the time went,
failed and skipped."""

from __future__ import annotations

from collections import Counter

from zkbench.results.store import STAGES
from zkbench.tools.markdown import md_table
from zkbench.tools.report.records import Record, shown_id
from zkbench.units import human_bytes


def machines_section(records: list[Record]) -> list[str]:
    envs = {rec.machine: rec.result["environment"] for rec in records}
    counts = Counter(rec.machine for rec in records)
    rows = [
        (
            label,
            env.get("hostname", ""),
            env["cpu_model"],
            env["cpu_cores"],
            human_bytes(env["ram_bytes"]),
            ", ".join(g.get("name", "?") for g in env["gpus"]) or "none",
            env["ezkl"],
            env["torch"],
            env["python"],
            counts[label],
        )
        for label, env in sorted(envs.items())
    ]
    return [
        "## Machines",
        "",
        md_table(("machine", "hostname", "CPU", "cores", "RAM", "GPUs", "ezkl", "torch", "python", "results"), rows),
    ]


def time_cell(row: dict, stage: str) -> str:
    value = row[f"{stage}_median_s"]
    return "" if value is None else f"{value:.3g}" + ("*" if stage in row["cached_stages"].split() else "")


def experiments_section(rows: list[dict]) -> list[str]:
    def bytes_cell(v):
        return "" if v is None else human_bytes(v)

    table = md_table(
        (
            "machine",
            "experiment",
            "group",
            "status",
            "logrows",
            "rows",
            *(f"{s} s" for s in STAGES),
            "peak RSS",
            "pk",
            "proof",
            "error % / tol",
            "tol met",
        ),
        [
            (
                r["machine"],
                shown_id(r),
                r["group"],
                "**unchecked**"
                if r["unchecked_reason"]
                else r["status"]
                if r["status"] == "ok"
                else f"**{r['status']}**",
                f"{r['logrows']} x{r['split_parts']}" if r["split_parts"] else r["logrows"] or "",
                r["num_rows"] or "",
                *(time_cell(r, s) for s in STAGES),
                bytes_cell(r["peak_rss_bytes"]),
                bytes_cell(r["pk_bytes"]),
                bytes_cell(r["proof_bytes"]),
                error_cell(r),
                "unchecked" if r["unchecked_reason"] else {True: "yes", False: "**no**", None: ""}[r["tolerance_met"]],
            )
            for r in rows
        ],
    )
    return [
        "## Experiments",
        "",
        "Times are medians in seconds; * = cached stage (measured when its artifact "
        "was built). Peak RSS leaves out the export stage (PyTorch).",
        "",
        table,
    ]


def error_cell(row: dict) -> str:
    """The float outputs' error / tol, then the discrete outputs' exact agreement (equal/values)."""
    if row["unchecked_reason"]:
        return "unchecked"
    discrete = row.get("discrete")
    agree = f"{discrete['equal']}/{discrete['values']} equal" if discrete else ""
    if row["tol_metric"] is None:
        return agree
    if discrete and not row.get("float_values"):  # outputs all discrete: no float error to show
        return agree
    error = f"{row['tol_metric']:.3g} / {row['tol']:g}"
    return f"{error}; {agree}" if agree else error


def unchecked_section(rows: list[dict]) -> list[str]:
    """Results whose accuracy no evaluator could check: every stage ran and the proof verified, but
    nothing says the outputs are within tol. The count check counts them as failed."""
    bad = [(r["machine"], shown_id(r), r["unchecked_reason"]) for r in rows if r["unchecked_reason"]]
    if not bad:
        return []
    return [
        "## Unchecked accuracy",
        "",
        "Proven, verified and soundness-checked, but no evaluator could compute the float outputs, so the "
        "accuracy is not claimed (counted as failed above, never as done):",
        "",
        md_table(("machine", "experiment", "why"), bad),
    ]


HARNESS_PARTS = {  # the harness clock's buckets (engine.child.Clock), as the report names them
    "child_start_s": "stage children starting",
    "prepare_s": "building workloads (torch, CNN training)",
    "child_stop_s": "stage children stopping",
    "cache_io_s": "cache reads and writes",
    "cache_wait_s": "waiting for another worker's cache entry",
    "status_write_s": "live status",
    "ipc_s": "talking to stage children",
}


def time_section(records: list[Record]) -> list[str]:
    """Where the experiments' time went: the stages they ran (a cached stage ran in an earlier run
    and is left out), the tolerance search's work, and the harness's own time around the stages."""
    runs = [rec.result for rec in records if rec.result.get("stages") and rec.result.get("harness")]
    if not runs:
        return []
    spent: Counter = Counter()
    for r in runs:
        for stage, st in r["stages"].items():
            if not st["cached"]:
                spent[stage] += sum(st["seconds"])
    total = sum(spent.values())
    rows = [(stage, f"{secs:.1f}", f"{100 * secs / total:.1f} %") for stage, secs in spent.most_common()]
    rows.append(("all stages", f"{total:.1f}", "100 %"))
    searches = [r["stages"]["search"] for r in runs if "search" in r["stages"] and not r["stages"]["search"]["cached"]]
    made, reused, pruned = (sum(s.get(k) or 0 for s in searches) for k in ("evaluations", "reused", "pruned"))
    ascending = [s.get("ascending_scan_evaluations_estimate") for s in searches]
    parts: Counter = Counter()
    for r in runs:
        parts.update({k: v for k, v in r["harness"].get("parts_s", {}).items() if k in HARNESS_PARTS})
    wall = sum(r["harness"]["wall_s"] for r in runs)
    lines = [
        "## Where the time went",
        "",
        f"Seconds of the stages these {len(runs)} experiments ran, summed (cached stages left out: they ran before):",
        "",
        md_table(("stage", "seconds", "share"), rows),
        "",
        f"Tolerance search: {made} candidate evaluations made, {reused} read from earlier ones, {pruned} "
        "structures left out by a lower bound of their cost"
        + (
            f"; the ascending scan (`--search-scan exhaustive`) would evaluate about {sum(ascending)} for the "
            "same outcomes (estimated, assuming the error depends on the scale only)."
            if ascending and None not in ascending
            else "."
        ),
        "",
        f"Around the stages (the harness, {sum(parts.values()):.1f} s of the experiments' {wall:.1f} s): "
        + ", ".join(f"{HARNESS_PARTS[k]} {v:.1f} s" for k, v in parts.most_common() if v >= 0.05)
        + ".",
    ]
    return lines


def failures_section(rows: list[dict]) -> list[str]:
    bad = [
        (r["machine"], shown_id(r), r["status"], r["failure"] or r["skip_reason"] or "")
        for r in rows
        if r["status"] != "ok"
    ]
    return ["## Failed and skipped", "", md_table(("machine", "experiment", "status", "why"), bad)] if bad else []
