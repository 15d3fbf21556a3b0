"""Graph clean-ups after export that onnxruntime does not do itself; parity checks the result.

The TorchScript exporter feeds every LSTM zero initial states built at run time from the input's
shape (Shape, Gather, Unsqueeze, Concat, ConstantOfShape): a dozen tiny nodes per LSTM, which at
batch 1 cost more than the arithmetic. ONNX's LSTM starts from zeros when those inputs are absent.

Our biLSTMs are two unidirectional LSTMs, the backward one between two within-length reversals
(``training.lm.reverse``, exported as ReverseSequence). ONNX's bidirectional LSTM with ``sequence_lens``
computes the same at every real position (padding gives zeros instead of what no one reads), in one node
instead of ten; int8 quantisation gives each direction its own scales, as it did the two LSTMs.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INITIAL_STATES = (5, 6)  # LSTM inputs: initial_h, initial_c


def _is_zero_fill(node: onnx.NodeProto) -> bool:
    if node.op_type != "ConstantOfShape":
        return False
    values = [numpy_helper.to_array(a.t) for a in node.attribute if a.name == "value"]
    return not values or not values[0].any()  # no value attribute means zeros


def drop_zero_initial_states(model: onnx.ModelProto) -> int:
    """Omit LSTM initial states that are run-time zero fills; returns how many were dropped."""
    producer = {out: node for node in model.graph.node for out in node.output}
    dropped = 0
    for node in model.graph.node:
        if node.op_type != "LSTM":
            continue
        for i in INITIAL_STATES:
            if i < len(node.input) and node.input[i] in producer and _is_zero_fill(producer[node.input[i]]):
                node.input[i] = ""
                dropped += 1
        while node.input and node.input[-1] == "":
            node.input.pop()
    return dropped


def prune_dead_nodes(model: onnx.ModelProto) -> int:
    """Remove nodes whose outputs nothing reads; returns how many were removed."""
    removed = 0
    while True:
        used = {name for node in model.graph.node for name in node.input} | {o.name for o in model.graph.output}
        dead = [n for n in model.graph.node if not any(out in used for out in n.output)]
        if not dead:
            return removed
        for node in dead:
            model.graph.node.remove(node)
        removed += len(dead)


class _Graph:
    """Who produces each value, and the initializers, of a graph being rewritten."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.producer = {out: node for node in model.graph.node for out in node.output}
        self.initializers = {t.name: t for t in model.graph.initializer}
        consumers: dict[str, int] = {}
        for node in model.graph.node:
            for name in node.input:
                consumers[name] = consumers.get(name, 0) + 1
        self.consumers = consumers

    def made_by(self, value: str, op: str) -> onnx.NodeProto | None:
        node = self.producer.get(value)
        return node if node is not None and node.op_type == op else None

    def constant(self, value: str) -> np.ndarray | None:
        if value in self.initializers:
            return numpy_helper.to_array(self.initializers[value])
        node = self.made_by(value, "Constant")
        return numpy_helper.to_array(node.attribute[0].t) if node is not None and node.attribute else None


def _attributes(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _time_major_of(g: _Graph, value: str) -> str | None:
    """The value that ``value`` is the Transpose(1, 0, 2) of (batch and time swapped), else None."""
    transpose = g.made_by(value, "Transpose")
    if transpose is None or list(_attributes(transpose).get("perm", [])) != [1, 0, 2]:
        return None
    return transpose.input[0]


def _lstm_output(g: _Graph, value: str) -> onnx.NodeProto | None:
    """The LSTM whose Y reaches ``value`` through Squeeze(axis 1) and Transpose(1, 0, 2): (B, T, H)."""
    squeeze = g.made_by(_time_major_of(g, value) or "", "Squeeze")
    axes = g.constant(squeeze.input[1]) if squeeze is not None and len(squeeze.input) >= 2 else None
    if axes is None or axes.tolist() != [1]:
        return None
    lstm = g.made_by(squeeze.input[0], "LSTM")
    plain = lstm is not None and _attributes(lstm).keys() <= {"hidden_size", "direction"}
    if not plain or _attributes(lstm).get("direction", b"forward") not in (b"forward", "forward"):
        return None
    if len(lstm.input) != 4 or any(g.consumers.get(o, 0) for o in lstm.output[1:] if o):
        return None  # initial states, sequence_lens, or a used last state: not ours to merge
    return lstm if all(name in g.initializers for name in lstm.input[1:4]) else None


def _bidirectional_pair(g: _Graph, concat: onnx.NodeProto) -> tuple[onnx.NodeProto, onnx.NodeProto, str] | None:
    """(forward LSTM, backward LSTM, lengths) when ``concat`` joins a biLSTM's two directions, else None."""
    if len(concat.input) != 2 or _attributes(concat).get("axis") != 2:
        return None
    back = g.made_by(concat.input[1], "ReverseSequence")
    forward = _lstm_output(g, concat.input[0])
    backward = _lstm_output(g, back.input[0]) if back is not None else None
    if forward is None or backward is None:
        return None
    x = _time_major_of(g, forward.input[0])  # each LSTM reads (T, B, D): the Transpose of a (B, T, D) input
    reversed_x = g.made_by(_time_major_of(g, backward.input[0]) or "", "ReverseSequence")
    same = reversed_x is not None and reversed_x.input[0] == x and reversed_x.input[1] == back.input[1]
    hidden = _attributes(forward).get("hidden_size")
    return (forward, backward, back.input[1]) if same and hidden == _attributes(backward).get("hidden_size") else None


def merge_bidirectional_lstms(model: onnx.ModelProto) -> int:
    """Replace each pair of directional LSTMs (and their reversals) by one bidirectional LSTM; returns how many."""
    g = _Graph(model)
    merged = 0
    for concat in [n for n in model.graph.node if n.op_type == "Concat"]:
        pair = _bidirectional_pair(g, concat)
        if pair is None:
            continue
        forward, backward, lengths = pair
        name = f"{forward.name or forward.output[0]}/bidirectional"
        for k, suffix in ((1, "W"), (2, "R"), (3, "B")):
            weights = [numpy_helper.to_array(g.initializers[lstm.input[k]]) for lstm in (forward, backward)]
            model.graph.initializer.append(numpy_helper.from_array(np.concatenate(weights), f"{name}/{suffix}"))
        model.graph.initializer.append(numpy_helper.from_array(np.array([0, 0, -1], dtype=np.int64), f"{name}/shape"))
        nodes = [
            helper.make_node("Cast", [lengths], [f"{name}/lengths"], to=TensorProto.INT32),
            helper.make_node("LSTM", [forward.input[0], f"{name}/W", f"{name}/R", f"{name}/B", f"{name}/lengths"],
                             [f"{name}/Y"], name=name, hidden_size=_attributes(forward)["hidden_size"],
                             direction="bidirectional"),
            helper.make_node("Transpose", [f"{name}/Y"], [f"{name}/Y_batch_first"], perm=[2, 0, 1, 3]),  # (B, T, 2, H)
            helper.make_node("Reshape", [f"{name}/Y_batch_first", f"{name}/shape"], [concat.output[0]]),
        ]
        at = list(model.graph.node).index(concat)
        model.graph.node.remove(concat)
        for offset, node in enumerate(nodes):
            model.graph.node.insert(at + offset, node)
        merged += 1
    return merged


def prune_dead_initializers(model: onnx.ModelProto) -> int:
    used = {name for node in model.graph.node for name in node.input}
    dead = [t for t in model.graph.initializer if t.name not in used]
    for t in dead:
        model.graph.initializer.remove(t)
    return len(dead)


def simplify(model: onnx.ModelProto) -> dict[str, int]:
    report = {"lstm_initial_states_dropped": drop_zero_initial_states(model),
              "bidirectional_lstms_merged": merge_bidirectional_lstms(model)}
    report["nodes_pruned"] = prune_dead_nodes(model)
    report["initializers_pruned"] = prune_dead_initializers(model)
    return report
