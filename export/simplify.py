"""Graph clean-ups after export that onnxruntime does not do itself; parity checks the result.

The TorchScript exporter feeds every LSTM zero initial states built at run time from the input's
shape (Shape, Gather, Unsqueeze, Concat, ConstantOfShape): a dozen tiny nodes per LSTM, which at
batch 1 cost more than the arithmetic. ONNX's LSTM starts from zeros when those inputs are absent.
"""

from __future__ import annotations

import onnx
from onnx import numpy_helper

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


def simplify(model: onnx.ModelProto) -> dict[str, int]:
    return {"lstm_initial_states_dropped": drop_zero_initial_states(model), "nodes_pruned": prune_dead_nodes(model)}
