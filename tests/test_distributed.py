"""Pretraining under torchrun for real: 2 gloo processes on a tiny sharded corpus, against 1 process, resumed."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, UNLABELED

from training.shards import ShardedCorpus, shard

TINY = ["--epochs", "2", "--hidden", "32", "--filters", "1:16,2:16,3:16", "--threads", "1"]
GLOBAL_BATCH_TOKENS = 1024
# 1 and 2 processes see the same data in another order at the same global batch; measured 0.1-1.1% apart
PPL_TOLERANCE = 0.05
RESUME_TOLERANCE = 0.01  # dropout draws after a resume differ; nothing else does


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shards")
    shard(UNLABELED, out, n_shards=4, heldout=0.05, seed=13, vocab_size=30000, min_count=2, max_len=40, limit=3000)
    return out


def pretrain(out: Path, data: Path, processes: int, *extra: str) -> dict:
    per_process = str(GLOBAL_BATCH_TOKENS // processes)
    module = ["-m", "training.pretrain_lm", "--data", str(data), "--out", str(out), "--batch-tokens", per_process,
              *TINY, *extra]
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes), "--standalone"]
                if processes > 1 else [sys.executable])
    done = subprocess.run([*launcher, *module], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(out / "last.pt", map_location="cpu", weights_only=True)


def test_shards_split_every_line_once(shards: Path) -> None:
    corpus = ShardedCorpus.open(shards)
    lines = []
    for s in [*corpus.index["shards"], corpus.index["heldout"]]:
        with gzip.open(shards / s["file"], "rt", encoding="utf-8") as f:
            chunk = f.read().splitlines()
        assert len(chunk) == s["lines"] > 0
        lines += chunk
    with gzip.open(UNLABELED, "rt", encoding="utf-8") as f:
        source = [x.strip() for _, x in zip(range(3000), f, strict=False) if x.strip()]
    assert sorted(lines) == sorted(source)
    assert corpus.shards_of(0, 2) == ["shard-00000.txt.gz", "shard-00002.txt.gz"]
    with pytest.raises(SystemExit, match="re-shard"):
        corpus.shards_of(0, 8)


def test_each_rank_streams_its_own_shards_and_skips_on_resume(shards: Path) -> None:
    corpus = ShardedCorpus.open(shards, buffer_lines=500)
    tokens = [sum(int(b.mask.sum()) for b in corpus.batches(r, 2, 0, 13, 512, 20)) for r in (0, 1)]
    expected = [sum(s["tokens"] for s in corpus.index["shards"][r::2]) for r in (0, 1)]
    assert tokens == expected  # every utterance of the rank's shards, once (max_len never cuts here)
    full = [b.lengths.tolist() for b in corpus.batches(0, 2, 1, 13, 512, 20)]
    resumed = [b.lengths.tolist() for b in corpus.batches(0, 2, 1, 13, 512, 20, skip=7)]
    assert resumed == full[7:]


def test_two_processes_match_one_and_resume(shards: Path, tmp_path: Path) -> None:
    one = pretrain(tmp_path / "one", shards, 1)
    two = pretrain(tmp_path / "two", shards, 2)
    assert two["world_size"] == 2 and two["epoch"] == 2
    relative = abs(two["heldout_perplexity"] - one["heldout_perplexity"]) / one["heldout_perplexity"]
    assert relative <= PPL_TOLERANCE, (one["heldout_perplexity"], two["heldout_perplexity"])

    stopped = pretrain(tmp_path / "resumed", shards, 2, "--max-steps", "40")
    assert stopped["epoch"] == 1 and stopped["batch"] > 0  # stopped inside the second epoch
    resumed = pretrain(tmp_path / "resumed", shards, 2)
    assert resumed["epoch"] == 2 and resumed["step"] == two["step"]
    relative = abs(resumed["heldout_perplexity"] - two["heldout_perplexity"]) / two["heldout_perplexity"]
    assert relative <= RESUME_TOLERANCE, (two["heldout_perplexity"], resumed["heldout_perplexity"])
