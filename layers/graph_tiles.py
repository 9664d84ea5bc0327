"""Tiles within a segment of a model's graph: a segment too big for one circuit even alone (a CNN's
second Conv at the paper's shapes) proved as t parts, each the segment computing a range of its
output channels from the segment's whole input.

A segment tiles when it is one layer: any nodes before one heavy node (a Conv with groups 1, a Gemm or
a MatMul whose weights are initializers), then only nodes that act on each output channel alone
(activations, x * x, pooling, BatchNorm). Tile k keeps the nodes before the heavy one as they are,
the heavy node with its weights' rows (Conv: output channels; Gemm/MatMul: output features) of
channel range k, and the followers on that range; its output is the segment's output's channels of
range k. A segment after a tiled one takes the tiles' outputs as inputs of its own, one per tile,
joined by a Concat on the channel axis before its first node, so the tiles' outputs are its inputs
value for value (and its commitments to them are the tiles' output commitments: zkbench.engine.graph_link).
A tiled last segment is followed by a join: the Concat alone, whose output is the model's.

Where to cut for tiles: after each heavy node and its channel-local followers (`layer_segments`),
so a segment holds one layer's work and what cannot tile (a Flatten before a Gemm) starts the next.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference
from onnx.utils import Extractor

from zkbench.layers.graph_split import Segment, _shapes, cuts, node_cost

HEAVY = ("Conv", "Gemm", "MatMul")
# ops that act on every value alone (with at most scalar constants beside it)
ELEMENTWISE = {
    "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu", "Softplus", "Softsign", "HardSigmoid", "HardSwish",
    "Abs", "Neg", "Exp", "Log", "Sqrt", "Erf", "Gelu", "Identity", "Clip", "Sign", "Floor", "Ceil", "Round",
    "Reciprocal", "Sin", "Cos", "Mul", "Add", "Sub", "Div", "Pow", "Max", "Min", "Dropout",
}  # fmt: skip
# ops that reduce or pool within each channel
PER_CHANNEL = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization"}
AXIS = 1  # the channel axis of a Conv's output (NCHW), the feature axis of a Gemm's


@dataclass(frozen=True)
class Tiling:
    """How a segment tiles: its heavy node's output channels and the cost of the nodes before it
    (repeated in every tile)."""

    channels: int
    prefix_cost: float


@dataclass(frozen=True)
class GraphPart:
    """One part of a graph split: segment `segment`, tile `tile` (k, t) of it (None: the segment
    whole), or the join after a tiled last segment. `inputs` are its graph inputs in order, each
    made by the part `producers` names at the same place (None: the model's own input); `output`
    its one output."""

    label: str
    segment: int
    tile: tuple[int, int] | None
    inputs: tuple[str, ...]
    producers: tuple[int | None, ...]
    output: str
    cost: float
    join: bool = False


def _constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    values[n.output[0]] = numpy_helper.to_array(a.t)
    return values


def tiling(model: onnx.ModelProto) -> Tiling | str:
    """How the segment `model` (a model of its own) tiles, or why it does not (one line)."""
    g, consts = model.graph, _constants(model)
    nodes = [n for n in g.node if n.op_type != "Constant"]
    heavy = [i for i, n in enumerate(nodes) if n.op_type in HEAVY]
    if len(heavy) != 1:
        return f"it holds {len(heavy)} Conv/Gemm/MatMul nodes, not one"
    h = heavy[0]
    node = nodes[h]
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if len(node.input) < 2 or node.input[1] not in consts:
        return f"its {node.op_type}'s weights are not constants"
    w = consts[node.input[1]]
    if node.op_type == "Conv" and attrs.get("group", 1) != 1:
        return "its Conv is grouped (depthwise): its channels read their own input channels"
    if node.op_type == "MatMul" and w.ndim != 2:
        return "its MatMul's weights are not a matrix"
    channels = (
        w.shape[0] if node.op_type == "Conv" or (node.op_type == "Gemm" and attrs.get("transB", 0)) else w.shape[1]
    )
    running = {node.output[0]}
    for n in nodes[h + 1 :]:
        if n.op_type not in ELEMENTWISE | PER_CHANNEL:
            return f"a {n.op_type} after its {node.op_type} mixes channels"
        others = [t for t in n.input if t and t not in running]
        if n.op_type == "BatchNormalization":
            if n.input[0] not in running or any(t not in consts for t in n.input[1:]):
                return "a BatchNormalization after it has statistics that are not constants"
        elif not any(t in running for t in n.input) or any(t not in consts or consts[t].size != 1 for t in others):
            return f"a {n.op_type} after its {node.op_type} reads a tensor other than its output or a scalar"
        running |= set(n.output)
    if g.output[0].name not in running:
        return f"its output is not made from its {node.op_type}'s"
    shapes, inits = _shapes(model), {i.name: list(i.dims) for i in g.initializer}
    return Tiling(int(channels), sum(node_cost(n, shapes, inits) for n in nodes[:h]))


def channel_ranges(channels: int, t: int) -> list[range]:
    """Channels 0..channels-1 in t consecutive ranges as even as they go (the first ones one longer)."""
    if not 1 <= t <= channels:
        raise ValueError(f"{channels} channels cannot make {t} tiles")
    bounds = [round(channels * k / t) for k in range(t + 1)]
    sizes = sorted((bounds[k + 1] - bounds[k] for k in range(t)), reverse=True)
    starts = [sum(sizes[:k]) for k in range(t)]
    return [range(s, s + n) for s, n in zip(starts, sizes, strict=True)]


def tile_cost(segment_cost: float, til: Tiling, t: int) -> float:
    """The largest tile's cost when a segment of `segment_cost` is cut into t tiles."""
    return til.prefix_cost + (segment_cost - til.prefix_cost) * math.ceil(til.channels / t) / til.channels


def layer_segments(model: onnx.ModelProto) -> list[Segment]:
    """The graph cut after each heavy node's run of channel-local followers (where one tensor alone
    crosses there): segments of one layer each, the ones a tiling can cut into channels."""
    points, total = cuts(model)
    nodes = list(model.graph.node)
    at = {c.after: c for c in points}
    chosen = []
    heavy_seen = False
    for i, n in enumerate(nodes[:-1]):
        heavy_seen |= n.op_type in HEAVY
        following = nodes[i + 1]
        ends_run = following.op_type not in ELEMENTWISE | PER_CHANNEL | {"Constant"}
        if heavy_seen and ends_run and i in at:
            chosen.append(at[i])
            heavy_seen = False
    inits = {x.name for x in model.graph.initializer}
    [graph_input] = [i.name for i in model.graph.input if i.name not in inits]
    [graph_output] = [o.name for o in model.graph.output]
    edges = [graph_input, *[c.tensor for c in chosen], graph_output]
    bounds = [0.0, *[c.cost_before for c in chosen], total]
    return [Segment(k, edges[k], edges[k + 1], bounds[k + 1] - bounds[k]) for k in range(len(edges) - 1)]


def segment_model(model: onnx.ModelProto, seg: Segment) -> onnx.ModelProto:
    return Extractor(shape_inference.infer_shapes(model)).extract_model([seg.input], [seg.output])


def tile_name(tensor: str, k: int) -> str:
    return f"{tensor}__tile{k + 1}"


def graph_parts(model: onnx.ModelProto, segs: list[Segment], tiles: list[int], label: str) -> list[GraphPart]:
    """The parts of `segs` with segment s cut into tiles[s] tiles, in the order they are proved;
    labels `<label><s>of<n>` and `...t<k>of<t>`. ValueError (one line) when a segment cannot tile."""
    if len(tiles) != len(segs):
        raise ValueError(f"{len(tiles)} tile counts for {len(segs)} segments")
    n, parts = len(segs), []
    made: list[int] = []  # the parts that made the previous segment's output
    for seg, t in zip(segs, tiles, strict=True):
        base = f"{label}{seg.index + 1}of{n}"
        if t == 1:
            til_cost = seg.cost
        else:
            til = tiling(segment_model(model, seg))
            if isinstance(til, str):
                raise ValueError(f"segment {seg.index + 1} ({seg.input} -> {seg.output}) does not tile: {til}")
            if t > til.channels:
                raise ValueError(f"segment {seg.index + 1} has {til.channels} channels, fewer than {t} tiles")
            til_cost = tile_cost(seg.cost, til, t)
        inputs = tuple(tile_name(seg.input, j) for j in range(len(made))) if len(made) > 1 else (seg.input,)
        producers: tuple[int | None, ...] = tuple(made) if made else (None,)
        mine = []
        for k in range(t):
            out = seg.output if t == 1 else tile_name(seg.output, k)
            parts.append(
                GraphPart(
                    base if t == 1 else f"{base}t{k + 1}of{t}",
                    seg.index,
                    None if t == 1 else (k, t),
                    inputs,
                    producers,
                    out,
                    til_cost,
                )
            )
            mine.append(len(parts) - 1)
        made = mine
    if len(made) > 1:  # a tiled last segment: its tiles joined into the model's output
        last = segs[-1]
        inputs = tuple(tile_name(last.output, j) for j in range(len(made)))
        parts.append(
            GraphPart(f"{label}{n}of{n}join", last.index, None, inputs, tuple(made), last.output, 0.0, join=True)
        )
    return parts


def _value_info(name: str, shape: list[int]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape)


def _concat_front(model: onnx.ModelProto, tensor: str, sizes: list[int], shape: list[int]) -> None:
    """Replace the graph input `tensor` by one input per size along the channel axis, joined by a Concat."""
    g = model.graph
    names = [tile_name(tensor, j) for j in range(len(sizes))]
    [old] = [i for i in g.input if i.name == tensor]
    g.input.remove(old)
    for name, size in zip(names, sizes, strict=True):
        g.input.append(_value_info(name, [*shape[:AXIS], size, *shape[AXIS + 1 :]]))
    g.node.insert(0, helper.make_node("Concat", names, [tensor], axis=AXIS, name=f"{tensor}__join"))


def _slice_tile(model: onnx.ModelProto, channels: range, output: str) -> None:
    """Keep the heavy node's weights (and its followers' per-channel constants) of `channels`, and
    rename the segment's output to `output`."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    nodes = [n for n in g.node if n.op_type != "Constant"]
    [h] = [i for i, n in enumerate(nodes) if n.op_type in HEAVY]  # (a Concat may stand before it now)
    heavy = nodes[h]
    attrs = {a.name: helper.get_attribute_value(a) for a in heavy.attribute}
    rows = np.array(channels)

    def sliced(name: str, axis: int) -> str:
        arr = numpy_helper.to_array(inits[name])
        new = numpy_helper.from_array(np.take(arr, rows, axis=axis), f"{name}__ch{channels.start}_{channels.stop}")
        g.initializer.append(new)
        return new.name

    w_axis = 0 if heavy.op_type == "Conv" or (heavy.op_type == "Gemm" and attrs.get("transB", 0)) else 1
    heavy.input[1] = sliced(heavy.input[1], w_axis)
    if len(heavy.input) > 2 and heavy.input[2]:
        bias = numpy_helper.to_array(inits[heavy.input[2]])
        if bias.size > 1:
            heavy.input[2] = sliced(heavy.input[2], bias.ndim - 1)
    for n in nodes[h + 1 :]:
        if n.op_type == "BatchNormalization":
            for j in range(1, len(n.input)):
                n.input[j] = sliced(n.input[j], 0)
    used = {t for n in g.node for t in n.input}
    unused = [i for i in g.initializer if i.name not in used]  # the whole weights, now sliced
    for i in unused:
        g.initializer.remove(i)
    old = g.output[0].name
    for n in g.node:
        n.output[:] = [output if o == old else o for o in n.output]
    shape = [d.dim_value for d in g.output[0].type.tensor_type.shape.dim]
    g.output.remove(g.output[0])
    g.output.append(_value_info(output, [*shape[:AXIS], len(channels), *shape[AXIS + 1 :]]))


def part_model(model: onnx.ModelProto, segs: list[Segment], parts: list[GraphPart], index: int) -> onnx.ModelProto:
    """Part `index` of `parts` as a model of its own (its inputs and output named as the part says)."""
    part = parts[index]
    shapes = _shapes(model)
    seg = segs[part.segment]
    if part.join:
        sizes = [len(r) for r in channel_ranges(_channels(shapes, seg.output), len(part.inputs))]
        shape = shapes[seg.output]
        g = helper.make_graph(
            [helper.make_node("Concat", list(part.inputs), [seg.output], axis=AXIS, name=f"{seg.output}__join")],
            "join",
            [
                _value_info(name, [*shape[:AXIS], s, *shape[AXIS + 1 :]])
                for name, s in zip(part.inputs, sizes, strict=True)
            ],
            [_value_info(seg.output, shape)],
        )
        out = helper.make_model(g, opset_imports=list(model.opset_import))
    else:
        out = segment_model(model, seg)
        if len(part.inputs) > 1:
            _concat_front(
                out,
                seg.input,
                [len(r) for r in channel_ranges(_channels(shapes, seg.input), len(part.inputs))],
                shapes[seg.input],
            )
        if part.tile is not None:
            til = tiling(segment_model(model, seg))
            assert not isinstance(til, str), til
            k, t = part.tile
            _slice_tile(out, channel_ranges(til.channels, t)[k], part.output)
    del out.graph.value_info[:]
    out = shape_inference.infer_shapes(out)
    onnx.checker.check_model(out)
    return out


def _channels(shapes: dict[str, list[int]], tensor: str) -> int:
    return shapes[tensor][AXIS]


def part_tensor_sizes(
    model: onnx.ModelProto, segs: list[Segment], parts: list[GraphPart]
) -> list[tuple[list[int], int]]:
    """Each part's input sizes (values per input, in order) and output size: what it makes public or
    commits to."""
    shapes = _shapes(model)

    def size(tensor: str) -> int:
        return int(math.prod(shapes[tensor]))

    outs: list[int] = []
    for p in parts:
        whole = size(segs[p.segment].output)
        if p.tile is None:
            outs.append(whole)
        else:
            k, t = p.tile
            channels = _channels(shapes, segs[p.segment].output)
            outs.append(whole // channels * len(channel_ranges(channels, t)[k]))
    return [
        ([size(segs[p.segment].input) if q is None else outs[q] for q in p.producers], outs[i])
        for i, p in enumerate(parts)
    ]
