"""A corpus split into gzip shards that language-model pretraining streams, one rank's shards at a time.

    python -m training.shards --data data/unlabeled/utterances.txt.gz --out runs/shards --shards 8

``shard`` reads the corpus once, line by line (never whole), deals the lines round-robin into
``shard-NNNNN.txt.gz`` files, keeps a fixed random fraction apart as ``heldout.txt.gz`` (for perplexity),
counts words as it goes and writes ``index.json``: the shards with their line and token counts, the
held-out file and the word vocabulary. Training reads the index; rank r of W streams shards r, r+W, ...
through a shuffle buffer, so memory holds one buffer, not the corpus. Shard counts a multiple of the
largest world size keep ranks balanced; ranks still stop an epoch together when the first runs dry.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from elmol_nlu.vocab import Vocab
from training import corpus as C  # noqa: N812
from training.lm import LMBatch

log = logging.getLogger("shards")
INDEX = "index.json"


def is_heldout(line_number: int, fraction: float, seed: int) -> bool:
    """A stable pseudo-random choice per line: the same lines whatever the number of shards."""
    digest = hashlib.blake2b(f"{seed}:{line_number}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < fraction


def stream_lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line := line.strip():
                yield line


def shard(data: Path, out: Path, n_shards: int, heldout: float, seed: int, vocab_size: int, min_count: int,
          max_len: int, limit: int | None = None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    names = [f"shard-{i:05d}.txt.gz" for i in range(n_shards)]
    counts: Counter[str] = Counter()
    stats = [{"file": n, "lines": 0, "tokens": 0} for n in names]
    held = {"file": "heldout.txt.gz", "lines": 0, "tokens": 0}
    with ExitStack() as stack:
        writers = [stack.enter_context(gzip.open(out / n, "wt", encoding="utf-8")) for n in names]
        held_writer = stack.enter_context(gzip.open(out / held["file"], "wt", encoding="utf-8"))
        dealt = 0
        for number, line in enumerate(tqdm(stream_lines(data), desc="sharding", unit="line", mininterval=5)):
            if limit is not None and number >= limit:
                break
            words = C.words_of(line, max_len)
            if is_heldout(number, heldout, seed):
                held_writer.write(line + "\n")
                held["lines"] += 1
                held["tokens"] += len(words)
                continue
            counts.update(words)
            writers[dealt % n_shards].write(line + "\n")
            stats[dealt % n_shards]["lines"] += 1
            stats[dealt % n_shards]["tokens"] += len(words)
            dealt += 1
    vocab = Vocab.from_counts(counts, min_count, vocab_size, specials=[C.PAD, C.UNK, C.BOS, C.EOS], unk=C.UNK)
    index = {"source": str(data), "seed": seed, "heldout_fraction": heldout, "max_len": max_len,
             "shards": stats, "heldout": held, "vocab": vocab.itos}
    (out / INDEX).write_text(json.dumps(index) + "\n")
    log.info("%d lines in %d shards, %d held out, vocabulary %d words -> %s", dealt, n_shards, held["lines"],
             len(vocab), out)
    return index


@dataclass(frozen=True)
class ShardedCorpus:
    """A directory written by ``shard``: streamed per rank, in buffers of ``buffer_lines`` utterances."""

    directory: Path
    index: dict
    buffer_lines: int = 8192

    @classmethod
    def open(cls, directory: Path, buffer_lines: int = 8192) -> ShardedCorpus:
        path = Path(directory) / INDEX
        if not path.is_file():
            raise SystemExit(f"{directory} has no {INDEX}: make it with `python -m training.shards`")
        return cls(Path(directory), json.loads(path.read_text()), buffer_lines)

    @property
    def vocab(self) -> Vocab:
        return Vocab(self.index["vocab"], unk=C.UNK)

    @property
    def n_tokens(self) -> int:
        return sum(s["tokens"] for s in self.index["shards"])

    def shards_of(self, rank: int, world: int) -> list[str]:
        files = [s["file"] for s in self.index["shards"]]
        if len(files) < world:
            raise SystemExit(f"{self.directory} has {len(files)} shards for {world} ranks: re-shard with more")
        return files[rank::world]

    def heldout(self, max_chars: int) -> C.EncodedCorpus:
        lines = stream_lines(self.directory / self.index["heldout"]["file"])
        return C.encode([C.words_of(x, self.index["max_len"]) for x in lines], self.vocab, max_chars)

    def batches(self, rank: int, world: int, epoch: int, seed: int, batch_tokens: int, max_chars: int,
                skip: int = 0) -> Iterator[LMBatch]:
        """This rank's batches of an epoch in a fixed order (seed, epoch, rank); the first ``skip`` are
        passed over without building them, which is how a resumed run gets back to where it was."""
        rng = random.Random(f"{seed}:{epoch}:{rank}")
        files = self.shards_of(rank, world)
        rng.shuffle(files)
        vocab, produced = self.vocab, 0
        for buffer in self._buffers(files):
            rng.shuffle(buffer)
            encoded = C.encode([C.words_of(x, self.index["max_len"]) for x in buffer], vocab, max_chars)
            plan = C.batch_plan(encoded, batch_tokens, rng.randrange(2**31))
            local_skip = min(len(plan), max(0, skip - produced))
            produced += len(plan)
            yield from C.iterate(encoded, plan, vocab, local_skip)

    def count_batches(self, rank: int, world: int, batch_tokens: int) -> int:
        """Batches of this rank's shards in file order, for the learning-rate schedule (an epoch's shuffled
        buffers group a few differently)."""
        total = 0
        for buffer in self._buffers(self.shards_of(rank, world)):
            lengths = [n for x in buffer if (n := len(C.words_of(x, self.index["max_len"])))]  # as encode keeps
            total += len(C.group_by_length(lengths, batch_tokens, random.Random(0)))
        return total

    def _buffers(self, files: list[str]) -> Iterator[list[str]]:
        buffer: list[str] = []
        for name in files:
            for line in stream_lines(self.directory / name):
                buffer.append(line)
                if len(buffer) == self.buffer_lines:
                    yield buffer
                    buffer = []
        if buffer:
            yield buffer


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m training.shards", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("data/unlabeled/utterances.txt.gz"))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--shards", type=int, default=8)
    p.add_argument("--heldout", type=float, default=0.01, help="fraction of lines kept apart for perplexity")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--vocab-size", type=int, default=30000)
    p.add_argument("--min-count", type=int, default=2)
    p.add_argument("--max-len", type=int, default=40, help="tokens kept per utterance")
    p.add_argument("--limit", type=int, default=None, help="first N lines only (smoke tests)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    shard(args.data, args.out, args.shards, args.heldout, args.seed, args.vocab_size, args.min_count, args.max_len,
          args.limit)


if __name__ == "__main__":
    main()
