"""PyTorch vs onnxruntime on the same utterances: logits close, intents and tags identical."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from elmol_nlu.lexical import LexicalHead
from elmol_nlu.runtime import Predictor
from elmol_nlu.text import Token, batch_char_ids
from training.evaluate import served_outputs
from training.nlu import JointNLU, lengths_to_mask

# float32 graphs differ from PyTorch only by operator order and fused kernels
ATOL = 1e-4
RTOL = 1e-4


@dataclass(frozen=True)
class ParityReport:
    utterances: int
    batch_sizes: list[int]
    max_abs_diff_intent_logits: float
    max_abs_diff_slot_emissions: float
    intents_identical: bool
    tags_identical: bool
    allclose: bool
    atol: float = ATOL
    rtol: float = RTOL

    @property
    def ok(self) -> bool:
        return self.allclose and self.intents_identical and self.tags_identical

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


@torch.no_grad()
def torch_outputs(model: JointNLU, token_lists: list[list[Token]],
                  lexical: LexicalHead | None = None) -> tuple[np.ndarray, np.ndarray, list]:
    """The PyTorch model's logits, emissions and paths; with ``lexical``, its intent logits combined with the
    lexical model's on the PyTorch encoder's layers, so that the served combination is checked too."""
    words = [[t.text for t in toks] for toks in token_lists]
    chars, lengths = batch_char_ids(words, model.cfg.lm.max_chars)
    chars_t, lengths_t = torch.from_numpy(chars), torch.from_numpy(lengths)
    logits, emissions = served_outputs(model, chars_t, lengths_t, words, lexical)
    paths = model.crf.decode(emissions, lengths_to_mask(lengths_t, chars.shape[1]))
    return logits.numpy(), emissions.numpy(), paths


def check_parity(model: JointNLU, predictor: Predictor, token_lists: list[list[Token]],
                 batch_sizes: tuple[int, ...] = (1, 8), lexical: LexicalHead | None = None) -> ParityReport:
    model.eval()
    diff_logits = diff_emissions = 0.0
    same_intents = same_tags = close = True
    for size in batch_sizes:
        for i in range(0, len(token_lists), size):
            chunk = token_lists[i : i + size]
            t_logits, t_emissions, t_paths = torch_outputs(model, chunk, lexical)
            o_logits, o_emissions = predictor.run(chunk)
            mask = np.arange(t_emissions.shape[1])[None, :] < np.array([len(c) for c in chunk])[:, None]
            diff_logits = max(diff_logits, float(np.abs(t_logits - o_logits).max()))
            diff_emissions = max(diff_emissions, float(np.abs(t_emissions - o_emissions)[mask].max()))
            close &= np.allclose(t_logits, o_logits, atol=ATOL, rtol=RTOL)
            close &= np.allclose(t_emissions[mask], o_emissions[mask], atol=ATOL, rtol=RTOL)
            same_intents &= bool((t_logits.argmax(1) == o_logits.argmax(1)).all())
            o_paths = [predictor.decoder.decode(e[: len(c)]) for e, c in zip(o_emissions, chunk, strict=True)]
            same_tags &= o_paths == t_paths
    return ParityReport(len(token_lists), list(batch_sizes), diff_logits, diff_emissions,
                        same_intents, same_tags, bool(close))
