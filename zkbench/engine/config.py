"""What a run is asked to do (RunConfig) and what makes two runs the same measurement (run_identity)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from zkbench.backends import BACKENDS, DEFAULT_BACKEND, definition
from zkbench.backends.venvs import BackendEnv, resolve
from zkbench.engine.search import grid
from zkbench.resources.admission import MemoryBudget

TOLERANCE_MODES = ("suite", "ezkl")
AUTO_MAX_ROUNDS = 5  # --rounds auto never repeats a stage more often than this
DEFAULT_ROUNDS = {"smoke": 3, "paper": "auto"}  # per profile, when neither --rounds nor the ini says


def parse_rounds(value) -> int | str:
    """A rounds setting: a whole number >= 1, or "auto"."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"rounds must be a whole number >= 1 or auto, got {value!r}") from None
    if n < 1 or str(n) != str(value).strip():
        raise ValueError(f"rounds must be a whole number >= 1 or auto, got {value!r}")
    return n


def parse_split(value) -> str | int:
    """A split setting: "auto" (as many parts as the memory budget demands, zkbench.engine.split_choice),
    "never", or a whole number of parts >= 1 (1 is never)."""
    text = str(value).strip().lower()
    if text in ("never", "auto"):
        return text
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"--split must be auto, never or a whole number of parts >= 1, got {value!r}")
    return "never" if int(text) == 1 else int(text)


def default_cache_dir() -> Path:
    return Path(os.environ.get("ZKBENCH_CACHE", Path.home() / ".cache" / "zkml-bench"))


@dataclass
class RunConfig:
    profile: str = "smoke"
    # prove and verify repetitions: a number, or "auto" (the paper profile's default): repeat while one
    # more round is predicted to fit round_budget_s, at least 1 and at most AUTO_MAX_ROUNDS
    rounds: int | str = 3
    round_budget_s: float = 600.0
    cache_dir: Path = field(default_factory=default_cache_dir)
    threads: int | None = None  # prover/torch threads in the child
    memory_limit_bytes: int | None = None
    n_calibration: int = 16
    # A candidate must reach search_margin * tol on the calibration inputs, so that unseen
    # (held-out) inputs, whose error is a little different, still meet tol.
    search_margin: float = 0.8
    n_heldout: int = 4
    scales: tuple[int, ...] = grid.DEFAULT_SCALES
    decompositions: tuple[tuple[int, int], ...] = grid.DEFAULT_DECOMPOSITIONS
    inner_cols: tuple[int, ...] = grid.DEFAULT_INNER_COLS
    search_scan: str = grid.DEFAULT_SCAN  # or "exhaustive": every scale upwards (zkbench.engine.search)
    gpu: dict = field(
        default_factory=lambda: {"mode": "cpu", "reason": "not assigned"}
    )  # zkbench.resources.gpu assignment
    memory_budget: MemoryBudget | None = None  # machine-wide admission for setup and prove
    max_memory_bytes: int | None = None  # skip a case predicted to need more than this
    status_dir: Path | None = None  # live status files (zkbench status)
    # user-supplied SRS files by logrows: {k: (path, expected sha256 or None)}; when given, they
    # replace local generation and a circuit of another logrows fails at stage srs
    srs_files: dict = field(default_factory=dict)
    # predictor points only (zkbench predict measure): build the chosen circuit at this
    # larger logrows, so memory and time are measured at sizes the smoke profile never reaches
    force_logrows: int | None = None
    backend: str = DEFAULT_BACKEND  # the prover (zkbench.backends)
    backend_python: str | None = None  # its interpreter, when not the one zkbench installs
    # "suite": the suite's output-error metric and cheapest-circuit search (zkbench.engine.search);
    # "ezkl": the tolerance goes into ezkl's own `tolerance` run arg and ezkl calibrates (ezkl <= 19)
    tolerance_mode: str = "suite"
    # a split's part (zkbench.engine.split_step) leaves its proof, witnesses and settings here, in
    # <dir>/<part name>/, for the split's linking check and the reassembled outputs; None: nothing kept
    artifacts_dir: Path | None = None
    # "auto": split only when the memory budget demands it; "never": one circuit; N > 1: proved as N
    # tiles of the layer (zkbench.engine.split_step)
    split: str | int = "auto"
    # set by --split auto on the one circuit it runs: the budget that circuit's predicted peak must fit
    # (zkbench.engine.split_step.budget_of, which may be a GPU's memory); over it, the run is skipped
    part_budget_bytes: int | None = None
    # a graph split's part after the first: the witnesses of the proven sample of the parts that made its
    # inputs (one, or one per tile of a tiled segment, in input order), whose committed outputs this
    # part's proof must be over (zkbench.engine.graph_link)
    link_from: tuple[Path, ...] | None = None
    # --split auto's graph split with tiles: one segment per layer, segment s cut into graph_tiles[s]
    # tiles of its channels (zkbench.layers.graph_tiles); None: --split N's N segments, no tiles
    graph_tiles: tuple[int, ...] | None = None
    # before a proving key is built: least recently used cached keys no live run holds are deleted until
    # the disk has the new key's predicted size plus this much free (zkbench.engine.cache); None: never
    keep_disk_free_bytes: int | None = None
    # a graph split's part: its circuit laid out at least at this logrows, the one domain all its parts
    # commit their cut tensors over (KZG commitments of the same values over two domains differ)
    commit_logrows: int | None = None

    def __post_init__(self):
        self.cache_dir = Path(self.cache_dir).expanduser()
        d = definition(self.backend)  # an unknown name fails here, before any work
        if self.tolerance_mode not in TOLERANCE_MODES:
            raise ValueError(f"unknown tolerance mode {self.tolerance_mode!r}: use one of {', '.join(TOLERANCE_MODES)}")
        if self.tolerance_mode == "ezkl" and not d.tolerance_arg:
            having = [n for n, b in BACKENDS.items() if b.tolerance_arg]
            raise ValueError(
                f"--tolerance-mode ezkl needs ezkl's `tolerance` run arg, which backend {self.backend} does not "
                f"have (removed in ezkl 20.1.1): use --backend {' or '.join(having)}"
            )
        if self.search_scan not in grid.SCANS:
            raise ValueError(f"unknown search scan {self.search_scan!r}: use one of {', '.join(grid.SCANS)}")
        self.split = parse_split(self.split)
        self.rounds = parse_rounds(self.rounds)
        if not self.round_budget_s > 0:
            raise ValueError(f"round budget must be > 0 seconds, got {self.round_budget_s:g}")

    def backend_env(self) -> BackendEnv:
        """Where the backend runs (zkbench.backends.venvs); BackendUnavailable if it cannot."""
        return resolve(self.backend, self.cache_dir, self.backend_python)


def run_identity(spec, config: RunConfig) -> dict:
    """What makes two runs of one experiment the same measurement: profile, prove/verify rounds,
    prover threads, calibration and held-out sample counts, the search grid and margin, the ezkl
    build and the workload. A stored result is resumed only when its identity equals the run's
    (zkbench.fixtures.resume.resumable). JSON-shaped, so a stored copy compares equal."""
    profile = spec.result_profile(config.profile)
    env = config.backend_env()
    return {
        "profile": profile,
        "rounds": config.rounds,
        **({"round_budget_s": config.round_budget_s} if config.rounds == "auto" else {}),
        "threads": config.threads,
        "n_calibration": config.n_calibration,
        "n_heldout": config.n_heldout,
        "search": {
            "scales": list(config.scales),
            "decompositions": [list(d) for d in config.decompositions],
            "inner_cols": list(config.inner_cols),
            "margin": config.search_margin,
            "scan": config.search_scan,
        },
        "backend": config.backend,
        "ezkl_build": env.build,
        "device": env.device(config.gpu),
        "tolerance_mode": config.tolerance_mode,
        "force_logrows": config.force_logrows,
        # only a forced split is part of the identity (auto's choice is in the result, and one circuit
        # is the same measurement under auto as under never): results from before the option resume
        **({"split": config.split} if isinstance(config.split, int) else {}),
        "workload_version": spec.workload_version,
        "workload_fingerprint": spec.fingerprint(profile),
        # the CNNs train on CIFAR-10 instead of the bundled digits when this points at a copy
        "cifar10": os.environ.get("ZKBENCH_CIFAR10") if spec.inputs == "images" else None,
    }
