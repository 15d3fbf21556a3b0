"""Batched prediction and the metrics we report: intent accuracy, slot F1 (seqeval), exact match."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from seqeval.metrics import f1_score

from elmol_nlu.datasets import TaggedExample
from elmol_nlu.text import batch_char_ids
from elmol_nlu.vocab import Vocab
from training.finetune import word_ids
from training.nlu import JointNLU, lengths_to_mask


@dataclass(frozen=True)
class Prediction:
    intent: str
    tags: list[str]
    intent_probs: np.ndarray


def metrics(gold: list[TaggedExample], pred: list[Prediction]) -> dict[str, float]:
    """Percentages: intent accuracy, CoNLL span F1 of slots, and exact match of intent and all tags."""
    intent_ok = [g.example.intent == p.intent for g, p in zip(gold, pred, strict=True)]
    exact = [ok and g.tags == p.tags for ok, g, p in zip(intent_ok, gold, pred, strict=True)]
    slot_f1 = f1_score([g.tags for g in gold], [p.tags for p in pred])
    return {
        "intent_acc": 100 * float(np.mean(intent_ok)),
        "slot_f1": 100 * float(slot_f1),
        "exact_match": 100 * float(np.mean(exact)),
        "n": len(gold),
    }


@torch.no_grad()
def predict(model: JointNLU, examples: list[TaggedExample], intents: Vocab, tags: Vocab,
            batch_size: int = 64) -> list[Prediction]:
    was_training = model.training
    model.eval()
    out: list[Prediction] = []
    for i in range(0, len(examples), batch_size):
        chunk = examples[i : i + batch_size]
        chars, lengths = batch_char_ids([e.words for e in chunk], model.cfg.lm.max_chars)
        chars_t, lengths_t = torch.from_numpy(chars), torch.from_numpy(lengths)
        words = word_ids([e.words for e in chunk], model.word_vocab, chars.shape[1])
        intent_logits, emissions = model(chars_t, lengths_t, words)
        paths = model.crf.decode(emissions, lengths_to_mask(lengths_t, chars.shape[1]))
        probs = torch.softmax(intent_logits, dim=1).numpy()
        for p, path in zip(probs, paths, strict=True):
            out.append(Prediction(intents.itos[int(p.argmax())], [tags.itos[t] for t in path], p))
    model.train(was_training)
    return out
