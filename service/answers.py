"""The JSON body of a parse answer, built as plain data and encoded in one pass by pydantic-core.

``service.schemas.ParseResponse`` is the contract (and what /docs shows); these functions write exactly what
that model would serialize, leaving out what a request did not ask for, without building and validating a
pydantic object for every token, slot and ranked intent (that cost more than the CRF). The tests check
each answer against the model.
"""

from __future__ import annotations

from typing import Any

import pydantic_core

from elmol_nlu.runtime import Parse
from service.schemas import ModelOut

MIN_TAG_PROBABILITY = 1e-3  # token tag probabilities below this are left out of detail=tokens answers


def answer(parse: Parse, model: ModelOut, top_k: int, threshold: float, detail: str) -> dict[str, Any]:
    """One skill's answer without ``per_skill``: token tag probabilities only with detail=tokens."""
    fallback = parse.confidence < threshold or not parse.claimed
    if detail == "tokens":
        per_token = parse.token_tag_probabilities(MIN_TAG_PROBABILITY) or [None] * len(parse.tokens)
        tokens = [{"text": t.text, "start": t.start, "end": t.end, "tag_probabilities": probs}
                  for t, probs in zip(parse.tokens, per_token, strict=True)]
    else:
        tokens = [{"text": t.text, "start": t.start, "end": t.end} for t in parse.tokens]
    return {
        "text": parse.text,
        "intent": None if fallback else {"name": parse.intent, "confidence": parse.confidence},
        "intents": [] if fallback else [{"name": n, "confidence": c} for n, c in parse.intents],
        "intent_ranking": [{"name": n, "confidence": c} for n, c in parse.intent_ranking(top_k)],
        "fallback": fallback,
        "sequence_confidence": parse.sequence_confidence,
        "slots": [{"name": s.name, "value": s.value, "start": s.start, "end": s.end, "confidence": s.confidence}
                  for s in parse.slots],
        "tokens": tokens,
        "tags": parse.tags,
        "skill": parse.skill,
        "model": model,
    }


def full_answer(parse: Parse, models: dict[str, ModelOut], top_k: int, threshold: float, detail: str,
                per_skill: bool) -> dict[str, Any]:
    """The answer to a request; with ``per_skill``, every selected skill's own answer too (each with a null
    ``per_skill`` of its own, as the schema nests them)."""
    body = answer(parse, models[parse.skill], top_k, threshold, detail)
    if per_skill:
        body["per_skill"] = None if parse.per_skill is None else [
            {**answer(p, models[name], top_k, threshold, detail), "per_skill": None}
            for name, p in parse.per_skill.items()]
    return body


def to_json(body: Any) -> bytes:
    """Compact JSON, as pydantic writes it (models inside, such as ``ModelOut``, included)."""
    return pydantic_core.to_json(body)
