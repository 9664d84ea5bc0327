"""The op costs a graph split weighs its segments and tiles by (zkbench.layers.graph_split.OP_COST,
GEMM_PER_MAC), against what ezkl 23 lays out: each op alone, its assignments per output value over a
Conv's per multiply-accumulate, within a third of the table's. (A ReLU costs as much as dozens of
MACs: weighed as 1, the paper CNNs' first layer looked a sixth of the model and proved a third.)"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from zkbench.backends import get_backend
from zkbench.layers.graph_split import GEMM_PER_MAC, OP_COST

X = [1, 8, 16, 16]


def vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def assignments_per_output(tmp_path, name, nodes, inits, out_shape) -> float:
    g = helper.make_graph(nodes, name, [vi("x", X)], [vi("y", out_shape)], inits)
    path = tmp_path / f"{name}.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    data = tmp_path / "cal.json"
    data.write_text(json.dumps({"input_data": [np.random.default_rng(0).normal(size=int(np.prod(X))).tolist()]}))
    prover, settings = get_backend("ezkl-23"), tmp_path / f"{name}.settings.json"
    ra = {"input_scale": 8, "param_scale": 8, "num_inner_cols": 4, "decomp_base": 1024, "decomp_legs": 3}
    prover.gen_settings(str(path), str(settings), ra)
    prover.calibrate(str(data), str(path), str(settings), [8], [1])
    return json.loads(settings.read_text())["total_assignments"] / int(np.prod(out_shape))


def weights(shape, scale=0.1):
    return np.random.default_rng(1).normal(size=shape).astype(np.float32) * scale


@pytest.fixture(scope="module")
def per_mac(tmp_path_factory) -> float:
    """A Conv's assignments per multiply-accumulate: the unit of the table."""
    tmp = tmp_path_factory.mktemp("conv")
    conv = helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1], kernel_shape=[3, 3], strides=[1, 1])
    inits = [numpy_helper.from_array(weights((8, 8, 3, 3)), "w"), numpy_helper.from_array(np.zeros(8, np.float32), "b")]
    return assignments_per_output(tmp, "Conv", [conv], inits, X) / (8 * 9)


POOL = {"kernel_shape": [2, 2], "strides": [2, 2]}
HALF = [1, 8, 8, 8]


@pytest.mark.parametrize(
    ("op", "nodes", "out_shape"),
    [
        ("Relu", [helper.make_node("Relu", ["x"], ["y"])], X),
        ("MaxPool", [helper.make_node("MaxPool", ["x"], ["y"], **POOL)], HALF),
        ("AveragePool", [helper.make_node("AveragePool", ["x"], ["y"], **POOL)], HALF),
        ("Mul", [helper.make_node("Mul", ["x", "x"], ["y"])], X),
    ],
)
def test_an_op_costs_what_the_table_says(tmp_path, per_mac, op, nodes, out_shape):
    measured = assignments_per_output(tmp_path, op, nodes, [], out_shape) / per_mac
    assert OP_COST[op] * 2 / 3 <= measured <= OP_COST[op] * 3 / 2, (op, measured)


def test_a_gemm_costs_what_the_table_says(tmp_path, per_mac):
    inputs = int(np.prod(X))
    nodes = [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Gemm", ["f", "w", "b"], ["y"], transB=1)]
    inits = [
        numpy_helper.from_array(weights((10, inputs), 0.01), "w"),
        numpy_helper.from_array(np.zeros(10, np.float32), "b"),
    ]
    measured = assignments_per_output(tmp_path, "Gemm", nodes, inits, [1, 10]) / inputs / per_mac
    assert GEMM_PER_MAC * 2 / 3 <= measured <= GEMM_PER_MAC * 3 / 2, measured
