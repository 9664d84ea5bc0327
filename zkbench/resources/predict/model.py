"""The prediction: pk bytes, setup/prove peak RSS and prove seconds from the layout's features and
one fitted constant set per backend (its data file)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from zkbench.resources.predict.layout import columns, features

# One fitted constant set per prover backend: each backend's memory and time differ.
DATA_PATHS = {"ezkl-23": Path(__file__).with_name("ezkl-23.json")}
DATA_PATH = DATA_PATHS["ezkl-23"]

DEFAULT_PARALLEL_FRACTION = 0.85  # used only when the data have no multi-thread run to fit it from

CONSTANT_NAMES = (
    "pk_scale",
    "pk_offset",
    "setup_base",
    "setup_per_pk",
    "setup_heap",
    "prove_base",
    "prove_per_pk",
    "prove_per_ext",
    "time_base",
    "time_per_unit",
    "parallel_fraction",
)


@lru_cache(maxsize=4)
def _load_constants(path: str) -> dict:
    return json.loads(Path(path).read_text())["constants"]


def data_path(backend: str = "ezkl-23") -> Path:
    if backend not in DATA_PATHS:
        raise ValueError(f"no fitted prediction for backend {backend!r}: known ones are {', '.join(DATA_PATHS)}")
    return DATA_PATHS[backend]


def load_constants(path: Path | str = DATA_PATH) -> dict:
    return dict(_load_constants(str(path)))


def predict(settings: dict, threads: int = 1, constants: dict | None = None, backend: str = "ezkl-23") -> dict:
    """Predicted pk/vk bytes, setup and prove peak RSS (bytes) and prove seconds for a settings.json dict,
    with `constants` or else the ones fitted for `backend`."""
    c = constants if constants is not None else load_constants(data_path(backend))
    cols = columns(settings)
    f = features(cols)
    threads = max(1, int(threads or 1))
    pk = c["pk_scale"] * f["pk_struct"] + c["pk_offset"]
    p = c["parallel_fraction"]
    out = {
        "pk_bytes": int(round(pk)),
        "vk_bytes": int(cols["vk_bytes"]),
        "setup_peak_rss_bytes": int(
            round(c["setup_base"] + c["setup_per_pk"] * pk + c["setup_heap"] * f["setup_heap"])
        ),
        "prove_peak_rss_bytes": int(
            round(c["prove_base"] + c["prove_per_pk"] * pk + c["prove_per_ext"] * f["prove_ext"])
        ),
        "prove_seconds": c["time_base"] + c["time_per_unit"] * f["work"] * (1 - p + p / threads),
        "threads": threads,
        "model": "zkbench.resources.predict",
        "backend": backend,
    }
    out.update(
        {
            key: cols[key]
            for key in (
                "logrows",
                "num_inner_cols",
                "blocks",
                "advice_columns",
                "instance_columns",
                "constant_columns",
                "table_columns",
                "selector_columns",
                "fixed_columns",
                "equality_columns",
                "lookup_arguments",
                "permutation_chunks",
                "degree",
                "extension",
            )
        }
    )
    out["num_rows"] = settings.get("num_rows")
    if cols["notes"]:
        out["notes"] = list(cols["notes"])
    return out
