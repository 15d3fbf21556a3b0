"""Intent and slots of utterances with onnxruntime: tokenize, run the graph, decode the CRF in numpy.

Knows nothing of HTTP. Never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from elmol_nlu.crf import ViterbiDecoder
from elmol_nlu.manifest import Manifest, ManifestError, load_manifest
from elmol_nlu.text import Token, batch_char_ids, tokenize
from elmol_nlu.vocab import bio_spans


@dataclass(frozen=True)
class SlotValue:
    name: str
    value: str
    start: int  # character offsets in the original text: text[start:end] == value
    end: int


@dataclass(frozen=True)
class Parse:
    text: str
    intent: str
    confidence: float
    slots: list[SlotValue]
    tokens: list[Token]
    tags: list[str]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initializers are noise here
    return options


class Predictor:
    """One onnxruntime session over a verified model directory; safe to call from several threads."""

    def __init__(self, model_dir: Path, threads: int = 1) -> None:
        self.manifest: Manifest = load_manifest(Path(model_dir))
        try:
            self.session = ort.InferenceSession(
                str(self.manifest.graph_path), session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own exception types for a bad graph
            raise ManifestError(f"{self.manifest.graph_path} is not a loadable ONNX graph: {e}") from None
        self._check_graph()
        m = self.manifest
        self.decoder = ViterbiDecoder(m.tags, m.crf_start, m.crf_transitions, m.crf_end)

    def _check_graph(self) -> None:
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = {o.name: o.shape for o in self.session.get_outputs()}
        if inputs != ["chars", "lengths"] or set(outputs) != {"intent_logits", "slot_emissions"}:
            raise ManifestError(
                f"{self.manifest.graph_path}: unexpected inputs {inputs} or outputs {list(outputs)}")
        for output, labels, what in (("intent_logits", self.manifest.intents, "intents"),
                                     ("slot_emissions", self.manifest.tags, "tags")):
            if outputs[output][-1] != len(labels):
                raise ManifestError(f"graph has {outputs[output][-1]} {what}, the manifest {len(labels)}: re-export")

    def run(self, token_lists: list[list[Token]]) -> tuple[np.ndarray, np.ndarray]:
        """Raw graph outputs for tokenised sentences (each non-empty): logits (B, I), emissions (B, T, K)."""
        chars, lengths = batch_char_ids([[t.text for t in toks] for toks in token_lists], self.manifest.max_chars)
        intent_logits, emissions = self.session.run(None, {"chars": chars, "lengths": lengths})
        return intent_logits, emissions

    def parse_batch(self, texts: list[str]) -> list[Parse]:
        token_lists = [tokenize(text) for text in texts]
        if any(not tokens for tokens in token_lists):
            raise ValueError("every text needs at least one non-space character")
        intent_logits, emissions = self.run(token_lists)
        probs = softmax(intent_logits)
        return [self._decode(text, tokens, p, e[: len(tokens)])
                for text, tokens, p, e in zip(texts, token_lists, probs, emissions, strict=True)]

    def parse(self, text: str) -> Parse:
        return self.parse_batch([text])[0]

    def _decode(self, text: str, tokens: list[Token], probs: np.ndarray, emissions: np.ndarray) -> Parse:
        tags = [self.manifest.tags[i] for i in self.decoder.decode(emissions)]
        slots = []
        for span in bio_spans(tags):
            start, end = tokens[span.start].start, tokens[span.end - 1].end
            slots.append(SlotValue(span.name, text[start:end], start, end))
        best = int(probs.argmax())
        return Parse(text, self.manifest.intents[best], float(probs[best]), slots, tokens, tags)
