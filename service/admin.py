"""Hot reload of the model: ``POST /admin/reload`` (bearer token from ``ELMOL_ADMIN_TOKEN``) or SIGHUP.

Without a token configured the admin route answers 403: nobody can swap the model of a service whose
operator did not ask for it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Header, HTTPException
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

    return router
