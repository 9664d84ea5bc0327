"""The report's scaling study: per family of one layer's sizes (the registry's scaling_family), prove
time, proving-key size and peak RSS against circuit rows, one log-log curve per machine, profile,
tolerance and backend, with the slope fitted on the logs."""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from zkbench.backends import DEFAULT_BACKEND, backend_of
from zkbench.tools.markdown import md_table
from zkbench.tools.report.records import Metric, Record, backend_key, peak_rss, stage_median


@functools.lru_cache(maxsize=1)
def scaling_families() -> dict[str, tuple[str, ...]]:
    """Family -> its layers' names, from the registry's scaling_family: families in registry order,
    each one's layers smallest first (by the paper profile's input size, then registry order).
    Imported here, late, because the registry imports torch."""
    from zkbench.layers import SPECS

    families = dict.fromkeys(s.scaling_family for s in SPECS if s.scaling_family is not None)
    sized = sorted(SPECS, key=lambda s: math.prod(s.paper.input_shape))  # stable: ties keep registry order
    return {family: tuple(s.name for s in sized if s.scaling_family == family) for family in families}


SCALING_METRICS: tuple[tuple[str, Metric], ...] = (
    ("prove time (s, median)", lambda r: stage_median(r, "prove")),
    ("proving key (bytes)", lambda r: r["sizes"].get("pk_bytes")),
    ("peak RSS (bytes)", peak_rss),
)


@dataclass(frozen=True)
class Curve:
    """One scaling line: a family's ok results on one machine, profile, tolerance and backend, by rows."""

    family: str
    machine: str
    profile: str
    tol: float
    backend: str
    results: tuple

    @property
    def who(self) -> str:
        """The machine, plus the backend unless the default (so default-only reports read as before)."""
        return self.machine if self.backend == DEFAULT_BACKEND else f"{self.machine} {self.backend}"

    @property
    def label(self) -> str:
        return f"{self.who} {self.profile} tol {self.tol:g}%"

    @property
    def drawable(self) -> bool:
        return len({r["circuit"]["num_rows"] for r in self.results}) >= 2

    def xy(self, metric: Metric) -> tuple[np.ndarray, np.ndarray]:
        points = [(r["circuit"]["num_rows"], metric(r)) for r in self.results]
        points = [(x, y) for x, y in points if x and y]  # a log scale needs positive values
        return np.array([x for x, _ in points], float), np.array([y for _, y in points], float)

    def slope(self, metric: Metric) -> float | None:
        x, y = self.xy(metric)
        return float(np.polyfit(np.log10(x), np.log10(y), 1)[0]) if len(set(x)) >= 2 else None


def scaling_curves(records: list[Record]) -> list[Curve]:
    members = defaultdict(list)
    for rec in records:
        r = rec.result
        for family, names in scaling_families().items():
            if r["name"] in names and r["status"] == "ok":
                members[(family, rec.machine, r["profile"], r["tol"], backend_of(r))].append(r)
    return [
        Curve(*key, tuple(sorted(rs, key=lambda r: r["circuit"]["num_rows"])))
        for key, rs in sorted(members.items(), key=lambda item: (*item[0][:4], backend_key(item[0][4])))
    ]


def plot_scaling(family: str, curves: list[Curve], path: Path) -> None:
    fig = Figure(figsize=(16, 5), layout="constrained")
    for ax, (title, metric) in zip(fig.subplots(1, len(SCALING_METRICS)), SCALING_METRICS, strict=True):
        for curve in curves:
            slope = curve.slope(metric)
            if slope is not None:
                ax.loglog(*curve.xy(metric), marker="o", label=f"{curve.label}: slope {slope:.2f}")
        ax.set(title=title, xlabel="circuit rows (num_rows)")
        ax.grid(True, which="both", alpha=0.3)
        if ax.lines:
            ax.legend(fontsize="small")
    fig.suptitle(f"{family} scaling: {', '.join(scaling_families()[family])}")
    fig.savefig(path, dpi=90)


def slope_table(curves: list[Curve]) -> str:
    return md_table(
        ("machine", "profile", "tol", "points (rows)", *(f"slope {title}" for title, _ in SCALING_METRICS)),
        [
            (
                c.who,
                c.profile,
                f"{c.tol:g}",
                ", ".join(f"{r['name']} ({r['circuit']['num_rows']})" for r in c.results),
                *("" if (k := c.slope(metric)) is None else f"{k:.2f}" for _, metric in SCALING_METRICS),
            )
            for c in curves
        ],
    )


def scaling_section(records: list[Record], out: Path) -> list[str]:
    curves = scaling_curves(records)
    blocks = ["## Scaling"]
    for family, names in scaling_families().items():
        mine = [c for c in curves if c.family == family]
        drawn = [c for c in mine if c.drawable]
        blocks.append(f"### {family} ({', '.join(names)})")
        if drawn:
            png = f"scaling_{family.lower()}.png"
            plot_scaling(family, drawn, out / png)
            blocks += [f"![{family} scaling]({png})", slope_table(drawn)]
        notes = [
            f"- no curve for {c.label}: {len(c.results)} point(s), 2 or more needed" for c in mine if not c.drawable
        ]
        if notes or not mine:
            blocks.append("\n".join(notes or ["- no curve: no ok results of this family"]))
    return ["\n\n".join(blocks)]
