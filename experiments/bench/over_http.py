"""One sequential keep-alive client against the real server: server-side and round-trip times."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import httpx

from experiments.bench.corpus import take
from experiments.bench.process import serve
from experiments.bench.stats import summarize

log = logging.getLogger("bench.over_http")


def pinning(server_cpu: int, client_cpu: int) -> tuple[set[int] | None, set[int] | None]:
    """Server and client on different CPUs when this process may use both, else no pinning."""
    allowed = os.sched_getaffinity(0)
    if {server_cpu, client_cpu} <= allowed and server_cpu != client_cpu:
        return {server_cpu}, {client_cpu}
    log.warning("cpus %s do not allow pinning server to %d and client to %d", sorted(allowed), server_cpu, client_cpu)
    return None, None


def send(client: httpx.Client, text: str) -> tuple[float, float]:
    """Server-side ms (from ``x-process-time-ms``) and client round-trip ms of one ``POST /parse``."""
    started = time.perf_counter()
    r = client.post("/parse", json={"text": text})
    round_trip = 1000 * (time.perf_counter() - started)
    r.raise_for_status()
    return float(r.headers["x-process-time-ms"]), round_trip


def run_http(model_dir: Path, texts: list[str], n: int, warmup: int, threads: int,
             server_cpu: int = 0, client_cpu: int = 1) -> dict:
    server_cpus, client_cpus = pinning(server_cpu, client_cpu)
    before = os.sched_getaffinity(0)
    with serve(model_dir, threads, server_cpus) as url, httpx.Client(base_url=url, timeout=10.0) as client:
        if client_cpus:
            os.sched_setaffinity(0, client_cpus)
        try:
            for text in take(texts, warmup):
                send(client, text)
            log.info("over HTTP: %d sequential POST /parse after %d warm-up", n, warmup)
            timed = [send(client, text) for text in take(texts, n, skip=warmup)]
            precision = client.get("/ready").json()["model"]["precision"]
        finally:
            os.sched_setaffinity(0, before)
    return {"precision": precision, "threads": threads,
            "server_cpus": sorted(server_cpus or []), "client_cpus": sorted(client_cpus or []),
            "server_ms": summarize([s for s, _ in timed]), "round_trip_ms": summarize([rt for _, rt in timed])}
