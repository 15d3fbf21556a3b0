"""Per request: server-side time and latency budget in headers and metrics, the request id, the access log."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.http_protocol import RECEIVED
from service.logs import REQUEST_ID, request_id_from
from service.metrics import Metrics

access = logging.getLogger("service.access")


class TimingMiddleware:
    """Adds ``Server-Timing: app;dur=<ms>``, ``X-Process-Time-Ms`` and ``X-Latency-Budget-Ms``.

    Plain ASGI rather than ``BaseHTTPMiddleware``, which costs a task and a stream per request. The start
    time, when the server parsed the request's first bytes (``service.http_protocol``) or else when this
    middleware first saw it, goes into the request state (``request_started``): deadlines count from it.
    """

    def __init__(self, app: ASGIApp, budget_ms: float, metrics: Metrics, access_log: bool = False) -> None:
        self.app = app
        self.budget = f"{budget_ms:g}".encode()
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        # from the request's first bytes when the server stamps them (service.http_protocol), else from now
        started = state.get(RECEIVED) or time.perf_counter()
        state["request_started"] = started
        request_id = request_id_from(dict(scope["headers"]).get(b"x-request-id"))
        token = REQUEST_ID.set(request_id)
        status, seconds = 0, 0.0

        async def send_with_timing(message: Message) -> None:
            nonlocal status, seconds
            if message["type"] == "http.response.start":
                seconds = time.perf_counter() - started
                status = message["status"]
                ms = f"{1000 * seconds:.3f}".encode()
                headers = list(message.get("headers", []))
                headers += [(b"server-timing", b"app;dur=" + ms), (b"x-process-time-ms", ms),
                            (b"x-latency-budget-ms", self.budget), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_timing)
        except Exception:
            if not status:  # raised before any answer: uvicorn answers 500 outside this middleware, count it here
                status, seconds = 500, time.perf_counter() - started
            raise
        finally:
            # after the answer is handed over: the client does not wait for the bookkeeping
            if status:
                self.metrics.observe_request(scope["path"], status, seconds)
            if self.access_log:
                access.info("%s %s %d", scope["method"], scope["path"], status,
                            extra={"status": status, "ms": round(1000 * (time.perf_counter() - started), 3)})
            REQUEST_ID.reset(token)
