"""Intent and slots of utterances with onnxruntime: tokenize, run the graphs, decode the CRF (``elmol_nlu.crf``).

One encoder (token and encoder graphs) feeds the heads of one or more skills: model directories whose
manifests share the encoder's ``encoder_id``. The encoder runs once per utterance, then each skill's heads;
one or two utterances that only the model's own heads answer take its joined int8 graph instead (one call a
sentence, the same outputs: ``export.join``). Knows nothing of HTTP. Never imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import onnxruntime as ort

from elmol_nlu.crf import CRFPosterior, Posterior, ViterbiDecoder
from elmol_nlu.manifest import Manifest, ManifestError, load_manifest
from elmol_nlu.text import Token, char_ids, tokenize
from elmol_nlu.vocab import bio_spans
from service.token_cache import TokenVectorCache

# Batches of at most this many sentences that only the model's own heads answer take the joined graph, one
# call a sentence: 1 and 2 sentences cost 54 and 20 us less a sentence that way, 3 and 4 the same (in process)
JOINED_MAX_BATCH = 2


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
    skill: str = ""  # the skill whose heads gave this answer
    claimed: bool = True  # False when the skill's best intent is its out-of-skill class: not its utterance
    per_skill: dict[str, Parse] | None = field(default=None, compare=False, repr=False)  # when asked for

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


def session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initializers are noise here
    return options


@dataclass(frozen=True)
class Selection:
    """Which skills may answer an utterance (None: all), and whether each one's parse is wanted too."""

    skills: tuple[str, ...] | None = None
    per_skill: bool = False


ALL_SKILLS = Selection()


@dataclass(frozen=True)
class Chunk:
    """One encoder call: the layers (L, b, t, E) of ``rows`` of the batch, and their lengths."""

    layers: np.ndarray
    lengths: np.ndarray
    rows: slice


def heads_outputs(session: ort.InferenceSession, calls: list[tuple[dict[str, np.ndarray], slice]], batch: int,
                  time: int, n_intents: int, n_tags: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits (batch, I) and emissions (batch, time, K) of a graph ending in the heads, from calls (feed, rows)
    that each cover some rows of the batch; emissions past a sentence's length are padding (read each
    sentence's first rows). A single call of the whole batch comes back as it is."""
    if len(calls) == 1 and calls[0][1] == slice(0, batch):
        logits, emissions = session.run(None, calls[0][0])
        if emissions.shape[1] == time:
            return logits, emissions
        calls_out = [(calls[0][1], logits, emissions)]
    else:
        calls_out = [(rows, *session.run(None, feed)) for feed, rows in calls]
    logits = np.zeros((batch, n_intents), dtype=np.float32)
    emissions = np.zeros((batch, time, n_tags), dtype=np.float32)
    for rows, call_logits, call_emissions in calls_out:
        logits[rows] = call_logits
        emissions[rows, : call_emissions.shape[1]] = call_emissions
    return logits, emissions


def open_session(path: Path, threads: int) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for a bad graph
        raise ManifestError(f"{path} is not a loadable ONNX graph: {e}") from None


def check_io(session: ort.InferenceSession, path: Path, inputs: list[str], outputs: set[str]) -> dict[str, list]:
    """The graph's input names and output names are the contract's; returns the output shapes."""
    names = [i.name for i in session.get_inputs()]
    shapes = {o.name: o.shape for o in session.get_outputs()}
    if names != inputs or set(shapes) != outputs:
        raise ManifestError(f"{path}: inputs {names} and outputs {list(shapes)}, expected {inputs} and "
                            f"{sorted(outputs)}: re-export")
    return shapes


class Encoder:
    """The token graph (char CNN, run only for words the ``TokenVectorCache`` has not seen) and the encoder
    graph (the language model's biLSTM), which every skill on this ``encoder_id`` shares."""

    def __init__(self, manifest: Manifest, threads: int, cache_size: int, precision: str, verify_gate: bool) -> None:
        self.encoder_id, self.precision, self.max_chars = manifest.encoder_id, precision, manifest.max_chars
        token_path, encoder_path = (manifest.graph_path(r, precision, verify_gate) for r in ("tokens", "encoder"))
        self.token_session = open_session(token_path, threads)
        self.session = open_session(encoder_path, threads)
        check_io(self.token_session, token_path, ["chars"], {"vectors"})
        check_io(self.session, encoder_path, ["tokens", "lengths"], {"layers"})
        dim = self.session.get_inputs()[0].shape[-1]
        token_dim = self.token_session.get_outputs()[0].shape[-1]  # symbolic after the char CNN's reshape
        if isinstance(token_dim, int) and token_dim != dim:
            raise ManifestError(f"{token_path} gives {token_dim}-d vectors, {encoder_path} takes {dim}: re-export")
        self.token_cache = TokenVectorCache(self._token_vectors, dim, manifest.warm_words, cache_size)

    def _token_vectors(self, words: list[str]) -> np.ndarray:
        return self.token_session.run(None, {"chars": char_ids(words, self.max_chars)})[0]

    def feeds(self, token_lists: list[list[Token]]) -> list[tuple[dict[str, np.ndarray], slice]]:
        """The encoder's inputs for tokenised sentences (each non-empty), and the batch rows each one covers.

        Each sentence's layers are the same alone or in any batch: fp32 pads and masks; int8 quantises
        activations with one scale per call, so it runs one call per sentence (batching gains it nothing).
        """
        lengths = np.array([len(toks) for toks in token_lists], dtype=np.int64)
        vectors = self.token_cache.lookup([t.text for toks in token_lists for t in toks])
        if self.precision == "fp32" and len(token_lists) > 1:
            tokens = np.zeros((len(token_lists), int(lengths.max()), vectors.shape[1]), dtype=np.float32)
            tokens[np.arange(tokens.shape[1])[None, :] < lengths[:, None]] = vectors  # padding stays 0: masked out
            return [({"tokens": tokens, "lengths": lengths}, slice(0, len(lengths)))]
        if len(token_lists) == 1:
            return [({"tokens": vectors[None], "lengths": lengths}, slice(0, 1))]
        ends = np.cumsum(lengths).tolist()  # one sentence a call: its rows of ``vectors``, no padding
        return [({"tokens": vectors[None, end - n : end], "lengths": lengths[i : i + 1]}, slice(i, i + 1))
                for i, (n, end) in enumerate(zip(lengths.tolist(), ends, strict=True))]

    def encode(self, token_lists: list[list[Token]]) -> list[Chunk]:
        """The encoder's layers for tokenised sentences (each non-empty), one chunk per call (see ``feeds``)."""
        return [Chunk(self.session.run(None, feed)[0], feed["lengths"], rows) for feed, rows in self.feeds(token_lists)]


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
        crf_temperature = m.temperature("crf") if calibrated else 1.0
        self.posterior = (CRFPosterior(m.tags, m.crf_start, m.crf_transitions, m.crf_end, crf_temperature)
                          if confidences else None)
        self._tag_index = {t: i for i, t in enumerate(m.tags)}
        other = m.raw.get("out_of_skill")  # the intent a skill trained with out-of-skill utterances gives them
        self.out_of_skill: int | None = m.intents.index(other) if other in m.intents else None

    def claims(self, probs: np.ndarray) -> bool:
        return self.out_of_skill is None or int(probs.argmax()) != self.out_of_skill

    def run(self, chunks: list[Chunk], batch: int, time: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw outputs for the encoded batch: logits (batch, I), emissions (batch, time, K); emissions past a
        sentence's length are padding, whatever their values (read each sentence's first rows)."""
        calls = [({"layers": chunk.layers, "lengths": chunk.lengths}, chunk.rows) for chunk in chunks]
        return heads_outputs(self.session, calls, batch, time, len(self.manifest.intents), len(self.manifest.tags))

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of one row of logits, softmax(logits / temperature) in float64.

        float64: distinct float32 logits stay distinct after the temperature, so the answer (argmax) and the
        ranking are those of the logits at any temperature. In place, by the ufuncs themselves: four numpy
        calls instead of seven, on the path after the graph where each call pays for a cold cache.
        """
        z = np.divide(logits, self.intent_temperature, dtype=np.float64)
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
                     probs, self.manifest.intents, post, self.name, self.claims(probs))


class Predictor:
    """The encoder of a model directory and its skills' heads; safe to call from several threads.

    The model directory's own heads are the first skill; ``with_skill`` and ``without_skill`` give a new
    predictor over the same encoder sessions and token cache, so a running service swaps them in one
    assignment while requests in flight finish on the old set.
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
        self._options = {"threads": threads, "precision": precision, "verify_gate": verify_gate,
                         "calibrated": calibrated, "confidences": confidences}
        self.encoder = Encoder(self.manifest, threads, cache_size, precision, verify_gate)
        self.primary = SkillHeads(self.manifest, **self._options)
        self.skills: dict[str, SkillHeads] = {self.primary.name: self.primary}
        # encoder and these heads in one graph, when the model directory has it (int8): for one or two utterances
        # that only these heads answer, one call a sentence instead of two, with the same outputs (export.join)
        joined_path = self.manifest.optional_graph_path("joined", precision, verify_gate)
        self.joined = open_session(joined_path, threads) if joined_path else None
        if self.joined is not None:
            check_io(self.joined, joined_path, ["tokens", "lengths"], {"intent_logits", "slot_emissions"})

    # the primary skill's parts, as a single-model caller (export, calibration, benchmarks) knows them
    @property
    def token_cache(self) -> TokenVectorCache:
        return self.encoder.token_cache

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
        return SkillHeads(manifest, **self._options)

    def with_skills(self, skills: Iterable[SkillHeads]) -> Predictor:
        """A predictor over the same encoder whose skills are the primary and ``skills`` (replacing any of the
        same name; the primary's name is reserved)."""
        new = object.__new__(Predictor)
        new.__dict__.update(self.__dict__)
        new.skills = dict(self.skills)
        for skill in skills:
            if skill.name == self.primary.name:
                raise ManifestError(f"skill name {skill.name!r} is the served model's: rename the skill")
            new.skills[skill.name] = skill
        return new

    def without_skill(self, name: str) -> Predictor:
        if name == self.primary.name:
            raise KeyError(f"{name!r} is the served model itself and cannot be removed")
        if name not in self.skills:
            raise KeyError(f"no skill {name!r}; loaded: {', '.join(self.skills)}")
        new = self.with_skills([])
        del new.skills[name]
        return new

    def run(self, token_lists: list[list[Token]]) -> tuple[np.ndarray, np.ndarray]:
        """The primary skill's raw outputs for tokenised sentences: logits (B, I), emissions (B, T, K) (rows past a
        sentence's length are padding)."""
        chunks = self.encoder.encode(token_lists)
        return self.primary.run(chunks, len(token_lists), max(len(t) for t in token_lists))

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
        if self.joined is not None and len(texts) <= JOINED_MAX_BATCH and wanted == {self.primary.name}:
            m = self.manifest
            raw = heads_outputs(self.joined, self.encoder.feeds(token_lists), len(texts), time, len(m.intents),
                                len(m.tags))
            outputs = {self.primary.name: (self.primary, *raw)}
        else:
            chunks = self.encoder.encode(token_lists)
            outputs = {name: (skill, *skill.run(chunks, len(texts), time))
                       for name, skill in self.skills.items() if name in wanted}
        return [self._answer(i, text, tokens, selection, outputs)
                for i, (text, tokens, selection) in enumerate(zip(texts, token_lists, selections, strict=True))]

    def _answer(self, row: int, text: str, tokens: list[Token], selection: Selection, outputs: dict) -> Parse:
        """Specialists first: a skill that learned what is not its own (an out-of-skill class) and claims the
        utterance answers before one that cannot tell (the base model), the most confident among them;
        when none claims it, the unclaimed answer is a fallback."""
        names = selection.skills or tuple(self.skills)
        probs = {name: outputs[name][0].probabilities(outputs[name][1][row]) for name in names}

        def rank(name: str) -> tuple[bool, bool, float]:
            skill = outputs[name][0]
            claims = skill.claims(probs[name])
            return claims, claims and skill.out_of_skill is not None, float(probs[name].max())

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
