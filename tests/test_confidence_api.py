"""Confidences in the HTTP answers: intent ranking and top_k, token tag probabilities, out-of-scope fallback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import MODEL_DIR
from fastapi.testclient import TestClient

from elmol_nlu.manifest import load_manifest
from service.answers import MIN_TAG_PROBABILITY
from service.app import create_app
from service.settings import Settings

TEXT = "wake me up at seven am tomorrow"
TAGS = load_manifest(MODEL_DIR, verify=False).tags


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_dir=MODEL_DIR)), raise_server_exceptions=False) as c:
        yield c


def test_top_k_ranks_that_many_intents(client: TestClient) -> None:
    n_intents = len(load_manifest(MODEL_DIR, verify=False).intents)
    for k in (1, 3, n_intents):
        body = client.post("/parse", json={"text": TEXT, "top_k": k}).json()
        assert len(body["intent_ranking"]) == k and body["intent_ranking"][0] == body["intent"]
    everything = client.post("/parse", json={"text": TEXT, "top_k": n_intents}).json()["intent_ranking"]
    assert sum(r["confidence"] for r in everything) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(("top_k", "hint"), [(0, "greater than or equal to 1"), (10_000, "intents: send 1 to"),
                                             ("five", "integer")])
def test_bad_top_k_is_a_clear_422(client: TestClient, top_k: object, hint: str) -> None:
    r = client.post("/parse", json={"text": TEXT, "top_k": top_k})
    assert r.status_code == 422 and hint in r.text, r.text
    r = client.post("/parse/batch", json={"texts": [TEXT], "top_k": top_k})
    assert r.status_code == 422 and hint in r.text, r.text
    assert client.post("/parse", json={"text": TEXT}).status_code == 200  # and the server keeps serving


def test_bad_detail_is_a_clear_422(client: TestClient) -> None:
    r = client.post("/parse", json={"text": TEXT, "detail": "everything"})
    assert r.status_code == 422 and "'slots' or 'tokens'" in r.text, r.text


def test_token_detail_gives_each_token_its_tag_distribution(client: TestClient) -> None:
    plain = client.post("/parse", json={"text": TEXT}).json()
    body = client.post("/parse", json={"text": TEXT, "detail": "tokens"}).json()
    assert body["tags"] == plain["tags"] and body["slots"] == plain["slots"]
    for token, tag in zip(body["tokens"], body["tags"], strict=True):
        probs = token["tag_probabilities"]
        left_out = len(TAGS) - len(probs)  # each of them below MIN_TAG_PROBABILITY
        assert 1.0 - MIN_TAG_PROBABILITY * left_out - 1e-6 <= sum(probs.values()) <= 1.0 + 1e-6
        assert list(probs.values()) == sorted(probs.values(), reverse=True)
        assert tag in probs  # the decoded tag is never negligible ...
    for slot in body["slots"]:  # ... and a slot is no likelier than any of its tokens' tags
        covered = [t for t in body["tokens"] if slot["start"] <= t["start"] < slot["end"]]
        tags = [body["tags"][body["tokens"].index(t)] for t in covered]
        assert slot["confidence"] <= min(t["tag_probabilities"][g] for t, g in zip(covered, tags, strict=True)) + 1e-6


def test_batch_takes_the_same_options(client: TestClient) -> None:
    r = client.post("/parse/batch", json={"texts": [TEXT, "play jazz"], "top_k": 2, "detail": "tokens"})
    assert r.status_code == 200, r.text
    for result in r.json()["results"]:
        assert len(result["intent_ranking"]) == 2
        assert all(t["tag_probabilities"] for t in result["tokens"])


def test_threshold_falls_back_with_the_ranking_kept() -> None:
    settings = Settings(model_dir=MODEL_DIR, intent_threshold=0.999999)
    with TestClient(create_app(settings)) as c:
        unsure = c.post("/parse", json={"text": "hmm what about the thing"}).json()
        assert unsure["fallback"] is True and unsure["intent"] is None
        assert len(unsure["intent_ranking"]) == 5 and unsure["intent_ranking"][0]["confidence"] < 0.999999
        assert unsure["tags"] and unsure["tokens"]  # slots are still answered
        batch = c.post("/parse/batch", json={"texts": ["hmm what about the thing"]}).json()["results"][0]
        assert batch["fallback"] is True and batch["intent"] is None


def test_calibration_changes_confidences_not_answers() -> None:
    """The temperatures rescale probabilities; the intent, tags and slots stay those of the raw model."""
    manifest = load_manifest(MODEL_DIR, verify=False)
    assert manifest.calibration, "the shipped model has no calibration: run python -m export.calibrate"
    texts = [TEXT, "what's the weather like in paris", "turn the lights off in the kitchen"]
    answers = {}
    for calibrated in (True, False):
        with TestClient(create_app(Settings(model_dir=MODEL_DIR, calibration=calibrated))) as c:
            answers[calibrated] = [c.post("/parse", json={"text": t}).json() for t in texts]
    for cal, raw in zip(answers[True], answers[False], strict=True):
        assert cal["intent"]["name"] == raw["intent"]["name"] and cal["tags"] == raw["tags"]
        assert [s["name"] for s in cal["slots"]] == [s["name"] for s in raw["slots"]]
    assert any(c["intent"]["confidence"] != r["intent"]["confidence"]
               for c, r in zip(answers[True], answers[False], strict=True))


def test_slot_confidence_can_be_turned_off() -> None:
    with TestClient(create_app(Settings(model_dir=MODEL_DIR, slot_confidence=False))) as c:
        body = c.post("/parse", json={"text": TEXT}).json()
    assert body["sequence_confidence"] is None and body["slots"]
    assert all(s["confidence"] is None for s in body["slots"])


def test_openapi_documents_the_confidence_fields(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    response, slot = schemas["ParseResponse"]["properties"], schemas["SlotOut"]["properties"]
    for field in ("intents", "intent_ranking", "fallback", "sequence_confidence"):
        assert response[field].get("description"), field
    assert "CRF" in slot["confidence"]["description"]
    assert {"top_k", "detail"} <= set(schemas["ParseRequest"]["properties"])
