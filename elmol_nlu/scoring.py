"""The metrics we report, one implementation for training, export, the service's model and the baselines:
intent accuracy, slot F1 and exact match (``metrics``), and the report a skill developer reads (``score``):
accuracy per intent, F1 per slot, the commonest confusions.

Torch-free, so ``elmol-nlu skill eval`` scores a model directory with onnxruntime alone. Slot spans are
CoNLL chunks (``bio_spans``: a stray I-x opens a span), which makes the micro F1 seqeval's default one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from elmol_nlu.datasets import TaggedExample
from elmol_nlu.intents import canonical
from elmol_nlu.vocab import bio_spans


@dataclass(frozen=True)
class Prediction:
    intent: str
    tags: list[str]
    intent_probs: np.ndarray | None = None  # (I,) when the predictor gives them


def f1(tp: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)


def slot_counts(gold: list[TaggedExample], pred: list[Prediction]) -> dict[str, Counter]:
    counts = {"tp": Counter(), "pred": Counter(), "gold": Counter()}
    for g, p in zip(gold, pred, strict=True):
        gold_spans, pred_spans = set(bio_spans(g.tags)), set(bio_spans(p.tags))
        counts["gold"].update(s.name for s in gold_spans)
        counts["pred"].update(s.name for s in pred_spans)
        counts["tp"].update(s.name for s in gold_spans & pred_spans)
    return counts


def percent(flags: list[bool]) -> float:
    return 100 * sum(flags) / len(flags) if flags else float("nan")


def intents_right(gold: list[TaggedExample], pred: list[Prediction]) -> list[bool]:
    """Per utterance, whether the intent is right; for multi-intent labels, whether the set is exactly right."""
    return [canonical(g.example.intent) == canonical(p.intent) for g, p in zip(gold, pred, strict=True)]


def metrics(gold: list[TaggedExample], pred: list[Prediction]) -> dict[str, float]:
    """Percentages, unrounded: intent accuracy, CoNLL span F1 of slots (micro), exact match of intent and all
    tags; and ``n``."""
    intent_ok = intents_right(gold, pred)
    exact = [ok and g.tags == p.tags for ok, g, p in zip(intent_ok, gold, pred, strict=True)]
    counts = slot_counts(gold, pred)
    _, _, slot_f1 = f1(sum(counts["tp"].values()), sum(counts["pred"].values()), sum(counts["gold"].values()))
    return {"intent_acc": percent(intent_ok), "slot_f1": 100 * slot_f1, "exact_match": percent(exact), "n": len(gold)}


def score(gold: list[TaggedExample], pred: list[Prediction], confusions: int = 10) -> dict:
    """Percentages overall, per intent (accuracy) and per slot (precision, recall, F1), and the
    ``confusions`` most frequent (gold intent, predicted intent) mistakes."""
    if not gold:
        raise ValueError("nothing to score: no annotated utterances")
    intent_ok = intents_right(gold, pred)
    exact = [ok and g.tags == p.tags for ok, g, p in zip(intent_ok, gold, pred, strict=True)]
    per_intent: dict[str, dict] = {}
    for g, ok in zip(gold, intent_ok, strict=True):
        entry = per_intent.setdefault(canonical(g.example.intent), {"n": 0, "correct": 0})
        entry["n"] += 1
        entry["correct"] += ok
    for entry in per_intent.values():
        entry["accuracy"] = round(100 * entry["correct"] / entry["n"], 2)
    counts = slot_counts(gold, pred)
    per_slot = {}
    for name in sorted(set(counts["gold"]) | set(counts["pred"])):
        p, r, f = f1(counts["tp"][name], counts["pred"][name], counts["gold"][name])
        per_slot[name] = {"precision": round(100 * p, 2), "recall": round(100 * r, 2), "f1": round(100 * f, 2),
                          "support": counts["gold"][name]}
    _, _, micro = f1(sum(counts["tp"].values()), sum(counts["pred"].values()), sum(counts["gold"].values()))
    mistakes = Counter((g.example.intent, p.intent) for g, p, ok in zip(gold, pred, intent_ok, strict=True) if not ok)
    return {
        "n": len(gold),
        "intent_acc": round(100 * sum(intent_ok) / len(gold), 2),
        "slot_f1": round(100 * micro, 2),
        "exact_match": round(100 * sum(exact) / len(gold), 2),
        "per_intent": dict(sorted(per_intent.items())),
        "per_slot": per_slot,
        "confusions": [{"gold": g, "predicted": p, "count": c} for (g, p), c in mistakes.most_common(confusions)],
    }


def format_report(report: dict) -> str:
    """The report as aligned plain-text tables."""
    lines = [f"{report['n']} utterances: intent accuracy {report['intent_acc']:.2f}, slot F1 {report['slot_f1']:.2f}, "
             f"exact match {report['exact_match']:.2f}", ""]
    width = max([len(k) for k in (*report["per_intent"], *report["per_slot"])] + [12])
    lines.append(f"{'intent':<{width}}  {'n':>5}  {'accuracy':>8}")
    for name, e in report["per_intent"].items():
        lines.append(f"{name:<{width}}  {e['n']:>5}  {e['accuracy']:>8.2f}")
    if report["per_slot"]:
        lines += ["", f"{'slot':<{width}}  {'support':>7}  {'precision':>9}  {'recall':>6}  {'F1':>6}"]
        for name, e in report["per_slot"].items():
            lines.append(f"{name:<{width}}  {e['support']:>7}  {e['precision']:>9.2f}  {e['recall']:>6.2f}  "
                         f"{e['f1']:>6.2f}")
    if report["confusions"]:
        lines += ["", "most frequent intent confusions (gold -> predicted: count)"]
        lines += [f"  {c['gold']} -> {c['predicted']}: {c['count']}" for c in report["confusions"]]
    return "\n".join(lines)
