"""The HTTP contract: request and response bodies, validated by pydantic."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

TOP_K_DESCRIPTION = ("intents in intent_ranking; default the server's ELMOL_INTENT_RANKING (5), at most the model's "
                     "intents")
DETAIL_DESCRIPTION = "'tokens' adds each token's tag probabilities (tag_probabilities) to the answer"


SKILLS_DESCRIPTION = ("skills that may answer (GET /skills lists them); default all: a skill trained with "
                      "out-of-skill utterances that claims the text answers first, the most confident of them")
PER_SKILL_DESCRIPTION = "true adds every selected skill's own answer (per_skill)"


def whole_number(value: object) -> object:
    """JSON Schema counts 3.0 as an integer: take it as 3 (strings and booleans stay refused, the model is strict)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class ParseOptions(BaseModel):
    # strict: a boolean is true or false, a number is a number, as the schema says (not 0, 1 or "3")
    model_config = ConfigDict(extra="forbid", strict=True)
    top_k: Annotated[int | None, BeforeValidator(whole_number)] = Field(None, ge=1, description=TOP_K_DESCRIPTION)
    detail: Literal["slots", "tokens"] = Field("slots", description=DETAIL_DESCRIPTION)
    skills: list[str] | None = Field(None, min_length=1, max_length=64, description=SKILLS_DESCRIPTION)
    per_skill: bool = Field(False, description=PER_SKILL_DESCRIPTION)


class ParseRequest(ParseOptions):
    text: str = Field(description="one utterance, 1 to 512 characters after trimming",
                      examples=["wake me up at seven tomorrow"])


class BatchParseRequest(ParseOptions):
    texts: list[str] = Field(description="utterances, each as for /parse",
                             examples=[["play some jazz", "what time is it"]])


class IntentOut(BaseModel):
    name: str
    confidence: float = Field(ge=0, le=1, description="calibrated probability of this intent (temperature fitted "
                              "on the dev split)")


class SlotOut(BaseModel):
    name: str
    value: str = Field(description="text[start:end] of the request")
    start: int = Field(description="character offset in the request text")
    end: int
    confidence: float | None = Field(None, ge=0, le=1, description="probability under the CRF (calibrated) that "
                                     "exactly this span carries this label: it starts, continues and ends here")


class TokenOut(BaseModel):
    text: str
    start: int
    end: int
    tag_probabilities: dict[str, float] | None = Field(
        None, description="with detail=tokens: marginal probability of each BIO tag for this token under the CRF "
                          "(tags below 0.001 left out), most probable first")


class ModelOut(BaseModel):
    name: str
    version: str
    precision: str = Field("fp32", description="graph served: fp32, or int8 when it passed its accuracy gate")


class ParseResponse(BaseModel):
    text: str
    intent: IntentOut | None = Field(description="the most probable intent; null when its confidence is below the "
                                     "server's ELMOL_INTENT_THRESHOLD (then fallback is true)")
    intents: list[IntentOut] = Field(
        description="every intent the utterance asks for, most probable first (the first is intent): one entry for "
                    "a single-intent skill; a multi-intent skill (trained on labels such as 'a#b') lists each intent "
                    "whose calibrated probability reaches the threshold fitted on its dev split. Its confidences are "
                    "then each intent's own probability, and they need not sum to 1. Empty when fallback is true",
        examples=[[{"name": "alarm_set", "confidence": 0.97}, {"name": "iot_hue_lighton", "confidence": 0.91}]])
    intent_ranking: list[IntentOut] = Field(description="the top_k intents, most probable first; the first is the "
                                            "intent (also when it fell back)")
    fallback: bool = Field(False, description="true when no intent was confident enough: treat as out of scope, "
                           "ask again or hand over")
    sequence_confidence: float | None = Field(None, ge=0, le=1, description="probability under the CRF of the "
                                              "whole decoded tag sequence (every slot and every O right)")
    slots: list[SlotOut]
    tokens: list[TokenOut]
    tags: list[str] = Field(description="BIO slot tag of each token")
    skill: str = Field("", description="the skill that answered")
    model: ModelOut = Field(description="the model directory of that skill")
    per_skill: list[ParseResponse] | None = Field(None, description="with per_skill: each selected skill's answer")


class BatchParseResponse(BaseModel):
    results: list[ParseResponse]
    model: ModelOut


class SkillOut(BaseModel):
    name: str
    model: ModelOut
    primary: bool = Field(description="the served model itself (not removable)")
    intents: list[str]
    slots: list[str]
    out_of_skill: str | None = Field(description="the intent for utterances that are not the skill's, if trained "
                                     "with them")
    metrics: dict = Field(description="evaluation figures from the skill's manifest")
    encoder_id: str = Field(description="the encoder it runs on (shared by every skill served)")


class SkillsResponse(BaseModel):
    skills: list[SkillOut]


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    model: ModelOut | None = None
    metrics: dict | None = None
