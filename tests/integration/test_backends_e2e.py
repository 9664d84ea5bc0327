"""Backends end to end: an environment made from nothing by the documented command, then real
experiments on it, through `zkbench run` and through a pytest run with two backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ZKBENCH = [sys.executable, "-m", "zkbench"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache with the ezkl-19 environment, made by `zkbench backend install` from nothing."""
    cache = tmp_path_factory.mktemp("zkcache")
    out = subprocess.run(
        [*ZKBENCH, "backend", "install", "ezkl-19", "--cache-dir", str(cache)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("ezkl-19: installing ezkl==19.0.7 and numpy==")  # the progress line
    assert lines[-1].startswith("ezkl-19: ready in ") and "ezkl 19.0.7 (build 19.0.7+" in lines[-1]
    return cache


def test_a_second_install_reuses_the_environment(cache):
    out = subprocess.run(
        [*ZKBENCH, "backend", "install", "ezkl-19", "--cache-dir", str(cache)], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip() == f"ezkl-19: ready in {cache}/backends/ezkl-19/venv, reused"
    listed = subprocess.run([*ZKBENCH, "backend", "list", "--cache-dir", str(cache)], capture_output=True, text=True)
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()}
    assert "ready: ezkl 19.0.7" in rows["ezkl-19"] and "not installed" in rows["ezkl-gpu-16"]


def test_zkbench_run_on_ezkl_19_in_both_tolerance_modes(cache, tmp_path):
    results = tmp_path / "results"
    for mode in ("suite", "ezkl"):
        out = subprocess.run(
            [
                *ZKBENCH,
                "run",
                "Tanh",
                "--tol",
                "2",
                "--backend",
                "ezkl-19",
                "--tolerance-mode",
                mode,
                "--cache-dir",
                str(cache),
                "--results-dir",
                str(results / mode),
                "--rounds",
                "1",
            ],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        r = json.loads((results / mode / "core_layers" / "Tanh_tol2-ezkl-19.json").read_text())
        assert r["status"] == "ok" and r["verified"] and r["soundness_checked"]
        assert r["backend"]["name"] == "ezkl-19" and r["backend"]["version"] == "19.0.7"
        assert r["backend"]["device"] == "cpu" and r["backend"]["python"].startswith(str(cache))
        assert r["tolerance_mode"] == mode and r["accuracy"]["tolerance_mode"] == mode
        assert r["circuit"]["run_args"]["input_visibility"] == "Public"  # the same statement as ezkl 23's
        tolerance = r["circuit"]["run_args"]["tolerance"]["val"]
        assert tolerance == (2.0 if mode == "ezkl" else 0.0)
        assert r["stages"]["search"]["scan"] == ("ezkl-calibrate" if mode == "ezkl" else "bisect")
        assert r["accuracy"]["suite_tolerance_met"] == (r["accuracy"]["tol_metric"] <= 2.0)


def test_a_missing_backend_environment_is_one_line(tmp_path):
    out = subprocess.run(
        [*ZKBENCH, "run", "ReLU", "--backend", "ezkl-19=/nonexistent/python", "--cache-dir", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "error: backend ezkl-19: no Python interpreter at /nonexistent/python (given): run `zkbench backend "
        "install ezkl-19` (or pass --backend ezkl-19=/path/to/python)"
    )


def test_pytest_with_two_backends_names_them_in_ids_and_files(cache, tmp_path):
    results = tmp_path / "results"

    def run_pytest(*extra):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "benchmarks",
                "-p",
                "no:cacheprovider",
                "-q",
                "--layer",
                "ReLU",
                "--tol",
                "2",
                "--backend",
                "ezkl-23",
                "--backend",
                "ezkl-19",
                "--rounds",
                "1",
                f"--results-dir={results}",
                *extra,
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "ZKBENCH_CACHE": str(cache)},
        )

    out = run_pytest(f"--benchmark-json={tmp_path / 'bench.json'}", "-rA")
    assert out.returncode == 0, out.stdout[-3000:]
    assert "test_core_layers[ReLU-tol2-ezkl-23]" in out.stdout and "test_core_layers[ReLU-tol2-ezkl-19]" in out.stdout
    files = sorted(p.name for p in (results / "core_layers").iterdir())
    assert files == ["ReLU_tol2-ezkl-19.json", "ReLU_tol2.json"]
    bench = json.loads((tmp_path / "bench.json").read_text())["benchmarks"]
    assert {b["extra_info"]["backend"] for b in bench} == {"ezkl-23", "ezkl-19"}
    assert {b["extra_info"]["experiment"] for b in bench} == {"ReLU-tol2-ezkl-23", "ReLU-tol2-ezkl-19"}
    # the second run resumes both: the stored results are each backend's own
    again = run_pytest()
    assert again.returncode == 0 and again.stdout.count("done*") == 2, again.stdout[-3000:]
