"""The real server process: ``python -m service`` under uvicorn, driven over HTTP, stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import MODEL_DIR, REPO, free_port

STARTUP_S = 90  # loading the model on a busy machine


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELMOL_")}
    return {**env, **extra}


@contextmanager
def server(args: list[str], env: dict[str, str], logs: Path) -> Iterator[subprocess.Popen]:
    """Start ``python -m service ARGS``; on leaving, SIGTERM it (and kill it if it hangs)."""
    with open(logs / "stdout", "wb") as out, open(logs / "stderr", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "service", *args], cwd=REPO, env=env, stdout=out, stderr=err)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_ready(proc: subprocess.Popen, port: int, logs: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{(logs / 'stderr').read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"server not ready on port {port} after {STARTUP_S} s:\n{(logs / 'stderr').read_text()}")


def stop(proc: subprocess.Popen, logs: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"server still running 10 s after SIGTERM:\n{(logs / 'stderr').read_text()}")
    stderr = (logs / "stderr").read_text()
    assert "Application shutdown complete" in stderr, stderr  # graceful: the lifespan's shutdown ran
    # uvicorn re-raises a captured SIGTERM after its graceful shutdown, which alone would give -15
    assert code == 0, f"exit status {code} after SIGTERM:\n{stderr}"


def test_serves_parses_and_stops_cleanly(tmp_path: Path) -> None:
    port, env_port = free_port(), free_port()
    # the flag wins over ELMOL_PORT
    # a generous budget: this test is about answers, and a shed 503 on a slow, busy machine would only blur it
    env = clean_env(ELMOL_PORT=str(env_port), ELMOL_LATENCY_BUDGET_MS="1000")
    with server(["--port", str(port), "--model-dir", "models/default"], env, tmp_path) as proc:
        wait_ready(proc, port, tmp_path)
        base = f"http://127.0.0.1:{port}"
        ready = httpx.get(f"{base}/ready").json()
        assert ready["status"] == "ready" and ready["model"]["name"]

        text = "wake me up at 7:30 tomorrow, please"
        r = httpx.post(f"{base}/parse", json={"text": text}, timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["text"] == text and body["model"] == ready["model"]
        assert [text[t["start"] : t["end"]] for t in body["tokens"]] == [t["text"] for t in body["tokens"]]
        assert len(body["tags"]) == len(body["tokens"]) == 8
        assert 0 <= body["intent"]["confidence"] <= 1
        assert float(r.headers["x-process-time-ms"]) >= 0 and r.headers["server-timing"].startswith("app;dur=")
        assert httpx.post(f"{base}/parse", json={"text": " "}).status_code == 422

        # concurrent requests (uvicorn's thread pool sharing one onnxruntime session) give the same answers
        texts = [f"play track {i} by queen on spotify" for i in range(8)] * 4
        with httpx.Client(base_url=base, timeout=30) as client:
            sequential = [client.post("/parse", json={"text": t}) for t in texts]
            with ThreadPoolExecutor(8) as pool:
                concurrent = list(pool.map(lambda t: client.post("/parse", json={"text": t}), texts))
        assert all(r.status_code == 200 for r in sequential + concurrent), [r.text for r in sequential + concurrent
                                                                              if r.status_code != 200]
        sequential, concurrent = [r.json() for r in sequential], [r.json() for r in concurrent]
        assert [c["tags"] for c in concurrent] == [s["tags"] for s in sequential]
        assert [c["intent"]["name"] for c in concurrent] == [s["intent"]["name"] for s in sequential]

        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{env_port}/health", timeout=2)
        stop(proc, tmp_path)


def test_port_and_model_dir_from_the_environment(tmp_path: Path) -> None:
    port = free_port()
    with server([], clean_env(ELMOL_PORT=str(port), ELMOL_MODEL_DIR=str(MODEL_DIR)), tmp_path) as proc:
        wait_ready(proc, port, tmp_path)
        assert httpx.post(f"http://127.0.0.1:{port}/parse", json={"text": "play jazz"}).status_code == 200
        stop(proc, tmp_path)


def test_missing_model_dir_fails_with_a_clear_message(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with server(["--port", str(free_port()), "--model-dir", str(missing)], clean_env(), tmp_path) as proc:
        try:
            code = proc.wait(STARTUP_S)
        except subprocess.TimeoutExpired:
            pytest.fail("server kept running without a model")
    stderr = (tmp_path / "stderr").read_text()
    assert code != 0
    assert "manifest.json" in stderr and str(missing) in stderr


def test_bad_flag_value_fails_before_serving(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "service", "--port", "70000"], cwd=REPO, env=clean_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "port" in result.stderr and "65535" in result.stderr


def test_sighup_reloads_the_model_directory(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(MODEL_DIR, model_dir)
    port = free_port()
    with server(["--port", str(port), "--model-dir", str(model_dir)], clean_env(), tmp_path) as proc:
        wait_ready(proc, port, tmp_path)
        base = f"http://127.0.0.1:{port}"
        manifest = json.loads((model_dir / "manifest.json").read_text())
        (model_dir / "manifest.json").write_text(json.dumps({**manifest, "version": "reloaded-by-sighup"}))
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while httpx.get(f"{base}/ready").json()["model"]["version"] != "reloaded-by-sighup":
            assert time.monotonic() < deadline, (tmp_path / "stderr").read_text()
            time.sleep(0.1)
        answer = httpx.post(f"{base}/parse", json={"text": "play jazz"}).json()
        assert answer["model"]["version"] == "reloaded-by-sighup"
        (model_dir / "heads.onnx").write_bytes(b"corrupt")  # a bad reload is refused; the model keeps serving
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while "reload refused" not in (tmp_path / "stderr").read_text():
            assert time.monotonic() < deadline, (tmp_path / "stderr").read_text()
            time.sleep(0.1)
        assert httpx.post(f"{base}/parse", json={"text": "play jazz"}).status_code == 200
        stop(proc, tmp_path)


def test_sigterm_lets_requests_in_flight_finish(tmp_path: Path) -> None:
    port = free_port()
    # what is tested is the shutdown, not the shedding: a loaded machine must not turn the 4 batches into 503s
    with server(["--port", str(port)], clean_env(ELMOL_BATCH_BUDGET_MS="30000"), tmp_path) as proc:
        wait_ready(proc, port, tmp_path)
        texts = [f"remind me to call mum about the party on saturday number {i}" for i in range(64)]
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) for _ in range(4)]
        for c in clients:
            c.get("/health")  # connected before the signal: their batches are in flight, not new connections
        with ThreadPoolExecutor(4) as pool:
            batches = [pool.submit(c.post, "/parse/batch", json={"texts": texts}) for c in clients]
            time.sleep(0.05)  # the batches are being parsed
            stop(proc, tmp_path)  # exit 0 after a graceful shutdown
            answers = [b.result() for b in batches]
        for c in clients:
            c.close()
        assert all(r.status_code == 200 and len(r.json()["results"]) == 64 for r in answers)


def test_sigterm_with_drain_says_not_ready_but_keeps_serving_then_stops(tmp_path: Path) -> None:
    port = free_port()
    with server(["--port", str(port)], clean_env(ELMOL_DRAIN_S="1.5"), tmp_path) as proc:
        wait_ready(proc, port, tmp_path)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert client.get("/ready").status_code == 200
            signalled = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.2)  # the signal is handled
            r = client.get("/ready")
            assert r.status_code == 503 and "stopping" in r.json()["detail"]
            # a balancer still sending (on a kept connection, or a new one) is answered while it notices
            assert client.post("/parse", json={"text": "play jazz"}).status_code == 200
            assert httpx.post(f"http://127.0.0.1:{port}/parse", json={"text": "play jazz"}).status_code == 200
            assert time.monotonic() - signalled < 1.5, "the checks took the whole drain: the test proves nothing"
        code = proc.wait(10)
        assert time.monotonic() - signalled >= 1.5, "stopped before the drain was over"
        stderr = (tmp_path / "stderr").read_text()
        assert code == 0 and "draining for 1.5 s" in stderr and "Application shutdown complete" in stderr, stderr


def test_connections_beyond_the_limit_get_503_and_the_server_recovers(tmp_path: Path) -> None:
    port = free_port()
    with server(["--port", str(port)], clean_env(ELMOL_MAX_CONNECTIONS="4"), tmp_path) as proc:
        wait_ready(proc, port, tmp_path)
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
        try:
            time.sleep(0.2)
            assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 503  # uvicorn's limit
        finally:
            for s in idle:
                s.close()
        deadline = time.monotonic() + 10
        while httpx.get(f"http://127.0.0.1:{port}/health").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        stop(proc, tmp_path)
