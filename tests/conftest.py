"""Shared paths and fixtures; ``tiny_model`` runs the real pretrain -> train -> export pipeline, small."""

from __future__ import annotations

import socket
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

with warnings.catch_warnings():
    # starlette >= 1.10 prefers httpx2 and warns when its TestClient falls back to httpx (pyproject's dev extra);
    # import it once here, quietly, so that the test modules get the cached module.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    import starlette.testclient  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
MODEL_DIR = REPO / "models" / "default"
FAST_MODEL_DIR = REPO / "models" / "fast"  # the small distilled model (ELMOL_MODEL=fast)
SHIPPED_MODEL_DIRS = [MODEL_DIR, FAST_MODEL_DIR]
if str(REPO) not in sys.path:  # `.venv/bin/pytest` (not `python -m pytest`) without an editable install
    sys.path.insert(0, str(REPO))
MASSIVE = REPO / "data" / "massive" / "en-US.jsonl"
SNIPS = REPO / "data" / "snips"
UNLABELED = REPO / "data" / "unlabeled" / "utterances.txt.gz"


@dataclass(frozen=True)
class TinyModel:
    lm_checkpoint: Path  # pretrain_lm's last.pt
    nlu_checkpoint: Path  # train_nlu's nlu.pt
    model_dir: Path  # export's ONNX model directory


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    """A real but tiny model, trained for seconds: LM on 2000 utterances, NLU on 400 examples, exported."""
    from export.__main__ import main as export_main
    from training import pretrain_lm, train_nlu

    root = tmp_path_factory.mktemp("tiny")
    lm, nlu, model = root / "lm", root / "nlu", root / "model"
    with warnings.catch_warnings():
        # A model trained for seconds predicts no slots, so seqeval warns that F1 is ill-defined.
        warnings.filterwarnings("ignore", message=r".*ill-defined.*")
        pretrain_lm.main(["--data", str(UNLABELED), "--out", str(lm), "--limit", "2000", "--epochs", "1",
                          "--hidden", "32", "--filters", "1:16,2:16,3:16", "--vocab-size", "2000", "--threads", "1"])
        train_nlu.main(["--lm", str(lm / "last.pt"), "--data", str(MASSIVE), "--out", str(nlu), "--limit", "400",
                        "--epochs", "2", "--unfreeze-at", "1", "--shared-hidden", "16", "--slot-hidden", "16",
                        "--threads", "1"])
        export_main(["--checkpoint", str(nlu / "nlu.pt"), "--out", str(model), "--data", str(MASSIVE),
                     "--parity-utterances", "200"])
    return TinyModel(lm / "last.pt", nlu / "nlu.pt", model)


def onnx_test_metrics(model_dir: Path, limit: int | None = None, precision: str = "fp32",
                      split: str = "test") -> dict[str, float]:
    """Metrics of the ONNX model on MASSIVE test (or ``split``), over the examples and with the code that training
    uses."""
    from elmol_nlu.datasets import load_split
    from elmol_nlu.runtime import Predictor
    from elmol_nlu.runtime.evaluate import predictor_metrics

    return predictor_metrics(Predictor.load(model_dir, precision=precision), load_split(MASSIVE, split, limit))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
