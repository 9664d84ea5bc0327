"""The rules: per metric and stage, is NEW a regression of BASE? (thresholds in the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from zkbench.results.store import STAGES
from zkbench.tools.compare.runs import (
    BOOLEAN_METRICS,
    CIRCUIT_METRICS,
    NUMERIC_METRICS,
    Experiment,
    Run,
    Timing,
    load_run,
    normalized,
    only_backend,
)

DEFAULT_THRESHOLDS = {
    "time": 0.20,
    "logrows": 0.0,
    "num_rows": 0.0,
    "pk_bytes": 0.01,
    "vk_bytes": 0.01,
    "proof_bytes": 0.01,
    "peak_rss_bytes": 0.25,
    "tol_metric": 0.10,
}
# Seconds. Two idle smoke runs of one commit on a 2-core VM moved single-round witness and verify
# stages of 10-30 ms by up to 20 ms: below this, a change is scheduler jitter, not the code.
DEFAULT_MIN_TIME_DELTA = 0.050
THRESHOLD_NAMES = (*DEFAULT_THRESHOLDS, *(f"time_{s}" for s in STAGES), *(f"peak_{s}" for s in STAGES))

REGRESSION, IMPROVED, WITHIN = "REGRESSION", "improved", "within threshold"
NOISE, UNCHANGED, CACHED, OFF = "noise", "unchanged", "cached", "off"
NOT_RUN, INCOMPARABLE, TRADED = "not run", "incomparable", "traded for a smaller circuit"
CHANGED = "CHANGED"  # --circuit-only: any difference fails
ABSENT = "absent"  # a circuit field one side does not have
QUIET = frozenset({NOISE, UNCHANGED, CACHED, OFF})  # rows hidden unless --all


@dataclass(frozen=True)
class Row:
    experiment: str
    metric: str  # "logrows", "prove time", "prove peak_rss_bytes", ...
    base: object
    new: object
    change: float | None  # new / base - 1 for numbers
    verdict: str
    note: str | None = None  # e.g. why a time verdict could not use the base's spread


def _change(base: float, new: float) -> float | None:
    return new / base - 1 if base else None


def _numeric_row(exp: str, metric: str, base, new, x: float | None, floor: float = 0.0) -> Row:
    """Lower is better: beyond the threshold X (and by more than `floor` absolute) either way."""
    if x is None:
        verdict = OFF
    elif new == base:
        verdict = UNCHANGED
    elif new > base * (1 + x) and new - base > floor:
        verdict = REGRESSION
    elif new < base / (1 + x) and base - new > floor:
        verdict = IMPROVED
    else:
        verdict = WITHIN
    return Row(exp, metric, base, new, _change(base, new), verdict)


def _time_row(exp: str, stage: str, base: Timing, new: Timing, x: float | None, floor: float) -> Row:
    """Beyond the threshold, outside the base's spread and by more than floor (module docstring)."""
    metric = f"{stage} time"
    if base.cached or new.cached:
        verdict = CACHED
    elif x is None:
        verdict = OFF
    elif new.median == base.median:
        verdict = UNCHANGED
    elif new.median > base.median * (1 + x) and new.median > base.max and new.median - base.median > floor:
        verdict = REGRESSION
    elif new.median < base.median / (1 + x) and new.median < base.min and base.median - new.median > floor:
        verdict = IMPROVED
    else:
        verdict = NOISE
    # One measured round has no spread: "outside the base's spread" then rests on that one value, and
    # the row says so instead of implying a spread of 0.
    single = [side for side, t in (("base", base), ("new", new)) if t.rounds == 1 and not t.cached]
    note = (
        f"spread unknown: {' and '.join(single)} 1 round"
        if single and verdict in (REGRESSION, IMPROVED, NOISE)
        else None
    )
    if base.unmeasured or new.unmeasured:  # no time to show for that side, not a time of 0
        shown = [None if t.unmeasured else t.median for t in (base, new)]
        return Row(exp, metric, shown[0], shown[1], None, verdict, note)
    return Row(exp, metric, base.median, new.median, _change(base.median, new.median), verdict, note)


def _bool_row(exp: str, metric: str, base: bool, new: bool) -> Row:
    verdict = UNCHANGED if base == new else REGRESSION if base else IMPROVED
    return Row(exp, metric, base, new, None, verdict)


def _status_row(exp: str, base: str, new: str, absent: str) -> Row:
    if base == new:
        verdict = UNCHANGED
    elif new == "failed":
        verdict = REGRESSION
    elif new == "skipped":
        verdict = absent
    else:
        verdict = IMPROVED
    return Row(exp, "status", base, new, None, verdict)


def _smaller_circuit(b: Experiment, n: Experiment) -> bool:
    return any(
        b.metrics.get(m) is not None and n.metrics.get(m) is not None and n.metrics[m] < b.metrics[m]
        for m in ("num_rows", "logrows")
    )


def _circuit_rows(b: Experiment, n: Experiment) -> list[Row]:
    """--circuit-only: the same circuit or not; a change either way is flagged, named by its field.
    Sizes and logrows/rows first; then every other field of the effective circuit (runs.circuit_fields):
    one row per changed field, or one `circuit` row when all of them are equal."""
    rows = []
    for m in CIRCUIT_METRICS:
        base, new = b.metrics.get(m), n.metrics.get(m)
        if base is not None and new is not None:  # scales: only where both inputs are results directories
            rows.append(Row(b.id, m, base, new, _change(base, new), UNCHANGED if base == new else CHANGED))
    bc, nc = b.metrics.get("circuit"), n.metrics.get("circuit")
    if bc is None or nc is None:  # an input written before the circuit fields were recorded
        return rows
    changed = []
    for field in sorted(bc.keys() | nc.keys()):
        if field in CIRCUIT_METRICS:
            continue
        base, new = bc.get(field, ABSENT), nc.get(field, ABSENT)
        if base != new:
            changed.append(Row(b.id, field, base, new, None, CHANGED))
    rows += changed or [Row(b.id, "circuit", f"{len(bc)} fields", f"{len(nc)} fields", None, UNCHANGED)]
    return rows


def _experiment_rows(
    b: Experiment, n: Experiment, th: dict, times: bool, strict: bool, time_floor: float, circuit_only: bool = False
) -> list[Row]:
    """strict (--fail-on-missing): what was not measured in NEW is a regression. time_floor: in the
    runs' time unit."""
    if b.profile != n.profile:  # smoke vs paper: different workloads, nothing is comparable
        return [Row(b.id, "profile", b.profile, n.profile, None, REGRESSION if strict else INCOMPARABLE)]
    rows = [_status_row(b.id, b.metrics["status"], n.metrics["status"], REGRESSION if strict else NOT_RUN)]
    if circuit_only:
        return rows + _circuit_rows(b, n)
    both = [
        m for m in (*BOOLEAN_METRICS, *NUMERIC_METRICS) if b.metrics.get(m) is not None and n.metrics.get(m) is not None
    ]
    rows += [_bool_row(b.id, m, b.metrics[m], n.metrics[m]) for m in both if m in BOOLEAN_METRICS]
    for m in (m for m in both if m in NUMERIC_METRICS):
        # tol_metric: the growth must also be a real share of the tolerance budget (percent points).
        floor = th[m] * b.metrics["tol"] if m == "tol_metric" and th[m] is not None else 0.0
        row = _numeric_row(b.id, m, b.metrics[m], n.metrics[m], th[m], floor)
        traded = m == "tol_metric" and row.verdict == REGRESSION and _smaller_circuit(b, n)
        rows.append(replace(row, verdict=TRADED) if traded else row)
    for stage in (s for s in STAGES if s in b.stages and s in n.stages):
        bt, nt = b.stages[stage], n.stages[stage]
        if times:
            rows.append(_time_row(b.id, stage, bt, nt, th.get(f"time_{stage}", th["time"]), time_floor))
        if bt.peak_rss_bytes is not None and nt.peak_rss_bytes is not None:
            row = _numeric_row(
                b.id,
                f"{stage} peak_rss_bytes",
                bt.peak_rss_bytes,
                nt.peak_rss_bytes,
                th.get(f"peak_{stage}", th["peak_rss_bytes"]),
            )
            rows.append(replace(row, verdict=CACHED) if bt.cached or nt.cached else row)
    return rows


def _thresholds(overrides: dict) -> dict:
    unknown = sorted(set(overrides) - set(THRESHOLD_NAMES))
    if unknown:
        raise TypeError(f"unknown threshold {', '.join(unknown)}: use {', '.join(THRESHOLD_NAMES)}")
    bad = [k for k, v in overrides.items() if v is not None and not v >= 0]  # also NaN
    if bad:
        raise ValueError(f"threshold {', '.join(bad)} must be a fraction >= 0 or None")
    return {**DEFAULT_THRESHOLDS, **overrides}


@dataclass
class Comparison:
    base_run: Run
    new_run: Run
    rows: list
    missing: list  # experiment ids in base, not in new
    new: list  # experiment ids in new, not in base
    thresholds: dict
    min_time_delta: float
    normalized_by: str | None = None
    circuit_only: bool = False

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.verdict in (REGRESSION, CHANGED)]


def compare(
    base,
    new,
    *,
    times: bool = True,
    normalize_by: str | None = None,
    fail_on_missing: bool = False,
    min_time_delta: float = DEFAULT_MIN_TIME_DELTA,
    circuit_only: bool = False,
    base_backend: str | None = None,
    new_backend: str | None = None,
    **thresholds,
) -> Comparison:
    """Compare two runs (paths or Run objects). thresholds: DEFAULT_THRESHOLDS keys or time_<stage>,
    each a fraction or None (off). fail_on_missing: missing, skipped or profile-mismatched
    experiments are regressions. min_time_delta: seconds a time must change by to count.
    circuit_only: status and CIRCUIT_METRICS only, any change flagged (did the circuits change?).
    base_backend / new_backend: only that backend's experiments of that side, matched by bare id."""
    th = _thresholds(thresholds)
    base_run, new_run = (r if isinstance(r, Run) else load_run(r) for r in (base, new))
    # before normalizing, so that the reference is named by the bare id too
    if base_backend:
        base_run = only_backend(base_run, base_backend)
    if new_backend:
        new_run = only_backend(new_run, new_backend)
    if normalize_by:
        base_run, new_run = normalized(base_run, normalize_by), normalized(new_run, normalize_by)
    b, n = base_run.experiments, new_run.experiments
    missing = sorted(b.keys() - n.keys())
    rows = [Row(i, "experiment", "present", "missing", None, REGRESSION) for i in missing if fail_on_missing]
    for exp_id in sorted(b.keys() & n.keys()):
        rows += _experiment_rows(
            b[exp_id], n[exp_id], th, times, fail_on_missing, min_time_delta / base_run.time_unit, circuit_only
        )
    return Comparison(
        base_run, new_run, rows, missing, sorted(n.keys() - b.keys()), th, min_time_delta, normalize_by, circuit_only
    )
