"""Pretrain the ELMo-Light (or ELMo) language model on unlabeled utterances, resumably.

    python -m training.pretrain_lm --out runs/elmol --epochs 4 --max-minutes 170
    torchrun --nproc-per-node 2 -m training.pretrain_lm --data runs/shards --out runs/elmol-ddp --threads 1

Re-running the same command resumes from ``OUT/last.pt``. Held-out perplexity (1% of the corpus,
fixed by ``--seed``) is logged after each epoch. Under torchrun (any number of processes and nodes) the
model is wrapped in DistributedDataParallel; each rank reads its own batches (its shards of a sharded
corpus, or every N-th batch of a file's plan); rank 0 writes checkpoints and every rank resumes from them.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from training import corpus as C  # noqa: N812 (C. reads better than corpus. here)
from training.checkpoint import load_checkpoint, save_checkpoint
from training.distributed import World, init_world
from training.lm import BiLanguageModel, LMBatch, LMConfig
from training.schedule import warmup_cosine
from training.shards import ShardedCorpus

log = logging.getLogger("pretrain_lm")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("data/unlabeled/utterances.txt.gz"),
                   help="a corpus file (read whole), or a directory of shards from training.shards (streamed)")
    p.add_argument("--out", type=Path, required=True, help="checkpoint directory (resumed if it has last.pt)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-tokens", type=int, default=2048, help="per process: the global batch is N times this")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=300, help="warm-up steps")
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-minutes", type=float, default=None, help="checkpoint and stop after this long")
    p.add_argument("--checkpoint-minutes", type=float, default=10.0)
    p.add_argument("--max-steps", type=int, default=None, help="checkpoint and stop after this many steps of this run")
    p.add_argument("--limit", type=int, default=None, help="use only the first N utterances (smoke tests)")
    p.add_argument("--max-len", type=int, default=40, help="tokens kept per utterance")
    p.add_argument("--vocab-size", type=int, default=30000)
    p.add_argument("--min-count", type=int, default=2)
    p.add_argument("--layers", type=int, default=1, help="1 = ELMo-Light, 2 = ELMo")
    p.add_argument("--hidden", type=int, default=256, help="LSTM size per direction (and projection size)")
    p.add_argument("--filters", type=str, default=None, help="char CNN as 'width:n,...', e.g. 1:32,2:32,3:64")
    p.add_argument("--highway", type=int, default=1)
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace, vocab_size: int) -> LMConfig:
    cfg = LMConfig(n_layers=args.layers, hidden_dim=args.hidden, proj_dim=args.hidden, n_highway=args.highway)
    if args.filters:
        filters = tuple(tuple(int(x) for x in f.split(":")) for f in args.filters.split(","))
        cfg = replace(cfg, filters=filters)
    cutoffs = tuple(c for c in cfg.cutoffs if c < vocab_size - 1) or (vocab_size // 4,)
    return replace(cfg, vocab_size=vocab_size, cutoffs=cutoffs)


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


class InMemoryCorpus:
    """A corpus file read whole (fine for millions of utterances): batches planned by length over all of it;
    under torchrun each rank takes every W-th batch of the same plan."""

    def __init__(self, args: argparse.Namespace, vocab: C.Vocab | None) -> None:
        lines = C.read_utterances(args.data, args.limit)
        train_lines, heldout_lines = C.split_heldout(lines, 0.01, args.seed)
        self.train_sents = [C.words_of(s, args.max_len) for s in train_lines]
        self.heldout_sents = [C.words_of(s, args.max_len) for s in heldout_lines]
        self.vocab = vocab or C.build_word_vocab(self.train_sents, args.vocab_size, args.min_count)
        self.seed, self.batch_tokens = args.seed, args.batch_tokens

    def prepare(self, max_chars: int, world: World) -> None:
        self.train = C.encode(self.train_sents, self.vocab, max_chars)
        self.world = world
        self.n_tokens = self.train.n_tokens

    def heldout(self, max_chars: int) -> C.EncodedCorpus:
        return C.encode(self.heldout_sents, self.vocab, max_chars)

    def n_batches(self) -> int:
        return len(C.batch_plan(self.train, self.batch_tokens, self.seed)) // self.world.size

    def batches(self, epoch: int, skip: int) -> Iterator[LMBatch]:
        plan = C.batch_plan(self.train, self.batch_tokens, self.seed + epoch)
        mine = plan[self.world.rank :: self.world.size][: len(plan) // self.world.size]
        return C.iterate(self.train, mine, self.vocab, skip)


class StreamedCorpus:
    """A directory of shards (``python -m training.shards``), streamed: each rank reads only its own."""

    def __init__(self, args: argparse.Namespace, vocab: C.Vocab | None) -> None:
        self.shards = ShardedCorpus.open(args.data)
        self.vocab = vocab or self.shards.vocab
        self.seed, self.batch_tokens = args.seed, args.batch_tokens

    def prepare(self, max_chars: int, world: World) -> None:
        self.max_chars, self.world = max_chars, world
        self.n_tokens = self.shards.n_tokens

    def heldout(self, max_chars: int) -> C.EncodedCorpus:
        return self.shards.heldout(max_chars)

    def n_batches(self) -> int:
        return self.world.min(self.shards.count_batches(self.world.rank, self.world.size, self.batch_tokens))

    def batches(self, epoch: int, skip: int) -> Iterator[LMBatch]:
        return self.shards.batches(self.world.rank, self.world.size, epoch, self.seed, self.batch_tokens,
                                   self.max_chars, skip)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    world = init_world()
    logging.basicConfig(level=logging.INFO if world.is_main else logging.WARNING,
                        format=f"%(asctime)s %(name)s [rank {world.rank}] %(message)s")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.out / "last.pt"

    state = load_checkpoint(ckpt_path) if ckpt_path.exists() else None
    vocab = C.Vocab(state["vocab"], unk=C.UNK) if state else None
    data = StreamedCorpus(args, vocab) if args.data.is_dir() else InMemoryCorpus(args, vocab)
    cfg = LMConfig.from_dict(state["config"]) if state else config_from_args(args, len(data.vocab))
    if state:
        log.info("resuming from %s at epoch %d batch %d", ckpt_path, state["epoch"], state["batch"])
    data.prepare(cfg.max_chars, world)
    heldout = data.heldout(cfg.max_chars) if world.is_main else None
    log.info("corpus %s: %d train tokens, %d held-out utterances; vocabulary %d words; %d process(es)",
             args.data, data.n_tokens, len(heldout.sentences) if heldout else 0, len(data.vocab), world.size)

    torch.manual_seed(args.seed)  # the same initial weights on every rank
    model = BiLanguageModel(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    epoch, start_batch, step = 0, 0, 0
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        epoch, start_batch, step = state["epoch"], state["batch"], state["step"]
    log.info("model: %s, %.2fM parameters", cfg, sum(p.numel() for p in model.parameters()) / 1e6)
    # Adaptive-softmax clusters without a target in a batch get no gradient: DDP must be told.
    trained = DistributedDataParallel(model, find_unused_parameters=True) if world.distributed else model

    n_batches = data.n_batches()
    total_steps = n_batches * args.epochs
    started = last_ckpt = time.monotonic()
    steps_this_run = 0

    def checkpoint(batch_index: int, ppl: float | None = None, extra: dict | None = None) -> None:
        if world.is_main:
            save_checkpoint(ckpt_path, {
                "config": cfg.to_dict(), "vocab": data.vocab.itos, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "epoch": epoch, "batch": batch_index, "step": step,
                "args": {k: str(v) for k, v in vars(args).items()}, "heldout_perplexity": ppl,
                "world_size": world.size, **(extra or {}),
            })
        world.barrier()  # nobody goes on (or exits) before the checkpoint is on disk

    model.train()
    while epoch < args.epochs:
        batches = data.batches(epoch, start_batch)
        bar = tqdm(total=n_batches, initial=start_batch, desc=f"epoch {epoch + 1}/{args.epochs}", mininterval=30,
                   unit="batch", disable=not world.is_main)
        running, i, epoch_started, epoch_tokens = None, start_batch, time.monotonic(), 0
        while True:
            batch = next(batches, None)
            now = time.monotonic()
            out_of_time = args.max_minutes is not None and now - started > args.max_minutes * 60
            out_of_steps = args.max_steps is not None and steps_this_run >= args.max_steps
            # every rank must take the same number of steps: stop when any has run dry or out of budget
            if world.any(batch is None):
                break
            if world.any(out_of_time or out_of_steps):
                checkpoint(i, extra={"tokens_per_s": world.size * epoch_tokens / max(1e-9, now - epoch_started),
                                     "train_perplexity": math.exp(running) if running else None})
                log.info("budget reached at epoch %d batch %d; re-run the same command to resume", epoch + 1, i)
                bar.close()
                world.close()
                return
            for group in optimizer.param_groups:
                group["lr"] = args.lr * warmup_cosine(step, args.warmup, total_steps)
            loss = trained(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # DDP averages the gradients of all ranks here
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
            step, i, steps_this_run = step + 1, i + 1, steps_this_run + 1
            epoch_tokens += int(batch.mask.sum())
            value = loss.item()
            running = value if running is None else 0.98 * running + 0.02 * value
            bar.update()
            bar.set_postfix(ppl=f"{math.exp(running):.1f}", refresh=False)
            if now - last_ckpt > args.checkpoint_minutes * 60:
                checkpoint(i)
                last_ckpt = now
                log.info("checkpoint at epoch %d batch %d/%d, train ppl %.2f", epoch + 1, i, n_batches,
                         math.exp(running))
        bar.close()
        rate = world.size * epoch_tokens / max(1e-9, time.monotonic() - epoch_started)  # ranks see similar shares
        epoch, start_batch = epoch + 1, 0
        ppl = perplexity(model, heldout, data.vocab, args.batch_tokens) if world.is_main else None
        checkpoint(0, ppl, {"tokens_per_s": rate, "train_perplexity": math.exp(running) if running else None})
        if world.is_main:
            save_checkpoint(args.out / f"epoch{epoch}.pt", load_checkpoint(ckpt_path) | {"optimizer": None})
            log.info("epoch %d done: held-out perplexity %.2f, %.0f tokens/s over %d process(es)", epoch, ppl, rate,
                     world.size)
        world.barrier()
    world.close()


if __name__ == "__main__":
    main()
