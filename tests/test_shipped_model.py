"""The committed default model: verified manifest, size, and the accuracy gate on MASSIVE en-US test."""

from __future__ import annotations

import pytest
from conftest import MODEL_DIR, onnx_test_metrics

from elmol_nlu.manifest import load_manifest

pytestmark = pytest.mark.shipped

# The gate: what the shipped model must reach on the 2,974 test utterances (percent).
MIN_INTENT_ACC = 83.0
MIN_SLOT_F1 = 72.0
MANIFEST_TOLERANCE = 0.3  # recomputed with onnxruntime vs. recorded at training time with PyTorch
MAX_MODEL_MB = 25.0
TEST_UTTERANCES = 2974


def test_manifest_verifies() -> None:
    manifest = load_manifest(MODEL_DIR)  # checksums of every file included
    assert manifest.graph_path.is_file()
    assert manifest.raw["parity"]["ok"] is True
    assert len(manifest.intents) >= 2 and manifest.tags[0] == "O"


def test_manifest_records_test_metrics() -> None:
    test = load_manifest(MODEL_DIR, verify=False).metrics.get("test")
    assert test, "manifest.json has no metrics.test: export a checkpoint written by training.train_nlu"
    assert {"intent_acc", "slot_f1", "exact_match", "n"} <= set(test)
    assert all(0 <= test[k] <= 100 for k in ("intent_acc", "slot_f1", "exact_match"))


def test_model_dir_size() -> None:
    total = sum(p.stat().st_size for p in MODEL_DIR.rglob("*") if p.is_file())
    assert total <= MAX_MODEL_MB * 1e6, f"models/default is {total / 1e6:.1f} MB, over {MAX_MODEL_MB} MB"


@pytest.fixture(scope="module")
def test_metrics() -> dict[str, float]:
    """Intent accuracy, slot F1 (seqeval) and exact match of the ONNX model, as training/evaluate.py computes them."""
    return onnx_test_metrics(MODEL_DIR)


def test_accuracy_gate(test_metrics: dict[str, float]) -> None:
    assert test_metrics["n"] == TEST_UTTERANCES
    summary = ", ".join(f"{k} {v:.2f}" for k, v in test_metrics.items())
    assert test_metrics["intent_acc"] >= MIN_INTENT_ACC, summary
    assert test_metrics["slot_f1"] >= MIN_SLOT_F1, summary


def test_metrics_match_the_manifest(test_metrics: dict[str, float]) -> None:
    recorded = load_manifest(MODEL_DIR, verify=False).metrics.get("test", {})
    assert recorded.get("n") == test_metrics["n"], f"manifest metrics are on {recorded.get('n')} utterances"
    for key in ("intent_acc", "slot_f1", "exact_match"):
        assert recorded[key] == pytest.approx(test_metrics[key], abs=MANIFEST_TOLERANCE), key
