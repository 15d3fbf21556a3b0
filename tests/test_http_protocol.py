"""Server-side time counts from when uvicorn parsed a request, so time spent queued on a busy event loop
before the app runs is in it (with the app's own first step as the clock, it was invisible)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from starlette.types import Receive, Send

from experiments.bench.process import free_port
from service.http_protocol import HeaderBlockWithBody
from service.metrics import Metrics
from service.timing import TimingMiddleware

BLOCK_S = 0.3


async def app(scope: dict, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == "/block":
        time.sleep(BLOCK_S)  # holds the event loop, as a model call on it would
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(TimingMiddleware(app, 50, Metrics()), port=port, log_level="warning",
                            http="service.http_protocol:ReceivedAtHttpToolsProtocol", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


def test_of_two_requests_read_together_the_one_run_second_counts_its_wait(url: str) -> None:
    """A holds the loop; B and C arrive meanwhile, so the loop reads both in one pass once A lets go, and
    runs their tasks one after the other. Whichever runs second waited BLOCK_S after it was read: counted,
    its time is twice BLOCK_S; from the app's first step, it would be BLOCK_S like the other's."""
    clients = [httpx.Client(base_url=url, timeout=5) for _ in range(3)]
    try:
        for client in clients:  # connections open before the loop is held: B's and C's bytes just wait
            client.get("/fast")

        def get(client: httpx.Client, delay: float) -> float:
            time.sleep(delay)
            return float(client.get("/block").headers["x-process-time-ms"])

        with ThreadPoolExecutor(3) as pool:
            a, b, c = (pool.submit(get, client, delay) for client, delay in zip(clients, (0, 0.1, 0.1), strict=True))
            a_ms, b_ms, c_ms = a.result(), b.result(), c.result()
    finally:
        for client in clients:
            client.close()
    assert a_ms >= 1000 * BLOCK_S
    assert min(b_ms, c_ms) >= 1000 * BLOCK_S
    assert max(b_ms, c_ms) >= 1.8 * 1000 * BLOCK_S, (b_ms, c_ms)


def test_an_idle_server_times_a_request_in_microseconds_not_its_connection_setup(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        client.get("/fast")
        assert float(client.get("/fast").headers["x-process-time-ms"]) < 50


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"info {name}"


HEADERS = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


def test_a_header_block_goes_out_with_the_body_in_one_write() -> None:
    async def scenario() -> RecordingTransport:
        inner = RecordingTransport()
        transport = HeaderBlockWithBody(inner)  # type: ignore[arg-type]
        transport.write(HEADERS)
        assert inner.writes == []
        transport.write(b"ok")
        assert inner.writes == [HEADERS + b"ok"]
        transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # interim: never held
        assert inner.writes[-1] == b"HTTP/1.1 100 Continue\r\n\r\n"
        assert transport.get_extra_info("peername") == "info peername"  # the rest is the transport's
        return inner

    asyncio.run(scenario())


def test_a_header_block_without_body_is_written_within_the_loop_iteration_or_at_close() -> None:
    async def scenario() -> None:
        inner = RecordingTransport()
        transport = HeaderBlockWithBody(inner)  # type: ignore[arg-type]
        transport.write(HEADERS)  # a HEAD answer: uvicorn writes no body
        await asyncio.sleep(0)
        assert inner.writes == [HEADERS]
        transport.write(HEADERS)
        transport.close()
        assert inner.writes == [HEADERS, HEADERS] and inner.closed

    asyncio.run(scenario())


def test_the_server_answers_head_and_get_whole(url: str) -> None:
    with httpx.Client(base_url=url, timeout=5) as client:
        head = client.head("/fast")
        assert head.status_code == 200 and head.content == b""
        get = client.get("/fast")
        assert get.status_code == 200 and get.content == b"ok"
