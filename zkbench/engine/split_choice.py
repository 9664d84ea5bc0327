"""--split auto: how many parts the memory budget demands, decided by the predictor before any setup.

One part is searched for real (the probe: the whole layer when it is small, else the largest tile of
the fewest parts that are small; its search is the one the run itself would do, and is cached). Its
chosen circuit is then scaled to each candidate part count along the ladder 1, 2, 4, ...: the rows
and assignments grow with the tile's size (multiply-accumulates plus inputs read,
zkbench.layers.split.tile_ops), the logrows to what those rows need, and the predictor
(zkbench.resources.predict) gives that circuit's setup and prove peaks. The fewest parts whose
predicted peak fits the budget and whose logrows ezkl can build (<= MAX_LOGROWS) win; 1 means no
split. Each part is then searched and predicted again as it runs (the engine's own admission), and
a part that still does not fit, or dies of memory, sends the experiment to the next count up
(zkbench.engine.split_step.run_auto).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from zkbench.engine.search.grid import DEFAULT_INNER_COLS
from zkbench.layers import LayerSpec
from zkbench.layers.split import PartSpec, largest_tile, parts_of, tile_ops, tiling
from zkbench.resources.predict.layout import at_logrows, overflow_logrows
from zkbench.units import human_bytes

MAX_LOGROWS = 26  # ezkl's largest circuit (its SRS and FFT domain)
PROBE_OPS = 2**17  # a probe part this small searches in about a minute on 2 cores
RESERVED_ROWS = 64  # blinding factors and padding ezkl keeps free at the end of the domain
RULE = "the fewest parts whose largest part's predicted peak fits the budget"
PROBE_MAX_LOGROWS = 21  # the largest part probed for real to check a scaled estimate (a search of it)


@dataclass
class Rung:
    """One candidate part count and what the predictor says of its largest part."""

    parts: int
    logrows: int
    num_rows: int
    peak_rss_bytes: int
    prove_seconds: float
    fits: bool
    why: str = ""
    # a graph split with tiles (zkbench.engine.graph_choice): the tiles of each layer's segment
    tiles: tuple[int, ...] | None = None
    # a graph split: every part's predicted prove seconds summed, each at the one logrows all share
    all_prove_seconds: float | None = None
    # how its largest part is laid out: "rows", or "col-overflow" where only that fits (layout_fit)
    layout: str = "rows"

    def record(self) -> dict:
        return {
            "parts": self.parts,
            "logrows": self.logrows,
            "num_rows": self.num_rows,
            "predicted_peak_rss_bytes": self.peak_rss_bytes,
            "predicted_prove_seconds": self.prove_seconds,
            "fits": self.fits,
            **({"why": self.why} if self.why else {}),
            **({"tiles": list(self.tiles)} if self.tiles else {}),
            **({"layout": self.layout} if self.layout != "rows" else {}),
            **({"predicted_prove_seconds_all_parts": self.all_prove_seconds} if self.all_prove_seconds else {}),
        }


@dataclass
class Choice:
    """The part count chosen (None: none fits), the budget and every rung that was weighed."""

    parts: int | None
    budget_bytes: int
    probe: dict
    ladder: list[Rung] = field(default_factory=list)

    def record(self) -> dict:
        return {
            "parts": self.parts,
            "budget_bytes": self.budget_bytes,
            "probe": self.probe,
            "ladder": [r.record() for r in self.ladder],
            "rule": RULE,
        }

    def why_none(self) -> str:
        last = self.ladder[-1] if self.ladder else None
        if last is None:
            return f"nothing to weigh against the {human_bytes(self.budget_bytes)} budget"
        return (
            f"even {last.parts} parts (the most it tiles into, or the most weighed) need ~"
            f"{human_bytes(last.peak_rss_bytes)} per part at logrows {last.logrows}, above the "
            f"{human_bytes(self.budget_bytes)} budget"
        )


def ladder_counts(spec: LayerSpec, profile: str) -> list[int]:
    """The part counts weighed, in order: 1, 2, 4, ... up to the most tiles the layer has (each the
    tiling's own count for that request). ValueError when the layer has no tiles."""
    module, shape = spec.module(profile), spec.shape(profile).input_shape
    tiling(module, shape, 1)  # refuses a layer with no split point, with its reason
    counts, n = [1], 2
    while True:
        try:
            parts = tiling(module, shape, n).parts
        except ValueError:  # past the most tiles: the last rung is the most there are
            break
        if parts > counts[-1]:
            counts.append(parts)
        n *= 2
    return counts


def part_ops(spec: LayerSpec, profile: str, parts: int) -> int:
    """The size of the largest part when `spec` is split into `parts`."""
    module = spec.module(profile)
    t = tiling(module, spec.shape(profile).input_shape, parts)
    return tile_ops(module, t, largest_tile(module, t))


def probe_count(spec: LayerSpec, profile: str, counts: list[int]) -> int:
    """The fewest parts whose largest part is small enough to search quickly (PROBE_OPS)."""
    for n in counts:
        if part_ops(spec, profile, n) <= PROBE_OPS:
            return n
    return counts[-1]


def probe_spec(spec: LayerSpec, profile: str, n: int) -> LayerSpec | PartSpec:
    if n == 1:
        return spec
    module = spec.module(profile)
    t = tiling(module, spec.shape(profile).input_shape, n)
    return parts_of(spec, profile, n)[largest_tile(module, t).index]


def scaled_settings(settings: dict, factor: float) -> dict:
    """A chosen circuit's settings as if its part were `factor` times as big: rows, assignments,
    constants and public values scaled, logrows what those rows need (never below the lookup
    tables' own need, which does not scale: the probe's logrows when its rows left it half empty)."""
    s = copy.deepcopy(settings)
    rows = max(1, int(math.ceil(settings["num_rows"] * factor)))
    k = int(settings["run_args"]["logrows"])
    table_floor = k if settings["num_rows"] + RESERVED_ROWS <= 2 ** (k - 1) else 1
    s["num_rows"] = rows
    for key in ("total_assignments", "total_const_size"):
        if settings.get(key):
            s[key] = int(math.ceil(settings[key] * factor))
    if settings.get("model_instance_shapes"):
        s["model_instance_shapes"] = [
            [max(1, int(math.ceil(math.prod(sh) * factor)))] for sh in settings["model_instance_shapes"]
        ]
    s["run_args"]["logrows"] = max(table_floor, math.ceil(math.log2(rows + RESERVED_ROWS)))
    return s


def with_inner_cols(settings: dict, cols: int) -> dict:
    """A circuit's settings estimated at another inner-column count: the rows scale inversely (ezkl lays
    the same assignments out `cols` wide; 2 against 4 columns: 10080 rows against 5112 for a smoke Conv),
    logrows what they need, never below what the tables set."""
    own = int(settings["run_args"].get("num_inner_cols") or 1)
    if own == cols:
        return settings
    s = copy.deepcopy(settings)
    k = int(settings["run_args"]["logrows"])
    table_floor = k if settings["num_rows"] + RESERVED_ROWS <= 2 ** (k - 1) else 1
    s["num_rows"] = rows = int(math.ceil(settings["num_rows"] * own / cols))
    s["run_args"]["num_inner_cols"] = cols
    s["run_args"]["logrows"] = max(table_floor, math.ceil(math.log2(rows + RESERVED_ROWS)))
    return s


def spilled(rows_layout: dict, floor: int) -> list[dict]:
    """A circuit laid out at each logrows from its col-overflow floor up to its rows' own (the last)."""
    k = int(rows_layout["run_args"]["logrows"])
    return [at_logrows(rows_layout, j) for j in range(min(floor, k), k)] + [rows_layout]


def fastest_fitting(laid: list[tuple[dict, dict]], budget_bytes: int) -> int:
    """Of (settings, prediction) pairs, the index of the one predicted to prove fastest of those predicted
    to fit (of two as fast, the higher logrows: fewer columns); none fitting: the smallest peak."""
    fitting = [i for i, (_, p) in enumerate(laid) if p["peak_rss_bytes"] <= budget_bytes]

    def logrows(i: int) -> int:
        return int(laid[i][0]["run_args"]["logrows"])

    if fitting:
        return min(fitting, key=lambda i: (laid[i][1]["prove_seconds"], -logrows(i)))
    return min(range(len(laid)), key=lambda i: (laid[i][1]["peak_rss_bytes"], -logrows(i)))


def layout_fit(
    settings: dict, predict: Callable[[dict], dict], budget_bytes: int, inner_cols: tuple[int, ...] = DEFAULT_INNER_COLS
) -> tuple[str, dict, dict]:
    """How a circuit is laid out under the budget, as the memory fit lays it out
    (zkbench.engine.memory_fit): as it is when that is predicted to fit; else, of each inner-column
    count (with_inner_cols) spilled to each logrows from its col-overflow floor (overflow_logrows) up to
    its rows' own, fastest_fitting's. Returns (layout, settings as laid out, prediction); layout "rows"
    (its rows' own logrows) or "col-overflow" (lower: its rows spilled into more columns)."""
    p = predict(settings)
    if p["peak_rss_bytes"] <= budget_bytes:
        return "rows", settings, p
    own_cols = int(settings["run_args"].get("num_inner_cols") or 1)
    laid, rows_layouts = [], []
    for cols in sorted(set(inner_cols) | {own_cols}):
        at_cols = with_inner_cols(settings, cols)
        rows_layouts.append(at_cols)
        laid += [(s, p if s is settings else predict(s)) for s in spilled(at_cols, overflow_logrows(at_cols))]
    best, q = laid[fastest_fitting(laid, budget_bytes)]
    return ("rows" if any(best is r for r in rows_layouts) else "col-overflow"), best, q


def weigh(n: int, settings: dict, predict: Callable[[dict], dict], budget_bytes: int, why: str = "") -> Rung:
    layout, laid, p = layout_fit(settings, predict, budget_bytes)
    fits = p["peak_rss_bytes"] <= budget_bytes
    k = int(laid["run_args"]["logrows"])
    if k > MAX_LOGROWS:
        fits, why = False, f"logrows {k} is above ezkl's largest circuit ({MAX_LOGROWS})"
    return Rung(n, k, settings["num_rows"], p["peak_rss_bytes"], p["prove_seconds"], fits, why, layout=layout)


def evaluable(rung: Rung | None) -> bool:
    """A count worth probing for real: its scaled estimate is at most a few logrows over what fits
    (its search evaluates that part: calibration and witnesses, not keys)."""
    return rung is not None and rung.logrows <= PROBE_MAX_LOGROWS


def choose(
    spec: LayerSpec,
    profile: str,
    budget_bytes: int,
    probe: Callable[[LayerSpec | PartSpec], dict],
    predict: Callable[[dict], dict],
    start: int = 1,
) -> Choice:
    """The fewest parts (>= start) whose largest part is predicted to fit `budget_bytes`.

    `probe(spec)`: the settings of the circuit the search chooses for that spec (a real search);
    `predict(settings)`: zkbench.engine.experiment.predicted for this run."""
    counts = [n for n in ladder_counts(spec, profile)]
    n_probe = probe_count(spec, profile, counts)
    probed = probe_spec(spec, profile, n_probe)
    settings = probe(probed)
    probe_ops = part_ops(spec, profile, n_probe)
    choice = Choice(
        None,
        budget_bytes,
        {
            "spec": probed.name,
            "parts": n_probe,
            "logrows": settings["run_args"]["logrows"],
            "num_rows": settings["num_rows"],
            "ops": probe_ops,
        },
    )
    weighed, estimates = [c for c in counts if c >= start], {}
    for n in weighed:
        s = scaled_settings(settings, part_ops(spec, profile, n) / probe_ops) if n != n_probe else settings
        estimates[n] = rung = weigh(n, s, predict, budget_bytes)
        choice.ladder.append(rung)
        if rung.fits:
            choice.parts = n
            break
    # scaled from a small tile, a part's rows are overstated (a small tile reads relatively more
    # input, its halo, and carries fixed overhead): probe the next count down for real while it fits
    while choice.parts is not None and choice.parts != weighed[0]:
        fewer = weighed[weighed.index(choice.parts) - 1]
        if fewer == n_probe or not evaluable(estimates.get(fewer)):
            break
        rung = weigh(fewer, probe(probe_spec(spec, profile, fewer)), predict, budget_bytes, why="probed")
        choice.ladder.append(rung)
        if not rung.fits:
            break
        choice.parts = fewer
    return choice
