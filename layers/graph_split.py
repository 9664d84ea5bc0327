"""How a multi-layer model splits along its graph: consecutive segments of its ONNX graph, cut where
exactly one tensor crosses from the nodes before to the nodes after (an activation between two
layers), each segment a model of its own (onnx.utils.extract_model) whose input is the previous
segment's output. Proved in order, the segments compute the whole model; their proofs are linked
by committing each cut tensor (zkbench.engine.graph_link).

Where to cut: the n - 1 cuts whose cost before them is nearest to 1/n, 2/n, ... of the whole, a
node's cost being what its layout takes in ezkl, in a Conv's multiply-accumulates: a Conv's output
size times what each output element sums (input channels x kernel), a Gemm's or MatMul's likewise
(its inner dimension) times GEMM_PER_MAC, any other op its output size times its OP_COST.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import shape_inference, utils


@dataclass(frozen=True)
class Cut:
    """A point between node `after` and node `after + 1` (topological order) where only `tensor` crosses."""

    after: int
    tensor: str
    cost_before: float


@dataclass(frozen=True)
class Segment:
    index: int
    input: str
    output: str
    cost: float


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    inferred = shape_inference.infer_shapes(model)
    out = {}
    for v in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]:
        dims = [d.dim_value if d.HasField("dim_value") else 1 for d in v.type.tensor_type.shape.dim]
        out[v.name] = dims
    return out


# What ezkl 23 lays out per output value of an op, in a Conv's multiply-accumulates (its assignments
# over a Conv's 1.74 per MAC; decomposition 1024^3, 4 inner columns, scale 8; checked against ezkl by
# tests/integration/test_graph_costs.py). A ReLU or a pooling window costs as much as dozens of MACs:
# at the paper's CNN shapes the first layer's activation and pooling outweigh its Conv.
GEMM_PER_MAC = 1.4
OP_COST = {
    "Relu": 36.0,
    "MaxPool": 102.0,  # per output of a 2x2 window
    "AveragePool": 87.0,  # per output of a 2x2 window
    "Mul": 59.0,  # x * x
    "BatchNormalization": 59.0,
    "Flatten": 0.0,
    "Reshape": 0.0,
    "Identity": 0.0,
    "Concat": 0.0,
}
DEFAULT_OP_COST = 36.0  # another op: as a ReLU (a non-linear value needs its range checks)


def node_cost(node: onnx.NodeProto, shapes: dict[str, list[int]], inits: dict[str, list[int]]) -> float:
    out = math.prod(shapes.get(node.output[0], [1])) if node.output else 1
    if node.op_type == "Conv" and len(node.input) > 1:
        w = inits.get(node.input[1]) or shapes.get(node.input[1]) or [1, 1]
        return float(out * math.prod(w[1:]))
    if node.op_type in ("Gemm", "MatMul") and node.input:
        a = shapes.get(node.input[0]) or [1]
        return float(out * (a[-1] if a else 1)) * GEMM_PER_MAC
    return float(out) * OP_COST.get(node.op_type, DEFAULT_OP_COST)


def cuts(model: onnx.ModelProto) -> tuple[list[Cut], float]:
    """Every point where one tensor alone crosses, and the whole graph's cost."""
    g = model.graph
    inits = {i.name: list(i.dims) for i in g.initializer}
    shapes = _shapes(model)
    constant = {o for n in g.node if n.op_type == "Constant" for o in n.output} | set(inits)
    last_use: dict[str, int] = {}
    for i, n in enumerate(g.node):
        for t in n.input:
            last_use[t] = i
    outputs = {o.name for o in g.output}
    produced_at = {o: i for i, n in enumerate(g.node) for o in n.output}
    live = {i.name for i in g.input if i.name not in inits}
    found, cost = [], 0.0
    for i, n in enumerate(g.node[:-1]):
        cost += node_cost(n, shapes, inits)
        live |= {o for o in n.output if o not in constant}
        live = {t for t in live if last_use.get(t, -1) > i or t in outputs}
        if len(live) == 1:
            [t] = live
            if t not in outputs and t in produced_at:
                found.append(Cut(i, t, cost))
    total = cost + node_cost(g.node[-1], shapes, inits)
    return found, total


def segments(onnx_path: Path, n: int) -> list[Segment]:
    """The model in n consecutive segments, as even in cost as its cut points allow; ValueError (one
    line, with the reason) when it has fewer than n - 1 cut points."""
    model = onnx.load(str(onnx_path))
    points, total = cuts(model)
    if n < 2:
        raise ValueError(f"a graph split needs at least 2 parts, got {n}")
    if len(points) < n - 1:
        raise ValueError(
            f"its graph has {len(points)} point(s) where one tensor alone crosses, too few for {n} parts"
            + (" (it is one op, or its layers run side by side)" if not points else "")
        )
    chosen: list[Cut] = []
    for j in range(1, n):
        target = total * j / n
        left = [c for c in points if (not chosen or c.after > chosen[-1].after)]
        room = len(left) - (n - 1 - j)  # leave a cut for every later target
        chosen.append(min(left[:room], key=lambda c: abs(c.cost_before - target)))
    [graph_input] = [i.name for i in model.graph.input if i.name not in {x.name for x in model.graph.initializer}]
    [graph_output] = [o.name for o in model.graph.output]
    edges = [graph_input, *[c.tensor for c in chosen], graph_output]
    costs = [c.cost_before for c in chosen]
    bounds = [0.0, *costs, total]
    return [Segment(k, edges[k], edges[k + 1], bounds[k + 1] - bounds[k]) for k in range(n)]


def extract(onnx_path: Path, segment: Segment, out: Path) -> Path:
    """The segment as a model of its own: input segment.input, output segment.output."""
    utils.extract_model(str(onnx_path), str(out), [segment.input], [segment.output], check_model=True)
    return out
