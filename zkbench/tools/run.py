"""`zkbench run NAME... [--tol T]...`: run experiments without pytest and write their results.

    zkbench run Tanh --tol 0.5 --tol 2
    zkbench run all --backend ezkl-19

The run options are pytest's own (zkbench.engine.options), less what only a suite run has (workers,
hosts, shards, your own models): the same names, defaults and help.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from zkbench.backends import with_backend
from zkbench.backends.venvs import BackendUnavailable, ensure
from zkbench.engine import options
from zkbench.engine.experiment import run_experiment
from zkbench.layers import SPECS, experiment_id, get
from zkbench.results.fields import logrows_cell, outcome, unchecked_reason
from zkbench.results.store import write_result
from zkbench.units import parse_memory

HELP = "run experiments and write their results"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("names", nargs="+", metavar="NAME", help="layer names from the registry, or 'all'")
    options.add_arguments(ap, options.RUN)


def run(args: argparse.Namespace) -> int:
    values = vars(args)
    try:
        names = [s.name for s in SPECS] if args.names == ["all"] else [get(n).name for n in args.names]
        tols = options.parse_tolerances(options.value(values, "tolerances"))
        max_memory = options.value(values, "max_memory")
        configs = [
            options.run_config(
                values,
                backend=name,
                backend_python=python,
                max_memory_bytes=parse_memory(max_memory) if max_memory else None,
            )
            for name, python in options.parse_backends(options.value(values, "backends")).items()
        ]
        for config in configs:  # first use: make its environment
            ensure(config.backend, config.cache_dir, config.backend_python)
    except (KeyError, ValueError, BackendUnavailable) as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    results_dir = options.value(values, "results_dir")
    failed = 0
    for config in configs:
        for name in names:
            for tol in tols:
                r = run_experiment(name, tol, config)
                path = write_result(r, results_dir)
                state = outcome(r)  # a missed tolerance is a failure, whatever the status says
                failed += state != "done"
                print(
                    f"{with_backend(experiment_id(name, tol), config.backend):28} "
                    f"{'ok' if state == 'done' else state:7} {run_detail(r, tol, state)}  -> {path}"
                )
    return 1 if failed else 0


def run_detail(r: dict, tol: float, state: str) -> str:
    if r["status"] == "failed":
        return f"{r['failure']['stage']}: {r['failure']['cause']}"
    if r["status"] != "ok":
        return r["skip_reason"]
    head = f"logrows {logrows_cell(r)}, prove {statistics.median(r['stages']['prove']['seconds']):.2f}s (median)"
    unchecked = unchecked_reason(r)
    if unchecked:
        return f"{head}, accuracy unchecked: {unchecked}"
    return f"{head}, error {r['accuracy']['tol_metric']:.3g}% (tol {tol:g}%)" + (
        "" if state == "done" else ": tolerance not met"
    )
