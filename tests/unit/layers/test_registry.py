import pytest
import torch

import zkbench.layers as layers
from zkbench.layers import REGISTRY, SPECS, experiment_id, get, parse_tolerance

PAPER_NAMES = [
    "ReLU",
    "SiLU",
    "Tanh",
    "Poly",
    "MaxPool2d_k2",
    "AvgPool2d_k2",
    "BatchNorm2d",
    "LayerNorm",
    "Dense",
    "Conv2d_k3_s1",
    "Conv2d_k3_s2",
    "DepthwiseConv2d",
    "Dense_Scaling_Small",
    "Dense_Scaling_Large",
    "Conv2d_Scaling_Small",
    "Conv2d_Scaling_Large",
    "CNN_ReLU",
    "CNN_Poly",
    "CNN_Mixed",
    "CNN_Strided",
]


def test_the_studys_twenty_configurations_are_there_with_their_public_names():
    """The study's 20 (12 core layers, 4 scaling cases, 4 CNNs), in its order; a layer added beyond
    them is the registry's business only."""
    study = [s for s in SPECS if s.name in PAPER_NAMES]
    assert [s.name for s in study] == PAPER_NAMES
    counts = {g: sum(s.group == g for s in study) for g in layers.GROUPS}
    assert counts == {"core_layers": 12, "scaling_study": 4, "composite": 4}


def test_memory_heavy_is_exactly_the_five_conv2d_configs():
    heavy = {s.name for s in SPECS if "memory_heavy" in s.tags}
    assert heavy == {"Conv2d_k3_s1", "Conv2d_k3_s2", "DepthwiseConv2d", "Conv2d_Scaling_Small", "Conv2d_Scaling_Large"}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_paper_shapes_match_the_study_and_both_profiles_build(spec):
    for profile in ("smoke", "paper"):
        m = spec.module(profile)
        y = m(torch.randn(spec.shape(profile).input_shape))
        assert torch.isfinite(y).all()
    if spec.group == "composite":
        assert spec.paper.input_shape == (1, 3, 32, 32)
        assert m[-1].in_features == 4096 and m[-1].out_features == 10  # Linear(4096->10) as in the study


def test_smoke_is_smaller_than_paper_and_scaling_pairs_scale():
    numel = lambda shape: int(torch.tensor(shape).prod())
    for s in SPECS:
        assert numel(s.smoke.input_shape) < numel(s.paper.input_shape), s.name
    for a, b in [("Dense_Scaling_Small", "Dense_Scaling_Large"), ("Conv2d_Scaling_Small", "Conv2d_Scaling_Large")]:
        for profile in ("smoke", "paper"):

            def params(n, profile=profile):
                return sum(p.numel() for p in get(n).module(profile).parameters())

            assert params(a) < params(b)
            assert numel(get(a).shape(profile).input_shape) < numel(get(b).shape(profile).input_shape)


def test_smoke_layers_are_distinct_workloads():
    fingerprints = {s.fingerprint("smoke") for s in SPECS}
    assert len(fingerprints) == len(SPECS)


def test_unknown_names_and_bad_tolerances_get_one_line_errors():
    with pytest.raises(KeyError, match="unknown layer 'Relu'.*ReLU"):
        get("Relu")
    for bad in ["-1", "nan", "abc", "0", "inf", None]:
        with pytest.raises(ValueError, match="tolerance"):
            parse_tolerance(bad)
    assert parse_tolerance("2") == 2.0
    assert experiment_id("ReLU", 0.5) == "ReLU-tol0.5" and experiment_id("ReLU", 2.0) == "ReLU-tol2"


def test_adding_a_layer_is_one_entry(monkeypatch):
    spec = layers.LayerSpec("GELU", "core_layers", torch.nn.GELU, layers.Shape((1, 8)), layers.Shape((1, 64)))
    monkeypatch.setitem(REGISTRY, "GELU", spec)
    assert get("GELU").module("smoke")(torch.zeros(1, 8)).shape == (1, 8)
