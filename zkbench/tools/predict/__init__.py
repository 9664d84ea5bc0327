"""`zkbench predict fit|check|measure|show`: the memory/time predictor (zkbench.resources.predict)
measured, fitted, checked and shown."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from zkbench.resources.predict.fitting import (
    PK_TARGET,
    RSS_TARGET,
    compare,
    cross_validate,
    error_table,
    extrapolate,
    fit,
    load_points,
    render,
)
from zkbench.resources.predict.model import DATA_PATH, predict
from zkbench.tools.predict.measure import measure

HELP = "the memory/time predictor: measure points, fit, check, show"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit", help="refit the constants from measured results and write the data file")
    f.add_argument("results", nargs="+", type=Path, help="results directories (<group>/<name>_tol<tol>.json)")
    f.add_argument(
        "--cache-dir",
        action="append",
        type=Path,
        required=True,
        help="artifact cache holding circuit/<key>/settings.json (repeatable)",
    )
    f.add_argument("--out", type=Path, default=DATA_PATH)
    f.add_argument(
        "--provenance",
        action="append",
        default=[],
        metavar="COMMAND",
        help="a command that produced the results (repeatable), kept in the data file",
    )
    c = sub.add_parser("check", help="predicted vs measured, as a markdown table; exit 1 when a target is missed")
    c.add_argument("results", nargs="*", type=Path, help="results directories (default: the shipped data points)")
    c.add_argument("--cache-dir", action="append", type=Path, default=[])
    c.add_argument("--data", type=Path, default=DATA_PATH, help="constants to check (default: the shipped ones)")
    c.add_argument(
        "--cv",
        type=int,
        metavar="K",
        default=0,
        help="held-out accuracy instead: K-fold cross-validation by circuit, and fit on logrows <= "
        "--fit-max-logrows checked on the larger ones; per logrows range",
    )
    c.add_argument("--fit-max-logrows", type=int, default=15)
    m = sub.add_parser("measure", help="run the predictor points beyond the smoke profile (larger logrows)")
    m.add_argument("--results-dir", type=Path, required=True)
    m.add_argument("--cache-dir", type=Path, required=True)
    m.add_argument("--max-logrows", type=int, default=None, help="skip points above this logrows")
    s = sub.add_parser("show", help="the prediction for one settings.json")
    s.add_argument("settings", type=Path)
    s.add_argument("--threads", type=int, default=1)


def run(args: argparse.Namespace) -> int:
    if args.cmd == "fit":
        data = fit(args.results, args.cache_dir)
        data["provenance"] = {
            "measured_by": args.provenance,
            "fitted_by": "zkbench predict fit "
            + " ".join([str(r) for r in args.results] + [f"--cache-dir {c}" for c in args.cache_dir]),
        }
        if not data["points"]:
            print("error: no ok results with cached settings found", file=sys.stderr)
            return 2
        args.out.write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {args.out}: {len(data['points'])} points")
        print(json.dumps(data["constants"], indent=1))
        return 0
    if args.cmd == "measure":
        written = measure(args.results_dir, args.cache_dir, max_logrows=args.max_logrows)
        print(f"{len(written)} points in {args.results_dir}")
        return 0 if written else 1
    if args.cmd == "show":
        print(json.dumps(predict(json.loads(args.settings.read_text()), threads=args.threads), indent=1))
        return 0
    constants = json.loads(args.data.read_text())["constants"]
    if args.results:
        points = load_points(args.results, args.cache_dir)
    else:
        points = json.loads(args.data.read_text())["points"]
    if not points:
        print("error: no ok results with cached settings found", file=sys.stderr)
        return 2
    if args.cv:
        print(
            error_table(
                cross_validate(points, args.cv),
                f"{args.cv}-fold cross-validation by circuit ({len(points)} points): |predicted - measured| / measured",
            )
        )
        print()
        print(
            error_table(
                extrapolate(points, args.fit_max_logrows),
                f"fitted on logrows <= {args.fit_max_logrows}, checked on the larger circuits",
            )
        )
        return 0
    rows, worst = compare(points, constants)
    print(render(rows, worst))
    missed = (
        worst["pk_bytes"] > PK_TARGET * 100
        or max(worst["setup_peak_rss_bytes"], worst["prove_peak_rss_bytes"]) > RSS_TARGET * 100
    )
    return 1 if missed else 0
