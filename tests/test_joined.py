"""The joined int8 graph (encoder and heads in one, ``export.join``) of each committed model: the same outputs as
the two graphs it joins, bit for bit, and used only for one or two utterances that the model's own heads alone
answer."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
from conftest import MASSIVE, SHIPPED_MODEL_DIRS, TinyModel

from elmol_nlu.datasets import read_massive
from elmol_nlu.runtime import JOINED_MAX_BATCH, Predictor, Selection
from elmol_nlu.text import tokenize

TEXTS = [e.text for e in read_massive(MASSIVE, "test")[:300]]


@pytest.fixture(scope="module", params=SHIPPED_MODEL_DIRS, ids=lambda d: d.name)
def shipped(request: pytest.FixtureRequest) -> Predictor:
    """Each committed model, as the service serves it (int8)."""
    return Predictor.load(request.param, precision="int8")


def test_the_shipped_model_has_a_joined_int8_graph(shipped: Predictor) -> None:
    assert shipped.joined is not None
    assert Predictor.load(shipped.manifest.directory, precision="fp32").joined is None  # fp32 keeps the two graphs


def test_joined_graph_equals_encoder_then_heads(shipped: Predictor) -> None:
    for text in TEXTS:
        tokens = tokenize(text)
        feed = {"tokens": shipped.encoder.token_cache.lookup([t.text for t in tokens])[None],
                "lengths": np.array([len(tokens)], dtype=np.int64)}
        layers = shipped.encoder.session.run(None, feed)[0]
        two = shipped.primary.session.run(None, {"layers": layers, "lengths": feed["lengths"]})
        for joined, separate in zip(shipped.joined.run(None, feed), two, strict=True):
            np.testing.assert_array_equal(joined, separate)


def answers(predictor: Predictor, texts: list[str], batch: int) -> list[tuple]:
    out = []
    for i in range(0, len(texts), batch):
        for p in predictor.parse_batch(texts[i : i + batch]):
            out.append((p.intent, p.confidence, tuple(p.tags), p.sequence_confidence,
                        tuple((s.name, s.value, s.confidence) for s in p.slots), tuple(p.intent_probs)))
    return out


@pytest.mark.parametrize("batch", [1, 2, 8])
def test_answers_are_the_same_with_and_without_the_joined_graph(shipped: Predictor, batch: int) -> None:
    two_graphs = replace(shipped, graphs=replace(shipped.graphs, joined=None))
    assert answers(shipped, TEXTS, batch) == answers(two_graphs, TEXTS, batch)


class CountingSession:
    def __init__(self, session) -> None:
        self.session, self.calls = session, 0

    def run(self, names, feed):
        self.calls += 1
        return self.session.run(names, feed)


def test_joined_graph_only_answers_for_the_models_own_heads(tiny_model: TinyModel) -> None:
    loaded = Predictor.load(tiny_model.model_dir, precision="int8", verify_gate=False)
    assert loaded.joined is not None  # export writes it with the int8 graphs
    counting = CountingSession(loaded.joined)
    predictor = replace(loaded, graphs=replace(loaded.graphs, joined=counting))
    for text in TEXTS[:3]:
        predictor.parse(text)
    assert counting.calls == 3
    predictor.parse_batch(TEXTS[:2])
    assert counting.calls == 5  # one call a sentence up to JOINED_MAX_BATCH
    predictor.parse_batch(TEXTS[:JOINED_MAX_BATCH + 1])
    assert counting.calls == 5  # a larger batch keeps each graph's weights cached over its sentences: two graphs
    # another skill on this encoder: its heads run too
    with_other = replace(predictor, skills={**predictor.skills, "other": predictor.primary})
    alone = with_other.parse_batch(TEXTS[:1], [Selection((predictor.primary.name,))])
    assert counting.calls == 6
    both = with_other.parse_batch(TEXTS[:1])
    assert counting.calls == 6  # the encoder and each skill's heads, not the joined graph
    assert both[0].tags == alone[0].tags


def test_joined_graph_is_specialised_to_one_unpadded_sentence(shipped: Predictor) -> None:
    import onnx

    ops = {node.op_type for node in onnx.load(str(shipped.manifest.directory / "joined.int8.onnx")).graph.node}
    assert not ops & {"Transpose", "Where", "Range", "Less", "Split", "Squeeze"}  # masks, batch moves, the stack
    tokens = shipped.encoder.token_cache.lookup(["wake", "me", "up"])
    with pytest.raises(Exception, match=r"(?i)dimension|shape"):  # a batch is refused, not answered wrongly
        shipped.joined.run(None, {"tokens": np.stack([tokens, tokens]), "lengths": np.array([3, 3])})


@pytest.mark.parametrize("temperature", [1.0, 1.056, 2.5])
def test_intent_probabilities_are_the_plain_float64_softmax_bit_for_bit(shipped: Predictor, temperature: float) -> None:
    skill = copy.copy(shipped.primary)  # the module's predictor keeps its own temperature
    skill.intent_temperature = temperature
    rng = np.random.default_rng(0)
    for logits in (rng.standard_normal((200, 60)) * 6).astype(np.float32):
        z = logits.astype(np.float64) / temperature
        reference = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        np.testing.assert_array_equal(skill.probabilities(logits), reference)
