"""The run history: a directory of past runs, one entry per run and prover backend, kept apart by
machine, so that a page can show each experiment's trend over runs and mark where it regressed.

    HISTORY/
      <machine-key>/                  one per machine fingerprint (hostname, CPU model, ezkl)
        machine.json                  that fingerprint
        <entry-key>/                  <UTC start>-<commit>-<profile>-<backend>
          entry.json                  machine, commit, profile, backend, started_at, results count
          results/<group>/<name>_tol<tol>.json   the run's result documents of that backend
          bench.json                  its pytest-benchmark JSON entries of that backend (if given)

An entry is a copy, not a link: the results directory it came from may be overwritten by the next
run. Adding the same run twice is a no-op (the entry key is the same), so a CI job may add
unconditionally; merging two histories is copying the entries one lacks, never replacing one.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from zkbench.backends import DEFAULT_BACKEND, backend_of
from zkbench.results.fields import machine_of
from zkbench.results.store import BadInput, load_results_dir, read_json, result_files

ENTRY_FILE = "entry.json"
MACHINE_FILE = "machine.json"


@dataclass(frozen=True)
class Entry:
    """One stored run of one backend on one machine."""

    path: Path
    machine: str  # machine_of(environment): the fingerprint it is kept under
    hostname: str
    commit: str
    profile: str
    backend: str
    started_at: str  # the earliest result's start: orders a machine's entries
    results: int

    @property
    def results_dir(self) -> Path:
        return self.path / "results"

    @property
    def bench_json(self) -> Path | None:
        path = self.path / "bench.json"
        return path if path.is_file() else None

    @property
    def series(self) -> tuple[str, str, str]:
        """Entries of one series are comparable over time: same machine, profile and backend."""
        return self.machine, self.profile, self.backend

    @property
    def label(self) -> str:
        return f"{self.started_at[:16].replace('T', ' ')} {self.commit[:8]}"


def machine_key(environment: dict) -> str:
    """A directory name for a machine: its hostname and a short hash of its whole fingerprint."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", environment.get("hostname") or "unknown")
    return f"{host}-{hashlib.sha256(machine_of(environment).encode()).hexdigest()[:8]}"


def _entry_key(started_at: str, commit: str, profile: str, backend: str) -> str:
    stamp = re.sub(r"[^0-9T]", "", started_at)[:15]  # 20261204T131500
    return f"{stamp}-{commit[:12]}-{profile}-{backend}"


def _bench_of_backend(doc: dict, backend: str, default_backend: str) -> dict:
    """The benchmark JSON with only that backend's entries (the other fields as they were)."""
    keep = [
        b
        for b in doc.get("benchmarks", [])
        if ((b.get("extra_info") or {}).get("backend") or default_backend) == backend
    ]
    return {**doc, "benchmarks": keep}


def add_run(
    store: str | Path, results_dir: str | Path, *, commit: str, bench_json: str | Path | None = None
) -> list[Entry]:
    """Copy a run's results (and benchmark JSON) into the store: one entry per machine, profile and
    backend found in it. Returns the entries, new or already there. BadInput on an empty or invalid
    results directory, or a benchmark JSON that is not one."""
    load_results_dir(results_dir)  # BadInput unless it holds valid results
    files = result_files(results_dir)
    bench = read_json(Path(bench_json)) if bench_json else None
    if bench is not None and not (isinstance(bench, dict) and isinstance(bench.get("benchmarks"), list)):
        raise BadInput(f"{bench_json}: not a pytest-benchmark JSON: no 'benchmarks' list")
    groups: dict[tuple[str, str, str], list[tuple[Path, dict]]] = {}
    for src in files:
        r = read_json(src)
        groups.setdefault((machine_of(r["environment"]), r["profile"], backend_of(r)), []).append((src, r))
    entries = []
    for (machine, profile, backend), members in sorted(groups.items()):
        env = members[0][1]["environment"]
        started = min(r["started_at"] for _, r in members)
        mdir = Path(store) / machine_key(env)
        path = mdir / _entry_key(started, commit, profile, backend)
        if not (path / ENTRY_FILE).is_file():
            tmp = path.with_name(path.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            for src, _ in members:
                dst = tmp / "results" / src.parent.name / src.name
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
            if bench is not None:
                (tmp / "bench.json").write_text(json.dumps(_bench_of_backend(bench, backend, DEFAULT_BACKEND)))
            meta = {
                "machine": machine,
                "hostname": env.get("hostname") or "unknown",
                "commit": commit,
                "profile": profile,
                "backend": backend,
                "started_at": started,
                "results": len(members),
            }
            (tmp / ENTRY_FILE).write_text(json.dumps(meta, indent=1) + "\n")
            (mdir / MACHINE_FILE).write_text(json.dumps(env, indent=1, sort_keys=True) + "\n")
            tmp.rename(path)  # whole or not at all: a crash leaves a .partial, never a half entry
        entries.append(_read_entry(path))
    return entries


def _read_entry(path: Path) -> Entry:
    meta = read_json(path / ENTRY_FILE)
    try:
        return Entry(
            path,
            meta["machine"],
            meta["hostname"],
            meta["commit"],
            meta["profile"],
            meta["backend"],
            meta["started_at"],
            int(meta["results"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise BadInput(f"{path / ENTRY_FILE}: not a history entry (lacks {e})") from None


def entries(store: str | Path) -> list[Entry]:
    """Every entry of a store, oldest first. BadInput when it is not a history directory."""
    root = Path(store)
    if not root.is_dir():
        raise BadInput(f"{root}: no such history directory (make one with `zkbench history add`)")
    found = [_read_entry(p.parent) for p in sorted(root.glob(f"*/*/{ENTRY_FILE}"))]
    return sorted(found, key=lambda e: (e.started_at, e.path.name))


def merge_stores(sources: Iterable[str | Path], into: str | Path) -> tuple[int, int]:
    """Copy the entries the target lacks from each source; (copied, already there). Machines stay
    apart: an entry keeps its machine directory, whichever store it came from."""
    copied = present = 0
    for source in sources:
        for e in entries(source):
            target = Path(into) / e.path.parent.name / e.path.name
            if (target / ENTRY_FILE).is_file():
                present += 1
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(e.path.parent / MACHINE_FILE, target.parent / MACHINE_FILE)
            tmp = target.with_name(target.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(e.path, tmp)
            tmp.rename(target)
            copied += 1
    return copied, present
