"""The dev-only verdict on a distillation candidate: adopted only with the margin and no fall in dev intent, and
its test is not read unless it was adopted."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments import distil_choice
from training.checkpoint import save_checkpoint


def checkpoint(path: Path, intent: float, slot: float, exact: float) -> Path:
    save_checkpoint(path, {"metrics": {"dev": {"intent_acc": intent, "slot_f1": slot, "exact_match": exact}}})
    return path


@pytest.mark.parametrize(("candidate", "adopt"), [
    ((88.8, 81.9, 71.0), True),   # +0.35 on the mean, intent up
    ((88.6, 81.6, 70.9), False),  # +0.16: inside the margin
    ((88.0, 83.0, 72.0), False),  # +1.2 on the mean, but intent fell
])
def test_the_verdict_needs_the_margin_and_no_fall_in_intent(tmp_path: Path, candidate: tuple, adopt: bool) -> None:
    shipped = checkpoint(tmp_path / "shipped.pt", 88.44, 81.56, 70.63)
    new = checkpoint(tmp_path / "new.pt", *candidate)
    assert distil_choice.verdict(new, shipped)["adopt"] is adopt


def test_test_is_not_read_for_a_candidate_not_adopted(tmp_path: Path) -> None:
    shipped = checkpoint(tmp_path / "shipped.pt", 88.44, 81.56, 70.63)
    new = checkpoint(tmp_path / "new.pt", 88.5, 81.5, 70.6)
    out = tmp_path / "report"
    assert distil_choice.main(["verdict", "--candidate", str(new), "--shipped", str(shipped), "--out", str(out)]) == 1
    with pytest.raises(SystemExit, match="not adopted"):
        distil_choice.main(["test", "--candidate", str(new), "--out", str(out)])
