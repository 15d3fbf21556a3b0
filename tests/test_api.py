"""The HTTP contract of the real app over the shipped model, with its lifespan (model loading) run."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import MODEL_DIR
from fastapi.testclient import TestClient

from elmol_nlu.manifest import load_manifest
from elmol_nlu.runtime import Predictor
from service.app import create_app
from service.contract import MAX_DEADLINE_MS, MIN_DEADLINE_MS
from service.schemas import BatchParseResponse, ParseResponse
from service.settings import Settings

GOOD = "wake me up at seven am tomorrow"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    # Server errors come back as responses (not raised) so that tests can assert "never 500".
    with TestClient(create_app(Settings(model_dir=MODEL_DIR)), raise_server_exceptions=False) as c:
        yield c


def expected_model() -> dict:
    """The default precision, auto, serves int8 when its accuracy gate passed."""
    manifest = load_manifest(MODEL_DIR, verify=False)
    precision = "int8" if manifest.precision_available("int8") else "fp32"
    return {"name": manifest.name, "version": manifest.version, "precision": precision}


def check_parse(body: dict, text: str, top_k: int = 5) -> None:
    """The /parse contract, for any model."""
    assert set(body) == {"text", "intent", "intents", "intent_ranking", "fallback", "sequence_confidence", "slots",
                         "tokens", "tags", "skill", "model"}
    assert body["text"] == text
    manifest = load_manifest(MODEL_DIR, verify=False)
    assert body["intent"]["name"] in manifest.intents
    assert 0.0 <= body["intent"]["confidence"] <= 1.0
    assert body["fallback"] is False  # no threshold by default
    assert body["intents"] == [body["intent"]]  # a single-intent model answers with one entry
    ranking = body["intent_ranking"]
    assert len(ranking) == top_k and ranking[0] == body["intent"]
    assert len({r["name"] for r in ranking}) == top_k and all(r["name"] in manifest.intents for r in ranking)
    confidences = [r["confidence"] for r in ranking]
    assert confidences == sorted(confidences, reverse=True) and sum(confidences) <= 1 + 1e-5
    assert 0.0 <= body["sequence_confidence"] <= 1.0
    assert body["model"] == expected_model()
    assert body["tokens"], text
    for token in body["tokens"]:
        assert text[token["start"] : token["end"]] == token["text"]
    assert len(body["tags"]) == len(body["tokens"])
    assert all(tag in manifest.tags for tag in body["tags"])
    for slot in body["slots"]:
        assert text[slot["start"] : slot["end"]] == slot["value"]
        assert slot["value"] and f"B-{slot['name']}" in manifest.tags
        # the decoded sequence is one way to have this slot, so the slot is at least as likely
        assert body["sequence_confidence"] - 1e-6 <= slot["confidence"] <= 1.0
    assert all("tag_probabilities" not in token for token in body["tokens"])  # only with detail=tokens


def assert_same_parse(a: object, b: object, tolerance: float = 1e-5) -> None:
    """Equal answers, floats (confidences) within a tolerance: padding may move float32 round-off."""
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, abs=tolerance)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for key in a:
            assert_same_parse(a[key], b[key], tolerance)
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same_parse(x, y, tolerance)
    else:
        assert a == b


def test_health(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_ready_names_the_model(client: TestClient) -> None:
    r = client.get("/ready")
    assert r.status_code == 200
    manifest = load_manifest(MODEL_DIR, verify=False)
    body = r.json()
    assert body["status"] == "ready"
    assert body["model"] == expected_model()
    assert body["metrics"] == manifest.metrics


def test_docs_and_openapi(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"] and "swagger" in r.text.lower()
    spec = client.get("/openapi.json").json()
    assert {"/health", "/ready", "/parse", "/parse/batch"} <= set(spec["paths"])
    assert "ParseResponse" in spec["components"]["schemas"]


@pytest.mark.parametrize("text", [
    GOOD, "what's the weather in paris at 7:30 p. m.?", "  set an alarm for five o'clock, please!  ",
    "top-up my card with £20 😀", "wake\tme\nup at 9 a.m.", "?!", "😀", "👍🏽🎉", "東京の天気", "x" * 512,
])
def test_parse_contract(client: TestClient, text: str) -> None:
    r = client.post("/parse", json={"text": text})
    assert r.status_code == 200, r.text
    check_parse(r.json(), text)


def test_timing_headers(client: TestClient) -> None:
    r = client.post("/parse", json={"text": GOOD})
    name, _, duration = r.headers["server-timing"].partition(";dur=")
    assert name == "app" and 0 < float(duration) < Settings().latency_budget_ms  # a 200 is never late
    assert float(r.headers["x-process-time-ms"]) == float(duration)
    assert float(r.headers["x-latency-budget-ms"]) == Settings().latency_budget_ms
    assert "x-process-time-ms" in client.get("/health").headers  # on every route, not just /parse


def test_batch_equals_single_parses(client: TestClient) -> None:
    texts = [GOOD, "play some jazz", "?!", "what's the time in new york city right now please", "😀"]
    r = client.post("/parse/batch", json={"texts": texts})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"results", "model"} and len(body["results"]) == len(texts)
    for text, batched in zip(texts, body["results"], strict=True):
        single = client.post("/parse", json={"text": text}).json()
        check_parse(batched, text)
        assert_same_parse(batched, single)


def test_batch_of_64_is_accepted(client: TestClient) -> None:
    r = client.post("/parse/batch", json={"texts": [f"play song number {i}" for i in range(64)]})
    assert r.status_code == 200 and len(r.json()["results"]) == 64


NO_TOKEN_DETAIL = {"tokens": {"__all__": {"tag_probabilities"}}}


def schema_exclusions(detail: str, per_skill: bool) -> dict | None:
    """What the schema's serialization of an answer leaves out: token tag probabilities unless detail=tokens,
    per_skill unless asked for (each nested answer keeps a null per_skill of its own)."""
    if not per_skill:
        return {**NO_TOKEN_DETAIL, "per_skill": True} if detail != "tokens" else {"per_skill": True}
    return {**NO_TOKEN_DETAIL, "per_skill": {"__all__": NO_TOKEN_DETAIL}} if detail != "tokens" else None


@pytest.mark.parametrize("detail", ["slots", "tokens"])
@pytest.mark.parametrize("per_skill", [False, True])
def test_answers_are_exactly_what_the_response_schema_serializes(client: TestClient, detail: str,
                                                                 per_skill: bool) -> None:
    # service.answers writes the JSON without building the pydantic models: validated back into ParseResponse
    # and serialized again, each answer must come out byte for byte (no key missing, extra, renamed or reordered)
    texts = [GOOD, "play some jazz", "?!", "what's the weather like in new york city this weekend", "😀 ok"]
    options = {"detail": detail, "per_skill": per_skill, "top_k": 3}
    exclusions = schema_exclusions(detail, per_skill)
    for text in texts:
        r = client.post("/parse", json={"text": text, **options})
        assert r.status_code == 200, r.text
        assert ParseResponse.model_validate_json(r.content).model_dump_json(exclude=exclusions).encode() == r.content
    r = client.post("/parse/batch", json={"texts": texts, **options})
    assert r.status_code == 200, r.text
    batch = BatchParseResponse.model_validate_json(r.content)
    again = batch.model_dump_json(exclude={"results": {"__all__": exclusions}} if exclusions else None)
    assert again.encode() == r.content


def test_body_and_header_errors_are_reported_together(client: TestClient) -> None:
    r = client.post("/parse", json={"text": GOOD, "top_k": 0}, headers={"X-Deadline-Ms": "soon"})
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["body", "top_k"], ["header", "X-Deadline-Ms"]]


BAD_PARSE: dict[str, tuple[str, str | None]] = {
    # name: (raw body, content type) -> must be a 4xx with a JSON detail
    "empty text": ('{"text": ""}', "application/json"),
    "whitespace text": ('{"text": " \\t\\n "}', "application/json"),
    "too long": (json.dumps({"text": "x" * 513}), "application/json"),
    "too long words": (json.dumps({"text": "abc " * 128 + "a"}), "application/json"),
    "missing field": ("{}", "application/json"),
    "extra field": ('{"text": "hi", "lang": "en"}', "application/json"),
    "number": ('{"text": 5}', "application/json"),
    "null": ('{"text": null}', "application/json"),
    "list": ('{"text": ["play jazz"]}', "application/json"),
    "invalid json": ('{"text": "hi"', "application/json"),
    "body not an object": ('"play jazz"', "application/json"),
    "wrong content type": ('{"text": "hi"}', "text/plain"),
    "no body": ("", None),
    "lone surrogate": ('{"text": "play \\ud800 jazz"}', "application/json"),
}


def assert_actionable_4xx(r: httpx.Response, *hints: str) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json()["detail"]
    assert detail
    text = json.dumps(detail)
    for hint in hints:
        assert hint in text, text


@pytest.mark.parametrize("case", list(BAD_PARSE))
def test_bad_parse_requests(client: TestClient, case: str) -> None:
    body, content_type = BAD_PARSE[case]
    headers = {"content-type": content_type} if content_type else {}
    r = client.post("/parse", content=body.encode("utf-8"), headers=headers)
    assert_actionable_4xx(r)
    if isinstance(r.json()["detail"], list):  # validation errors say where and what
        assert all({"loc", "msg"} <= set(e) for e in r.json()["detail"])
    assert client.post("/parse", json={"text": GOOD}).status_code == 200  # still serving


@pytest.mark.parametrize(("body", "status", "hint"), [
    (b'{"text": "play \xff\xfe jazz"}', 422, "not UTF-8"),
    (b"", 422, "empty body"),
    (b'{"text": "play \\ud800 jazz"}', 422, "unpaired surrogate"),  # read again by Python's json
    (json.dumps({"text": "play some jazz"}).encode("utf-16"), 200, "play some jazz"),  # as FastAPI read it
])
def test_bodies_pydantic_core_refuses_as_json_get_what_fastapi_gave(client: TestClient, body: bytes, status: int,
                                                                     hint: str) -> None:
    r = client.post("/parse", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status and hint in r.text, r.text


def test_bad_text_messages_say_what_to_send(client: TestClient) -> None:
    assert_actionable_4xx(client.post("/parse", json={"text": "   "}), "text is empty", "send 1 to 512")
    assert_actionable_4xx(client.post("/parse", json={"text": "y" * 513}), "513 characters", "at most 512")
    assert_actionable_4xx(client.post("/parse", json={}), "Field required", "text")
    assert_actionable_4xx(client.post("/parse", json={"text": "a", "x": 1}), "Extra inputs are not permitted")


@pytest.mark.parametrize(("texts", "hints"), [
    ([], ["0 texts", "send 1 to 64"]),
    (["play jazz"] * 65, ["65 texts", "send 1 to 64"]),
    (["play jazz", "   ", "stop"], ["text is empty", '["body", "texts", 1]']),
    (["play jazz", 3], ["valid string"]),
    (["play jazz", "z" * 513], ["513 characters"]),
])
def test_bad_batch_requests(client: TestClient, texts: list, hints: list[str]) -> None:
    assert_actionable_4xx(client.post("/parse/batch", json={"texts": texts}), *hints)
    assert client.post("/parse/batch", json={"texts": [GOOD]}).status_code == 200


def test_batch_rejects_wrong_shapes(client: TestClient) -> None:
    assert_actionable_4xx(client.post("/parse/batch", json={"texts": "play jazz"}))
    assert_actionable_4xx(client.post("/parse/batch", json={"text": ["play jazz"]}))
    assert_actionable_4xx(client.post("/parse/batch", json={"texts": ["a"], "extra": 1}))


BELOW, ABOVE = f"greater than or equal to {MIN_DEADLINE_MS:g}", f"less than or equal to {MAX_DEADLINE_MS:g}"


@pytest.mark.parametrize(("value", "hint"), [
    ("soon", "valid number"), ("0", BELOW), ("-5", BELOW), ("0.001", BELOW), ("5e-324", BELOW),
    ("nan", "than or equal to"), ("inf", ABOVE), ("1e9", ABOVE)])
def test_bad_deadline_header(client: TestClient, value: str, hint: str) -> None:
    """Out of bounds is a 422 that says so, not a 503 for a deadline no server could meet."""
    r = client.post("/parse", json={"text": GOOD}, headers={"X-Deadline-Ms": value})
    assert_actionable_4xx(r, hint, "X-Deadline-Ms")


@pytest.fixture(scope="module")
def tight() -> Iterator[TestClient]:
    """An app whose /parse budget (1 us) no request can meet; /parse/batch keeps its own (1 s)."""
    with TestClient(create_app(Settings(model_dir=MODEL_DIR, latency_budget_ms=0.001))) as c:
        yield c


def test_a_deadline_that_cannot_be_met_is_shed_with_503(client: TestClient, tight: TestClient) -> None:
    r = tight.post("/parse", json={"text": GOOD})
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert "deadline" in r.json()["detail"] and "retry" in r.json()["detail"]
    ok = client.post("/parse", json={"text": GOOD}, headers={"X-Deadline-Ms": f"{MAX_DEADLINE_MS:g}"})
    assert ok.status_code == 200, ok.text  # a deadline past the budget counts as the budget


def metric(body: str, name: str, labels: str = "") -> float:
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    return float(next(line for line in body.splitlines() if line.startswith(prefix)).split()[-1])


def test_metrics_count_requests_latency_and_shedding(tight: TestClient) -> None:
    before = tight.get("/metrics").text
    tight.post("/parse/batch", json={"texts": [GOOD]})  # in its own budget: answered
    tight.post("/parse", json={"text": " "})
    tight.post("/parse", json={"text": GOOD})  # shed
    r = tight.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    body = r.text

    def grew(name: str, labels: str) -> float:
        was = metric(before, name, labels) if f"{name}{{{labels}}}" in before else 0.0
        return metric(body, name, labels) - was

    for route, status in (("/parse/batch", "200"), ("/parse", "422"), ("/parse", "503")):
        assert grew("elmol_requests_total", f'route="{route}",status="{status}"') == 1, (route, status)
    assert grew("elmol_shed_total", 'reason="deadline"') == 1
    # sub-millisecond buckets, cumulative, and every /parse counted in the histogram
    buckets = [metric(body, "elmol_request_duration_seconds_bucket", f'le="{le}",route="/parse"')
               for le in ("0.00025", "0.0005", "0.001", "+Inf")]
    assert buckets == sorted(buckets) and grew("elmol_request_duration_seconds_count", 'route="/parse"') == 2
    assert metric(body, "elmol_batch_size_count") >= 1 and metric(body, "elmol_queue_depth") == 0
    assert 'elmol_errors_total{route="/parse"}' not in body  # no 5xx but shedding: no error series at all


@pytest.mark.parametrize("route", ["/parse", "/parse/batch"])
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "application/vnd.api+json", "multipart/form-data; boundary=x"])
def test_a_body_that_is_not_json_gets_415(client: TestClient, route: str, content_type: str | None) -> None:
    body = json.dumps({"text": GOOD} if route == "/parse" else {"texts": [GOOD]})
    headers = {"content-type": content_type} if content_type else {}
    r = client.post(route, content=body, headers=headers)
    assert r.status_code == 415, r.text
    assert_actionable_4xx(r, "Content-Type", "send a JSON body with Content-Type: application/json")


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON",
                                          "application/json;charset=UTF-8"])
def test_json_with_a_charset_is_accepted(client: TestClient, content_type: str) -> None:
    r = client.post("/parse/batch", content=json.dumps({"texts": [GOOD]}), headers={"content-type": content_type})
    assert r.status_code == 200, r.text


def test_a_body_over_the_limit_gets_413_from_its_content_length(client: TestClient) -> None:
    limit = Settings().max_body_bytes
    body = json.dumps({"texts": ["play some jazz in the kitchen"] * 10_000})
    assert len(body) > limit
    r = client.post("/parse/batch", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert_actionable_4xx(r, f"{len(body)} bytes", f"send at most {limit} bytes")
    assert client.post("/parse", json={"text": GOOD}).status_code in (200, 503)  # still serving (503: shed when busy)


def test_a_chunked_body_over_the_limit_gets_413(client: TestClient) -> None:
    limit = Settings().max_body_bytes

    def chunks() -> Iterator[bytes]:  # no Content-Length: httpx sends it chunked
        yield b'{"text": "'
        yield b"x" * (limit + 1)
        yield b'"}'

    r = client.post("/parse", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert_actionable_4xx(r, f"more than {limit} bytes", f"send at most {limit} bytes")


def test_a_chunked_body_is_read_only_up_to_the_limit(client: TestClient) -> None:
    """At the ASGI level, as uvicorn feeds a chunked body: reading stops at the chunk that passes the limit."""
    chunk, received, sent = 4096, [], []

    async def receive() -> dict:
        received.append(chunk)  # an endless body, cut off at 25 times the limit if nothing stops reading
        return {"type": "http.request", "body": b" " * chunk, "more_body": len(received) < 1600}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/parse", "raw_path": b"/parse", "root_path": "", "query_string": b"",
             "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}
    asyncio.run(client.app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert sum(received) <= Settings().max_body_bytes + chunk
    assert "send at most" in json.loads(b"".join(m.get("body", b"") for m in sent[1:]))["detail"]


def test_the_body_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELMOL_MAX_BODY_BYTES", "100")
    c = TestClient(create_app(Settings(model_dir=MODEL_DIR)))  # no lifespan: refused before the model is needed
    r = c.post("/parse", json={"text": "y" * 100})
    assert r.status_code == 413 and "send at most 100 bytes" in r.json()["detail"]
    assert c.post("/parse", json={"text": GOOD}).status_code == 503  # under the limit: on to the (unloaded) model


@pytest.mark.parametrize(("route", "body"), [
    ("/parse", b'{"text": NaN}'), ("/parse", b'{"text": 1e999}'), ("/parse/batch", b'{"texts": [Infinity]}'),
    ("/parse", b'{"text": "hi", "volume": -Infinity}'), ("/parse", b'{"text": "hi", "x": "\\ud800"}'),
    ("/parse", b'{"\\ud800": 1}'), ("/parse", b'"\\ud800"'), ("/parse", b"NaN"),
])
def test_what_python_reads_but_json_cannot_carry_gets_422(client: TestClient, route: str, body: bytes) -> None:
    r = client.post(route, content=body, headers={"content-type": "application/json"})
    assert_actionable_4xx(r)


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    assert client.post("/parse", json={"text": GOOD}, headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] \
        == "abc-123"
    made = client.get("/health", headers={"X-Request-ID": "not a token\t!"}).headers["x-request-id"]
    assert made != "not a token\t!" and len(made) == 32  # a client's junk is never echoed into our headers


def test_json_logs_carry_the_request_id_and_no_text_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    import logging.config

    from service.logs import logging_config

    logging.config.dictConfig(logging_config("info", "json"))
    try:
        settings = Settings(model_dir=MODEL_DIR, access_log=True)
        with TestClient(create_app(settings)) as c:
            c.post("/parse", json={"text": "set an alarm for the secret meeting"}, headers={"X-Request-ID": "r-42"})
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False, "root": {"handlers": []}})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    access = [entry for entry in lines if entry["logger"] == "service.access"]
    assert access and access[0]["request_id"] == "r-42" and access[0]["status"] == 200 and access[0]["ms"] > 0
    assert not any("secret meeting" in json.dumps(entry) for entry in lines)


def test_an_unexpected_error_is_a_logged_500_counted_by_type(monkeypatch: pytest.MonkeyPatch) -> None:
    with TestClient(create_app(Settings(model_dir=MODEL_DIR)), raise_server_exceptions=False) as c:
        def broken(self: Predictor, texts: list[str], selections: object = None) -> list:
            raise KeyError("a bug")

        monkeypatch.setattr(Predictor, "parse_batch", broken)
        r = c.post("/parse/batch", json={"texts": [GOOD]})
        assert r.status_code == 500 and r.json() == {"detail": "internal error: the request was logged"}
        body = c.get("/metrics").text
        assert metric(body, "elmol_exceptions_total", 'type="KeyError"') == 1
        assert metric(body, "elmol_errors_total", 'route="/parse/batch"') == 1
        assert c.post("/parse/batch", json={"texts": [GOOD]}).status_code == 500  # still answering
        assert c.get("/health").status_code == 200
        # /parse answers before Starlette's error middleware (service.app.ServiceAPI): the same 500, counted
        r = c.post("/parse", json={"text": GOOD})
        assert r.status_code == 500 and r.json() == {"detail": "internal error: the request was logged"}
        body = c.get("/metrics").text
        assert metric(body, "elmol_exceptions_total", 'type="KeyError"') == 3
        assert metric(body, "elmol_errors_total", 'route="/parse"') == 1
        assert c.post("/parse", json={"text": GOOD}).status_code == 500 and c.get("/health").status_code == 200


def test_docs_can_be_turned_off() -> None:
    c = TestClient(create_app(Settings(model_dir=MODEL_DIR, docs=False)))
    assert [c.get(path).status_code for path in ("/docs", "/redoc", "/openapi.json")] == [404, 404, 404]


def test_wrong_method_and_path(client: TestClient) -> None:
    assert client.get("/parse").status_code == 405
    assert client.post("/nope", json={"text": GOOD}).status_code == 404


def test_ready_is_503_until_the_model_is_loaded() -> None:
    # Not entered as a context manager: the lifespan that loads the model never runs.
    c = TestClient(create_app(Settings(model_dir=MODEL_DIR)))
    assert c.get("/health").status_code == 200
    r = c.get("/ready")
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert "model not loaded" in r.json()["detail"]
    r = c.post("/parse", json={"text": GOOD})
    assert r.status_code == 503 and "retry" in r.json()["detail"]


def test_slot_offsets_with_a_model_that_always_tags_slots(tmp_path: Path) -> None:
    """CRF parameters forced to tag every token ``B-x I-x ...``: slot offsets must follow the original text."""
    model_dir = tmp_path / "model"
    shutil.copytree(MODEL_DIR, model_dir)
    raw = json.loads((model_dir / "manifest.json").read_text())
    tags = raw["tags"]
    begin = next(t for t in tags if t.startswith("B-"))
    inside = "I-" + begin[2:]
    raw["crf"]["start"][tags.index(begin)] = 1e3
    for prev in (begin, inside):  # the manifest is checksummed only for its files, so this loads
        raw["crf"]["transitions"][tags.index(prev)][tags.index(inside)] = 1e3
    (model_dir / "manifest.json").write_text(json.dumps(raw))
    text = "  wake me\tup at  7:30 p. m., please?  "
    with TestClient(create_app(Settings(model_dir=model_dir))) as c:
        body = c.post("/parse", json={"text": text}).json()
    check_slots = [(s["name"], s["value"], s["start"], s["end"]) for s in body["slots"]]
    assert check_slots == [(begin[2:], text.strip(), 2, len(text) - 2)]
    assert body["tags"] == [begin] + [inside] * (len(body["tokens"]) - 1)


ADMIN = "s3cret-token"


@pytest.fixture
def admin_client(tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    """A server on a copy of the shipped model, with the admin API enabled."""
    model_dir = tmp_path / "served"
    shutil.copytree(MODEL_DIR, model_dir)
    with TestClient(create_app(Settings(model_dir=model_dir, admin_token=ADMIN)),
                    raise_server_exceptions=False) as c:
        yield c, tmp_path


def renamed_copy(tmp_path: Path, name: str) -> Path:
    directory = tmp_path / name
    shutil.copytree(MODEL_DIR, directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    (directory / "manifest.json").write_text(json.dumps({**manifest, "name": name, "version": f"{name}-1"}))
    return directory


def test_reload_swaps_the_model_and_says_which_answers(admin_client: tuple[TestClient, Path]) -> None:
    c, tmp_path = admin_client
    before = c.get("/ready").json()["model"]
    new_dir = renamed_copy(tmp_path, "next-model")
    r = c.post("/admin/reload", json={"model_dir": str(new_dir)}, headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200, r.text
    assert r.json()["previous"] == before and r.json()["model"]["version"] == "next-model-1"
    assert c.get("/ready").json()["model"]["name"] == "next-model"
    assert c.post("/parse", json={"text": GOOD}).json()["model"]["version"] == "next-model-1"


def test_a_bad_new_model_is_refused_and_the_old_keeps_serving(admin_client: tuple[TestClient, Path]) -> None:
    c, tmp_path = admin_client
    before = c.get("/ready").json()["model"]
    broken = renamed_copy(tmp_path, "broken")
    (broken / "heads.int8.onnx").write_bytes(b"truncated")
    r = c.post("/admin/reload", json={"model_dir": str(broken)}, headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 409 and "still serving the previous one" in r.json()["detail"]
    assert "sha256" in r.json()["detail"]
    assert c.get("/ready").json()["model"] == before
    assert c.post("/parse", json={"text": GOOD}).status_code == 200
    missing = c.post("/admin/reload", json={"model_dir": str(tmp_path / "nowhere")},
                     headers={"Authorization": f"Bearer {ADMIN}"})
    assert missing.status_code == 409 and "no manifest.json" in missing.json()["detail"]


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", ADMIN, f"Basic {ADMIN}"])
def test_reload_needs_the_token(admin_client: tuple[TestClient, Path], authorization: str | None) -> None:
    c, _ = admin_client
    headers = {"Authorization": authorization} if authorization else {}
    r = c.post("/admin/reload", headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer <token>" in r.json()["detail"]


def test_admin_is_disabled_without_a_token(client: TestClient) -> None:
    r = client.post("/admin/reload", headers={"Authorization": "Bearer anything"})
    assert r.status_code == 403 and "ELMOL_ADMIN_TOKEN" in r.json()["detail"]
