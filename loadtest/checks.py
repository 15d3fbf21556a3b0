"""Shape checks of the service's responses: each returns what is wrong, or None when the body is right."""

from __future__ import annotations

from typing import Any

PARSE_KEYS = {"text", "intent", "intent_ranking", "slots", "tokens", "tags", "model"}


def parse_problem(body: Any, text: str) -> str | None:
    """A ``/parse`` body for ``text``: intent with a confidence, one tag per token, slots that quote the text."""
    if not isinstance(body, dict):
        return "body is not an object"
    if missing := PARSE_KEYS - body.keys():
        return f"missing keys {sorted(missing)}"
    if body["text"] != text:
        return "text not echoed"
    intent = body["intent"]
    if not isinstance(intent.get("name"), str) or not intent["name"]:
        return "no intent name"
    if not 0.0 <= float(intent.get("confidence", -1)) <= 1.0:
        return f"confidence {intent.get('confidence')} outside [0, 1]"
    if not body["tokens"] or len(body["tags"]) != len(body["tokens"]):
        return f"{len(body['tags'])} tags for {len(body['tokens'])} tokens"
    for slot in body["slots"]:
        if text[slot["start"]:slot["end"]] != slot["value"]:
            return f"slot {slot['name']} value {slot['value']!r} is not text[{slot['start']}:{slot['end']}]"
    return None


def batch_problem(body: Any, texts: list[str]) -> str | None:
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list) or len(results) != len(texts):
        return f"expected {len(texts)} results"
    return next((f"result {i}: {p}" for i, (r, t) in enumerate(zip(results, texts, strict=True))
                 if (p := parse_problem(r, t))), None)


def health_problem(body: Any) -> str | None:
    return None if isinstance(body, dict) and body.get("status") == "ok" else f"unexpected body {body!r:.80}"
