"""The FastAPI app: built by ``create_app(settings)``, model loaded once in the lifespan, thin routes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from service.predictor import Parse, Predictor
from service.schemas import (
    BatchParseRequest,
    BatchParseResponse,
    Health,
    IntentOut,
    ModelOut,
    ParseRequest,
    ParseResponse,
    Ready,
    SlotOut,
    TokenOut,
)
from service.settings import Settings
from service.timing import TimingMiddleware

log = logging.getLogger("service")


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


def to_response(parse: Parse, model: ModelOut) -> ParseResponse:
    return ParseResponse(
        text=parse.text,
        intent=IntentOut(name=parse.intent, confidence=parse.confidence),
        slots=[SlotOut(name=s.name, value=s.value, start=s.start, end=s.end) for s in parse.slots],
        tokens=[TokenOut(text=t.text, start=t.start, end=t.end) for t in parse.tokens],
        tags=parse.tags,
        model=model,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started = time.perf_counter()
        predictor = Predictor(settings.model_dir, threads=settings.threads, cache_size=settings.token_cache_size,
                              precision=settings.precision)
        predictor.parse("warm up the session")  # the first run allocates; keep it off a user's request
        app.state.predictor = predictor
        m = predictor.manifest
        app.state.model = ModelOut(name=m.name, version=m.version, precision=predictor.precision)
        log.info("model %s %s (%s, %d cached words) loaded from %s in %.0f ms", m.name, m.version,
                 predictor.precision, len(predictor.token_cache), settings.model_dir,
                 1000 * (time.perf_counter() - started))
        with ThreadPoolExecutor(settings.inference_threads, thread_name_prefix="inference") as executor:
            app.state.executor = executor
            yield
        app.state.predictor = None

    app = FastAPI(title="elmol-nlu", version="0.1.0", lifespan=lifespan,
                  description="Intent and slots of assistant utterances with an ELMo-Light joint model.")
    app.state.predictor = None
    app.state.settings = settings
    app.add_middleware(TimingMiddleware, budget_ms=settings.latency_budget_ms)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return JSONResponse(status_code=500, content={"detail": "internal error: the request was logged"})

    def predictor() -> Predictor:
        if app.state.predictor is None:
            raise HTTPException(status_code=503, detail="model not loaded yet: retry shortly",
                                headers={"Retry-After": "1"})
        return app.state.predictor

    @app.get("/health", response_model=Health, summary="Liveness: the process answers")
    def health() -> Health:
        return Health(status="ok")

    @app.get("/ready", response_model=Ready, summary="Readiness: the model is loaded",
             responses={503: {"description": "model not loaded"}})
    def ready() -> Ready:
        p = predictor()
        return Ready(status="ready", model=app.state.model, metrics=p.manifest.metrics)

    # Both parse routes build their pydantic response themselves and return its JSON (pydantic-core's
    # serializer): FastAPI would otherwise validate the returned model again and encode it in Python,
    # which cost more than the model run. ``response_model`` still documents the body in /docs.
    @app.post("/parse", response_model=ParseResponse, summary="Intent and slots of one utterance")
    async def parse(request: ParseRequest) -> Response:
        # The model runs off the event loop on our own small executor: FastAPI's thread pool for sync
        # routes (anyio, with its capacity limiter) cost a sizeable part of a few-ms request.
        check_text(request.text, ["body", "text"], settings.max_text_chars)
        p = predictor()
        result = await asyncio.get_running_loop().run_in_executor(app.state.executor, p.parse, request.text)
        body = to_response(result, app.state.model)
        return Response(body.model_dump_json(), media_type="application/json")

    @app.post("/parse/batch", response_model=BatchParseResponse, summary="Intent and slots of several utterances")
    def parse_batch(request: BatchParseRequest) -> Response:
        # In the thread pool: a batch of 64 takes long enough that it must not hold the event loop.
        if not 1 <= len(request.texts) <= settings.max_batch_texts:
            raise invalid(["body", "texts"], f"{len(request.texts)} texts: send 1 to {settings.max_batch_texts}")
        for i, text in enumerate(request.texts):
            check_text(text, ["body", "texts", i], settings.max_text_chars)
        parses = predictor().parse_batch(request.texts)
        body = BatchParseResponse(results=[to_response(p, app.state.model) for p in parses], model=app.state.model)
        return Response(body.model_dump_json(), media_type="application/json")

    return app
