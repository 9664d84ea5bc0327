"""What a run's selection counts as: each experiment's state (done, running, failed, skipped,
pending) from the results that count for it, the counts per group and per backend, the makespan."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

from zkbench.backends import BACKENDS, DEFAULT_BACKEND, backend_of
from zkbench.layers import GROUPS
from zkbench.results.fields import outcome
from zkbench.results.selection import entry_key
from zkbench.results.store import read_result, result_path

STATES = ("done", "running", "failed", "skipped", "pending")


def finished_at(result: dict) -> str:
    return result.get("finished_at") or result.get("started_at") or ""


def counts_for_run(result: dict | None, entry: dict, not_before: str | None) -> bool:
    """A stored result is this run's when it is of the run's profile, identity (when the selection
    knows it: anything else will be redone) and, after a --rerun, time."""
    if result is None or result["profile"] != entry["profile"]:
        return False
    allowed = entry.get("identities") or ([entry["identity"]] if entry.get("identity") is not None else None)
    if allowed is not None and result.get("run_identity") not in allowed:
        return False
    return not_before is None or timestamp(finished_at(result)) >= timestamp(not_before)


def timestamp(iso: str) -> float:
    try:
        t = dt.datetime.fromisoformat(iso)
    except ValueError:
        return 0.0
    return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).timestamp()


def experiment_states(
    selection: dict,
    results_dir: Path,
    results: dict[str, dict] | None = None,
    skipped: dict[str, str] | None = None,
    running=(),
) -> list[tuple[dict, str, dict | None]]:
    """(entry, state, result) for every experiment of the selection, state one of STATES.

    This session's results (and skips) first, then `running` experiments, then the run's own
    skips, then the result on disk if it is this run's; else pending."""
    results, skipped = results or {}, skipped or {}
    out: list[tuple[dict, str, dict | None]] = []
    for e in selection["experiments"]:
        r = results.get(e["id"])
        if r is not None:
            out.append((e, outcome(r), r))
            continue
        if e["id"] in skipped:
            out.append((e, "skipped", None))
            continue
        if e["id"] in running:
            out.append((e, "running", None))
            continue
        if e.get("skip"):
            out.append((e, "skipped", None))
            continue
        r = read_result(result_path(results_dir, e["group"], e["name"], e["tol"], e.get("backend", DEFAULT_BACKEND)))
        if r is None or not counts_for_run(r, e, selection.get("not_before")):
            out.append((e, "pending", None))
        else:
            out.append((e, outcome(r), r))
    return out


def states_of_results(selection: dict, results) -> list[tuple[dict, str, dict | None]]:
    """experiment_states over results from anywhere (several directories, machines): per entry of
    the selection, the best result of that experiment (rank), its outcome when it counts for the
    entry (profile, run identity), else pending."""
    best: dict[Path, list[dict]] = defaultdict(list)
    for r in results:
        best[result_path(Path(), r["group"], r["name"], r["tol"], backend_of(r))].append(r)
    out: list[tuple[dict, str, dict | None]] = []
    for e in selection["experiments"]:
        if e.get("skip"):
            out.append((e, "skipped", None))
            continue
        counted = [r for r in best.get(entry_key(e), []) if counts_for_run(r, e, None)]
        r = max(counted, key=lambda r: rank(r, e), default=None)
        out.append((e, "pending", None) if r is None else (e, outcome(r), r))
    return out


def rank(result: dict, entry: dict | None) -> tuple:
    """Which of several results of one experiment wins: one that counts for the (merged) selection
    entry, then done over failed/skipped, then the latest finished_at."""
    counts = entry is None or counts_for_run(result, entry, None)
    return counts, outcome(result) == "done", timestamp(finished_at(result))


def count_by_group(states: list[tuple[dict, str, dict | None]]) -> dict[str, dict]:
    """Per group of the selection (in the study's group order): expected and one count per state."""
    return _count(states, lambda e: e["group"], list(GROUPS))


def count_by_backend(states: list[tuple[dict, str, dict | None]]) -> dict[str, dict]:
    """The same counts per backend of the selection (a run with several backends)."""
    return _count(states, lambda e: e.get("backend", DEFAULT_BACKEND), list(BACKENDS))


def _count(states: list[tuple[dict, str, dict | None]], key, order: list[str]) -> dict[str, dict]:
    """Expected and one count per state, per key(entry), in `order` (others after, by name)."""
    rank = {k: i for i, k in enumerate(order)}
    keys = sorted(dict.fromkeys(key(e) for e, _, _ in states), key=lambda k: (rank.get(k, len(rank)), k))
    counts = {k: {"expected": 0, **dict.fromkeys(STATES, 0)} for k in keys}
    for e, state, _ in states:
        counts[key(e)]["expected"] += 1
        counts[key(e)][state] += 1
    return counts


def makespan_line(results: list[dict], workers: int) -> str | None:
    """How close a parallel run came to its bound: makespan (first experiment's start to the last
    one's end) over max(total / workers, longest), from the experiments this run measured."""
    ran = [
        r
        for r in results
        if not r.get("resumed")
        and (r.get("harness") or {}).get("wall_s")
        and r.get("started_at")
        and r.get("finished_at")
    ]
    if not ran:
        return None
    start = min(dt.datetime.fromisoformat(r["started_at"]) for r in ran)
    end = max(dt.datetime.fromisoformat(r["finished_at"]) for r in ran)
    makespan = (end - start).total_seconds()
    walls = [r["harness"]["wall_s"] for r in ran]
    bound = max(sum(walls) / max(1, workers), max(walls))
    return (
        f"makespan {makespan:.1f} s / max(total {sum(walls):.1f} s / {workers} workers, longest "
        f"{max(walls):.1f} s) = {makespan / bound:.2f}"
    )
