"""Do our frozen encoder's sentence features tell an action from its opposite? Minimal pairs, against MiniLM.

Each template sentence is changed twice: its action word flipped to the opposite ("turn the kitchen lights on"
-> "... off") and a neutral word swapped ("... kitchen ..." -> "... bedroom ..."), which keeps the intent. A
representation that serves intents should move further for the flip than for the swap. Features: the skill
base's pooled encoder layers (what the lexical model and the intent head read) and frozen all-MiniLM-L6-v2's
mean-pooled sentence embedding; each standardised over 2,000 MASSIVE train utterances, then compared by cosine.

    python -m experiments.opposites_probe --checkpoint runs/nlu-oos-kd/nlu.pt

The pairs are hand-written (not evaluation text), few, and a probe of one question, not a benchmark.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
from pathlib import Path

import numpy as np
import torch

from elmol_nlu.datasets import read_massive
from elmol_nlu.text import tokenize

log = logging.getLogger("opposites_probe")
# (sentence, its action flipped to the opposite, a neutral word swapped)
TRIPLES = [
    ("turn the kitchen lights on", "turn the kitchen lights off", "turn the bedroom lights on"),
    ("turn up the volume", "turn down the volume", "turn up the sound"),
    ("brighten the lights in the living room", "dim the lights in the living room",
     "brighten the lights in the dining room"),
    ("add milk to my shopping list", "remove milk from my shopping list", "add eggs to my shopping list"),
    ("switch on the coffee machine", "switch off the coffee machine", "switch on the coffee maker"),
    ("increase the temperature", "decrease the temperature", "increase the heating"),
    ("open the garage door", "close the garage door", "open the front door"),
    ("start the vacuum cleaner", "stop the vacuum cleaner", "start the robot vacuum"),
    ("set an alarm for seven am", "cancel the alarm for seven am", "set an alarm for eight am"),
    ("lock the front door", "unlock the front door", "lock the back door"),
    ("make the lights brighter", "make the lights dimmer", "make the lamps brighter"),
    ("i like this song", "i hate this song", "i like this track"),
]


def words(text: str) -> list[str]:
    return [t.text for t in tokenize(text)]


def elmol_features(checkpoint: Path, sentences: list[str]) -> np.ndarray:
    from training.lexical import pooled_features
    from training.skill import load_source

    model, _ = load_source(checkpoint)
    return pooled_features(model, [words(s) for s in sentences])


@torch.no_grad()
def minilm_features(sentences: list[str]) -> np.ndarray:
    """Frozen MiniLM's mean-pooled last layer: the sentence targets of the KD pretraining (``states_of``)."""
    from training.minilm_text import load_encoder, load_tokenizer
    from training.teacher_states import StatesConfig, states_of

    cfg = StatesConfig()
    model, tokenizer = load_encoder().eval(), load_tokenizer(cfg.max_len)
    return np.concatenate([states_of(model, tokenizer, [words(x) for x in sentences[i : i + 64]], cfg)[1]
                           for i in range(0, len(sentences), 64)])


def scores(features: np.ndarray, n_reference: int) -> dict:
    """Cosines after standardising over the first ``n_reference`` rows; the rest are the triples in order."""
    ref, probe = features[:n_reference], features[n_reference:]
    z = (probe - ref.mean(0)) / (ref.std(0) + 1e-6)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    base, flipped, swapped = z[0::3], z[1::3], z[2::3]
    flip, swap = (base * flipped).sum(1), (base * swapped).sum(1)
    return {"flip_cosine": round(float(flip.mean()), 3), "swap_cosine": round(float(swap.mean()), 3),
            "pairs_where_the_opposite_is_closer": int((flip > swap).sum()), "pairs": len(flip),
            "per_triple": [[round(float(a), 3), round(float(b), 3)] for a, b in zip(flip, swap, strict=True)]}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=Path("runs/nlu-oos-kd/nlu.pt"))
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"))
    p.add_argument("--reference", type=int, default=2000)
    p.add_argument("--out", type=Path, default=Path("reports/opposites_probe.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(1)
    reference = random.Random(0).sample([e.text for e in read_massive(args.data, "train")], args.reference)
    sentences = reference + [s for triple in TRIPLES for s in triple]
    result = {"checkpoint": str(args.checkpoint), "reference": f"{args.reference} MASSIVE train utterances, seed 0",
              "triples": TRIPLES,
              "elmol_pooled": scores(elmol_features(args.checkpoint, sentences), args.reference),
              "minilm_frozen": scores(minilm_features(sentences), args.reference)}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for name in ("elmol_pooled", "minilm_frozen"):
        r = result[name]
        log.info("%s: flip %.3f, swap %.3f, opposite closer in %d of %d", name, r["flip_cosine"], r["swap_cosine"],
                 r["pairs_where_the_opposite_is_closer"], r["pairs"])


if __name__ == "__main__":
    main()
