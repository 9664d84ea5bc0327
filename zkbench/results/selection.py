"""A run's selection: the experiments it collected (results/.status/selection.json), one entry per
experiment with its profile, run identity and skip reason; the union of several runs' selections."""

from __future__ import annotations

import json
from pathlib import Path

from zkbench.backends import DEFAULT_BACKEND
from zkbench.files import atomic_write_json
from zkbench.layers import SPECS, TOLERANCES, experiment_id
from zkbench.results.store import result_path

SELECTION_FILE = "selection.json"


def selection_path(results_dir: Path) -> Path:
    """results/.status/selection.json: the experiments the latest run collected."""
    return Path(results_dir) / ".status" / SELECTION_FILE


def selection_entry(
    spec,
    tol: float,
    profile: str,
    identity: dict | None = None,
    skip: str | None = None,
    backend: str = DEFAULT_BACKEND,
) -> dict:
    """One experiment of a selection. `profile` is the result's (custom models record "custom");
    `identity` is the run's zkbench.engine.config.run_identity, `skip` why the run skips it."""
    return {
        "id": experiment_id(spec.name, tol),
        "group": spec.group,
        "name": spec.name,
        "tol": tol,
        "profile": spec.result_profile(profile),
        "identity": identity,
        "skip": skip,
        "backend": backend,
    }


def selection_doc(
    profile: str, experiments: list[dict], not_before: str | None = None, shard: str | None = None
) -> dict:
    """A run's selection: its profile, its experiments (selection_entry) and, after a --rerun,
    `not_before`: only results finished at or after that time are this run's. A --shard run's
    selection names its shard ("K/N"), so `zkbench merge` can tell a missing shard."""
    doc = {"profile": profile, "not_before": not_before, "experiments": experiments}
    return {**doc, "shard": shard} if shard else doc


def write_selection(results_dir: Path, selection: dict) -> Path:
    """Atomically (re)write results/.status/selection.json."""
    path = selection_path(results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, selection)
    return path


def read_selection(results_dir: Path) -> dict | None:
    try:
        doc = json.loads(selection_path(results_dir).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("experiments"), list) else None


def registry_selection(profile: str) -> dict:
    """The whole study of a profile (registry x default tolerances), when no run left a selection."""
    return selection_doc(profile, [selection_entry(s, tol, profile) for s in SPECS for tol in TOLERANCES])


def entry_key(entry: dict) -> Path:
    """A selection entry's result path relative to a results directory: what a result must match."""
    return result_path(Path(), entry["group"], entry["name"], entry["tol"], entry.get("backend", DEFAULT_BACKEND))


def union_selection(selections: list[dict]) -> dict:
    """The union of several runs' selections: one entry per experiment (the first run's, with the run
    identities of all), the profile they share ("a+b" when they differ), no not_before."""
    entries: dict[Path, dict] = {}
    for selection in selections:
        for e in selection["experiments"]:
            key = entry_key(e)
            if key not in entries:
                entries[key] = dict(e)
                continue
            kept = entries[key]
            known = [*(kept.get("identities") or [kept.get("identity")])]
            for identity in e.get("identities") or [e.get("identity")]:
                if identity not in known:
                    known.append(identity)
            if None in known:  # a selection without identities: any result of the profile counts
                kept["identity"], known = None, [None]
            kept.pop("identities", None)
            if len(known) > 1:
                kept["identities"] = known
            if not e.get("skip"):
                kept["skip"] = None  # one run skips it, another runs it: a result is expected
    profiles = sorted({s.get("profile") or "?" for s in selections})
    return selection_doc("+".join(profiles), list(entries.values()))


def selection_of_dirs(dirs) -> dict | None:
    """The union of the selections the directories hold (results/.status/selection.json), or None."""
    selections = [s for s in map(read_selection, dirs) if s is not None]
    return union_selection(selections) if selections else None
