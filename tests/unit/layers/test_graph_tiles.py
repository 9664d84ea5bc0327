"""layers/graph_tiles.py: a graph split's layers cut into tiles of their channels. Run one after
another, each part on what its producing parts computed, the parts compute the whole model, value
for value (onnxruntime); what does not tile says why."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import helper
from torch import nn

from zkbench.layers import get
from zkbench.layers.graph_tiles import (
    channel_ranges,
    graph_parts,
    layer_segments,
    part_model,
    segment_model,
    tiling,
)

CNNS = ["CNN_ReLU", "CNN_Poly", "CNN_Mixed", "CNN_Strided"]


def exported(module: nn.Module, shape, path) -> onnx.ModelProto:
    torch.onnx.export(
        module.eval(),
        torch.randn(*shape),
        str(path),
        opset_version=18,
        input_names=["input"],
        output_names=["output"],
        dynamo=False,
    )
    return onnx.load(str(path))


def run(model: onnx.ModelProto, feeds: dict) -> np.ndarray:
    return ort.InferenceSession(model.SerializeToString()).run(None, feeds)[0]


def through_parts(model: onnx.ModelProto, tiles: list[int], x: np.ndarray) -> tuple[np.ndarray, list]:
    """The model's output computed part by part, each part fed its producers' outputs."""
    segs = layer_segments(model)
    parts = graph_parts(model, segs, tiles, "graph")
    made = {}
    for i, p in enumerate(parts):
        feeds = {name: x if q is None else made[q] for name, q in zip(p.inputs, p.producers, strict=True)}
        made[i] = run(part_model(model, segs, parts, i), feeds)
    return made[len(parts) - 1], parts


@pytest.mark.parametrize("profile", ["smoke", "paper"])
@pytest.mark.parametrize("name", CNNS)
def test_a_cnn_in_tiles_computes_the_whole(tmp_path, name, profile):
    spec = get(name)
    torch.manual_seed(0)
    shape = spec.shape(profile).input_shape
    model = exported(spec.module(profile), shape, tmp_path / "m.onnx")
    x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    whole = run(model, {"input": x})
    segs = layer_segments(model)
    assert [s.output for s in segs][-1] == "output" and len(segs) == 3  # conv block, conv block, flatten-linear
    c1, c2 = spec.shape(profile).params["c1"], spec.shape(profile).params["c2"]
    assert [tiling(segment_model(model, s)).channels for s in segs] == [c1, c2, 10]
    for tiles in ([1, 1, 1], [1, 2, 1], [2, c2, 1], [c1, 3, 2], [2, 3, 10]):
        out, parts = through_parts(model, tiles, x)
        np.testing.assert_allclose(out, whole, atol=1e-5, rtol=1e-5)
        assert len(parts) == sum(tiles) + (tiles[-1] > 1)  # a tiled last layer: one more part, the join
        assert parts[-1].join == (tiles[-1] > 1)


def test_a_tile_computes_only_its_channels_and_reads_the_whole_input(tmp_path):
    spec = get("CNN_ReLU")
    model = exported(spec.module("smoke"), spec.shape("smoke").input_shape, tmp_path / "m.onnx")
    segs = layer_segments(model)
    parts = graph_parts(model, segs, [1, 3, 1], "graph")
    assert [p.label for p in parts] == ["graph1of3", "graph2of3t1of3", "graph2of3t2of3", "graph2of3t3of3", "graph3of3"]
    # smoke c2 = 4 channels in 3 tiles: 2, 1, 1; each tile reads the first segment's whole output
    shapes = []
    for i in (1, 2, 3):
        m = part_model(model, segs, parts, i)
        shapes.append([d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim])
        assert parts[i].inputs == (segs[1].input,) and parts[i].producers == (0,)
    assert [s[1] for s in shapes] == [2, 1, 1]
    last = part_model(model, segs, parts, 4)
    assert [i.name for i in last.graph.input] == [f"{segs[1].output}__tile{k}" for k in (1, 2, 3)]
    assert last.graph.node[0].op_type == "Concat" and parts[4].producers == (1, 2, 3)


def test_channel_ranges_cover_every_channel_once_as_even_as_they_go():
    for channels in (1, 4, 10, 64):
        for t in range(1, channels + 1):
            ranges = channel_ranges(channels, t)
            assert [c for r in ranges for c in r] == list(range(channels))
            assert max(map(len, ranges)) - min(map(len, ranges)) <= 1
    with pytest.raises(ValueError, match="4 channels cannot make 5 tiles"):
        channel_ranges(4, 5)


def one_segment(nodes, inputs, outputs, inits=()) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])


def vi(name, shape):
    return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape)


W = onnx.numpy_helper.from_array(np.ones((4, 2, 3, 3), np.float32), "w")
WG = onnx.numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "wg")


@pytest.mark.parametrize(
    ("nodes", "inits", "out_shape", "why"),
    [
        ([helper.make_node("Relu", ["x"], ["y"])], [], [1, 2, 4, 4], "holds 0 Conv/Gemm/MatMul nodes"),
        (
            [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Flatten", ["c"], ["y"])],
            [W],
            [1, 64],
            "a Flatten after its Conv mixes channels",
        ),
        (
            [helper.make_node("Conv", ["x", "wg"], ["y"], group=2, pads=[1, 1, 1, 1])],
            [WG],
            [1, 2, 4, 4],
            "grouped (depthwise)",
        ),
        (
            [
                helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                helper.make_node("Add", ["c", "x2"], ["y"]),
            ],
            [W],
            [1, 4, 4, 4],
            "reads a tensor other than its output or a scalar",
        ),
    ],
)
def test_what_does_not_tile_says_why(nodes, inits, out_shape, why):
    ins = [vi("x", [1, 2, 4, 4])] + ([vi("x2", [1, 4, 4, 4])] if any("x2" in n.input for n in nodes) else [])
    assert why in tiling(one_segment(nodes, ins, [vi("y", out_shape)], inits))


def test_tiles_of_a_segment_that_does_not_tile_are_refused(tmp_path):
    spec = get("CNN_Strided")
    model = exported(spec.module("smoke"), spec.shape("smoke").input_shape, tmp_path / "m.onnx")
    segs = layer_segments(model)
    with pytest.raises(ValueError, match="has 4 channels, fewer than 5 tiles"):
        graph_parts(model, segs, [1, 5, 1], "graph")
