"""Slot targets for distillation: the tag paths a trained joint model gives the utterances a teacher labelled.

    python -m training.tag_teacher --model checkpoints/massive-en-nlu.pt --teacher runs/teacher

The MiniLM teacher knows intents better than slots (73.9 slot F1 on MASSIVE test against the shipped model's
78.9), so a student that learns intents from it can learn slots from a joint model of ours instead: that
model's Viterbi path on each unlabeled utterance, which the student's own CRF learns as if it were gold
(sequence-level distillation, Kim and Rush 2016; ``training.distil --tag-weight``). Writes ``TEACHER/tags.npz``:
``texts`` (those of ``soft_intents.npz``), ``tags`` (every path's tag ids, concatenated, int16), ``offsets``
(n + 1), ``names`` (the tag of each id) and ``model`` (the checkpoint that tagged them).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from elmol_nlu.text import batch_char_ids
from elmol_nlu.vocab import Vocab
from training.checkpoint import load_checkpoint, load_joint_model
from training.nlu import JointNLU, lengths_to_mask

log = logging.getLogger("training.tag_teacher")
TAGS = "tags.npz"


@torch.no_grad()
def tag_paths(model: JointNLU, sentences: list[list[str]], batch_size: int = 128) -> list[list[int]]:
    """The model's best tag path (tag ids) of each sentence, in order; batches of similar length."""
    model.eval()
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    paths: list[list[int]] = [[] for _ in sentences]
    for start in tqdm(range(0, len(order), batch_size), desc="tag paths", unit="batch", mininterval=5):
        batch = order[start : start + batch_size]
        chars, lengths = (torch.from_numpy(a) for a in batch_char_ids([sentences[i] for i in batch],
                                                                     model.cfg.lm.max_chars))
        _, emissions = model(chars, lengths)
        for i, path in zip(batch, model.crf.decode(emissions, lengths_to_mask(lengths, chars.shape[1])), strict=True):
            paths[i] = path
    return paths


def save_tags(path: Path, texts: list[str], paths: list[list[int]], names: list[str], model: str) -> None:
    offsets = np.cumsum([0] + [len(p) for p in paths])
    flat = np.array([t for p in paths for t in p], dtype=np.int16)
    np.savez_compressed(path, texts=np.array(texts), tags=flat, offsets=offsets, names=np.array(names),
                        model=np.array(model))


def load_tags(path: Path) -> dict[str, list[str]]:
    """Each tagged text's path as tag names."""
    saved = np.load(path)
    names, tags, offsets = list(saved["names"]), saved["tags"], saved["offsets"]
    return {str(text): [names[t] for t in tags[offsets[i] : offsets[i + 1]]] for i, text in enumerate(saved["texts"])}


def student_paths(path: Path, sentences: list[list[str]], tags: Vocab) -> list[torch.Tensor]:
    """The tag teacher's path of each sentence, as the student's tag ids; raises when one is missing or its
    length or tags do not fit (another teacher's file, or another tag set)."""
    by_text = load_tags(path)
    out = []
    for words in sentences:
        names = by_text.get(" ".join(words))
        if names is None or len(names) != len(words):
            raise ValueError(f"{path} has no path of {len(words)} tags for {' '.join(words)!r}: re-run tag_teacher")
        unknown = [n for n in names if n not in tags.stoi]
        if unknown:
            raise ValueError(f"{path} tags {unknown[0]!r}, which the student does not know")
        out.append(torch.tensor([tags.stoi[n] for n in names], dtype=torch.long))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=Path("checkpoints/massive-en-nlu.pt"))
    p.add_argument("--teacher", type=Path, default=Path("runs/teacher"), help="training.teacher's output")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    texts = [str(t) for t in np.load(args.teacher / "soft_intents.npz")["texts"]]
    model = load_joint_model(args.model)
    names = load_checkpoint(args.model)["tags"]
    paths = tag_paths(model, [t.split(" ") for t in texts])
    save_tags(args.teacher / TAGS, texts, paths, names, str(args.model))
    log.info("%d paths from %s in %s", len(paths), args.model, args.teacher / TAGS)


if __name__ == "__main__":
    main()
