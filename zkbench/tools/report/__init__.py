"""Report over one or more results directories: markdown, CSV and PNG plots, and/or one HTML page.

    zkbench report RESULTS_DIR [RESULTS_DIR ...] --out DIR
    zkbench report RESULTS_DIR [RESULTS_DIR ...] --html FILE [--history DIR]

--html writes one self-contained page (zkbench.tools.report.html: the sortable, filterable table and
interactive plots, nothing fetched at view time); --history adds each experiment's trend over the
runs stored with `zkbench history add` and marks the runs that regressed.

Writes DIR/report.md, DIR/results.csv (one row per result) and the plots report.md shows:
  scaling_<family>.png    prove time, proving-key size and peak RSS vs circuit rows (num_rows), log-log,
                          one line per machine, profile and tolerance, with the slope fitted on the logs
                          (numpy.polyfit) in the legend: 1 means linear in rows. A line needs results at
                          2 or more distinct row counts; the markdown names the ones left out.
  tolerance_tradeoff.png  logrows, rows and prove time per layer at each tolerance (grouped bars).
  stage_breakdown.png     median time of each stage per result (stacked bars).
  backend_prove_time.png  prove time of each experiment per prover backend (grouped bars, log y); drawn,
                          with the "Version matrix" section, only when the results hold several backends.

Several directories (runs, machines) merge into one report. A result's machine is its environment
fingerprint (hostname + CPU model + ezkl version), shown by a short label (the hostname, numbered if
two fingerprints share it) and listed in the machines table. Curves never mix machines, and the same
experiment from two machines gives two rows. For one machine, profile and experiment the newest
result (started_at) wins; the report says how many were superseded. Prover backends are kept apart
the same way: a non-default backend's experiment is shown as `<id>-<backend>` (zkbench.backends
.with_backend), is counted on its own and never shares a curve with another backend.

The count check compares each machine's results with the study of their profile (registry x
default tolerances: core_layers 24, scaling_study 8, composite 8), counted as the pytest summary
and `zkbench status` count: done, failed, skipped, and missing (expected, no result) per group.
When the directories hold their runs' selections (results/.status/selection.json, e.g. the shards
of one study), a count check of the union of those selections over all directories and machines
comes first, as `zkbench merge` counts it. Among several directories, one without results (an empty
shard) is left out instead of being an error.

A result whose accuracy no evaluator could check (a user's model neither onnxruntime nor onnx's
ReferenceEvaluator runs: accuracy.checked false) shows "unchecked" in the experiments table and is
listed with its reason under "Unchecked accuracy"; the count check counts it as failed. The error
cell holds the float outputs' error / tol and, for integer or bool outputs, their exact agreement.

Definitions: times are medians over the measured rounds; a time marked * is a cached stage, i.e.
measured when its artifact was built. Peak RSS is the largest peak RSS of the EZKL stages; export is
left out because it measures PyTorch's ONNX export. Plots are drawn off-screen (matplotlib Figure,
saved through the Agg backend), so no display is needed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zkbench.results.store import BadInput
from zkbench.tools.report.build import build_report

HELP = "markdown tables, CSV and plots from results directories"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "results_dirs",
        nargs="+",
        type=Path,
        metavar="RESULTS_DIR",
        help="results directory (results/<group>/<name>_tol<tol>.json); several merge",
    )
    ap.add_argument("--out", type=Path, help="output directory: report.md, results.csv and the PNGs")
    ap.add_argument(
        "--html", type=Path, metavar="FILE", help="one self-contained HTML page (zkbench.tools.report.html)"
    )
    ap.add_argument(
        "--history", type=Path, metavar="DIR", help="with --html: trends over the runs of this store (zkbench history)"
    )


def run(args: argparse.Namespace) -> int:
    if not (args.out or args.html):
        print("error: nothing to write: give --out DIR (markdown, CSV, PNGs) and/or --html FILE", file=sys.stderr)
        return 2
    if args.history and not args.html:
        print("error: --history draws trends on the HTML page: give --html FILE too", file=sys.stderr)
        return 2
    try:
        if args.out:
            print(build_report(args.results_dirs, args.out))
        if args.html:
            from zkbench.tools.report.html import build_html  # Bokeh, imported only for the page

            print(build_html(args.results_dirs, args.html, args.history))
    except BadInput as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
