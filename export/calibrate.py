"""Fit the temperatures of a model directory's confidences on its dev split and record them in the manifest.

    python -m export.calibrate [--data data/massive/en-US.jsonl]

Two temperatures, both fitted on dev only (never on test):
- intent: softmax(logits / T), T minimising the negative log-likelihood of the gold intents;
- CRF: P(tags) ∝ exp(score / T), T minimising the log loss of each predicted slot's confidence against
  whether that slot (label and span) is right; that is the number a user thresholds on.
Neither changes an answer (argmax and Viterbi do not depend on T), only the probabilities beside it.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from elmol_nlu.calibration import binary_nll, fit_temperature, intent_nll, log_softmax, summary
from elmol_nlu.datasets import TaggedExample
from elmol_nlu.intents import multi_hot, sigmoid, split_intents
from elmol_nlu.manifest import load_manifest, write_manifest
from elmol_nlu.paths import DEFAULT_MODEL_DIR
from elmol_nlu.posterior import CRFPosterior
from elmol_nlu.runtime import Predictor
from elmol_nlu.vocab import bio_spans

log = logging.getLogger("export.calibrate")


@dataclass(frozen=True)
class RawOutputs:
    """What the graph gives for gold examples, before any temperature."""

    logits: np.ndarray  # (N, I)
    emissions: list[np.ndarray]  # N × (T_i, K)
    gold_intents: np.ndarray  # (N,)
    paths: list[list[int]]  # Viterbi tags, which no temperature changes
    slots_right: list[list[tuple[int, int, int, int, bool]]]  # per sentence: (start, stop, B, I, correct)
    gold_sets: np.ndarray | None = None  # (N, I) multi-hot, for a multi-intent model (a sigmoid per intent)


def raw_outputs(predictor: Predictor, gold: list[TaggedExample], batch: int = 64) -> RawOutputs:
    m = predictor.manifest
    intent_index, tag_index = {n: i for i, n in enumerate(m.intents)}, {t: i for i, t in enumerate(m.tags)}
    logits, emissions, paths, slots = [], [], [], []
    for i in range(0, len(gold), batch):
        chunk = gold[i : i + batch]
        chunk_logits, chunk_emissions = predictor.run([g.tokens for g in chunk])
        logits.append(chunk_logits)
        for g, e in zip(chunk, chunk_emissions, strict=True):
            e = e[: len(g.tokens)]
            path = predictor.decoder.decode(e)
            gold_spans = set(bio_spans(g.tags))
            slots.append([(s.start, s.end, tag_index[f"B-{s.name}"], tag_index[f"I-{s.name}"], s in gold_spans)
                          for s in bio_spans([m.tags[k] for k in path])])
            emissions.append(e)
            paths.append(path)
    # an intent the model never saw cannot be scored by likelihood
    if m.intent_threshold is None:
        gold_intents = np.array([intent_index.get(g.example.intent, -1) for g in gold])
        keep, gold_sets = gold_intents >= 0, None
    else:  # multi-intent: every single intent of the label must be known; scored as a set (gold_sets)
        keep = np.array([all(n in intent_index for n in split_intents(g.example.intent)) for g in gold], dtype=bool)
        gold_intents = np.zeros(len(gold), dtype=int)
        gold_sets = multi_hot([g.example.intent for g, k in zip(gold, keep, strict=True) if k], m.intents)
    return RawOutputs(np.concatenate(logits)[keep], [e for e, k in zip(emissions, keep, strict=True) if k],
                      gold_intents[keep], [p for p, k in zip(paths, keep, strict=True) if k],
                      [s for s, k in zip(slots, keep, strict=True) if k], gold_sets)


def slot_confidences(raw: RawOutputs, crf: CRFPosterior) -> tuple[np.ndarray, np.ndarray]:
    confidence, correct = [], []
    for e, spans in zip(raw.emissions, raw.slots_right, strict=True):
        if spans:
            post = crf.posterior(e)
            for start, stop, begin, inside, right in spans:
                confidence.append(crf.span_probability(post, start, stop, begin, inside))
                correct.append(right)
    return np.array(confidence), np.array(correct, dtype=bool)


def intent_confidences(raw: RawOutputs, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, correct) of the intent answered; for a multi-intent model, of every intent's presence (each
    sigmoid against whether the utterance has that intent): its per-label calibration."""
    if raw.gold_sets is not None:
        return sigmoid(raw.logits / temperature).ravel(), raw.gold_sets.ravel() > 0.5
    probs = np.exp(log_softmax(raw.logits.astype(np.float64) / temperature))
    return probs.max(axis=1), probs.argmax(axis=1) == raw.gold_intents


def fit(raw: RawOutputs, manifest_crf: tuple) -> dict:
    """Both temperatures and the dev-split calibration before and after them."""
    # one intent (or one seen on dev) leaves the likelihood flat in T: keep the raw softmax
    if raw.gold_sets is not None:  # a sigmoid per intent: the binary log loss of each, over all intents
        intent_t = fit_temperature(lambda t: binary_nll(*intent_confidences(raw, t))) if len(raw.logits) else 1.0
    else:
        one_class = raw.logits.shape[1] < 2 or len(set(raw.gold_intents.tolist())) < 2
        intent_t = 1.0 if one_class else fit_temperature(lambda t: intent_nll(raw.logits, raw.gold_intents, t))

    def crf_at(t: float) -> CRFPosterior:
        return CRFPosterior(*manifest_crf, temperature=t)

    any_slot = any(raw.slots_right)  # a model that predicts no slot on dev (trained for seconds) has nothing to fit
    crf_t = fit_temperature(lambda t: binary_nll(*slot_confidences(raw, crf_at(t))), low=0.2, high=5.0,
                            steps=25) if any_slot else 1.0
    dev = {}
    for name, (it, ct) in {"before": (1.0, 1.0), "after": (intent_t, crf_t)}.items():
        intent, slot = summary(*intent_confidences(raw, it)), summary(*slot_confidences(raw, crf_at(ct)))
        parts = [("intent", intent), ("slot", slot)]
        if raw.gold_sets is not None:  # per label above; the most probable intent's confidence as for one softmax
            probs = sigmoid(raw.logits / it)
            top = probs.argmax(axis=1)
            parts.append(("top_intent", summary(probs.max(axis=1), raw.gold_sets[np.arange(len(top)), top] > 0.5)))
        dev[name] = {what: {"n": r["n"], "ece": round(r["ece"], 4), "brier": round(r["brier"], 4)}
                     for what, r in parts}
    return {"intent_temperature": round(intent_t, 4), "crf_temperature": round(crf_t, 4), "dev": dev}


def calibrate(model_dir: Path, dev: list[TaggedExample], data_name: str) -> dict:
    """The manifest's ``calibration`` entry, fitted on the graph the service serves by default."""
    predictor = Predictor.load(model_dir, precision="auto", calibrated=False)
    m = predictor.manifest
    result = fit(raw_outputs(predictor, dev), (m.tags, m.crf_start, m.crf_transitions, m.crf_end))
    result.update({"fitted_on": f"{data_name} dev ({len(dev)} utterances)", "precision": predictor.precision,
                   "intent_objective": "NLL of the gold intent" if m.intent_threshold is None else
                   "binary log loss of each intent's sigmoid against its presence (per-label calibration)",
                   "crf_objective": "log loss of each predicted slot's confidence against its correctness"})
    log.info("temperatures: intent %.3f, CRF %.3f; dev ECE intent %.4f -> %.4f, slot %.4f -> %.4f",
             result["intent_temperature"], result["crf_temperature"], result["dev"]["before"]["intent"]["ece"],
             result["dev"]["after"]["intent"]["ece"], result["dev"]["before"]["slot"]["ece"],
             result["dev"]["after"]["slot"]["ece"])
    return result


def main(argv: list[str] | None = None) -> None:
    from elmol_nlu.datasets import load_split

    p = argparse.ArgumentParser(prog="python -m export.calibrate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"))
    p.add_argument("--exclude-scenarios", default="", help="as the model was trained with (train_nlu's option)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    exclude = frozenset(x for x in args.exclude_scenarios.split(",") if x)
    dev = load_split(args.data, "dev", None, exclude)
    raw = load_manifest(args.model_dir).raw
    content = {**raw, "files": list(raw["files"]), "calibration": calibrate(args.model_dir, dev, args.data.name)}
    content.pop("schema_version")
    write_manifest(args.model_dir, content)
    log.info("wrote the calibration into %s/manifest.json", args.model_dir)


if __name__ == "__main__":
    main()
