"""The model being served, its skills, and their hot replacement: load, verify and warm a new model directory
(or skill) off the event loop, then swap it in with one assignment. Requests hold the ``Serving`` they
started with, so in-flight work finishes on the old set; one that fails to load leaves the old one serving.

Skills are model directories trained on the served model's encoder (``elmol-nlu skill train``): the
encoder runs once per utterance, then every skill's heads. They load from ``ELMOL_SKILLS_DIR`` at start,
and are added or removed while serving (``/admin/skills``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from elmol_nlu import crf
from elmol_nlu.manifest import MANIFEST, ManifestError
from elmol_nlu.runtime import Parse, Predictor, Selection, SkillHeads
from service.schemas import ModelOut
from service.settings import Settings

log = logging.getLogger("service")


def model_out(skill: SkillHeads, precision: str) -> ModelOut:
    return ModelOut(name=skill.manifest.name, version=skill.manifest.version, precision=precision)


@dataclass(frozen=True)
class Serving:
    predictor: Predictor
    model: ModelOut  # the served model directory's (the primary skill's)
    model_dir: Path
    skill_dirs: dict[str, Path] = field(default_factory=dict)  # the added skills', by name

    @property
    def max_intents(self) -> int:
        return max(len(skill.manifest.intents) for skill in self.predictor.skills.values())

    @cached_property  # per request otherwise; a frozen dataclass still caches in its __dict__
    def models(self) -> dict[str, ModelOut]:
        return {name: model_out(skill, self.predictor.precision) for name, skill in self.predictor.skills.items()}

    def parse_batch(self, texts: list[str], selections: list[Selection | None] | None = None
                    ) -> list[tuple[Parse, Serving]]:
        """Each parse with the serving that made it (its models), which a concurrent reload does not change."""
        return [(parse, self) for parse in self.predictor.parse_batch(texts, selections)]

    def with_skill(self, skill_dir: Path) -> Serving:
        """This serving plus the skill in ``skill_dir`` (replacing one of its name); raises ManifestError."""
        skill = self.predictor.load_skill(skill_dir)
        predictor = self.predictor.with_skills([skill])
        predictor.parse_batch(["warm up the skill"], [Selection((skill.name,))])
        return replace(self, predictor=predictor, skill_dirs={**self.skill_dirs, skill.name: Path(skill_dir)})

    def without_skill(self, name: str) -> Serving:
        """Raises KeyError for the primary or an unknown name."""
        dirs = {k: v for k, v in self.skill_dirs.items() if k != name}
        return replace(self, predictor=self.predictor.without_skill(name), skill_dirs=dirs)


def freeze_heap() -> None:
    """Collect, then exempt what is alive (the model, its vocabularies, the token cache: hundreds of thousands
    of objects) from later collections, whose full passes would otherwise scan it all during requests. The
    previous freeze is undone first, so a replaced model can still be collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def skill_dirs_in(folder: Path | None) -> list[Path]:
    """The model directories directly inside ``folder`` (none when it is unset or missing)."""
    if folder is None or not folder.is_dir():
        return []
    return sorted(d for d in folder.iterdir() if (d / MANIFEST).is_file())


def load_serving(model_dir: Path, settings: Settings, skill_dirs: list[Path] | None = None) -> Serving:
    """Verify (checksums, shapes, int8 gate), load and warm a model directory and its skills (default: those
    in ``settings.skills_dir``); raises ManifestError for the model. A skill that fails is logged and left out:
    one bad skill must not keep the others from serving."""
    started = time.perf_counter()
    predictor = Predictor.load(model_dir, threads=settings.threads, cache_size=settings.token_cache_size,
                          precision=settings.precision, calibrated=settings.calibration,
                          confidences=settings.slot_confidence, spelling=settings.spelling)
    predictor.parse("warm up the session")  # the first run allocates; keep it off a user's request
    m = predictor.manifest
    log.info("model %s %s (%s, %d cached words) loaded from %s in %.0f ms", m.name, m.version, predictor.precision,
             len(predictor.token_cache), model_dir, 1000 * (time.perf_counter() - started))
    if not crf.COMPILED:
        log.warning("CRF in numpy: elmol_nlu._crf was not built (no C compiler at install), ~0.08 ms more a parse")
    serving = Serving(predictor, model_out(predictor.primary, predictor.precision), Path(model_dir))
    for skill_dir in skill_dirs_in(settings.skills_dir) if skill_dirs is None else skill_dirs:
        try:
            serving = serving.with_skill(skill_dir)
            log.info("skill loaded from %s", skill_dir)
        except ManifestError as e:
            log.error("skill in %s not loaded: %s", skill_dir, e)
    return serving


class Reloader:
    """One reload at a time; ``current`` is what new requests use."""

    def __init__(self, current: Serving, settings: Settings) -> None:
        self.current = current
        self._settings = settings
        self._lock = asyncio.Lock()
        self._settle()  # the model loaded at start-up, as after each change below

    def _settle(self) -> None:
        if self._settings.freeze_heap:
            freeze_heap()

    async def reload(self, model_dir: Path | None = None) -> tuple[Serving, Serving]:
        """(previous, new); the model directory defaults to the one being served."""
        async with self._lock:
            target = Path(model_dir) if model_dir else self.current.model_dir
            skills = list(self.current.skill_dirs.values())  # kept when they fit the new encoder
            new = await asyncio.get_running_loop().run_in_executor(None, load_serving, target, self._settings, skills)
            previous, self.current = self.current, new
            self._settle()
            log.info("now serving %s %s from %s (was %s %s)", new.model.name, new.model.version, target,
                     previous.model.name, previous.model.version)
            return previous, new

    async def add_skill(self, skill_dir: Path) -> Serving:
        """Load and warm a skill beside the current ones, then swap; raises ManifestError."""
        async with self._lock:
            new = await asyncio.get_running_loop().run_in_executor(None, self.current.with_skill, skill_dir)
            self.current = new
            self._settle()
            log.info("skills now %s", ", ".join(new.predictor.skills))
            return new

    async def remove_skill(self, name: str) -> Serving:
        """Raises KeyError for the served model itself or an unknown skill."""
        async with self._lock:
            self.current = self.current.without_skill(name)
            self._settle()
            log.info("skill %s removed; skills now %s", name, ", ".join(self.current.predictor.skills))
            return self.current
