"""Prover backends: the registry, their environments (missing, broken, wrong wheel: one line that says
how to fix it), the child environment that puts a GPU build on its worker's GPU, and what the stand-in
NVML's per-process accounting says of a stage child started that way."""

from __future__ import annotations

import importlib.util
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from zkbench.backends import BACKENDS, DEFAULT_BACKEND, definition, get_backend, with_backend
from zkbench.backends.venvs import BackendEnv, BackendUnavailable, code_path, resolve
from zkbench.engine.config import RunConfig
from zkbench.engine.stage_worker import StageWorker
from zkbench.resources.gpu_telemetry import GpuSampler

FAKE_NVML = Path(__file__).resolve().parents[2] / "data" / "fake_nvml" / "pynvml.py"
GPU_ASSIGNMENT = {"mode": "gpu", "uuid": "GPU-fa4e1111-0000-0000-0000-000000000000", "reason": "worker gw1"}
CPU_ASSIGNMENT = {"mode": "cpu", "reason": "no GPU"}


def fake_nvml():
    spec = importlib.util.spec_from_file_location("fake_pynvml", FAKE_NVML)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_backends_and_their_adapters():
    assert DEFAULT_BACKEND == "ezkl-23" and set(BACKENDS) >= {"ezkl-23", "ezkl-19", "ezkl-gpu-16"}
    for name, d in BACKENDS.items():
        assert get_backend(name).name == name  # the adapter answers to its own name
        assert d.requirement.startswith(f"{d.package}==")
    assert [n for n, d in BACKENDS.items() if d.gpu] == ["ezkl-gpu-16"]
    assert sorted(n for n, d in BACKENDS.items() if d.tolerance_arg) == ["ezkl-19", "ezkl-gpu-16"]
    assert not definition("ezkl-23").own_environment and definition("ezkl-19").own_environment


def test_a_cost_lower_bound_needs_room_for_the_rows_and_every_range_check_table():
    bound = get_backend("ezkl-23").cost_lower_bound
    # 1008 rows fit 2**10 with a blinding row to spare; a 1024-value range check does not
    ezkl23 = {"num_rows": 1008, "total_assignments": 4032, "required_range_checks": [[-1, 1], [0, 1023]]}
    assert bound(ezkl23) == {"logrows": 11, "num_rows": 1008, "total_assignments": 4032}
    assert bound({**ezkl23, "required_range_checks": [[0, 16383]]})["logrows"] == 15  # ezkl's default 16384^2
    # ezkl-gpu 16 lists none for a lookup-only layer: the rows alone bound it
    assert bound({"num_rows": 48, "total_assignments": 192, "required_range_checks": []})["logrows"] == 6
    # ... but its rows move between calls (751 from gen_settings, 725 calibrated): only tables bound it
    gpu = get_backend("ezkl-gpu-16").cost_lower_bound({**ezkl23, "num_rows": 751})
    assert gpu == {"logrows": 11, "num_rows": 0, "total_assignments": 0}


def test_ids_name_the_backend_only_when_asked_or_not_the_default():
    assert with_backend("Tanh-tol0.5", "ezkl-23") == "Tanh-tol0.5"
    assert with_backend("Tanh-tol0.5", "ezkl-23", always=True) == "Tanh-tol0.5-ezkl-23"
    assert with_backend("Tanh-tol0.5", "ezkl-gpu-16") == "Tanh-tol0.5-ezkl-gpu-16"


def test_the_default_backend_is_this_environment(tmp_path):
    env = resolve("ezkl-23", tmp_path)
    assert env.python == sys.executable and env.pythonpath is None
    assert env.version == "23.0.5" and env.build and env.build.startswith("23.0.5+")


def test_a_missing_environment_says_how_to_make_it(tmp_path):
    with pytest.raises(BackendUnavailable) as e:
        resolve("ezkl-19", tmp_path)
    text = str(e.value)
    assert "\n" not in text and "no Python interpreter at" in text
    assert "zkbench backend install ezkl-19" in text and "--backend ezkl-19=/path/to/python" in text


def test_a_broken_interpreter_says_how_to_fix_it(tmp_path):
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'ImportError: libfoo.so: cannot open' >&2\nexit 1\n")
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(BackendUnavailable) as e:
        resolve("ezkl-19", tmp_path, str(broken))
    text = str(e.value)
    assert "\n" not in text and "is broken (ImportError: libfoo.so: cannot open)" in text
    assert "zkbench backend install ezkl-19" in text


def test_an_interpreter_with_another_ezkl_is_refused(tmp_path):
    # this environment has ezkl 23.0.5: not the ezkl-19 backend, whatever the user says
    with pytest.raises(BackendUnavailable, match=r"has ezkl 23\.0\.5, not 19\.0\.7: run `zkbench backend install"):
        resolve("ezkl-19", tmp_path, sys.executable)


def test_tolerance_mode_ezkl_needs_the_tolerance_run_arg(tmp_path):
    with pytest.raises(ValueError, match=r"backend ezkl-23 does not have .*use --backend ezkl-19 or ezkl-gpu-16"):
        RunConfig(cache_dir=tmp_path, tolerance_mode="ezkl")
    with pytest.raises(ValueError, match="unknown tolerance mode"):
        RunConfig(cache_dir=tmp_path, tolerance_mode="strict")
    assert RunConfig(cache_dir=tmp_path, backend="ezkl-19", tolerance_mode="ezkl").tolerance_mode == "ezkl"


def test_children_of_another_interpreter_see_this_zkbench_only(tmp_path):
    folder = Path(code_path(tmp_path))
    assert [p.name for p in folder.iterdir()] == ["zkbench"]
    assert (folder / "zkbench").resolve() == Path(__file__).resolve().parents[3] / "zkbench"
    assert code_path(tmp_path) == str(folder)  # stable: made once per checkout


def env_of(name: str) -> BackendEnv:
    return BackendEnv(name, sys.executable, "x", "x+y")


def test_a_gpu_build_is_put_on_its_workers_gpu():
    gpu16 = env_of("ezkl-gpu-16")
    assert gpu16.device(GPU_ASSIGNMENT) == "gpu"
    assert gpu16.child_environment(GPU_ASSIGNMENT) == {
        "ENABLE_ICICLE_GPU": "1",
        "CUDA_VISIBLE_DEVICES": GPU_ASSIGNMENT["uuid"],
    }
    # without a GPU of its own it runs on the CPU, and says so
    assert gpu16.device(CPU_ASSIGNMENT) == "cpu" and gpu16.child_environment(CPU_ASSIGNMENT) == {}
    # a CPU build never asks for a GPU, even on a worker that has one
    assert env_of("ezkl-23").device(GPU_ASSIGNMENT) == "cpu"
    assert env_of("ezkl-23").child_environment(GPU_ASSIGNMENT) == {}
    assert env_of("ezkl-gpu-16").info(GPU_ASSIGNMENT)["device"] == "gpu"


@pytest.mark.parametrize("backend, used", [("ezkl-gpu-16", True), ("ezkl-23", False)], ids=["gpu-build", "cpu-build"])
def test_stand_in_nvml_sees_the_gpu_builds_stage_child_only(tmp_path, backend, used):
    """A real stage child (zkbench.engine.child), started as the runner starts one for this
    backend; the stand-in NVML lists a process on a GPU only when it was told to use that GPU."""
    nvml = fake_nvml()
    env = env_of(backend)
    worker = StageWorker(tmp_path / "child.log", environment=env.child_environment(GPU_ASSIGNMENT))
    with worker as w, GpuSampler(GPU_ASSIGNMENT["uuid"], interval_s=0.02, nvml=nvml, pid=w.pid) as sampler:
        time.sleep(0.1)
    summary = sampler.summary()
    assert summary["used_by_prover"] is used, summary["evidence"]
    assert summary["pid_mem_peak_bytes"] == (nvml.HELD_BYTES if used else None)
    # the worker's own environment is untouched: only the child got the GPU's variables
    assert os.environ.get("ENABLE_ICICLE_GPU") is None
