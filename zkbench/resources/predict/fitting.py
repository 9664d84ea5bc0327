"""Measured points and fitting the constants; checking predictions against measurements (a table,
cross-validation by circuit, extrapolation to larger logrows)."""

from __future__ import annotations

import glob
import json
import math
import os
from itertools import combinations
from pathlib import Path

from zkbench.resources.predict.layout import columns, features
from zkbench.resources.predict.model import CONSTANT_NAMES, DEFAULT_PARALLEL_FRACTION, predict
from zkbench.units import human_bytes

PK_TARGET, RSS_TARGET = 0.10, 0.25  # the check's targets: largest |error| of pk bytes and of peak RSS

SETTINGS_KEYS = (
    "run_args",
    "num_rows",
    "total_assignments",
    "total_const_size",
    "total_dynamic_col_size",
    "max_dynamic_input_len",
    "num_dynamic_lookups",
    "num_shuffles",
    "total_shuffle_col_size",
    "einsum_params",
    "model_instance_shapes",
    "module_sizes",
    "required_lookups",
    "required_range_checks",
    "num_blinding_factors",
    "version",
)


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def _find_settings(key: str, cache_dirs: list[Path]) -> dict | None:
    for c in cache_dirs:
        p = Path(c) / "circuit" / key / "settings.json"
        if p.is_file():
            return json.loads(p.read_text())
    return None


def load_points(results_dirs, cache_dirs) -> list[dict]:
    """Measured points: every ok result (results/<group>/<name>_tol<tol>.json) whose circuit settings are cached.

    A point keeps the settings fields the model reads and the measured pk/vk bytes, setup and prove peak RSS and
    the median prove time, with the prover thread count it ran with.
    """
    if isinstance(results_dirs, (str, Path)):
        results_dirs = [results_dirs]
    if isinstance(cache_dirs, (str, Path)):
        cache_dirs = [cache_dirs]
    cache_dirs = [Path(c) for c in cache_dirs]
    points = []
    for rdir in results_dirs:
        rdir = Path(rdir)
        for path in sorted(glob.glob(str(rdir / "*" / "*.json"))):
            try:
                r = json.loads(Path(path).read_text())
            except (OSError, ValueError):
                continue
            if not isinstance(r, dict) or r.get("status") != "ok":
                continue
            st, sizes = r.get("stages") or {}, r.get("sizes") or {}
            key = (r.get("cache_keys") or {}).get("circuit")
            if not key or "setup" not in st or "prove" not in st or "pk_bytes" not in sizes:
                continue
            settings = _find_settings(key, cache_dirs)
            if settings is None:
                continue
            threads = (r.get("config") or {}).get("threads") or (r.get("environment") or {}).get("cpu_cores") or 1
            point = {
                "id": r["id"],
                "source": os.path.relpath(path, rdir),
                "threads": int(threads),
                "settings": {k: settings[k] for k in SETTINGS_KEYS if k in settings},
                "measured": {
                    "pk_bytes": sizes["pk_bytes"],
                    "vk_bytes": sizes.get("vk_bytes"),
                    "setup_peak_rss_bytes": st["setup"]["peak_rss_bytes"],
                    "prove_peak_rss_bytes": st["prove"]["peak_rss_bytes"],
                    "prove_seconds": _median(st["prove"]["seconds"]),
                    "prove_seconds_all": list(st["prove"]["seconds"]),
                    "setup_base_rss_bytes": st["setup"].get("base_rss_bytes"),
                    "prove_base_rss_bytes": st["prove"].get("base_rss_bytes"),
                    "setup_growth_rss_bytes": st["setup"].get("growth_rss_bytes"),
                    "prove_growth_rss_bytes": st["prove"].get("growth_rss_bytes"),
                },
            }
            if r.get("note"):
                point["note"] = r["note"]
            points.append(point)
    points.sort(key=lambda p: (p["source"], p["id"]))
    return points


def _solve(a: list[list[float]], b: list[float]) -> list[float] | None:
    """Gaussian elimination with partial pivoting; None when singular."""
    m = len(b)
    aug = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(m):
        piv = max(range(c, m), key=lambda r: abs(aug[r][c]))
        if abs(aug[piv][c]) < 1e-12 * max(1.0, max(abs(x) for x in aug[piv][:m])):
            return None
        aug[c], aug[piv] = aug[piv], aug[c]
        for r in range(m):
            if r != c:
                f = aug[r][c] / aug[c][c]
                aug[r] = [x - f * y for x, y in zip(aug[r], aug[c], strict=True)]
    return [aug[i][m] / aug[i][i] for i in range(m)]


def _nnls_relative(rows: list[list[float]], y: list[float]) -> list[float]:
    """Non-negative least squares of the relative error sum(((rows . c) - y) / y)^2, by trying every subset of
    columns (a handful here) and keeping the best solution with all coefficients >= 0. Columns are scaled to unit
    norm first, so the answer does not depend on their units."""
    nf = len(rows[0])
    w = [[x / t for x in r] for r, t in zip(rows, y, strict=True)]
    scale = [math.sqrt(sum(r[j] ** 2 for r in w)) or 1.0 for j in range(nf)]
    w = [[x / s for x, s in zip(r, scale, strict=True)] for r in w]
    best, best_err = [0.0] * nf, sum(1.0 for _ in y)
    for size in range(1, nf + 1):
        for cols in combinations(range(nf), size):
            ata = [[sum(r[i] * r[j] for r in w) for j in cols] for i in cols]
            atb = [sum(r[i] for r in w) for i in cols]
            sol = _solve(ata, atb)
            if sol is None or any(v < 0 for v in sol):
                continue
            coef = [0.0] * nf
            for i, v in zip(cols, sol, strict=True):
                coef[i] = v
            err = sum((sum(c * x for c, x in zip(coef, r, strict=True)) - 1.0) ** 2 for r in w)
            if err < best_err - 1e-15:
                best, best_err = coef, err
    return [c / s for c, s in zip(best, scale, strict=True)]


def _nnls_relative_offset(rows: list[list[float]], y: list[float], known: list[float]) -> list[float]:
    """Non-negative fit of y = known + rows . c, by the relative error of the part beyond `known`."""
    residual = [yi - k for yi, k in zip(y, known, strict=True)]
    if all(r > 0 for r in residual):
        return _nnls_relative(rows, residual)
    return _nnls_relative(rows, y)  # a point below `known`: the bound does not hold, fit it all


def _circuit_key(settings: dict) -> str:
    """Identity of a circuit's settings, blind to the order ezkl happens to list lookups and range checks in."""
    s = dict(settings)
    for name in ("required_lookups", "required_range_checks"):
        s[name] = sorted(s.get(name) or [], key=lambda x: json.dumps(x, sort_keys=True))
    return json.dumps(s, sort_keys=True)


def fit_points(points: list[dict]) -> dict:
    """The model's constants, fitted to measured points (deterministic: pure Python arithmetic, fixed order)."""
    if not points:
        raise ValueError("no measured points to fit")
    feats = [features(columns(p["settings"])) for p in points]
    meas = [p["measured"] for p in points]
    pk_scale, pk_offset = _nnls_relative([[f["pk_struct"], 1.0] for f in feats], [m["pk_bytes"] for m in meas])
    pk = [pk_scale * f["pk_struct"] + pk_offset for f in feats]
    # keygen holds the whole key it writes: setup_per_pk >= 1. Fitted as 1 + a non-negative excess,
    # since at small k the key and the heap term grow together and the fit alone cannot tell them
    # apart, while at paper sizes (k >= 17) the heap term is 0 and the key term is all there is.
    s0, s1_excess, s2 = _nnls_relative_offset(
        [[1.0, q, f["setup_heap"]] for q, f in zip(pk, feats, strict=True)],
        [m["setup_peak_rss_bytes"] for m in meas],
        pk,
    )
    s1 = 1.0 + s1_excess
    p0, p1, p2 = _nnls_relative(
        [[1.0, q, f["prove_ext"]] for q, f in zip(pk, feats, strict=True)], [m["prove_peak_rss_bytes"] for m in meas]
    )
    single = [(f, m) for f, m, p in zip(feats, meas, points, strict=True) if p["threads"] == 1]
    multi = [(f, m, p["threads"]) for f, m, p in zip(feats, meas, points, strict=True) if p["threads"] > 1]
    if single:
        t0, t1 = _nnls_relative([[1.0, f["work"]] for f, _ in single], [m["prove_seconds"] for _, m in single])
    else:
        t0, t1 = 0.0, 1.0
    # parallel fraction: from the same circuit measured at 1 and at N threads, t_N / t_1 = 1 - p + p / N;
    # without such a pair, from the fitted single-thread time of a multi-thread point
    by_circuit: dict[str, dict[int, list[float]]] = {}
    for p in points:
        key = _circuit_key(p["settings"])
        by_circuit.setdefault(key, {}).setdefault(p["threads"], []).append(p["measured"]["prove_seconds"])
    fractions = []
    for times in by_circuit.values():
        if 1 in times:
            t_one = _median(times[1])
            for th, ts in sorted(times.items()):
                if th > 1:
                    fractions.append((1 - _median(ts) / t_one) / (1 - 1 / th))
    if not fractions:
        for f, m, th in multi:  # t = t0 + t1 * work * (1 - p + p / threads)  ->  p
            one = t1 * f["work"]
            if one > 0:
                fractions.append((1 - (m["prove_seconds"] - t0) / one) / (1 - 1 / th))
    par = min(0.99, max(0.0, sum(fractions) / len(fractions))) if fractions else DEFAULT_PARALLEL_FRACTION
    values = (pk_scale, pk_offset, s0, s1, s2, p0, p1, p2, t0, t1, par)
    return dict(zip(CONSTANT_NAMES, (float(v) for v in values), strict=True))


def fit(results_dirs, cache_dirs) -> dict:
    """Refit the constants from measured results: {"constants": ..., "points": [...]} (what a backend's data file, e.g. ezkl-23.json, holds)."""
    points = load_points(results_dirs, cache_dirs)
    return {"constants": fit_points(points), "points": points}


COLUMNS = (
    ("pk_bytes", "pk"),
    ("setup_peak_rss_bytes", "setup RSS"),
    ("prove_peak_rss_bytes", "prove RSS"),
    ("prove_seconds", "prove time"),
)


def _err(pred: float, meas: float) -> float:
    return (pred - meas) / meas * 100 if meas else float("inf")


def compare(points: list[dict], constants: dict | None = None) -> tuple[list[dict], dict]:
    """Per point: predicted, measured and % error for each column; and the max |% error| per column."""
    rows, worst = [], {key: 0.0 for key, _ in COLUMNS}
    for p in points:
        pred = predict(p["settings"], threads=p["threads"], constants=constants)
        row = {"id": p["id"], "logrows": pred["logrows"], "threads": p["threads"]}
        for key, _ in COLUMNS:
            e = _err(pred[key], p["measured"][key])
            row[key] = (pred[key], p["measured"][key], e)
            worst[key] = max(worst[key], abs(e))
        rows.append(row)
    return rows, worst


def render(rows: list[dict], worst: dict) -> str:
    out = [
        "| experiment | k | thr | pk pred | pk meas | err | setup pred | setup meas | err | prove RSS pred | "
        "prove RSS meas | err | prove s pred | prove s meas | err |",
        "|" + "---|" * 15,
    ]
    for r in rows:
        cells = [r["id"], str(r["logrows"]), str(r["threads"])]
        for key, _ in COLUMNS:
            pr, me, e = r[key]
            fmt = (lambda v: f"{v:.2f}") if key == "prove_seconds" else human_bytes
            cells += [fmt(pr), fmt(me), f"{e:+.1f}%"]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append(summary(worst, len(rows)))
    return "\n".join(out)


def summary(worst: dict, n: int) -> str:
    return (
        f"max |error| over {n} experiments: "
        + ", ".join(f"{label} {worst[key]:.1f}%" for key, label in COLUMNS)
        + f" (targets: pk {PK_TARGET:.0%}, peak RSS {RSS_TARGET:.0%}; time is reported, not a target)"
    )


RANGES = ((0, 12), (13, 14), (15, 17), (18, 99))


def cross_validate(points: list[dict], folds: int = 5) -> list[dict]:
    """Each point predicted by constants fitted without it: points of one circuit (same settings,
    e.g. one layer at both tolerances, or one circuit at 1 and 2 threads) share a fold, and the
    circuits are dealt round-robin over `folds` folds in a fixed order."""
    circuits = sorted({_circuit_key(p["settings"]) for p in points})
    fold_of = {key: i % folds for i, key in enumerate(circuits)}
    rows = []
    for f in range(folds):
        held = [p for p in points if fold_of[_circuit_key(p["settings"])] == f]
        train = [p for p in points if fold_of[_circuit_key(p["settings"])] != f]
        if held and train:
            rows += compare(held, fit_points(train))[0]
    return rows


def extrapolate(points: list[dict], fit_max_logrows: int) -> list[dict]:
    """Fitted on circuits up to fit_max_logrows, checked on the larger ones (paper sizes are larger still)."""
    train = [p for p in points if p["settings"]["run_args"]["logrows"] <= fit_max_logrows]
    held = [p for p in points if p["settings"]["run_args"]["logrows"] > fit_max_logrows]
    return compare(held, fit_points(train))[0] if train and held else []


def error_table(rows: list[dict], title: str) -> str:
    """Max and median |error| per logrows range and quantity."""
    out = [
        f"{title}",
        "",
        "| logrows | points | " + " | ".join(f"{label} max / median" for _, label in COLUMNS) + " |",
        "|" + "---|" * (2 + len(COLUMNS)),
    ]
    for lo, hi in RANGES:
        sel = [r for r in rows if lo <= r["logrows"] <= hi]
        if not sel:
            continue
        cells = []
        for key, _ in COLUMNS:
            errs = [abs(r[key][2]) for r in sel]
            cells.append(f"{max(errs):.1f}% / {_median(errs):.1f}%")
        out.append(f"| {lo}-{hi} | {len(sel)} | " + " | ".join(cells) + " |")
    return "\n".join(out)
