"""GPU telemetry: whether the prover's own processes really used their GPU, sampled by NVML in a
thread while a stage runs (GpuSampler). Which GPU a worker has is zkbench.resources.gpu."""

from __future__ import annotations

import contextlib
import statistics
import threading
from typing import Any

import psutil

from zkbench.resources.gpu import handle_by_uuid, nvml_session


def _family(pid: int) -> set[int]:
    """pid and its descendants: the prover may run in a child process (zkbench.engine.child)."""
    try:
        return {pid} | {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        return {pid}


def _listing_errors(nvml) -> tuple:
    """What listing a device's processes may raise: NVMLError, and pynvml's version-mismatch error
    (not an NVMLError) when the driver lacks the versioned call."""
    return (nvml.NVMLError, getattr(nvml, "NVMLLibraryMismatchError", nvml.NVMLError))


def _no_new_samples(nvml, exc: Exception) -> bool:
    """nvmlDeviceGetProcessUtilization's way of saying "nothing since that timestamp": NOT_FOUND,
    or (pynvml quirk) an NVMLError carrying NVML_SUCCESS when the count is 0."""
    not_found = getattr(nvml, "NVMLError_NotFound", None)
    return (not_found is not None and isinstance(exc, not_found)) or getattr(exc, "value", None) == 0


class GpuSampler:
    """Samples, in a thread, what the prover's own processes do on one GPU.

    `with GpuSampler(uuid, pid=child_pid) as s: ...; s.summary()`. Without NVML, or with uuid
    None, it is a no-op whose summary is {"mode": "cpu", "reason": ...}.

    used_by_prover comes from NVML's per-process accounting of pid and its descendants only:

    * True: one of them is on the device's compute process list (it holds a CUDA context, i.e.
      GPU memory; pid_mem_peak_bytes is the most NVML reported for them together) or has
      per-process utilization samples above 0 %;
    * False: NVML listed the device's processes, every listed PID exists in this PID namespace,
      and none of them is the prover's;
    * None (unknown, `evidence` says why): no pid given, NVML cannot list the device's processes
      (not supported, no permission), or it lists PIDs this namespace cannot see (in a container
      NVML may report host PIDs, so the prover's absence proves nothing).

    Device-wide utilization and memory, which any process on the device can raise, are kept as
    context under device_* keys and never decide used_by_prover.
    """

    def __init__(self, uuid: str | None, interval_s: float = 0.2, nvml=None, pid: int | None = None):
        self.uuid, self.interval_s, self.pid = uuid, interval_s, pid
        self._nvml_arg = nvml
        self._session = contextlib.ExitStack()
        self._nvml: Any = None
        self._handle: Any = None
        self._reason: str | None = "no GPU assigned" if uuid is None else "not started"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._samples = 0
        # device-wide context
        self._util: list[int] = []
        self._mem: list[int] = []
        self._util_before: int | None = None
        self._mem_before: int | None = None
        self._sample_errors = 0
        # per-process accounting
        self._listings = 0
        self._listing_error: str | None = None
        self._seen_pids: set[int] = set()
        self._pid_mem: list[int] = []
        self._other_pids: set[int] = set()
        self._foreign_pids: set[int] = set()
        self._util_since = 0
        self._util_error: str | None = None
        self._pid_util: list[int] = []

    def __enter__(self) -> GpuSampler:
        if self.uuid is None:
            return self
        self._nvml, self._reason = self._session.enter_context(nvml_session(self._nvml_arg))
        if self._nvml is None:
            return self
        try:
            self._handle = handle_by_uuid(self._nvml, self.uuid)
            with contextlib.suppress(self._nvml.NVMLError):
                self._util_before, self._mem_before = self._read_util_mem()
            self._skip_old_utilization_samples()
        except BaseException:
            self._session.close()  # __exit__ will not run
            raise
        self._thread = threading.Thread(target=self._run, name="GpuSampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._sample()  # a window shorter than interval_s still gets a sample
        self._session.close()

    def _read_util_mem(self) -> tuple[int, int]:
        return (
            int(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu),
            int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used),
        )

    def _skip_old_utilization_samples(self) -> None:
        """NVML keeps a buffer of per-process samples; only those newer than now are this window's
        (the same stage child may have run an earlier round)."""
        fn = getattr(self._nvml, "nvmlDeviceGetProcessUtilization", None)
        if fn is None:
            return
        try:
            self._util_since = max((int(s.timeStamp) for s in fn(self._handle, 0)), default=0)
        except self._nvml.NVMLError:
            pass  # no samples yet, or unsupported: the sampling loop records which

    def _process_utilization(self, family: set[int]) -> list[int] | None:
        """smUtil of the prover's samples since the last call; None when NVML cannot tell."""
        nvml = self._nvml
        fn = getattr(nvml, "nvmlDeviceGetProcessUtilization", None)
        if fn is None:
            self._util_error = "nvmlDeviceGetProcessUtilization not available"
            return None
        try:
            samples = fn(self._handle, self._util_since)
        except nvml.NVMLError as exc:
            if _no_new_samples(nvml, exc):
                return []
            self._util_error = str(exc) or type(exc).__name__
            return None
        self._util_since = max([self._util_since, *(int(s.timeStamp) for s in samples)])
        return [int(s.smUtil) for s in samples if s.pid in family]

    def _sample(self) -> None:
        nvml = self._nvml
        family = _family(self.pid) if self.pid is not None else set()
        try:
            device: tuple[int, int] | None = self._read_util_mem()
        except nvml.NVMLError:
            device = None
        listing_error = None
        try:
            processes = list(nvml.nvmlDeviceGetComputeRunningProcesses(self._handle))
        except _listing_errors(nvml) as exc:  # not supported on every driver / container
            processes, listing_error = None, str(exc) or type(exc).__name__
        pid_util = self._process_utilization(family) if self.pid is not None else None
        with self._lock:
            self._samples += 1
            if device is None:
                self._sample_errors += 1
            else:
                self._util.append(device[0])
                self._mem.append(device[1])
            if processes is None:
                self._listing_error = listing_error
            else:
                self._listings += 1
                ours = [p for p in processes if p.pid in family]
                self._seen_pids.update(p.pid for p in ours)
                known = [int(p.usedGpuMemory) for p in ours if p.usedGpuMemory is not None]
                if known:
                    self._pid_mem.append(sum(known))
                for p in processes:
                    if p.pid not in family:
                        (self._other_pids if psutil.pid_exists(p.pid) else self._foreign_pids).add(p.pid)
            if pid_util is not None:
                self._pid_util.extend(pid_util)

    def _run(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self.interval_s):
                return

    def _verdict(self) -> tuple[bool | None, str]:
        """used_by_prover and the evidence for it (called with the lock held)."""
        if self.pid is None:
            return None, "no prover pid given"
        if self._seen_pids or any(u > 0 for u in self._pid_util):
            parts = []
            if self._seen_pids:
                mem = f"{max(self._pid_mem)} bytes" if self._pid_mem else "memory not reported"
                parts.append(
                    f"pid {', '.join(map(str, sorted(self._seen_pids)))} on the device's compute processes ({mem})"
                )
            if any(u > 0 for u in self._pid_util):
                parts.append(f"per-process utilization up to {max(self._pid_util)} %")
            return True, "; ".join(parts)
        if self._listings == 0:
            return None, f"NVML could not list the device's processes ({self._listing_error or 'no sample'})"
        if self._foreign_pids:
            shown = ", ".join(map(str, sorted(self._foreign_pids)[:8]))
            return None, (
                f"NVML listed PIDs this PID namespace cannot see ({shown}), e.g. host PIDs in a "
                "container: the prover may be one of them"
            )
        others = f"; other processes on it: {len(self._other_pids)}" if self._other_pids else ""
        return False, f"the prover's processes were on none of {self._listings} process listings{others}"

    def summary(self) -> dict:
        if self._nvml is None:
            return {"mode": "cpu", "reason": self._reason}
        with self._lock:
            used, evidence = self._verdict()
            util, mem, pid_util = list(self._util), list(self._mem), list(self._pid_util)
            return {
                "mode": "gpu",
                "uuid": self.uuid,
                "pid": self.pid,
                "samples": self._samples,
                "used_by_prover": used,
                "evidence": evidence,
                # per-process accounting of pid and its descendants
                "pid_seen": bool(self._seen_pids) if self._listings else None,
                "pid_mem_peak_bytes": max(self._pid_mem, default=None),
                "process_listings": self._listings,
                "process_listing_error": self._listing_error,
                "pid_util_samples": None if self._util_error and not pid_util else len(pid_util),
                "pid_max_util_pct": max(pid_util, default=None),
                "pid_mean_util_pct": statistics.fmean(pid_util) if pid_util else None,
                "process_util_error": self._util_error,
                # device-wide context: any process can raise these
                "sample_errors": self._sample_errors,
                "device_max_util_pct": max(util, default=None),
                "device_mean_util_pct": statistics.fmean(util) if util else None,
                "device_util_before_pct": self._util_before,
                "device_max_mem_used_bytes": max(mem, default=None),
                "device_mem_used_before_bytes": self._mem_before,
            }
