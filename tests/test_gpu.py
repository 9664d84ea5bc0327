"""fixtures.gpu: CUDA_VISIBLE_DEVICES mapping, worker assignment and telemetry.

The mapping and telemetry logic runs against FakeNvml, a stand-in with pynvml's function names;
the last tests use the real pynvml, which on a machine without a driver must mean CPU mode.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from fixtures.gpu import Gpu, GpuSampler, assign_gpu, auto_worker_count, visible_gpus

GiB = 1024 ** 3
UUIDS = ["GPU-aaaa1111-0000", "GPU-bbbb2222-0000", "GPU-bbbb3333-0000", "GPU-cccc4444-0000"]


class FakeNvml:
    """Devices in NVML (PCI bus) order; tests change util/mem/processes while sampling."""

    class NVMLError(Exception):
        pass

    def __init__(self, n_devices=4, fail_init=False, uuid_as_bytes=False):
        self.fail_init = fail_init
        self.uuid_as_bytes = uuid_as_bytes
        self.devices = [{"uuid": UUIDS[i], "name": f"Fake H{i}", "total": (i + 1) * 10 * GiB,
                         "used": 1 * GiB, "util": 0, "pids": []} for i in range(n_devices)]
        self.init_calls = self.shutdown_calls = 0
        self.processes_supported = True

    def nvmlInit(self):
        self.init_calls += 1
        if self.fail_init:
            raise self.NVMLError("Driver Not Loaded")

    def nvmlShutdown(self):
        self.shutdown_calls += 1

    def nvmlDeviceGetCount(self):
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index):
        return self.devices[index]

    def nvmlDeviceGetUUID(self, handle):
        return handle["uuid"].encode() if self.uuid_as_bytes else handle["uuid"]

    def nvmlDeviceGetName(self, handle):
        return handle["name"]

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(total=handle["total"], used=handle["used"],
                               free=handle["total"] - handle["used"])

    def nvmlDeviceGetUtilizationRates(self, handle):
        return SimpleNamespace(gpu=handle["util"], memory=0)

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        if not self.processes_supported:
            raise self.NVMLError("Not Supported")
        return [SimpleNamespace(pid=pid, usedGpuMemory=None) for pid in handle["pids"]]


def uuids(gpus: list[Gpu]) -> list[str]:
    return [g.uuid for g in gpus]


# --- visible_gpus --------------------------------------------------------------------------

def test_all_devices_visible_without_cuda_visible_devices():
    gpus = visible_gpus(environ={}, nvml=FakeNvml())
    assert uuids(gpus) == UUIDS
    assert gpus[2] == Gpu(nvml_index=2, uuid=UUIDS[2], name="Fake H2", memory_bytes=30 * GiB)


@pytest.mark.parametrize("spec, expected", [
    ("2,0", [UUIDS[2], UUIDS[0]]),                    # user's order kept
    (" 3 , 1 ", [UUIDS[3], UUIDS[1]]),                # spaces ignored
    ("GPU-cccc4444-0000,GPU-aaaa1111-0000", [UUIDS[3], UUIDS[0]]),
    ("GPU-cccc,1", [UUIDS[3], UUIDS[1]]),             # unique UUID prefix, mixed with index
    ("0,-1,1", [UUIDS[0]]),                           # invalid entry hides the rest, as CUDA
    ("1,7,2", [UUIDS[1]]),                            # out-of-range index
    ("GPU-bbbb,0", []),                               # ambiguous prefix
    ("aaaa1111,0", []),                               # a UUID needs its GPU- prefix
    ("MIG-aaaa1111-0000", []),                        # MIG instances are not mapped
    ("1,1,0", [UUIDS[1], UUIDS[0]]),                  # duplicates counted once
    ("", []),
    ("-1", []),
])
def test_cuda_visible_devices_mapping(spec, expected):
    assert uuids(visible_gpus(environ={"CUDA_VISIBLE_DEVICES": spec}, nvml=FakeNvml())) == expected


def test_bytes_from_old_pynvml_are_decoded():
    gpus = visible_gpus(environ={"CUDA_VISIBLE_DEVICES": "GPU-aaaa"},
                        nvml=FakeNvml(uuid_as_bytes=True))
    assert uuids(gpus) == [UUIDS[0]]


def test_nvml_is_shut_down_after_probing():
    nvml = FakeNvml()
    visible_gpus(environ={}, nvml=nvml)
    assert nvml.init_calls == nvml.shutdown_calls == 1


# --- assign_gpu / auto_worker_count --------------------------------------------------------

@pytest.mark.parametrize("worker_id, expected_uuid", [
    ("gw0", UUIDS[2]), ("gw1", UUIDS[0]), ("gw2", UUIDS[3]), ("gw3", UUIDS[2]),
    (None, UUIDS[2]), ("master", UUIDS[2]),
])
def test_round_robin_over_visible_gpus(worker_id, expected_uuid):
    environ = {"CUDA_VISIBLE_DEVICES": "2,0,3"}
    assignment = assign_gpu(worker_id, environ=environ, nvml=FakeNvml())
    assert assignment.mode == "gpu"
    assert assignment.gpu.uuid == expected_uuid
    # Pinned by UUID, so CUDA sees exactly this device whatever its own ordering.
    assert assignment.env == {"CUDA_VISIBLE_DEVICES": expected_uuid,
                              "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


def test_every_gpu_used_once_by_as_many_workers():
    nvml = FakeNvml()
    assigned = [assign_gpu(f"gw{i}", environ={}, nvml=nvml).gpu.uuid for i in range(4)]
    assert sorted(assigned) == sorted(UUIDS)


@pytest.mark.parametrize("nvml, environ, reason", [
    (FakeNvml(fail_init=True), {}, "no NVML (Driver Not Loaded)"),
    (FakeNvml(n_devices=0), {}, "no GPU visible"),
    (FakeNvml(), {"CUDA_VISIBLE_DEVICES": ""}, "no GPU visible"),
])
def test_cpu_mode_instead_of_raising(nvml, environ, reason):
    assignment = assign_gpu("gw5", environ=environ, nvml=nvml)
    assert (assignment.mode, assignment.gpu, assignment.env, assignment.reason) == (
        "cpu", None, {}, reason)


def test_cpu_mode_without_nvidia_ml_py(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail
    assignment = assign_gpu("gw0", environ={})
    assert (assignment.mode, assignment.reason) == ("cpu", "nvidia-ml-py not installed")


def test_bad_worker_id_is_rejected():
    with pytest.raises(ValueError, match="worker id"):
        assign_gpu("worker-1", environ={}, nvml=FakeNvml())


def test_auto_worker_count():
    assert auto_worker_count(environ={"CUDA_VISIBLE_DEVICES": "1,3"}, nvml=FakeNvml()) == 2
    assert auto_worker_count(environ={}, nvml=FakeNvml(fail_init=True), cpu_count=6) == 6
    assert auto_worker_count(environ={"CUDA_VISIBLE_DEVICES": ""}, nvml=FakeNvml(),
                             cpu_count=2) == 2


# --- GpuSampler ----------------------------------------------------------------------------

def test_sampler_sees_prover_pid_and_load():
    nvml = FakeNvml()
    device = nvml.devices[1]
    with GpuSampler(UUIDS[1], interval_s=0.01, nvml=nvml, pid=os.getpid()) as sampler:
        time.sleep(0.05)
        device.update(util=87, used=5 * GiB, pids=[12345, os.getpid()])
        time.sleep(0.05)
    summary = sampler.summary()
    assert summary["mode"] == "gpu"
    assert summary["samples"] >= 3
    assert summary["max_util_pct"] == 87
    assert 0 < summary["mean_util_pct"] < 87
    assert summary["mem_used_before_bytes"] == 1 * GiB
    assert summary["max_mem_used_bytes"] == 5 * GiB
    assert summary["pid_seen"] is True
    assert summary["used_by_prover"] is True
    assert nvml.init_calls == nvml.shutdown_calls == 1


def test_sampler_counts_a_child_process_as_the_prover():
    child = subprocess.Popen(["sleep", "30"])  # stands for fixtures.stage_worker
    try:
        nvml = FakeNvml()
        nvml.devices[0]["pids"] = [child.pid]
        with GpuSampler(UUIDS[0], interval_s=0.01, nvml=nvml, pid=os.getpid()) as sampler:
            pass
    finally:
        child.kill()
        child.wait()
    assert sampler.summary()["pid_seen"] is True


def test_idle_device_is_not_credited_to_the_prover():
    nvml = FakeNvml()
    nvml.devices[0].update(util=3, used=2 * GiB, pids=[99999999])  # someone else, steady
    with GpuSampler(UUIDS[0], interval_s=0.01, nvml=nvml, pid=os.getpid()) as sampler:
        time.sleep(0.03)
    summary = sampler.summary()
    assert summary["pid_seen"] is False
    assert summary["used_by_prover"] is False
    assert summary["max_util_pct"] == 3


def test_load_without_process_list_still_counts():
    nvml = FakeNvml()
    nvml.processes_supported = False
    with GpuSampler(UUIDS[2], interval_s=0.01, nvml=nvml, pid=os.getpid()) as sampler:
        nvml.devices[2]["used"] = 3 * GiB
    summary = sampler.summary()
    assert summary["pid_seen"] is None  # unknown, not False
    assert summary["used_by_prover"] is True


def test_short_window_still_gets_a_sample():
    with GpuSampler(UUIDS[0], interval_s=60, nvml=FakeNvml()) as sampler:
        pass
    assert sampler.summary()["samples"] >= 1


def test_unknown_uuid_is_an_error():
    nvml = FakeNvml()
    with pytest.raises(ValueError, match="no GPU with UUID"):
        with GpuSampler("GPU-nope", nvml=nvml):
            pass
    assert nvml.init_calls == nvml.shutdown_calls == 1


@pytest.mark.parametrize("uuid, nvml, reason", [
    (None, FakeNvml(), "no GPU assigned"),
    (UUIDS[0], FakeNvml(fail_init=True), "no NVML (Driver Not Loaded)"),
])
def test_sampler_is_a_no_op_in_cpu_mode(uuid, nvml, reason):
    with GpuSampler(uuid, nvml=nvml) as sampler:
        pass
    assert sampler.summary() == {"mode": "cpu", "reason": reason}


# --- the real pynvml -----------------------------------------------------------------------

def test_real_nvml_never_raises():
    assignment = assign_gpu("gw0")
    gpus = visible_gpus()
    assert (assignment.mode == "gpu") == bool(gpus)
    assert auto_worker_count(cpu_count=3) == (len(gpus) or 3)
    with GpuSampler(assignment.gpu.uuid if assignment.gpu else None, pid=os.getpid()) as s:
        pass
    assert s.summary()["mode"] == assignment.mode


@pytest.mark.skipif(os.path.exists("/dev/nvidiactl"), reason="machine has an NVIDIA driver")
def test_real_nvml_without_driver_means_cpu_mode():
    pytest.importorskip("pynvml")
    assignment = assign_gpu("gw0")
    assert assignment.mode == "cpu"
    assert assignment.reason.startswith("no NVML (")  # e.g. "NVML Shared Library Not Found"
    assert visible_gpus() == []
    with GpuSampler(UUIDS[0]) as sampler:
        pass
    assert sampler.summary()["mode"] == "cpu"
