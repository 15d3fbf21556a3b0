"""The OpenAPI contract says exactly what the server accepts, including what depends on its settings and on the
model being served, and a 405 lists every method of its path (tests/test_schema_fuzz.py holds both to the live
server with Schemathesis)."""

from __future__ import annotations

import copy
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from pydantic import Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

DEADLINE_HEADER = "X-Deadline-Ms"
# Under 10 ms no answer can be promised: 2 ms are kept to write it (service.parsing.WRITE_MARGIN_S) and a long
# utterance takes several; over a minute is no deadline at all (the server's budget caps it anyway).
MIN_DEADLINE_MS, MAX_DEADLINE_MS = 10.0, 60_000.0
DeadlineMs = Annotated[float, Field(ge=MIN_DEADLINE_MS, le=MAX_DEADLINE_MS)]
DeadlineHeader = Annotated[float, Header(
    alias=DEADLINE_HEADER, ge=MIN_DEADLINE_MS, le=MAX_DEADLINE_MS,
    description=f"answer within this many ms of arrival ({MIN_DEADLINE_MS:g} to {MAX_DEADLINE_MS:g}), or get a "
                "503; more than the server's latency budget counts as the budget")]


def _char_class(chars: list[str]) -> str:
    """A regex class body of these characters as \\uXXXX escapes and ranges, read alike by Python and ECMA-262."""
    codes, ranges = sorted(ord(c) for c in chars), []
    for code in codes:
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


# Exactly what ``str.strip()`` removes. Not the regex ``\\s``: ECMA-262's (the schema's dialect) lacks U+0085
# and U+001C-U+001F and adds U+FEFF, so a schema with ``\\s`` calls texts valid that the server refuses.
SPACE = _char_class([chr(c) for c in range(0x10000) if chr(c).isspace()])


def text_pattern(max_chars: int) -> str:
    """What ``service.parsing.check_text`` accepts: 1 to ``max_chars`` characters once leading and trailing
    whitespace (``str.strip``) is removed."""
    space, solid = f"[{SPACE}]", f"[^{SPACE}]"
    inner = "" if max_chars < 2 else f"([\\s\\S]{{0,{max_chars - 2}}}{solid})?"
    return f"^{space}*{solid}{inner}{space}*$"


def live_schema(base: dict[str, Any], settings: Any, serving: Any | None) -> dict[str, Any]:
    """``base`` (FastAPI's schema of the routes) with the limits of these settings and, once a model is loaded,
    its skills and intents: the longest text, texts per batch, the largest top_k and the skill names."""
    schema = copy.deepcopy(base)
    components = schema["components"]["schemas"]
    text = {"type": "string", "pattern": text_pattern(settings.max_text_chars)}
    components["ParseRequest"]["properties"]["text"].update(text)
    components["BatchParseRequest"]["properties"]["texts"].update(
        items=text, minItems=1, maxItems=settings.max_batch_texts)
    if serving is not None:
        for name in ("ParseRequest", "BatchParseRequest"):
            properties = components[name]["properties"]
            properties["top_k"]["anyOf"][0]["maximum"] = serving.max_intents
            properties["skills"]["anyOf"][0]["items"]["enum"] = list(serving.predictor.skills)
    return schema


def allowed_methods(request: Request) -> str:
    """Every method some route of this path answers (Starlette's 405 names only the first route's)."""
    methods = {m for route in request.app.router.routes if getattr(route, "methods", None)
               and route.matches(request.scope)[0] != Match.NONE for m in route.methods}
    return ", ".join(sorted(methods))


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 405:
        exc.headers = {**(exc.headers or {}), "Allow": allowed_methods(request)}
    return await http_exception_handler(request, exc)
