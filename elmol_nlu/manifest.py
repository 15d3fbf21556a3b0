"""The model-directory contract: ``manifest.json`` beside the ONNX files, written by export, read by the service.

A model directory is self-describing: vocabularies, labels, CRF transitions, configuration, library
versions, sha256 of every file and evaluation metrics. Loading checks all of it and fails with one
clear message rather than serving a half-valid model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from elmol_nlu.lexical import LexicalHead, LexicalIntents
from elmol_nlu.spelling import SpellingCorrector

# 2: a token graph (chars -> vectors) beside the model graph (vectors -> outputs);
# 3: the model graph split into the encoder (shared by every skill trained on it) and the heads
SCHEMA_VERSION = 3
MANIFEST = "manifest.json"
ROLES = ("tokens", "encoder", "heads")  # the graphs a model directory holds, in the order they run
# graphs a precision's variant may add: "joined", the encoder and heads in one graph (export.join)
OPTIONAL_ROLES = ("joined",)
REQUIRED_KEYS = ("schema_version", "name", "version", "files", "graphs", "encoder_id", "text", "intents", "tags",
                 "crf")


class ManifestError(RuntimeError):
    """The model directory is missing, corrupt or inconsistent; the message says which and how."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Manifest:
    directory: Path
    name: str
    version: str
    files: dict[str, dict]
    # ONNX by role: tokens: chars (N, C) -> vectors (N, D), which depend on the word alone;
    # encoder: tokens (B, T, D), lengths (B,) -> layers (L, B, T, E);
    # heads: layers, lengths -> intent_logits (B, I), slot_emissions (B, T, K)
    graphs: dict[str, str]
    encoder_id: str  # names the token and encoder graphs: skills with the same id can share one encoder
    max_chars: int
    intents: list[str]
    tags: list[str]
    crf_start: np.ndarray
    crf_transitions: np.ndarray
    crf_end: np.ndarray
    raw: dict = field(repr=False)

    @property
    def skill(self) -> str:
        """The name this model answers under when several skills are served together."""
        return str(self.raw.get("skill") or self.name)

    def graph_path(self, role: str, precision: str = "fp32", verify_gate: bool = True) -> Path:
        """A graph (one of ``ROLES``) of a precision: fp32, or a quantised variant that passed its accuracy gate.
        The token graph is fp32 only: it runs once per new word."""
        if precision == "fp32" or role == "tokens":
            return self.directory / self.graphs[role]
        variant = self.raw.get("variants", {}).get(precision)
        graph = (variant or {}).get("graphs", {}).get(role)
        if graph not in self.files:
            raise ManifestError(f"{self.directory} has no {precision} graphs: re-export it with `python -m export`")
        if verify_gate and not variant.get("passed"):
            raise ManifestError(f"the {precision} graph in {self.directory} failed its accuracy gate "
                                f"(drop {variant.get('drop')}, allowed {variant.get('max_drop')}): serve fp32")
        return self.directory / graph

    def optional_graph_path(self, role: str, precision: str, verify_gate: bool = True) -> Path | None:
        """A graph of ``OPTIONAL_ROLES`` in a precision's variant, or None when the directory has none."""
        variant = self.raw.get("variants", {}).get(precision) or {}
        return self.graph_path(role, precision, verify_gate) if role in variant.get("graphs", {}) else None

    def precision_available(self, precision: str) -> bool:
        try:
            for role in ROLES:
                self.graph_path(role, precision)
        except ManifestError:
            return False
        return True

    @property
    def warm_words(self) -> list[str]:
        """Words whose token vectors the service computes at start-up: the training words."""
        return list(self.raw.get("warm_words", []))

    @property
    def metrics(self) -> dict:
        return self.raw.get("metrics", {})

    def spelling(self) -> SpellingCorrector | None:
        """The spelling corrector of unknown words (``elmol_nlu.spelling``), when the directory has its vocabulary."""
        path = self._listed_file("spelling")
        return None if path is None else SpellingCorrector.load(path)

    def lexical(self) -> LexicalHead | None:
        """A skill's lexical intent model and its weight (``elmol_nlu.lexical``), when the directory has one."""
        path = self._listed_file("lexical")
        if path is None:
            return None
        model = LexicalIntents.load(path)
        if model.weights.shape[1] != len(self.intents):
            raise ManifestError(f"{self.directory}: the lexical model has {model.weights.shape[1]} intents, the "
                                f"manifest {len(self.intents)}: re-export")
        return LexicalHead(model, float(self.raw["lexical"]["weight"]))

    def _listed_file(self, key: str) -> Path | None:
        """The file of the manifest's ``key`` entry (``{"file": ...}``), which must be among its checksummed files."""
        entry = self.raw.get(key)
        if not entry:
            return None
        if entry["file"] not in self.files:
            raise ManifestError(f"{self.directory}: {key} file {entry['file']} is not among the manifest's files")
        return self.directory / entry["file"]

    @property
    def intent_threshold(self) -> float | None:
        """A multi-intent model's sigmoid threshold (``elmol_nlu.intents``); None for one softmax over intents."""
        nlu = (self.raw.get("config") or {}).get("nlu") or {}
        return float(nlu.get("intent_threshold", 0.5)) if nlu.get("multi_intent") else None

    @property
    def calibration(self) -> dict:
        """Temperatures fitted on the dev split (``intent_temperature``, ``crf_temperature``); {} if none."""
        return self.raw.get("calibration", {})

    def temperature(self, which: str) -> float:
        """``intent`` or ``crf`` temperature; 1.0 (the raw model) when the model was not calibrated."""
        value = float(self.calibration.get(f"{which}_temperature", 1.0))
        if not 0.01 <= value <= 100:
            raise ManifestError(f"{self.directory}: {which} temperature {value} is not in [0.01, 100]: re-calibrate")
        return value


def write_manifest(directory: Path, content: dict) -> dict:
    """Add schema version and checksums of the listed files, then write ``manifest.json``."""
    files = {name: {"sha256": sha256_of(directory / name), "bytes": (directory / name).stat().st_size}
             for name in content["files"]}
    manifest = {"schema_version": SCHEMA_VERSION, **content, "files": files}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def load_manifest(directory: Path, verify: bool = True) -> Manifest:
    """Read and check a model directory: schema, files present, checksums, label and CRF shapes."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise ManifestError(
            f"no {MANIFEST} in {directory}: point --model-dir at a directory written by `python -m export`")
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path} is not valid JSON ({e}): re-export the model") from None
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise ManifestError(f"{path} lacks {', '.join(missing)}: re-export the model")
    if raw["schema_version"] != SCHEMA_VERSION:
        raise ManifestError(f"{path} has schema version {raw['schema_version']}, this code reads {SCHEMA_VERSION}")
    if verify:
        for name, info in raw["files"].items():
            file = Path(directory) / name
            if not file.is_file():
                raise ManifestError(f"{file} is listed in the manifest but missing")
            if sha256_of(file) != info["sha256"]:
                raise ManifestError(f"{file} does not match its sha256 in the manifest: corrupt or replaced")
    try:
        crf = raw["crf"]
        manifest = Manifest(
            directory=Path(directory), name=raw["name"], version=raw["version"], files=raw["files"],
            graphs={role: str(raw["graphs"][role]) for role in ROLES}, encoder_id=str(raw["encoder_id"]),
            max_chars=int(raw["text"]["max_chars"]),
            intents=list(raw["intents"]), tags=list(raw["tags"]), crf_start=np.asarray(crf["start"], dtype=np.float32),
            crf_transitions=np.asarray(crf["transitions"], dtype=np.float32),
            crf_end=np.asarray(crf["end"], dtype=np.float32), raw=raw,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ManifestError(f"{path} is malformed ({type(e).__name__}: {e}): re-export the model") from None
    for role, graph in manifest.graphs.items():
        if graph not in manifest.files:
            raise ManifestError(f"{path}: {role} graph {graph!r} is not among its checksummed files")
    n = len(manifest.tags)
    if manifest.crf_transitions.shape != (n, n) or manifest.crf_start.shape != (n,) or manifest.crf_end.shape != (n,):
        raise ManifestError(f"{path}: CRF parameters do not match the {n} tags")
    return manifest
