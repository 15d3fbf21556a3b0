"""Structured logs: one JSON object per line, with the request id of the request being served.

Utterance text stays out of the logs unless ``ELMOL_LOG_TEXTS`` turns it on: what users say is theirs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from contextvars import ContextVar

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
_VALID_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
# LogRecord attributes that are not extra fields of our own
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName",
                                                                          "color_message"}  # uvicorn's ANSI copy


def request_id_from(header: bytes | None) -> str:
    """The client's X-Request-ID when it is a sane token, else a fresh one (never echo arbitrary bytes)."""
    if header:
        value = header.decode("latin-1")
        if _VALID_ID.fullmatch(value):
            return value
    return os.urandom(16).hex()  # a random 128-bit id, as uuid4().hex but a fifth of its cost


class JsonFormatter(logging.Formatter):
    converter = time.gmtime  # timestamps in UTC, as the trailing Z says

    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
                 "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage(),
                 "request_id": REQUEST_ID.get()}
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def logging_config(level: str, fmt: str) -> dict:
    """``logging.config.dictConfig`` for the server: JSON lines (``fmt="json"``) or plain text on stderr.

    Given to uvicorn as ``log_config``, so that every worker process applies it, and uvicorn's own loggers
    go through the same handler.
    """
    formatter = {"()": JsonFormatter} if fmt == "json" else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "default"}},
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {name: {"handlers": [], "propagate": True, "level": level.upper()}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }
