"""Server-side processing time and the latency budget, reported in response headers."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class TimingMiddleware:
    """Adds ``Server-Timing: app;dur=<ms>``, ``X-Process-Time-Ms`` and ``X-Latency-Budget-Ms``.

    Plain ASGI rather than ``BaseHTTPMiddleware``, which costs a task and a stream per request.
    """

    def __init__(self, app: ASGIApp, budget_ms: float) -> None:
        self.app = app
        self.budget = f"{budget_ms:g}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = f"{1000 * (time.perf_counter() - started):.3f}".encode()
                headers = list(message.get("headers", []))
                headers += [(b"server-timing", b"app;dur=" + ms), (b"x-process-time-ms", ms),
                            (b"x-latency-budget-ms", self.budget)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_timing)
