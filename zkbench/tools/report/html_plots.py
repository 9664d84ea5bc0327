"""The HTML page's interactive plots (Bokeh: pan, zoom, hover, a legend click hides a line):
cost against circuit rows per scaling family and over all layers, with the slope fitted on the
logs; tolerance 0.5 vs 2 per layer; where each experiment's time went; the version matrix; and the
memory/time predictor against what was measured."""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import cycle

import numpy as np
from bokeh.layouts import gridplot
from bokeh.models import ColumnDataSource, FactorRange, HoverTool
from bokeh.palettes import Category10_10, Category20_20
from bokeh.plotting import figure

from zkbench.backends import backend_of, with_backend
from zkbench.results.store import STAGES
from zkbench.tools.report.records import Metric, Record, stage_median
from zkbench.tools.report.scaling import SCALING_METRICS, scaling_curves, scaling_families

TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
MIB = 2**20


def _loglog(title: str, x_label: str, y_label: str, width: int = 430, height: int = 340):
    p = figure(
        title=title,
        x_axis_type="log",
        y_axis_type="log",
        width=width,
        height=height,
        tools=TOOLS,
        x_axis_label=x_label,
        y_axis_label=y_label,
    )
    p.add_tools(HoverTool(tooltips=[("experiment", "@id"), ("x", "@x{0,0.[000]}"), ("y", "@y{0,0.[000]}")]))
    return p


def _outside_legend(p, place: str = "below") -> None:
    """The legend beside the axes (the curves fill them); a click on an item hides its line."""
    if p.legend:
        legend = p.legend[0]
        p.center = [r for r in p.center if r is not legend]
        legend.click_policy = "hide"
        legend.label_text_font_size = "8pt"
        p.add_layout(legend, place)


def slope_of(x: np.ndarray, y: np.ndarray) -> float | None:
    """The slope of log y against log x (numpy.polyfit): 1 is linear in rows."""
    return float(np.polyfit(np.log10(x), np.log10(y), 1)[0]) if len(set(x.tolist())) >= 2 else None


def _points(results: list[dict], metric: Metric) -> dict:
    pts = [(r["circuit"]["num_rows"], metric(r), with_backend(r["id"], backend_of(r))) for r in results]
    pts = [p for p in pts if p[0] and p[1]]  # log axes need positive values
    return {"x": [p[0] for p in pts], "y": [p[1] for p in pts], "id": [p[2] for p in pts]}


def scaling_plots(records: list[Record]) -> list[tuple[str, object]]:
    """(title, layout) per scaling family with a curve of 2+ row counts: prove time, proving key
    and peak RSS against rows, one line per machine, profile, tolerance and backend."""
    curves = scaling_curves(records)
    out = []
    for family, names in scaling_families().items():
        drawn = [c for c in curves if c.family == family and c.drawable]
        if not drawn:
            continue
        figs = []
        for title, metric in SCALING_METRICS:
            p = _loglog(title, "circuit rows (num_rows)", title)
            for color, curve in zip(cycle(Category10_10), drawn):
                data = _points(list(curve.results), metric)
                slope = slope_of(np.array(data["x"], float), np.array(data["y"], float)) if data["x"] else None
                if slope is None:
                    continue
                src = ColumnDataSource(data)
                label = f"{curve.label}: slope {slope:.2f}"
                p.line("x", "y", source=src, color=color, legend_label=label)
                p.scatter("x", "y", source=src, color=color, size=7, legend_label=label)
            _outside_legend(p)
            figs.append(p)
        out.append((f"{family} scaling ({', '.join(names)})", gridplot([figs], toolbar_location="right")))
    return out


def all_layers_plot(records: list[Record]):
    """Prove time against rows for every ok result, one colour per group, each with its slope."""
    by_group: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for rec in records:
        if rec.result["status"] == "ok" and rec.result.get("circuit"):
            by_group[(rec.result["group"], f"{rec.machine} {rec.result['profile']}")].append(rec.result)
    if not by_group:
        return None
    p = _loglog(
        "prove time against circuit rows, all layers",
        "circuit rows (num_rows)",
        "prove time (s, median)",
        width=900,
        height=420,
    )
    for color, ((group, who), results) in zip(cycle(Category10_10), sorted(by_group.items())):
        data = _points(results, lambda r: stage_median(r, "prove"))
        slope = slope_of(np.array(data["x"], float), np.array(data["y"], float)) if data["x"] else None
        label = f"{group} ({who})" + ("" if slope is None else f": slope {slope:.2f}")
        p.scatter("x", "y", source=ColumnDataSource(data), color=color, size=8, alpha=0.8, legend_label=label)
    _outside_legend(p)
    return p


def grouped_bars(factors: list[tuple[str, str]], values: list, ids: list, title: str, y_label: str, height: int):
    """Bars grouped by the factors' first part, coloured by their second (a tolerance, a backend),
    on a log y axis from half the smallest value; the legend beside the plot."""
    kinds = list(dict.fromkeys(k for _, k in factors))
    colors = dict(zip(kinds, cycle(Category10_10)))
    data = {
        "x": factors,
        "y": values,
        "id": ids,
        "kind": [k for _, k in factors],
        "color": [colors[k] for _, k in factors],
    }
    positive = [v for v in values if v]
    p = figure(
        x_range=FactorRange(*factors),
        y_axis_type="log",
        height=height,
        width=1200,
        title=title,
        tools=TOOLS,
        y_axis_label=y_label,
    )
    p.vbar(
        x="x",
        top="y",
        bottom=min(positive) / 2 if positive else 1e-9,
        width=0.9,
        source=ColumnDataSource(data),
        color="color",
        legend_field="kind",
    )
    p.add_tools(HoverTool(tooltips=[("experiment", "@id"), ("value", "@y{0,0.[000]}")]))
    p.xaxis.group_label_orientation = math.pi / 3
    _outside_legend(p, "right")
    return p


def tolerance_plot(records: list[Record]):
    """Rows and prove time per layer at each tolerance, grouped bars (ok results, first backend/machine)."""
    seen: dict[tuple[str, str], dict] = {}
    several = len({rec.machine for rec in records}) > 1
    for rec in records:
        r = rec.result
        if r["status"] == "ok" and r.get("circuit"):
            layer = with_backend(r["name"], backend_of(r)) + (f" [{rec.machine}]" if several else "")
            seen.setdefault((layer, f"{r['tol']:g} %"), r)
    if not seen:
        return None
    factors = list(seen)
    figs = []
    for title, metric in (
        ("circuit rows (num_rows)", lambda r: r["circuit"]["num_rows"]),
        ("prove time (s, median)", lambda r: stage_median(r, "prove")),
    ):
        p = grouped_bars(
            factors, [metric(seen[f]) or 0 for f in factors], [seen[f]["id"] for f in factors], title, title, 380
        )
        p.xaxis.major_label_text_font_size = "7pt"
        figs.append(p)
    return gridplot([[f] for f in figs], toolbar_location="right")


def breakdown_plot(records: list[Record]):
    """Median seconds of each stage per experiment, stacked horizontal bars."""
    recs = [rec for rec in records if rec.result.get("stages")]
    if not recs:
        return None
    several = len({rec.machine for rec in recs}) > 1
    ids = [
        with_backend(rec.result["id"], backend_of(rec.result)) + (f" [{rec.machine}]" if several else "")
        for rec in recs
    ]
    data: dict[str, list] = {"id": ids}
    for stage in STAGES:
        data[stage] = [stage_median(rec.result, stage) or 0.0 for rec in recs]
    p = figure(
        y_range=list(reversed(ids)),
        height=max(320, 80 + 16 * len(ids)),
        width=1000,
        tools=TOOLS,
        title="time per stage (median s); cached stages show the time measured when they were built",
        x_axis_label="seconds",
    )
    p.hbar_stack(
        list(STAGES),
        y="id",
        height=0.8,
        source=ColumnDataSource(data),
        color=list(Category20_20[: len(STAGES)]),
        legend_label=list(STAGES),
    )
    p.add_tools(HoverTool(tooltips=[("experiment", "@id"), *((s, f"@{s}{{0.[000]}} s") for s in STAGES)]))
    p.yaxis.major_label_text_font_size = "7pt"
    _outside_legend(p, "right")
    return p


def matrix_plot(records: list[Record]):
    """Prove time of each experiment per backend (grouped bars, log y); None for one backend."""
    backends = sorted({backend_of(rec.result) for rec in records})
    if len(backends) < 2:
        return None
    cells = {}
    for rec in records:
        r = rec.result
        value = stage_median(r, "prove") if r["status"] == "ok" else None
        if value:
            cells[(f"{r['id']} [{rec.machine}]", backend_of(r))] = value
    factors = sorted(cells)
    p = grouped_bars(
        factors,
        [cells[f] for f in factors],
        [e for e, _ in factors],
        "prove time per backend (median s)",
        "prove time (s)",
        420,
    )
    p.xaxis.major_label_orientation = math.pi / 2
    return p


PREDICTED = (  # (title, predicted field of result.prediction, measured value)
    ("prove peak RSS (MiB)", "prove_peak_rss_bytes", lambda r: r["stages"]["prove"]["peak_rss_bytes"], MIB),
    ("setup peak RSS (MiB)", "setup_peak_rss_bytes", lambda r: r["stages"]["setup"]["peak_rss_bytes"], MIB),
    ("prove time (s)", "prove_seconds", lambda r: stage_median(r, "prove"), 1),
    ("proving key (MiB)", "pk_bytes", lambda r: r["sizes"]["pk_bytes"], MIB),
)


def prediction_plots(records: list[Record]):
    """The predictor's figure for each result against the measured one, log-log with y = x."""
    with_prediction = [
        rec.result
        for rec in records
        if rec.result["status"] == "ok" and rec.result.get("prediction") and "prove" in rec.result.get("stages", {})
    ]
    if not with_prediction:
        return None
    figs = []
    for title, field, measured, unit in PREDICTED:
        pts = []
        for r in with_prediction:
            predicted, value = r["prediction"].get(field), measured(r)
            if predicted and value:
                pts.append((predicted / unit, value / unit, with_backend(r["id"], backend_of(r))))
        if not pts:
            continue
        p = _loglog(title, f"predicted {title}", f"measured {title}", width=460, height=380)
        p.scatter(
            "x",
            "y",
            source=ColumnDataSource(
                {"x": [a for a, _, _ in pts], "y": [b for _, b, _ in pts], "id": [i for _, _, i in pts]}
            ),
            size=7,
            alpha=0.8,
        )
        lo = min(min(a, b) for a, b, _ in pts) / 1.5
        hi = max(max(a, b) for a, b, _ in pts) * 1.5
        p.line([lo, hi], [lo, hi], color="gray", line_dash="dashed", legend_label="measured = predicted")
        ratios = sorted(b / a for a, b, _ in pts)
        p.title.text = f"{title}: measured / predicted, median {ratios[len(ratios) // 2]:.2f} of {len(pts)}"
        p.legend.location = "top_left"
        figs.append(p)
    return gridplot([figs[:2], figs[2:]], toolbar_location="right") if figs else None
