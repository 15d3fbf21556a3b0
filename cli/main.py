"""``elmol-nlu``: bring a new skill from a few hundred annotated utterances to a served model.

    elmol-nlu skill train DATA --name NAME     read, check, fine-tune from the served model, export
    elmol-nlu skill eval DIR DATA              the metrics of a model directory on any annotated file
    elmol-nlu skill add DIR | remove NAME | list   against a skills directory and/or a running service

Problems in the data are reported with file, line and what to change, and stop the command (exit 2)
before any training; so do a missing base model or service. Training needs the ``train`` and ``export``
extras (torch); eval, add, remove and list need only onnxruntime or nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys

from cli import skill, skill_admin
from cli.errors import UsageError
from elmol_nlu.annotations import AnnotationFileError
from elmol_nlu.manifest import ManifestError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="elmol-nlu", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    commands = p.add_subparsers(dest="group", required=True)
    skills = commands.add_parser("skill", help="train, evaluate and serve skills").add_subparsers(dest="command",
                                                                                               required=True)
    skill.add_commands(skills)
    skill_admin.add_commands(skills)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s",
                        datefmt="%H:%M:%S")
    try:
        args.run(args)
    except (UsageError, AnnotationFileError, ManifestError) as e:
        print(f"elmol-nlu: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
