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

from fastapi import APIRouter, Header, HTTPException
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from elmol_nlu.manifest import ManifestError
from service.schemas import ModelOut
from service.serving import Reloader
from service.settings import Settings

log = logging.getLogger("service")


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
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


def admin_router(settings: Settings, reloader: Callable[[], Reloader]) -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["admin"])

    @router.post("/reload", response_model=ReloadResponse, summary="Load, verify and swap in a model directory",
                 responses={401: {"description": "missing or wrong token"}, 403: {"description": "admin disabled"},
                            409: {"description": "the new model failed verification; the old one keeps serving"}})
    async def reload(request: ReloadRequest | None = None, authorization: str | None = Header(
            None, description="Bearer <ELMOL_ADMIN_TOKEN>")) -> ReloadResponse:
        check_token(settings, authorization)
        model_dir = Path(request.model_dir) if request and request.model_dir else None
        try:
            previous, new = await reloader().reload(model_dir)
        except ManifestError as e:
            raise HTTPException(409, f"model not loaded, still serving the previous one: {e}") from None
        return ReloadResponse(model=new.model, previous=previous.model)

    def skill_dir(name: str) -> Path:
        if settings.skills_dir is None:
            raise HTTPException(409, "no skills directory: start the service with ELMOL_SKILLS_DIR set")
        if not SKILL_NAME.fullmatch(name) or name in (".", ".."):
            raise HTTPException(422, f"skill name {name!r}: use 1 to 64 letters, digits, '_', '.' or '-'")
        return settings.skills_dir / name

    errors = {401: {"description": "missing or wrong token"}, 403: {"description": "admin disabled"}}

    @router.post("/skills/{name}", response_model=SkillChange, summary="Load a skill from the skills directory",
                 responses={**errors, 409: {"description": "the skill failed verification or does not fit the "
                                                           "served encoder; the others keep serving"}})
    async def add_skill(name: Annotated[str, PathParam(description="its folder in ELMOL_SKILLS_DIR")],
                        authorization: str | None = Header(None, description="Bearer <ELMOL_ADMIN_TOKEN>"),
                        ) -> SkillChange:
        check_token(settings, authorization)
        try:
            new = await reloader().add_skill(skill_dir(name))
        except ManifestError as e:
            raise HTTPException(409, f"skill not loaded, the others keep serving: {e}") from None
        return SkillChange(skill=name, skills=list(new.predictor.skills))

    @router.delete("/skills/{name}", response_model=SkillChange, summary="Stop serving a skill",
                   responses={**errors, 404: {"description": "no such skill"},
                              409: {"description": "the served model itself"}})
    async def remove_skill(name: str, authorization: str | None = Header(
            None, description="Bearer <ELMOL_ADMIN_TOKEN>")) -> SkillChange:
        check_token(settings, authorization)
        current = reloader().current
        if name == current.predictor.primary.name:
            raise HTTPException(409, f"{name!r} is the served model itself: POST /admin/reload another model")
        try:
            new = await reloader().remove_skill(name)
        except KeyError as e:
            raise HTTPException(404, str(e.args[0])) from None
        return SkillChange(skill=name, skills=list(new.predictor.skills))

    return router
