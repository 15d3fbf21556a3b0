"""experiments.slot_gap: the slots a candidate loses against an incumbent come first, weighed by their spans; a
slot only one model ever predicts still counts."""

from __future__ import annotations

from experiments.slot_gap import slot_gap


def test_the_costliest_loss_comes_first_and_a_slot_one_side_lacks_counts() -> None:
    incumbent = {"per_slot": {"person": {"f1": 80.0, "support": 100}, "date": {"f1": 90.0, "support": 300},
                              "time": {"f1": 50.0, "support": 10}}}
    candidate = {"per_slot": {"person": {"f1": 70.0, "support": 100}, "date": {"f1": 92.0, "support": 300}}}
    rows = slot_gap(incumbent, candidate)
    assert [r["slot"] for r in rows] == ["person", "time", "date"]
    assert [r["spans_worth"] for r in rows] == [-10.0, -5.0, 6.0]
    assert rows[1]["candidate_f1"] == 0.0
