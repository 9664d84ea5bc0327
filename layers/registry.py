"""The single source of truth: the 20 layer/model configurations of the study.

Each entry names the layer, its group, its tags and, per size profile, the input shape and
the constructor arguments. Adding a layer is adding one `LayerSpec` to `SPECS`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from torch import nn

from zkbench.layers.modules import Square, small_cnn

GROUPS = ("core_layers", "scaling_study", "composite")
GROUP_MARKERS = {"core_layers": "core", "scaling_study": "scaling", "composite": "composite"}
PROFILES = ("smoke", "paper")
TOLERANCES = (0.5, 2.0)


@dataclass(frozen=True)
class Shape:
    """One size profile of a spec: the NCHW (or NC) input shape and the builder's kwargs."""

    input_shape: tuple[int, ...]
    params: dict[str, Any] = field(default_factory=dict)


class Spec(Protocol):
    """What the engine and the pytest glue need of an experiment's model: a registry layer (LayerSpec,
    exported from torch) or a user's ONNX model (zkbench.layers.custom.CustomSpec)."""

    name: str
    group: str
    tags: frozenset[str]
    inputs: str
    workload_version: int

    @property
    def onnx_path(self) -> Path | None: ...  # a ready ONNX file, or None: export from torch

    @property
    def marker(self) -> str: ...  # the pytest marker of its group

    @property
    def classifier(self) -> bool: ...  # outputs are class logits: top-1 agreement is reported

    def shape(self, profile: str) -> Shape: ...

    def result_profile(self, profile: str) -> str: ...  # the profile its results record

    def fingerprint(self, profile: str) -> str: ...


@dataclass(frozen=True)
class LayerSpec:
    name: str
    group: str
    build: Callable[..., nn.Module]
    smoke: Shape
    paper: Shape
    tags: frozenset[str] = frozenset()
    # "random": seeded N(0,1) inputs; "images": held-out samples of the training data set.
    inputs: str = "random"
    # Bump when the workload changes meaning (shapes, weights, inputs): invalidates caches/results.
    workload_version: int = 1
    # The scaling study's family this spec is one size of (the report draws each family's sizes as one
    # curve); None: in no family. Presentation only: not in fingerprint(), so no cache key depends on it.
    scaling_family: str | None = None

    def shape(self, profile: str) -> Shape:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}: use one of {', '.join(PROFILES)}")
        return getattr(self, profile)

    def module(self, profile: str) -> nn.Module:
        return self.build(**self.shape(profile).params).eval()

    @property
    def marker(self) -> str:
        return GROUP_MARKERS[self.group]

    @property
    def onnx_path(self) -> None:
        return None  # built in torch and exported

    @property
    def classifier(self) -> bool:
        return self.group == "composite"

    def result_profile(self, profile: str) -> str:
        return profile

    def fingerprint(self, profile: str) -> str:
        """Hash of everything that defines this workload at this profile."""
        s = self.shape(profile)
        doc = {
            "name": self.name,
            "group": self.group,
            "profile": profile,
            "input_shape": list(s.input_shape),
            "params": s.params,
            "inputs": self.inputs,
            "workload_version": self.workload_version,
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def _conv(cin, cout, stride=1, groups=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, groups=groups)


def _cnn(acts, pool, stride=1):
    def build(in_ch=3, hw=32, c1=32, c2=64):
        return small_cnn(in_ch, hw, c1, c2, acts, pool, stride)

    return build


HEAVY = frozenset({"memory_heavy"})
CNN_SMOKE = Shape((1, 3, 8, 8), {"in_ch": 3, "hw": 8, "c1": 2, "c2": 4})
CNN_PAPER = Shape((1, 3, 32, 32), {"in_ch": 3, "hw": 32, "c1": 32, "c2": 64})

SPECS: tuple[LayerSpec, ...] = (
    # --- core layers -------------------------------------------------------------------------
    LayerSpec("ReLU", "core_layers", nn.ReLU, Shape((1, 8, 8)), Shape((1, 64, 64))),
    LayerSpec("SiLU", "core_layers", nn.SiLU, Shape((1, 8, 8)), Shape((1, 64, 64))),
    LayerSpec("Tanh", "core_layers", nn.Tanh, Shape((1, 8, 8)), Shape((1, 64, 64))),
    LayerSpec("Poly", "core_layers", Square, Shape((1, 8, 8)), Shape((1, 64, 64))),
    LayerSpec(
        "MaxPool2d_k2",
        "core_layers",
        nn.MaxPool2d,
        Shape((1, 4, 8, 8), {"kernel_size": 2}),
        Shape((1, 32, 64, 64), {"kernel_size": 2}),
    ),
    LayerSpec(
        "AvgPool2d_k2",
        "core_layers",
        nn.AvgPool2d,
        Shape((1, 4, 8, 8), {"kernel_size": 2}),
        Shape((1, 32, 64, 64), {"kernel_size": 2}),
    ),
    LayerSpec(
        "BatchNorm2d",
        "core_layers",
        nn.BatchNorm2d,
        Shape((1, 4, 8, 8), {"num_features": 4}),
        Shape((1, 32, 64, 64), {"num_features": 32}),
    ),
    LayerSpec(
        "LayerNorm",
        "core_layers",
        nn.LayerNorm,
        Shape((1, 4, 4, 4), {"normalized_shape": [4, 4, 4]}),
        Shape((1, 32, 64, 64), {"normalized_shape": [32, 64, 64]}),
    ),
    LayerSpec(
        "Dense",
        "core_layers",
        nn.Linear,
        Shape((1, 64), {"in_features": 64, "out_features": 32}),
        Shape((1, 256), {"in_features": 256, "out_features": 128}),
        scaling_family="Dense",
    ),
    LayerSpec(
        "Conv2d_k3_s1",
        "core_layers",
        _conv,
        Shape((1, 4, 6, 6), {"cin": 4, "cout": 4}),
        Shape((1, 32, 64, 64), {"cin": 32, "cout": 64}),
        tags=HEAVY,
        scaling_family="Conv2d",
    ),
    LayerSpec(
        "Conv2d_k3_s2",
        "core_layers",
        _conv,
        Shape((1, 4, 6, 6), {"cin": 4, "cout": 4, "stride": 2}),
        Shape((1, 32, 64, 64), {"cin": 32, "cout": 64, "stride": 2}),
        tags=HEAVY,
    ),
    LayerSpec(
        "DepthwiseConv2d",
        "core_layers",
        _conv,
        Shape((1, 4, 6, 6), {"cin": 4, "cout": 4, "groups": 4}),
        Shape((1, 32, 64, 64), {"cin": 32, "cout": 32, "groups": 32}),
        tags=HEAVY,
    ),
    # --- scaling study -----------------------------------------------------------------------
    LayerSpec(
        "Dense_Scaling_Small",
        "scaling_study",
        nn.Linear,
        Shape((1, 32), {"in_features": 32, "out_features": 16}),
        Shape((1, 128), {"in_features": 128, "out_features": 64}),
        scaling_family="Dense",
    ),
    LayerSpec(
        "Dense_Scaling_Large",
        "scaling_study",
        nn.Linear,
        Shape((1, 128), {"in_features": 128, "out_features": 64}),
        Shape((1, 1024), {"in_features": 1024, "out_features": 512}),
        scaling_family="Dense",
    ),
    LayerSpec(
        "Conv2d_Scaling_Small",
        "scaling_study",
        _conv,
        Shape((1, 2, 4, 4), {"cin": 2, "cout": 4}),
        Shape((1, 16, 32, 32), {"cin": 16, "cout": 32}),
        tags=HEAVY,
        scaling_family="Conv2d",
    ),
    LayerSpec(
        "Conv2d_Scaling_Large",
        "scaling_study",
        _conv,
        Shape((1, 4, 6, 6), {"cin": 4, "cout": 8}),
        Shape((1, 64, 128, 128), {"cin": 64, "cout": 128}),
        tags=HEAVY,
        scaling_family="Conv2d",
    ),
    # --- composite CNNs (trained; inputs are held-out images) ---------------------------------
    LayerSpec("CNN_ReLU", "composite", _cnn(("relu", "relu"), "max"), CNN_SMOKE, CNN_PAPER, inputs="images"),
    LayerSpec("CNN_Poly", "composite", _cnn(("poly", "poly"), "avg"), CNN_SMOKE, CNN_PAPER, inputs="images"),
    LayerSpec("CNN_Mixed", "composite", _cnn(("poly", "relu"), "avg"), CNN_SMOKE, CNN_PAPER, inputs="images"),
    LayerSpec(
        "CNN_Strided", "composite", _cnn(("relu", "relu"), None, stride=2), CNN_SMOKE, CNN_PAPER, inputs="images"
    ),
)

REGISTRY: dict[str, LayerSpec] = {s.name: s for s in SPECS}


def get(name: str) -> LayerSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown layer {name!r}: known layers are {', '.join(REGISTRY)}") from None


def experiment_id(name: str, tol: float) -> str:
    return f"{name}-tol{tol:g}"


def parse_tolerance(value: Any) -> float:
    """A tolerance in percent: a finite number > 0. One-line error otherwise."""
    try:
        tol = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"tolerance {value!r} is not a number: give a percentage such as 0.5 or 2") from None
    if not (tol > 0 and tol != float("inf")):  # also rejects NaN
        raise ValueError(f"tolerance {value!r} must be a finite percentage > 0, such as 0.5 or 2")
    return tol
