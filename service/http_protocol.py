"""uvicorn's httptools protocol, stamping each request when its first bytes are parsed.

The server-side time (``X-Process-Time-Ms``, the latency histogram) and each request's deadline count from
this stamp rather than from when the app first runs for the request. Between the two, the request's task
waits behind whatever the event loop has queued before it: other requests' first steps, or the
micro-batcher's drain running the model on the loop. Timed from the app, that wait was invisible, and a
change that only moved it there looked like a gain (docs/PERFORMANCE.md). Bytes the kernel holds that
the loop has not read yet are still not counted: only the client's round trip sees those.
"""

from __future__ import annotations

import time

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

RECEIVED = "request_received"  # key in the ASGI scope's "state": time.perf_counter() at the first bytes


class ReceivedAtHttpToolsProtocol(HttpToolsProtocol):
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["state"][RECEIVED] = time.perf_counter()
