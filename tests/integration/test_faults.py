"""Fault tests with real processes: a prover killed mid-prove, a stage under an address-space
limit, two pytest runs sharing one results dir, corrupt cached artifacts."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from zkbench.engine.cache import ArtifactCache
from zkbench.engine.config import RunConfig
from zkbench.engine.experiment import run_experiment

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("zkcache")


def pytest_run(tmp_path, cache_dir, *args) -> subprocess.Popen:
    env = {**os.environ, "ZKBENCH_CACHE": str(cache_dir)}
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_XDIST_WORKER_COUNT", None)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            str(ROOT / "benchmarks"),
            "-p",
            "no:cacheprovider",
            "--results-dir",
            str(tmp_path / "results"),
            *args,
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def no_half_written_files(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.name.endswith(".tmp") or ".building." in p.name]


def kill_when_in_stage(status_dir: Path, experiment: str, stage: str, stop: threading.Event, killed: list):
    while not stop.is_set():
        for f in status_dir.glob("*.json") if status_dir.is_dir() else []:
            try:
                s = json.loads(f.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if s.get("experiment") == experiment and s.get("stage") == stage and s.get("child_pid"):
                os.kill(s["child_pid"], signal.SIGKILL)
                killed.append(s["child_pid"])
                return
        time.sleep(0.01)


def test_prover_killed_mid_prove_is_recorded_and_the_run_completes(tmp_path, cache_dir):
    # one prover thread in both runs: a result is resumed only by a run of the same identity
    sel = ["--layer", "Tanh,Dense_Scaling_Small", "--tol", "0.5", "--threads", "1"]
    stop, killed = threading.Event(), []
    watcher = threading.Thread(
        target=kill_when_in_stage, args=(tmp_path / "results" / ".status", "Tanh-tol0.5", "prove", stop, killed)
    )
    watcher.start()
    proc = pytest_run(tmp_path, cache_dir, *sel, "-n", "2")  # under xdist, as users run it
    out, _ = proc.communicate(timeout=600)
    stop.set()
    watcher.join()
    assert killed, out
    assert proc.returncode == 1, out
    tanh = json.loads((tmp_path / "results/core_layers/Tanh_tol0.5.json").read_text())
    assert tanh["status"] == "failed" and tanh["failure"]["stage"] == "prove"
    assert "SIGKILL" in tanh["failure"]["cause"]
    other = json.loads((tmp_path / "results/scaling_study/Dense_Scaling_Small_tol0.5.json").read_text())
    assert other["status"] == "ok"
    assert "Tanh-tol0.5" in out and "failed" in out
    assert not no_half_written_files(tmp_path / "results", cache_dir)
    # a rerun retries the failed one only and completes it
    proc = pytest_run(tmp_path, cache_dir, *sel)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert json.loads((tmp_path / "results/core_layers/Tanh_tol0.5.json").read_text())["status"] == "ok"
    assert "done*" in out  # Dense_Scaling_Small was resumed, not run again


def test_stage_under_an_address_space_limit_is_recorded_as_out_of_memory(tmp_path, cache_dir):
    run_experiment("Dense_Scaling_Large", 2.0, RunConfig(rounds=1, cache_dir=cache_dir))  # warm the cache
    for kind in ("keys",):  # force setup to run again
        for d in (cache_dir / kind).iterdir():
            if d.is_dir():
                import shutil

                shutil.rmtree(d)
    r = run_experiment(
        # --split never: the death itself is what is checked (under auto it would be split further)
        "Dense_Scaling_Large",
        2.0,
        RunConfig(rounds=1, cache_dir=cache_dir, memory_limit_bytes=150 * 2**20, split="never"),
    )
    assert r["status"] == "failed", r.get("failure")
    assert r["failure"]["kind"] == "out_of_memory" and r["failure"]["stage"] in ("setup", "prove")
    assert "memory allocation" in r["failure"]["cause"]


def test_two_runs_on_one_results_dir_do_not_corrupt_or_duplicate(tmp_path, cache_dir):
    sel = ["--layer", "ReLU,Poly", "--tol", "2"]
    a, b = pytest_run(tmp_path, cache_dir, *sel), pytest_run(tmp_path, cache_dir, *sel)
    out_a, _ = a.communicate(timeout=600)
    out_b, _ = b.communicate(timeout=600)
    assert a.returncode == 0 and b.returncode == 0, out_a + out_b
    results = sorted((tmp_path / "results").glob("[!.]*/*.json"))
    assert [p.name for p in results] == ["Poly_tol2.json", "ReLU_tol2.json"]
    for p in results:
        assert json.loads(p.read_text())["status"] == "ok"
    # each experiment was measured by exactly one of the two runs; the other took its result
    assert (out_a + out_b).count("done*") >= 2, out_a + out_b
    assert not no_half_written_files(tmp_path / "results", cache_dir)
    workers_left = [p for p in (tmp_path / "results" / ".status").glob("*.json") if p.name != "selection.json"]
    assert not workers_left  # workers cleaned up after themselves (the run's selection stays)


def test_corrupt_cached_proving_key_is_rebuilt_not_used(tmp_path, cache_dir):
    cfg = RunConfig(rounds=1, cache_dir=cache_dir)
    first = run_experiment("ReLU", 0.5, cfg)
    assert first["status"] == "ok"
    pk = ArtifactCache(cache_dir).entry_dir("keys", first["cache_keys"]["keys"]) / "pk.key"
    pk.write_bytes(pk.read_bytes()[: pk.stat().st_size // 2])  # half a proving key
    again = run_experiment("ReLU", 0.5, cfg)
    assert again["status"] == "ok" and not again["stages"]["setup"]["cached"]
    assert pk.stat().st_size == first["sizes"]["pk_bytes"]
