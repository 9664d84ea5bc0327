"""The report's tolerance trade-off and stage breakdown plots, and the section that shows a plot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from zkbench.backends import DEFAULT_BACKEND, backend_of, with_backend
from zkbench.results.store import STAGES
from zkbench.tools.report.records import Metric, Record, stage_median

TRADEOFF_METRICS: tuple[tuple[str, Metric, bool], ...] = (  # (title, value, log scale)
    ("logrows", lambda r: r["circuit"]["logrows"], False),
    ("rows (num_rows)", lambda r: r["circuit"]["num_rows"], True),
    ("prove time (s, median)", lambda r: stage_median(r, "prove"), True),
)


def plot_tradeoff(ok: list[Record], path: Path) -> None:
    """Grouped bars from ok results."""
    by_key = {
        (rec.machine, rec.result["profile"], backend_of(rec.result), rec.result["name"], rec.result["tol"]): rec.result
        for rec in ok
    }
    layers = list(dict.fromkeys(key[:4] for key in by_key))  # records come in registry order
    tols = sorted({key[4] for key in by_key})
    several = len({key[:3] for key in layers}) > 1
    labels = [
        f"{name} ({machine} {profile}{'' if backend == DEFAULT_BACKEND else ' ' + backend})" if several else name
        for machine, profile, backend, name in layers
    ]
    x, width = np.arange(len(layers)), 0.8 / len(tols)
    fig = Figure(figsize=(max(8.0, 0.55 * len(layers)), 10), layout="constrained")
    axes = fig.subplots(len(TRADEOFF_METRICS), 1, sharex=True)
    for ax, (title, value, log) in zip(axes, TRADEOFF_METRICS, strict=True):
        for i, tol in enumerate(tols):
            keys = [(*layer, tol) for layer in layers]
            heights = [value(by_key[key]) if key in by_key else np.nan for key in keys]
            ax.bar(x + (i - (len(tols) - 1) / 2) * width, heights, width, label=f"tol {tol:g}%")
        ax.set_title(title)
        ax.set_yscale("log" if log else "linear")
        ax.legend(fontsize="small")
    axes[-1].set_xticks(x, labels, rotation=60, ha="right", fontsize="small")
    fig.suptitle("Cost per tolerance")
    fig.savefig(path, dpi=90)


def plot_breakdown(recs: list[Record], path: Path) -> None:
    """Stacked bars from results that have stages."""
    several = len({rec.machine for rec in recs}) > 1
    ids = [with_backend(rec.result["id"], backend_of(rec.result)) for rec in recs]
    labels = [f"{i} ({rec.machine})" if several else i for i, rec in zip(ids, recs, strict=True)]
    y, left = np.arange(len(recs)), np.zeros(len(recs))
    fig = Figure(figsize=(11, 1.5 + 0.32 * len(recs)), layout="constrained")
    ax = fig.subplots()
    for stage in STAGES:
        widths = np.array([stage_median(rec.result, stage) or 0.0 for rec in recs])
        ax.barh(y, widths, left=left, label=stage)
        left += widths
    ax.set_yticks(y, labels, fontsize="small")
    ax.invert_yaxis()  # first experiment on top, as in the table
    ax.set(xlabel="median seconds", title="Time per stage")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: bars fill the axes
    fig.savefig(path, dpi=90)


def plot_section(
    title: str, png: str, plot: Callable[[list[Record], Path], None], records: list[Record], out: Path, note: str
) -> list[str]:
    if not records:
        return [f"## {title}", "", "No data."]
    plot(records, out / png)
    return [f"## {title}", "", note, "", f"![{title}]({png})"]
