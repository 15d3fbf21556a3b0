"""Stopping without losing a request: on SIGTERM, first say "not ready" for ``ELMOL_DRAIN_S``, then stop.

A load balancer (HAProxy in the compose profile ``scale``, a Kubernetes Service) sends requests to a replica
until it sees the replica go; if the replica stops at once, a request sent on a kept-alive connection just as
the replica closes it is lost, with no answer. Draining closes that window: ``/ready`` answers 503 while
everything else is still served, the balancer takes the replica out within its check interval, and only
then does uvicorn's graceful shutdown start (which finishes the requests in flight). A second SIGTERM, or
SIGINT (Ctrl-C), stops at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import uvicorn

log = logging.getLogger("service")

# Set once SIGTERM arrives; /ready reads it. One per process: each uvicorn worker drains on its own signal.
DRAINING = threading.Event()


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with a ``drain_s`` pause between SIGTERM and its graceful shutdown."""

    def __init__(self, config: uvicorn.Config, drain_s: float) -> None:
        super().__init__(config)
        self.drain_s = drain_s

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self.drain_s <= 0 or DRAINING.is_set():
            super().handle_exit(sig, frame)
            return
        DRAINING.set()
        log.info("SIGTERM: draining for %.1f s (/ready answers 503), then stopping", self.drain_s)
        timer = threading.Timer(self.drain_s, super().handle_exit, (sig, frame))
        timer.daemon = True
        timer.start()
