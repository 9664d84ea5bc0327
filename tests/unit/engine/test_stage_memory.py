"""The stage child's memory measurement and how a child's death is classified."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from zkbench.engine.stage_worker import StageWorker

ROOT = Path(__file__).resolve().parents[3]
MiB = 2**20

PEAK_AFTER_A_BIGGER_ONE = """
import json, sys
from zkbench.engine.child.instruments import PeakRSS
def touch(n):
    b = bytearray(n)
    for i in range(0, n, 4096):
        b[i] = 1
    return b
big = touch(300 * 2**20)    # an earlier, larger stage
del big
with PeakRSS() as mem:
    small = touch(60 * 2**20)
    del small
print(json.dumps({"base": mem.base, "peak": mem.peak, "kernel_reset": mem.kernel_reset}))
"""


def test_a_stage_reports_its_own_peak_not_an_earlier_larger_one():
    out = subprocess.run(
        [sys.executable, "-c", PEAK_AFTER_A_BIGGER_ONE], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    m = json.loads(out)
    growth = m["peak"] - m["base"]
    assert 55 * MiB <= growth <= 75 * MiB, m  # the 60 MiB of this stage, not the 300 MiB before it
    assert m["peak"] < 200 * MiB, m


class DeadChild:
    def __init__(self, rc: int):
        self.rc, self.pid = rc, None

    def wait(self):
        return self.rc


def died(tmp_path, rc: int, log: str, limit: int | None, vm_peak: int) -> tuple[str, str]:
    w = StageWorker(tmp_path / "stage.log", memory_limit_bytes=limit)
    (tmp_path / "stage.log").write_text("an earlier stage's line: memory allocation of 5 bytes failed\n")
    w._log_offset = (tmp_path / "stage.log").stat().st_size  # where this stage began
    with open(tmp_path / "stage.log", "a") as f:
        f.write(log)
    w.proc, w.vm_peak_bytes = DeadChild(rc), vm_peak
    return w._death_cause()


# Aborts of other threads pushed the allocation message out of the last lines: the old classifier
# read only the last 3 lines and said "crashed".
NOISY_ABORT = (
    "memory allocation of 104857600 bytes failed\n"
    + "thread 'rayon' panicked at alloc\n" * 5
    + "fatal runtime error: failed to initiate panic\n"
)


def test_an_abort_under_the_limit_with_the_peak_at_it_is_out_of_memory(tmp_path):
    kind, cause = died(tmp_path, -signal.SIGABRT, NOISY_ABORT, limit=150 * MiB, vm_peak=100 * MiB)
    assert kind == "out_of_memory", cause
    assert "100.0 MiB" in cause and "150.0 MiB limit" in cause and "memory allocation" in cause


def test_an_abort_at_the_limit_without_any_message_is_still_out_of_memory(tmp_path):
    kind, cause = died(tmp_path, -signal.SIGABRT, "", limit=150 * MiB, vm_peak=149 * MiB)
    assert kind == "out_of_memory", cause


def test_an_abort_far_below_the_limit_is_a_crash(tmp_path):
    kind, cause = died(tmp_path, -signal.SIGABRT, "assertion failed\n", limit=4096 * MiB, vm_peak=100 * MiB)
    assert kind == "crashed" and "SIGABRT" in cause


def test_an_abort_without_a_limit_is_a_crash_whatever_an_earlier_stage_logged(tmp_path):
    kind, cause = died(tmp_path, -signal.SIGABRT, "boom\n", limit=None, vm_peak=100 * MiB)
    assert kind == "crashed" and "boom" in cause and "5 bytes" not in cause


@pytest.mark.parametrize("rc, kind", [(-signal.SIGKILL, "killed"), (3, "crashed")])
def test_other_deaths(tmp_path, rc, kind):
    assert died(tmp_path, rc, "", limit=None, vm_peak=0)[0] == kind
