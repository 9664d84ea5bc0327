"""What one host says about itself before a multi-host run: the versions that must equal the
controller's (project source, workload, prover backends), its size (cores, RAM, GPUs) and the hashes
of the input files the run names.

The controller computes these facts locally and, through an execnet gateway (the same SSH route
pytest-xdist's workers take), on every host; zkbench.fixtures.hosts compares them. `facts()` takes
and returns JSON-shaped values only, so it can run on the other end of an execnet channel:

    channel.send(json.dumps(facts(request)))
"""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path

import psutil

# Source that decides what a worker measures: the engine and its glue, the model zoo, the benchmark tests.
SOURCE_SUFFIXES = (".py", ".json")


def source_digest(roots: list[Path]) -> str:
    """sha256 over every .py/.json file under `roots`, by path relative to its root: two checkouts of
    the same commit (and the same uncommitted edits) agree, a stale one does not."""
    h = hashlib.sha256()
    for root in roots:
        files = sorted(p for p in root.rglob("*") if p.suffix in SOURCE_SUFFIXES and "__pycache__" not in p.parts)
        for path in files:
            h.update(f"{root.name}/{path.relative_to(root).as_posix()}\0".encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def project_facts(project_dir: Path) -> dict:
    """The project's version, and a digest of the code this interpreter imports plus the benchmark
    tests under `project_dir` (the worker's working directory)."""
    import zkbench
    import zkbench.fixtures
    import zkbench.layers
    from zkbench.backends.identity import package_version

    packages = [Path(m.__file__).parent for m in (zkbench, zkbench.layers, zkbench.fixtures) if m.__file__]
    tests = [d for d in (project_dir / "benchmarks",) if d.is_dir()]
    return {
        "version": package_version("zkml-bench"),
        "source": source_digest(packages + tests),
        "imports_from": str(packages[0]),
    }


def workload_digest() -> str:
    """Every registered experiment's workload version and fingerprint at both profiles."""
    from zkbench.layers import PROFILES, SPECS

    h = hashlib.sha256()
    for spec in SPECS:
        for profile in PROFILES:
            h.update(f"{spec.name}:{spec.workload_version}:{profile}:{spec.fingerprint(profile)}\n".encode())
    return h.hexdigest()[:16]


def backend_facts(backends: dict[str, str | None], cache_dir: str | None) -> dict[str, dict]:
    """name -> {version, build} of each backend as this host resolves it (a shipped backend's missing
    environment is made here, once, as on a single machine), or {error}."""
    from zkbench.backends.environments import BackendUnavailable, ensure
    from zkbench.engine import default_cache_dir

    out: dict[str, dict] = {}
    for name, python in backends.items():
        try:
            env = ensure(name, Path(cache_dir) if cache_dir else default_cache_dir(), python, say=lambda line: None)
            out[name] = {"version": env.version, "build": env.build}
        except BackendUnavailable as e:
            out[name] = {"error": str(e)}
    return out


def file_hashes(paths: dict[str, str]) -> dict[str, str | None]:
    """label -> sha256 of the file at path (relative to the working directory), None when missing."""
    out: dict[str, str | None] = {}
    for label, path in paths.items():
        p = Path(path)
        if not p.is_file():
            out[label] = None
            continue
        h = hashlib.sha256()
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        out[label] = h.hexdigest()
    return out


def facts(request: dict) -> dict:
    """request: {"backends": {name: python or None}, "cache_dir": str or None, "files": {label: path}}."""
    from zkbench.resources.environment import fingerprint
    from zkbench.resources.gpu import visible_gpus

    return {
        "hostname": platform.node(),
        "cwd": os.getcwd(),
        "cpu_cores": os.cpu_count() or 1,
        "ram_bytes": psutil.virtual_memory().total,
        "gpus": len(visible_gpus()),
        "python": platform.python_version(),
        "project": project_facts(Path.cwd()),
        "workload": workload_digest(),
        "backends": backend_facts(request.get("backends", {}), request.get("cache_dir")),
        "files": file_hashes(request.get("files", {})),
        "fingerprint": fingerprint(),
    }


# Run on the other end of an execnet channel: receives the request, sends the facts back.
REMOTE_SOURCE = """
import json
from zkbench.resources.host_facts import facts
channel.send(json.dumps(facts(json.loads(channel.receive()))))
"""
