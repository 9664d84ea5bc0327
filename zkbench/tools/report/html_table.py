"""The HTML page's experiment table: one row per result with every number and its unit, a failure's
stage and cause, a split's parts; filter menus over group, layer, tolerance, backend, machine and
status (page.js sorts and filters; each row carries its filter values and each cell its sort key)."""

from __future__ import annotations

from html import escape

from zkbench.results.fields import shown_state
from zkbench.results.store import STAGES
from zkbench.tools.report.records import Record, flatten, shown_id
from zkbench.tools.report.tables import error_cell
from zkbench.units import human_bytes

# (filter name, header, value of a flattened row)
FILTERS = (
    ("group", "group", lambda r: r["group"]),
    ("layer", "layer", lambda r: r["name"]),
    ("tol", "tolerance", lambda r: f"{r['tol']:g} %"),
    ("backend", "backend", lambda r: r["backend"]),
    ("machine", "machine", lambda r: r["machine"]),
    ("status", "status", lambda r: r["state"]),
)
TIMED = ("setup", "prove", "verify")  # the stages with a column of their own; the rest are in the breakdown


def _cell(text: str, sort: object = None, cls: str = "") -> str:
    key = "" if sort is None else f' data-v="{escape(str(sort))}"'
    return f"<td{key}{f' class={cls!r}' if cls else ''}>{text}</td>"


def _num(value, fmt, cls: str = "num") -> str:
    """A number with its unit, sorting by the number; an empty cell sorts last."""
    return _cell("" if value is None else escape(fmt(value)), "" if value is None else value, cls)


def seconds(v: float) -> str:
    return f"{v:.3g} s"


def _bytes(v: int) -> str:
    return human_bytes(int(v))


def _time(row: dict, stage: str) -> str:
    value = row[f"{stage}_median_s"]
    cached = stage in row["cached_stages"].split()
    text = "" if value is None else seconds(value) + (" (cached)" if cached else "")
    return _cell(escape(text), value if value is not None else "", "num")


def parts_block(split: dict) -> str:
    """A split's parts as a nested table inside its row."""
    head = "".join(
        f"<th>{h}</th>"
        for h in ("part", "status", "logrows", "rows", "pk", "setup peak", "prove peak", "setup", "prove", "proof")
    )
    body = []
    for p in split.get("per_part", []):
        if p.get("status") != "ok":
            body.append(
                f"<tr><td>{escape(p['name'])}</td><td>{escape(p.get('status', '?'))}</td>"
                f'<td colspan="8">{escape(str(p.get("reason") or ""))}</td></tr>'
            )
            continue
        cells = (
            p["logrows"],
            p["num_rows"],
            _bytes(p["pk_bytes"]),
            _bytes(p["setup_peak_rss_bytes"]),
            _bytes(p["prove_peak_rss_bytes"]),
            seconds(p["setup_s"]),
            seconds(p["prove_s"]),
            f"{p['proof_bytes']} B",
        )
        body.append(
            f"<tr><td>{escape(p['name'])}</td><td>{escape(p['status'])}</td>"
            + "".join(f"<td>{escape(str(c))}</td>" for c in cells)
            + "</tr>"
        )
    summary = f"{split.get('parts')} parts, {escape(str(split.get('how') or ''))}"
    return f'<details class="parts"><summary>{summary}</summary><table><tr>{head}</tr>{"".join(body)}</table></details>'


def table_row(rec: Record) -> str:
    r = flatten(rec)
    r["state"] = shown_state(rec.result)
    attrs = " ".join(f'data-{name}="{escape(value(r))}"' for name, _, value in FILTERS)
    split = rec.result.get("split")
    failure = rec.result.get("failure")
    if failure:
        note = f"failed at {escape(failure['stage'])} ({escape(failure['kind'])}): {escape(failure['cause'])}"
    elif r["skip_reason"]:
        note = f"skipped: {escape(r['skip_reason'])}"
    elif r["unchecked_reason"]:
        note = f"accuracy unchecked: {escape(r['unchecked_reason'])}"
    else:
        note = ""
    if split:
        note = (note + " " if note else "") + parts_block(split)
    logrows = r["logrows"]
    cells = [
        _cell(escape(shown_id(r)), shown_id(r)),
        _cell(escape(r["group"]), r["group"]),
        _cell(escape(f"{r['tol']:g} %"), r["tol"], "num"),
        _cell(escape(r["backend"]), r["backend"]),
        _cell(escape(r["machine"]), r["machine"]),
        _cell(escape(r["state"]), r["state"], f"state {r['state']}"),
        _cell(
            "" if logrows is None else f"{logrows}" + (f" ×{r['split_parts']}" if r["split_parts"] else ""),
            "" if logrows is None else logrows,
            "num",
        ),
        _num(r["num_rows"], lambda v: f"{v:,}"),
        _num(r["pk_bytes"], _bytes),
        _num(r["proof_bytes"], lambda v: f"{v:,} B"),
        _num(r["peak_rss_bytes"], _bytes),
        *(_time(r, s) for s in TIMED),
        _cell(
            escape(error_cell(r) + (" %" if r["tol_metric"] is not None and not r["unchecked_reason"] else "")),
            "" if r["tol_metric"] is None else r["tol_metric"],
            "num",
        ),
        _cell(note, None, "note"),
    ]
    return f'<tr class="result" {attrs}>{"".join(cells)}</tr>'


HEADERS = (
    "experiment",
    "group",
    "tolerance",
    "backend",
    "machine",
    "status",
    "logrows",
    "rows",
    "proving key",
    "proof",
    "peak RSS",
    *(f"{s} (median)" for s in TIMED),
    "error % of range / tol %",
    "failure, split parts",
)


def _option_key(value: str) -> tuple:
    """Numbers (tolerances) in numeric order, then text."""
    try:
        return 0, float(value.rstrip(" %")), value
    except ValueError:
        return 1, 0.0, value


def filter_menus(records: list[Record]) -> str:
    rows = [flatten(rec) | {"state": shown_state(rec.result)} for rec in records]
    menus = []
    for name, header, value in FILTERS:
        options = sorted({value(r) for r in rows}, key=_option_key)
        opts = "".join(f'<option value="{escape(o)}">{escape(o)}</option>' for o in options)
        menus.append(
            f'<label>{header} <select data-filter="{name}"><option value="">all</option>{opts}</select></label>'
        )
    menus.append('<label>search <input type="search" data-filter="text" placeholder="experiment id"></label>')
    return f'<div class="filters">{"".join(menus)}<span class="shown"></span></div>'


def experiment_table(records: list[Record]) -> str:
    head = "".join(f'<th data-col="{i}">{escape(h)}</th>' for i, h in enumerate(HEADERS))
    body = "\n".join(table_row(rec) for rec in records)
    note = (
        "<p>Times are medians over the measured rounds (cached: measured when the artifact was built). "
        "Peak RSS is the largest of the EZKL stages (export, PyTorch, left out). The error is the suite's "
        "metric: the largest absolute error of the proven outputs as a percent of the float outputs' range. "
        f"Stages other than {', '.join(TIMED)} ({', '.join(s for s in STAGES if s not in TIMED)}) are in the "
        "stage breakdown. Click a header to sort.</p>"
    )
    return f'{filter_menus(records)}{note}<table id="results"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'
