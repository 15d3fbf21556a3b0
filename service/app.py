"""The FastAPI app: built by ``create_app(settings)``, model loaded once in the lifespan, thin routes."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from elmol_nlu.runtime import Selection
from service.admin import admin_router, on_sighup, reload_in_background
from service.answers import full_answer, to_json
from service.batcher import MicroBatcher, OverloadedError
from service.drain import DRAINING
from service.input_guard import INPUT_ERRORS, JSON_ROUTES, InputGuardMiddleware, validation_error_response
from service.metrics import Metrics
from service.parse_endpoint import DEADLINE_HEADER, ParseEndpoint
from service.schemas import (
    BatchParseRequest,
    BatchParseResponse,
    Health,
    ParseOptions,
    ParseRequest,
    ParseResponse,
    Ready,
    SkillOut,
    SkillsResponse,
)
from service.serving import Reloader, Serving, load_serving
from service.settings import Settings
from service.shedding import EarlyShedMiddleware, overloaded_response
from service.timing import TimingMiddleware

log = logging.getLogger("service")
# Kept for encoding and writing an answer before its deadline: a millisecond of work, plus up to one
# GIL switch interval (GIL_SWITCH_S) while a batcher thread holds the interpreter.
GIL_SWITCH_S = 0.001
WRITE_MARGIN_S = 0.002
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


class ServiceAPI(FastAPI):
    """FastAPI with the service's own ASGI layers (``outer``, the first outermost) around Starlette's, not inside.

    Starlette puts added middleware inside its error, telemetry and body-limit layers. Every /parse went
    through those three for nothing: the layers in ``outer`` answer their own errors, and /parse never
    reaches Starlette's routing. Outside them, a request to /parse skips three coroutine calls and their
    send and receive wrappers (docs/PERFORMANCE.md); every other route still passes all of them.
    """

    def __init__(self, *args: object, outer: list[Middleware], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.outer_middleware = outer

    def build_middleware_stack(self) -> ASGIApp:
        app = super().build_middleware_stack()
        for cls, args, kwargs in reversed(self.outer_middleware):
            app = cls(app, *args, **kwargs)
        return app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sys.setswitchinterval(GIL_SWITCH_S)  # Python's default, 5 ms, is a tenth of the whole latency budget
        reloader = Reloader(load_serving(settings.model_dir, settings), settings)
        # The batcher asks for the current model at each batch: a reload takes effect from the next one.
        batcher = MicroBatcher(lambda texts, selections: reloader.current.parse_batch(texts, selections), metrics,
                               settings.max_batch_size, settings.max_wait_us, settings.max_queue,
                               settings.inference_threads, settings.loop_max_in_progress)
        app.state.reloader, app.state.batcher = reloader, batcher
        on_sighup(lambda: reload_in_background(reloader))
        try:
            yield
        finally:
            app.state.reloader = None
            batcher.close()

    hidden = {} if settings.docs else {"docs_url": None, "redoc_url": None, "openapi_url": None}
    # FastAPI's native OpenTelemetry looks for configured providers on every request (~15 us) unless it is off.
    telemetry = {} if settings.opentelemetry else {"tracing": False, "metrics": False, "logs": False}
    metrics = Metrics()

    def internal_error(exc: Exception, path: str) -> JSONResponse:
        log.error("unexpected error on %s", path, exc_info=exc)
        metrics.exceptions.labels(type(exc).__name__).inc()
        return JSONResponse(status_code=500, content={"detail": "internal error: the request was logged"})

    # First the outermost: timing wraps the input guard (413, 415), which wraps the early shed (503), which
    # wraps /parse itself (before FastAPI's routing), so their answers are timed and counted too.
    outer = [Middleware(TimingMiddleware, budget_ms=settings.latency_budget_ms, metrics=metrics,
                        access_log=settings.access_log),
             Middleware(InputGuardMiddleware, max_bytes=settings.max_body_bytes, json_paths=JSON_ROUTES),
             Middleware(EarlyShedMiddleware, path="/parse"),
             Middleware(ParseEndpoint, handle=lambda *args: answer_parse(*args), on_error=internal_error)]
    app = ServiceAPI(title="elmol-nlu", version="0.1.0", lifespan=lifespan, telemetry=telemetry, outer=outer,
                     description="Intent and slots of assistant utterances with an ELMo-Light joint model.", **hidden)
    app.state.reloader = None
    app.state.settings = settings

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return validation_error_response(exc.errors())

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return internal_error(exc, request.url.path)

    def too_late(deadline: float) -> OverloadedError | None:
        """Checked with the answer encoded, just before it is handed to the server to write: the margin
        covers only the write itself."""
        if time.perf_counter() + WRITE_MARGIN_S <= deadline:
            return None
        metrics.shed.labels("late").inc()
        return OverloadedError("late", "the answer was ready after the deadline")

    def serving() -> Serving:
        if app.state.reloader is None:
            raise HTTPException(status_code=503, detail="model not loaded yet: retry shortly",
                                headers={"Retry-After": "1"})
        return app.state.reloader.current

    @app.get("/health", response_model=Health, summary="Liveness: the process answers")
    def health() -> Health:
        return Health(status="ok")

    @app.get("/ready", response_model=Ready, summary="Readiness: the model is loaded and the replica is not stopping",
             responses={503: {"description": "model not loaded, or the replica is stopping"}})
    def ready() -> Ready:
        if DRAINING.is_set():
            raise HTTPException(status_code=503, detail="draining: this replica is stopping; send requests to another")
        current = serving()
        return Ready(status="ready", model=current.model, metrics=current.predictor.manifest.metrics)

    async def answer_parse(request: ParseRequest, deadline_ms: float | None, started: float) -> Response:
        """POST /parse, validated (by ``ParseEndpoint``): the micro-batcher runs the model with whatever other
        requests are waiting (in its thread, or on the event loop with ELMOL_INFERENCE_THREADS=0); work that
        could not finish by the deadline comes back as OverloadedError, a 503."""
        check_text(request.text, ["body", "text"], settings.max_text_chars)
        current = serving()  # 503 while loading
        selection = selection_of(request, current)
        top_k = check_top_k(request, settings.intent_ranking, current.max_intents)
        budget_ms = min(deadline_ms or settings.latency_budget_ms, settings.latency_budget_ms)
        deadline = started + budget_ms / 1000
        try:
            result, made_by = await app.state.batcher.parse(request.text, deadline, selection)
        except OverloadedError as e:
            return overloaded_response(e)
        payload = to_json(full_answer(result, made_by.models, top_k, settings.intent_threshold, request.detail,
                                      request.per_skill))
        if late := too_late(deadline):  # estimate wrong or loop behind: never serve late
            return overloaded_response(late)
        if settings.log_texts:
            log.info("parsed", extra={"text": request.text, "intent": result.intent, "tags": result.tags})
        return Response(payload, media_type="application/json")

    # ParseEndpoint answers POST /parse before routing; the route is declared for /docs (and answers the same
    # way if reached). Both parse routes encode their answer themselves (service.answers): ``response_model``
    # documents the body.
    @app.post("/parse", response_model=ParseResponse, summary="Intent and slots of one utterance",
              responses={**INPUT_ERRORS, 503: {"description": "over capacity: the answer could not be due within "
                                                             "the deadline; retry after Retry-After seconds"}})
    async def parse(request: ParseRequest, http: Request, deadline_ms: Annotated[float | None, Header(
            alias=DEADLINE_HEADER, gt=0, description="answer within this many ms of arrival, or get a 503; "
                                                     "at most the server's latency budget")] = None) -> Response:
        return await answer_parse(request, deadline_ms, http.state.request_started)

    @app.post("/parse/batch", response_model=BatchParseResponse, summary="Intent and slots of several utterances",
              responses={**INPUT_ERRORS, 503: {"description": "over capacity, as for /parse: the batch is admitted, "
                                                             "queued and shed as one request"}})
    async def parse_batch(request: BatchParseRequest, http: Request) -> Response:
        # Through the micro-batcher like /parse, as one request of many texts: the same admission bound,
        # deadline and model threads, so batches cannot crowd single parses out of the model or the loop.
        if not 1 <= len(request.texts) <= settings.max_batch_texts:
            raise invalid(["body", "texts"], f"{len(request.texts)} texts: send 1 to {settings.max_batch_texts}")
        for i, text in enumerate(request.texts):
            check_text(text, ["body", "texts", i], settings.max_text_chars)
        current = serving()  # 503 while loading
        selection = selection_of(request, current)
        top_k = check_top_k(request, settings.intent_ranking, current.max_intents)
        deadline = http.state.request_started + settings.batch_budget_ms / 1000
        try:
            answers = await app.state.batcher.parse_many(request.texts, deadline, selection)
        except OverloadedError as e:
            return overloaded_response(e)
        made_by = answers[0][1]  # one model call: every answer comes from the same serving
        results = [full_answer(p, made_by.models, top_k, settings.intent_threshold, request.detail, request.per_skill)
                   for p, _ in answers]
        payload = to_json({"results": results, "model": made_by.model})
        if late := too_late(deadline):
            return overloaded_response(late)
        return Response(payload, media_type="application/json")

    @app.get("/skills", response_model=SkillsResponse, summary="The skills served, with versions and metrics",
             responses={503: {"description": "model not loaded"}})
    def skills() -> SkillsResponse:
        current = serving()
        models = current.models
        return SkillsResponse(skills=[
            SkillOut(name=name, model=models[name], primary=skill is current.predictor.primary,
                     intents=skill.manifest.intents, slots=sorted({t[2:] for t in skill.manifest.tags if t != "O"}),
                     out_of_skill=skill.manifest.raw.get("out_of_skill"), metrics=skill.manifest.metrics,
                     encoder_id=skill.manifest.encoder_id)
            for name, skill in current.predictor.skills.items()])

    def serving_reloader() -> Reloader:
        serving()  # 503 while loading
        return app.state.reloader

    app.include_router(admin_router(settings, serving_reloader))

    @app.get("/metrics", summary="Prometheus metrics of this worker process", include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
