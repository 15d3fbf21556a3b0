"""How well the served confidences mean what they say: calibration on MASSIVE en-US test, through POST /parse.

    python -m experiments.bench.confidence [--out reports/confidence]

Starts the real server twice, with the manifest's temperatures (ELMOL_CALIBRATION=true) and without,
sends every test utterance to ``/parse`` and scores what came back:
- intent: the confidence of the returned intent against whether it is the gold intent;
- slot: the confidence of each returned slot against whether its label and span match a gold slot;
- sequence: ``sequence_confidence`` against whether every tag is right.
Writes ``calibration.json`` (ECE over 15 equal-width bins, Brier, reliability bins, coverage at thresholds)
and ``reliability.png`` (reliability diagrams before and after calibration).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import httpx
import numpy as np
from tqdm import tqdm

from elmol_nlu.calibration import summary
from elmol_nlu.datasets import TaggedExample
from elmol_nlu.manifest import load_manifest
from elmol_nlu.paths import DEFAULT_MODEL_DIR
from elmol_nlu.vocab import bio_spans
from experiments.bench.corpus import DEFAULT_DATA
from experiments.bench.process import serve

log = logging.getLogger("bench.confidence")
KINDS = ("intent", "slot", "sequence")
THRESHOLDS = (0.3, 0.5, 0.7, 0.9)


def gold_slots(g: TaggedExample) -> set[tuple[str, int, int]]:
    return {(s.name, g.tokens[s.start].start, g.tokens[s.end - 1].end) for s in bio_spans(g.tags)}


def score_answers(gold: list[TaggedExample], answers: list[dict]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(confidence, correct) pairs of each kind."""
    pairs: dict[str, tuple[list, list]] = {k: ([], []) for k in KINDS}

    def add(kind: str, confidence: float, correct: bool) -> None:
        pairs[kind][0].append(confidence)
        pairs[kind][1].append(correct)

    for g, a in zip(gold, answers, strict=True):
        top = a["intent_ranking"][0]  # = intent, also when the server fell back
        add("intent", top["confidence"], top["name"] == g.example.intent)
        expected = gold_slots(g)
        for s in a["slots"]:
            add("slot", s["confidence"], (s["name"], s["start"], s["end"]) in expected)
        add("sequence", a["sequence_confidence"], a["tags"] == g.tags)
    return {k: (np.array(c, dtype=np.float64), np.array(y, dtype=bool)) for k, (c, y) in pairs.items()}


def coverage(confidence: np.ndarray, correct: np.ndarray) -> list[dict]:
    """What a threshold keeps: the share of answers at or above it and their accuracy."""
    out = []
    for t in THRESHOLDS:
        kept = confidence >= t
        out.append({"threshold": t, "coverage": float(kept.mean()),
                    "accuracy_kept": float(correct[kept].mean()) if kept.any() else None})
    return out


def parse_all(model_dir: Path, texts: list[str], calibrated: bool, cpus: set[int] | None) -> tuple[list[dict], dict]:
    env = {"ELMOL_CALIBRATION": str(calibrated).lower()}
    with serve(model_dir, 1, cpus, env=env) as url, httpx.Client(base_url=url, timeout=10.0) as client:
        answers = []
        for text in tqdm(texts, desc=f"POST /parse ({'calibrated' if calibrated else 'raw'})", unit="utt"):
            r = client.post("/parse", json={"text": text})
            r.raise_for_status()
            answers.append(r.json())
        model = client.get("/ready").json()["model"]
    return answers, model


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 7.5), sharex=True, sharey=True)
    for row, when in enumerate(("before", "after")):
        for col, kind in enumerate(KINDS):
            ax, s = axes[row, col], results[when][kind]
            bins = [b for b in s["bins"] if b["count"]]
            centers = [(b["low"] + b["high"]) / 2 for b in bins]
            ax.bar(centers, [b["accuracy"] for b in bins], width=1 / len(s["bins"]), edgecolor="black",
                   color="tab:blue", alpha=0.75, label="accuracy in bin")
            ax.plot([b["mean_confidence"] for b in bins], [b["accuracy"] for b in bins], "o", color="tab:orange",
                    ms=4, label="(mean confidence, accuracy)")
            ax.plot([0, 1], [0, 1], "--", color="gray", lw=1)
            ax.set_title(f"{kind}, {when} calibration\nECE {s['ece']:.3f}, Brier {s['brier']:.3f}, n={s['n']}",
                         fontsize=10)
            if row == 1:
                ax.set_xlabel("confidence")
            if col == 0:
                ax.set_ylabel("accuracy")
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.suptitle(f"Reliability on MASSIVE en-US test through POST /parse ({results['model']['name']} "
                 f"{results['model']['version']}, {results['model']['precision']})", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    from elmol_nlu.datasets import load_split
    from experiments.bench.over_http import pinning

    p = argparse.ArgumentParser(prog="python -m experiments.bench.confidence", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MASSIVE JSON lines; the test partition is used")
    p.add_argument("--out", type=Path, default=Path("reports/confidence"))
    p.add_argument("--limit", type=int, default=None, help="first N test utterances (smoke tests)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    gold = load_split(args.data, "test", args.limit)
    server_cpus, _ = pinning(0, 1)
    results: dict = {"data": f"{args.data.name} test ({len(gold)} utterances)",
                     "calibration": load_manifest(args.model_dir, verify=False).calibration}
    for when, calibrated in (("before", False), ("after", True)):
        answers, results["model"] = parse_all(args.model_dir, [g.example.text for g in gold], calibrated,
                                              server_cpus)
        scored = score_answers(gold, answers)
        results[when] = {kind: {**summary(*pair), "coverage": coverage(*pair)} for kind, pair in scored.items()}
        log.info("%s calibration: %s", when, {k: round(v["ece"], 4) for k, v in results[when].items()})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "calibration.json").write_text(json.dumps(results, indent=1) + "\n")
    plot(results, args.out / "reliability.png")
    print(f"{'':<10}{'ECE before':>12}{'ECE after':>11}{'Brier before':>14}{'Brier after':>13}{'n':>7}")
    for kind in KINDS:
        b, a = results["before"][kind], results["after"][kind]
        print(f"{kind:<10}{b['ece']:>12.4f}{a['ece']:>11.4f}{b['brier']:>14.4f}{a['brier']:>13.4f}{a['n']:>7}")
    log.info("wrote %s and %s", args.out / "calibration.json", args.out / "reliability.png")
    return results


if __name__ == "__main__":
    main()
