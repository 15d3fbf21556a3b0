"""Hot reload of the model: ``POST /admin/reload`` (bearer token from ``ELMOL_ADMIN_TOKEN``) or SIGHUP;
skills added from ``ELMOL_SKILLS_DIR`` and removed while serving: ``POST``/``DELETE /admin/skills/{name}``.

Without a token configured the admin route answers 403: nobody can swap the model of a service whose
operator did not ask for it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from elmol_nlu.manifest import ManifestError
from service.input_guard import DETAIL
from service.parsing import Parsing
from service.routes import UNPARSABLE, parsing
from service.schemas import ModelOut
from service.serving import Reloader
from service.settings import Settings

log = logging.getLogger("service")


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    model_dir: str | None = Field(None, description="model directory on the server; default: the one served")


class ReloadResponse(BaseModel):
    model: ModelOut
    previous: ModelOut


class SkillChange(BaseModel):
    skill: str
    skills: list[str] = Field(description="the skills served now")


SKILL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def on_sighup(callback: Callable[[], None]) -> None:
    """SIGHUP reloads, when the loop runs in the main thread (not under a test client's thread)."""
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, callback)
    except (RuntimeError, ValueError, NotImplementedError):
        log.debug("no SIGHUP handler outside the main thread")


def reload_in_background(reloader: Reloader) -> None:
    def report(task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("SIGHUP reload refused, still serving the previous model: %s", task.exception())

    asyncio.ensure_future(reloader.reload()).add_done_callback(report)


def check_token(settings: Settings, authorization: str | None) -> None:
    if settings.admin_token is None:
        raise HTTPException(403, "admin API disabled: start the service with ELMOL_ADMIN_TOKEN set to enable it")
    expected = f"Bearer {settings.admin_token.get_secret_value()}"
    if not authorization or not hmac.compare_digest(authorization.encode(), expected.encode()):
        raise HTTPException(401, "send the admin token as 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})


def skill_dir(settings: Settings, name: str) -> Path:
    if settings.skills_dir is None:
        raise HTTPException(409, "no skills directory: start the service with ELMOL_SKILLS_DIR set")
    if not SKILL_NAME.fullmatch(name) or name in (".", ".."):
        raise HTTPException(422, f"skill name {name!r}: use 1 to 64 letters, digits, '_', '.' or '-'")
    return settings.skills_dir / name


async def reload_model(p: Parsing, request: ReloadRequest | None) -> ReloadResponse:
    model_dir = Path(request.model_dir) if request and request.model_dir else None
    p.current()  # 503 while loading
    try:
        previous, new = await p.reloader.reload(model_dir)
    except ManifestError as e:
        raise HTTPException(409, f"model not loaded, still serving the previous one: {e}") from None
    return ReloadResponse(model=new.model, previous=previous.model)


async def add_skill_named(p: Parsing, name: str) -> SkillChange:
    p.current()  # 503 while loading
    try:
        new = await p.reloader.add_skill(skill_dir(p.settings, name))
    except ManifestError as e:
        raise HTTPException(409, f"skill not loaded, the others keep serving: {e}") from None
    return SkillChange(skill=name, skills=list(new.predictor.skills))


async def remove_skill_named(p: Parsing, name: str) -> SkillChange:
    if name == p.current().predictor.primary.name:
        raise HTTPException(409, f"{name!r} is the served model itself: POST /admin/reload another model")
    try:
        new = await p.reloader.remove_skill(name)
    except KeyError as e:
        raise HTTPException(404, str(e.args[0])) from None
    return SkillChange(skill=name, skills=list(new.predictor.skills))


def admitted(p: Annotated[Parsing, Depends(parsing)], authorization: Annotated[str | None, Header(
        description="Bearer <ELMOL_ADMIN_TOKEN>")] = None) -> Parsing:
    """The app, for a request that carries the admin token (401, or 403 while the admin API is off)."""
    check_token(p.settings, authorization)
    return p


Admin = Annotated[Parsing, Depends(admitted)]
ERRORS = {401: {"description": "missing or wrong token", "content": DETAIL},
          403: {"description": "admin disabled", "content": DETAIL},
          503: {"description": "model not loaded yet", "content": DETAIL}}
router = APIRouter(prefix="/admin", tags=["admin"])


@router.post("/reload", response_model=ReloadResponse, summary="Load, verify and swap in a model directory",
             responses={**ERRORS, **UNPARSABLE, 409: {"description": "the new model failed verification; the old "
                                                                     "one keeps serving", "content": DETAIL}})
async def reload(p: Admin, request: ReloadRequest | None = None) -> ReloadResponse:
    return await reload_model(p, request)


@router.post("/skills/{name}", response_model=SkillChange, summary="Load a skill from the skills directory",
             responses={**ERRORS, 409: {"description": "no skills directory, or the skill failed verification or "
                                        "does not fit the served encoder; the others keep serving", "content": DETAIL}})
async def add_skill(p: Admin, name: Annotated[str, PathParam(description="its folder in ELMOL_SKILLS_DIR")]
                     ) -> SkillChange:
    return await add_skill_named(p, name)


@router.delete("/skills/{name}", response_model=SkillChange, summary="Stop serving a skill",
               responses={**ERRORS, 404: {"description": "no such skill", "content": DETAIL},
                          409: {"description": "the served model itself", "content": DETAIL}})
async def remove_skill(p: Admin, name: str) -> SkillChange:
    return await remove_skill_named(p, name)
