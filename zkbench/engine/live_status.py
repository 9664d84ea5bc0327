"""Live status: one small file per worker process saying which experiment and stage it is in
(read by `zkbench status`)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from zkbench.engine.cache import atomic_write_json


def status_file(status_dir: Path) -> Path:
    """This process's live-status file (one per pytest worker)."""
    return Path(status_dir) / f"{socket.gethostname()}-{os.getpid()}.json"


def write_status(status_dir: Path, status: dict) -> None:
    path = status_file(status_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, status)
