"""The service's routes: each validates its input (pydantic, FastAPI dependencies) and calls a plain function.

POST /parse is declared here once. ``service.parse_endpoint`` answers it before FastAPI's routing, with the
same models and the same handler; this declaration gives /docs its contract and other methods their 405."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.contract import DeadlineHeader
from service.drain import DRAINING
from service.input_guard import DETAIL, INPUT_ERRORS
from service.parsing import Parsing, parse_many, parse_one, parsing_of
from service.schemas import (
    BatchParseRequest,
    BatchParseResponse,
    Health,
    ParseRequest,
    ParseResponse,
    Ready,
    SkillOut,
    SkillsResponse,
)
from service.serving import Serving

PARSE_PATH = "/parse"
OVERLOADED = {"description": "over capacity: the answer could not be due within the deadline; retry after "
                             "Retry-After seconds", "content": DETAIL}
# FastAPI answers a body it cannot decode (not UTF-8, say) with its own 400 on the routes it parses
UNPARSABLE = {400: {"description": "the body could not be read as JSON", "content": DETAIL}}


def parsing(request: Request) -> Parsing:
    return parsing_of(request.app.state)


def current(p: Annotated[Parsing, Depends(parsing)]) -> Serving:
    return p.current()


App = Annotated[Parsing, Depends(parsing)]
router = APIRouter()


@router.get("/health", response_model=Health, summary="Liveness: the process answers")
def health() -> Health:
    return Health(status="ok")


@router.get("/ready", response_model=Ready, summary="Readiness: the model is loaded and the replica is not stopping",
            responses={503: {"description": "model not loaded, or the replica is stopping", "content": DETAIL}})
def ready(p: App) -> Ready:
    if DRAINING.is_set():
        raise HTTPException(status_code=503, detail="draining: this replica is stopping; send requests to another")
    served = p.current()
    return Ready(status="ready", model=served.model, metrics=served.predictor.manifest.metrics)


@router.post(PARSE_PATH, response_model=ParseResponse, summary="Intent and slots of one utterance",
             responses={**INPUT_ERRORS, 503: OVERLOADED})
async def parse(body: ParseRequest, request: Request, p: App, deadline_ms: DeadlineHeader = None) -> Response:
    return await parse_one(p, body, deadline_ms, request.state.request_started)


@router.post("/parse/batch", response_model=BatchParseResponse, summary="Intent and slots of several utterances",
             responses={**INPUT_ERRORS, **UNPARSABLE, 503: {**OVERLOADED, "description": "over capacity, as for "
                        "/parse: the batch is admitted, queued and shed as one request"}})
async def parse_batch(body: BatchParseRequest, request: Request, p: App) -> Response:
    return await parse_many(p, body, request.state.request_started)


@router.get("/skills", response_model=SkillsResponse, summary="The skills served, with versions and metrics",
            responses={503: {"description": "model not loaded", "content": DETAIL}})
def skills(served: Annotated[Serving, Depends(current)]) -> SkillsResponse:
    models = served.models
    return SkillsResponse(skills=[
        SkillOut(name=name, model=models[name], primary=skill is served.predictor.primary,
                 intents=skill.manifest.intents, slots=sorted({t[2:] for t in skill.manifest.tags if t != "O"}),
                 out_of_skill=skill.manifest.raw.get("out_of_skill"), metrics=skill.manifest.metrics,
                 encoder_id=skill.manifest.encoder_id)
        for name, skill in served.predictor.skills.items()])


@router.get("/metrics", summary="Prometheus metrics of this worker process", include_in_schema=False)
def prometheus(p: App) -> Response:
    return Response(generate_latest(p.metrics.registry), media_type=CONTENT_TYPE_LATEST)
