"""layers/split.py: a layer's tiles, each the same op on part of the input with the layer's own
weights, put back together are the layer's output, value for value; every output element comes
from exactly one tile."""

import pytest
import torch
from torch import nn

from zkbench.layers import SPECS, Shape, get
from zkbench.layers.split import parts_of, reassemble, spec_named, tile_input, tile_module, tiling
from zkbench.layers.workload import build_workload

TILED = [s for s in SPECS if s.group != "composite" and s.name != "LayerNorm"]
# shapes between smoke and paper, so rows and channels both split; cheap in torch
MID = {
    "ReLU": Shape((1, 16, 12)),
    "Conv2d_k3_s2": Shape((1, 3, 11, 9), {"cin": 3, "cout": 5, "stride": 2}),
    "MaxPool2d_k2": Shape((1, 3, 10, 6), {"kernel_size": 2}),
}


def shapes(spec):
    yield spec.smoke
    if spec.name in MID:
        yield MID[spec.name]


def whole_and_tiles(spec, shape, n):
    torch.manual_seed(0)
    module = spec.build(**shape.params).eval()
    if isinstance(module, nn.BatchNorm2d):  # not the identity statistics of a fresh layer
        module.running_mean.uniform_(-1, 1)
        module.running_var.uniform_(0.5, 2)
    x = torch.randn(shape.input_shape)
    t = tiling(module, shape.input_shape, n)
    with torch.no_grad():
        outputs = [tile_module(module, t, tile)(tile_input(x, t, tile)) for tile in t.tiles]
        return module(x), t, outputs


@pytest.mark.parametrize("spec", TILED, ids=lambda s: s.name)
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_the_tiles_put_together_are_the_layer(spec, n):
    for shape in shapes(spec):
        try:
            whole, t, outputs = whole_and_tiles(spec, shape, n)
        except ValueError as e:  # more parts than the layer has: said so, not made up
            assert "at most" in str(e)
            continue
        assert t.parts >= n and (t.parts == n or n > t.output_shape[1])
        assert torch.allclose(reassemble(outputs, t), whole, atol=1e-6), (spec.name, shape, t.how)
        covered = torch.zeros(t.output_shape)
        for tile in t.tiles:
            covered[tuple(slice(lo, hi) for lo, hi in tile.out)] += 1
        assert bool((covered == 1).all())
        if n > 1:
            assert all(y.numel() < whole.numel() for y in outputs)


def test_a_convolution_tile_reads_only_the_rows_under_its_window():
    spec = next(s for s in SPECS if s.name == "Conv2d_k3_s1")
    module = spec.build(**spec.paper.params).eval()
    t = tiling(module, spec.paper.input_shape, 256)  # 64 output channels x 4 row bands
    assert t.how == "output channels x output rows" and t.parts == 256
    rows = {tile.inp[2] for tile in t.tiles}
    assert rows == {(0, 18), (16, 34), (32, 50), (48, 66)}  # 16 output rows + the 3x3 halo, padded input


def test_layers_without_a_split_point_say_why_in_one_line():
    for module, why in [
        (nn.LayerNorm([4, 4, 4]), "statistics span the whole tensor"),
        (nn.Sequential(nn.ReLU(), nn.ReLU()), "splits along its graph"),
        (nn.Conv2d(2, 2, 3, dilation=2), "dilation"),
    ]:
        with pytest.raises(ValueError, match=why) as e:
            tiling(module, (1, 4, 4, 4) if not isinstance(module, nn.Conv2d) else (1, 2, 8, 8), 2)
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="1 part or more"):
        tiling(nn.ReLU(), (1, 8, 8), 0)
    with pytest.raises(ValueError, match="32 output features: at most that many parts"):
        tiling(nn.Linear(64, 32), (1, 64), 33)


@pytest.mark.parametrize("name", ["Dense", "Conv2d_k3_s1", "MaxPool2d_k2", "BatchNorm2d", "Tanh", "DepthwiseConv2d"])
def test_the_parts_workloads_put_together_are_the_layers_workload(name):
    """Each part's workload (its module and inputs, as the engine's child builds it from the part's
    name) computes its piece of the whole layer's float outputs on the whole layer's inputs."""
    spec = get(name)
    whole = build_workload(spec, "smoke", None, 2, 2)
    parts = parts_of(spec, "smoke", 3)
    assert [p.name for p in parts] == [f"{name}~part{k}of3" for k in (1, 2, 3)]
    assert len({p.fingerprint("smoke") for p in parts} | {spec.fingerprint("smoke")}) == 4
    built = [build_workload(spec_named(p.name), "smoke", None, 2, 2) for p in parts]
    assert all(b.meta["part"]["of"] == name and b.meta["part"]["parts"] == 3 for b in built)
    t = parts[0].tiling("smoke")
    with torch.no_grad():
        for i, x in enumerate(whole.heldout):
            pieces = [b.module(b.heldout[i]) for b in built]
            assert all(
                tuple(b.heldout[i].shape) == p.shape("smoke").input_shape for b, p in zip(built, parts, strict=True)
            )
            assert torch.allclose(reassemble(pieces, t), whole.module(x), atol=1e-6)


def test_a_part_name_that_does_not_exist_is_refused():
    with pytest.raises(ValueError, match="part 5 of 4 does not exist"):
        spec_named("Dense~part5of4")
    with pytest.raises(KeyError, match="unknown layer"):
        spec_named("Nope~part1of2")
    with pytest.raises(ValueError, match="tiles into 16 parts, not 11"):
        spec_named("Tanh~part1of11").shape("smoke")  # 8 rows x 8 columns: 11 asks for a grid of 8 x 2
