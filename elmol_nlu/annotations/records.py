"""What the readers and the checks share: the examples read, the problems found, and reading a text file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from elmol_nlu.datasets import Example


class AnnotationFileError(ValueError):
    """A path that cannot be read as annotations at all: missing, of unknown format, or not UTF-8 text."""


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None  # 1-based; None for problems of the whole file
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class Annotated:
    example: Example
    file: str
    line: int
    partition: str | None = None  # "train", "dev" or "test" when the file says so


Read = tuple[list[Annotated], list[Problem]]


def _warning(file: str, line: int | None, message: str) -> Problem:
    return Problem(file, line, message, "warning")


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise AnnotationFileError(f"{path} cannot be read: {e.strerror}") from None
    if b"\x00" in data:
        raise AnnotationFileError(f"{path} looks binary (it has NUL bytes): annotations are UTF-8 text files")
    try:
        text = data.decode("utf-8-sig")  # a BOM would otherwise spoil the first line
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise AnnotationFileError(f"{path} is not UTF-8 text (bad byte on line {line}): save it as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")
