"""zkbench.resources.admission: one memory budget shared by real processes through the ledger.

Every test uses its own tmp_path ledger, never the machine-wide default directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

import zkbench.resources.admission as admission
from zkbench.resources.admission import DoesNotFit, MemoryBudget, default_budget_bytes
from zkbench.units import human_bytes, parse_memory

REPO = Path(__file__).resolve().parents[3]
GiB = 1024**3
DEADLINE_S = 5.0

# A separate process that reserves, reports on stdout, and holds until told on stdin.
HOLDER = """
import json, sys, time
from zkbench.resources.admission import MemoryBudget
total, directory, n_bytes, label = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
def report(event, **kw):
    print(json.dumps({"event": event, "t": time.monotonic(), **kw}), flush=True)
with MemoryBudget(total, directory).reserve(n_bytes, label, poll_s=0.02) as r:
    report("acquired", waited_s=r.waited_s)
    sys.stdin.readline()
    report("releasing")  # last moment it still holds the memory
"""


class Holder:
    def __init__(self, budget: MemoryBudget, n_bytes: int, label: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(budget.total_bytes), str(budget.directory), str(n_bytes), label],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )

    def next_event(self) -> dict:
        return json.loads(self.proc.stdout.readline())

    def release(self) -> dict:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return self.next_event()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()


@pytest.fixture
def holders():
    started: list[Holder] = []
    yield lambda *args: started.append(Holder(*args)) or started[-1]
    for holder in started:
        holder.close()


def wait_until(condition, what: str):
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def labels(budget: MemoryBudget, key: str) -> list[str]:
    return [e["label"] for e in budget.snapshot()[key]]


# --- between processes ---------------------------------------------------------------------


def test_second_process_waits_until_first_releases(tmp_path, holders):
    budget = MemoryBudget(100, tmp_path)
    first = holders(budget, 60, "first")
    assert first.next_event()["event"] == "acquired"
    second = holders(budget, 60, "second")
    wait_until(lambda: labels(budget, "waiting") == ["second"], "second to queue")
    assert labels(budget, "held") == ["first"]
    [entry] = budget.snapshot()["held"]
    assert (entry["pid"], entry["bytes"]) == (first.proc.pid, 60) and entry["time"] <= time.time()

    time.sleep(0.2)  # the second keeps polling, and must still be waiting
    assert labels(budget, "waiting") == ["second"]
    first_released = first.release()["t"]
    second_acquired = second.next_event()
    second_released = second.release()["t"]

    assert second_acquired["t"] > first_released  # held intervals do not overlap
    assert second_acquired["waited_s"] > 0.2
    assert first.proc.wait(DEADLINE_S) == second.proc.wait(DEADLINE_S) == 0
    assert second_released > second_acquired["t"]
    assert budget.snapshot() == {"held": [], "waiting": []}


def test_sigkilled_holders_reservation_is_reclaimed(tmp_path, holders):
    budget = MemoryBudget(100, tmp_path)
    victim = holders(budget, 60, "victim")
    assert victim.next_event()["event"] == "acquired"
    assert labels(budget, "held") == ["victim"]

    victim.proc.kill()  # SIGKILL: no cleanup runs; left unreaped, it is a zombie for a while
    with budget.reserve(60, "survivor", poll_s=0.02, timeout_s=DEADLINE_S) as r:
        assert labels(budget, "held") == ["survivor"]
    assert r.waited_s < DEADLINE_S


def test_entry_of_a_reused_pid_is_reclaimed(tmp_path):
    budget = MemoryBudget(100, tmp_path)
    init = psutil.Process(1)  # alive, but started long before this fake entry's process
    stale = {"id": "x", "pid": 1, "pid_started": init.create_time() - 3600, "bytes": 100, "label": "stale", "time": 0}
    (tmp_path / "ledger.json").write_text(json.dumps({"held": [stale], "waiting": [stale]}))
    assert budget.snapshot() == {"held": [], "waiting": []}


# --- within one process --------------------------------------------------------------------


def test_reservations_that_fit_together_do_not_wait(tmp_path):
    budget = MemoryBudget(100, tmp_path)
    with budget.reserve(40, "a"), budget.reserve(60, "b") as second:
        assert sum(e["bytes"] for e in budget.snapshot()["held"]) == 100
        assert second.waited_s < 1
    assert budget.snapshot()["held"] == []


def test_requests_are_granted_in_arrival_order(tmp_path):
    budget = MemoryBudget(100, tmp_path)
    order: list[str] = []

    def take(n_bytes: int, label: str, hold: threading.Event):
        with budget.reserve(n_bytes, label, poll_s=0.01):
            order.append(label)
            hold.wait(DEADLINE_S)

    hold = threading.Event()
    with budget.reserve(60, "running"):
        big = threading.Thread(target=take, args=(60, "big", hold))
        big.start()
        wait_until(lambda: labels(budget, "waiting") == ["big"], "big to queue")
        small = threading.Thread(target=take, args=(30, "small", hold))
        small.start()
        wait_until(lambda: labels(budget, "waiting") == ["big", "small"], "small to queue")
        time.sleep(0.1)
        assert order == []  # small fits beside "running" but must not overtake big
    wait_until(lambda: len(order) == 2, "both to be granted")
    hold.set()
    big.join()
    small.join()
    assert order == ["big", "small"]


def test_timeout_names_the_holders_and_leaves_no_trace(tmp_path):
    budget = MemoryBudget(100, tmp_path)
    with budget.reserve(60, "prove conv"):
        with pytest.raises(TimeoutError, match=r"prove conv \(pid \d+, 60 B\)"):
            with budget.reserve(60, "setup mlp", poll_s=0.01, timeout_s=0.1):
                pass
        assert labels(budget, "waiting") == []


@pytest.mark.parametrize(
    "total, n_bytes, message",
    [
        (24 * GiB, 61 * GiB, "prove big needs ~61.0 GiB, budget 24.0 GiB"),
        (100, 101, "prove big needs ~101 B, budget 100 B"),
    ],
)
def test_request_over_the_whole_budget_fails_at_once(tmp_path, total, n_bytes, message):
    budget = MemoryBudget(total, tmp_path)
    with pytest.raises(DoesNotFit) as excinfo:
        with budget.reserve(n_bytes, "prove big", timeout_s=None):  # would block forever
            pass
    assert str(excinfo.value) == message
    assert budget.snapshot() == {"held": [], "waiting": []}


def test_directory_from_argument_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(admission.ENV_DIR, str(tmp_path / "from-env"))
    assert MemoryBudget(1, tmp_path / "from-arg").directory == tmp_path / "from-arg"
    assert MemoryBudget(1).directory == tmp_path / "from-env"
    monkeypatch.delenv(admission.ENV_DIR)
    assert admission.default_directory() == Path(f"/tmp/zkbench-admission-{os.getuid()}")


# --- sizes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("24G", 24 * GiB),
        ("24g", 24 * GiB),
        ("24GB", 24 * GiB),
        ("24GiB", 24 * GiB),
        ("512M", 512 * 1024**2),
        ("1.5GiB", 3 * GiB // 2),
        (" 2 T ", 2 * 1024**4),
        ("1000000", 1_000_000),
        ("64k", 65536),
        ("100B", 100),
        (".5K", 512),
    ],
)
def test_parse_memory_accepts(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "G", "abc", "-1G", "24X", "24 GB GB", "1e9", "0", "0.0M", "1,5G", "inf"])
def test_parse_memory_rejects_with_one_line(text):
    with pytest.raises(ValueError, match="invalid memory size") as excinfo:
        parse_memory(text)
    assert "\n" not in str(excinfo.value)


@pytest.mark.parametrize(
    "n, text",
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536 * 1024**2, "1.5 GiB"),
        (61 * GiB, "61.0 GiB"),
        (3 * 1024**5, "3072.0 TiB"),
    ],
)
def test_human_bytes(n, text):
    assert human_bytes(n) == text


def test_default_budget_keeps_a_safety_reserve():
    total = psutil.virtual_memory().total
    budget = default_budget_bytes()
    assert budget == total - max(int(total * admission.SAFETY_RESERVE_FRACTION), GiB)
    assert default_budget_bytes("24G") == 24 * GiB
    assert default_budget_bytes(1000) == 1000
