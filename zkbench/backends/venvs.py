"""Where each backend runs: the interpreter its stage children use, and what it has installed.

The default backend (ezkl-23) is the project's own environment. Every other ezkl release installs the
same import name, so it gets a venv of its own under <cache>/backends/<name>/venv (made by
`zkbench backend install NAME`: the exact pinned wheel, plus the numpy and filelock versions of this
environment that the stage child's search uses), or a user's interpreter (`--backend NAME=/path/to/python`).
A child under another interpreter finds zkbench through PYTHONPATH: a folder holding one link to this
checkout's zkbench package, so it sees this code and nothing else of the project's environment.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from zkbench.backends import BackendDef, definition
from zkbench.backends import identity as project

PROBE_TIMEOUT_S = 120
# what a backend's environment gets besides its prover: the stage child's own imports, at this
# environment's versions, so the search computes the same way under every backend
CHILD_PACKAGES = ("numpy", "filelock")


class BackendUnavailable(Exception):
    """A backend whose environment is missing or broken; str() is one line that says how to fix it."""


@dataclass(frozen=True)
class BackendEnv:
    name: str
    python: str  # the interpreter of its stage children
    version: str | None
    build: str | None
    pythonpath: str | None = None  # set for a foreign interpreter: where it finds zkbench

    @property
    def definition(self) -> BackendDef:
        return definition(self.name)

    def device(self, gpu_assignment: dict) -> str:
        """Where its MSM/NTT run: the GPU only for a GPU build with a GPU of its own."""
        return "gpu" if self.definition.gpu and gpu_assignment.get("mode") == "gpu" else "cpu"

    def child_environment(self, gpu_assignment: dict) -> dict[str, str]:
        """Variables a stage child of this backend needs on top of the worker's."""
        env = {"PYTHONPATH": self.pythonpath} if self.pythonpath else {}
        if self.device(gpu_assignment) == "gpu":
            # icicle reads ENABLE_ICICLE_GPU; CUDA numbers devices its own way, so name the GPU by UUID
            env.update(ENABLE_ICICLE_GPU="1", CUDA_VISIBLE_DEVICES=str(gpu_assignment["uuid"]))
        return env

    def info(self, gpu_assignment: dict) -> dict:
        """The result's `backend` block: what proved."""
        return {
            "name": self.name,
            "version": self.version,
            "build": self.build,
            "device": self.device(gpu_assignment),
            "python": self.python,
            "requirement": self.definition.requirement,
        }


def venv_dir(cache_dir: Path, name: str) -> Path:
    return Path(cache_dir) / "backends" / name / "venv"


def venv_python(cache_dir: Path, name: str) -> Path:
    return venv_dir(cache_dir, name) / "bin" / "python"


def code_path(cache_dir: Path) -> str:
    """A folder whose only entry links to this checkout's zkbench package (per checkout)."""
    package = Path(__file__).resolve().parent.parent
    folder = Path(cache_dir) / "backends" / "code" / hashlib.sha256(str(package).encode()).hexdigest()[:12]
    link = folder / "zkbench"
    if not link.is_symlink() or link.resolve() != package:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".zkbench.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(package, target_is_directory=True)
        os.replace(tmp, link)  # atomic: a concurrent child sees the old link or the new one
    return str(folder)


def how_to_fix(name: str) -> str:
    return f"run `zkbench backend install {name}` (or pass --backend {name}=/path/to/python)"


def resolve(name: str, cache_dir: Path, python: str | None = None) -> BackendEnv:
    """The environment a backend runs in; BackendUnavailable (one line) if it is missing or broken."""
    d = definition(name)
    if python is None and not d.own_environment:  # the project's own: read in-process, never stale
        return BackendEnv(name, sys.executable, project.package_version(d.package), project.package_build(d.package))
    exe = python or str(venv_python(cache_dir, name))
    if not Path(exe).is_file():
        given = "given" if python else "expected"
        raise BackendUnavailable(f"backend {name}: no Python interpreter at {exe} ({given}): {how_to_fix(name)}")
    return _probe(name, exe, code_path(cache_dir))


@functools.cache
def _probe(name: str, python: str, pythonpath: str) -> BackendEnv:
    """Ask the interpreter what it has (once per process): the pinned prover, and that it imports."""
    d = definition(name)
    try:
        out = subprocess.run(
            [python, "-m", "zkbench.backends.identity", d.package],
            env={**os.environ, "PYTHONPATH": pythonpath},
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BackendUnavailable(f"backend {name}: {python} does not run ({e}): {how_to_fix(name)}") from None
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1][:200]
        raise BackendUnavailable(f"backend {name}: its environment {python} is broken ({last}): {how_to_fix(name)}")
    facts = json.loads(out.stdout.strip().splitlines()[-1])
    pinned = d.requirement.partition("==")[2]
    if facts["version"] != pinned:
        raise BackendUnavailable(
            f"backend {name}: {python} has {d.package} {facts['version']}, not {pinned}: {how_to_fix(name)}"
        )
    return BackendEnv(name, python, facts["version"], facts["build"], pythonpath)


def install(name: str, cache_dir: Path, say=print) -> BackendEnv:
    """Make (or re-make) a backend's venv from nothing: the pinned wheel from the package index."""
    from filelock import FileLock

    d = definition(name)
    if not d.own_environment:
        say(f"{name}: runs in this environment ({sys.executable}); nothing to install")
        return resolve(name, cache_dir)
    target = venv_dir(cache_dir, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        try:  # made before (or by another process while this one waited)
            env = resolve(name, cache_dir)
            say(f"{name}: ready in {target}, reused")
            return env
        except BackendUnavailable as e:
            _probe.cache_clear()
            if target.exists():
                say(f"{name}: {e}; making it again")
        pins = [f"{p}=={project.package_version(p)}" for p in CHILD_PACKAGES if project.package_version(p)]
        tmp = target.with_name(f"venv.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        log = target.with_name("install.log")
        t0 = time.perf_counter()
        say(f"{name}: installing {d.requirement} and {', '.join(pins)} into {target} (log: {log}) ...")
        with open(log, "w") as f:
            for cmd in (
                [sys.executable, "-m", "venv", str(tmp)],
                [
                    str(tmp / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    d.requirement,
                    *pins,
                ],
            ):
                f.write(f"$ {' '.join(cmd)}\n")
                f.flush()
                rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
                if rc != 0:
                    shutil.rmtree(tmp, ignore_errors=True)
                    tail = log.read_text().strip().splitlines()[-1:] or ["no output"]
                    raise BackendUnavailable(
                        f"{name}: `{' '.join(cmd[-3:])}` failed (exit {rc}: {tail[0][:200]}); see {log}"
                    )
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)  # a venv only records its base interpreter: it works after the move
        env = resolve(name, cache_dir)
        say(f"{name}: ready in {time.perf_counter() - t0:.0f} s: {d.package} {env.version} (build {env.build})")
        return env


def ensure(name: str, cache_dir: Path, python: str | None = None, say=print) -> BackendEnv:
    """The backend's environment, a shipped one made on first use (a progress line; reused after).
    An existing one that is broken, or an interpreter given by hand, is not touched: BackendUnavailable."""
    if python is None and definition(name).own_environment and not venv_dir(cache_dir, name).exists():
        install(name, cache_dir, say=say)
    return resolve(name, cache_dir, python)
