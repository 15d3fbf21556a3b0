"""How closely a distilled student follows its teachers on the unlabeled utterances it was distilled on.

    python -m experiments.teacher_agreement --student checkpoints/massive-en-nlu.pt \\
        --teachers runs/teacher runs/teacher-s1 --sample 20000

If the student agrees with its teacher far less often than two teachers of different seeds agree with each other,
it has not fitted the targets it was given: a capacity or optimisation limit, not a target-quality one. Reads no
dev or test utterance. Writes ``--out`` (JSON): the share of a seeded sample where each pair's best intents agree,
how sure the ensemble is where the first and last teacher agree and where they do not, and the share of the
whole corpus the ensemble puts in one intent with a probability of 0.5 or 0.9 or more.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
from itertools import combinations
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from elmol_nlu.text import batch_char_ids
from elmol_nlu.vocab import Vocab
from training.checkpoint import load_checkpoint, load_joint_model
from training.teacher_labels import teacher_targets, top_probability

log = logging.getLogger("experiments.teacher_agreement")


def student_best(student: torch.nn.Module, sentences: list[list[str]], batch: int = 128) -> np.ndarray:
    best = []
    with torch.no_grad():
        for i in tqdm(range(0, len(sentences), batch), desc="student", mininterval=5):
            chars, lengths = (torch.from_numpy(a) for a in batch_char_ids(sentences[i:i + batch],
                                                                           student.cfg.lm.max_chars))
            best.append(student(chars, lengths)[0].argmax(1).numpy())
    return np.concatenate(best)


def median(values: np.ndarray) -> float | None:
    return round(float(np.median(values)), 3) if len(values) else None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--student", type=Path, default=Path("checkpoints/massive-en-nlu.pt"))
    p.add_argument("--teachers", type=Path, nargs="+", required=True)
    p.add_argument("--sample", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("reports/distillation/ensemble/agreement.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    intents = Vocab(load_checkpoint(args.student)["intents"])
    sentences, ensemble = teacher_targets(args.teachers, intents)
    keep = sorted(random.Random(args.seed).sample(range(len(sentences)), min(args.sample, len(sentences))))
    lookup = {" ".join(sentences[i]): n for n, i in enumerate(keep)}
    top = top_probability(ensemble)  # the ensemble's probability of its best intent, over the whole corpus
    sure = top[keep].numpy()
    best = {"ensemble": ensemble[keep].argmax(1).numpy()}
    for t in args.teachers:
        words, logits = teacher_targets(t, intents)
        rows = {" ".join(w): r for r, w in enumerate(words)}
        best[str(t)] = logits[[rows[s] for s in lookup]].argmax(1).numpy()
    best["student"] = student_best(load_joint_model(args.student).eval(), [sentences[i] for i in keep])
    agreement = {f"{a} | {b}": round(100 * float(np.mean(best[a] == best[b])), 2) for a, b in combinations(best, 2)}
    split = best[str(args.teachers[0])] == best[str(args.teachers[-1])]
    result = {"student": str(args.student), "teachers": [str(t) for t in args.teachers], "sample": len(keep),
              "seed": args.seed, "agreement_pct": agreement,
              "ensemble_median_top_probability": {"teachers_agree": median(sure[split]),
                                                  "teachers_disagree": median(sure[~split])},
              "corpus_share_pct_by_ensemble_top_probability": {  # the whole corpus: how much of it looks in-domain
                  f">= {x}": round(100 * float((top >= x).float().mean()), 1)
                  for x in (0.5, 0.9)},
              "disagreements_examples": [" ".join(sentences[keep[i]]) for i in np.flatnonzero(~split)[:10]]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    log.info("%s", agreement)


if __name__ == "__main__":
    main()
