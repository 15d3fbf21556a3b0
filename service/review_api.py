"""The review queue over HTTP, behind the admin token: list the answers the service was least sure of, record a
person's corrections, and export the accepted ones as training data for ``elmol-nlu skill train``."""

from __future__ import annotations

import itertools
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from elmol_nlu.annotations.writers import Labelled, massive_lines, rasa_yaml
from elmol_nlu.datasets import CharSlot
from service.admin import ERRORS, Admin
from service.input_guard import DETAIL
from service.review_store import ReviewStore
from service.routes import UNPARSABLE

OFF = {409: {"description": "the review queue is off: start the service with ELMOL_REVIEW=true", "content": DETAIL}}
EXPORTS = {"massive": ("application/x-ndjson", "review.jsonl"), "rasa-yaml": ("application/yaml", "review.yml")}


class SlotIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(min_length=1, max_length=128, pattern=r"^[^\s\[\]():]+$")
    start: int = Field(ge=0, description="character offset in the item's text")
    end: int = Field(gt=0, description="character offset after the slot's last character")


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    status: Literal["accepted", "discarded"]
    intent: str | None = Field(None, min_length=1, max_length=128, pattern=r"^\S+$",
                               description="the right intent (required to accept)")
    slots: list[SlotIn] = Field(default_factory=list, description="the right slots, as character spans")

    @model_validator(mode="after")
    def accepted_has_intent(self) -> ReviewIn:
        if self.status == "accepted" and self.intent is None:
            raise ValueError("an accepted item needs its intent: send the right one (or the answer's)")
        return self


class ReviewItem(BaseModel):
    id: int
    created: float = Field(description="Unix time of the answer")
    text: str
    answer: dict = Field(description="the answer POST /parse gave")
    model: str = Field(description="version of the model that answered")
    uncertainty: float = Field(description="1 - the lowest of the intent's and the slots' confidences")
    status: Literal["pending", "accepted", "discarded"]
    intent: str | None = Field(description="the reviewed intent")
    slots: list[SlotIn] | None = Field(description="the reviewed slots")
    reviewed: float | None


class ReviewList(BaseModel):
    items: list[ReviewItem]
    total: int = Field(description="items in the store, every status")


def store_of(request: Request) -> ReviewStore:
    store = getattr(request.app.state, "review_store", None)
    if store is None:
        raise HTTPException(409, "the review queue is off: start the service with ELMOL_REVIEW=true")
    return store


router = APIRouter(prefix="/admin/review", tags=["review"])


@router.get("", response_model=ReviewList, summary="Answers the service was least sure of, least certain first",
            responses={**ERRORS, **OFF})
def list_items(request: Request, _: Admin,
               status: Literal["pending", "accepted", "discarded", "all"] = "pending",
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> ReviewList:
    store = store_of(request)
    return ReviewList(items=store.items(None if status == "all" else status, limit), total=store.count())


@router.post("/items/{item_id}", response_model=ReviewItem, summary="Accept (with corrections) or discard an item",
             responses={**ERRORS, **OFF, **UNPARSABLE, 404: {"description": "no such item", "content": DETAIL}})
def review_item(request: Request, _: Admin, item_id: Annotated[int, PathParam(ge=1)], body: ReviewIn) -> ReviewItem:
    store = store_of(request)
    item = store.get(item_id)
    if item is None:
        raise HTTPException(404, f"no review item {item_id}: list them with GET /admin/review")
    text = item["text"]
    spans = sorted(body.slots, key=lambda s: s.start)
    for a, b in itertools.pairwise(spans):
        if b.start < a.end:
            raise HTTPException(422, f"slots {a.name} and {b.name} overlap: send disjoint spans")
    for s in spans:
        if s.end > len(text) or s.start >= s.end or not text[s.start:s.end].strip():
            raise HTTPException(422, f"slot {s.name} [{s.start}, {s.end}) is not a span of the text's "
                                     f"{len(text)} characters: send start < end <= {len(text)} over words")
    store.review(item_id, body.status, body.intent, [s.model_dump() for s in spans])
    return ReviewItem(**store.get(item_id))


@router.get("/export", summary="The accepted items as training data for elmol-nlu skill train",
            responses={**ERRORS, **OFF, 200: {"content": {"application/x-ndjson": {}, "application/yaml": {}},
                                              "description": "a MASSIVE JSON-lines or a Rasa YAML file"}})
def export(request: Request, _: Admin, format: Literal["massive", "rasa-yaml"] = "massive") -> Response:
    items = store_of(request).items("accepted", limit=1_000_000)
    labelled = [Labelled(i["text"], i["intent"], tuple(CharSlot(s["name"], s["start"], s["end"])
                                                        for s in i["slots"] or ())) for i in items]
    media_type, filename = EXPORTS[format]
    body = massive_lines(labelled) if format == "massive" else rasa_yaml(labelled)
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
