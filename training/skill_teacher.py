"""A skill's intents taught by a MiniLM fine-tuned on its examples, over unlabeled utterances like them.

With a few hundred examples the frozen shared encoder trails a fine-tuned MiniLM on intents by 2-4 points on
MASSIVE's held-out scenarios (docs/SKILLS.md), and MiniLM costs four times our latency to serve. So MiniLM is
fine-tuned at training time only: on the skill's training split and some of its out-of-skill utterances. It then
labels the corpus utterances nearest the skill's examples (TF-IDF cosine), and those it is sure of join the
skill's training data as intent-only examples (their slots are unknown, so they carry no CRF loss unless the
teacher calls them out of skill, whose tags are all O). Dev stays out of the teacher and of what it labels, so the
epoch chosen on dev is chosen fairly.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from elmol_nlu.datasets import Example, TaggedExample, tag
from elmol_nlu.text import match_key
from training.corpus import read_utterances
from training.mentions import evaluation_keys_here
from training.minilm import MiniLMConfig, fit_minilm, predict_minilm
from training.skill_data import OUT_OF_SKILL

log = logging.getLogger("skill")
TAUGHT = "taught:"  # the id prefix of the examples the teacher labels


@dataclass(frozen=True)
class TeacherConfig:
    neighbours: int = 10  # corpus utterances retrieved per training example
    confidence: float = 0.9  # the teacher's least probability for an utterance to be kept
    steps: int = 200  # MiniLM's optimizer steps (batches of 16)
    negatives: float = 1.0  # out-of-skill utterances the teacher trains on, per training example
    most: int = 1500  # taught examples kept at most (drawn at random among the confident)
    corpus: str = "data/unlabeled/utterances.txt.gz"
    seed: int = 0


def is_taught(example: TaggedExample) -> bool:
    return example.example.id.startswith(TAUGHT)


@lru_cache(maxsize=1)
def corpus_index(path: str) -> tuple[list[str], TfidfVectorizer, sparse.csr_matrix]:
    """The corpus without evaluation text, a word TF-IDF fitted on it and its rows (L2-normalised); built once a
    process (about half a minute for the shipped corpus)."""
    started = time.monotonic()
    refused = evaluation_keys_here()
    lines = [line for line in read_utterances(Path(path)) if match_key(line) not in refused]
    vectorizer = TfidfVectorizer(token_pattern=r"[a-z0-9']+", sublinear_tf=True, min_df=2, dtype=np.float32)
    rows = vectorizer.fit_transform(lines).tocsr()
    log.info("teacher corpus: %d utterances, %d words, indexed in %.0f s", len(lines), len(vectorizer.vocabulary_),
             time.monotonic() - started)
    return lines, vectorizer, rows


def nearest(queries: list[str], k: int, corpus: str, chunk: int = 64) -> list[str]:
    """The union of each query's ``k`` most similar corpus utterances, in corpus order, each text once."""
    lines, vectorizer, rows = corpus_index(corpus)
    q = vectorizer.transform(queries)
    picked: set[int] = set()
    for start in range(0, q.shape[0], chunk):
        scores = (q[start : start + chunk] @ rows.T).toarray()
        top = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]
        picked.update(int(i) for row, idx in zip(scores, top, strict=True) for i in idx if row[i] > 0)
    return list(dict.fromkeys(lines[i] for i in sorted(picked)))


def taught_examples(train: list[TaggedExample], negatives: list[TaggedExample], held_out: set[str],
                    cfg: TeacherConfig) -> list[TaggedExample]:
    """Corpus utterances near ``train``, labelled by a MiniLM fine-tuned on ``train`` and ``negatives``: those
    labelled with probability ≥ ``cfg.confidence``, none whose match key is a training or ``held_out`` one."""
    started = time.monotonic()
    rng = random.Random(f"teacher:{cfg.seed}")
    teacher_negatives = rng.sample(negatives, min(len(negatives), round(cfg.negatives * len(train))))
    model, intents, tags = fit_minilm(train + teacher_negatives, MiniLMConfig(min_steps=cfg.steps, seed=cfg.seed))
    known = held_out | {match_key(e.example.text) for e in train + negatives}
    texts = [t for t in nearest([e.example.text for e in train], cfg.neighbours, cfg.corpus)
             if match_key(t) not in known]
    candidates = [tag(Example(t, "", id=f"{TAUGHT}{i}")) for i, t in enumerate(texts)]
    candidates = [c for c in candidates if c.tokens]
    predictions = predict_minilm(model, intents, tags, candidates)
    kept = [replace(c.example, intent=p.intent) for c, p in zip(candidates, predictions, strict=True)
            if float(p.intent_probs.max()) >= cfg.confidence]
    if len(kept) > cfg.most:
        kept = rng.sample(kept, cfg.most)
    out = [tag(e) for e in kept]
    own = sum(e.example.intent != OUT_OF_SKILL for e in out)
    log.info("teacher: %d neighbours, %d kept (%d of the skill's intents, %d out of skill) in %.0f s", len(candidates),
             len(out), own, len(out) - own, time.monotonic() - started)
    return out
