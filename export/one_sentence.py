"""A graph specialised to what the service runs its joined graph on: one sentence, no padding.

The export writes graphs for any batch: they mask padded positions, move the batch axis around the LSTMs and
stack the language model's layers into one tensor for the heads. For a lone unpadded sentence the masks are
all ones, the batch axis has size 1 and the stack is taken apart again at once, so those nodes are copies or
identities; each still costs onnxruntime a kernel call (26 us of 340 for the shipped model, docs/PERFORMANCE.md).

The rewrite is found by running the graph, not by matching node patterns: every tensor is computed for random
token vectors at several sentence lengths (``lengths`` equal to the time axis, a batch of one), and

* a tensor equal in shape and bits to an earlier one at every length is that earlier tensor (its nodes go);
* a node whose output holds its input's values in the same order (a transpose that moves only the size-1
  batch axis) becomes a reshape to the output's shape, and a reshape of a reshape becomes one reshape;
* nodes nothing reads any more are dropped, and the inputs' batch axis is fixed to 1, so that onnxruntime
  refuses a batch instead of answering it wrongly.

Every rewrite keeps the bits of every output; ``tests/test_joined.py`` checks them against the two graphs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

PROBE_LENGTHS = (1, 3, 8, 19)
SEED = 0


def tensor_values(model: onnx.ModelProto, lengths: Iterable[int], seed: int = SEED) -> list[dict[str, np.ndarray]]:
    """Every node output's value, per probe: random ``tokens`` (1, T, D) and ``lengths`` [T] for each T."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    graph_outputs = {o.name for o in probe.graph.output}
    names = [name for node in probe.graph.node for name in node.output if name]
    probe.graph.output.extend(helper.make_empty_tensor_value_info(n) for n in names if n not in graph_outputs)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # the nodes as they are
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    token_input = next(i for i in model.graph.input if i.name == "tokens")
    dim = token_input.type.tensor_type.shape.dim[-1].dim_value
    rng = np.random.default_rng(seed)
    out_names = [o.name for o in session.get_outputs()]
    runs = []
    for time in lengths:
        feed = {"tokens": rng.standard_normal((1, time, dim)).astype(np.float32),
                "lengths": np.array([time], dtype=np.int64)}
        runs.append({**feed, **dict(zip(out_names, session.run(out_names, feed), strict=True))})
    return runs


def fingerprint(values: list[dict[str, np.ndarray]], name: str) -> tuple:
    """Shape, dtype and bytes of a tensor at every probe: equal fingerprints are the same tensor."""
    return tuple((v[name].shape, v[name].dtype.str, hashlib.sha256(v[name].tobytes()).hexdigest()) for v in values)


def reshape_shape(values: list[dict[str, np.ndarray]], name: str) -> np.ndarray:
    """A Reshape target giving ``name``'s shape at every probe: -1 on the one axis that varies with the length."""
    shapes = np.array([v[name].shape for v in values])
    varying = np.flatnonzero((shapes != shapes[0]).any(axis=0))
    if len(varying) > 1:
        raise ValueError(f"{name}: more than one axis varies with the sentence length: {shapes.tolist()}")
    target = shapes[0].copy()
    target[varying] = -1
    return target.astype(np.int64)


def same_order(values: list[dict[str, np.ndarray]], node: onnx.NodeProto) -> bool:
    """The node's output is its first input's values in the same order, shape aside (at every probe)."""
    if node.op_type in ("Reshape", "Constant") or len(node.output) != 1 or not node.input \
            or node.input[0] not in values[0]:  # an initializer
        return False
    return all(v[node.output[0]].dtype == v[node.input[0]].dtype
               and np.array_equal(v[node.output[0]].ravel(), v[node.input[0]].ravel()) for v in values)


def specialise(model: onnx.ModelProto, lengths: Iterable[int] = PROBE_LENGTHS) -> onnx.ModelProto:
    """``model`` (inputs ``tokens`` (B, T, D) and ``lengths`` (B,)) for B = 1 and lengths = [T] only."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    values = tensor_values(out, lengths)
    known = {fingerprint(values, i.name): i.name for i in graph.input}
    outputs = {o.name for o in graph.output}
    alias: dict[str, str] = {}  # tensor -> the earlier tensor it equals
    reshaped: dict[str, str] = {}  # output of a reshape -> the tensor it reshapes
    shapes: list[onnx.TensorProto] = []
    nodes = []
    for node in graph.node:
        node.input[:] = [alias.get(name, name) for name in node.input]
        first = fingerprint(values, node.output[0]) if len(node.output) == 1 else None
        if first is not None and first in known and node.output[0] not in outputs:
            alias[node.output[0]] = known[first]
            continue
        if node.op_type == "Reshape" or same_order(values, node):
            source = reshaped.get(node.input[0], node.input[0])
            target = f"{node.output[0]}/one_sentence_shape"
            shapes.append(numpy_helper.from_array(reshape_shape(values, node.output[0]), target))
            node = helper.make_node("Reshape", [source, target], list(node.output), name=node.name)
            reshaped[node.output[0]] = source
        if first is not None:
            known.setdefault(first, node.output[0])
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(live(nodes, {o.name for o in graph.output}))
    graph.initializer.extend(shapes)
    used = {name for node in graph.node for name in node.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    for graph_input in graph.input:
        graph_input.type.tensor_type.shape.dim[0].dim_value = 1  # clears the symbolic "batch"
    onnx.checker.check_model(out)
    return out


def live(nodes: list[onnx.NodeProto], wanted: set[str]) -> list[onnx.NodeProto]:
    """The nodes that ``wanted`` outputs depend on, in their order."""
    needed, kept = set(wanted), []
    for node in reversed(nodes):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
    return kept[::-1]
