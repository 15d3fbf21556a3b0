"""Intent and slots of utterances with onnxruntime: tokenize, run the graphs, decode the CRF (``elmol_nlu.crf``).

One encoder (token and encoder graphs) feeds the heads of one or more skills: model directories whose
manifests share the encoder's ``encoder_id``. The encoder runs once per utterance, then each skill's heads;
one or two utterances that only the model's own heads answer take its joined int8 graph instead (one call a
sentence, the same outputs: ``export.join``). Knows nothing of HTTP. Never imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnxruntime as ort

from elmol_nlu.crf import ViterbiDecoder
from elmol_nlu.manifest import Manifest, ManifestError, load_manifest
from elmol_nlu.posterior import CRFPosterior
from elmol_nlu.runtime.encoder import Encoder
from elmol_nlu.runtime.heads import SkillHeads
from elmol_nlu.runtime.parse import ALL_SKILLS, Parse, Selection
from elmol_nlu.runtime.sessions import check_io, heads_outputs, open_session
from elmol_nlu.runtime.token_cache import TokenVectorCache
from elmol_nlu.text import Token, tokenize

# Batches of at most this many sentences that only the model's own heads answer take the joined graph, one
# call a sentence: 1 and 2 sentences cost 54 and 20 us less a sentence that way, 3 and 4 the same (in process)
JOINED_MAX_BATCH = 2


@dataclass(frozen=True, eq=False)
class ModelGraphs:
    """A model directory's sessions, which every predictor made from it shares: the encoder, the directory's own
    heads (the primary skill) and, in int8, both in one joined graph; ``options`` open other skills' heads alike."""

    manifest: Manifest
    precision: str
    options: Mapping[str, object]
    encoder: Encoder
    primary: SkillHeads
    joined: ort.InferenceSession | None


def load_graphs(model_dir: Path, threads: int, cache_size: int, precision: str, verify_gate: bool, calibrated: bool,
                confidences: bool, spelling: bool = True) -> ModelGraphs:
    manifest = load_manifest(Path(model_dir))
    if precision == "auto":
        precision = "int8" if manifest.precision_available("int8") else "fp32"
    options = {"threads": threads, "precision": precision, "verify_gate": verify_gate, "calibrated": calibrated,
               "confidences": confidences}
    encoder = Encoder(manifest, threads, cache_size, precision, verify_gate, spelling)
    # encoder and these heads in one graph, when the model directory has it (int8): for one or two utterances
    # that only these heads answer, one call a sentence instead of two, with the same outputs (export.join)
    joined_path = manifest.optional_graph_path("joined", precision, verify_gate)
    joined = open_session(joined_path, threads) if joined_path else None
    if joined is not None:
        check_io(joined, joined_path, ["tokens", "lengths"], {"intent_logits", "slot_emissions"})
    return ModelGraphs(manifest, precision, options, encoder, SkillHeads(manifest, **options), joined)


@dataclass(frozen=True, eq=False)
class Predictor:
    """The encoder of a model directory and its skills' heads; safe to call from several threads.

    The model directory's own heads are the first skill; ``with_skills`` and ``without_skill`` give a new
    predictor over the same graphs (encoder sessions and token cache), so a running service swaps them in one
    assignment while requests in flight finish on the old set.
    """

    graphs: ModelGraphs
    skills: Mapping[str, SkillHeads]

    @classmethod
    def load(cls, model_dir: Path | str, threads: int = 1, cache_size: int = 50_000, precision: str = "fp32",
             verify_gate: bool = True, calibrated: bool = True, confidences: bool = True,
             spelling: bool = True) -> Predictor:
        """``precision`` "fp32", "int8" (only if it passed its accuracy gate), or "auto" (int8 if it did).

        ``calibrated`` applies the manifest's temperatures (fitted on dev) to intent and CRF probabilities;
        ``confidences`` computes the CRF posterior behind slot, sequence and token confidences; ``spelling``
        corrects unknown words when the model directory has a spelling vocabulary (off: the graphs alone, as
        parity checks them).
        """
        graphs = load_graphs(Path(model_dir), threads, cache_size, precision, verify_gate, calibrated, confidences,
                             spelling)
        return cls(graphs, {graphs.primary.name: graphs.primary})

    # the model directory's parts, as a single-model caller (export, calibration, benchmarks) knows them
    @property
    def manifest(self) -> Manifest:
        return self.graphs.manifest

    @property
    def precision(self) -> str:
        return self.graphs.precision

    @property
    def encoder(self) -> Encoder:
        return self.graphs.encoder

    @property
    def primary(self) -> SkillHeads:
        return self.graphs.primary

    @property
    def joined(self) -> ort.InferenceSession | None:
        return self.graphs.joined

    @property
    def token_cache(self) -> TokenVectorCache:
        return self.graphs.encoder.token_cache

    @property
    def decoder(self) -> ViterbiDecoder:
        return self.primary.decoder

    @property
    def posterior(self) -> CRFPosterior | None:
        return self.primary.posterior

    @property
    def intent_temperature(self) -> float:
        return self.primary.intent_temperature

    def load_skill(self, model_dir: Path) -> SkillHeads:
        """A skill's heads, checked against this encoder; raises ManifestError with what to do."""
        manifest = load_manifest(Path(model_dir))
        if manifest.encoder_id != self.encoder.encoder_id:
            raise ManifestError(
                f"{model_dir} was trained on encoder {manifest.encoder_id[:12]}, this service runs "
                f"{self.encoder.encoder_id[:12]} ({self.manifest.name}): retrain it with --base on the served model")
        return SkillHeads(manifest, **self.graphs.options)

    def with_skills(self, skills: Iterable[SkillHeads]) -> Predictor:
        """A predictor over the same graphs whose skills are these and ``skills`` (replacing any of the same
        name; the primary's name is reserved)."""
        new = dict(self.skills)
        for skill in skills:
            if skill.name == self.primary.name:
                raise ManifestError(f"skill name {skill.name!r} is the served model's: rename the skill")
            new[skill.name] = skill
        return replace(self, skills=new)

    def without_skill(self, name: str) -> Predictor:
        if name == self.primary.name:
            raise KeyError(f"{name!r} is the served model itself and cannot be removed")
        if name not in self.skills:
            raise KeyError(f"no skill {name!r}; loaded: {', '.join(self.skills)}")
        return replace(self, skills={k: v for k, v in self.skills.items() if k != name})

    def run(self, token_lists: list[list[Token]]) -> tuple[np.ndarray, np.ndarray]:
        """The primary skill's raw outputs for tokenised sentences: logits (B, I), emissions (B, T, K) (rows past a
        sentence's length are padding)."""
        chunks = self.encoder.encode(token_lists)
        return self.primary.run(chunks, [[t.text for t in toks] for toks in token_lists],
                                max(len(t) for t in token_lists))

    def check_selection(self, selection: Selection) -> None:
        """Raises KeyError naming a requested skill that is not loaded."""
        unknown = [s for s in selection.skills or () if s not in self.skills]
        if unknown:
            raise KeyError(f"unknown skill {unknown[0]!r}; loaded: {', '.join(self.skills)}")

    def _loaded(self, selection: Selection | None) -> Selection:
        if selection is None or selection.skills is None:
            return selection or ALL_SKILLS
        names = tuple(name for name in selection.skills if name in self.skills)
        return selection if names == selection.skills else replace(selection, skills=names or None)

    def parse_batch(self, texts: list[str], selections: Sequence[Selection] | None = None) -> list[Parse]:
        """The best parse of each text across its selected skills (all by default; see ``_answer``)."""
        token_lists = [tokenize(text) for text in texts]
        if any(not tokens for tokens in token_lists):
            raise ValueError("every text needs at least one non-space character")
        # unknown names are dropped, not refused: the route checked them, and a skill removed since then
        # leaves the others to answer
        selections = [self._loaded(s) for s in selections] if selections else [ALL_SKILLS] * len(texts)
        time = max(len(t) for t in token_lists)
        wanted = {name for s in selections for name in (s.skills or self.skills)}
        # A larger batch runs every encoder call, then every heads call: the weights of each graph stay in the
        # cache across the batch, which one joined call a sentence would lose (at 3 and more, measured).
        if (self.joined is not None and len(texts) <= JOINED_MAX_BATCH and wanted == {self.primary.name}
                and self.primary.lexical is None):
            m = self.manifest
            raw = heads_outputs(self.joined, self.encoder.feeds(token_lists), len(texts), time, len(m.intents),
                                len(m.tags))
            outputs = {self.primary.name: (self.primary, *raw)}
        else:
            chunks = self.encoder.encode(token_lists)
            words = [[t.text for t in toks] for toks in token_lists]
            outputs = {name: (skill, *skill.run(chunks, words, time))
                       for name, skill in self.skills.items() if name in wanted}
        return [self._answer(i, text, tokens, selection, outputs)
                for i, (text, tokens, selection) in enumerate(zip(texts, token_lists, selections, strict=True))]

    def _answer(self, row: int, text: str, tokens: list[Token], selection: Selection, outputs: dict) -> Parse:
        """Specialists first: a skill that learned what is not its own (an out-of-skill class) and claims the
        utterance answers before one that cannot tell (the base model); among them the surest that the utterance
        is its own (the lowest calibrated P(out of skill)); when none claims it, the unclaimed answer is a
        fallback."""
        names = selection.skills or tuple(self.skills)
        probs = {name: outputs[name][0].probabilities(outputs[name][1][row]) for name in names}

        def rank(name: str) -> tuple[bool, bool, float]:
            skill = outputs[name][0]
            claims = skill.claims(probs[name])
            return claims, claims and skill.out_of_skill is not None, skill.claim_confidence(probs[name])

        best = max(names, key=rank)  # the first listed wins a tie

        def decode(name: str) -> Parse:
            skill, _, emissions = outputs[name]
            return skill.decode(text, tokens, probs[name], emissions[row, : len(tokens)])

        if not selection.per_skill:
            return decode(best)
        each = {name: decode(name) for name in names}
        return replace(each[best], per_skill=each)

    def parse(self, text: str) -> Parse:
        return self.parse_batch([text])[0]
