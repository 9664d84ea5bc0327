"""A stand-in for nvidia-ml-py's pynvml: three GPUs, with per-process accounting.

tests/test_gpu_workers.py puts this folder first on PYTHONPATH of a pytest subprocess, so its
controller and every xdist worker import this module as `pynvml`; the production code is the
same as on a GPU machine.

Per-process accounting as a GPU prover would cause it: a process holds GPU memory on a device when
it was started the way icicle is told to use that GPU (ENABLE_ICICLE_GPU=1 and CUDA_VISIBLE_DEVICES
naming the device's UUID). Every other process is on no device's listing.
"""
import os
from types import SimpleNamespace

UUIDS = ["GPU-fa4e0000-0000-0000-0000-000000000000",
         "GPU-fa4e1111-0000-0000-0000-000000000000",
         "GPU-fa4e2222-0000-0000-0000-000000000000"]
GiB = 1024 ** 3
HELD_BYTES = 512 * 1024 ** 2  # what a prover process holds on its GPU


class NVMLError(Exception):
    pass


class NVMLError_NotFound(NVMLError):
    pass


def nvmlInit():
    pass


def nvmlShutdown():
    pass


def nvmlDeviceGetCount():
    return len(UUIDS)


def nvmlDeviceGetHandleByIndex(index):
    if not 0 <= index < len(UUIDS):
        raise NVMLError("Invalid Argument")
    return index


def nvmlDeviceGetUUID(handle):
    return UUIDS[handle]


def nvmlDeviceGetName(handle):
    return f"Fake GPU {handle}"


def nvmlDeviceGetMemoryInfo(handle):
    return SimpleNamespace(total=80 * GiB, used=0, free=80 * GiB)


def nvmlDeviceGetUtilizationRates(handle):
    return SimpleNamespace(gpu=0, memory=0)


def _environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            pairs = f.read().split(b"\0")
    except OSError:  # gone, or another user's
        return {}
    return dict(p.decode(errors="replace").split("=", 1) for p in pairs if b"=" in p)


def nvmlDeviceGetComputeRunningProcesses(handle):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            env = _environ(int(entry))
            if env.get("ENABLE_ICICLE_GPU") == "1" and env.get("CUDA_VISIBLE_DEVICES") == UUIDS[handle]:
                out.append(SimpleNamespace(pid=int(entry), usedGpuMemory=HELD_BYTES))
    return out


def nvmlDeviceGetProcessUtilization(handle, timeStamp):
    raise NVMLError_NotFound("Not Found")
