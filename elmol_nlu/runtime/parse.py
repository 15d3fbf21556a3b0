"""What a predictor answers: the parse of an utterance, its slots, and which skills may give it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from elmol_nlu.intents import join_intents
from elmol_nlu.posterior import Posterior
from elmol_nlu.text import Token


@dataclass(frozen=True)
class SlotValue:
    name: str
    value: str
    start: int  # character offsets in the original text: text[start:end] == value
    end: int
    confidence: float | None = None  # P(this exact span and label) under the CRF; None when not computed


@dataclass(frozen=True)
class Parse:
    text: str
    intent: str
    confidence: float  # calibrated probability of ``intent``
    slots: list[SlotValue]
    tokens: list[Token]
    tags: list[str]
    sequence_confidence: float | None = None  # P(the whole decoded tag sequence) under the CRF
    intent_probs: np.ndarray = field(default=None, compare=False, repr=False)  # (I,), over ``intent_names``
    intent_names: list[str] = field(default_factory=list, compare=False, repr=False)
    posterior: Posterior | None = field(default=None, compare=False, repr=False)  # None when not computed
    skill: str = ""  # the skill whose heads gave this answer
    claimed: bool = True  # False when the skill's best intent is its out-of-skill class: not its utterance
    per_skill: dict[str, Parse] | None = field(default=None, compare=False, repr=False)  # when asked for
    # every intent found with its probability, most probable first (the first is ``intent``); one entry unless
    # the skill is multi-intent
    intents: list[tuple[str, float]] = field(default_factory=list)

    @property
    def intent_label(self) -> str:
        """The intents found as one label (``a#b`` for several, ``elmol_nlu.intents``), as annotations write it."""
        return join_intents(n for n, _ in self.intents) if len(self.intents) > 1 else self.intent

    @property
    def tag_marginals(self) -> np.ndarray | None:
        """(T, K): P(tag of token t = k); computed on first use (the backward pass completes then)."""
        return self.posterior.marginals if self.posterior is not None else None

    def token_tag_probabilities(self, floor: float) -> list[dict[str, float]] | None:
        """Per token, the tags of probability at least ``floor``, most probable first; None without a posterior."""
        if self.posterior is None:
            return None
        tags = self.posterior.tags
        return [{tags[i]: float(row[i]) for i in row.argsort()[::-1] if row[i] >= floor}
                for row in self.posterior.marginals]

    def intent_ranking(self, k: int) -> list[tuple[str, float]]:
        """The k most probable intents, most probable first (the first is ``intent``)."""
        order = np.argsort(-self.intent_probs, kind="stable")[:k]
        return [(self.intent_names[i], float(self.intent_probs[i])) for i in order]


@dataclass(frozen=True)
class Selection:
    """Which skills may answer an utterance (None: all), and whether each one's parse is wanted too."""

    skills: tuple[str, ...] | None = None
    per_skill: bool = False


ALL_SKILLS = Selection()
