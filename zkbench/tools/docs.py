"""The docs' figures, generated from data committed in the repository; `--check` fails where they differ.

    zkbench docs [--check] [--root DIR]

A figure in README.md or docs/*.md that comes from a measurement lives in a generated block:

    <!-- zkbench docs: NAME -->
    ...what BLOCKS[NAME] writes from committed data...
    <!-- /zkbench docs -->

`zkbench docs` rewrites every block from its data; `zkbench docs --check` (CI) changes nothing and exits 1,
naming the file and block, when a block differs from what its data gives (a hand-edited figure, data
committed without regenerating the docs), and 2 on an unknown block name or an unclosed block.
Figures with no committed data do not belong in the docs.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from zkbench.units import human_bytes

BASELINE = Path("results/baseline/bench-smoke.json")
# a body never holds another block's opening, so an unclosed block is never closed by the next one's end
BLOCK = re.compile(
    r"(<!-- zkbench docs: (?P<name>[\w-]+) -->\n)(?P<body>(?:(?!<!-- zkbench docs:).)*?)(<!-- /zkbench docs -->)", re.S
)
OPENING = re.compile(r"<!-- zkbench docs: (?P<name>[\w-]+) -->")


class BadDocs(Exception):
    """A block that cannot be generated: unknown name, unclosed, or its data missing."""


def smoke_baseline(root: Path) -> str:
    """The committed CI baseline (a cold smoke run of all experiments): each experiment's circuit, key
    and proof sizes, prove median and error, with the machine and date it was measured on."""
    path = root / BASELINE
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise BadDocs(f"{BASELINE}: {type(e).__name__}: {e}") from None
    rows: dict[str, dict] = {}
    for b in doc["benchmarks"]:
        info = b["extra_info"]
        row = rows.setdefault(info["experiment"], dict(info))
        if info["stage"] == "prove":
            row["prove_s"] = b["stats"]["median"]
    info = doc["machine_info"]
    lines = [
        f"From `{BASELINE}` ({len(rows)} experiments, {info.get('node')}: {info.get('cpu_model')}, "
        f"ezkl {info.get('ezkl')}, {doc['datetime'][:10]}); regenerate with `zkbench docs`.",
        "",
        "| experiment | logrows | rows | pk | proof | prove s (median) | error % |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in sorted(rows):
        r = rows[name]
        lines.append(
            f"| {name} | {r['logrows']} | {r['num_rows']} | {human_bytes(r['pk_bytes'])} | {r['proof_bytes']} B | "
            f"{r.get('prove_s', float('nan')):.3g} | {r['tol_metric']:.3g} |"
        )
    logrows = [r["logrows"] for r in rows.values()]
    prove = [r["prove_s"] for r in rows.values() if "prove_s" in r]
    lines += [
        "",
        f"logrows {min(logrows)}-{max(logrows)}; prove medians {min(prove):.3g}-{max(prove):.3g} s, "
        f"median {statistics.median(prove):.3g} s.",
    ]
    return "\n".join(lines) + "\n"


def study_size(root: Path) -> str:
    """The study's size, from the registry: configurations per group, tolerances, experiments."""
    from zkbench.layers import SPECS, TOLERANCES

    groups: dict[str, int] = {}
    for s in SPECS:
        groups[s.group] = groups.get(s.group, 0) + 1
    parts = ", ".join(f"{n} {GROUP_WORDS.get(g, g)}" for g, n in groups.items())
    return (
        f"{len(SPECS) * len(TOLERANCES)} experiments: {len(SPECS)} layer/model configurations ({parts}) "
        f"× {len(TOLERANCES)} tolerances ({' and '.join(f'{t:g} %' for t in TOLERANCES)}).\n"
    )


GROUP_WORDS = {"core_layers": "core layers", "scaling_study": "scaling cases", "composite": "small CNNs"}

PREDICT_DATA = Path("zkbench/resources/predict/ezkl-23.json")
PREDICT_FOLDS = 5


@functools.lru_cache(maxsize=2)
def _held_out_errors(data: str) -> tuple[int, list[tuple[int, int, int, list[float]]]]:
    """Points, and per logrows range (its lowest and highest logrows, its points, each column's max
    |% error|) of the predictor's k-fold cross-validation over the committed points: what
    `zkbench predict check --cv 5` computes (a few seconds; cached per data)."""
    from zkbench.resources.predict.fitting import COLUMNS, RANGES, cross_validate

    points = json.loads(data)["points"]
    rows = cross_validate(points, PREDICT_FOLDS)
    ranges = []
    for lo, hi in RANGES:
        sel = [r for r in rows if lo <= r["logrows"] <= hi]
        if sel:
            ks = [r["logrows"] for r in sel]
            ranges.append((min(ks), max(ks), len(sel), [max(abs(r[key][2]) for r in sel) for key, _ in COLUMNS]))
    return len(points), ranges


def predict_accuracy(root: Path) -> str:
    """The memory/time predictor's held-out accuracy on its committed data points: max |error| per
    logrows range, each circuit predicted by constants fitted without it."""
    from zkbench.resources.predict.fitting import COLUMNS

    path = root / PREDICT_DATA
    try:
        n, ranges = _held_out_errors(path.read_text())
    except (OSError, ValueError, KeyError) as e:
        raise BadDocs(f"{PREDICT_DATA}: {type(e).__name__}: {e}") from None
    lines = [
        f"From `{PREDICT_DATA}` ({n} points), as `zkbench predict check --cv {PREDICT_FOLDS}` computes it "
        "(which adds the medians); regenerate with `zkbench docs`.",
        "",
        "| logrows | points | " + " | ".join(label for _, label in COLUMNS) + " |",
        "|" + "---|" * (2 + len(COLUMNS)),
    ]
    for lo, hi, count, errs in ranges:
        ks = str(lo) if lo == hi else f"{lo}-{hi}"
        lines.append(f"| {ks} | {count} | " + " | ".join(f"{e:.1f} %" for e in errs) + " |")
    return "\n".join(lines) + "\n"


def run_options(root: Path) -> str:
    """The run options as zkbench/engine/options.py declares them (the one table pytest, zkbench run
    and zkbench plan take them from): flag, ini key, default, which front ends, help."""
    from zkbench.engine.options import PLAN, PYTEST, RUN, RUN_OPTIONS

    fronts = {PYTEST: "pytest", RUN: "run", PLAN: "plan"}
    lines = [
        "From `zkbench/engine/options.py` (`RUN_OPTIONS`); regenerate with `zkbench docs`.",
        "",
        "| option | ini key | default | taken by | what it does |",
        "|---|---|---|---|---|",
    ]
    for o in RUN_OPTIONS:
        value = "|".join(o.choices) if o.choices else o.metavar or o.name.upper()
        flag = (o.flag if o.flag_only else f"{o.flag} {value}").replace("|", "\\|")
        by = ", ".join(name for front, name in fronts.items() if front in o.fronts)
        ini = f"`zkbench_{o.name}`" if o.ini and not o.flag_only else ""
        text = o.help.replace("|", "\\|") + (" (repeatable)" if o.repeatable and "repeatable" not in o.help else "")
        lines.append(f"| `{flag}` | {ini} | {o.default or ''} | {by} | {text} |")
    return "\n".join(lines) + "\n"


BLOCKS: dict[str, Callable[[Path], str]] = {
    "smoke-baseline": smoke_baseline,
    "study-size": study_size,
    "predict-accuracy": predict_accuracy,
    "run-options": run_options,
}


def doc_files(root: Path) -> list[Path]:
    return [p for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))] if p.is_file()]


def regenerate(text: str, root: Path, where: str) -> tuple[str, list[str]]:
    """The text with every block regenerated, and the names of the blocks that changed."""
    names = OPENING.findall(text)
    closed = [m.group("name") for m in BLOCK.finditer(text)]
    if names != closed:
        unclosed = next(n for i, n in enumerate(names) if i >= len(closed) or closed[i] != n)
        raise BadDocs(f"{where}: block {unclosed!r} has no closing <!-- /zkbench docs --> line")
    changed: list[str] = []

    def fill(m: re.Match) -> str:
        name = m.group("name")
        if name not in BLOCKS:
            raise BadDocs(f"{where}: unknown block {name!r}: use one of {', '.join(BLOCKS)}")
        body = BLOCKS[name](root)
        if body != m.group("body"):
            changed.append(name)
        return m.group(1) + body + m.group(4)

    return BLOCK.sub(fill, text), changed


HELP = "regenerate the docs' figures from committed data (--check: fail where they differ)"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 where a block differs from its data")
    ap.add_argument("--root", type=Path, default=Path("."), help="the repository (default: here)")


def run(args: argparse.Namespace) -> int:
    stale = []
    try:
        for path in doc_files(args.root):
            text = path.read_text()
            new, changed = regenerate(text, args.root, str(path))
            stale += [f"{path}: block {name!r}" for name in changed]
            if changed and not args.check:
                path.write_text(new)
    except BadDocs as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.check and stale:
        for line in stale:
            print(f"{line} differs from its data: run `zkbench docs` and commit", file=sys.stderr)
        return 1
    print(f"{len(stale)} block(s) {'differ' if args.check else 'regenerated'}")
    return 0
