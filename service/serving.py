"""The model being served and its hot replacement: load, verify and warm a new model directory off the
event loop, then swap it in with one assignment. Requests hold the ``Serving`` they started with, so
in-flight work finishes on the old model; a model that fails to load leaves the old one serving.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from service.predictor import Parse, Predictor
from service.schemas import ModelOut
from service.settings import Settings

log = logging.getLogger("service")


@dataclass(frozen=True)
class Serving:
    predictor: Predictor
    model: ModelOut
    model_dir: Path

    def parse_batch(self, texts: list[str]) -> list[tuple[Parse, ModelOut]]:
        """Each parse with the model that made it, which a concurrent reload does not change."""
        return [(parse, self.model) for parse in self.predictor.parse_batch(texts)]


def load_serving(model_dir: Path, settings: Settings) -> Serving:
    """Verify (checksums, shapes, int8 gate), load and warm a model directory; raises ManifestError."""
    started = time.perf_counter()
    predictor = Predictor(model_dir, threads=settings.threads, cache_size=settings.token_cache_size,
                          precision=settings.precision, calibrated=settings.calibration,
                          confidences=settings.slot_confidence)
    predictor.parse("warm up the session")  # the first run allocates; keep it off a user's request
    m = predictor.manifest
    log.info("model %s %s (%s, %d cached words) loaded from %s in %.0f ms", m.name, m.version, predictor.precision,
             len(predictor.token_cache), model_dir, 1000 * (time.perf_counter() - started))
    return Serving(predictor, ModelOut(name=m.name, version=m.version, precision=predictor.precision), Path(model_dir))


class Reloader:
    """One reload at a time; ``current`` is what new requests use."""

    def __init__(self, current: Serving, settings: Settings) -> None:
        self.current = current
        self._settings = settings
        self._lock = asyncio.Lock()

    async def reload(self, model_dir: Path | None = None) -> tuple[Serving, Serving]:
        """(previous, new); the model directory defaults to the one being served."""
        async with self._lock:
            target = Path(model_dir) if model_dir else self.current.model_dir
            new = await asyncio.get_running_loop().run_in_executor(None, load_serving, target, self._settings)
            previous, self.current = self.current, new
            log.info("now serving %s %s from %s (was %s %s)", new.model.name, new.model.version, target,
                     previous.model.name, previous.model.version)
            return previous, new
