"""The report's records: the newest result per machine, profile and experiment, its machine label,
and its CSV row (results.csv)."""

from __future__ import annotations

import csv
import functools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from zkbench.backends import DEFAULT_BACKEND, backend_of, with_backend
from zkbench.results.fields import machine_of, result_key, unchecked_reason
from zkbench.results.store import STAGES, load_results_dir, result_files
from zkbench.tools.compare.runs import result_metrics, stats_of

CSV_COLUMNS = (
    "machine",
    "hostname",
    "cpu_model",
    "ezkl",
    "backend",
    "tolerance_mode",
    "id",
    "name",
    "group",
    "profile",
    "tol",
    "status",
    "verified",
    "logrows",
    "split_parts",
    "num_rows",
    "input_scale",
    "param_scale",
    "pk_bytes",
    "vk_bytes",
    "proof_bytes",
    "peak_rss_bytes",
    "tol_metric",
    "tolerance_met",
    "max_abs_error",
    "mean_abs_error",
    "mean_abs_percent_error",
    "top1_agreement",
    "accuracy_checked",
    "reference",
    "discrete_agreement",
    "heldout_calibration_ratio",
    "unchecked_reason",
    *(f"{s}_median_s" for s in STAGES),
    "cached_stages",
    "failure",
    "skip_reason",
    "source",
)

Metric = Callable[[dict], "float | None"]  # a number of a result, for a plot


@functools.lru_cache(maxsize=1)
def registry_order() -> dict[str, int]:
    """Layer name -> registry position. Imported here, late, because the registry imports torch."""
    from zkbench.layers import SPECS

    return {s.name: i for i, s in enumerate(SPECS)}


@dataclass(frozen=True)
class Record:
    result: dict
    machine: str  # short label of the result's environment fingerprint
    source: Path  # the results directory it came from


def backend_key(backend: str) -> tuple[bool, str]:
    """Sort key: the default backend first, then by name."""
    return backend != DEFAULT_BACKEND, backend


def shown_id(row: dict) -> str:
    """An experiment as the tables name it: with its backend unless the default."""
    return with_backend(row["id"], row["backend"])


def stage_median(result: dict, stage: str) -> float | None:
    record = result.get("stages", {}).get(stage)
    return stats_of(record["seconds"]).median if record else None


def peak_rss(result: dict) -> int | None:
    return max((rec["peak_rss_bytes"] for s, rec in result.get("stages", {}).items() if s != "export"), default=None)


def machine_labels(environments: Iterable[dict]) -> dict[str, str]:
    """Fingerprint -> short label: the hostname, numbered when fingerprints share a hostname."""
    hosts = {machine_of(env): env.get("hostname") or "unknown" for env in environments}
    shared = Counter(hosts.values())
    seen: Counter = Counter()
    labels = {}
    for fingerprint, host in sorted(hosts.items()):
        seen[host] += 1
        labels[fingerprint] = host if shared[host] == 1 else f"{host}-{seen[host]}"
    return labels


def load_records(results_dirs: Iterable[str | Path]) -> tuple[list[Record], int]:
    """The newest result per machine, profile and experiment, in registry order; and how many older
    ones were dropped. BadInput if a directory has no results or an invalid one."""
    dirs = [Path(d) for d in results_dirs]
    if len(dirs) > 1:  # an empty shard (more shards than experiments) has no results: not an error among others
        dirs = [d for d in dirs if not d.is_dir() or result_files(d)] or dirs
    loaded = [(r, d) for d in dirs for r in load_results_dir(d)]
    labels = machine_labels(r["environment"] for r, _ in loaded)
    newest = {}
    for r, source in sorted(loaded, key=lambda item: item[0]["started_at"]):
        rec = Record(r, labels[machine_of(r["environment"])], source)
        newest[(rec.machine, r["profile"], result_key(r))] = rec
    order = registry_order()
    records = sorted(
        newest.values(),
        key=lambda rec: (
            order.get(rec.result["name"], len(order)),
            rec.result["name"],
            rec.result["tol"],
            rec.machine,
            rec.result["profile"],
            backend_key(backend_of(rec.result)),
        ),
    )
    return records, len(loaded) - len(records)


def flatten(rec: Record) -> dict:
    """One CSV row (CSV_COLUMNS) per result; None where not measured."""
    r = rec.result
    env, acc, failure = r["environment"], r.get("accuracy", {}), r.get("failure")
    return {
        "machine": rec.machine,
        "hostname": env.get("hostname"),
        "cpu_model": env["cpu_model"],
        "ezkl": env["ezkl"],
        "backend": backend_of(r),
        "tolerance_mode": r.get("tolerance_mode", "suite"),
        "id": r["id"],
        "name": r["name"],
        "group": r["group"],
        "profile": r["profile"],
        **result_metrics(r),
        "peak_rss_bytes": peak_rss(r),
        "split_parts": (r.get("split") or {}).get("parts"),  # a split: logrows is its largest part's
        **{k: acc.get(k) for k in ("max_abs_error", "mean_abs_error", "mean_abs_percent_error", "top1_agreement")},
        # absent before accuracy.checked existed: a result with accuracy was checked
        "accuracy_checked": acc.get("checked", True) if acc else None,
        "reference": acc.get("reference"),
        "discrete_agreement": (acc.get("discrete") or {}).get("agreement"),
        "discrete": acc.get("discrete"),  # not a CSV column: the experiments table's agreement cell
        "float_values": acc.get("float_values"),
        "heldout_calibration_ratio": acc.get("heldout_calibration_ratio"),
        "unchecked_reason": unchecked_reason(r),
        **{f"{s}_median_s": stage_median(r, s) for s in STAGES},
        "cached_stages": " ".join(s for s, v in r.get("stages", {}).items() if v["cached"]),
        "failure": f"{failure['stage']}/{failure['kind']}: {failure['cause']}" if failure else None,
        "skip_reason": r.get("skip_reason"),
        "source": str(rec.source),
    }


def write_csv(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
