"""A MiniLM teacher for distillation: fine-tuned on all of a train split (MASSIVE en-US, or SNIPS), then run over
the unlabeled corpus.

    python -m training.teacher --out runs/teacher            # fit, then label (each file is made once)
    python -m training.teacher --out runs/teacher --label-minutes 30

Writes ``OUT/teacher.pt`` (state dict, labels, config, dev and test figures) and ``OUT/soft_intents.npz``:
the unlabeled utterances it labelled (``texts``) and its intent logits for each (``logits``, float16, over
``intents``); and ``OUT/dev_intents.npz``, its logits on MASSIVE dev (by ``ids``), for choosing on dev how to
mix teachers. Utterances whose text is in the data's dev or test split are refused, so that nothing evaluated is
learned from, even through a teacher. ``training.distil`` reads these files.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from elmol_nlu.datasets import TaggedExample, load_split
from elmol_nlu.scoring import metrics
from elmol_nlu.text import tokenize
from training.corpus import read_utterances
from training.minilm import MiniLMConfig, MiniLMJoint, fit_minilm, predict_minilm
from training.minilm_text import encode, load_tokenizer, pad

log = logging.getLogger("training.teacher")


def evaluation_texts(data: dict[str, list[TaggedExample]]) -> set[str]:
    """Lower-cased words of every dev and test utterance, the form the unlabeled corpus is compared in."""
    return {" ".join(e.words).lower() for part in ("dev", "test") for e in data[part]}


def by_domain(examples: list[TaggedExample]) -> list[TaggedExample]:
    """Grouped by domain (scenario) in order of first appearance, file order within: the order the shipped
    teacher was fitted in (batches are shuffled, but from this order), so that a re-run fits the same one."""
    first: dict[str, int] = {}
    for e in examples:
        first.setdefault(e.example.domain, len(first))
    return sorted(examples, key=lambda e: first[e.example.domain])


def words(text: str) -> list[str]:
    return [t.text for t in tokenize(text)]


def unlabeled_words(path: Path, refused: set[str], limit: int | None, seed: int) -> list[list[str]]:
    """The corpus's utterances in a fixed shuffled order, without evaluation text, at most 40 words each."""
    lines = read_utterances(path)
    random.Random(seed).shuffle(lines)
    out = [w for w in map(words, lines) if w and len(w) <= 40 and " ".join(w).lower() not in refused]
    log.info("%d of %d unlabeled utterances kept (%d refused as dev/test text or too long)",
             len(out), len(lines), len(lines) - len(out))
    return out[:limit]


def fit_teacher(data: dict[str, list[TaggedExample]], cfg: MiniLMConfig) -> tuple[MiniLMJoint, dict]:
    started = time.perf_counter()
    model, intents, tags = fit_minilm(data["train"], cfg)
    figures = {"train_minutes": round((time.perf_counter() - started) / 60, 1), "n_train": len(data["train"])}
    for part in ("dev", "test"):
        figures[part] = metrics(data[part], predict_minilm(model, intents, tags, data[part]))
        log.info("teacher %s: %s", part, figures[part])
    return model, figures


@torch.no_grad()
def intent_logits(model: MiniLMJoint, sentences: list[list[str]], minutes: float, batch_size: int = 128) -> np.ndarray:
    """Intent logits (n, intents) of as many sentences, in order, as ``minutes`` allow (length-sorted batches)."""
    tokenizer = load_tokenizer(model.max_len)
    model.eval()
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    out = np.full((len(sentences), len(model.intents)), np.nan, dtype=np.float32)
    deadline = time.monotonic() + minutes * 60
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    random.Random(0).shuffle(batches)  # a stop at the deadline leaves a sample of every length, not the short ones
    for batch in tqdm(batches, desc="teacher labels", unit="batch"):
        if time.monotonic() > deadline:
            log.info("label budget of %.0f minutes reached", minutes)
            break
        ids, mask = pad([encode(tokenizer, sentences[i]) for i in batch])
        logits, _ = model(torch.from_numpy(ids), torch.from_numpy(mask))
        out[batch] = logits.numpy()
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"),
                   help="MASSIVE JSON lines, or a folder with train/dev/test in SNIPS's BIO format")
    p.add_argument("--unlabeled", type=Path, default=Path("data/unlabeled/utterances.txt.gz"))
    p.add_argument("--out", type=Path, default=Path("runs/teacher"))
    p.add_argument("--epochs", type=int, default=3, help="the peer's recipe: 3 epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label-minutes", type=float, default=40.0, help="time budget of the labelling pass")
    p.add_argument("--limit", type=int, default=None, help="label at most N utterances")
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    data = {part: by_domain(load_split(args.data, part, None)) for part in ("train", "dev", "test")}
    cfg = MiniLMConfig(epochs=args.epochs, seed=args.seed)
    path = args.out / "teacher.pt"
    if path.exists():
        saved = torch.load(path, weights_only=False)
        model = MiniLMJoint(saved["intents"], saved["tags"], saved["config"]["max_len"])
        model.load_state_dict(saved["model"])
        log.info("teacher loaded from %s: test %s", path, saved["figures"]["test"])
    else:
        model, figures = fit_teacher(data, cfg)
        torch.save({"model": model.state_dict(), "intents": model.intents, "tags": model.tags,
                    "config": cfg.to_dict(), "figures": figures}, path)
        (args.out / "teacher.json").write_text(json.dumps(figures, indent=2))
    if not (args.out / "dev_intents.npz").exists():
        logits = intent_logits(model, [e.words for e in data["dev"]], minutes=60)
        np.savez_compressed(args.out / "dev_intents.npz", ids=np.array([e.example.id for e in data["dev"]]),
                            logits=logits,
                            intents=np.array(model.intents))
    if not (args.out / "soft_intents.npz").exists():
        label_unlabeled(model, args, evaluation_texts(data))


def label_unlabeled(model: MiniLMJoint, args: argparse.Namespace, refused: set[str]) -> None:
    sentences = unlabeled_words(args.unlabeled, refused, args.limit, args.seed)
    logits = intent_logits(model, sentences, args.label_minutes)
    done = ~np.isnan(logits[:, 0])
    texts = [" ".join(s) for s, d in zip(sentences, done, strict=True) if d]  # words never hold a space
    np.savez_compressed(args.out / "soft_intents.npz", texts=np.array(texts), logits=logits[done].astype(np.float16),
                        intents=np.array(model.intents))
    log.info("labelled %d utterances", int(done.sum()))


if __name__ == "__main__":
    main()
