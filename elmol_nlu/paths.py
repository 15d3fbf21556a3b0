"""The project's own directories, resolved from this package rather than from the working directory, so that
commands and the service find the shipped model wherever they are started from."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = PROJECT_ROOT / "models"
DEFAULT_MODEL_DIR = MODELS_DIR / "default"  # the shipped model: what the service serves unless told otherwise
