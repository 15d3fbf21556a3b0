"""The MiniLM peer and teacher: a real (tiny) fine-tune, prediction, ONNX export, parity with torch and batch-1
timing. Its packages are the `baselines` extra, which `make install` installs, so CI runs it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from elmol_nlu.datasets import CharSlot, Example, TaggedExample, read_massive, tag
from experiments.baselines.minilm_onnx import MiniLMOnnx, export_minilm_onnx, onnx_latency
from tests.conftest import MASSIVE
from training.minilm import MiniLMConfig, MiniLMJoint, epochs_for, fit_minilm, predict_minilm
from training.minilm_text import encode, load_tokenizer, pad, repair_bio

MAX_LEN = 16


def long_example() -> TaggedExample:
    """More words than MAX_LEN sub-tokens hold, with a slot past the cut."""
    text = "please tell me what the weather will be like for the whole of next week in san francisco"
    start = text.index("san francisco")
    return tag(Example(text, "weather_query", (CharSlot("place_name", start, len(text)),), "weather"))


@pytest.fixture(scope="module")
def fitted() -> tuple[MiniLMJoint, list[str], list[str], list[TaggedExample]]:
    torch.set_num_threads(1)
    train = [t for e in read_massive(MASSIVE, "train") if e.domain == "weather" and (t := tag(e)).tokens][:23]
    train.append(long_example())
    model, intents, tags = fit_minilm(train, MiniLMConfig(epochs=1, max_len=MAX_LEN, batch_size=8))
    return model, intents, tags, train


@pytest.fixture(scope="module")
def onnx_path(fitted: tuple, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("minilm") / "model.onnx"
    export_minilm_onnx(fitted[0], path)
    return path


def test_epochs_give_enough_steps_within_bounds() -> None:
    cfg = MiniLMConfig()
    assert epochs_for(500, cfg) == 10  # 32 steps an epoch
    assert epochs_for(100, cfg) == 40  # 7 steps an epoch: the ceiling
    assert epochs_for(5000, cfg) == 5  # the floor
    assert epochs_for(100, MiniLMConfig(epochs=3)) == 3


def test_invalid_bio_is_repaired() -> None:
    assert repair_bio(["I-a", "I-a", "O", "B-b", "I-a", "I-b"]) == ["B-a", "I-a", "O", "B-b", "B-a", "B-b"]


def test_predictions_tag_every_word_even_past_max_len(fitted: tuple) -> None:
    model, intents, tags, train = fitted
    predictions = predict_minilm(model, intents, tags, train)
    assert [len(p.tags) for p in predictions] == [len(e.words) for e in train]
    assert all(p.intent in intents and set(p.tags) <= set(tags) for p in predictions)
    cut = encode(load_tokenizer(MAX_LEN), long_example().words).first
    assert cut[-1] == -1 and predictions[-1].tags[-1] == "O"  # "francisco" has no sub-token within MAX_LEN


def test_onnx_matches_torch_and_is_timed(fitted: tuple, onnx_path: Path) -> None:
    model, intents, tags, train = fitted
    onnx_model = MiniLMOnnx(onnx_path)
    assert (onnx_model.intents, onnx_model.tags) == (intents, tags)
    ids, mask = pad([encode(onnx_model.tokenizer, e.words) for e in train])  # padded: dynamic batch and length
    with torch.no_grad():
        expected = [t.numpy() for t in model(torch.from_numpy(ids), torch.from_numpy(mask))]
    for got, want in zip(onnx_model.logits(ids, mask), expected, strict=True):
        assert np.allclose(got, want, atol=1e-4)
    parsed = [onnx_model.parse(e.example.text) for e in train[:5]]
    assert [(p.intent, p.tags) for p in parsed] == [(p.intent, p.tags) for p in predict_minilm(
        model, intents, tags, train[:5])]
    latency = onnx_latency(onnx_path, [e.example.text for e in train], n=30, warmup=4)
    assert {"n", "p50", "p90", "p99", "mean"} <= latency.keys() and latency["n"] == 30
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"]
