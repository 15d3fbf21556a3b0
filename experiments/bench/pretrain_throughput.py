"""Language-model pretraining throughput on this machine: 1 process vs 2 under torchrun, side by side.

    python -m experiments.bench.pretrain_throughput [--steps 150] [--out reports/pretrain_throughput.json]

Each configuration trains the ELMoL language model (the shipped architecture) for ``--steps`` steps at
the same global batch (2,048 tokens) from a fresh start on the sharded corpus (made with
``python -m training.shards`` if missing) and reports the tokens per second the run measured itself:
1 process with 1 and with 2 intra-op threads, and 2 DistributedDataParallel processes of 1 thread each.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from experiments.bench.process import ROOT
from training.shards import INDEX, shard

log = logging.getLogger("bench.pretrain_throughput")
GLOBAL_BATCH_TOKENS = 2048
CONFIGS = (("1 process x 1 thread", 1, 1), ("1 process x 2 threads", 1, 2), ("2 processes x 1 thread (DDP)", 2, 1))


def run(shards: Path, processes: int, threads: int, steps: int, work: Path) -> dict:
    out = work / f"p{processes}t{threads}"
    shutil.rmtree(out, ignore_errors=True)
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes)]
                if processes > 1 else [sys.executable])
    command = [*launcher, "-m", "training.pretrain_lm", "--data", str(shards), "--out", str(out),
               "--batch-tokens", str(GLOBAL_BATCH_TOKENS // processes), "--threads", str(threads),
               "--max-steps", str(steps), "--warmup", "10"]
    log.info("%s", " ".join(command))
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    state = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    return {"processes": processes, "threads": threads, "steps": state["step"],
            "tokens_per_s": state["tokens_per_s"], "world_size": state["world_size"],
            "train_perplexity": state["train_perplexity"]}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m experiments.bench.pretrain_throughput", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shards", type=Path, default=Path("runs/shards"))
    p.add_argument("--data", type=Path, default=Path("data/unlabeled/utterances.txt.gz"))
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--out", type=Path, default=Path("reports/pretrain_throughput.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if not (args.shards / INDEX).is_file():
        shard(args.data, args.shards, n_shards=8, heldout=0.01, seed=13, vocab_size=30000, min_count=2, max_len=40)
    with tempfile.TemporaryDirectory(prefix="elmol-throughput-") as work:
        rows = [{"config": name, **run(args.shards, n, t, args.steps, Path(work))} for name, n, t in CONFIGS]
    base = rows[0]["tokens_per_s"]
    for row in rows:
        row["speedup_vs_1x1"] = row["tokens_per_s"] / base
    result = {"global_batch_tokens": GLOBAL_BATCH_TOKENS, "cpus": os.cpu_count(), "torch": torch.__version__,
              "loadavg_end": list(os.getloadavg()), "runs": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for row in rows:
        print(f"{row['config']:<32}{row['tokens_per_s']:>10.0f} tokens/s{row['speedup_vs_1x1']:>7.2f}x"
              f"   train ppl after {row['steps']} steps {row['train_perplexity']:.1f}")
    return result


if __name__ == "__main__":
    main()
