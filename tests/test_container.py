"""The Docker image through compose: builds, becomes healthy, parses, has no torch nor compiler but the compiled
CRF Viterbi, runs as non-root."""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import subprocess
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import MODEL_DIR, REPO, free_port

from elmol_nlu.manifest import load_manifest
from experiments.bench.failover import status, while_running

pytestmark = pytest.mark.container

SETUP_SCRIPT = REPO.parent / "shared" / "tools" / "setup-docker-engine.sh"
HEALTHY_WITHIN_S = 300


def docker_works() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def docker_engine() -> None:
    if SETUP_SCRIPT.is_file() and os.geteuid() == 0:
        # idempotent: about a second when the engine is already up
        result = subprocess.run(["bash", str(SETUP_SCRIPT)], capture_output=True, text=True, timeout=1200)
        assert result.returncode == 0, f"{SETUP_SCRIPT} failed:\n{result.stdout}\n{result.stderr}"
        assert docker_works(), f"{SETUP_SCRIPT} ran but `docker info` still fails"
    elif not docker_works():
        where = "needs root" if SETUP_SCRIPT.is_file() else f"{SETUP_SCRIPT} does not exist"
        pytest.skip(f"no Docker engine: `docker info` fails and the setup script {where}")


class Compose:
    """``docker compose`` on the repo's file under a unique project name, the port published on 127.0.0.1."""

    profiles: tuple[str, ...] = ()

    def __init__(self, tmp: Path, skills: Path | None = None) -> None:
        self.project = f"elmol-test-{secrets.token_hex(4)}"
        self.port = free_port()
        self.skills = skills
        override = tmp / "compose.test.yml"
        override.write_text(self.override())
        self.base = ["docker", "compose", "-p", self.project, "-f", str(REPO / "docker-compose.yml"),
                     "-f", str(override), *self.profiles]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("ELMOL_", "COMPOSE_"))}

    def override(self) -> str:
        # !override replaces the repo's "8000:8000" (other lists would be merged), so runs never clash
        volumes = f"    volumes: !override\n      - \"{self.skills}:/app/skills:ro\"\n" if self.skills else ""
        return (f"services:\n  nlu:\n    image: elmol-nlu-test:{self.project}\n"
                f"    ports: !override\n      - \"127.0.0.1:{self.port}:8000\"\n{volumes}")

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([*self.base, *args], cwd=REPO, env=self.env, capture_output=True, text=True,
                                timeout=timeout)
        if check:
            assert result.returncode == 0, f"docker compose {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result

    @contextmanager
    def logs_on_failure(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            print(self.run("logs", "--no-color", check=False).stdout)  # shown by pytest with the failure
            raise

    def container(self) -> str:
        return self.run("ps", "-a", "-q", "nlu").stdout.strip()

    def state(self) -> dict:
        out = subprocess.run(["docker", "inspect", "-f", "{{json .State}}", self.container()], capture_output=True,
                             text=True, timeout=60)
        return json.loads(out.stdout) if out.returncode == 0 else {}


ADMIN_TOKEN = secrets.token_hex(8)


@pytest.fixture(scope="module")
def skills_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's example skill, trained on the shipped model (about a minute), readable by the container."""
    from cli.main import main as cli

    skills = tmp_path_factory.mktemp("skills")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*ill-defined.*")  # seqeval, early epochs
        assert cli(["skill", "train", str(REPO / "examples" / "leisure.yml"), "--name", "leisure", "--out",
                    str(skills / "leisure"), "--time-budget", "2m"]) == 0
    for path in [skills, *skills.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # the image's user is not root
    return skills


@pytest.fixture(scope="module")
def compose(docker_engine: None, skills_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    c = Compose(tmp_path_factory.mktemp("compose"), skills_dir)
    c.env["ELMOL_ADMIN_TOKEN"] = ADMIN_TOKEN
    try:
        with c.logs_on_failure():
            c.run("up", "-d", "--build", timeout=540)  # + health wait stays under the 900 s test timeout
            deadline = time.monotonic() + HEALTHY_WITHIN_S
            while (state := c.state()).get("Health", {}).get("Status") != "healthy":
                assert state.get("Status") in ("created", "running"), f"container is {state.get('Status')}"
                assert time.monotonic() < deadline, f"not healthy after {HEALTHY_WITHIN_S} s: {state}"
                time.sleep(2)
        yield c
    finally:
        c.run("down", "-v", "--rmi", "all", "--remove-orphans", timeout=300, check=False)


def test_healthy_container_parses(compose: Compose) -> None:
    with compose.logs_on_failure():
        check_parse_over_http(compose.port)


def check_parse_over_http(port: int) -> None:
    base = f"http://127.0.0.1:{port}"
    manifest = load_manifest(MODEL_DIR, verify=False)
    ready = httpx.get(f"{base}/ready", timeout=10).json()
    assert ready["model"]["name"] == manifest.name and ready["model"]["version"] == manifest.version
    text = "set an alarm for seven thirty a.m. tomorrow"
    r = httpx.post(f"{base}/parse", json={"text": text}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"text", "intent", "intents", "intent_ranking", "fallback", "sequence_confidence", "slots",
                         "tokens", "tags", "skill", "model"}
    assert body["intent"]["name"] in manifest.intents and 0 <= body["intent"]["confidence"] <= 1
    assert body["intent_ranking"][0] == body["intent"] and len(body["intent_ranking"]) == 5
    assert body["slots"] and all(0 <= s["confidence"] <= 1 for s in body["slots"])
    assert [text[t["start"] : t["end"]] for t in body["tokens"]] == [t["text"] for t in body["tokens"]]
    assert len(body["tags"]) == len(body["tokens"])
    assert all(text[s["start"] : s["end"]] == s["value"] for s in body["slots"])
    assert "x-process-time-ms" in r.headers
    assert httpx.post(f"{base}/parse", json={"text": ""}, timeout=10).status_code == 422


def test_skills_in_the_mounted_directory_are_served_beside_the_model(compose: Compose, skills_dir: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    """The README's three commands: skill train, compose up, curl; then remove and add it while serving."""
    from cli.main import main as cli

    base = f"http://127.0.0.1:{compose.port}"
    with compose.logs_on_failure():
        skills = [s["name"] for s in httpx.get(f"{base}/skills", timeout=10).json()["skills"]]
        assert skills == [load_manifest(MODEL_DIR, verify=False).name, "leisure"]
        body = httpx.post(f"{base}/parse", json={"text": "rate this textbook four out of 6 stars"}, timeout=10).json()
        assert body["skill"] == "leisure" and body["intent"]["name"] == "RateBook", body
        assert {s["name"] for s in body["slots"]} >= {"rating_value", "best_rating"}, body
        assert httpx.post(f"{base}/parse", json={"text": "wake me up at 7 am"}, timeout=10).json()["skill"] != "leisure"
        admin = ["--service", base, "--token", ADMIN_TOKEN, "--skills-dir", str(skills_dir)]
        assert cli(["skill", "remove", "leisure", "--service", base, "--token", ADMIN_TOKEN,
                    "--skills-dir", str(skills_dir / "elsewhere")]) == 0  # only from the service
        assert "leisure" not in httpx.get(f"{base}/skills", timeout=10).text
        assert cli(["skill", "add", str(skills_dir / "leisure"), *admin]) == 0
        assert cli(["skill", "list", *admin]) == 0
        assert "leisure" in capsys.readouterr().out


def test_image_has_no_torch_nor_training_code(compose: Compose) -> None:
    result = compose.run("exec", "-T", "nlu", "python", "-c", "import torch", check=False)
    assert result.returncode != 0 and "No module named 'torch'" in result.stderr, result.stderr
    result = compose.run("exec", "-T", "nlu", "python", "-c", "import training", check=False)
    assert result.returncode != 0, "training code is in the image"
    compose.run("exec", "-T", "nlu", "python", "-c", "import elmol_nlu.runtime, onnxruntime")
    result = compose.run("exec", "-T", "nlu", "sh", "-c", "command -v gcc cc", check=False)
    assert not result.stdout.strip(), f"a compiler is in the image: {result.stdout}"


def test_image_serves_with_the_compiled_viterbi(compose: Compose) -> None:
    out = compose.run("exec", "-T", "nlu", "python", "-c", "from elmol_nlu import crf; print(crf.COMPILED)").stdout
    assert out.strip() == "True"


def test_image_carries_the_fast_model_verified_and_parsing(compose: Compose) -> None:
    """What ELMOL_MODEL=fast serves: models/fast in the image, its checksums and int8 gate verified on load."""
    code = ("from elmol_nlu.runtime import Predictor; p = Predictor.load('/app/models/fast', precision='auto'); "
            "print(p.manifest.name, p.precision, p.parse('wake me up at seven tomorrow').intent in p.manifest.intents)")
    out = compose.run("exec", "-T", "nlu", "python", "-c", code).stdout.split()
    assert out == ["massive-en-elmol-fast", "int8", "True"], out


def test_runs_as_non_root_on_a_read_only_filesystem(compose: Compose) -> None:
    uid = compose.run("exec", "-T", "nlu", "id", "-u").stdout.strip()
    assert uid.isdigit() and int(uid) != 0
    result = compose.run("exec", "-T", "nlu", "touch", "/app/written", check=False)
    assert result.returncode != 0


class ScaleCompose(Compose):
    """The ``scale`` profile: ``api`` replicas behind the HAProxy ``lb``, whose port is published on 127.0.0.1."""

    profiles = ("--profile", "scale")

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        # a generous budget: this test is about routing, and a shed 503 on a busy machine would only blur it
        self.env["ELMOL_LATENCY_BUDGET_MS"] = "1000"

    def override(self) -> str:
        # nlu too: `down --rmi all` removes the images of every service of the file, started or not
        return (f"services:\n  nlu:\n    image: elmol-nlu-test:{self.project}\n"
                f"  api:\n    image: elmol-nlu-test:{self.project}\n"
                f"  lb:\n    image: elmol-nlu-lb-test:{self.project}\n"
                f"    ports: !override\n      - \"127.0.0.1:{self.port}:8080\"\n")

    def replicas(self) -> list[str]:
        return self.run("ps", "-q", "api").stdout.split()

    def parses_served(self, container: str, starting: bool = False) -> int:
        """``/parse`` requests the replica answered with 200, from its own /metrics (0 if ``starting`` and
        it does not answer yet)."""
        code = ("import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/metrics', timeout=5)"
                ".read().decode())")
        out = subprocess.run(["docker", "exec", container, "python", "-c", code], capture_output=True, text=True,
                             timeout=60, check=not starting).stdout
        line = 'elmol_requests_total{route="/parse",status="200"} '
        return sum(int(float(s.removeprefix(line))) for s in out.splitlines() if s.startswith(line))


@pytest.fixture(scope="module")
def scaled(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScaleCompose]:
    c = ScaleCompose(tmp_path_factory.mktemp("scale"))
    try:
        with c.logs_on_failure():
            c.run("up", "-d", "--build", "--wait", "--wait-timeout", str(HEALTHY_WITHIN_S), "--scale", "api=2", "lb",
                  timeout=540)
        yield c
    finally:
        c.run("down", "-v", "--rmi", "all", "--remove-orphans", timeout=300, check=False)


def parse_status(client: httpx.Client) -> int:
    return status(client, "wake me up at seven tomorrow")


def statuses_while(client: httpx.Client, command: list[str]) -> list[int]:
    """``/parse`` statuses of requests sent back to back while ``command`` runs (it must succeed)."""
    statuses = while_running(client, ["wake me up at seven tomorrow"], command, after_s=0)
    assert statuses, f"no request was sent while {command} ran"
    return statuses


def test_scale_profile_balances_replicas_and_follows_them_stopping_and_starting(scaled: ScaleCompose) -> None:
    with scaled.logs_on_failure(), httpx.Client(base_url=f"http://127.0.0.1:{scaled.port}", timeout=10) as client:
        check_parse_over_http(scaled.port)  # the same contract through HAProxy
        r = client.post("/parse", json={"text": "play jazz"}, headers={"X-Request-ID": "scale-test-1"})
        assert r.status_code == 200 and r.headers["x-request-id"] == "scale-test-1"
        assert re.fullmatch("[0-9a-f]{32}", client.get("/health").headers["x-request-id"])  # HAProxy makes one
        r = client.get("/health", headers={"X-Request-ID": "not a token"})
        assert re.fullmatch("[0-9a-f]{32}", r.headers["x-request-id"])  # never echoes arbitrary bytes

        replicas = scaled.replicas()
        assert len(replicas) == 2
        before = [scaled.parses_served(c) for c in replicas]
        assert [parse_status(client) for _ in range(100)] == [200] * 100
        served = [scaled.parses_served(c) - b for c, b in zip(replicas, before, strict=True)]
        assert sum(served) == 100 and min(served) >= 20, f"HAProxy did not spread the load: {served}"

        # stop one replica while requests keep coming, then start it again: HAProxy follows both without a
        # reload, and retries on the other replica what the stopping one refuses, so no request is lost
        survivor, stopped = replicas
        survivor_before = scaled.parses_served(survivor)
        during = statuses_while(client, ["docker", "stop", stopped])
        assert set(during) == {200}, f"statuses while a replica stopped: {Counter(during)}"
        assert [parse_status(client) for _ in range(100)] == [200] * 100
        assert scaled.parses_served(survivor) - survivor_before >= 100
        during = statuses_while(client, ["docker", "start", stopped])
        deadline = time.monotonic() + 30
        while scaled.parses_served(stopped, starting=True) == 0:  # its counters restarted with it
            assert time.monotonic() < deadline, "the restarted replica got no request within 30 s"
            during += [parse_status(client) for _ in range(20)]
        assert set(during) == {200}, f"statuses while a replica started: {Counter(during)}"

        # HAProxy's own answers: the service's body limit, and 503 + Retry-After when no replica is left
        big = http.client.HTTPConnection("127.0.0.1", scaled.port, timeout=10)
        big.putrequest("POST", "/parse")  # the headers only: HAProxy answers before any body is sent
        headers = {"Content-Type": "application/json", "Content-Length": "300000", "X-Request-ID": "big-1"}
        for name, value in headers.items():
            big.putheader(name, value)
        big.endheaders()
        r413 = big.getresponse()
        assert r413.status == 413 and "detail" in json.loads(r413.read()) and r413.getheader("x-request-id") == "big-1"
        big.close()
        subprocess.run(["docker", "stop", *replicas], capture_output=True, timeout=60, check=True)
        # on a new connection: one kept alive is closed without an answer instead (HAProxy's way to tell a
        # client that its request was not processed and may be sent again)
        r = httpx.post(f"http://127.0.0.1:{scaled.port}/parse", json={"text": "play jazz"}, timeout=10)
        assert r.status_code == 503 and r.headers["retry-after"] == "1" and "detail" in r.json()
