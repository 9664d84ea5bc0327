"""The experiment engine: one experiment end to end, every stage in a fresh child process, the
deterministic artifacts from a content-addressed cache. Its public functions are these.

They are imported on first use: a stage child imports zkbench.engine.stage_child, and must not
load torch or the rest of the engine before its memory window opens.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: a stage child imports this package, and typing costs it ~4 ms

_PUBLIC = {
    "RunConfig": "zkbench.engine.config",
    "default_cache_dir": "zkbench.engine.config",
    "run_identity": "zkbench.engine.config",
    "STAGES": "zkbench.engine.experiment",
    "run_experiment": "zkbench.engine.experiment",
    "status_file": "zkbench.engine.live_status",
    "plan_experiment": "zkbench.engine.planning",
}
__all__ = [
    "STAGES",
    "RunConfig",
    "default_cache_dir",
    "plan_experiment",
    "run_experiment",
    "run_identity",
    "status_file",
]

if TYPE_CHECKING:
    from zkbench.engine.config import RunConfig, default_cache_dir, run_identity
    from zkbench.engine.experiment import STAGES, run_experiment
    from zkbench.engine.live_status import status_file
    from zkbench.engine.planning import plan_experiment


def __getattr__(name: str):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'zkbench.engine' has no attribute {name!r}")
