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

SCHEMA_VERSION = 2  # 2: a token graph (chars -> vectors) beside the model graph (vectors -> outputs)
MANIFEST = "manifest.json"
REQUIRED_KEYS = ("schema_version", "name", "version", "files", "graph", "token_graph", "text", "intents", "tags",
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
    graph: str  # ONNX: token vectors (B, T, D), lengths (B,) -> intent_logits (B, I), slot_emissions (B, T, K)
    token_graph: str  # ONNX: chars (N, C) -> token vectors (N, D), which depend on the word alone
    max_chars: int
    intents: list[str]
    tags: list[str]
    crf_start: np.ndarray
    crf_transitions: np.ndarray
    crf_end: np.ndarray
    raw: dict = field(repr=False)

    @property
    def graph_path(self) -> Path:
        return self.directory / self.graph

    def graph_path_for(self, precision: str, verify_gate: bool = True) -> Path:
        """The model graph of a precision: fp32, or a quantised variant that passed its accuracy gate."""
        if precision == "fp32":
            return self.graph_path
        variant = self.raw.get("variants", {}).get(precision)
        if variant is None or variant.get("graph") not in self.files:
            raise ManifestError(f"{self.directory} has no {precision} graph: re-export it with `python -m export`")
        if verify_gate and not variant.get("passed"):
            raise ManifestError(f"the {precision} graph in {self.directory} failed its accuracy gate "
                                f"(drop {variant.get('drop')}, allowed {variant.get('max_drop')}): serve fp32")
        return self.directory / variant["graph"]

    def precision_available(self, precision: str) -> bool:
        try:
            self.graph_path_for(precision)
        except ManifestError:
            return False
        return True

    @property
    def token_graph_path(self) -> Path:
        return self.directory / self.token_graph

    @property
    def warm_words(self) -> list[str]:
        """Words whose token vectors the service computes at start-up: the training words."""
        return list(self.raw.get("warm_words", []))

    @property
    def metrics(self) -> dict:
        return self.raw.get("metrics", {})

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
            graph=raw["graph"], token_graph=raw["token_graph"], max_chars=int(raw["text"]["max_chars"]),
            intents=list(raw["intents"]), tags=list(raw["tags"]), crf_start=np.asarray(crf["start"], dtype=np.float32),
            crf_transitions=np.asarray(crf["transitions"], dtype=np.float32),
            crf_end=np.asarray(crf["end"], dtype=np.float32), raw=raw,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ManifestError(f"{path} is malformed ({type(e).__name__}: {e}): re-export the model") from None
    for graph in (manifest.graph, manifest.token_graph):
        if graph not in manifest.files:
            raise ManifestError(f"{path}: graph {graph!r} is not among its checksummed files")
    n = len(manifest.tags)
    if manifest.crf_transitions.shape != (n, n) or manifest.crf_start.shape != (n,) or manifest.crf_end.shape != (n,):
        raise ManifestError(f"{path}: CRF parameters do not match the {n} tags")
    return manifest
