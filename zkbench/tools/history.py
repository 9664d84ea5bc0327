"""The run history (zkbench.results.history): store runs, merge machines' stores, list them.

    zkbench history add RESULTS_DIR --store DIR [--benchmark-json FILE] [--commit SHA]
    zkbench history merge SRC_DIR... --store DIR
    zkbench history list --store DIR

`add` copies one run's results (and its benchmark JSON) into DIR, one entry per machine, profile and
prover backend, keyed by machine fingerprint, commit, profile, backend and start time; adding the
same run again changes nothing. The commit is --commit, else the benchmark JSON's commit_info.id
(pytest-benchmark records it), else `git rev-parse HEAD` of the working directory, else "unknown".
`merge` copies other stores' entries into DIR; each stays under its own machine.
`zkbench report RESULTS_DIR --html page.html --history DIR` then draws each experiment's trend over
the stored runs and marks the runs that regressed (zkbench.tools.report.trends).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from zkbench.results.history import add_run, entries, merge_stores
from zkbench.results.store import BadInput, read_json

HELP = "keep runs in a history store (add, merge, list) for the HTML report's trends"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    sub = ap.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = sub.add_parser("add", help="copy one run's results into the store")
    a.add_argument("results_dir", type=Path, metavar="RESULTS_DIR")
    a.add_argument("--benchmark-json", type=Path, help="the run's pytest-benchmark JSON, stored with it")
    a.add_argument("--commit", help="the commit the run measured (default: see zkbench history --help)")
    m = sub.add_parser("merge", help="copy other stores' entries into the store")
    m.add_argument("sources", nargs="+", type=Path, metavar="SRC_DIR")
    sub.add_parser("list", help="the store's entries, oldest first")
    for p in (a, m, *sub.choices.values()):
        if not any(action.dest == "store" for action in p._actions):
            p.add_argument("--store", type=Path, required=True, help="the history directory")


def commit_of(args: argparse.Namespace) -> str:
    if args.commit:
        return args.commit
    if args.benchmark_json:
        info = read_json(args.benchmark_json)
        commit = ((info or {}).get("commit_info") or {}).get("id") if isinstance(info, dict) else None
        if commit:
            return str(commit)
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def run(args: argparse.Namespace) -> int:
    try:
        if args.action == "add":
            for e in add_run(args.store, args.results_dir, commit=commit_of(args), bench_json=args.benchmark_json):
                print(f"{e.path}: {e.results} results ({e.hostname}, {e.profile}, {e.backend}, {e.commit[:12]})")
        elif args.action == "merge":
            copied, present = merge_stores(args.sources, args.store)
            print(f"{args.store}: {copied} entries copied, {present} already there")
        else:
            for e in entries(args.store):
                print(
                    f"{e.started_at}  {e.hostname:<16} {e.profile:<6} {e.backend:<14} {e.commit[:12]}  "
                    f"{e.results} results  {e.path}"
                )
    except BadInput as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
