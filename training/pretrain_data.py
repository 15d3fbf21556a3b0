"""Where pretraining batches come from: a corpus file read whole, or a directory of shards streamed."""

from __future__ import annotations

import random
from collections.abc import Iterator

from training import corpus as C  # noqa: N812 (C. reads better than corpus. here)
from training.distributed import World
from training.encoder_distil import TeacherStates, add_typos
from training.lm import LMBatch
from training.pretrain_config import PretrainConfig
from training.shards import ShardedCorpus


class InMemoryCorpus:
    """A corpus file read whole (fine for millions of utterances): batches planned by length over all of it;
    under torchrun each rank takes every W-th batch of the same plan. Adds the teacher's states and typo
    noise to the training batches when the config asks for them."""

    def __init__(self, cfg: PretrainConfig, vocab: C.Vocab | None) -> None:
        lines = C.read_utterances(cfg.data, cfg.limit)
        train_lines, heldout_lines = C.split_heldout(lines, 0.01, cfg.seed)
        self.train_sents = [s for s in (C.words_of(line, cfg.max_len) for line in train_lines) if s]
        self.heldout_sents = [C.words_of(s, cfg.max_len) for s in heldout_lines]
        self.vocab = vocab or C.build_word_vocab(self.train_sents, cfg.vocab_size, cfg.min_count)
        self.cfg = cfg
        self.teacher = TeacherStates(list(cfg.teacher_states)) if cfg.teacher_states else None

    def prepare(self, max_chars: int, world: World) -> None:
        self.train = C.encode(self.train_sents, self.vocab, max_chars)
        self.rows = self.teacher.rows(self.train_sents) if self.teacher else None
        self.world, self.max_chars = world, max_chars
        self.n_tokens = self.train.n_tokens

    def teacher_coverage(self) -> float:
        return float((self.rows >= 0).mean()) if self.rows is not None else 0.0

    def heldout(self, max_chars: int) -> C.EncodedCorpus:
        return C.encode(self.heldout_sents, self.vocab, max_chars)

    def n_batches(self) -> int:
        return len(C.batch_plan(self.train, self.cfg.batch_tokens, self.cfg.seed)) // self.world.size

    def batches(self, epoch: int, skip: int) -> Iterator[LMBatch]:
        plan = C.batch_plan(self.train, self.cfg.batch_tokens, self.cfg.seed + epoch)
        mine = plan[self.world.rank :: self.world.size][: len(plan) // self.world.size]
        rng = random.Random(f"{self.cfg.seed}:{epoch}:{self.world.rank}:{skip}")
        for members, batch in zip(mine[skip:], C.iterate(self.train, mine, self.vocab, skip), strict=True):
            add_typos(batch, self.train, members, self.cfg.typo, rng, self.max_chars)
            if self.teacher is not None:
                self.teacher.attach(batch, self.rows[members].tolist())
            yield batch


class StreamedCorpus:
    """A directory of shards (``python -m training.shards``), streamed: each rank reads only its own."""

    def __init__(self, cfg: PretrainConfig, vocab: C.Vocab | None) -> None:
        if cfg.teacher_states or cfg.typo.rate:
            raise SystemExit("teacher states and typo noise need a corpus file, not shards")
        self.shards = ShardedCorpus.open(cfg.data)
        self.vocab = vocab or self.shards.vocab
        self.cfg = cfg
        self.teacher = None

    def prepare(self, max_chars: int, world: World) -> None:
        self.max_chars, self.world = max_chars, world
        self.n_tokens = self.shards.n_tokens

    def teacher_coverage(self) -> float:
        return 0.0

    def heldout(self, max_chars: int) -> C.EncodedCorpus:
        return self.shards.heldout(max_chars)

    def n_batches(self) -> int:
        return self.world.min(self.shards.count_batches(self.world.rank, self.world.size, self.cfg.batch_tokens))

    def batches(self, epoch: int, skip: int) -> Iterator[LMBatch]:
        return self.shards.batches(self.world.rank, self.world.size, epoch, self.cfg.seed, self.cfg.batch_tokens,
                                   self.max_chars, skip)
