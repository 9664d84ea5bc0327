"""The two inputs of a comparison, read into one shape: a Run of Experiments with per-stage Timings,
from a pytest-benchmark JSON or a results directory; times normalized by a reference entry; one
backend's experiments picked out by bare id."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from pytest_benchmark.stats import Stats

from zkbench.backends import DEFAULT_BACKEND, backend_of, with_backend
from zkbench.results.fields import accuracy_checked, circuit_fields, machine_of, result_key
from zkbench.results.store import BadInput, load_results_dir, one_line, read_json

NUMERIC_METRICS = ("logrows", "num_rows", "pk_bytes", "vk_bytes", "proof_bytes", "tol_metric")
# What makes the circuit the same circuit (--circuit-only): any change either way counts. The scales
# are in result documents only, so a benchmark JSON input compares the rest.
CIRCUIT_METRICS = ("logrows", "num_rows", "input_scale", "param_scale", "pk_bytes", "vk_bytes", "proof_bytes")
BOOLEAN_METRICS = ("verified", "tolerance_met", "accuracy_checked")  # true -> false is a regression
# The whole effective circuit, field by field (circuit_fields): --circuit-only compares every one.
METRICS = ("status", "tol", *NUMERIC_METRICS, *BOOLEAN_METRICS, "input_scale", "param_scale", "circuit")


def stats_of(samples: Iterable[float]) -> Stats:
    """pytest-benchmark's statistics over measured rounds."""
    stats = Stats()
    for x in samples:
        stats.update(x)
    return stats


@dataclass(frozen=True)
class Timing:
    """One stage's measured rounds (seconds, or multiples of the reference when normalized)."""

    median: float
    min: float
    max: float
    cached: bool
    peak_rss_bytes: int | None
    rounds: int = 0  # measured rounds; 1: the spread is unknown (0: not said)

    @property
    def unmeasured(self) -> bool:
        """Named in a benchmark JSON's cached_stages only: this input holds no time of it."""
        return self.cached and self.rounds == 0

    def scaled(self, factor: float) -> Timing:
        return replace(self, median=self.median * factor, min=self.min * factor, max=self.max * factor)


# A cached stage named in extra_info.cached_stages: it ran, but not in this run's measurement.
NOT_MEASURED = Timing(0.0, 0.0, 0.0, cached=True, peak_rss_bytes=None, rounds=0)


@dataclass(frozen=True)
class Experiment:
    id: str  # its key in Run.experiments: load.result_key (backend suffix), bare after only_backend
    profile: str | None
    metrics: dict  # METRICS; None where not measured (e.g. a failed experiment)
    stages: dict  # stage -> Timing
    backend: str = DEFAULT_BACKEND


@dataclass(frozen=True)
class Run:
    source: Path
    machine: str
    experiments: dict  # id -> Experiment
    time_unit: float = 1.0  # seconds per unit of its timings (the reference median once normalized)
    backend: str | None = None  # set by only_backend: ids are then bare

    @property
    def backends(self) -> list[str]:
        return sorted({e.backend for e in self.experiments.values()})


def result_metrics(result: dict) -> dict:
    """The compared per-experiment metrics of a result document (None where absent)."""
    circuit, sizes, accuracy = (result.get(k, {}) for k in ("circuit", "sizes", "accuracy"))
    return {
        "status": result["status"],
        "tol": result["tol"],
        "logrows": circuit.get("logrows"),
        "num_rows": circuit.get("num_rows"),
        "input_scale": circuit.get("input_scale"),
        "param_scale": circuit.get("param_scale"),
        **{k: sizes.get(k) for k in ("pk_bytes", "vk_bytes", "proof_bytes")},
        "tol_metric": accuracy.get("tol_metric"),
        "tolerance_met": accuracy.get("tolerance_met"),
        "accuracy_checked": accuracy_checked(accuracy),
        "verified": result["verified"],
        "circuit": circuit_fields(result),
    }


def _timing(stage_record: dict) -> Timing:
    s = stats_of(stage_record["seconds"])
    return Timing(
        s.median, s.min, s.max, stage_record["cached"], stage_record["peak_rss_bytes"], len(stage_record["seconds"])
    )


def run_from_results(path: str | Path) -> Run:
    results = load_results_dir(path)
    experiments = {
        result_key(r): Experiment(
            result_key(r),
            r["profile"],
            result_metrics(r),
            {s: _timing(rec) for s, rec in r.get("stages", {}).items()},
            backend_of(r),
        )
        for r in results
    }
    machines = sorted({machine_of(r["environment"]) for r in results})
    return Run(Path(path), "; ".join(machines), experiments)


def run_from_benchmark(path: str | Path) -> Run:
    path = Path(path)
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        hint = (
            " (it is a result document: pass its results directory)"
            if isinstance(doc, dict) and "schema_version" in doc
            else ""
        )
        raise BadInput(f"{path}: not a pytest-benchmark JSON: no 'benchmarks' list{hint}")
    experiments: dict[str, Experiment] = {}
    for i, bench in enumerate(doc["benchmarks"]):
        info = bench.get("extra_info") if isinstance(bench, dict) else None
        if not isinstance(info, dict) or "experiment" not in info:
            continue  # some other benchmark sharing the file
        try:
            st = bench["stats"]
            # A resumed entry repeats an earlier run's measurement: like a cached stage, not measured now.
            timing = Timing(
                st["median"],
                st["min"],
                st["max"],
                bool(info.get("cached") or info.get("resumed")),
                info.get("peak_rss_bytes"),
                int(st.get("rounds") or 0),
            )
            # A run of several backends suffixes every id, the default's too: key as results dirs do.
            backend = info.get("backend") or DEFAULT_BACKEND
            key = with_backend(bare_id(info["experiment"], backend), backend)
            exp = experiments.setdefault(
                key, Experiment(key, info.get("profile"), {k: info.get(k) for k in METRICS}, {}, backend)
            )
            exp.stages[info["stage"]] = timing
            for stage in info.get("cached_stages") or ():  # stages with no entry: measured elsewhere
                exp.stages.setdefault(stage, NOT_MEASURED)
        except (KeyError, TypeError) as e:
            raise BadInput(f"{path}: benchmarks[{i}] lacks {one_line(e)} (stats or extra_info field)") from None
    if not experiments:
        raise BadInput(f"{path}: no EZKL experiment entries (benchmarks[].extra_info.experiment)")
    info = doc.get("machine_info") or {}  # pytest-benchmark's, plus the suite's cpu_model and ezkl
    environment = {
        "hostname": info.get("node"),
        "ezkl": info.get("ezkl"),
        "cpu_model": info.get("cpu_model") or (info.get("cpu") or {}).get("brand_raw"),
    }
    return Run(path, machine_of(environment), experiments)


def load_run(path: str | Path) -> Run:
    """A directory is a results dir, a file a pytest-benchmark JSON."""
    path = Path(path)
    if path.is_dir():
        return run_from_results(path)
    if path.is_file():
        return run_from_benchmark(path)
    raise BadInput(f"{path}: no such file or directory")


def bare_id(experiment: str, backend: str) -> str:
    """The experiment id without its backend suffix (zkbench.backends.with_backend); a bare id ends in
    its tol (digits), never in a backend name."""
    return experiment.removesuffix(f"-{backend}")


def only_backend(run: Run, backend: str) -> Run:
    """That backend's experiments, keyed by bare id, so that its runs match another backend's."""
    mine = {
        bare_id(k, backend): replace(e, id=bare_id(e.id, backend))
        for k, e in run.experiments.items()
        if e.backend == backend
    }
    if not mine:
        raise BadInput(f"{run.source}: no experiments of backend {backend} (present: {', '.join(run.backends)})")
    return replace(run, experiments=mine, backend=backend)


def normalized(run: Run, reference: str) -> Run:
    """Every time divided by the reference entry's median in the same run."""
    exp_id, _, stage = reference.rpartition("::")
    try:
        ref = run.experiments[exp_id].stages[stage]
    except KeyError:
        raise BadInput(f"{run.source}: no {reference} entry to normalize by") from None
    if ref.cached:
        raise BadInput(f"{run.source}: {reference} is cached, not measured in this run: pick witness, prove or verify")
    if not ref.median > 0:
        raise BadInput(f"{run.source}: {reference} has a median of {ref.median}: cannot normalize by it")
    experiments = {
        k: replace(e, stages={s: t.scaled(1 / ref.median) for s, t in e.stages.items()})
        for k, e in run.experiments.items()
    }
    return replace(run, experiments=experiments, time_unit=run.time_unit * ref.median)
