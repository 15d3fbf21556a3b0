"""The int8 encoder and heads of a model directory joined in one graph, for the sentences its own heads alone answer.

The service runs the encoder once per utterance and then each skill's heads, two onnxruntime calls. When the
only heads an utterance needs are the model's own, one call of the joined graph gives the same outputs,
bit for bit (the same nodes and weights; each int8 operator keeps its own dynamic scales): one session call,
one layers tensor and one boundary of copies fewer, 15-35 us less a request in process (docs/PERFORMANCE.md).
The heads' names get a prefix so that they cannot clash with the encoder's; the heads read the encoder's
``layers`` and the shared ``lengths``. The joined graph is then specialised to one unpadded sentence
(``export.one_sentence``: no masks, no batch transposes): the service runs it one sentence a call, for
batches of up to ``elmol_nlu.runtime.JOINED_MAX_BATCH``.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import compose, helper

from export.one_sentence import specialise

HEADS_PREFIX = "heads/"


def join_graphs(encoder_path: Path, heads_path: Path, out: Path) -> None:
    """encoder (tokens, lengths -> layers) then heads (layers, lengths -> intent_logits, slot_emissions), for a
    batch of one unpadded sentence."""
    encoder, heads = onnx.load(str(encoder_path)), onnx.load(str(heads_path))
    if encoder.opset_import != heads.opset_import:
        raise ValueError(f"{encoder_path} and {heads_path} use different opsets: export them together")
    heads = compose.add_prefix(heads, HEADS_PREFIX, rename_outputs=False)
    wired = {f"{HEADS_PREFIX}layers": "layers", f"{HEADS_PREFIX}lengths": "lengths"}
    for node in heads.graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = wired.get(name, name)
    graph = helper.make_graph([*encoder.graph.node, *heads.graph.node], "joined", list(encoder.graph.input),
                              list(heads.graph.output), [*encoder.graph.initializer, *heads.graph.initializer],
                              value_info=[*encoder.graph.value_info, *heads.graph.value_info])
    joined = helper.make_model(graph, opset_imports=encoder.opset_import, ir_version=encoder.ir_version,
                               producer_name="elmol-nlu export.join")
    onnx.checker.check_model(joined)
    onnx.save(specialise(joined), str(out))
