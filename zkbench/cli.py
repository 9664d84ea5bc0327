"""zkbench: what it costs to prove neural-network layers in zero knowledge with EZKL.

    zkbench run Tanh --tol 0.5 --tol 2          run experiments without pytest, write their results
    zkbench list                                the experiments of the registry
    zkbench status --watch 5                    live status of a run
    zkbench plan all --profile paper --memory 128G
                                                will a study fit? predicted memory and time, before running
    zkbench compare BASE NEW                    regressions between two runs (benchmark JSON or results dirs)
    zkbench report RESULTS_DIR --out report/    tables, CSV and plots of one or more runs
    zkbench merge results/shard-* --out results/merged
                                                shards' results in one directory, with the count check of the union
    zkbench predict check --cv 5                the memory/time predictor: measure, fit, check, show
    zkbench backend install ezkl-19             a prover backend's environment (ezkl-19, ezkl-gpu-16)
    zkbench docs --check                        the docs' figures against the committed data they come from

The benchmarks themselves run under pytest: `pytest benchmarks -n 2`. `zkbench COMMAND --help` for each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from zkbench.backends import BACKENDS, DEFAULT_BACKEND, with_backend
from zkbench.backends.venvs import BackendUnavailable, ensure
from zkbench.engine.config import DEFAULT_ROUNDS, TOLERANCE_MODES, RunConfig, default_cache_dir
from zkbench.engine.experiment import run_experiment
from zkbench.engine.search.grid import SCANS
from zkbench.layers import PROFILES, SPECS, TOLERANCES, experiment_id, get, parse_tolerance
from zkbench.resources import predict
from zkbench.results.fields import outcome, unchecked_reason
from zkbench.results.store import write_result
from zkbench.tools import backend, compare, docs, merge, plan, report, status


def add_run_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("names", nargs="+", metavar="NAME", help="layer names from the registry, or 'all'")
    ap.add_argument("--tol", action="append", type=str, help="tolerance in percent (repeatable); default 0.5 and 2")
    ap.add_argument("--profile", default="smoke", choices=PROFILES)
    ap.add_argument(
        "--rounds", default=None, help="prove/verify repetitions: N or auto (default 3 for smoke, auto for paper)"
    )
    ap.add_argument(
        "--round-budget", type=float, default=600.0, help="seconds of proving --rounds auto may fill (default 600)"
    )
    ap.add_argument("--results-dir", type=Path, default=Path("results"), help="where result files go")
    ap.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    ap.add_argument("--threads", type=int, default=None, help="prover threads (RAYON_NUM_THREADS)")
    ap.add_argument(
        "--search-scan",
        choices=SCANS,
        default="bisect",
        help="tolerance search per structure: bisect (default) or exhaustive (every scale upwards)",
    )
    ap.add_argument(
        "--backend",
        default=DEFAULT_BACKEND,
        metavar="NAME[=PYTHON]",
        help=f"prover backend: {' | '.join(BACKENDS)} (default {DEFAULT_BACKEND}); NAME=/path/to/python for your own",
    )
    ap.add_argument(
        "--tolerance-mode",
        choices=TOLERANCE_MODES,
        default="suite",
        help="suite: the suite's metric and search (default) | ezkl: ezkl's own tolerance run arg (ezkl-19, ezkl-gpu-16)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        names = [s.name for s in SPECS] if args.names == ["all"] else [get(n).name for n in args.names]
        tols = [parse_tolerance(t) for t in args.tol] if args.tol else list(TOLERANCES)
        config = RunConfig(
            profile=args.profile,
            rounds=str(args.rounds or DEFAULT_ROUNDS[args.profile]),
            round_budget_s=args.round_budget,
            cache_dir=args.cache_dir,
            threads=args.threads,
            search_scan=args.search_scan,
            backend=args.backend.partition("=")[0],
            backend_python=args.backend.partition("=")[2] or None,
            tolerance_mode=args.tolerance_mode,
        )
        ensure(config.backend, config.cache_dir, config.backend_python)  # first use: make its environment
    except (KeyError, ValueError, BackendUnavailable) as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        for tol in tols:
            r = run_experiment(name, tol, config)
            path = write_result(r, args.results_dir)
            state = outcome(r)  # a missed tolerance is a failure, whatever the status says
            failed += state != "done"
            print(
                f"{with_backend(experiment_id(name, tol), config.backend):28} {'ok' if state == 'done' else state:7} "
                f"{run_detail(r, tol, state)}"
                f"  -> {path}"
            )
    return 1 if failed else 0


def run_detail(r: dict, tol: float, state: str) -> str:
    unchecked = unchecked_reason(r)
    if r["status"] == "ok" and unchecked:
        return (
            f"logrows {r['circuit']['logrows']}, prove {statistics.median(r['stages']['prove']['seconds']):.2f}s (median), "
            f"accuracy unchecked: {unchecked}"
        )
    if r["status"] == "ok":
        return (
            f"logrows {r['circuit']['logrows']}, prove {statistics.median(r['stages']['prove']['seconds']):.2f}s (median), "
            f"error {r['accuracy']['tol_metric']:.3g}% (tol {tol:g}%)"
            + ("" if state == "done" else ": tolerance not met")
        )
    if r["status"] == "failed":
        return f"{r['failure']['stage']}: {r['failure']['cause']}"
    return r["skip_reason"]


def list_experiments(args: argparse.Namespace) -> int:
    for s in SPECS:
        tags = ",".join(sorted(s.tags))
        print(f"{s.group:14} {s.name:22} smoke {s.smoke.input_shape} paper {s.paper.input_shape} {tags}")
    return 0


# name -> (one-line help, add_arguments, run)
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None] | None, Callable[..., int]]] = {
    "run": ("run experiments and write their results", add_run_arguments, run),
    "list": ("list the experiments of the registry", None, list_experiments),
    "status": (
        "live status of a run: counts per group, the running experiment and stage, ETA",
        status.add_arguments,
        status.run,
    ),
    "plan": ("predict memory and time of experiments before running them", plan.add_arguments, plan.run),
    "compare": ("compare two runs; exit 1 on a regression", compare.add_arguments, compare.run),
    "report": ("markdown tables, CSV and plots from results directories", report.add_arguments, report.run),
    "merge": (
        "merge the results directories of shards, then the count check of the union",
        merge.add_arguments,
        merge.run,
    ),
    "predict": ("the memory/time predictor: measure points, fit, check, show", predict.add_arguments, predict.run),
    "backend": ("prover backends: list them, install their environments", backend.add_arguments, backend.run),
    "docs": (
        "regenerate the docs' figures from committed data (--check: fail where they differ)",
        docs.add_arguments,
        docs.run,
    ),
}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="zkbench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {
        "status": status,
        "plan": plan,
        "compare": compare,
        "report": report,
        "merge": merge,
        "predict": predict,
        "backend": backend,
        "docs": docs,
    }
    for name, (help_, add_arguments, _) in COMMANDS.items():
        doc = modules[name].__doc__ if name in modules else help_
        p = sub.add_parser(name, help=help_, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
        if add_arguments:
            add_arguments(p)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    return COMMANDS[args.command][2](args)


if __name__ == "__main__":
    sys.exit(main())
