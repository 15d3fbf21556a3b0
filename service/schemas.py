"""The HTTP contract: request and response bodies, validated by pydantic."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ParseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(description="one utterance, 1 to 512 characters after trimming",
                      examples=["wake me up at seven tomorrow"])


class BatchParseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str] = Field(description="utterances, each as for /parse",
                             examples=[["play some jazz", "what time is it"]])


class IntentOut(BaseModel):
    name: str
    confidence: float = Field(ge=0, le=1)


class SlotOut(BaseModel):
    name: str
    value: str = Field(description="text[start:end] of the request")
    start: int = Field(description="character offset in the request text")
    end: int


class TokenOut(BaseModel):
    text: str
    start: int
    end: int


class ModelOut(BaseModel):
    name: str
    version: str
    precision: str = Field("fp32", description="graph served: fp32, or int8 when it passed its accuracy gate")


class ParseResponse(BaseModel):
    text: str
    intent: IntentOut
    slots: list[SlotOut]
    tokens: list[TokenOut]
    tags: list[str] = Field(description="BIO slot tag of each token")
    model: ModelOut


class BatchParseResponse(BaseModel):
    results: list[ParseResponse]
    model: ModelOut


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    model: ModelOut | None = None
    metrics: dict | None = None
