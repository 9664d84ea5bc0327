"""The HTML page's history view: each experiment's prove time over the stored runs of one machine,
profile and backend (a series), the runs where `zkbench compare`'s rules flag a regression against
the run before marked, and the list of those regressions (asv's "regressions" view).

A run is compared with the previous run of its own series only, never across machines or backends.
The rules are compare's defaults (zkbench.tools.compare: prove/setup time +20 % beyond the base's
spread and by > 50 ms, sizes exactly or 1 %, setup/prove peak RSS +25 %, accuracy, verification)
with the millisecond stages' times and peaks left out, as CI's comparison leaves them out (timer
and interpreter noise on a shared machine, docs/results.md)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from html import escape
from typing import Any

from bokeh.layouts import gridplot
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.plotting import figure

from zkbench.results.history import Entry, entries
from zkbench.results.store import STAGES, load_results_dir
from zkbench.tools.compare.rules import Row, compare
from zkbench.tools.report.records import stage_median

GUARDED = ("setup", "prove")  # the stages whose time and peak the history judges
QUIET: dict[str, Any] = {f"{kind}_{s}": None for s in STAGES if s not in GUARDED for kind in ("time", "peak")}


@dataclass
class Series:
    """One machine's runs of one profile and backend, oldest first."""

    machine: str
    profile: str
    backend: str
    entries: list[Entry]
    prove_s: list[dict] = field(default_factory=list)  # per entry: experiment id -> median prove s
    flagged: list[dict] = field(default_factory=list)  # per entry: experiment id -> its regression rows

    @property
    def label(self) -> str:
        return f"{self.entries[0].hostname} {self.profile} {self.backend}"


def load_series(store) -> list[Series]:
    by_key: dict[tuple[str, str, str], list[Entry]] = defaultdict(list)
    for e in entries(store):
        by_key[e.series].append(e)
    out = []
    for (machine, profile, backend), members in sorted(by_key.items()):
        s = Series(machine, profile, backend, members)
        for i, e in enumerate(members):
            s.prove_s.append({r["id"]: stage_median(r, "prove") for r in load_results_dir(e.results_dir)})
            flags: dict[str, list[Row]] = defaultdict(list)
            if i:
                for row in compare(members[i - 1].results_dir, e.results_dir, **QUIET).regressions:
                    flags[row.experiment].append(row)
            s.flagged.append(dict(flags))
        out.append(s)
    return out


def _row_text(row: Row) -> str:
    change = "" if row.change is None else f" ({row.change:+.0%})"

    def show(v) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return f"{row.metric}: {show(row.base)} → {show(row.new)}{change}"


def regressions_table(series: list[Series]) -> str:
    rows = []
    for s in series:
        for i, flags in enumerate(s.flagged):
            for exp, found in sorted(flags.items()):
                rows.append(
                    f"<tr><td>{escape(s.label)}</td><td>{escape(s.entries[i].label)}</td>"
                    f"<td>{escape(s.entries[i - 1].label)}</td><td>{escape(exp)}</td>"
                    f"<td>{'<br>'.join(escape(_row_text(r)) for r in found)}</td></tr>"
                )
    if not rows:
        return '<p class="regressions none">No run regressed against the run before it.</p>'
    head = "<tr><th>series</th><th>run</th><th>compared with</th><th>experiment</th><th>regressed</th></tr>"
    return f'<table class="regressions"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def trend_plots(series: list[Series], per_row: int = 4):
    """A small plot per experiment and series: prove time over runs from 0, regressed runs marked
    (hover: what regressed)."""
    figs = []
    for s in series:
        runs = [e.label for e in s.entries]
        xs = list(range(1, len(runs) + 1))
        for exp in sorted({exp for per_run in s.prove_s for exp in per_run}):
            ys = [per_run.get(exp) for per_run in s.prove_s]
            data: dict[str, list] = {"x": xs, "y": [float("nan") if y is None else y for y in ys], "run": runs}
            title = exp if len(series) == 1 else f"{exp} ({s.label})"
            p = figure(
                width=300,
                height=190,
                title=title,
                tools="pan,wheel_zoom,reset",
                x_axis_label="run",
                y_axis_label="prove s (median)",
            )
            p.title.text_font_size = "8pt"
            points = p.scatter("x", "y", source=ColumnDataSource(data), size=6)
            p.line("x", "y", source=ColumnDataSource(data))
            p.add_tools(HoverTool(renderers=[points], tooltips=[("run", "@run"), ("prove", "@y{0.[000]} s")]))
            bad = [i for i, flags in enumerate(s.flagged) if exp in flags]
            if bad:
                marks: dict[str, list] = {
                    "x": [xs[i] for i in bad],
                    "y": [data["y"][i] for i in bad],
                    "run": [runs[i] for i in bad],
                    "why": ["; ".join(_row_text(r) for r in s.flagged[i][exp]) for i in bad],
                }
                cross = p.scatter(
                    "x", "y", source=ColumnDataSource(marks), marker="x", size=16, line_width=3, color="red"
                )
                p.add_tools(HoverTool(renderers=[cross], tooltips=[("run", "@run"), ("regressed", "@why")]))
            p.y_range.start = 0
            p.xaxis.ticker = xs
            figs.append(p)
    if not figs:
        return None
    return gridplot([figs[i : i + per_row] for i in range(0, len(figs), per_row)], toolbar_location=None)
