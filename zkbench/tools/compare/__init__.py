"""Regression check between two runs: stage times, circuit size, key/proof sizes, memory, accuracy.

    zkbench compare BASE NEW [--all] [--no-times] [--time-threshold 20%] [--circuit-only]
        [--threshold NAME=VALUE ...] [--normalize-by EXPERIMENT::STAGE] [--fail-on-missing]
        [--base-backend NAME] [--new-backend NAME]

BASE and NEW are each a pytest-benchmark JSON file (what `pytest --benchmark-json=FILE` writes) or
a results directory (results/<group>/<name>_tol<tol>.json); the two kinds can be mixed. Entries are
matched on experiment id (e.g. "ReLU-tol0.5") and stage (e.g. "prove"). A non-default backend's
experiments carry its name (e.g. "ReLU-tol0.5-ezkl-gpu-16"), so backends never match each other;
--base-backend/--new-backend NAME keep only that backend's experiments of that side, by bare id:
`zkbench compare results results --base-backend ezkl-23 --new-backend ezkl-gpu-16` compares two
backends' runs of each experiment.

Rules. Every numeric metric is lower-is-better; a threshold X is a fraction (0.2 or "20%").
  <stage> time       regression when new median > base median * (1 + X) AND new median > base max
                     AND new median - base median > --min-time-delta (50 ms): beyond the threshold,
                     outside the base's spread, and not a timer-noise change of a millisecond stage
                     (most stages run one round, where the spread is nothing). The max, not a Tukey
                     fence (q3 + 1.5 iqr), because with the suite's 1-3 rounds the quartiles are
                     degenerate. X = 20%, per stage with time_<stage> (e.g. time_verify=0.5).
                     Faster by the mirror rule (median < base/(1 + X), < base min, by more than the
                     delta) is reported as "improved" and never fails. Cached or resumed stages were
                     not measured in that run, so their time and RSS are not compared.
  logrows, num_rows  exact (X = 0): any increase.
  pk/vk/proof_bytes  X = 1%.
  <stage> peak_rss_bytes  X = 25%.
  tol_metric         the error (percent of the output range) grew by more than X = 10% of itself AND
                     by more than X of the tolerance, so 0.001% -> 0.002% is not flagged; going over
                     the tolerance itself is caught by tolerance_met. Not a regression when the circuit
                     got smaller (fewer rows or logrows): the search picks the cheapest circuit within
                     tol, so spending more of the error budget for it is the intended trade-off.
  tolerance_met, verified  true -> false.
  status             -> failed. A stage that became skipped, an experiment missing from NEW and a
                     profile mismatch (smoke vs paper) are listed, and count as regressions only
                     with --fail-on-missing.
  A threshold of "off" (None in Python) keeps that metric out of the verdict.

--circuit-only compares status and the circuits alone: logrows, num_rows, input/param scale (from
results directories), pk/vk/proof bytes, and every other field of the effective circuit (the circuit
block and every run arg ezkl used: decomposition, columns, lookup range, visibility, I/O range checks,
check mode; and the split), each changed field a row of its own; any change, either way, is a
regression ("CHANGED"). It answers "did a refactor change what is proved?"; times, memory and
accuracy are left out. Inputs written before the circuit fields were recorded compare the rest.

--normalize-by EXPERIMENT::STAGE divides every time in each input by that entry's median in the
same input, so runs from machines of different speed compare; that entry itself then never changes.
The --min-time-delta stays in seconds of the base run.

Exit status: 0 no regression, 1 at least one regression, 2 bad input (one line on stderr naming the
file and what is wrong).

Relation to pytest-benchmark: `pytest --benchmark-compare=NNNN --benchmark-compare-fail=median:20%`
fails a pytest run whose stats grew past a threshold against a saved run, but compares times only
and ignores the spread; `pytest-benchmark compare A.json B.json` prints full stat tables (good for
eyeballing) but always exits 0. This module reads the same JSON, adds the suite's non-time metrics
from extra_info, applies the noise-aware rule above and sets the exit status, so CI can gate on it.
The suite writes that JSON in the pytest plugin's benchmark-JSON writer: one entry per
experiment and timed stage, the suite's metrics in extra_info.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zkbench.results.store import BadInput
from zkbench.tools.compare.markdown import to_markdown
from zkbench.tools.compare.rules import (
    DEFAULT_MIN_TIME_DELTA,
    DEFAULT_THRESHOLDS,
    THRESHOLD_NAMES,
    Comparison,
    compare,
)

__all__ = ["BadInput", "Comparison", "add_arguments", "compare", "main", "run", "to_markdown"]


def _fraction(text: str) -> float | None:
    """'20%' or '0.2' -> 0.2; 'off' -> None."""
    if text == "off":
        return None
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction (0.2), a percentage (20%) or 'off'") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0")
    return value


def _threshold_item(text: str) -> tuple[str, float | None]:
    name, sep, value = text.partition("=")
    if not sep or name not in THRESHOLD_NAMES:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE with NAME one of {', '.join(THRESHOLD_NAMES)}")
    return name, _fraction(value)


def _reference(text: str) -> str:
    if "::" not in text:
        raise argparse.ArgumentTypeError(f"{text!r}: expected EXPERIMENT::STAGE, e.g. Dense-tol0.5::prove")
    return text


HELP = "compare two runs; exit 1 on a regression"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("base", type=Path, help="pytest-benchmark JSON or results directory")
    ap.add_argument("new", type=Path, help="pytest-benchmark JSON or results directory")
    ap.add_argument("--all", action="store_true", help="show every comparison, not only changed/flagged ones")
    ap.add_argument("--no-times", action="store_true", help="do not compare stage times")
    ap.add_argument(
        "--time-threshold",
        type=_fraction,
        default=DEFAULT_THRESHOLDS["time"],
        help="allowed slowdown of a stage's median (default 20%%)",
    )
    ap.add_argument(
        "--min-time-delta",
        type=_seconds,
        default=DEFAULT_MIN_TIME_DELTA,
        metavar="SECONDS",
        help="smallest change of a median that counts (default 0.05 s)",
    )
    ap.add_argument(
        "--threshold",
        type=_threshold_item,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="per-metric threshold, e.g. proof_bytes=5%% or time_verify=0.5 or tol_metric=off",
    )
    ap.add_argument(
        "--normalize-by",
        type=_reference,
        metavar="EXPERIMENT::STAGE",
        help="divide times by this entry's median in the same input, e.g. Dense-tol0.5::prove",
    )
    ap.add_argument(
        "--circuit-only",
        action="store_true",
        help="compare status and whole circuits only (logrows, rows, scales, sizes, every run arg): any change "
        "either way fails; no times, memory or accuracy",
    )
    ap.add_argument(
        "--fail-on-missing",
        action="store_true",
        help="experiments missing from NEW (or skipped, or another profile) are regressions",
    )
    for side in ("base", "new"):
        ap.add_argument(
            f"--{side}-backend",
            metavar="NAME",
            help=f"only this prover backend's experiments of {side.upper()}, matched by bare experiment id "
            "(e.g. ezkl-23, ezkl-gpu-16)",
        )


def run(args: argparse.Namespace) -> int:
    try:
        result = compare(
            args.base,
            args.new,
            times=not args.no_times,
            normalize_by=args.normalize_by,
            fail_on_missing=args.fail_on_missing,
            min_time_delta=args.min_time_delta,
            circuit_only=args.circuit_only,
            base_backend=args.base_backend,
            new_backend=args.new_backend,
            **{"time": args.time_threshold, **dict(args.threshold)},
        )
    except BadInput as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(to_markdown(result, all_rows=args.all), end="")
    return 1 if result.regressions else 0
