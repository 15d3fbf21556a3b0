"""One skill's heads: its graph over the shared encoder's layers, labels, CRF decoding and calibrated confidences."""

from __future__ import annotations

import numpy as np

from elmol_nlu.crf import ViterbiDecoder
from elmol_nlu.intents import found, sigmoid
from elmol_nlu.lexical import pooled_layers
from elmol_nlu.manifest import Manifest, ManifestError
from elmol_nlu.posterior import CRFPosterior
from elmol_nlu.runtime.encoder import Chunk
from elmol_nlu.runtime.parse import Parse, SlotValue
from elmol_nlu.runtime.sessions import check_io, heads_outputs, open_session
from elmol_nlu.text import Token
from elmol_nlu.vocab import bio_spans


class SkillHeads:
    """One skill: its heads graph, labels, CRF decoding and calibrated confidences."""

    def __init__(self, manifest: Manifest, threads: int, precision: str, verify_gate: bool, calibrated: bool,
                 confidences: bool) -> None:
        m = self.manifest = manifest
        self.name = m.skill
        path = m.graph_path("heads", precision, verify_gate)
        self.session = open_session(path, threads)
        shapes = check_io(self.session, path, ["layers", "lengths"], {"intent_logits", "slot_emissions"})
        for output, labels, what in (("intent_logits", m.intents, "intents"), ("slot_emissions", m.tags, "tags")):
            if shapes[output][-1] != len(labels):
                raise ManifestError(f"{path} has {shapes[output][-1]} {what}, the manifest {len(labels)}: re-export")
        self.decoder = ViterbiDecoder(m.tags, m.crf_start, m.crf_transitions, m.crf_end)
        self.intent_temperature = m.temperature("intent") if calibrated else 1.0
        self.multi_threshold = m.intent_threshold  # None: one softmax; else a sigmoid per intent
        crf_temperature = m.temperature("crf") if calibrated else 1.0
        self.posterior = (CRFPosterior(m.tags, m.crf_start, m.crf_transitions, m.crf_end, crf_temperature)
                          if confidences else None)
        self._tag_index = {t: i for i, t in enumerate(m.tags)}
        other = m.raw.get("out_of_skill")  # the intent a skill trained with out-of-skill utterances gives them
        self.out_of_skill: int | None = m.intents.index(other) if other in m.intents else None
        # the skill claims an utterance when P(out of skill) is under this (fitted on dev by export.skill);
        # skills exported before it claim when their best intent is not the out-of-skill one
        self.claim_threshold: float | None = (m.raw.get("claim") or {}).get("threshold")
        self.lexical = m.lexical()  # a lexical intent model beside the graph (elmol_nlu.lexical), or None

    def claims(self, probs: np.ndarray) -> bool:
        """Whether the utterance is the skill's own: never when its best intent is the out-of-skill one (a
        threshold above 0.5 would otherwise let it claim, then answer with a fallback), else under the threshold."""
        if self.out_of_skill is None:
            return True
        if int(probs.argmax()) == self.out_of_skill:
            return False
        return self.claim_threshold is None or float(probs[self.out_of_skill]) < self.claim_threshold

    def claim_confidence(self, probs: np.ndarray) -> float:
        """How sure the skill is that the utterance is its own: 1 - P(out of skill) for a skill that learned what
        is not its own, else its best intent's probability."""
        return float(probs.max()) if self.out_of_skill is None else 1.0 - float(probs[self.out_of_skill])

    def run(self, chunks: list[Chunk], words: list[list[str]], time: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw outputs for the encoded batch of tokenised sentences ``words``: logits (batch, I) (with a lexical
        model, combined with its), emissions (batch, time, K); emissions past a sentence's length are padding,
        whatever their values (read each sentence's first rows)."""
        calls = [({"layers": chunk.layers, "lengths": chunk.lengths}, chunk.rows) for chunk in chunks]
        logits, emissions = heads_outputs(self.session, calls, len(words), time, len(self.manifest.intents),
                                          len(self.manifest.tags))
        if self.lexical is None:
            return logits, emissions
        pooled = np.concatenate([pooled_layers(chunk.layers, chunk.lengths) for chunk in chunks])
        return self.lexical.intent_logits(logits, words, pooled), emissions

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of one row of logits, softmax(logits / temperature) in float64.

        float64: distinct float32 logits stay distinct after the temperature, so the answer (argmax) and the
        ranking are those of the logits at any temperature. In place, by the ufuncs themselves: four numpy
        calls instead of seven, on the path after the graph where each call pays for a cold cache.
        """
        z = np.divide(logits, self.intent_temperature, dtype=np.float64)
        if self.multi_threshold is not None:  # a multi-intent model: each intent's own probability
            return sigmoid(z)
        z -= np.maximum.reduce(z)
        np.exp(z, out=z)
        z /= np.add.reduce(z)
        return z

    def decode(self, text: str, tokens: list[Token], probs: np.ndarray, emissions: np.ndarray) -> Parse:
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
                     probs, self.manifest.intents, post, self.name, self.claims(probs),
                     intents=self.answered(probs, best))

    def answered(self, probs: np.ndarray, best: int) -> list[tuple[str, float]]:
        """The intents answered, most probable first: the ``best`` alone, or for a multi-intent model every one at
        or above its threshold (the out-of-skill class only when it is the best)."""
        names = self.manifest.intents
        chosen = [best] if self.multi_threshold is None else found(probs, self.multi_threshold)
        chosen = [i for i in chosen if i != self.out_of_skill] or chosen[:1]
        return [(names[i], float(probs[i])) for i in chosen]
