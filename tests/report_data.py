"""Result and history data for the report's tests, made from the stored real smoke results
(tests/data/results_smoke): a later run of them (its prove rounds slowed where asked, from another
host where asked), and a copy holding a split and a failed result as the engine writes them."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

RESULTS = Path(__file__).parent / "data" / "results_smoke"


def later_run(tmp_path: Path, name: str, *, hours: int, slow: tuple[str, ...] = (), host: str | None = None) -> Path:
    """A copy of the stored smoke results as a later run: started `hours` later, the prove rounds of
    the `slow` experiments three times as long, optionally from another host."""
    out = tmp_path / name
    shutil.copytree(RESULTS, out)
    for f in out.glob("*/*.json"):
        r = json.loads(f.read_text())
        for key in ("started_at", "finished_at"):
            r[key] = (datetime.datetime.fromisoformat(r[key]) + datetime.timedelta(hours=hours)).isoformat()
        if r["id"] in slow:
            r["stages"]["prove"]["seconds"] = [s * 3 for s in r["stages"]["prove"]["seconds"]]
        if host:
            r["environment"]["hostname"] = host
        f.write_text(json.dumps(r))
    return out


def with_split_and_failure(tmp_path: Path) -> Path:
    """The stored results, Dense-tol2 a 2-part split and ReLU-tol2 failed at prove."""
    out = tmp_path / "results"
    shutil.copytree(RESULTS, out)
    dense = out / "core_layers" / "Dense_tol2.json"
    r = json.loads(dense.read_text())
    part = {
        "status": "ok",
        "logrows": 10,
        "num_rows": 720,
        "input_scale": 5,
        "pk_bytes": 11_000_000,
        "proof_bytes": 5120,
        "setup_peak_rss_bytes": 60 * 2**20,
        "prove_peak_rss_bytes": 70 * 2**20,
        "setup_s": 0.4,
        "prove_s": 0.6,
        "verified": True,
        "soundness_checked": True,
        "tol_metric": 0.5,
    }
    r["split"] = {
        "parts": 2,
        "how": "tiles along output features",
        "per_part": [{**part, "name": "Dense__tile1of2"}, {**part, "name": "Dense__tile2of2"}],
    }
    dense.write_text(json.dumps(r))
    relu = out / "core_layers" / "ReLU_tol2.json"
    r = json.loads(relu.read_text())
    del r["stages"]["prove"], r["stages"]["verify"]
    r.update(
        status="failed",
        verified=False,
        failure={"stage": "prove", "kind": "memory", "cause": "killed by SIGKILL (out of memory?)"},
    )
    relu.write_text(json.dumps(r))
    return out
