"""Typo robustness: a seeded noisy copy of MASSIVE en-US test, and how much each model loses on it.

    python -m experiments.typos                   # data/massive/en-US.test-typos.jsonl (committed)
    python -m experiments.typos_eval              # reports/typos.json: ours (int8) and the classic CRF, clean and noisy

The copy gives one character edit (``elmol_nlu.noise.typo``: insert, delete, substitute or swap) to 15% of
the words of four letters or more, seeded by each utterance's id, and keeps the slot annotation on the edited
words. An edit that would change how our tokenizer splits the word is redrawn (at most 10 times, then the
word stays clean), so that gold tags stay aligned. The drop is clean minus noisy, per model, on the same run.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
from pathlib import Path

from elmol_nlu.datasets import TaggedExample, read_massive, tag
from elmol_nlu.noise import eligible, typo
from elmol_nlu.text import tokenize
from elmol_nlu.vocab import OUTSIDE

log = logging.getLogger("experiments.typos")
MASSIVE = Path("data/massive/en-US.jsonl")
NOISY = Path("data/massive/en-US.test-typos.jsonl")
NOISY_DEV = Path("data/massive/en-US.dev-typos.jsonl")
RATE, MIN_LETTERS, SEED = 0.15, 4, 13


def noisy_word(word: str, rng: random.Random) -> str:
    for _ in range(10):
        out = typo(word, rng)
        if [t.text for t in tokenize(out)] == [out]:
            return out
    return word


def annotated(words: list[str], tags: list[str]) -> str:
    """MASSIVE's ``annot_utt`` ("wake me at [time : five am]") from words and BIO tags, words space-joined."""
    out, i = [], 0
    while i < len(words):
        if tags[i] == OUTSIDE:
            out.append(words[i])
            i += 1
            continue
        name, j = tags[i][2:], i + 1
        while j < len(words) and tags[j] == "I-" + name:
            j += 1
        out.append(f"[{name} : {' '.join(words[i:j])}]")
        i = j
    return " ".join(out)


def noisy_copy(example: TaggedExample, rate: float = RATE, seed: int = SEED, partition: str = "test") -> dict:
    rng = random.Random(f"{seed}:{example.example.id}")
    words = [noisy_word(w, rng) if eligible(w, MIN_LETTERS) and rng.random() < rate else w for w in example.words]
    e = example.example
    return {"id": e.id, "partition": partition, "scenario": e.domain, "intent": e.intent, "utt": " ".join(words),
            "annot_utt": annotated(words, example.tags), "edited": sum(a != b for a, b in zip(words, example.words,
                                                                                               strict=True))}


def make(out: Path = NOISY, partition: str = "test") -> None:
    rows = [noisy_copy(tag(e), partition=partition) for e in read_massive(MASSIVE, partition)]
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    log.info("%d utterances, %d words edited, written to %s", len(rows), sum(r["edited"] for r in rows), out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=None, help=f"default {NOISY}, or {NOISY_DEV} with --partition dev")
    p.add_argument("--partition", choices=["test", "dev"], default="test",
                   help="dev: the copy that choices about robustness are made on")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    make(args.out or (NOISY if args.partition == "test" else NOISY_DEV), args.partition)


if __name__ == "__main__":
    main()
