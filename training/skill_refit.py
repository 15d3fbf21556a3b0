"""The refit of a skill on train + dev: how many epochs (the first pass's best on dev) and whether it fits the
time budget. ``training.skill`` runs it."""

from __future__ import annotations

import logging
from dataclasses import replace

from training.finetune import FitConfig, selection_score

log = logging.getLogger("skill")


def refit_in_budget(budget_s: float | None, elapsed_s: float, need_s: float) -> bool:
    """Whether a refit estimated to take ``need_s`` likely ends within the budget."""
    if budget_s is None or elapsed_s + need_s <= budget_s:
        return True
    log.warning("no refit on train + dev: its ~%.0f s would pass the time budget (%.0f of %.0f s used)",
                need_s, elapsed_s, budget_s)
    return False


def refit_plan(budget_s: float | None, first: FitConfig, history: list[dict], first_pass_s: float, n_first: int,
               n_refit: int, elapsed_s: float) -> tuple[FitConfig, dict] | None:
    """The refit's config and its record, or None when it would likely pass the time budget: estimated at the
    first pass's pace on the larger data, which errs long (that pass also scored dev every epoch)."""
    refit_cfg, refit = refit_config(first, history)
    need_s = first_pass_s / len(history) * n_refit / n_first * refit["epochs"]
    if not refit_in_budget(budget_s, elapsed_s, need_s):
        return None
    left = None if budget_s is None else budget_s - elapsed_s
    return replace(refit_cfg, time_budget_s=left), refit


def refit_config(first: FitConfig, history: list[dict]) -> tuple[FitConfig, dict]:
    """The second pass: the first pass's config cut to the epochs of its best dev score (as its selection
    measured it), so the same unfreezing up to there, the learning-rate schedule over them, no early stopping."""
    scored = [h for h in history if "intent_acc" in h]
    epochs = max(1, max(scored, key=selection_score)["epoch"] if scored else len(history))
    fit_cfg = replace(first, epochs=epochs, patience=epochs, min_epochs=0,
                      unfreeze_at=tuple(min(u, max(0, epochs - 1)) for u in first.unfreeze_at))
    return fit_cfg, {"epochs": epochs, "of": len(history)}
