"""Child side: what the child measures around a stage's call, its own peak RSS (PeakRSS, the
kernel's high-water mark VmHWM reset through /proc/self/clear_refs, or sampled where that cannot be
reset), and a heartbeat line in the worker log while a stage runs."""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time

STATUS = "/proc/self/status"
HEARTBEAT_S = float(os.environ.get("ZKBENCH_HEARTBEAT_S", "30"))


def _status_kb(field: str) -> int:
    with open(STATUS) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class PeakRSS:
    """Peak resident memory of this process during a block, in bytes."""

    def __init__(self):
        self.kernel_reset = True
        self.base = self.peak = 0

    def __enter__(self):
        try:  # give freed heap back, so the next stage's peak starts from what is really live
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass
        self.base = _status_kb("VmRSS") * 1024
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS
        except OSError:
            self.kernel_reset = False
            self._stop = threading.Event()
            self._sampled = self.base
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self._sampled = max(self._sampled, _status_kb("VmRSS") * 1024)

    def __exit__(self, *exc):
        if self.kernel_reset:
            self.peak = _status_kb("VmHWM") * 1024
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self._sampled, _status_kb("VmRSS") * 1024)
        return False


class Heartbeat:
    """Prints a line to the worker log every HEARTBEAT_S seconds while a stage runs."""

    def __init__(self, stage: str):
        self.stage, self._stop = stage, threading.Event()

    def __enter__(self):
        t0 = time.monotonic()

        def beat():
            while not self._stop.wait(HEARTBEAT_S):
                print(
                    f"[zkbench] stage {self.stage} alive {time.monotonic() - t0:.0f}s "
                    f"rss={_status_kb('VmRSS') // 1024}MiB",
                    file=sys.stderr,
                    flush=True,
                )

        self._thread = threading.Thread(target=beat, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        return False
