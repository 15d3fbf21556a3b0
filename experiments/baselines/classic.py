"""The classic peer (Snips-NLU recipe): TF-IDF + logistic regression intents, linear-chain CRF slots.

    taskset -c 0 python -m experiments.baselines.classic --data data/massive/en-US.jsonl \
        --out reports/baseline_classic.json

Trains on MASSIVE en-US ``train``, picks hyper-parameters on ``dev`` (C for the intent model by intent
accuracy, c1/c2 for the CRF by slot F1), and reports dev and test with ``elmol_nlu.scoring.metrics``,
on the tokens and BIO tags of ``elmol_nlu.datasets.load_split``. Also times one utterance at a time
(tokenize, featurize, intent + tags), as ``experiments.bench.inprocess`` does for our model.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TypeVar

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn_crfsuite import CRF
from threadpoolctl import threadpool_limits

from elmol_nlu.datasets import TaggedExample, load_split
from elmol_nlu.scoring import Prediction, metrics
from elmol_nlu.text import normalize, tokenize
from experiments.bench.corpus import load_texts
from experiments.bench.stats import time_calls

log = logging.getLogger("baselines.classic")
T = TypeVar("T")

C_GRID = (1.0, 3.0, 10.0, 30.0)
# (c1, c2); ~4 min a fit on one core. A 2x2 run (c2 0.01 too) gave dev F1 79.23/79.34 (c1 0.05), 78.70/79.15 (c1 0.2)
CRF_GRID = ((0.05, 0.1), (0.2, 0.1))
CRF_ITERATIONS = 100
LIBRARIES = ("scikit-learn", "sklearn-crfsuite", "python-crfsuite", "numpy", "scipy", "seqeval")


def shape(word: str) -> str:
    """``"7:30pm"`` -> ``"d:dx"``: character classes with repeats collapsed."""
    classes = ["X" if c.isupper() else "x" if c.isalpha() else "d" if c.isdigit() else c for c in word]
    return "".join(c for i, c in enumerate(classes) if i == 0 or c != classes[i - 1])


def token_features(words: list[str], lower: list[str], i: int) -> dict[str, str | bool]:
    """Word, affixes 1-3, digit and shape flags, words at -2..+2 and neighbour bigrams."""
    w = lower[i]
    f: dict[str, str | bool] = {"bias": True, "w": w, "shape": shape(words[i]), "digit": w.isdigit(),
                                "has_digit": any(c.isdigit() for c in w), "title": words[i].istitle()}
    for k in (1, 2, 3):
        f[f"pre{k}"], f[f"suf{k}"] = w[:k], w[-k:]
    at = {d: lower[i + d] if 0 <= i + d < len(lower) else ("<s>" if d < 0 else "</s>") for d in (-2, -1, 1, 2)}
    for d, neighbour in at.items():
        f[f"w{d:+d}"] = neighbour
    f["w-1|w"], f["w|w+1"] = f"{at[-1]}|{w}", f"{w}|{at[1]}"
    f["w-2|w-1"], f["w+1|w+2"] = f"{at[-2]}|{at[-1]}", f"{at[1]}|{at[2]}"
    return f


def sentence_features(words: list[str]) -> list[dict[str, str | bool]]:
    lower = [normalize(w) for w in words]
    return [token_features(words, lower, i) for i in range(len(words))]


def intent_text(words: list[str]) -> str:
    """Normalized tokens joined by spaces; the vectorizer splits on whitespace only, keeping our tokens."""
    return " ".join(normalize(w) for w in words)


@dataclass
class ClassicNLU:
    vectorizer: TfidfVectorizer
    classifier: LogisticRegression
    crf: CRF

    def predict_words(self, words: list[str]) -> Prediction:
        probs = self.classifier.predict_proba(self.vectorizer.transform([intent_text(words)]))[0]
        tags = self.crf.predict_single(sentence_features(words))
        return Prediction(str(self.classifier.classes_[probs.argmax()]), list(tags), probs)

    def parse(self, text: str) -> Prediction:
        """One raw utterance, as the service sees it."""
        return self.predict_words([t.text for t in tokenize(text)])

    def predict(self, examples: list[TaggedExample]) -> list[Prediction]:
        """Batched: the same predictions as ``predict_words`` one at a time, faster."""
        probs = self.classifier.predict_proba(self.vectorizer.transform([intent_text(e.words) for e in examples]))
        tags = self.crf.predict([sentence_features(e.words) for e in examples])
        return [Prediction(str(self.classifier.classes_[p.argmax()]), list(t), p)
                for p, t in zip(probs, tags, strict=True)]


def fit_intent(train: list[TaggedExample], c: float, seed: int) -> tuple[TfidfVectorizer, LogisticRegression]:
    vectorizer = TfidfVectorizer(token_pattern=r"\S+", lowercase=False, ngram_range=(1, 2), sublinear_tf=True)
    x = vectorizer.fit_transform([intent_text(e.words) for e in train])
    intents = [e.example.intent for e in train]
    # a domain of one intent (MASSIVE's weather) has nothing to classify: the constant answer
    one = len(set(intents)) == 1
    classifier = (DummyClassifier(strategy="prior") if one else LogisticRegression(C=c, max_iter=2000,
                                                                                   random_state=seed)).fit(x, intents)
    return vectorizer, classifier


def fit_slots(train: list[TaggedExample], c1: float, c2: float) -> CRF:
    crf = CRF(algorithm="lbfgs", c1=c1, c2=c2, max_iterations=CRF_ITERATIONS, all_possible_transitions=True)
    crf.fit([sentence_features(e.words) for e in train], [e.tags for e in train])
    return crf


def timed(fn: Callable[..., T], *args: object) -> tuple[T, float]:
    """``fn(*args)`` and its wall time in seconds."""
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


def tune_intent(train: list[TaggedExample], dev: list[TaggedExample], seed: int) -> tuple[dict, list[dict]]:
    """Fit one intent model per C; keep the best by dev intent accuracy."""
    trials = []
    for c in C_GRID:
        (vectorizer, classifier), seconds = timed(fit_intent, train, c, seed)
        pred = classifier.predict(vectorizer.transform([intent_text(e.words) for e in dev]))
        acc = 100 * sum(p == e.example.intent for p, e in zip(pred, dev, strict=True)) / len(dev)
        log.info("intent C=%g: dev intent accuracy %.2f (%.1f s)", c, acc, seconds)
        trials.append({"C": c, "dev_intent_acc": acc, "fit_s": seconds, "model": (vectorizer, classifier)})
    return max(trials, key=lambda t: t["dev_intent_acc"]), trials


def tune_slots(train: list[TaggedExample], dev: list[TaggedExample]) -> tuple[dict, list[dict]]:
    """Fit one CRF per (c1, c2); keep the best by dev slot F1."""
    dev_x = [sentence_features(e.words) for e in dev]
    trials = []
    for c1, c2 in CRF_GRID:
        crf, seconds = timed(fit_slots, train, c1, c2)
        pred = [Prediction("", list(t), np.empty(0)) for t in crf.predict(dev_x)]
        f1 = metrics(dev, pred)["slot_f1"]
        log.info("CRF c1=%g c2=%g: dev slot F1 %.2f (%.1f s)", c1, c2, f1, seconds)
        trials.append({"c1": c1, "c2": c2, "dev_slot_f1": f1, "fit_s": seconds, "model": crf})
    return max(trials, key=lambda t: t["dev_slot_f1"]), trials


def time_single(model: ClassicNLU, texts: list[str], n: int, warmup: int) -> dict:
    """ms per ``parse`` of one raw utterance, after ``warmup`` calls on other utterances."""
    return time_calls(model.parse, texts, n, warmup)


def machine() -> dict:
    return {"nproc": os.cpu_count(), "affinity": sorted(os.sched_getaffinity(0)), "platform": platform.platform(),
            "python": platform.python_version(), "loadavg_start": list(os.getloadavg())}


def without_models(trials: list[dict]) -> list[dict]:
    return [{k: v for k, v in t.items() if k != "model"} for t in trials]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"))
    p.add_argument("--out", type=Path, default=Path("reports/baseline_classic.json"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n", type=int, default=1000, help="timed batch-1 utterances")
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--limit", type=int, default=None, help="first N examples of each split (smoke tests)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    report: dict = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
                    "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                    "libraries": {name: version(name) for name in LIBRARIES}}
    started = time.perf_counter()
    train, dev, test = (load_split(args.data, p, args.limit) for p in ("train", "dev", "test"))
    log.info("%d train, %d dev, %d test", len(train), len(dev), len(test))
    with threadpool_limits(1):  # one thread, as our model is timed
        best_intent, intent_trials = tune_intent(train, dev, args.seed)
        best_slots, slot_trials = tune_slots(train, dev)
        model = ClassicNLU(*best_intent["model"], best_slots["model"])
        report["metrics"] = {"dev": metrics(dev, model.predict(dev)), "test": metrics(test, model.predict(test))}
        latency = time_single(model, load_texts(args.data, args.seed), args.n, args.warmup)
    report["hyperparameters"] = {"C": best_intent["C"], "c1": best_slots["c1"], "c2": best_slots["c2"],
                                 "crf_max_iterations": CRF_ITERATIONS, "tfidf": "word 1-2 grams, sublinear tf"}
    report["grid"] = {"intent": without_models(intent_trials), "slots": without_models(slot_trials)}
    report["timings"] = {"train_s": best_intent["fit_s"] + best_slots["fit_s"],
                         "train_intent_s": best_intent["fit_s"], "train_crf_s": best_slots["fit_s"],
                         "total_s": time.perf_counter() - started, "batch1_ms": latency}
    report["machine"]["loadavg_end"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    test_m = report["metrics"]["test"]
    log.info("test: intent %.1f, slot F1 %.1f, exact match %.1f; %.2f ms p50 / %.2f ms p99 per utterance; "
             "trained in %.0f s (C=%g, c1=%g, c2=%g); wrote %s", test_m["intent_acc"], test_m["slot_f1"],
             test_m["exact_match"], latency["p50"], latency["p99"], report["timings"]["train_s"],
             best_intent["C"], best_slots["c1"], best_slots["c2"], args.out)


if __name__ == "__main__":
    main()
