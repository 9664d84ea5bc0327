"""The model zoo: the registry of the study's layer/model configurations."""

from zkbench.layers.registry import (
    GROUP_MARKERS,
    GROUPS,
    PROFILES,
    REGISTRY,
    SPECS,
    TOLERANCES,
    LayerSpec,
    Shape,
    Spec,
    experiment_id,
    get,
    parse_tolerance,
)

__all__ = [
    "GROUP_MARKERS",
    "GROUPS",
    "PROFILES",
    "REGISTRY",
    "SPECS",
    "TOLERANCES",
    "LayerSpec",
    "Spec",
    "Shape",
    "experiment_id",
    "get",
    "parse_tolerance",
]
