"""POST /parse as plain ASGI, before FastAPI's routing: the body validated by pydantic, then the app's handler.

FastAPI's route machinery (exception middleware, routing, request object, dependency solving, its JSON
decoding then validation) took more time per request than tokenizing and encoding an utterance. This
endpoint does the same checks with the same models: the body is ``ParseRequest``, ``X-Deadline-Ms`` a number
within ``service.contract``'s bounds, and errors are the app's 422s. The route of the same path
(``service.routes``) is the one declaration of /parse, for /docs and the 405 of other methods; it calls the
same handler (``service.parsing.parse_one``). It sits inside the timing, input guard and early shed
middleware, so their checks, headers and metrics apply as to every route, and outside Starlette's own layers
(``service.app.ServiceAPI``), so it answers an unexpected error itself, with the app's 500 (``on_error``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.contract import DEADLINE_HEADER, DeadlineMs
from service.input_guard import validation_error_response
from service.schemas import ParseRequest

DEADLINE_MS = TypeAdapter(DeadlineMs)

# (request, X-Deadline-Ms or None, arrival time) -> the answer; may raise RequestValidationError or HTTPException
Handler = Callable[[ParseRequest, "float | None", float], Awaitable[Response]]
ErrorHandler = Callable[[Exception, str], Response]  # (unexpected exception, path) -> the 500, logged and counted


def errors_at(error: ValidationError, *where: Any) -> list[dict[str, Any]]:
    return [{"type": e["type"], "loc": [*where, *e["loc"]], "msg": e["msg"]} for e in error.errors()]


def request_of(body: bytes) -> tuple[ParseRequest | None, list[dict[str, Any]]]:
    """The request, or the errors that say what is wrong with the body.

    pydantic-core parses UTF-8 JSON and validates it in one pass. What it refuses as JSON is read again as
    FastAPI reads a body, by Python's json module, which also takes UTF-16 and UTF-32 and lone surrogates (that
    ``check_text`` then names), so that only the fast path differs from a FastAPI route, not the answers.
    """
    try:
        return ParseRequest.model_validate_json(body), []
    except ValidationError as e:
        if all(error["type"] != "json_invalid" for error in e.errors()):
            return None, errors_at(e, "body")
    if not body.strip():
        return None, [{"type": "json_invalid", "loc": ["body"], "msg": 'empty body: send {"text": "..."}'}]
    try:
        data = json.loads(body)
    except json.JSONDecodeError as e:
        return None, [{"type": "json_invalid", "loc": ["body", e.pos], "msg": f"JSON decode error: {e.msg}"}]
    except UnicodeDecodeError:
        return None, [{"type": "json_invalid", "loc": ["body"], "msg": "body is not UTF-8 text: send UTF-8 JSON"}]
    except (ValueError, RecursionError) as e:  # a number of over 4,300 digits; nesting over ~1,000 levels
        return None, [{"type": "json_invalid", "loc": ["body"], "msg": f"JSON this server cannot read: {e}"[:200]}]
    try:
        return ParseRequest.model_validate(data), []
    except ValidationError as e:
        return None, errors_at(e, "body")


def deadline_of(scope: Scope) -> tuple[float | None, list[dict[str, Any]]]:
    """The X-Deadline-Ms header as a number, or the errors that say why it is not one."""
    raw = next((v for k, v in scope["headers"] if k == b"x-deadline-ms"), None)
    if raw is None:
        return None, []
    try:
        return DEADLINE_MS.validate_python(raw.decode("latin-1")), []
    except ValidationError as e:
        return None, errors_at(e, "header", DEADLINE_HEADER)


async def read_body(receive: Receive) -> bytes | None:
    """The whole body; None if the client went away first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class ParseEndpoint:
    def __init__(self, app: ASGIApp, handle: Handler, on_error: ErrorHandler, path: str = "/parse") -> None:
        self.app = app
        self.handle = handle
        self.on_error = on_error
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)  # a body over the limit raises to the input guard, which answers 413
        if body is None:
            return
        response = await self.respond(body, scope)
        await response(scope, receive, send)

    async def respond(self, body: bytes, scope: Scope) -> Response:
        request, errors = request_of(body)
        deadline_ms, header_errors = deadline_of(scope)
        if request is None or header_errors:
            return validation_error_response(errors + header_errors)
        try:
            return await self.handle(request, deadline_ms, scope["state"]["request_started"])
        except RequestValidationError as e:
            return validation_error_response(e.errors())
        except HTTPException as e:
            return JSONResponse({"detail": e.detail}, status_code=e.status_code, headers=e.headers)
        except Exception as e:  # a bug: Starlette's error middleware is inside this endpoint, not around it
            return self.on_error(e, self.path)
