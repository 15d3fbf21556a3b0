"""Refuse /parse at the door while the micro-batcher's queue is full: before the body is read and
validated, so that a flood costs the event loop tens of microseconds a request, not hundreds, and
/health keeps answering."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from service.batcher import MicroBatcher
from service.metrics import Metrics

FULL = {"detail": "over capacity (queue full): the model's queue is full; retry in a second"}


class EarlyShedMiddleware:
    def __init__(self, app: ASGIApp, path: str, metrics: Metrics) -> None:
        self.app = app
        self.path = path
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == "POST":
            batcher: MicroBatcher | None = getattr(scope["app"].state, "batcher", None)
            if batcher is not None and batcher.full:
                self.metrics.shed.labels("queue full").inc()
                response = JSONResponse(status_code=503, content=FULL, headers={"Retry-After": "1"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
