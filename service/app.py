"""The FastAPI app: built by ``create_app(settings)``, model loaded once in the lifespan, thin routes
(``service.routes``, ``service.admin``) over plain functions (``service.parsing``)."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from service import admin, console, review_api, routes
from service.batcher import MicroBatcher
from service.contract import http_error, live_schema
from service.input_guard import JSON_ROUTES, InputGuardMiddleware, validation_error_response
from service.metrics import Metrics
from service.parse_endpoint import ParseEndpoint
from service.parsing import parse_one, parsing_of
from service.review_store import Bounds, ReviewRecorder, ReviewStore
from service.serving import Reloader, load_serving
from service.settings import Settings
from service.shedding import EarlyShedMiddleware
from service.timing import TimingMiddleware

log = logging.getLogger("service")
GIL_SWITCH_S = 0.001  # Python's default, 5 ms, is a tenth of the whole latency budget


class ServiceAPI(FastAPI):
    """FastAPI with the service's own ASGI layers (``outer``, the first outermost) around Starlette's, not inside,
    and an OpenAPI schema with the limits of the settings and of the model being served (``live_schema``).

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

    def openapi(self) -> dict[str, Any]:
        reloader = self.state.reloader
        return live_schema(super().openapi(), self.state.settings, reloader.current if reloader else None)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    sys.setswitchinterval(GIL_SWITCH_S)
    reloader = Reloader(load_serving(settings.model_dir, settings), settings)
    # The batcher asks for the current model at each batch: a reload takes effect from the next one.
    batcher = MicroBatcher(lambda texts, selections: reloader.current.parse_batch(texts, selections),
                           app.state.metrics, settings.max_batch_size, settings.max_wait_us, settings.max_queue,
                           settings.inference_threads, settings.loop_max_in_progress)
    app.state.reloader, app.state.batcher = reloader, batcher
    if settings.review:
        app.state.review_store = ReviewStore(settings.review_db, Bounds(settings.review_max_items,
                                                                        settings.review_max_age_days * 86400))
        app.state.review = ReviewRecorder(app.state.review_store, settings.review_threshold)
    admin.on_sighup(lambda: admin.reload_in_background(reloader))
    try:
        yield
    finally:
        app.state.reloader = None
        batcher.close()
        if settings.review:
            app.state.review.close()


def internal_error(metrics: Metrics, exc: Exception, path: str) -> JSONResponse:
    log.error("unexpected error on %s", path, exc_info=exc)
    metrics.exceptions.labels(type(exc).__name__).inc()
    return JSONResponse(status_code=500, content={"detail": "internal error: the request was logged"})


def create_app(settings: Settings | None = None) -> FastAPI:
    settings, metrics = settings or Settings(), Metrics()
    hidden = {"docs_url": None, "redoc_url": None, **({} if settings.docs else {"openapi_url": None})}
    # FastAPI's native OpenTelemetry looks for configured providers on every request (~15 us) unless it is off.
    telemetry = {} if settings.opentelemetry else {"tracing": False, "metrics": False, "logs": False}

    async def parse_here(*args: Any) -> Response:  # the fast path of POST /parse, on this app's state
        return await parse_one(parsing_of(app.state), *args)

    # First the outermost: timing wraps the input guard (413, 415), which wraps the early shed (503), which
    # wraps /parse itself (before FastAPI's routing), so their answers are timed and counted too.
    outer = [Middleware(TimingMiddleware, budget_ms=settings.latency_budget_ms, metrics=metrics,
                        access_log=settings.access_log),
             Middleware(InputGuardMiddleware, max_bytes=settings.max_body_bytes, json_paths=JSON_ROUTES),
             Middleware(EarlyShedMiddleware, path=routes.PARSE_PATH),
             Middleware(ParseEndpoint, handle=parse_here, on_error=partial(internal_error, metrics),
                        path=routes.PARSE_PATH)]
    app = ServiceAPI(title="elmol-nlu", version="0.1.0", lifespan=lifespan, telemetry=telemetry, outer=outer,
                     description="Intent and slots of assistant utterances with an ELMo-Light joint model.", **hidden)
    app.state.settings, app.state.metrics, app.state.reloader = settings, metrics, None

    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return validation_error_response(exc.errors())

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return internal_error(metrics, exc, request.url.path)

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    app.include_router(routes.router)
    app.include_router(admin.router)
    app.include_router(review_api.router)
    if settings.docs:
        console.add_docs(app)
    if settings.console:
        console.add_console(app)
    return app
