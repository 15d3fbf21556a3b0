"""The configuration of language-model pretraining (``training.pretrain_lm``), one frozen dataclass."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from elmol_nlu.noise import TypoConfig


@dataclass(frozen=True)
class PretrainConfig:
    out: Path
    data: Path = Path("data/unlabeled/utterances.txt.gz")  # a corpus file, or a directory of shards
    epochs: int = 4
    batch_tokens: int = 2048  # per process: the global batch is N times this
    lr: float = 2e-3
    warmup: int = 300  # steps
    clip: float = 1.0
    seed: int = 13
    threads: int = 2
    max_minutes: float | None = None  # checkpoint and stop after this long
    checkpoint_minutes: float = 10.0
    max_steps: int | None = None  # checkpoint and stop after this many steps of this run
    limit: int | None = None  # the first N utterances (smoke tests)
    max_len: int = 40  # tokens kept per utterance
    vocab_size: int = 30000
    min_count: int = 2
    layers: int = 1  # 1 = ELMo-Light, 2 = ELMo
    hidden: int = 256  # LSTM size per direction (and projection size)
    filters: str | None = None  # char CNN as 'width:n,...'
    highway: int = 1
    init: Path | None = None  # start from this LM checkpoint's weights and vocabulary
    teacher_states: tuple[Path, ...] = ()  # training.teacher_states folders: encoder distillation
    word_weight: float = 1.0  # of the word-state loss, against the LM's mean NLL
    sentence_weight: float = 0.5  # of the sentence-state loss
    typo: TypoConfig = field(default_factory=TypoConfig)

    def to_dict(self) -> dict:
        return {k: str(v) for k, v in asdict(self).items()}
