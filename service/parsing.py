"""POST /parse and /parse/batch as plain functions: check the request against the served model, run it through
the micro-batcher, encode the answer. The routes (``service.routes``) and the ASGI fast path
(``service.parse_endpoint``) only validate the body and call these."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from elmol_nlu.runtime import Selection
from service.answers import full_answer, to_json
from service.batcher import MicroBatcher, OverloadedError
from service.metrics import Metrics
from service.review_store import ReviewRecorder
from service.schemas import BatchParseRequest, ParseOptions, ParseRequest
from service.serving import Reloader, Serving
from service.settings import Settings
from service.shedding import overloaded_response

log = logging.getLogger("service")
# Kept for encoding and writing an answer before its deadline: a millisecond of work, plus up to one
# GIL switch interval (service.app.GIL_SWITCH_S) while a batcher thread holds the interpreter.
WRITE_MARGIN_S = 0.002


@dataclass(frozen=True)
class Parsing:
    """What a parse needs of the app: its settings and metrics, the batcher, and the reloader that holds the model
    being served (None while it loads)."""

    settings: Settings
    metrics: Metrics
    batcher: MicroBatcher | None
    reloader: Reloader | None
    review: ReviewRecorder | None = None

    def current(self) -> Serving:
        """The model served now; 503 while it is loading."""
        if self.reloader is None:
            raise HTTPException(status_code=503, detail="model not loaded yet: retry shortly",
                                headers={"Retry-After": "1"})
        return self.reloader.current


def parsing_of(state: object) -> Parsing:
    """The parts of an app's state that ``create_app`` and its lifespan put there."""
    return Parsing(state.settings, state.metrics, getattr(state, "batcher", None), state.reloader,
                   getattr(state, "review", None))


def invalid(loc: list, msg: str) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": msg}])


def check_text(text: str, loc: list, max_chars: int) -> None:
    """Reject what cannot be parsed, saying what to send instead."""
    trimmed = text.strip()
    if not trimmed:
        raise invalid(loc, f"text is empty: send 1 to {max_chars} characters")
    try:
        trimmed.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(loc, "text has an unpaired surrogate (\\ud800-\\udfff): send valid Unicode") from None
    if len(trimmed) > max_chars:
        raise invalid(loc, f"text has {len(trimmed)} characters: send at most {max_chars}")
    # A non-empty trimmed text always has a token (the tokenizer takes any non-space character),
    # so there is nothing more to check before the predictor tokenizes it.


def selection_of(options: ParseOptions, current: Serving) -> Selection:
    """The request's skills, checked against those loaded (422 naming the unknown one)."""
    selection = Selection(tuple(dict.fromkeys(options.skills)) if options.skills else None, options.per_skill)
    try:
        current.predictor.check_selection(selection)
    except KeyError as e:
        raise invalid(["body", "skills"], f"{e.args[0]}: send names from GET /skills") from None
    return selection


def check_top_k(options: ParseOptions, default: int, n_intents: int) -> int:
    top_k = options.top_k or default
    if options.top_k is not None and top_k > n_intents:
        raise invalid(["body", "top_k"], f"top_k is {top_k} but the model has {n_intents} intents: send 1 to "
                                         f"{n_intents}")
    return min(top_k, n_intents)


def too_late(metrics: Metrics, deadline: float) -> OverloadedError | None:
    """Checked with the answer encoded, just before it is handed to the server to write: the margin covers
    only the write itself."""
    if time.perf_counter() + WRITE_MARGIN_S <= deadline:
        return None
    metrics.shed.labels("late").inc()
    return OverloadedError("late", "the answer was ready after the deadline")


async def parse_one(p: Parsing, request: ParseRequest, deadline_ms: float | None, started: float) -> Response:
    """POST /parse, validated: the micro-batcher runs the model with whatever other requests are waiting (in its
    thread, or on the event loop with ELMOL_INFERENCE_THREADS=0); work that could not finish by the deadline
    comes back as OverloadedError, a 503."""
    settings = p.settings
    check_text(request.text, ["body", "text"], settings.max_text_chars)
    current = p.current()  # 503 while loading
    selection = selection_of(request, current)
    top_k = check_top_k(request, settings.intent_ranking, current.max_intents)
    budget_ms = min(deadline_ms or settings.latency_budget_ms, settings.latency_budget_ms)
    deadline = started + budget_ms / 1000
    try:
        result, made_by = await p.batcher.parse(request.text, deadline, selection)
    except OverloadedError as e:
        return overloaded_response(e)
    body = full_answer(result, made_by.models, top_k, settings.intent_threshold, request.detail, request.per_skill)
    payload = to_json(body)
    if late := too_late(p.metrics, deadline):  # estimate wrong or loop behind: never serve late
        return overloaded_response(late)
    if p.review is not None:
        p.review.offer(body, payload)
    if settings.log_texts:
        log.info("parsed", extra={"text": request.text, "intent": result.intent, "tags": result.tags})
    return Response(payload, media_type="application/json")


async def parse_many(p: Parsing, request: BatchParseRequest, started: float) -> Response:
    """POST /parse/batch, validated: through the micro-batcher like /parse, as one request of many texts (the same
    admission bound, deadline and model threads, so batches cannot crowd single parses out)."""
    settings = p.settings
    if not 1 <= len(request.texts) <= settings.max_batch_texts:
        raise invalid(["body", "texts"], f"{len(request.texts)} texts: send 1 to {settings.max_batch_texts}")
    for i, text in enumerate(request.texts):
        check_text(text, ["body", "texts", i], settings.max_text_chars)
    current = p.current()  # 503 while loading
    selection = selection_of(request, current)
    top_k = check_top_k(request, settings.intent_ranking, current.max_intents)
    deadline = started + settings.batch_budget_ms / 1000
    try:
        answers = await p.batcher.parse_many(request.texts, deadline, selection)
    except OverloadedError as e:
        return overloaded_response(e)
    made_by = answers[0][1]  # one model call: every answer comes from the same serving
    results = [full_answer(a, made_by.models, top_k, settings.intent_threshold, request.detail, request.per_skill)
               for a, _ in answers]
    payload = to_json({"results": results, "model": made_by.model})
    if late := too_late(p.metrics, deadline):
        return overloaded_response(late)
    if p.review is not None:
        for body in results:
            p.review.offer(body, payload)
    return Response(payload, media_type="application/json")
