"""Real uvicorn servers in a subprocess, on a free port, optionally pinned to a set of CPUs."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from elmol_nlu.paths import PROJECT_ROOT

log = logging.getLogger("bench.process")
ROOT = PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/ready", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.2)
    raise RuntimeError(f"server not ready after {timeout_s:.0f} s:\n{log_path.read_text()[-2000:]}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def service_command(model_dir: Path, threads: int, port: int, precision: str = "auto") -> list[str]:
    return [sys.executable, "-m", "service", "--port", str(port), "--model-dir", str(model_dir),
            "--threads", str(threads), "--precision", precision, "--log-level", "warning"]


def bare_command(port: int) -> list[str]:
    """The same uvicorn and middleware with a constant answer: what serving costs without the model."""
    return [sys.executable, "-m", "uvicorn", "experiments.bench.bare_app:create_app", "--factory", "--port", str(port),
            "--log-level", "warning", "--no-access-log", "--http", "service.http_protocol:ReceivedAtHttpToolsProtocol"]


@contextmanager
def serve_command(command: Callable[[int], list[str]], cpus: set[int] | None,
                  timeout_s: float = 60.0, env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """Run ``command(port)`` until its /ready answers; yield its base URL and pid; stop it on exit.

    ``env`` adds variables (e.g. ``ELMOL_*`` settings without a flag) to this process's environment."""
    port = free_port()
    with tempfile.NamedTemporaryFile("w+", prefix="elmol-bench-server-", suffix=".log", delete=False) as out:
        log_path = Path(out.name)
        proc = subprocess.Popen(command(port), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})})
    try:
        if cpus:
            # Set while the child is still importing, before it starts any thread: later threads inherit it.
            os.sched_setaffinity(proc.pid, cpus)
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc, log_path, timeout_s)
        log.info("server pid %d on %s, cpus %s", proc.pid, url, sorted(os.sched_getaffinity(proc.pid)))
        yield url, proc.pid
    finally:
        stop(proc)
        log_path.unlink(missing_ok=True)


@contextmanager
def serve(model_dir: Path, threads: int, cpus: set[int] | None, timeout_s: float = 60.0,
          env: dict[str, str] | None = None) -> Iterator[str]:
    """Yield the base URL of ``python -m service`` serving ``model_dir``; stop it on exit."""
    with serve_command(lambda port: service_command(model_dir, threads, port), cpus, timeout_s, env) as (url, _):
        yield url
