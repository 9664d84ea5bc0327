"""Merge the results directories of shards (or of any runs) into one: `zkbench merge DIR... --out DIR`

    pytest benchmarks --shard 1/3 --results-dir results/shard-1      # one per machine or array task
    ...
    zkbench merge results/shard-* --out results/merged
    zkbench report results/merged --out report/

Copies every result document (DIR/<group>/*.json; not history/, baseline/ nor .status/) into OUT.
Where several inputs hold the same experiment (the same OUT path), the one that counts for the
merged selection wins (its profile and run identity), then a done one over a failed or skipped one,
then the latest finished_at; one line names each duplicate that was dropped. Two valid results of one
experiment whose circuits differ (logrows, rows or scales) are a conflict, one line each. A result
OUT already holds is replaced only by a different one, and then kept under OUT/history/ as
write_result keeps it. The input directories are only read.

The merged selection, the union of the inputs' results/.status/selection.json (an experiment named
by several keeps every run identity, so a result of any of them counts), goes to
OUT/.status/selection.json, so `zkbench status --results-dir OUT` counts the union too; a --rerun's
`not_before` is not carried over. Then the count check of the union prints per group (and per
backend when there are several), as the pytest summary counts it. When every input's selection
names its shard (K/N), a shard that none of the inputs ran is reported too.

Exit status: 0 when every experiment of the union has a result (done, failed or skipped), 1 when
some are missing (named, one line per group) or a shard is missing, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from zkbench.backends import DEFAULT_BACKEND, backend_of
from zkbench.files import atomic_write_json
from zkbench.results.counts import count_by_backend, count_by_group, experiment_states, rank
from zkbench.results.fields import outcome
from zkbench.results.selection import entry_key, read_selection, registry_selection, union_selection, write_selection
from zkbench.results.store import keep_history, read_result, result_files, result_path

CIRCUIT_FIELDS = ("logrows", "num_rows", "input_scale", "param_scale")


@dataclass(frozen=True)
class Found:
    """One result document of an input directory."""

    result: dict
    source: Path  # the file it was read from

    @property
    def key(self) -> Path:
        """Its path relative to a results directory (result_path's layout)."""
        r = self.result
        return result_path(Path(), r["group"], r["name"], r["tol"], backend_of(r))


def circuit_of(result: dict) -> tuple | None:
    circuit = result.get("circuit") if result.get("status") == "ok" else None
    return tuple(circuit.get(f) for f in CIRCUIT_FIELDS) if circuit else None


def describe_circuit(found: Found) -> str:
    logrows, rows, input_scale, param_scale = circuit_of(found.result) or (None,) * 4
    return f"{found.source} (logrows {logrows}, rows {rows}, scales {input_scale}/{param_scale})"


def shard_gaps(selections: list[dict], without_selection: int) -> tuple[list[str], bool]:
    """Shards (K/N) that no input's selection names, when every selection names its shard; and
    whether that makes the union incomplete. An empty shard (more shards than experiments) leaves
    no selection, so as many gaps as there are inputs without one are only noted."""
    shards = [s.get("shard") for s in selections]
    if not selections or any(not isinstance(s, str) or "/" not in s for s in shards):
        return [], False
    by_n: dict[int, set[int]] = defaultdict(set)
    for s in shards:
        k, _, n = str(s).partition("/")
        by_n[int(n)].add(int(k))
    lines = []
    if len(by_n) > 1:
        lines.append(f"the inputs are shards of different splits ({', '.join(f'N={n}' for n in sorted(by_n))})")
    gaps = [f"{k}/{n}" for n, ks in sorted(by_n.items()) for k in range(1, n + 1) if k not in ks]
    incomplete = len(by_n) > 1 or len(gaps) > without_selection
    if gaps:
        why = "missing" if incomplete else "empty, or not among the inputs"
        lines.append(f"shard{'s' * (len(gaps) > 1)} {', '.join(gaps)}: no input's selection names it ({why})")
    return lines, incomplete


def copy_result(found: Found, out: Path) -> str:
    """Copy the result to OUT at its path; "copied", "unchanged", or "replaced" (the old one goes to
    OUT/history/<group>/, as write_result keeps a replaced result)."""
    target = out / found.key
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        if read_result(target) == found.result:
            return "unchanged"
        keep_history(target, out, found.result["group"])
        atomic_write_json(target, found.result)
        return "replaced"
    atomic_write_json(target, found.result)
    return "copied"


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def count_lines(title: str, counts: dict[str, dict]) -> list[str]:
    out = [f"{title:15} {'expected':>8} {'done':>5} {'failed':>6} {'skipped':>7} {'pending':>7}"]
    for key, c in counts.items():
        out.append(f"{key:15} {c['expected']:>8} {c['done']:>5} {c['failed']:>6} {c['skipped']:>7} {c['pending']:>7}")
    return out


def merge(dirs: list[Path], out: Path, say=print) -> int:
    selections, found, without_selection = [], [], 0
    for d in dirs:
        selection = read_selection(d)
        if selection is None:
            without_selection += 1
            say(f"{d}: no selection in {d}/.status/ (an empty shard, or a run that never started)")
        else:
            selections.append(selection)
        for path in result_files(d):
            r = read_result(path)
            if r is None:
                say(f"{path}: not a valid result document, left out")
            else:
                found.append(Found(r, path))
    if selections:
        union = union_selection(selections)
    else:
        profiles = sorted({f.result["profile"] for f in found}) or ["smoke"]
        union = registry_selection(profiles[0])
        say(f"no input has a selection: counting against the whole study of profile {profiles[0]}")
    entries = {entry_key(e): e for e in union["experiments"]}

    by_key: dict[Path, list[Found]] = defaultdict(list)
    for f in found:
        by_key[f.key].append(f)
    chosen: dict[Path, Found] = {}
    for key, candidates in sorted(by_key.items()):
        ordered = sorted(candidates, key=lambda f: rank(f.result, entries.get(key)), reverse=True)
        chosen[key] = ordered[0]
        circuits = {circuit_of(f.result) for f in ordered if outcome(f.result) == "done"} - {None}
        if len(circuits) > 1:
            say(
                f"conflict {key}: "
                + " vs ".join(describe_circuit(f) for f in ordered if outcome(f.result) == "done")
                + f"; kept {ordered[0].source}"
            )
        for other in ordered[1:]:
            if other.result != ordered[0].result:
                say(f"duplicate {key}: kept {ordered[0].source}, not {other.source}")

    done: dict[str, int] = defaultdict(int)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for f in chosen.values():
            done[copy_result(f, out)] += 1
        if selections:
            write_selection(out, union)
    except OSError as e:
        say(f"error: cannot write {out} ({e.strerror or e}): free disk space or choose another --out")
        return 2
    leftover = [f for f in result_files(out) if f.relative_to(out) not in chosen]
    note = f"; {plural(len(leftover), 'result')} already in {out} that no input holds, left alone" if leftover else ""
    say(
        f"merged {plural(len(dirs), 'directory', 'directories')} into {out}: {plural(len(chosen), 'result')} "
        f"({', '.join(f'{n} {what}' for what, n in sorted(done.items())) or 'none'}), "
        f"{plural(len(union['experiments']), 'experiment')} selected" + note
    )

    states = experiment_states(union, out)
    say("")
    for line in count_lines("group", count_by_group(states)):
        say(line)
    if len({e.get("backend", DEFAULT_BACKEND) for e in union["experiments"]}) > 1:
        say("")
        for line in count_lines("backend", count_by_backend(states)):
            say(line)
    missing: dict[str, list[str]] = defaultdict(list)
    for entry, state, _ in states:
        if state == "pending":
            stale = (out / entry_key(entry)).exists()
            missing[entry["group"]].append(
                entry["id"] + (" (its result is of another profile or run)" if stale else "")
            )
    gaps, incomplete = shard_gaps(selections, without_selection)
    for group, ids in missing.items():
        say(f"missing in {group}: {', '.join(ids)}")
    for line in gaps:
        say(line)
    return 1 if missing or incomplete else 0


HELP = "merge the results directories of shards, then the count check of the union"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="results directories (e.g. one per shard)")
    ap.add_argument("--out", type=Path, required=True, help="the merged results directory (created)")


def run(args: argparse.Namespace) -> int:
    out = args.out.resolve()
    for d in args.dirs:
        if not d.is_dir():
            print(f"error: {d}: not a directory", file=sys.stderr)
            return 2
        if out == d.resolve() or d.resolve() in out.parents:
            print(f"error: --out {args.out} is (inside) the input {d}: merge never writes to an input", file=sys.stderr)
            return 2
    return merge(list(args.dirs), args.out)
