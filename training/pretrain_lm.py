"""Pretrain the ELMo-Light (or ELMo) language model on unlabeled utterances, resumably.

    python -m training.pretrain_lm --out runs/elmol --epochs 4 --max-minutes 170
    torchrun --nproc-per-node 2 -m training.pretrain_lm --data runs/shards --out runs/elmol-ddp --threads 1
    python -m training.pretrain_lm --out runs/elmol-kd --init checkpoints/elmol-lm-epoch3.pt \
        --teacher-states runs/teacher-states --typo-rate 0.1      # encoder distillation and typo noise

Re-running the same command resumes from ``OUT/last.pt``. Held-out perplexity (1% of the corpus,
fixed by ``--seed``) is logged after each epoch. Under torchrun (any number of processes and nodes) the
model is wrapped in DistributedDataParallel; each rank reads its own batches (its shards of a sharded
corpus, or every N-th batch of a file's plan); rank 0 writes checkpoints and every rank resumes from them.
With ``--teacher-states`` the encoder's top layer also learns to predict MiniLM's word and sentence states
through a projection used only here (``training.lm.DistilHead``); ``--init`` starts from a trained LM's
weights and vocabulary with a fresh schedule.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from elmol_nlu.noise import TypoConfig
from training import corpus as C  # noqa: N812 (C. reads better than corpus. here)
from training.checkpoint import load_checkpoint, save_checkpoint
from training.distributed import World, init_world
from training.lm import BiLanguageModel, DistilledLM, LMConfig
from training.pretrain_config import PretrainConfig
from training.pretrain_data import InMemoryCorpus, StreamedCorpus
from training.schedule import warmup_cosine

log = logging.getLogger("pretrain_lm")


def parse_args(argv: list[str] | None = None) -> PretrainConfig:
    d = PretrainConfig
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=d.data,
                   help="a corpus file (read whole), or a directory of shards from training.shards (streamed)")
    p.add_argument("--out", type=Path, required=True, help="checkpoint directory (resumed if it has last.pt)")
    for name in ("epochs", "batch_tokens", "warmup", "seed", "threads", "max_steps", "limit", "max_len",
                 "vocab_size", "min_count", "layers", "hidden", "highway"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    for name in ("lr", "clip", "max_minutes", "checkpoint_minutes", "word_weight", "sentence_weight"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, name))
    p.add_argument("--filters", type=str, default=None, help="char CNN as 'width:n,...', e.g. 1:32,2:32,3:64")
    p.add_argument("--init", type=Path, default=None, help="start from this LM checkpoint (weights, vocabulary)")
    p.add_argument("--teacher-states", type=Path, nargs="*", default=[],
                   help="training.teacher_states folders: distil MiniLM's states into the encoder")
    p.add_argument("--typo-rate", type=float, default=0.0, help="share of words of 4+ letters given one edit")
    args = vars(p.parse_args(argv))
    args["teacher_states"] = tuple(args["teacher_states"])
    args["typo"] = TypoConfig(rate=args.pop("typo_rate"))
    return PretrainConfig(**args)


def lm_config(cfg: PretrainConfig, vocab_size: int) -> LMConfig:
    lm = LMConfig(n_layers=cfg.layers, hidden_dim=cfg.hidden, proj_dim=cfg.hidden, n_highway=cfg.highway)
    if cfg.filters:
        lm = replace(lm, filters=tuple(tuple(int(x) for x in f.split(":")) for f in cfg.filters.split(",")))
    cutoffs = tuple(c for c in lm.cutoffs if c < vocab_size - 1) or (vocab_size // 4,)
    return replace(lm, vocab_size=vocab_size, cutoffs=cutoffs)


@torch.no_grad()
def perplexity(model: BiLanguageModel, corpus: C.EncodedCorpus, vocab, batch_tokens: int) -> float:
    model.eval()
    total, count = 0.0, 0
    for batch in C.iterate(corpus, C.batch_plan(corpus, batch_tokens, seed=0), vocab):
        n = int(batch.mask.sum())
        total += float(model(batch)) * n
        count += n
    model.train()
    return math.exp(total / count)


class Run:
    """One pretraining run's state: data, model, optimizer, position; ``train`` goes on from where it is."""

    def __init__(self, cfg: PretrainConfig, world: World) -> None:
        self.cfg, self.world = cfg, world
        self.path = cfg.out / "last.pt"
        state = load_checkpoint(self.path) if self.path.exists() else None
        init = load_checkpoint(cfg.init) if cfg.init and not state else None
        source = state or init
        vocab = C.Vocab(source["vocab"], unk=C.UNK) if source else None
        self.data = StreamedCorpus(cfg, vocab) if cfg.data.is_dir() else InMemoryCorpus(cfg, vocab)
        self.lm_cfg = LMConfig.from_dict(source["config"]) if source else lm_config(cfg, len(self.data.vocab))
        self.data.prepare(self.lm_cfg.max_chars, world)
        self.heldout = self.data.heldout(self.lm_cfg.max_chars) if world.is_main else None
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        teacher_dim = self.data.teacher.dim if self.data.teacher else 0
        self.model = DistilledLM(BiLanguageModel(self.lm_cfg), teacher_dim, cfg.word_weight, cfg.sentence_weight)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.epoch, self.batch, self.step = 0, 0, 0
        if init:
            self.model.lm.load_state_dict(init["model"])
            log.info("initialised from %s (epoch %s)", cfg.init, init.get("epoch"))
        if state:
            self.model.lm.load_state_dict(state["model"])
            if self.model.head is not None:
                self.model.head.load_state_dict(state["distil_head"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.epoch, self.batch, self.step = state["epoch"], state["batch"], state["step"]
            log.info("resuming from %s at epoch %d batch %d", self.path, self.epoch, self.batch)
        log.info("corpus %s: %d train tokens, %d held-out utterances, teacher states for %.1f%% of sentences; "
                 "vocabulary %d words; %d process(es)", cfg.data, self.data.n_tokens,
                 len(self.heldout.sentences) if self.heldout else 0, 100 * self.data.teacher_coverage(),
                 len(self.data.vocab), world.size)
        log.info("model: %s, %.2fM parameters", self.lm_cfg, sum(p.numel() for p in self.model.parameters()) / 1e6)

    def checkpoint(self, extra: dict | None = None) -> None:
        if self.world.is_main:
            head = self.model.head
            save_checkpoint(self.path, {
                "config": self.lm_cfg.to_dict(), "vocab": self.data.vocab.itos, "model": self.model.lm.state_dict(),
                "distil_head": head.state_dict() if head is not None else None,
                "teacher_stats": self.data.teacher.stats() if self.data.teacher else None,
                "optimizer": self.optimizer.state_dict(), "epoch": self.epoch, "batch": self.batch,
                "step": self.step, "args": self.cfg.to_dict(), "world_size": self.world.size, **(extra or {}),
            })
        self.world.barrier()  # nobody goes on (or exits) before the checkpoint is on disk

    def end_epoch(self, rate: float, running: dict[str, float]) -> None:
        self.epoch, self.batch = self.epoch + 1, 0
        ppl = perplexity(self.model.lm, self.heldout, self.data.vocab, self.cfg.batch_tokens) \
            if self.world.is_main else None
        self.checkpoint({"heldout_perplexity": ppl, "tokens_per_s": rate, **_summary(running)})
        if self.world.is_main:
            save_checkpoint(self.cfg.out / f"epoch{self.epoch}.pt", load_checkpoint(self.path) | {"optimizer": None})
            log.info("epoch %d done: held-out perplexity %.2f, %.0f tokens/s over %d process(es), %s", self.epoch,
                     ppl, rate, self.world.size, _summary(running))
        self.world.barrier()


def _summary(running: dict[str, float]) -> dict:
    return {"train_perplexity": math.exp(running["lm"]) if "lm" in running else None,
            "word_distil_loss": running.get("word"), "sentence_distil_loss": running.get("sentence")}


def train(run: Run) -> None:
    """Epochs from the run's position to ``cfg.epochs``; returns early at a time or step budget (checkpointed)."""
    cfg, world, model = run.cfg, run.world, run.model
    # Adaptive-softmax clusters without a target in a batch get no gradient: DDP must be told.
    trained = DistributedDataParallel(model, find_unused_parameters=True) if world.distributed else model
    n_batches = run.data.n_batches()
    total_steps = n_batches * cfg.epochs
    started = last_ckpt = time.monotonic()
    steps_this_run = 0
    model.train()
    while run.epoch < cfg.epochs:
        batches = run.data.batches(run.epoch, run.batch)
        bar = tqdm(total=n_batches, initial=run.batch, desc=f"epoch {run.epoch + 1}/{cfg.epochs}", mininterval=30,
                   unit="batch", disable=not world.is_main)
        running: dict[str, float] = {}
        epoch_started, epoch_tokens = time.monotonic(), 0
        while True:
            batch = next(batches, None)
            now = time.monotonic()
            out_of_time = cfg.max_minutes is not None and now - started > cfg.max_minutes * 60
            out_of_steps = cfg.max_steps is not None and steps_this_run >= cfg.max_steps
            # every rank must take the same number of steps: stop when any has run dry or out of budget
            if world.any(batch is None):
                break
            if world.any(out_of_time or out_of_steps):
                rate = world.size * epoch_tokens / max(1e-9, now - epoch_started)
                run.checkpoint({"tokens_per_s": rate, **_summary(running)})
                log.info("budget reached at epoch %d batch %d; re-run the same command to resume", run.epoch + 1,
                         run.batch)
                bar.close()
                return
            for group in run.optimizer.param_groups:
                group["lr"] = cfg.lr * warmup_cosine(run.step, cfg.warmup, total_steps)
            losses = dict(zip(("total", "lm", "word", "sentence"), trained(batch), strict=True))
            run.optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()  # DDP averages the gradients of all ranks here
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            run.optimizer.step()
            run.step, run.batch, steps_this_run = run.step + 1, run.batch + 1, steps_this_run + 1
            epoch_tokens += int(batch.mask.sum())
            for k, v in losses.items():
                running[k] = v.item() if k not in running else 0.98 * running[k] + 0.02 * v.item()
            bar.update()
            bar.set_postfix(ppl=f"{math.exp(running['lm']):.1f}", word=f"{running['word']:.3f}",
                            sent=f"{running['sentence']:.3f}", refresh=False)
            if now - last_ckpt > cfg.checkpoint_minutes * 60:
                run.checkpoint()
                last_ckpt = now
                log.info("checkpoint at epoch %d batch %d/%d: %s", run.epoch + 1, run.batch, n_batches,
                         _summary(running))
        bar.close()
        run.end_epoch(world.size * epoch_tokens / max(1e-9, time.monotonic() - epoch_started), running)


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    world = init_world()
    logging.basicConfig(level=logging.INFO if world.is_main else logging.WARNING,
                        format=f"%(asctime)s %(name)s [rank {world.rank}] %(message)s")
    torch.set_num_threads(cfg.threads)
    cfg.out.mkdir(parents=True, exist_ok=True)
    train(Run(cfg, world))
    world.close()


if __name__ == "__main__":
    main()
