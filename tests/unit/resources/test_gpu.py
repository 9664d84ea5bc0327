"""zkbench.resources.gpu: CUDA_VISIBLE_DEVICES mapping, worker assignment and telemetry.

The mapping and telemetry logic runs against FakeNvml, a stand-in with pynvml's function names;
the last tests use the real pynvml, which on a machine without a driver must mean CPU mode.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import psutil
import pytest

import zkbench.resources.fingerprint as environment
import zkbench.resources.gpu as gpu_module
from zkbench.engine.result_parts import gpu_record
from zkbench.fixtures.controller import Controller
from zkbench.resources.fingerprint import package_build
from zkbench.resources.gpu import Gpu, all_gpus, assign_gpu, auto_worker_count, visible_gpus
from zkbench.resources.gpu_telemetry import GpuSampler

GiB = 1024**3
UUIDS = ["GPU-aaaa1111-0000", "GPU-bbbb2222-0000", "GPU-bbbb3333-0000", "GPU-cccc4444-0000"]


class FakeNvml:
    """Devices in NVML (PCI bus) order; tests change util/mem/processes while sampling.

    A device's "procs" maps each compute process's pid to its usedGpuMemory (None: not
    reported); "util_samples" holds per-process utilization samples (timeStamp, pid, smUtil)."""

    class NVMLError(Exception):
        pass

    class NVMLError_NotSupported(NVMLError):
        pass

    class NVMLError_NotFound(NVMLError):
        pass

    def __init__(self, n_devices=4, fail_init=False, uuid_as_bytes=False):
        self.fail_init = fail_init
        self.uuid_as_bytes = uuid_as_bytes
        self.devices = [
            {
                "uuid": UUIDS[i],
                "name": f"Fake H{i}",
                "total": (i + 1) * 10 * GiB,
                "used": 1 * GiB,
                "util": 0,
                "procs": {},
                "util_samples": [],
            }
            for i in range(n_devices)
        ]
        self.init_calls = self.shutdown_calls = 0
        self.processes_supported = True
        self.process_util_supported = True

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
        return SimpleNamespace(total=handle["total"], used=handle["used"], free=handle["total"] - handle["used"])

    def nvmlDeviceGetUtilizationRates(self, handle):
        return SimpleNamespace(gpu=handle["util"], memory=0)

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        if not self.processes_supported:
            raise self.NVMLError_NotSupported("Not Supported")
        return [SimpleNamespace(pid=pid, usedGpuMemory=mem) for pid, mem in list(handle["procs"].items())]

    def nvmlDeviceGetProcessUtilization(self, handle, timeStamp):
        if not self.process_util_supported:
            raise self.NVMLError_NotSupported("Not Supported")
        samples = [
            SimpleNamespace(timeStamp=ts, pid=pid, smUtil=sm, memUtil=0, encUtil=0, decUtil=0)
            for ts, pid, sm in list(handle["util_samples"])
            if ts > timeStamp
        ]
        if not samples:
            raise self.NVMLError_NotFound("Not Found")
        return samples


def uuids(gpus: list[Gpu]) -> list[str]:
    return [g.uuid for g in gpus]


# --- visible_gpus --------------------------------------------------------------------------


def test_all_devices_visible_without_cuda_visible_devices():
    gpus = visible_gpus(environ={}, nvml=FakeNvml())
    assert uuids(gpus) == UUIDS
    assert gpus[2] == Gpu(nvml_index=2, uuid=UUIDS[2], name="Fake H2", memory_bytes=30 * GiB)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("2,0", [UUIDS[2], UUIDS[0]]),  # user's order kept
        (" 3 , 1 ", [UUIDS[3], UUIDS[1]]),  # spaces ignored
        ("GPU-cccc4444-0000,GPU-aaaa1111-0000", [UUIDS[3], UUIDS[0]]),
        ("GPU-cccc,1", [UUIDS[3], UUIDS[1]]),  # unique UUID prefix, mixed with index
        ("0,-1,1", [UUIDS[0]]),  # invalid entry hides the rest, as CUDA
        ("1,7,2", [UUIDS[1]]),  # out-of-range index
        ("GPU-bbbb,0", []),  # ambiguous prefix
        ("aaaa1111,0", []),  # a UUID needs its GPU- prefix
        ("MIG-aaaa1111-0000", []),  # MIG instances are not mapped
        ("1,1,0", [UUIDS[1], UUIDS[0]]),  # duplicates counted once
        ("", []),
        ("-1", []),
    ],
)
def test_cuda_visible_devices_mapping(spec, expected):
    assert uuids(visible_gpus(environ={"CUDA_VISIBLE_DEVICES": spec}, nvml=FakeNvml())) == expected


def test_bytes_from_old_pynvml_are_decoded():
    gpus = visible_gpus(environ={"CUDA_VISIBLE_DEVICES": "GPU-aaaa"}, nvml=FakeNvml(uuid_as_bytes=True))
    assert uuids(gpus) == [UUIDS[0]]


def test_nvml_is_shut_down_after_probing():
    nvml = FakeNvml()
    visible_gpus(environ={}, nvml=nvml)
    assert nvml.init_calls == nvml.shutdown_calls == 1


# --- assign_gpu / auto_worker_count --------------------------------------------------------


@pytest.mark.parametrize(
    "worker_id, expected_uuid",
    [
        ("gw0", UUIDS[2]),
        ("gw1", UUIDS[0]),
        ("gw2", UUIDS[3]),
        ("gw3", UUIDS[2]),
        (None, UUIDS[2]),
        ("master", UUIDS[2]),
    ],
)
def test_round_robin_over_visible_gpus(worker_id, expected_uuid):
    environ = {"CUDA_VISIBLE_DEVICES": "2,0,3"}
    assignment = assign_gpu(worker_id, environ=environ, nvml=FakeNvml())
    assert assignment.mode == "gpu"
    assert assignment.gpu.uuid == expected_uuid
    # Pinned by UUID, so CUDA sees exactly this device whatever its own ordering.
    assert assignment.env == {"CUDA_VISIBLE_DEVICES": expected_uuid, "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


def test_every_gpu_used_once_by_as_many_workers():
    nvml = FakeNvml()
    assigned = [assign_gpu(f"gw{i}", environ={}, nvml=nvml).gpu.uuid for i in range(4)]
    assert sorted(assigned) == sorted(UUIDS)


@pytest.mark.parametrize(
    "nvml, environ, reason",
    [
        (FakeNvml(fail_init=True), {}, "no NVML (Driver Not Loaded)"),
        (FakeNvml(n_devices=0), {}, "no GPU visible"),
        (FakeNvml(), {"CUDA_VISIBLE_DEVICES": ""}, "no GPU visible"),
    ],
)
def test_cpu_mode_instead_of_raising(nvml, environ, reason):
    assignment = assign_gpu("gw5", environ=environ, nvml=nvml)
    assert (assignment.mode, assignment.gpu, assignment.env, assignment.reason) == ("cpu", None, {}, reason)


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
    assert auto_worker_count(environ={"CUDA_VISIBLE_DEVICES": ""}, nvml=FakeNvml(), cpu_count=2) == 2


# --- GpuSampler ----------------------------------------------------------------------------


@pytest.fixture
def spawn():
    """Start `sleep` processes: stand-ins for the stage child and for other processes."""
    procs = []

    def start(*argv):
        procs.append(subprocess.Popen(list(argv) or ["sleep", "60"]))
        return procs[-1]

    yield start
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
        proc.kill()
        proc.wait()


def test_prover_pid_holding_gpu_memory_is_used(spawn):
    nvml = FakeNvml()
    device = nvml.devices[1]
    prover = spawn()  # the stage child
    with GpuSampler(UUIDS[1], interval_s=0.01, nvml=nvml, pid=prover.pid) as sampler:
        time.sleep(0.05)
        device["procs"][prover.pid] = 512 * 2**20
        time.sleep(0.05)
        device["procs"][prover.pid] = 768 * 2**20
        time.sleep(0.05)
    summary = sampler.summary()
    assert summary["mode"] == "gpu"
    assert summary["pid"] == prover.pid
    assert summary["samples"] >= 3
    assert summary["used_by_prover"] is True
    assert summary["pid_seen"] is True
    assert summary["pid_mem_peak_bytes"] == 768 * 2**20
    assert f"pid {prover.pid} " in summary["evidence"]
    assert "805306368 bytes" in summary["evidence"]
    assert nvml.init_calls == nvml.shutdown_calls == 1


def test_a_descendant_of_the_stage_child_counts_as_the_prover(spawn):
    stage_child = spawn("sh", "-c", "sleep 60 & wait")  # its own child is the one on the GPU
    deadline = time.time() + 10
    while not psutil.Process(stage_child.pid).children() and time.time() < deadline:
        time.sleep(0.01)
    grandchild = psutil.Process(stage_child.pid).children()[0].pid
    nvml = FakeNvml()
    nvml.devices[0]["procs"] = {grandchild: None}  # memory not reported: still a CUDA context
    with GpuSampler(UUIDS[0], interval_s=0.01, nvml=nvml, pid=stage_child.pid) as sampler:
        pass
    summary = sampler.summary()
    assert summary["used_by_prover"] is True
    assert summary["pid_mem_peak_bytes"] is None
    assert "memory not reported" in summary["evidence"]


def test_another_process_loading_the_device_is_not_the_prover(spawn):
    prover, stranger = spawn(), spawn()  # siblings: the stranger is no descendant of the prover
    nvml = FakeNvml()
    device = nvml.devices[0]
    with GpuSampler(UUIDS[0], interval_s=0.01, nvml=nvml, pid=prover.pid) as sampler:
        time.sleep(0.03)
        device.update(util=95, used=9 * GiB, procs={stranger.pid: 8 * GiB})
        device["util_samples"].append((10**18, stranger.pid, 95))
        time.sleep(0.05)
    summary = sampler.summary()
    assert summary["used_by_prover"] is False
    assert summary["pid_seen"] is False
    assert summary["pid_mem_peak_bytes"] is None
    assert summary["pid_util_samples"] == 0 and summary["pid_max_util_pct"] is None
    assert "other processes on it: 1" in summary["evidence"]
    # the device-wide readings are kept, as context only
    assert summary["device_util_before_pct"] == 0 and summary["device_max_util_pct"] == 95
    assert summary["device_mem_used_before_bytes"] == 1 * GiB
    assert summary["device_max_mem_used_bytes"] == 9 * GiB
    assert "max_util_pct" not in summary and "max_mem_used_bytes" not in summary


def test_unsupported_process_listing_is_unknown_not_guessed(spawn):
    prover = spawn()
    nvml = FakeNvml()
    nvml.processes_supported = False
    nvml.process_util_supported = False
    with GpuSampler(UUIDS[2], interval_s=0.01, nvml=nvml, pid=prover.pid) as sampler:
        nvml.devices[2].update(used=3 * GiB, util=80)  # a rise anyone could cause
        time.sleep(0.03)
    summary = sampler.summary()
    assert summary["used_by_prover"] is None
    assert summary["pid_seen"] is None
    assert summary["process_listings"] == 0
    assert summary["evidence"] == "NVML could not list the device's processes (Not Supported)"
    assert summary["pid_util_samples"] is None and summary["process_util_error"] == "Not Supported"
    assert summary["device_max_mem_used_bytes"] == 3 * GiB


def test_a_driver_without_the_listing_call_is_unknown(spawn):
    class OldDriverNvml(FakeNvml):
        class NVMLLibraryMismatchError(Exception):  # pynvml's, not an NVMLError
            pass

        def nvmlDeviceGetComputeRunningProcesses(self, handle):
            raise self.NVMLLibraryMismatchError("Unversioned function called")

    prover = spawn()
    with GpuSampler(UUIDS[0], interval_s=0.01, nvml=OldDriverNvml(), pid=prover.pid) as sampler:
        time.sleep(0.03)
    summary = sampler.summary()
    assert summary["samples"] >= 2  # the sampling thread kept going
    assert (summary["used_by_prover"], summary["process_listing_error"]) == (None, "Unversioned function called")


def test_pids_this_namespace_cannot_see_make_it_unknown(spawn):
    prover = spawn()
    nvml = FakeNvml()
    nvml.devices[0]["procs"] = {99999999: 4 * GiB}  # above any pid_max: e.g. a host PID in a container
    with GpuSampler(UUIDS[0], interval_s=0.01, nvml=nvml, pid=prover.pid) as sampler:
        time.sleep(0.02)
    summary = sampler.summary()
    assert summary["used_by_prover"] is None
    assert summary["pid_seen"] is False
    assert "99999999" in summary["evidence"] and "cannot see" in summary["evidence"]


def test_per_process_utilization_of_the_prover(spawn):
    prover, stranger = spawn(), spawn()
    nvml = FakeNvml()
    device = nvml.devices[1]
    # an earlier round of the same stage child: before this window, not counted
    device["util_samples"] = [(100, prover.pid, 99), (150, stranger.pid, 50)]
    with GpuSampler(UUIDS[1], interval_s=0.01, nvml=nvml, pid=prover.pid) as sampler:
        device["util_samples"] += [(200, prover.pid, 40), (210, stranger.pid, 90)]
        time.sleep(0.03)
        device["util_samples"] += [(300, prover.pid, 60)]
        time.sleep(0.03)
    summary = sampler.summary()
    assert (summary["pid_util_samples"], summary["pid_max_util_pct"], summary["pid_mean_util_pct"]) == (2, 60, 50)
    assert summary["process_util_error"] is None
    # not on the compute process list, but NVML saw its kernels: used
    assert summary["pid_seen"] is False
    assert summary["used_by_prover"] is True
    assert "per-process utilization up to 60 %" in summary["evidence"]


def test_without_a_prover_pid_use_is_unknown():
    nvml = FakeNvml()
    nvml.devices[0]["procs"] = {os.getpid(): GiB}
    with GpuSampler(UUIDS[0], interval_s=0.01, nvml=nvml) as sampler:
        pass
    summary = sampler.summary()
    assert (summary["used_by_prover"], summary["evidence"]) == (None, "no prover pid given")


def test_short_window_still_gets_a_sample():
    with GpuSampler(UUIDS[0], interval_s=60, nvml=FakeNvml(), pid=os.getpid()) as sampler:
        pass
    summary = sampler.summary()
    assert summary["samples"] >= 1 and summary["process_listings"] >= 1
    assert summary["used_by_prover"] is False


def test_unknown_uuid_is_an_error():
    nvml = FakeNvml()
    with pytest.raises(ValueError, match="no GPU with UUID"):
        with GpuSampler("GPU-nope", nvml=nvml):
            pass
    assert nvml.init_calls == nvml.shutdown_calls == 1


@pytest.mark.parametrize(
    "uuid, nvml, reason",
    [
        (None, FakeNvml(), "no GPU assigned"),
        (UUIDS[0], FakeNvml(fail_init=True), "no NVML (Driver Not Loaded)"),
    ],
)
def test_sampler_is_a_no_op_in_cpu_mode(uuid, nvml, reason):
    with GpuSampler(uuid, nvml=nvml) as sampler:
        pass
    assert sampler.summary() == {"mode": "cpu", "reason": reason}


# --- record.gpu_record and the benchmark JSON's machine_info["prover"] ------------------

GPU_ASSIGNED = {"mode": "gpu", "reason": None, "uuid": UUIDS[0], "name": "Fake H0", "env": {}}


def stage_summary(used, evidence="measured"):
    return {"mode": "gpu", "uuid": UUIDS[0], "used_by_prover": used, "evidence": evidence}


@pytest.mark.parametrize(
    "setup, prove, used",
    [
        ([False], [False, True, False], True),  # any stage child that used it
        ([False], [False, False], False),  # all known not to
        ([False], [False, None], None),  # one unknown: not "False"
        ([None], [None], None),
    ],
)
def test_gpu_record_aggregates_the_stage_verdicts(setup, prove, used):
    samples = {"setup": [stage_summary(v) for v in setup], "prove": [stage_summary(v) for v in prove]}
    record = gpu_record(GPU_ASSIGNED, samples)
    assert record["used_by_prover"] is used
    assert record["stages"] == samples and record["uuid"] == UUIDS[0]
    assert "PyPI" not in record["note"]
    if used:
        assert record["note"].startswith("the prover's own processes used the GPU in stage prove")
    elif used is False:
        assert "none of the GPU's process listings in 3 sampled" in record["note"]
    else:
        assert record["note"] == "GPU use unknown: measured"


def test_gpu_record_gives_the_provers_peak_gpu_memory_per_stage():
    rounds = [{**stage_summary(True), "pid_mem_peak_bytes": b} for b in (3 * 2**20, 5 * 2**20, None)]
    record = gpu_record(GPU_ASSIGNED, {"setup": [stage_summary(False)], "prove": rounds})
    assert record["prover_peak_mem_bytes"] == {"setup": None, "prove": 5 * 2**20}


def test_gpu_record_without_a_gpu_measures_nothing():
    cpu = {"mode": "cpu", "reason": "no GPU visible", "uuid": None, "name": None, "env": {}}
    record = gpu_record(cpu, {"prove": [{"mode": "cpu", "reason": "no GPU assigned"}]})
    assert record["used_by_prover"] is None
    assert record["note"] == "no GPU assigned (no GPU visible): GPU use not measured"
    assert gpu_record(GPU_ASSIGNED, {})["used_by_prover"] is None


def machine_prover(results: dict) -> str:
    machine_info: dict = {}
    Controller.pytest_benchmark_update_machine_info(
        SimpleNamespace(results=results), config=None, machine_info=machine_info
    )
    return machine_info["prover"]


def result_with(gpu: dict) -> dict:
    return {"id": "X", "status": "ok", "gpu": gpu}


def test_machine_info_prover_comes_from_the_results():
    build = f"ezkl {package_build('ezkl') or 'not installed'}"
    used = gpu_record(GPU_ASSIGNED, {"prove": [stage_summary(True)]})
    unused = gpu_record(GPU_ASSIGNED, {"prove": [stage_summary(False)]})
    unknown = gpu_record(GPU_ASSIGNED, {"prove": [stage_summary(None)]})
    cpu = gpu_record({"mode": "cpu", "reason": "no GPU visible"}, {"prove": [{"mode": "cpu"}]})
    skipped = gpu_record(GPU_ASSIGNED, {})  # skipped before setup: nothing sampled
    assert machine_prover({}) == "unknown (no experiment ran)"
    assert machine_prover({"a": result_with(unused), "b": result_with(used)}) == f"gpu ({build})"
    assert machine_prover({"a": result_with(unused), "b": result_with(cpu)}) == f"cpu ({build})"
    assert machine_prover({"a": result_with(unused), "b": result_with(unknown)}).startswith("unknown (a GPU was")
    assert machine_prover({"a": result_with(skipped)}) == f"unknown (no setup or prove stage ran; {build})"


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


def test_the_environment_lists_gpus_through_the_one_enumeration(monkeypatch):
    nvml = FakeNvml(n_devices=2, uuid_as_bytes=True)
    monkeypatch.setattr(gpu_module, "all_gpus", lambda nvml_=None: all_gpus(nvml))
    assert environment.gpus() == [
        {"index": 0, "name": "Fake H0", "uuid": UUIDS[0], "memory_bytes": 10 * GiB},
        {"index": 1, "name": "Fake H1", "uuid": UUIDS[1], "memory_bytes": 20 * GiB},
    ]
    assert nvml.shutdown_calls == nvml.init_calls == 1  # one session, closed
    assert all_gpus(FakeNvml(fail_init=True)) == []


def test_a_multi_host_worker_takes_the_gpu_of_its_slot_on_its_host():
    """--hosts: gw2 may be the first worker of its host; it takes that host's GPU 0, not GPU 2 % count."""
    nvml = FakeNvml(2)
    assert assign_gpu("gw2", environ={}, nvml=nvml, slot=0).gpu.nvml_index == 0
    assert assign_gpu("gw3", environ={}, nvml=nvml, slot=0).gpu.nvml_index == 0
    assert assign_gpu("gw3", environ={}, nvml=nvml).gpu.nvml_index == 1  # without a slot: 3 % 2
