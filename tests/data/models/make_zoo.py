"""Makes the bring-your-own-model zoo (tests/data/models/zoo/<name>/): small hand-built ONNX models,
one or more per kind of model ezkl 23's own default pipeline accepts and the suite once refused
(issue 14), each in ezkl's examples convention (network.onnx + input.json).

    python tests/data/models/make_zoo.py   # rewrites zoo/<name>/network.onnx and input.json

Built with onnx.helper only (no torch), deterministic, a few hundred bytes each.

- int_inputs       int64 indices (Gather from a table) and an int32 count, fed as the model declares
- bool_where       a bool condition input (Where, Not), a bool output
- constants_only   no graph input at all: input.json is {"input_data": [[]]}
- extra_entries    two graph inputs, an input.json with four entries (ezkl reads the first two)
- tree_int8        a decision tree in hummingbird's GEMM form (ezkl's own examples): an int8 MatMul
                   that onnxruntime refuses to load; onnx's ReferenceEvaluator runs it. Class label
                   (int64) and leaf value outputs; the ai.onnx.ml opset imported, as converters do.
                   (ezkl 23 accepts no ai.onnx.ml operator itself: TreeEnsembleClassifier, Linear-
                   Classifier and the rest fail in gen_settings, "Unknown op" / "Unimplemented".)
- legacy_ops       opset 6 (Add with broadcast=1, ScaledTanh, an experimental op removed in opset
                   10) at IR 3: ezkl runs it, onnxruntime has no Add(6) kernel, the ReferenceEvaluator
                   no ScaledTanh: no float reference at all (accuracy unchecked, with the reason)
- log_rsqrt_div    log(x), 1/sqrt(x) and 2/x of an all-positive sample, 1/d of a divisor of both
                   signs without zeros
- maxpool_pad      a padded 3x3 max-pool of an all-positive image (ezkl pads with 0, ONNX with -inf:
                   they agree only while the input stays positive)
- class_labels     logits, their argmax (class label, int64) and a comparison (bool) as outputs
"""

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

ZOO = Path(__file__).resolve().parent / "zoo"


def rng(name: str) -> np.random.Generator:
    """Each model its own seeded stream: changing one model leaves the others' bytes alone."""
    return np.random.default_rng(sum(name.encode()) + 14)


def const(name, array):
    return nh.from_array(np.asarray(array), name)


def value(name, elem_type, shape):
    return h.make_tensor_value_info(name, elem_type, shape)


def save(name, nodes, inputs, outputs, initializers, input_data, opset=18, ir=8, ml=False):
    graph = h.make_graph(nodes, name, inputs, outputs, initializers)
    opsets = [h.make_opsetid("", opset)] + ([h.make_opsetid("ai.onnx.ml", 2)] if ml else [])
    model = h.make_model(graph, opset_imports=opsets, producer_name="zkbench make_zoo")
    model.ir_version = ir
    d = ZOO / name
    d.mkdir(parents=True, exist_ok=True)
    onnx.save(model, d / "network.onnx")
    (d / "input.json").write_text(json.dumps({"input_data": input_data}))


def rounded(a, digits=4):
    return [round(float(v), digits) for v in np.asarray(a).ravel()]


def int_inputs():
    r = rng("int_inputs")
    table = r.normal(size=(6, 4)).astype(np.float32)
    nodes = [
        h.make_node("Gather", ["table", "idx"], ["rows"], axis=0),  # [1, 3, 4]
        h.make_node("ReduceSum", ["rows", "axis1"], ["pooled"], keepdims=0),  # [1, 4]
        h.make_node("Cast", ["count"], ["count_f"], to=T.FLOAT),  # int32 -> float
        h.make_node("Mul", ["pooled", "count_f"], ["y"]),
    ]
    save(
        "int_inputs",
        nodes,
        [value("idx", T.INT64, [1, 3]), value("count", T.INT32, [1, 4])],
        [value("y", T.FLOAT, [1, 4])],
        [const("table", table), const("axis1", np.array([1], np.int64))],
        [[1, 4, 2], [2, 3, 1, 4]],
    )


def bool_where():
    r = rng("bool_where")
    nodes = [
        h.make_node("Mul", ["a", "half"], ["scaled"]),
        h.make_node("Where", ["cond", "a", "scaled"], ["y"]),
        h.make_node("Not", ["cond"], ["flipped"]),
    ]
    save(
        "bool_where",
        nodes,
        [value("cond", T.BOOL, [1, 6]), value("a", T.FLOAT, [1, 6])],
        [value("y", T.FLOAT, [1, 6]), value("flipped", T.BOOL, [1, 6])],
        [const("half", np.array(-0.5, np.float32))],
        [[True, False, True, True, False, False], rounded(r.normal(size=6))],
    )


def constants_only():
    r = rng("constants_only")
    nodes = [
        h.make_node("MatMul", ["a", "b"], ["ab"]),
        h.make_node("Add", ["ab", "bias"], ["pre"]),
        h.make_node("Relu", ["pre"], ["y"]),
    ]
    save(
        "constants_only",
        nodes,
        [],
        [value("y", T.FLOAT, [2, 3])],
        [
            const("a", r.normal(size=(2, 4)).astype(np.float32)),
            const("b", r.normal(size=(4, 3)).astype(np.float32)),
            const("bias", np.array([2.0, 2.5, 1.0], np.float32)),
        ],
        [[]],
    )


def extra_entries():
    r = rng("extra_entries")
    nodes = [h.make_node("Mul", ["x", "y"], ["xy"]), h.make_node("Add", ["xy", "x"], ["z"])]
    save(
        "extra_entries",
        nodes,
        [value("x", T.FLOAT, [1, 4]), value("y", T.FLOAT, [1, 4])],
        [value("z", T.FLOAT, [1, 4])],
        [],
        [rounded(r.normal(size=4)) for _ in range(4)],
    )


def tree_int8():
    """Depth-2 tree over 3 features, hummingbird's GEMM strategy: decisions = x @ A < thresholds;
    leaf = argmax(decisions @ C == D) (C, D int8); label = classes[leaf], value = values[leaf]."""
    a = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32).T  # node i tests feature i
    thresholds = np.array([0.5, 0.3, 0.7], np.float32)
    # leaves: (n0 true, n1 true), (n0 true, n1 false), (n0 false, n2 true), (n0 false, n2 false)
    c = np.array([[1, 1, 0, 0], [1, -1, 0, 0], [0, 0, 1, -1]], np.int8)
    d = np.array([2, 0, 1, 0], np.int8)
    nodes = [
        h.make_node("MatMul", ["x", "A"], ["proj"]),
        h.make_node("Less", ["proj", "thresholds"], ["decided"]),
        h.make_node("Cast", ["decided"], ["decided_i8"], to=T.INT8),
        h.make_node("MatMul", ["decided_i8", "C"], ["paths"]),  # onnxruntime: no int8 MatMul kernel
        h.make_node("Equal", ["paths", "D"], ["at_leaf"]),
        h.make_node("Cast", ["at_leaf"], ["at_leaf_f"], to=T.FLOAT),
        h.make_node("ArgMax", ["at_leaf_f"], ["leaf"], axis=1, keepdims=0),
        h.make_node("Gather", ["classes", "leaf"], ["label"], axis=0),
        h.make_node("Gather", ["values", "leaf"], ["value"], axis=0),
    ]
    save(
        "tree_int8",
        nodes,
        [value("x", T.FLOAT, [1, 3])],
        [value("label", T.INT64, [1]), value("value", T.FLOAT, [1])],
        [
            const("A", a),
            const("thresholds", thresholds),
            const("C", c),
            const("D", d),
            const("classes", np.array([0, 1, 1, 2], np.int64)),
            const("values", np.array([0.25, -1.5, 0.75, 2.0], np.float32)),
        ],
        [[0.2, 0.9, 0.4]],
        opset=11,
        ir=6,
        ml=True,
    )


def legacy_ops():
    r = rng("legacy_ops")
    nodes = [
        h.make_node("Add", ["x", "b"], ["shifted"], broadcast=1),
        h.make_node("ScaledTanh", ["shifted"], ["y"], alpha=1.5, beta=0.5),
    ]
    save(
        "legacy_ops",
        nodes,
        [value("x", T.FLOAT, [1, 6]), value("b", T.FLOAT, [1])],  # IR 3: initializers are graph inputs too
        [value("y", T.FLOAT, [1, 6])],
        [const("b", np.array([0.25], np.float32))],
        [rounded(r.normal(size=6))],
        opset=6,
        ir=3,
    )


def log_rsqrt_div():
    """x all positive (log, 1/sqrt, 2/x need it); d a divisor of both signs and no zero (1/d)."""
    r = rng("log_rsqrt_div")
    nodes = [
        h.make_node("Log", ["x"], ["log"]),
        h.make_node("Sqrt", ["x"], ["root"]),
        h.make_node("Reciprocal", ["root"], ["rsqrt"]),
        h.make_node("Div", ["two", "x"], ["inv"]),
        h.make_node("Reciprocal", ["d"], ["inv_d"]),
        h.make_node("Concat", ["log", "rsqrt", "inv", "inv_d"], ["y"], axis=1),
    ]
    save(
        "log_rsqrt_div",
        nodes,
        [value("x", T.FLOAT, [1, 6]), value("d", T.FLOAT, [1, 6])],
        [value("y", T.FLOAT, [1, 24])],
        [const("two", np.array(2.0, np.float32))],
        [rounded(r.uniform(0.5, 4.0, size=6)), [-2.0, -0.5, 0.25, 1.0, 3.0, -1.5]],
    )


def maxpool_pad():
    r = rng("maxpool_pad")
    nodes = [h.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1])]
    save(
        "maxpool_pad",
        nodes,
        [value("x", T.FLOAT, [1, 1, 4, 4])],
        [value("y", T.FLOAT, [1, 1, 4, 4])],
        [],
        [rounded(r.uniform(0.1, 1.0, size=16))],
    )


def class_labels():
    r = rng("class_labels")
    nodes = [
        h.make_node("MatMul", ["x", "w"], ["logits"]),
        h.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0),
        h.make_node("Greater", ["logits", "zero"], ["positive"]),
    ]
    save(
        "class_labels",
        nodes,
        [value("x", T.FLOAT, [1, 8])],
        [value("logits", T.FLOAT, [1, 3]), value("label", T.INT64, [1]), value("positive", T.BOOL, [1, 3])],
        [const("w", r.normal(size=(8, 3)).astype(np.float32)), const("zero", np.array(0.0, np.float32))],
        [rounded(r.normal(size=8))],
    )


MODELS = (
    int_inputs,
    bool_where,
    constants_only,
    extra_entries,
    tree_int8,
    legacy_ops,
    log_rsqrt_div,
    maxpool_pad,
    class_labels,
)

if __name__ == "__main__":
    for make in MODELS:
        make()
    print("\n".join(sorted(p.name for p in ZOO.iterdir() if p.is_dir())))
