"""How well confidence separates out-of-scope utterances, on a model trained without some MASSIVE scenarios.

    make out-of-scope      # trains and exports the model below, then runs this
    python -m experiments.bench.out_of_scope --model-dir runs/models/oos --excluded email,iot,transport,lists,weather

The model never saw the excluded scenarios (train_nlu --exclude-scenarios; its temperatures were fitted
on the dev split of the scenarios it knows). Every MASSIVE en-US test utterance is parsed; those of
the kept scenarios are in scope (positives), those of the excluded ones out of scope. Each score should
be higher in scope: AUROC, the false-positive rate at 95% true-positive rate (the share of out-of-scope
utterances still accepted when 95% of in-scope ones are), and the threshold that gives it.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from elmol_nlu.datasets import read_massive
from elmol_nlu.runtime import Predictor
from elmol_nlu.text import tokenize
from experiments.bench.corpus import DEFAULT_DATA

log = logging.getLogger("bench.out_of_scope")


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a random positive > that of a random negative), ties counting half (Mann-Whitney)."""
    scores = np.concatenate([positive, negative])
    order = scores.argsort(kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # average ranks over ties
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    u = ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2
    return float(u / (len(positive) * len(negative)))


def fpr_at_tpr(positive: np.ndarray, negative: np.ndarray, tpr: float = 0.95) -> tuple[float, float]:
    """(false-positive rate, threshold) when accepting scores >= threshold keeps ``tpr`` of the positives."""
    threshold = float(np.quantile(positive, 1 - tpr, method="lower"))
    return float((negative >= threshold).mean()), threshold


def scores_of(predictor: Predictor, texts: list[str], batch: int = 64) -> dict[str, np.ndarray]:
    """Per utterance: calibrated max softmax, max logit, energy, CRF sequence probability, softmax × sequence."""
    out: dict[str, list[float]] = {"max_softmax": [], "max_logit": [], "energy": [], "sequence": [],
                                   "max_softmax_x_sequence": []}
    t = predictor.intent_temperature
    for i in range(0, len(texts), batch):
        chunk = texts[i : i + batch]
        logits, _ = predictor.run([tokenize(x) for x in chunk])
        z = logits.astype(np.float64) / t
        energy = t * (z.max(axis=1) + np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)))
        for parse, e, top in zip(predictor.parse_batch(chunk), energy, logits.max(axis=1), strict=True):
            out["max_softmax"].append(parse.confidence)
            out["max_logit"].append(float(top))
            out["energy"].append(float(e))  # T * logsumexp(logits / T): minus the free energy
            out["sequence"].append(parse.sequence_confidence)
            out["max_softmax_x_sequence"].append(parse.confidence * parse.sequence_confidence)
    return {k: np.array(v) for k, v in out.items()}


def plot(positive: dict, negative: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name in positive:
        thresholds = np.unique(np.concatenate([positive[name], negative[name]]))[::-1]
        tpr = [(positive[name] >= th).mean() for th in thresholds]
        fpr = [(negative[name] >= th).mean() for th in thresholds]
        ax.plot([0, *fpr, 1], [0, *tpr, 1], label=f"{name} (AUROC {auroc(positive[name], negative[name]):.3f})")
    ax.plot([0, 1], [0, 1], "--", color="gray", lw=1)
    ax.axhline(0.95, color="gray", lw=0.5)
    ax.set_xlabel("false-positive rate (out of scope accepted)")
    ax.set_ylabel("true-positive rate (in scope accepted)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m experiments.bench.out_of_scope", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=Path("runs/models/oos"))
    p.add_argument("--excluded", default="email,iot,transport,lists,weather", help="scenarios the model never saw")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--out", type=Path, default=Path("reports/confidence"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    excluded = set(args.excluded.split(","))
    predictor = Predictor.load(args.model_dir, precision="auto")
    test = [e for e in read_massive(args.data, "test") if tokenize(e.text)]
    seen = {e.domain for e in read_massive(args.data, "train")} - excluded
    leaked = {e.intent for e in test if e.domain in excluded} & set(predictor.manifest.intents)
    if leaked:
        raise SystemExit(f"{args.model_dir} knows intents of the excluded scenarios ({sorted(leaked)[:3]}...): "
                         "pass the scenarios it was trained without")
    positive = scores_of(predictor, [e.text for e in test if e.domain in seen])
    negative = scores_of(predictor, [e.text for e in test if e.domain in excluded])
    result = {"model": {"name": predictor.manifest.name, "version": predictor.manifest.version,
                        "precision": predictor.precision, "intent_temperature": predictor.intent_temperature},
              "excluded_scenarios": sorted(excluded), "in_scope": len(positive["max_softmax"]),
              "out_of_scope": len(negative["max_softmax"]), "scores": {}}
    for name in positive:
        fpr, threshold = fpr_at_tpr(positive[name], negative[name])
        result["scores"][name] = {"auroc": auroc(positive[name], negative[name]), "fpr_at_95_tpr": fpr,
                                  "threshold_at_95_tpr": threshold}
        log.info("%-24s AUROC %.4f, FPR@95TPR %.4f (threshold %.4g)", name, result["scores"][name]["auroc"], fpr,
                 threshold)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "out_of_scope.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(positive, negative, args.out / "out_of_scope_roc.png",
         f"Out of scope: {len(excluded)} MASSIVE scenarios never seen\n"
         f"{result['in_scope']} in-scope vs {result['out_of_scope']} out-of-scope test utterances")
    return result


if __name__ == "__main__":
    main()
