"""A point of the search's grid (Candidate: scale, decomposition, inner columns), its structure (the
grid point without its scale) and what a built one costs. No numpy: the parent names candidates too."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# A workload file: run args every circuit of that workload keeps, whatever the candidate (a graph
# split's part: its inputs and outputs committed, zkbench.engine.graph_split_step)
FIXED_RUN_ARGS = "run_args.json"  # zkbench.layers.custom.RUN_ARGS_FILE (this module imports no layers)


@dataclass(frozen=True)
class Candidate:
    scale: int
    decomp_base: int
    decomp_legs: int
    num_inner_cols: int = 2

    def as_dict(self) -> dict:
        return {
            "scale": self.scale,
            "decomp_base": self.decomp_base,
            "decomp_legs": self.decomp_legs,
            "num_inner_cols": self.num_inner_cols,
        }

    @property
    def stem(self) -> str:
        """Its name in a candidate cache folder: <stem>.json (the evaluation), <stem>.settings.json."""
        return f"s{self.scale}-b{self.decomp_base}-l{self.decomp_legs}-c{self.num_inner_cols}"

    def run_args(self, fixed: dict | None = None) -> dict:
        """The ezkl run args this candidate sets before calibration, with the workload's `fixed` ones."""
        return {
            "input_scale": self.scale,
            "param_scale": self.scale,
            "decomp_base": self.decomp_base,
            "decomp_legs": self.decomp_legs,
            "num_inner_cols": self.num_inner_cols,
            **(fixed or {}),
        }


def fixed_run_args(workload_dir: Path) -> dict:
    """The run args a workload fixes for all its circuits (FIXED_RUN_ARGS; none for most)."""
    path = Path(workload_dir) / FIXED_RUN_ARGS
    return json.loads(path.read_text()) if path.is_file() else {}


def cost(evaluated: dict) -> tuple:
    """Cheapest circuit first: smallest logrows, then fewest rows, then fewest assignments."""
    return (evaluated["logrows"], evaluated["num_rows"], evaluated.get("total_assignments") or 0)


Structure = tuple[int, int, int]  # (decomp_base, decomp_legs, num_inner_cols)


def structure_of(c: Candidate | dict) -> Structure:
    if isinstance(c, Candidate):
        return (c.decomp_base, c.decomp_legs, c.num_inner_cols)
    return (c["decomp_base"], c["decomp_legs"], c["num_inner_cols"])
