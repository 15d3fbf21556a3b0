"""uvicorn's httptools protocol, stamping each request when its first bytes are parsed, and writing each
answer's header block and body in one write.

The server-side time (``X-Process-Time-Ms``, the latency histogram) and each request's deadline count from
this stamp rather than from when the app first runs for the request. Between the two, the request's task
waits behind whatever the event loop has queued before it: other requests' first steps, or the
micro-batcher's drain running the model on the loop. Timed from the app, that wait was invisible, and a
change that only moved it there looked like a gain (docs/PERFORMANCE.md). Bytes the kernel holds that
the loop has not read yet are still not counted: only the client's round trip sees those.

uvicorn writes a response's status line and headers as soon as the app starts the response, then the body
when it comes: two ``send`` calls, and two packets, for an answer that is ready whole. ``HeaderBlockWithBody``
holds the header block until the body's first bytes (the next write) and sends both at once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

RECEIVED = "request_received"  # key in the ASGI scope's "state": time.perf_counter() at the first bytes


class HeaderBlockWithBody:
    """A transport whose ``write`` of a response's header block waits for the body's first write.

    What is held never outlives the loop iteration that wrote it (a response without body bytes, such as an
    answer to HEAD, or one whose app failed after starting it), nor the transport: ``close`` writes it first.
    Every other attribute is the transport's.
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._held is not None:
            data, self._held = self._held + data, None
        elif is_header_block(data):
            self._held = data
            asyncio.get_running_loop().call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._held is not None:
            data, self._held = self._held, None
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def is_header_block(data: bytes) -> bool:
    """A response's status line and headers, which a body follows (not an interim 100 Continue)."""
    return data.startswith(b"HTTP/1.1 ") and data.endswith(b"\r\n\r\n") and not data.startswith(b"HTTP/1.1 1")


class ReceivedAtHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeaderBlockWithBody(transport))  # type: ignore[arg-type]

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["state"][RECEIVED] = time.perf_counter()
