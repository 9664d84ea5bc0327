"""zkbench: what it costs to prove neural-network layers in zero knowledge with EZKL.

    zkbench run Tanh --tol 0.5 --tol 2          run experiments without pytest, write their results
    zkbench list                                the experiments of the registry
    zkbench status --watch 5                    live status of a run
    zkbench plan all --profile paper --memory 128G
                                                will a study fit? predicted memory and time, before running
    zkbench compare BASE NEW                    regressions between two runs (benchmark JSON or results dirs)
    zkbench report RESULTS_DIR --out report/    tables, CSV and plots of one or more runs
    zkbench report RESULTS_DIR --html report.html --history hist/
                                                one self-contained HTML page, with trends over the stored runs
    zkbench history add RESULTS_DIR --store hist/
                                                keep a run in a history store (trends, regressions)
    zkbench merge results/shard-* --out results/merged
                                                shards' results in one directory, with the count check of the union
    zkbench predict check --cv 5                the memory/time predictor: measure, fit, check, show
    zkbench backend install ezkl-19             a prover backend's environment (ezkl-19, ezkl-gpu-16)
    zkbench docs --check                        the docs' figures against the committed data they come from

The benchmarks themselves run under pytest: `pytest benchmarks -n 2`. `zkbench COMMAND --help` for each.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from zkbench.tools import backend, compare, docs, history, listing, merge, plan, predict, report, run, status

# The commands, in the order `zkbench --help` lists them: each a tool module with HELP (one line), its
# docstring (the command's --help), add_arguments(parser) and run(args) -> exit status.
TOOLS: dict[str, ModuleType] = {
    "run": run,
    "list": listing,
    "status": status,
    "plan": plan,
    "compare": compare,
    "report": report,
    "history": history,
    "merge": merge,
    "predict": predict,
    "backend": backend,
    "docs": docs,
}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="zkbench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, tool in TOOLS.items():
        p = sub.add_parser(
            name, help=tool.HELP, description=tool.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        tool.add_arguments(p)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    return TOOLS[args.command].run(args)


if __name__ == "__main__":
    sys.exit(main())
