"""Encoder speed, ELMo against ELMo-Light, in PyTorch and ONNX Runtime, measured side by side.

    python -m experiments.bench.encoders --elmol-lm checkpoints/elmol-lm-epoch2.pt \
        --elmo-lm checkpoints/elmo-lm-epoch2.pt

Each encoder (char CNN, biLSTM layers and the scalar mix the NLU reads) runs on the same batches of
real MASSIVE test words, 10 and 25 tokens long, at batch 1 and 32. Calls are interleaved (one call of
each encoder and backend in turn), so that a change in machine speed hits all of them alike. Prints
p50 latency, throughput and the ELMo / ELMoL ratio; writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn
from tqdm import tqdm

from elmol_nlu.datasets import read_massive
from elmol_nlu.runtime.sessions import session_options
from elmol_nlu.text import batch_char_ids, tokenize
from experiments.bench.stats import summarize
from export.to_onnx import write_char_graph
from training.lm import ELMoEncoder, ScalarMix
from training.reproduce_inputs import load_lm_encoder

log = logging.getLogger("bench.encoders")


class MixedEncoder(nn.Module):
    """What the NLU network reads: the scalar mix of the encoder's layers."""

    def __init__(self, encoder: ELMoEncoder) -> None:
        super().__init__()
        self.encoder, self.mix = encoder, ScalarMix(encoder.n_outputs)

    def forward(self, chars: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.mix(self.encoder(chars, lengths))


def load_encoder(path: Path) -> MixedEncoder:
    cfg, weights = load_lm_encoder(path)
    model = MixedEncoder(ELMoEncoder(cfg))
    model.encoder.load_state_dict(weights)
    return model.eval()


def to_onnx(model: MixedEncoder, path: Path, threads: int) -> ort.InferenceSession:
    write_char_graph(model, model.encoder.cfg.max_chars, path, {"emb": {0: "batch", 1: "time"}})
    return ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])


def utterances(words: list[str], n_tokens: int, batch: int) -> list[list[str]]:
    """``batch`` windows of exactly ``n_tokens`` consecutive words."""
    return [words[i * n_tokens : (i + 1) * n_tokens] for i in range(batch)]


def measure(models: dict, sessions: dict, chars: np.ndarray, lengths: np.ndarray, repeats: int) -> dict:
    """Interleaved timings in ms: {(name, backend): [ms, ...]}."""
    timings: dict[tuple[str, str], list[float]] = {(n, b): [] for n in models for b in ("pytorch", "onnx")}
    chars_t, lengths_t = torch.from_numpy(chars), torch.from_numpy(lengths)
    feed = {"chars": chars, "lengths": lengths}
    with torch.inference_mode():
        for r in range(repeats + 3):  # the first 3 rounds warm up
            for name, model in models.items():
                for backend in ("pytorch", "onnx"):
                    start = time.perf_counter()
                    if backend == "pytorch":
                        model(chars_t, lengths_t)
                    else:
                        sessions[name].run(None, feed)
                    if r >= 3:
                        timings[(name, backend)].append((time.perf_counter() - start) * 1000)
    return timings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--elmol-lm", type=Path, default=Path("checkpoints/elmol-lm-epoch2.pt"))
    p.add_argument("--elmo-lm", type=Path, default=Path("checkpoints/elmo-lm-epoch2.pt"))
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"))
    p.add_argument("--repeats", type=int, default=200, help="timed calls of each encoder, backend and shape")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("reports/encoder_speed.json"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    models = {"elmol": load_encoder(args.elmol_lm), "elmo": load_encoder(args.elmo_lm)}
    with tempfile.TemporaryDirectory() as tmp:
        sessions = {n: to_onnx(m, Path(tmp) / f"{n}.onnx", args.threads) for n, m in models.items()}
        rows = []
        words = [t.text for e in read_massive(args.data, "test")[:2000] for t in tokenize(e.text)]
        max_chars = models["elmol"].encoder.cfg.max_chars
        shapes = [(b, t) for b in (1, 32) for t in (10, 25)]
        for batch, n_tokens in tqdm(shapes, desc="shapes"):
            chars, lengths = batch_char_ids(utterances(words, n_tokens, batch), max_chars)
            repeats = args.repeats if batch == 1 else max(20, args.repeats // 8)
            for (name, backend), ms in measure(models, sessions, chars, lengths, repeats).items():
                s = summarize(ms)
                rows.append({"encoder": name, "backend": backend, "batch": batch, "tokens": n_tokens,
                             "p50_ms": round(s["p50"], 3), "p90_ms": round(s["p90"], 3),
                             "tokens_per_s": round(batch * n_tokens * 1000 / s["mean"]), "calls": s["n"]})
    params = {n: sum(p.numel() for p in m.encoder.parameters()) for n, m in models.items()}
    ratios = [{"backend": r["backend"], "batch": r["batch"], "tokens": r["tokens"],
               "elmo_over_elmol_p50": round(r["p50_ms"] / e["p50_ms"], 2)}
              for r in rows if r["encoder"] == "elmo"
              for e in rows if e["encoder"] == "elmol" and (e["backend"], e["batch"], e["tokens"]) ==
              (r["backend"], r["batch"], r["tokens"])]
    result = {"threads": args.threads, "parameters": params, "rows": rows, "ratios": ratios,
              "lms": {"elmol": str(args.elmol_lm), "elmo": str(args.elmo_lm)}}
    for r in ratios:
        log.info("%-7s batch %2d, %2d tokens: ELMo takes %.2fx ELMoL's time", r["backend"], r["batch"], r["tokens"],
                 r["elmo_over_elmol_p50"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    return result


def markdown(result: dict) -> str:
    """One row per backend, batch and length: p50 ms and tokens/s of each encoder, and the ratio."""
    by = {(r["encoder"], r["backend"], r["batch"], r["tokens"]): r for r in result["rows"]}
    lines = ["| backend | batch | tokens | ELMoL p50 ms | ELMo p50 ms | ELMo / ELMoL | ELMoL tokens/s "
             "| ELMo tokens/s |", "|---|---|---|---|---|---|---|---|"]
    for r in result["ratios"]:
        key = (r["backend"], r["batch"], r["tokens"])
        light, full = by[("elmol", *key)], by[("elmo", *key)]
        lines.append(f"| {r['backend']} | {r['batch']} | {r['tokens']} | {light['p50_ms']:.2f} | {full['p50_ms']:.2f} "
                     f"| **{r['elmo_over_elmol_p50']:.2f}x** | {light['tokens_per_s']} | {full['tokens_per_s']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
