"""The one batched evaluation loop of an ONNX model: its predictions on annotated utterances, scored by
``elmol_nlu.scoring`` (the int8 gate, the shipped-model tests and ``elmol-nlu skill eval`` all use it)."""

from __future__ import annotations

from pathlib import Path

from elmol_nlu.datasets import TaggedExample
from elmol_nlu.runtime.predictor import Predictor
from elmol_nlu.scoring import Prediction, metrics, score

BATCH = 64


def predict_gold(predictor: Predictor, gold: list[TaggedExample], batch: int = BATCH) -> list[Prediction]:
    """The predictor's intent and tags of each utterance, in batches; the tokens must be the data loader's."""
    predictions = []
    for i in range(0, len(gold), batch):
        chunk = gold[i : i + batch]
        for g, parse in zip(chunk, predictor.parse_batch([g.example.text for g in chunk]), strict=True):
            if [t.text for t in parse.tokens] != g.words:
                raise ValueError(f"the service tokenises {g.example.text!r} unlike the data loader")
            predictions.append(Prediction(parse.intent_label, parse.tags, parse.intent_probs))
    return predictions


def predictor_metrics(predictor: Predictor, gold: list[TaggedExample], batch: int = BATCH) -> dict[str, float]:
    """Intent accuracy, slot F1 and exact match of an ONNX predictor, computed as training computes them."""
    return metrics(gold, predict_gold(predictor, gold, batch))


def evaluate_dir(model_dir: Path, gold: list[TaggedExample], precision: str) -> dict:
    """``score``'s report of a model directory on ``gold``, with the model's name, version and precision."""
    predictor = Predictor.load(model_dir, precision=precision)
    return {**score(gold, predict_gold(predictor, gold)), "model": {"name": predictor.manifest.name,
                                                                    "version": predictor.manifest.version,
                                                                    "precision": predictor.precision}}
