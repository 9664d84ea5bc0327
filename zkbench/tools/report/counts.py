"""The report's count checks: each machine's results against the study of their profile, and the
union of the runs' own selections (selection.json) over every directory and machine."""

from __future__ import annotations

from collections import defaultdict

from zkbench.backends import backend_of
from zkbench.results.counts import count_by_group, states_of_results
from zkbench.results.fields import outcome
from zkbench.results.selection import registry_selection
from zkbench.tools.markdown import md_table
from zkbench.tools.report.records import Record, backend_key


def count_check(records: list[Record]) -> list[dict]:
    """Per machine, profile, backend and group: expected, done, failed, skipped, missing (ids).
    Counted as the pytest summary and `zkbench status` count (zkbench.results.counts.count_by_group):
    the study of the profile (registry_selection: registry x default tolerances), plus any other
    group found (e.g. custom models), whose expected count is None. Each backend runs the study."""
    found: dict[tuple[str, str, str], dict[str, dict]] = defaultdict(dict)
    for rec in records:
        found[(rec.machine, rec.result["profile"], backend_of(rec.result))][rec.result["id"]] = rec.result
    rows = []
    for (machine, profile, backend), results in sorted(
        found.items(), key=lambda kv: (*kv[0][:2], backend_key(kv[0][2]))
    ):
        entries = registry_selection(profile)["experiments"]
        expected = {e["group"] for e in entries}
        entries += [{"id": r["id"], "group": r["group"]} for r in results.values() if r["group"] not in expected]
        states = [
            (e, outcome(results[e["id"]]) if e["id"] in results else "pending", results.get(e["id"])) for e in entries
        ]
        for group, counts in count_by_group(states).items():
            rows.append(
                {
                    "machine": machine,
                    "profile": profile,
                    "backend": backend,
                    "group": group,
                    "expected": counts["expected"] if group in expected else None,
                    "done": counts["done"],
                    "failed": counts["failed"],
                    "skipped": counts["skipped"],
                    "missing": sorted(e["id"] for e, state, _ in states if e["group"] == group and state == "pending"),
                }
            )
    return rows


def selection_count_section(records: list[Record], selection: dict | None) -> list[str]:
    """The count check of the runs' own selection (the union of the directories' selection.json,
    e.g. the shards of one study), over the results of every directory and machine: what `zkbench
    merge` and the pytest summary count. Nothing when no directory holds a selection."""
    if selection is None:
        return []
    states = states_of_results(selection, [rec.result for rec in records])
    rows = [
        (group, c["expected"], c["done"], c["failed"], c["skipped"], c["pending"])
        for group, c in count_by_group(states).items()
    ]
    missing = [e["id"] for e, state, _ in states if state == "pending"]
    return [
        "## Count check of the runs' selection",
        "",
        f"{len(states)} experiments selected by the runs (profile {selection['profile']}), over all directories:",
        "",
        md_table(("group", "expected", "done", "failed", "skipped", "missing"), rows),
        *(["", f"Missing: {', '.join(missing)}"] if missing else []),
    ]


def count_section(records: list[Record]) -> list[str]:
    rows = count_check(records)
    several = len({r["backend"] for r in rows}) > 1  # the backend column only where it tells them apart
    table = md_table(
        ("machine", "profile", *(["backend"] * several), "group", "expected", "done", "failed", "skipped", "missing"),
        [
            (
                r["machine"],
                r["profile"],
                *([r["backend"]] * several),
                r["group"],
                "-" if r["expected"] is None else r["expected"],
                r["done"],
                r["failed"],
                r["skipped"],
                len(r["missing"]),
            )
            for r in rows
        ],
    )
    missing = [
        " ".join(
            ["-", r["machine"], r["profile"], *([r["backend"]] * several), f"{r['group']}:", ", ".join(r["missing"])]
        )
        for r in rows
        if r["missing"]
    ]
    return ["## Count check", "", table, *(["", "Missing:", "", *missing] if missing else [])]
