"""Refuse /parse at the door while the micro-batcher's queue is full: before the body is read and
validated, so that a flood costs the event loop tens of microseconds a request, not hundreds, and
/health keeps answering."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from service.batcher import MicroBatcher, OverloadedError


def overloaded_response(error: OverloadedError) -> JSONResponse:
    """The 503 a client gets, whether refused at the door or by the batcher."""
    return JSONResponse(status_code=503, headers={"Retry-After": "1"},
                        content={"detail": f"over capacity ({error.reason}): {error}; retry in a second"})


class EarlyShedMiddleware:
    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == "POST":
            batcher: MicroBatcher | None = getattr(scope["app"].state, "batcher", None)
            if batcher is not None and batcher.full:
                await overloaded_response(batcher.queue_full_error())(scope, receive, send)
                return
        await self.app(scope, receive, send)
