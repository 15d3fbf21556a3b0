"""An open-loop HTTP load generator: requests leave on a Poisson schedule whatever the server does.

A closed loop (each client waits for its answer) slows down with the server and hides queueing; an
open loop keeps offering the load, which is what users do. Plain asyncio streams over keep-alive
connections keep the generator's own cost at tens of microseconds per request, so one core drives a
server on the other well past its saturation.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Outcome:
    status: int  # 0: transport error
    server_ms: float  # X-Process-Time-Ms, the server's own measure; nan when absent
    round_trip_ms: float


MAX_CONNECTIONS = 256  # like a fleet of clients' pools: beyond it requests wait for a connection, still timed


class Connections:
    """Idle keep-alive connections to one server, opened on demand, at most ``limit`` in use at once."""

    def __init__(self, host: str, port: int, limit: int = MAX_CONNECTIONS) -> None:
        self.host, self.port = host, port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0
        self.in_use = asyncio.Semaphore(limit)

    async def take(self, fresh: bool = False) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._idle and not fresh:
            return self._idle.pop()
        self.opened += 1
        return await asyncio.open_connection(self.host, self.port)

    @property
    def has_idle(self) -> bool:
        return bool(self._idle)

    def give_back(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self._idle.append(conn)

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


def post_bytes(path: str, text: str) -> bytes:
    body = json.dumps({"text": text}).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status = int((await reader.readline()).split()[1])
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    await reader.readexactly(int(headers.get("content-length", 0)))
    return status, headers


async def exchange(pool: Connections, request: bytes, fresh: bool) -> tuple[int, dict[str, str]]:
    reader, writer = await pool.take(fresh)
    writer.write(request)
    status, headers = await read_response(reader)
    pool.give_back((reader, writer))
    return status, headers


async def send(pool: Connections, request: bytes) -> Outcome:
    started = time.perf_counter()  # before waiting for a connection: a client's wait is latency too
    async with pool.in_use:
        return await send_on_connection(pool, request, started)


async def send_on_connection(pool: Connections, request: bytes, started: float) -> Outcome:
    errors = (OSError, asyncio.IncompleteReadError, ValueError, IndexError)
    reused = pool.has_idle
    try:
        try:
            status, headers = await exchange(pool, request, fresh=False)
        except errors:
            if not reused:
                raise
            # the server closes keep-alive connections idle past its timeout: one retry on a new one
            status, headers = await exchange(pool, request, fresh=True)
    except errors:
        return Outcome(0, float("nan"), 1000 * (time.perf_counter() - started))
    return Outcome(status, float(headers.get("x-process-time-ms", "nan")), 1000 * (time.perf_counter() - started))


async def open_loop(url: str, texts: list[str], rate: float, seconds: float, seed: int = 0) -> list[Outcome]:
    """Offer ``rate`` requests/s (Poisson arrivals) for ``seconds``; every answer, in sending order."""
    parts = urlsplit(url)
    pool = Connections(parts.hostname or "127.0.0.1", parts.port or 80)
    rng = random.Random(seed)
    requests = [post_bytes("/parse", t) for t in texts]
    tasks = []
    start = time.perf_counter()
    due = start
    i = 0
    while due < start + seconds:
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(send(pool, requests[i % len(requests)])))
        i += 1
        due += rng.expovariate(rate)
    outcomes = await asyncio.gather(*tasks)
    pool.close()
    return list(outcomes)


async def closed_loop(url: str, texts: list[str], clients: int, seconds: float) -> tuple[list[Outcome], float]:
    """``clients`` back-to-back senders for ``seconds``: the answers and the throughput reached (per s)."""
    parts = urlsplit(url)
    pool = Connections(parts.hostname or "127.0.0.1", parts.port or 80)
    requests = [post_bytes("/parse", t) for t in texts]
    outcomes: list[Outcome] = []
    stop = time.perf_counter() + seconds

    async def client(k: int) -> None:
        i = k
        while time.perf_counter() < stop:
            outcomes.append(await send(pool, requests[i % len(requests)]))
            i += clients

    started = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    elapsed = time.perf_counter() - started
    pool.close()
    return outcomes, len(outcomes) / elapsed
