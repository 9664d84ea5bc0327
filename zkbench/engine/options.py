"""The run options, declared once: each option's flag, ini default, parsing and help, for the three
front ends that take them (pytest's addoption and ini, `zkbench run`, `zkbench plan`), and the one
constructor of a RunConfig from their values.

A value is looked up as pytest does it: command line, then the ini file, then the table's default
(`zkbench run` and `zkbench plan` have no ini: command line, then the default). Values arrive as
strings (or lists of strings for repeatable options) and are parsed here, so a bad one is the same
one-line ValueError whichever front end it came through.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkbench.backends import BACKENDS, DEFAULT_BACKEND
from zkbench.engine.config import DEFAULT_ROUNDS, TOLERANCE_MODES, RunConfig, default_cache_dir
from zkbench.engine.search.grid import DEFAULT_SCAN, SCANS
from zkbench.layers import PROFILES, TOLERANCES, parse_tolerance
from zkbench.units import parse_memory

PYTEST, RUN, PLAN = "pytest", "run", "plan"  # the front ends
ALL = frozenset({PYTEST, RUN, PLAN})


@dataclass(frozen=True)
class RunOption:
    name: str  # the ini name (zkbench_<name>), the argparse dest and the key of a values mapping
    flag: str
    help: str
    default: str = ""  # as the ini holds it; "" is none
    fronts: frozenset = ALL  # which front ends take it
    choices: tuple[str, ...] | None = None
    repeatable: bool = False  # action=append; items may also be comma- or space-separated
    metavar: str | None = None
    ini: bool = True  # an ini setting too (pytest)
    flag_only: bool = False  # a switch (store_true): no value, no ini

    def argument(self) -> dict:
        """How argparse (and pytest's addoption, which takes the same) parses it: dest and action."""
        if self.flag_only:
            return {"dest": self.name, "action": "store_true"}
        action = "append" if self.repeatable else "store"
        return {"dest": self.name, "action": action, "choices": self.choices, "metavar": self.metavar}


RUN_OPTIONS: tuple[RunOption, ...] = (
    RunOption("profile", "--profile", f"size profile: {' | '.join(PROFILES)}", "smoke", choices=PROFILES),
    RunOption(
        "tolerances",
        "--tol",
        "tolerance in percent, repeatable (default 0.5 and 2)",
        " ".join(f"{t:g}" for t in TOLERANCES),
        repeatable=True,
    ),
    RunOption(
        "rounds",
        "--rounds",
        "prove/verify repetitions per experiment: N, or auto (repeat while one more fits --round-budget, "
        "at most 5); default 3 for smoke, auto for paper",
    ),
    RunOption("round_budget", "--round-budget", "seconds of proving per experiment that --rounds auto may fill", "600"),
    RunOption("results_dir", "--results-dir", "directory for per-experiment result JSON", "results"),
    RunOption("cache_dir", "--cache-dir", "artifact cache (default $ZKBENCH_CACHE or ~/.cache/zkml-bench)"),
    RunOption("threads", "--threads", "prover threads per worker (default: cores / workers)"),
    RunOption(
        "search_scan",
        "--search-scan",
        "tolerance search per structure: bisect (error-model probes) | exhaustive (every scale up)",
        DEFAULT_SCAN,
        fronts=frozenset({PYTEST, RUN}),
        choices=SCANS,
    ),
    RunOption(
        "backends",
        "--backend",
        f"prover backends, each experiment runs once per backend: {' | '.join(BACKENDS)}, or NAME=/path/to/python "
        f"for an interpreter of your own; repeatable (default {DEFAULT_BACKEND}). A shipped backend's environment "
        "is made on first use (`zkbench backend install NAME`)",
        DEFAULT_BACKEND,
        fronts=frozenset({PYTEST, RUN}),
        repeatable=True,
        metavar="NAME[=PYTHON]",
    ),
    RunOption(
        "tolerance_mode",
        "--tolerance-mode",
        "suite: the suite's output-error metric and cheapest-circuit search | ezkl: ezkl's own `tolerance` "
        "run arg and calibration (backends ezkl-19, ezkl-gpu-16)",
        TOLERANCE_MODES[0],
        fronts=frozenset({PYTEST, RUN}),
        choices=TOLERANCE_MODES,
    ),
    RunOption(
        "split",
        "--split",
        "auto (default): split only when the memory budget (--max-memory) demands it, into the fewest "
        "parts predicted to fit | never: each experiment one circuit | N: proved as N parts, each its own "
        "circuit and proof: tiles of a layer's output, reassembled, or for a model with no tiles (the CNNs, "
        "your own) N consecutive segments of its graph linked by commitments, for LayerNorm N normalising "
        "parts after its statistics parts",
        "auto",
        fronts=frozenset({PYTEST, RUN}),
        metavar="auto|never|N",
    ),
    # pytest's only: what a suite run collects, where and how its workers run
    RunOption(
        "models_dir",
        "--models-dir",
        "folder of <name>/network.onnx + input.json to benchmark as group 'custom'",
        fronts=frozenset({PYTEST}),
    ),
    RunOption(
        "max_memory",
        "--max-memory",
        "memory the run may use, e.g. 24G (default: host RAM less a reserve); --split auto splits what does "
        "not fit, other cases bigger than it are skipped before setup, and parallel setup/prove stages share it",
        fronts=frozenset({PYTEST, RUN}),
    ),
    RunOption(
        "keep_disk_free",
        "--keep-disk-free",
        "before a proving key is built, delete the least recently used cached keys (none a live run uses) until "
        "the disk has the new key's predicted size plus this much free, e.g. 10G; 0 never deletes",
        "10G",
        fronts=frozenset({PYTEST, RUN}),
    ),
    RunOption(
        "srs_files",
        "--srs",
        "use this SRS file for circuits of logrows K instead of generating one (repeatable); with @SHA256 its "
        "hash is checked",
        fronts=frozenset({PYTEST}),
        repeatable=True,
        metavar="K=PATH[@SHA256]",
        ini=False,
    ),
    RunOption(
        "layers",
        "--layer",
        "run only these layers (repeatable or comma-separated registry names, e.g. --layer ReLU,Dense)",
        fronts=frozenset({PYTEST}),
        repeatable=True,
        metavar="NAME",
        ini=False,
    ),
    RunOption(
        "rerun",
        "--rerun",
        "run experiments that already have a valid result; the old result is kept in results/history/",
        fronts=frozenset({PYTEST}),
        flag_only=True,
    ),
    RunOption(
        "run_memory_heavy",
        "--run-memory-heavy",
        "also run the memory_heavy (Conv2d) cases",
        fronts=frozenset({PYTEST}),
        flag_only=True,
    ),
    RunOption(
        "shard",
        "--shard",
        "run only shard K of N (K/N, 1-based) of the selection, the same split on every machine",
        fronts=frozenset({PYTEST}),
        metavar="K/N",
    ),
    RunOption(
        "hosts",
        "--hosts",
        "SSH hosts to run workers on: HOST*N runs N workers there (localhost*N: local ones); repeatable, "
        "e.g. --hosts gpu1*3 --hosts gpu2*2",
        fronts=frozenset({PYTEST}),
        repeatable=True,
        metavar="HOST*N",
    ),
    RunOption(
        "remote_dir",
        "--remote-dir",
        "the project's checkout on the --hosts (default: this checkout's path)",
        fronts=frozenset({PYTEST}),
    ),
    RunOption(
        "remote_python",
        "--remote-python",
        "the hosts' interpreter, relative to --remote-dir or absolute (default .venv/bin/python)",
        fronts=frozenset({PYTEST}),
    ),
    RunOption(
        "ssh_config", "--ssh-config", "ssh_config file for the --hosts (default: ssh's own)", fronts=frozenset({PYTEST})
    ),
    RunOption(
        "live",
        "--live",
        "live lines per worker during a run: auto (on a terminal) | on | off",
        "auto",
        fronts=frozenset({PYTEST}),
        choices=("auto", "on", "off"),
    ),
)
OPTIONS: dict[str, RunOption] = {o.name: o for o in RUN_OPTIONS}


def options_of(front: str) -> list[RunOption]:
    return [o for o in RUN_OPTIONS if front in o.fronts]


def add_arguments(ap: argparse.ArgumentParser, front: str, helps: Mapping[str, str] | None = None) -> None:
    """The options `zkbench run` or `zkbench plan` takes, as argparse arguments. Their defaults stay
    None: value() fills in the table's (or the front end's, for plan's --profile)."""
    for o in options_of(front):
        text = (helps or {}).get(o.name, o.help)
        default = f" (default {o.default})" if o.default and "default" not in text else ""
        ap.add_argument(o.flag, **o.argument(), help=text if o.flag_only else text + default)


def value(values: Mapping[str, Any], name: str, defaults: Mapping[str, str] | None = None) -> Any:
    """The option's given value (None, "" and [] are not given), else the front end's default, else the table's."""
    given = values.get(name)
    if given not in (None, "", []):
        return given
    return (defaults or {}).get(name, OPTIONS[name].default) or None


def items(raw: Any) -> list[str]:
    """A repeatable option's items: a list of occurrences, each comma- or space-separated; or one string."""
    occurrences = raw if isinstance(raw, list) else [] if raw is None else [str(raw)]
    return [t for item in occurrences for t in str(item).replace(",", " ").split()]


def parse_tolerances(raw: Any) -> list[float]:
    return sorted({parse_tolerance(t) for t in items(raw)})


def parse_backends(raw: Any) -> dict[str, str | None]:
    """The selected backends in order: name -> its interpreter when given (NAME=/path/to/python)."""
    out: dict[str, str | None] = {}
    for token in items(raw):
        name, sep, python = token.partition("=")
        if name not in BACKENDS:
            raise ValueError(f"--backend {token}: unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
        if sep and not python:
            raise ValueError(f"--backend {token}: write NAME or NAME=/path/to/python")
        if name in out and out[name] != (python or None):
            raise ValueError(f"--backend {name} is given twice with different interpreters")
        out[name] = python or None
    return out or {DEFAULT_BACKEND: None}


def number(kind: Callable[[str], Any], name: str, text: Any) -> Any:
    try:
        return kind(str(text))
    except ValueError:
        raise ValueError(f"{OPTIONS[name].flag} must be a {'whole ' * (kind is int)}number, got {text!r}") from None


def disk_reserve(text: Any) -> int | None:
    """--keep-disk-free: a size, or 0 (never evict: None)."""
    if text is None or str(text).strip() in ("0", "off"):
        return None
    try:
        return parse_memory(str(text))
    except ValueError as e:
        raise ValueError(f"--keep-disk-free: {e}") from None


def run_config(values: Mapping[str, Any], defaults: Mapping[str, str] | None = None, **fixed: Any) -> RunConfig:
    """The one constructor of a RunConfig from run options: `values` as given (by name; missing and
    empty ones take the default), `fixed` the fields a front end decides itself (the backend of this
    run, its GPU, memory budget, status folder, SRS files, threads per worker...). ValueError on a
    bad value."""
    get: Callable[[str], Any] = lambda name: value(values, name, defaults)
    profile = get("profile")
    threads, backend_of_run = get("threads"), next(iter(parse_backends(get("backends")).items()))
    options: dict[str, Any] = {
        "profile": profile,
        "rounds": str(get("rounds") or DEFAULT_ROUNDS[profile]),
        "round_budget_s": number(float, "round_budget", get("round_budget")),
        "cache_dir": Path(get("cache_dir") or default_cache_dir()),
        "threads": number(int, "threads", threads) if threads else None,
        "search_scan": get("search_scan"),
        "tolerance_mode": get("tolerance_mode"),
        "backend": backend_of_run[0],
        "backend_python": backend_of_run[1],
        "split": get("split"),
        "keep_disk_free_bytes": disk_reserve(get("keep_disk_free")),
    }
    return RunConfig(**{**options, **fixed})
