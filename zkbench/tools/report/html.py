"""The report as one self-contained HTML page: `zkbench report RESULTS_DIR... --html OUT [--history DIR]`.

Nothing is fetched when the page is viewed: BokehJS (the plotting library's own offline bundle,
only the components the page uses) and the page's script and style are inlined. Sections: where the
numbers come from (machines, run config), the count check, the experiment table (sortable,
filterable), the plots, and with a history the trend view and its regressions.
"""

from __future__ import annotations

import datetime
import importlib.resources
from collections.abc import Iterable
from html import escape
from pathlib import Path

from bokeh.embed import components
from bokeh.resources import Resources

from zkbench.backends import backend_of
from zkbench.results.fields import shown_state
from zkbench.tools.report import html_plots, trends
from zkbench.tools.report.html_table import experiment_table
from zkbench.tools.report.records import Record, load_records
from zkbench.units import human_bytes

ASSETS = importlib.resources.files("zkbench.tools.report")


def _machines(records: list[Record]) -> str:
    envs = {rec.machine: rec.result["environment"] for rec in records}
    rows = []
    for label, env in sorted(envs.items()):
        gpus = ", ".join(g.get("name", "?") for g in env.get("gpus", [])) or "none"
        cells = (
            label,
            env.get("hostname", ""),
            env["cpu_model"],
            env.get("cpu_cores"),
            human_bytes(env["ram_bytes"]),
            gpus,
            env["ezkl"],
            env.get("ezkl_build", ""),
            env["torch"],
            env["python"],
            env.get("platform", ""),
        )
        rows.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>")
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "machine",
            "hostname",
            "CPU",
            "cores",
            "RAM",
            "GPUs",
            "ezkl",
            "ezkl build",
            "torch",
            "python",
            "platform",
        )
    )
    return f'<table class="machines"><tr>{head}</tr>{"".join(rows)}</table>'


CONFIG_COLUMNS = (
    "profile",
    "backend",
    "tolerance mode",
    "rounds",
    "threads",
    "memory budget",
    "calibration / held-out samples",
    "search grid",
    "results",
)


def _config_of(r: dict) -> tuple:
    c, ident = r["config"], r.get("run_identity") or {}
    grid = ident.get("search") or {}
    budget = c.get("max_memory_bytes")
    return (
        r["profile"],
        backend_of(r),
        r.get("tolerance_mode", "suite"),
        c.get("rounds"),
        c.get("threads"),
        "none" if budget is None else human_bytes(budget),
        f"{c.get('n_calibration')} / {c.get('n_heldout')}",
        "; ".join(f"{k} {v}" for k, v in grid.items() if k != "margin") or "",
    )


def _configs(records: list[Record]) -> str:
    """Each distinct run config, with how many results ran under it."""
    seen: dict[tuple, int] = {}
    for rec in records:
        key = _config_of(rec.result)
        seen[key] = seen.get(key, 0) + 1
    head = "".join(f"<th>{h}</th>" for h in CONFIG_COLUMNS)
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in (*key, n)) + "</tr>" for key, n in seen.items()
    )
    return f'<h3>Run configuration</h3><table class="configs"><tr>{head}</tr>{rows}</table>'


def _counts(records: list[Record]) -> str:
    states: dict[str, int] = {}
    for rec in records:
        states[shown_state(rec.result)] = states.get(shown_state(rec.result), 0) + 1
    return ", ".join(f'<span class="state {escape(k)}">{n} {escape(k)}</span>' for k, n in sorted(states.items()))


def _section(anchor: str, title: str, body: str, note: str = "") -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{f"<p>{note}</p>" if note else ""}{body}</section>'


def build_html(results_dirs: Iterable[str | Path], out_file: str | Path, history: str | Path | None = None) -> Path:
    """Write the page; return its path. BadInput for a directory without results or a bad history."""
    results_dirs = [Path(d) for d in results_dirs]
    records, superseded = load_records(results_dirs)
    plots: list[tuple[str, str, str, object]] = []  # (anchor, title, note, bokeh model)

    def add(anchor: str, title: str, note: str, model) -> None:
        if model is not None:
            plots.append((anchor, title, note, model))

    for i, (title, model) in enumerate(html_plots.scaling_plots(records)):
        add(
            f"scaling-{i}",
            title,
            "Log-log; the slope fitted on the logs (numpy.polyfit) is in each legend entry: 1 means linear in rows.",
            model,
        )
    add(
        "all-layers",
        "Cost against rows, all layers",
        "Every ok result; one colour per group and machine.",
        html_plots.all_layers_plot(records),
    )
    add(
        "tolerance",
        "Tolerance 0.5 % vs 2 %",
        "What the looser tolerance buys, per layer (ok results).",
        html_plots.tolerance_plot(records),
    )
    add("breakdown", "Stage breakdown", "Median seconds per stage per experiment.", html_plots.breakdown_plot(records))
    add(
        "matrix", "Version matrix", "Prove time of each experiment per prover backend.", html_plots.matrix_plot(records)
    )
    add(
        "prediction",
        "Predicted vs measured",
        "The memory/time predictor (zkbench predict) against what the run "
        "measured; on the dashed line the prediction was exact.",
        html_plots.prediction_plots(records),
    )
    history_html = ""
    if history is not None:
        series = trends.load_series(history)
        runs = sum(len(s.entries) for s in series)
        add(
            "trends",
            "Trends over runs",
            f"Prove time per experiment over {runs} stored run(s) of {len(series)} "
            "series (machine, profile, backend); a red × marks a run that regressed against the one before it "
            "by compare's rules.",
            trends.trend_plots(series),
        )
        history_html = _section(
            "regressions",
            "Regressions",
            trends.regressions_table(series),
            escape(trends.__doc__.split("\n\n")[1].replace("\n", " ")),
        )
    script, divs = components([model for *_, model in plots]) if plots else ("", [])
    resources = Resources(mode="inline", components=["bokeh"])
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sources = ", ".join(escape(str(d)) for d in results_dirs)
    body = [
        f"<h1>EZKL benchmark report</h1><p>{len(records)} results from {sources}"
        + (f"; {superseded} older duplicate(s) superseded by newer runs" if superseded else "")
        + f"; generated {generated}. {_counts(records)}</p>",
        _section("machines", "Where these numbers come from", _machines(records) + _configs(records)),
        _section("experiments", "Experiments", experiment_table(records)),
        *(_section(a, t, div, n) for (a, t, n, _), div in zip(plots, divs, strict=True)),
        history_html,
    ]
    toc = "".join(
        f'<a href="#{a}">{escape(t)}</a>'
        for a, t in [("machines", "machines"), ("experiments", "experiments"), *((a, t) for a, t, *_ in plots)]
        + ([("regressions", "regressions")] if history_html else [])
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>EZKL benchmark report</title>
<style>{(ASSETS / "page.css").read_text()}</style>
{resources.render_js()}
{script}
</head><body><nav>{toc}</nav><main>
{"".join(body)}
</main><script>{(ASSETS / "page.js").read_text()}</script></body></html>
"""
    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    return out
