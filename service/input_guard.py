"""413 for oversized bodies and 415 for non-JSON bodies, decided before the body is read; the 422 of invalid ones."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON_ROUTES = frozenset({"/parse", "/parse/batch"})
SEND_JSON = "send a JSON body with Content-Type: application/json"
DETAIL = {"application/json": {"schema": {"type": "object", "required": ["detail"],
                                          "properties": {"detail": {"type": "string"}}}}}
INPUT_ERRORS: dict[int | str, dict] = {
    413: {"description": "request body over the size limit (ELMOL_MAX_BODY_BYTES, 256 KiB by default)",
          "content": DETAIL},
    415: {"description": "Content-Type is not application/json", "content": DETAIL},
}


class BodyTooLargeError(HTTPException):
    """Raised from ``receive``: FastAPI re-raises an HTTPException met while reading a body, so it answers 413."""

    def __init__(self, size: str, max_bytes: int) -> None:
        super().__init__(413, f"request body has {size}: send at most {max_bytes} bytes "
                              "(split a long batch into several requests)")


class InputGuardMiddleware:
    """413 for a body over ``max_bytes``, 415 for a JSON route sent anything but JSON, before the body is read.

    Plain ASGI, like TimingMiddleware. A Content-Length over the limit is refused before a byte of the body is
    read; a body without one (chunked) is counted as it arrives and refused at the chunk that passes the limit,
    so no client makes a worker hold more than the limit (plus one chunk).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, json_paths: frozenset[str]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.json_paths = json_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is not None:
            await answer(refusal, scope, receive, send)
            return
        received, started = 0, False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise BodyTooLargeError(f"more than {self.max_bytes} bytes", self.max_bytes)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except BodyTooLargeError as e:  # read by something that let it through (FastAPI's routes answer it)
            if started:
                raise
            await answer(e, scope, receive, send)

    def refusal(self, scope: Scope) -> HTTPException | None:
        headers = Headers(scope=scope)
        declared = content_length(headers)
        if declared is not None and declared > self.max_bytes:
            return BodyTooLargeError(f"{declared} bytes", self.max_bytes)
        if scope["method"] == "POST" and scope["path"] in self.json_paths:
            content_type = headers.get("content-type")
            if content_type is None:
                return HTTPException(415, f"no Content-Type: {SEND_JSON}")
            if content_type.partition(";")[0].strip().lower() != "application/json":  # any charset is JSON's
                return HTTPException(415, f"Content-Type {content_type[:100]!r} is not accepted: {SEND_JSON}")
        return None


def content_length(headers: Headers) -> int | None:
    """The declared body size; None when absent or not a number (servers refuse those; the count still holds)."""
    try:
        return int(headers.get("content-length", ""))
    except ValueError:
        return None


async def answer(error: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse(status_code=error.status_code, content={"detail": error.detail})(scope, receive, send)


def validation_error_response(errors: Iterable[dict[str, Any]]) -> Response:
    """422 saying where and what, without echoing the input: FastAPI's own handler does, which fails to encode
    the NaN, Infinity and lone surrogates Python's JSON parser accepts (a 500)."""
    detail = [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"]} for e in errors]
    return Response(json.dumps({"detail": detail}, ensure_ascii=True), status_code=422, media_type="application/json")
