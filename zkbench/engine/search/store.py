"""Child side of the search: the on-disk store of candidate evaluations. One JSON per candidate (and
its settings.json beside it, which plan mode predicts from) in a folder the parent named after the
workload and prover (zkbench.engine.cache_keys.candidates_key): an evaluation is the same for every
tolerance, every rerun and plan mode, so one made before is read instead of redone."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from zkbench.engine.search.candidate import Candidate


class CandidateStore:
    """The evaluations kept in `folder` (None: none are kept or read). `lock_wait_s`: seconds spent
    waiting for another search's evaluation of the same candidate."""

    def __init__(self, folder: Path | None):
        self.folder = folder
        self.lock_wait_s = 0.0

    def stored(self, c: Candidate) -> Path:
        assert self.folder is not None
        return self.folder / f"{c.stem}.json"

    def settings_of(self, c: Candidate) -> Path:
        assert self.folder is not None
        return self.folder / f"{c.stem}.settings.json"

    def known(self, c: Candidate) -> dict | None:
        """The evaluation kept before, marked `cached`, or None."""
        if self.folder is None or not self.stored(c).is_file():
            return None
        return {**json.loads(self.stored(c).read_text()), "cached": True}

    def evaluate_and_keep(self, c: Candidate, evaluate: Callable[[Candidate], dict]) -> dict:
        """The evaluation of `c`: kept before, or made now by `evaluate` and kept (each file written
        whole, then renamed into place: a reader sees the whole file or none)."""
        if self.folder is None:
            return {**evaluate(c), "cached": False}
        lock = FileLock(str(self.stored(c)) + ".lock")
        t0 = time.perf_counter()
        with lock:  # the other tolerance's search may be evaluating this very candidate
            self.lock_wait_s += time.perf_counter() - t0
            earlier = self.known(c)
            if earlier is not None:
                return earlier
            result = evaluate(c)
            if "MemoryError" not in result.get("error", ""):  # running out of memory says nothing of c
                kept = {k: v for k, v in result.items() if k != "settings_path"}
                if "settings_path" in result:  # its settings.json beside it: plan mode predicts from it
                    tmp_settings = self.settings_of(c).with_suffix(f".{os.getpid()}.tmp")
                    shutil.copy(result["settings_path"], tmp_settings)
                    os.replace(tmp_settings, self.settings_of(c))
                tmp = self.stored(c).with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(kept))
                os.replace(tmp, self.stored(c))  # atomic: a reader sees the whole file or none
        return {**result, "cached": False}
