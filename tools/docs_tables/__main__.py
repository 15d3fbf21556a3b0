"""`make docs-tables`: rewrite the generated tables of README.md and docs/*.md from reports/ (see __init__)."""

from __future__ import annotations

import argparse
import sys

from tools.docs_tables import REPO, stale, write


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a committed table is stale")
    args = p.parse_args(argv)
    if args.check:
        found = stale()
        for path, names in found.items():
            print(f"{path.relative_to(REPO)}: stale tables {', '.join(names)}: run `make docs-tables`")
        return 1 if found else 0
    for path in write():
        print(f"rewrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
