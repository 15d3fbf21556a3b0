"""Server-side processing time and the latency budget, reported in response headers and in metrics."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import Metrics


class TimingMiddleware:
    """Adds ``Server-Timing: app;dur=<ms>``, ``X-Process-Time-Ms`` and ``X-Latency-Budget-Ms``.

    Plain ASGI rather than ``BaseHTTPMiddleware``, which costs a task and a stream per request. The start
    time goes into the request state (``request_started``): deadlines count from it.
    """

    def __init__(self, app: ASGIApp, budget_ms: float, metrics: Metrics) -> None:
        self.app = app
        self.budget = f"{budget_ms:g}".encode()
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        scope.setdefault("state", {})["request_started"] = started

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                seconds = time.perf_counter() - started
                ms = f"{1000 * seconds:.3f}".encode()
                self.metrics.observe_request(scope["path"], message["status"], seconds)
                headers = list(message.get("headers", []))
                headers += [(b"server-timing", b"app;dur=" + ms), (b"x-process-time-ms", ms),
                            (b"x-latency-budget-ms", self.budget)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_timing)
