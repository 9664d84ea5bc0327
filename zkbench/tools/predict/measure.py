"""The predictor's points beyond the smoke profile: smoke layers whose chosen circuit is built at a
larger, forced logrows, so memory and time are measured at k 15-17 on a small machine."""

from __future__ import annotations

import sys
from pathlib import Path

from zkbench.engine.experiment import run_experiment
from zkbench.engine.options import run_config
from zkbench.files import atomic_write_json
from zkbench.results.store import validate
from zkbench.units import human_bytes

# (layer, tol, logrows, prover threads): smoke-profile layers whose chosen circuit is built at a larger
# logrows (RunConfig.force_logrows), so memory and time are measured at k 15-17 on a small machine; one
# circuit at 1 and 2 threads gives the parallel fraction.
MEASURE_POINTS = (
    ("Dense", 2.0, 15, 1),
    ("Dense", 2.0, 16, 1),
    ("Dense", 2.0, 17, 1),
    ("Dense", 2.0, 16, 2),
    ("Tanh", 2.0, 16, 1),
    ("MaxPool2d_k2", 2.0, 15, 1),
    ("CNN_Strided", 2.0, 15, 1),
)


def measure(results_dir: Path, cache_dir: Path, points=MEASURE_POINTS, max_logrows: int | None = None) -> list[Path]:
    """Run each point through the engine (1 prove round) and write its result under
    results_dir/k<K>-t<threads>/, where load_points and fit read it."""
    written = []
    for name, tol, k, threads in points:
        if max_logrows is not None and k > max_logrows:
            continue
        cfg = run_config(
            {"profile": "smoke", "rounds": "1", "threads": threads, "cache_dir": cache_dir}, force_logrows=k
        )
        r = run_experiment(name, tol, cfg)
        where = f"{r['id']} at logrows {k}, {threads} thread(s)"
        if r["status"] != "ok" or r["circuit"]["logrows"] != k:
            print(f"{where}: {r['status']} {r.get('failure', {}).get('cause', '')}", file=sys.stderr)
            continue
        path = Path(results_dir) / f"k{k}-t{threads}" / f"{name}_tol{tol:g}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        validate(r)
        atomic_write_json(path, r)
        written.append(path)
        print(
            f"{where}: pk {human_bytes(r['sizes']['pk_bytes'])}, prove peak {human_bytes(r['stages']['prove']['peak_rss_bytes'])}, "
            f"prove {r['stages']['prove']['seconds'][0]:.2f} s"
        )
    return written
