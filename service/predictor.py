"""Intent and slots of utterances with onnxruntime: tokenize, run the graph, decode the CRF in numpy.

Knows nothing of HTTP. Never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from elmol_nlu.crf import CRFPosterior, Posterior, ViterbiDecoder
from elmol_nlu.manifest import Manifest, ManifestError, load_manifest
from elmol_nlu.text import Token, char_ids, tokenize
from elmol_nlu.vocab import bio_spans
from service.token_cache import TokenVectorCache


@dataclass(frozen=True)
class SlotValue:
    name: str
    value: str
    start: int  # character offsets in the original text: text[start:end] == value
    end: int
    confidence: float | None = None  # P(this exact span and label) under the CRF; None when not computed


@dataclass(frozen=True)
class Parse:
    text: str
    intent: str
    confidence: float  # calibrated probability of ``intent``
    slots: list[SlotValue]
    tokens: list[Token]
    tags: list[str]
    sequence_confidence: float | None = None  # P(the whole decoded tag sequence) under the CRF
    intent_probs: np.ndarray = field(default=None, compare=False, repr=False)  # (I,), over ``intent_names``
    intent_names: list[str] = field(default_factory=list, compare=False, repr=False)
    posterior: Posterior | None = field(default=None, compare=False, repr=False)  # None when not computed

    @property
    def tag_marginals(self) -> np.ndarray | None:
        """(T, K): P(tag of token t = k); computed on first use (the backward pass completes then)."""
        return self.posterior.marginals if self.posterior is not None else None

    def token_tag_probabilities(self, floor: float) -> list[dict[str, float]] | None:
        """Per token, the tags of probability at least ``floor``, most probable first; None without a posterior."""
        if self.posterior is None:
            return None
        tags = self.posterior.tags
        return [{tags[i]: float(row[i]) for i in row.argsort()[::-1] if row[i] >= floor}
                for row in self.posterior.marginals]

    def intent_ranking(self, k: int) -> list[tuple[str, float]]:
        """The k most probable intents, most probable first (the first is ``intent``)."""
        order = np.argsort(-self.intent_probs, kind="stable")[:k]
        return [(self.intent_names[i], float(self.intent_probs[i])) for i in order]


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


def open_session(path: Path, threads: int) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for a bad graph
        raise ManifestError(f"{path} is not a loadable ONNX graph: {e}") from None


class Predictor:
    """Two onnxruntime sessions over a verified model directory; safe to call from several threads.

    The token graph (char CNN) runs only for words the ``TokenVectorCache`` has not seen; the model graph
    (biLSTMs and heads) runs on every request.
    """

    def __init__(self, model_dir: Path, threads: int = 1, cache_size: int = 50_000, precision: str = "fp32",
                 verify_gate: bool = True, calibrated: bool = True, confidences: bool = True) -> None:
        """``precision`` "fp32", "int8" (only if it passed its accuracy gate), or "auto" (int8 if it did).

        ``calibrated`` applies the manifest's temperatures (fitted on dev) to intent and CRF probabilities;
        ``confidences`` computes the CRF posterior behind slot, sequence and token confidences.
        """
        self.manifest: Manifest = load_manifest(Path(model_dir))
        if precision == "auto":
            precision = "int8" if self.manifest.precision_available("int8") else "fp32"
        self.precision = precision
        self.session = open_session(self.manifest.graph_path_for(precision, verify_gate), threads)
        self.token_session = open_session(self.manifest.token_graph_path, threads)
        dim = self._check_graphs()
        self.token_cache = TokenVectorCache(self._token_vectors, dim, self.manifest.warm_words, cache_size)
        m = self.manifest
        self.decoder = ViterbiDecoder(m.tags, m.crf_start, m.crf_transitions, m.crf_end)
        self.intent_temperature = m.temperature("intent") if calibrated else 1.0
        crf_temperature = m.temperature("crf") if calibrated else 1.0
        self.posterior = (CRFPosterior(m.tags, m.crf_start, m.crf_transitions, m.crf_end, crf_temperature)
                          if confidences else None)
        self._tag_index = {t: i for i, t in enumerate(m.tags)}

    def _check_graphs(self) -> int:
        """The graphs' names and label sizes match the manifest; returns the token vector size."""
        graph = self.manifest.graph_path_for(self.precision, verify_gate=False)
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = {o.name: o.shape for o in self.session.get_outputs()}
        if inputs != ["tokens", "lengths"] or set(outputs) != {"intent_logits", "slot_emissions"}:
            raise ManifestError(
                f"{graph}: unexpected inputs {inputs} or outputs {list(outputs)}: re-export")
        for output, labels, what in (("intent_logits", self.manifest.intents, "intents"),
                                     ("slot_emissions", self.manifest.tags, "tags")):
            if outputs[output][-1] != len(labels):
                raise ManifestError(f"graph has {outputs[output][-1]} {what}, the manifest {len(labels)}: re-export")
        token_io = ([i.name for i in self.token_session.get_inputs()],
                    [o.name for o in self.token_session.get_outputs()])
        dim = self.session.get_inputs()[0].shape[-1]
        token_dim = self.token_session.get_outputs()[0].shape[-1]  # symbolic after the char CNN's reshape
        if token_io != (["chars"], ["vectors"]) or (isinstance(token_dim, int) and token_dim != dim):
            raise ManifestError(f"{self.manifest.token_graph_path} does not feed {self.manifest.graph}: re-export")
        return dim

    def _token_vectors(self, words: list[str]) -> np.ndarray:
        return self.token_session.run(None, {"chars": char_ids(words, self.manifest.max_chars)})[0]

    def run(self, token_lists: list[list[Token]]) -> tuple[np.ndarray, np.ndarray]:
        """Raw graph outputs for tokenised sentences (each non-empty): logits (B, I), emissions (B, T, K).

        Each sentence's outputs are the same alone or in any batch: fp32 pads and masks; int8 quantises
        activations with one scale per call, so it runs one call per sentence (batching gains it nothing).
        """
        lengths = np.array([len(toks) for toks in token_lists], dtype=np.int64)
        vectors = self.token_cache.lookup([t.text for toks in token_lists for t in toks])
        tokens = np.zeros((len(token_lists), int(lengths.max()), vectors.shape[1]), dtype=np.float32)
        tokens[np.arange(tokens.shape[1])[None, :] < lengths[:, None]] = vectors  # padding stays 0: masked out
        if self.precision == "fp32":
            intent_logits, emissions = self.session.run(None, {"tokens": tokens, "lengths": lengths})
            return intent_logits, emissions
        outputs = [self.session.run(None, {"tokens": tokens[i : i + 1, :n], "lengths": lengths[i : i + 1]})
                   for i, n in enumerate(lengths)]
        emissions = np.zeros((*tokens.shape[:2], len(self.manifest.tags)), dtype=np.float32)
        for i, (_, e) in enumerate(outputs):
            emissions[i, : lengths[i]] = e[0]
        return np.concatenate([logits for logits, _ in outputs]), emissions

    def parse_batch(self, texts: list[str]) -> list[Parse]:
        token_lists = [tokenize(text) for text in texts]
        if any(not tokens for tokens in token_lists):
            raise ValueError("every text needs at least one non-space character")
        intent_logits, emissions = self.run(token_lists)
        # float64: distinct float32 logits stay distinct after the temperature, so the answer (argmax) and the
        # ranking are those of the logits at any temperature
        probs = softmax(intent_logits.astype(np.float64) / self.intent_temperature)
        return [self._decode(text, tokens, p, e[: len(tokens)])
                for text, tokens, p, e in zip(texts, token_lists, probs, emissions, strict=True)]

    def parse(self, text: str) -> Parse:
        return self.parse_batch([text])[0]

    def _decode(self, text: str, tokens: list[Token], probs: np.ndarray, emissions: np.ndarray) -> Parse:
        path = self.decoder.decode(emissions)
        tags = [self.manifest.tags[i] for i in path]
        post = self.posterior.posterior(emissions) if self.posterior else None
        slots = []
        for span in bio_spans(tags):
            start, end = tokens[span.start].start, tokens[span.end - 1].end
            confidence = None
            if post is not None:
                begin, inside = self._tag_index[f"B-{span.name}"], self._tag_index[f"I-{span.name}"]
                confidence = self.posterior.span_probability(post, span.start, span.end, begin, inside)
            slots.append(SlotValue(span.name, text[start:end], start, end, confidence))
        best = int(probs.argmax())
        sequence = self.posterior.sequence_probability(post, path) if post is not None else None
        return Parse(text, self.manifest.intents[best], float(probs[best]), slots, tokens, tags, sequence,
                     probs, self.manifest.intents, post)
