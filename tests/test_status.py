import json
import os
import shutil
import time
from pathlib import Path

from fixtures.cache import atomic_write_json
from fixtures.status import collect, render

STORED = Path(__file__).parent / "data" / "results_smoke" / "core_layers" / "ReLU_tol0.5.json"


def test_status_shows_groups_running_workers_and_an_eta(tmp_path):
    results = tmp_path / "results"
    (results / "core_layers").mkdir(parents=True)
    shutil.copy(STORED, results / "core_layers" / STORED.name)          # one finished experiment
    status = results / ".status"
    status.mkdir()
    now = time.time()
    atomic_write_json(status / "host-1.json", {                          # a live worker proving
        "experiment": "Tanh-tol2", "group": "core_layers", "stage": "prove", "pid": os.getpid(),
        "child_pid": os.getpid(), "worker": "gw1", "host": "host", "experiment_started": now - 30,
        "stage_started": now - 5, "gpu": None, "predicted_peak_rss_bytes": 2**27, "log": str(tmp_path / "x.log")})
    atomic_write_json(status / "gone-1.json", {"experiment": "ReLU-tol2", "stage": "setup", "pid": 2**22 + 12345})
    (tmp_path / "x.log").write_text("[zkbench] stage prove alive 30s rss=120MiB\n")

    state = collect(results, "smoke")
    assert state["groups"]["core_layers"] == {"done": 1, "running": 1, "failed": 0, "skipped": 0, "pending": 22}
    assert [w["experiment"] for w in state["workers"]] == ["Tanh-tol2"]   # the dead worker's file is ignored
    done = json.loads(STORED.read_text())
    assert state["eta_s"] is not None and state["eta_s"] > 0 and state["remaining"] == 39
    text = render(state)
    for expected in ("gw1", "Tanh-tol2", "stage prove", "ETA ~", "alive 30s", "128.0 MiB"):
        assert expected in text, text
    assert done["id"] == "ReLU-tol0.5"
