"""zkbench backend: the prover backends and their environments.

    zkbench backend list                 shipped backends, their pinned wheels, and whether each is ready
    zkbench backend install ezkl-19      make its venv under <cache>/backends/ezkl-19 (once; reused after)
    zkbench backend install all

A backend other than ezkl-23 installs the import name `ezkl` too, so it runs in a venv of its own;
pytest runs and `zkbench run --backend NAME` make a missing one on first use.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zkbench.backends import BACKENDS
from zkbench.backends.venvs import BackendUnavailable, install, resolve
from zkbench.engine.config import default_cache_dir

HELP = "prover backends: list them, install their environments"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    sub = ap.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("list", help="shipped backends and whether each is ready")
    inst = sub.add_parser("install", help="make a backend's environment (a venv with its pinned wheel)")
    inst.add_argument("names", nargs="+", metavar="NAME", help=f"{' | '.join(BACKENDS)} | all")
    for p in (ap, *sub.choices.values()):
        p.add_argument("--cache-dir", type=Path, default=argparse.SUPPRESS, help="where environments live")


def run(args: argparse.Namespace) -> int:
    cache = getattr(args, "cache_dir", None) or default_cache_dir()
    if args.action == "list":
        for name, d in BACKENDS.items():
            try:
                env = resolve(name, cache)
                state = f"ready: {d.package} {env.version} ({env.python})"
            except BackendUnavailable:
                state = f"not installed (zkbench backend install {name})"
            gpu = "gpu" if d.gpu else "cpu"
            tol = ", ezkl tolerance" if d.tolerance_arg else ""
            print(f"{name:12} {d.requirement:18} {gpu}{tol:17} {state}")
        return 0
    names = list(BACKENDS) if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        print(f"error: unknown backend {', '.join(unknown)}: choose from {', '.join(BACKENDS)} or all", file=sys.stderr)
        return 2
    for name in names:
        try:  # reuses a working environment, makes a missing or broken one
            install(name, cache)
        except BackendUnavailable as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    return 0
