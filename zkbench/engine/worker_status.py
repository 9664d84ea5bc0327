"""Live status: one small file per worker process saying which experiment and stage it is in
(read by `zkbench status`), and the same status handed to any other listener (a worker on another
host sends it to the controller: zkbench.fixtures.live_view)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

from zkbench.files import atomic_write_json

VIEW_FILE = "workers.json"  # the controller's view of every worker of a run (zkbench.fixtures.live_view)

# Called with every status this process writes; a listener that raises is dropped (a lost
# controller must not stop an experiment).
LISTENERS: list[Callable[[dict], None]] = []


def status_file(status_dir: Path) -> Path:
    """This process's live-status file (one per pytest worker)."""
    return Path(status_dir) / f"{socket.gethostname()}-{os.getpid()}.json"


def write_status(status_dir: Path, status: dict) -> None:
    path = status_file(status_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, status)
    for listener in list(LISTENERS):
        try:
            listener(status)
        except Exception:  # e.g. the channel to a controller that is gone
            LISTENERS.remove(listener)


def child_rss(pid: int | None) -> int | None:
    """Resident memory of a stage child (None when it is gone)."""
    import psutil

    try:
        return psutil.Process(pid).memory_info().rss if pid else None
    except psutil.Error:
        return None


def last_heartbeat(log: str | None) -> str | None:
    """The last `[zkbench]` line a stage child wrote to its log (its own progress heartbeat)."""
    if log is None:
        return None
    try:
        lines = [line for line in Path(log).read_text(errors="replace").splitlines() if line.startswith("[zkbench]")]
    except (OSError, TypeError):
        return None
    return lines[-1] if lines else None
