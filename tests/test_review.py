"""The review queue: what it keeps, its bounds, restarts, the admin routes, the export, and escaped text."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MODEL_DIR
from fastapi.testclient import TestClient

from elmol_nlu.annotations import read_annotations
from service.app import create_app
from service.review_store import Bounds, ReviewStore, uncertainty
from service.settings import Settings

TOKEN = "review-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TEXTS = ["wake me up at seven am tomorrow", "play some jazz in the kitchen", "what is the weather in paris",
         "<script>alert(1)</script> set an alarm", "remind me to call <b>mum</b> at noon"]


def settings(db: Path, **overrides: object) -> Settings:
    return Settings(**{"model_dir": MODEL_DIR, "review": True, "review_db": db, "review_threshold": 1.0,
                       "admin_token": TOKEN, **overrides})


def wait_for(store_count: callable, n: int) -> None:
    deadline = time.monotonic() + 10
    while store_count() < n and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings(tmp_path / "review.sqlite3"))) as c:
        yield c


def parse_all(client: TestClient) -> None:
    for text in TEXTS:
        assert client.post("/parse", json={"text": text}).status_code == 200
    wait_for(client.app.state.review_store.count, len(TEXTS))


def answer(intent: float, *slots: float) -> dict:
    return {"text": "x", "intent_ranking": [{"name": "a", "confidence": intent}],
            "slots": [{"confidence": c} for c in slots]}


def row(created: float, text: str, doubt: float = 0.5) -> tuple[float, str, str, str, float]:
    return created, text, json.dumps({"text": text}), "v1", doubt


def test_uncertainty_is_the_lowest_confidence() -> None:
    assert uncertainty(answer(0.9)) == pytest.approx(0.1)
    assert uncertainty(answer(0.9, 0.95, 0.3)) == pytest.approx(0.7)


def test_confident_answers_are_not_kept(tmp_path: Path) -> None:
    with TestClient(create_app(settings(tmp_path / "r.db", review_threshold=0.0))) as c:
        c.post("/parse", json={"text": TEXTS[0]})
        time.sleep(0.2)
        assert c.app.state.review_store.count() == 0


def test_nothing_is_stored_when_review_is_off(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(model_dir=MODEL_DIR, review_db=tmp_path / "r.db", admin_token=TOKEN))) as c:
        assert c.post("/parse", json={"text": TEXTS[0]}).status_code == 200
        assert c.get("/admin/review", headers=AUTH).status_code == 409
    assert not (tmp_path / "r.db").exists()


def test_the_queue_lists_the_least_certain_first(client: TestClient) -> None:
    parse_all(client)
    body = client.get("/admin/review", headers=AUTH).json()
    assert body["total"] == len(TEXTS) and {i["text"] for i in body["items"]} == set(TEXTS)
    ranks = [i["uncertainty"] for i in body["items"]]
    assert ranks == sorted(ranks, reverse=True)
    item = body["items"][0]
    assert item["status"] == "pending" and item["answer"]["text"] == item["text"] and item["model"]


@pytest.mark.parametrize("path", ["/admin/review", "/admin/review/export", "/admin/review/export?format=rasa-yaml"])
def test_the_review_routes_need_the_token(client: TestClient, tmp_path: Path, path: str) -> None:
    assert client.get(path).status_code == 401  # a token is configured and none was sent
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/admin/review/items/1", json={"status": "discarded"}).status_code == 401
    no_admin = Settings(model_dir=MODEL_DIR, review=True, review_db=tmp_path / "other.db")
    with TestClient(create_app(no_admin)) as c:  # no token configured: the admin API is off
        assert c.get(path, headers=AUTH).status_code == 403


def test_corrections_and_both_exports_train_data(client: TestClient, tmp_path: Path) -> None:
    parse_all(client)
    items = {i["text"]: i for i in client.get("/admin/review", headers=AUTH).json()["items"]}
    first, second = items[TEXTS[0]], items[TEXTS[1]]
    fixed = {"status": "accepted", "intent": "alarm_set", "slots": [{"name": "time", "start": 14, "end": 22},
                                                                     {"name": "date", "start": 23, "end": 31}]}
    done = client.post(f"/admin/review/items/{first['id']}", json=fixed, headers=AUTH).json()
    assert done["status"] == "accepted" and done["intent"] == "alarm_set" and done["reviewed"]
    discarded = client.post(f"/admin/review/items/{second['id']}", json={"status": "discarded"}, headers=AUTH)
    assert discarded.status_code == 200
    pending = client.get("/admin/review", headers=AUTH).json()["items"]
    assert len(pending) == len(TEXTS) - 2

    massive = client.get("/admin/review/export?format=massive", headers=AUTH)
    assert massive.status_code == 200 and "attachment" in massive.headers["content-disposition"]
    rasa = client.get("/admin/review/export?format=rasa-yaml", headers=AUTH)
    for name, response in (("r.jsonl", massive), ("r.yml", rasa)):
        (tmp_path / name).write_bytes(response.content)
        items, problems = read_annotations(tmp_path / name)
        assert not [p for p in problems if p.severity == "error"], problems
        (example,) = [a.example for a in items]
        assert example.text == TEXTS[0] and example.intent == "alarm_set"
        assert [(s.name, TEXTS[0][s.start:s.end]) for s in example.slots] == [("time", "seven am"),
                                                                                ("date", "tomorrow")]


@pytest.mark.parametrize("body, message", [
    ({"status": "accepted"}, "needs its intent"),
    ({"status": "accepted", "intent": "x", "slots": [{"name": "a", "start": 5, "end": 99}]}, "not a span"),
    ({"status": "accepted", "intent": "x", "slots": [{"name": "a", "start": 0, "end": 6},
                                                     {"name": "b", "start": 3, "end": 8}]}, "overlap"),
    ({"status": "maybe"}, "accepted"),
])
def test_bad_corrections_get_a_422_that_says_why(client: TestClient, body: dict, message: str) -> None:
    parse_all(client)
    item = client.get("/admin/review", headers=AUTH).json()["items"][0]
    response = client.post(f"/admin/review/items/{item['id']}", json=body, headers=AUTH)
    assert response.status_code == 422 and message in response.text
    assert client.post("/admin/review/items/999999", json={"status": "discarded"}, headers=AUTH).status_code == 404


def test_the_store_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "review.sqlite3"
    with TestClient(create_app(settings(db))) as c:
        parse_all(c)
    with TestClient(create_app(settings(db))) as c:
        assert c.get("/admin/review", headers=AUTH).json()["total"] == len(TEXTS)


def test_the_store_never_grows_past_its_bounds(tmp_path: Path) -> None:
    store = ReviewStore(tmp_path / "r.db", Bounds(max_items=50, max_age_s=3600))
    now = time.time()
    store.add([row(now - 7200, "too old")])
    assert store.count() == 0  # past the age bound as soon as it is written
    for batch in range(10):
        store.add([row(now, f"text {batch} {i}") for i in range(20)])
        assert store.count() <= 50
    assert store.count() == 50
    kept = store.items(None, limit=100)
    store.review(kept[0]["id"], "accepted", "a", [])
    store.add([row(now, f"more {i}") for i in range(60)])
    assert store.count() == 50 and store.get(kept[0]["id"])["status"] == "accepted"  # pending ones go first
    assert (tmp_path / "r.db").stat().st_size < 1_000_000
    store.close()


def test_the_console_pages_are_served_and_can_be_turned_off(client: TestClient, tmp_path: Path) -> None:
    for path in ("/console", "/console/review"):
        page = client.get(path)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "http" not in page.text.replace("http-equiv", "")  # nothing from another host
    assert client.get("/console/static/console.js").status_code == 200
    with TestClient(create_app(Settings(model_dir=MODEL_DIR, console=False))) as c:
        assert c.get("/console").status_code == 404


def test_the_docs_pages_load_nothing_from_another_host(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        page = client.get(path).text
        assert "cdn" not in page and "https://" not in page and "fonts.googleapis" not in page
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs-assets/redoc.standalone.js").status_code == 200
