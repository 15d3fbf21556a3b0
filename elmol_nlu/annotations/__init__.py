"""A new skill's annotated utterances: read from the formats people write them in, checked before training.

MASSIVE JSON lines, SNIPS-style BIO folders, Rasa YAML and Rasa Markdown become ``Example``s that remember
the file and line they came from. Content never raises: every problem becomes a ``Problem`` (file, line,
message), so that a command-line tool can list them all at once. Torch-free; pyyaml is imported only for YAML.

``records`` holds what all share (``Annotated``, ``Problem``, ``AnnotationFileError``); ``readers`` detects
the format and reads MASSIVE and BIO; ``rasa`` reads Rasa marks, YAML and Markdown; ``checks`` is ``validate``.
"""

from elmol_nlu.annotations.checks import validate
from elmol_nlu.annotations.rasa import parse_rasa
from elmol_nlu.annotations.readers import FORMATS, PARTITIONS, check_file, detect_format, has_errors, read_annotations
from elmol_nlu.annotations.records import Annotated, AnnotationFileError, Problem, Read

__all__ = [
    "FORMATS",
    "PARTITIONS",
    "Annotated",
    "AnnotationFileError",
    "Problem",
    "Read",
    "check_file",
    "detect_format",
    "has_errors",
    "parse_rasa",
    "read_annotations",
    "validate",
]
