"""`elmol-nlu skill train` as a user runs it: a subprocess (experiments stand below the CLI and never import it)."""

from __future__ import annotations

import subprocess
import sys


def skill_train(*args: str) -> int:
    """Run ``elmol-nlu skill train ARGS``; its exit status."""
    return subprocess.run([sys.executable, "-m", "cli", "skill", "train", *args], check=False).returncode
