"""Pretrain the ELMo-Light (or ELMo) language model on unlabeled utterances, resumably.

    python -m training.pretrain_lm --out runs/elmol --epochs 4 --max-minutes 170

Re-running the same command resumes from ``OUT/last.pt``. Held-out perplexity (1% of the corpus,
fixed by ``--seed``) is logged after each epoch and each checkpoint.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from dataclasses import replace
from pathlib import Path

import torch
from tqdm import tqdm

from training import corpus as C  # noqa: N812 (C. reads better than corpus. here)
from training.checkpoint import load_checkpoint, save_checkpoint
from training.lm import BiLanguageModel, LMConfig
from training.schedule import warmup_cosine

log = logging.getLogger("pretrain_lm")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("data/unlabeled/utterances.txt.gz"))
    p.add_argument("--out", type=Path, required=True, help="checkpoint directory (resumed if it has last.pt)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-tokens", type=int, default=2048)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=300, help="warm-up steps")
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-minutes", type=float, default=None, help="checkpoint and stop after this long")
    p.add_argument("--checkpoint-minutes", type=float, default=10.0)
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


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.out / "last.pt"

    lines = C.read_utterances(args.data, args.limit)
    train_lines, heldout_lines = C.split_heldout(lines, 0.01, args.seed)
    train_sents = [C.words_of(s, args.max_len) for s in train_lines]
    heldout_sents = [C.words_of(s, args.max_len) for s in heldout_lines]

    state = load_checkpoint(ckpt_path) if ckpt_path.exists() else None
    if state:
        cfg, vocab = LMConfig.from_dict(state["config"]), C.Vocab(state["vocab"], unk=C.UNK)
        log.info("resuming from %s at epoch %d batch %d", ckpt_path, state["epoch"], state["batch"])
    else:
        vocab = C.build_word_vocab(train_sents, args.vocab_size, args.min_count)
        cfg = config_from_args(args, len(vocab))
    train = C.encode(train_sents, vocab, cfg.max_chars)
    heldout = C.encode(heldout_sents, vocab, cfg.max_chars)
    log.info("corpus: %d train utterances (%d tokens), %d held out; vocabulary %d words",
             len(train.sentences), train.n_tokens, len(heldout.sentences), len(vocab))

    torch.manual_seed(args.seed)
    model = BiLanguageModel(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    epoch, start_batch, step = 0, 0, 0
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        epoch, start_batch, step = state["epoch"], state["batch"], state["step"]
    log.info("model: %s, %.2fM parameters", cfg, sum(p.numel() for p in model.parameters()) / 1e6)

    n_batches = len(C.batch_plan(train, args.batch_tokens, args.seed))
    total_steps = n_batches * args.epochs
    started = last_ckpt = time.monotonic()

    def checkpoint(batch_index: int, ppl: float | None = None) -> None:
        save_checkpoint(ckpt_path, {
            "config": cfg.to_dict(), "vocab": vocab.itos, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "epoch": epoch, "batch": batch_index, "step": step,
            "args": {k: str(v) for k, v in vars(args).items()}, "heldout_perplexity": ppl,
        })

    model.train()
    while epoch < args.epochs:
        plan = C.batch_plan(train, args.batch_tokens, args.seed + epoch)
        bar = tqdm(C.iterate(train, plan, vocab, start_batch), total=len(plan), initial=start_batch,
                   desc=f"epoch {epoch + 1}/{args.epochs}", mininterval=30, unit="batch")
        running = None
        for i, batch in enumerate(bar, start=start_batch):
            for group in optimizer.param_groups:
                group["lr"] = args.lr * warmup_cosine(step, args.warmup, total_steps)
            loss = model(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
            step += 1
            value = loss.item()
            running = value if running is None else 0.98 * running + 0.02 * value
            bar.set_postfix(ppl=f"{math.exp(running):.1f}", refresh=False)
            now = time.monotonic()
            out_of_time = args.max_minutes is not None and now - started > args.max_minutes * 60
            if now - last_ckpt > args.checkpoint_minutes * 60 or out_of_time:
                checkpoint(i + 1)
                last_ckpt = now
                log.info("checkpoint at epoch %d batch %d/%d, train ppl %.2f", epoch + 1, i + 1, len(plan),
                         math.exp(running))
            if out_of_time:
                log.info("time budget of %.0f minutes reached; re-run the same command to resume", args.max_minutes)
                return
        epoch, start_batch = epoch + 1, 0
        ppl = perplexity(model, heldout, vocab, args.batch_tokens)
        checkpoint(0, ppl)
        save_checkpoint(args.out / f"epoch{epoch}.pt", load_checkpoint(ckpt_path) | {"optimizer": None})
        log.info("epoch %d done: held-out perplexity %.2f", epoch, ppl)


if __name__ == "__main__":
    main()
