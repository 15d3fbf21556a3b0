"""Batched prediction of a PyTorch joint model; its metrics are ``elmol_nlu.scoring.metrics``, as for ONNX."""

from __future__ import annotations

import torch

from elmol_nlu.datasets import TaggedExample
from elmol_nlu.intents import found, join_intents
from elmol_nlu.lexical import LexicalHead, pooled_layers
from elmol_nlu.scoring import Prediction
from elmol_nlu.text import batch_char_ids
from elmol_nlu.vocab import Vocab
from training.finetune import word_ids
from training.nlu import JointNLU, lengths_to_mask


def served_outputs(model: JointNLU, chars: torch.Tensor, lengths: torch.Tensor, sentences: list[list[str]],
                   lexical: LexicalHead | None = None,
                   words: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Intent logits and slot emissions as the service computes them: with ``lexical``, the intent logits are
    combined with the lexical model's on the encoder's layers (``elmol_nlu.lexical``)."""
    if lexical is None:
        return model(chars, lengths, words)
    layers = model.encoder(chars, lengths)
    logits, emissions = model.heads(layers, lengths)
    pooled = pooled_layers(torch.stack(layers).numpy(), lengths.numpy())
    return torch.from_numpy(lexical.intent_logits(logits.numpy(), sentences, pooled)), emissions


@torch.no_grad()
def predict(model: JointNLU, examples: list[TaggedExample], intents: Vocab, tags: Vocab,
            batch_size: int = 64, lexical: LexicalHead | None = None) -> list[Prediction]:
    """The model's answers; with ``lexical``, its intent logits are combined with the lexical model's, as served."""
    was_training = model.training
    model.eval()
    out: list[Prediction] = []
    for i in range(0, len(examples), batch_size):
        chunk = examples[i : i + batch_size]
        chars, lengths = batch_char_ids([e.words for e in chunk], model.cfg.lm.max_chars)
        chars_t, lengths_t = torch.from_numpy(chars), torch.from_numpy(lengths)
        words = word_ids([e.words for e in chunk], model.word_vocab, chars.shape[1])
        intent_logits, emissions = served_outputs(model, chars_t, lengths_t, [e.words for e in chunk], lexical, words)
        paths = model.crf.decode(emissions, lengths_to_mask(lengths_t, chars.shape[1]))
        multi, threshold = model.cfg.multi_intent, model.cfg.intent_threshold
        probs = (torch.sigmoid if multi else lambda z: torch.softmax(z, dim=1))(intent_logits).numpy()
        for p, path in zip(probs, paths, strict=True):
            best = found(p, threshold) if multi else [int(p.argmax())]
            intent = join_intents(intents.itos[i] for i in best)
            out.append(Prediction(intent, [tags.itos[t] for t in path], p))
    model.train(was_training)
    return out
