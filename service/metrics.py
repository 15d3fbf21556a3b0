"""Prometheus metrics of one app: request latency with sub-millisecond buckets, outcomes, shedding, batching.

Each app has its own registry (tests build several apps in one process). With several uvicorn workers,
each process answers ``/metrics`` for itself; scrape per worker or run one worker per container.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Latency buckets in seconds: fine below 5 ms, where the service lives, coarse up to the budget and past it.
LATENCY_BUCKETS = (0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01,
                   0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
ROUTES = ("/parse", "/parse/batch", "/health", "/ready", "/metrics")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.latency = Histogram("elmol_request_duration_seconds", "Server-side time per request",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.requests = Counter("elmol_requests", "Requests answered", ["route", "status"], registry=r)
        self.errors = Counter("elmol_errors", "Requests answered with a 5xx other than 503", ["route"],
                              registry=r)
        self.exceptions = Counter("elmol_exceptions", "Unexpected exceptions behind 500s, by type", ["type"],
                                  registry=r)
        self.shed = Counter("elmol_shed", "Requests refused with 503 to keep the latency budget", ["reason"],
                            registry=r)
        self.batch_size = Histogram("elmol_batch_size", "Utterances per model call of the micro-batcher",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.model_seconds = Histogram("elmol_model_duration_seconds", "Time per micro-batch in the model",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("elmol_queue_depth", "/parse requests in progress in the micro-batcher", registry=r)

        # labelled children looked up once: ``labels()`` takes a lock and builds a key on every call
        self._latency = {route: self.latency.labels(route) for route in (*ROUTES, "other")}
        self._requests: dict[tuple[str, int], object] = {}

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        route = path if path in ROUTES else "other"  # bounded label values, whatever paths clients try
        self._latency[route].observe(seconds)
        counter = self._requests.get((route, status))
        if counter is None:  # statuses are few (HTTP's), so this stays small
            counter = self._requests[route, status] = self.requests.labels(route, str(status))
        counter.inc()
        if status >= 500 and status != 503:  # 503 is shedding or loading, counted apart
            self.errors.labels(route).inc()
