"""A stand-in for nvidia-ml-py's pynvml: three GPUs and no processes on them.

tests/test_gpu_workers.py puts this folder first on PYTHONPATH of a pytest subprocess, so its
controller and every xdist worker import this module as `pynvml`; the production code is the
same as on a GPU machine.
"""
from types import SimpleNamespace

UUIDS = ["GPU-fa4e0000-0000-0000-0000-000000000000",
         "GPU-fa4e1111-0000-0000-0000-000000000000",
         "GPU-fa4e2222-0000-0000-0000-000000000000"]
GiB = 1024 ** 3


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


def nvmlDeviceGetComputeRunningProcesses(handle):
    return []


def nvmlDeviceGetProcessUtilization(handle, timeStamp):
    raise NVMLError_NotFound("Not Found")
