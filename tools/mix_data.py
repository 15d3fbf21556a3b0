"""Build ``data/mix/``: the cleaned multi-intent sets MixATIS_clean and MixSNIPS_clean (Qin et al., AGIF 2020 and
GL-GIN 2021) in the SNIPS folder layout, ``<set>/<split>/{seq.in,seq.out,label}``.

    python -m tools.mix_data --src /work/.mirror/LooperXX+AGIF/repo --src /work/.mirror/yizhen20133868+GL-GIN/repo
    python -m tools.mix_data --src DIR          # DIR/MixATIS_clean/..., DIR/MixSNIPS_clean/...

A source is a directory holding ``MixATIS_clean/`` and ``MixSNIPS_clean/``, or a bare git directory whose tree
(``--rev``, HEAD by default) holds them under ``data/``. Each split is read from the first source that has it as
``<split>.txt`` (AGIF's format: a "word TAG" line per token, then a line with the intents joined by '#', a blank
line between utterances); failing that, as GL-GIN's ``<split>/{seq.in,seq.out,label}``.

Words, tags and labels are written as the source has them. An utterance whose tag count differs from its word
count cannot be written to seq.in/seq.out and is dropped with a warning; other oddities are only logged.

A split with ``seq.in`` and ``label`` but no ``seq.out`` (GL-GIN's MixSNIPS_clean/train: the tag file is over the
size the snapshot store keeps) has its tags rebuilt from the single-intent SNIPS train set (``--snips``): every
MixSNIPS utterance is SNIPS utterances, in the order of its intents, joined by ", ", " and ", " and then " or
" and also " (tagged O). An utterance must have exactly one such reading, or one chosen by ``PREFERRED``;
otherwise the build fails.
"""

from __future__ import annotations

import argparse
import logging
import re
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("tools.mix_data")

SETS = {"mixatis": "MixATIS_clean", "mixsnips": "MixSNIPS_clean"}
SPLITS = ("train", "dev", "test")
CONNECTORS = ((",",), ("and",), ("and", "then"), ("and", "also"))
TAG = re.compile(r"O|[BI]-\S+")
# SNIPS train holds "play some dance music" twice, tagged "dance" B-playlist and B-genre. Its one MixSNIPS_clean
# train use whose tags are known (the utterance alone, train line 589, from a truncated copy of train.txt) has
# B-genre, so every use takes B-genre; the original may tag some of the other uses B-playlist.
PREFERRED = {("play", "some", "dance", "music"): ("O", "O", "B-genre", "O")}


@dataclass(frozen=True)
class Utterance:
    words: tuple[str, ...]
    tags: tuple[str, ...]
    label: str


class Source:
    """A directory, or a bare git directory read at ``rev`` under ``data/``."""

    def __init__(self, path: Path, rev: str):
        self.path = path
        self.git = (path / "HEAD").is_file() and (path / "objects").is_dir()
        self.rev = self._git("rev-parse", rev).strip() if self.git else None

    def _git(self, *args: str) -> str:
        return subprocess.run(["git", f"--git-dir={self.path}", *args], check=True, capture_output=True,
                              text=True, encoding="utf-8").stdout

    def read(self, rel: str) -> str | None:
        if not self.git:
            file = self.path / rel
            return file.read_text(encoding="utf-8") if file.is_file() else None
        try:
            return self._git("show", f"{self.rev}:data/{rel}")
        except subprocess.CalledProcessError:
            return None  # absent from the tree, or listed but left out of the snapshot

    def __str__(self) -> str:
        return f"{self.path}@{self.rev}" if self.git else str(self.path)


def parse_txt(text: str, where: str) -> list[Utterance]:
    """AGIF's format: "word TAG" lines, then one line with the intents; blank lines between utterances."""
    out: list[Utterance] = []
    words: list[str] = []
    tags: list[str] = []
    for no, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            if words:
                log.warning("%s:%d: utterance without an intent line, dropped: %s", where, no, " ".join(words))
                words, tags = [], []
        elif len(parts) == 1:
            if not words:
                log.warning("%s:%d: intent line %r without words, dropped", where, no, parts[0])
            else:
                out.append(Utterance(tuple(words), tuple(tags), parts[0]))
            words, tags = [], []
        elif len(parts) == 2:
            words.append(parts[0])
            tags.append(parts[1])
        else:
            log.warning("%s:%d: %d fields on a token line, dropped: %r", where, no, len(parts), line)
    if words:
        log.warning("%s: trailing words without an intent line, dropped: %s", where, " ".join(words))
    return out


def parse_folder(seq_in: str, seq_out: str, label: str, where: str) -> list[Utterance]:
    ins, outs, labels = seq_in.splitlines(), seq_out.splitlines(), label.splitlines()
    if not len(ins) == len(outs) == len(labels):
        raise ValueError(f"{where}: {len(ins)} seq.in, {len(outs)} seq.out and {len(labels)} label lines")
    out = []
    for no, (w, t, lab) in enumerate(zip(ins, outs, labels, strict=True), 1):
        words, tags = tuple(w.split()), tuple(t.split())
        if len(words) != len(tags):
            log.warning("%s:%d: %d tags for %d words, dropped", where, no, len(tags), len(words))
            continue
        out.append(Utterance(words, tags, lab.strip()))
    return out


def snips_lookup(folder: Path) -> dict[tuple[str, ...], set[tuple[str, tuple[str, ...]]]]:
    """Every single-intent SNIPS utterance: words -> {(intent, tags)}."""
    table: dict[tuple[str, ...], set[tuple[str, tuple[str, ...]]]] = defaultdict(set)
    for u in parse_folder(*((folder / n).read_text(encoding="utf-8") for n in ("seq.in", "seq.out", "label")),
                          where=str(folder)):
        table[u.words].add((u.label, u.tags))
    return table


def readings(words: tuple[str, ...], intents: list[str], table: dict) -> set[tuple[str, ...]]:
    """The tag sequences under which ``words`` is SNIPS utterances of ``intents``, in order, joined by
    connectors."""
    n, memo = len(words), {}

    def go(i: int, k: int) -> set[tuple[str, ...]]:
        if (i, k) not in memo:
            found = set()
            for j in range(i + 1, n + 1):
                for intent, tags in table.get(words[i:j], ()):
                    if intent != intents[k]:
                        continue
                    if k == len(intents) - 1:
                        if j == n:
                            found.add(tags)
                        continue
                    for c in CONNECTORS:
                        if words[j:j + len(c)] == c:
                            found.update(tags + ("O",) * len(c) + rest for rest in go(j + len(c), k + 1))
            memo[i, k] = found
        return memo[i, k]

    return go(0, 0)


def rebuild_tags(seq_in: str, label: str, table: dict, where: str) -> list[Utterance]:
    """seq.in and label, tagged by aligning each utterance with SNIPS utterances (see the module doc)."""
    ins, labels = seq_in.splitlines(), label.splitlines()
    if len(ins) != len(labels):
        raise ValueError(f"{where}: {len(ins)} seq.in and {len(labels)} label lines")
    table = {**table, **{k: {(i, PREFERRED[k]) for i, _ in v} for k, v in table.items() if k in PREFERRED}}
    out, preferred = [], 0
    for no, (w, lab) in enumerate(zip(ins, labels, strict=True), 1):
        words, lab = tuple(w.split()), lab.strip()
        found = readings(words, lab.split("#"), table)
        if len(found) != 1:
            raise ValueError(f"{where}:{no}: {len(found)} readings as SNIPS utterances: {w!r} ({lab})")
        preferred += any(_contains(words, k) for k in PREFERRED)
        out.append(Utterance(words, found.pop(), lab))
    log.info("%s: tags rebuilt for %d utterances (%d of them with a PREFERRED reading)", where, len(out), preferred)
    return out


def _contains(words: tuple[str, ...], part: tuple[str, ...]) -> bool:
    return any(words[i:i + len(part)] == part for i in range(len(words) - len(part) + 1))


def load_split(sources: list[Source], name: str, split: str, snips: Path) -> list[Utterance]:
    for src in sources:
        if (text := src.read(f"{name}/{split}.txt")) is not None:
            log.info("%s/%s: %s.txt from %s", name, split, split, src)
            return parse_txt(text, f"{src}:{name}/{split}.txt")
    files = [(src, {f: src.read(f"{name}/{split}/{f}") for f in ("seq.in", "seq.out", "label")}) for src in sources]
    for src, got in files:
        if None not in got.values():
            log.info("%s/%s: %s/{seq.in,seq.out,label} from %s", name, split, split, src)
            return parse_folder(got["seq.in"], got["seq.out"], got["label"], f"{src}:{name}/{split}")
    for src, got in files:
        if got["seq.in"] is not None and got["label"] is not None:
            log.info("%s/%s: %s/{seq.in,label} from %s, tags rebuilt from %s", name, split, split, src, snips)
            return rebuild_tags(got["seq.in"], got["label"], snips_lookup(snips), f"{src}:{name}/{split}")
    raise FileNotFoundError(f"no source has {name}/{split}")


def check(utts: list[Utterance], where: str) -> None:
    """Log what looks odd; nothing is changed."""
    bad_tags = Counter(t for u in utts for t in u.tags if not TAG.fullmatch(t))
    orphan_i = sum(1 for u in utts for prev, t in zip(("O", *u.tags), u.tags, strict=False)
                   if t.startswith("I-") and prev[2:] != t[2:])
    upper = sum(1 for u in utts if any(w != w.lower() for w in u.words))
    empty = sum(1 for u in utts if not u.words or not u.label)
    for what, n in (("tags not O/B-x/I-x", sum(bad_tags.values())), ("I- tags not after their type", orphan_i),
                    ("utterances with upper-case letters", upper), ("empty utterances or labels", empty)):
        if n:
            log.warning("%s: %d %s", where, n, what)


def write(utts: list[Utterance], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in (("seq.in", (" ".join(u.words) for u in utts)), ("seq.out", (" ".join(u.tags) for u in utts)),
                        ("label", (u.label for u in utts))):
        (folder / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", type=Path, action="append", required=True,
                   help="a directory or bare git directory holding the sets; repeatable, the first with a split wins")
    p.add_argument("--rev", default="HEAD", help="the commit read in git sources")
    p.add_argument("--snips", type=Path, default=Path("data/snips/train"),
                   help="single-intent SNIPS train (seq.in/seq.out/label), to rebuild missing MixSNIPS tags")
    p.add_argument("--out", type=Path, default=Path("data/mix"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sources = [Source(p, args.rev) for p in args.src]
    for key, name in SETS.items():
        for split in SPLITS:
            utts = load_split(sources, name, split, args.snips)
            check(utts, f"{name}/{split}")
            write(utts, args.out / key / split)
            n_intents = Counter(len(u.label.split("#")) for u in utts)
            log.info("%s/%s: %d utterances, by number of intents %s", key, split, len(utts),
                     dict(sorted(n_intents.items())))


if __name__ == "__main__":
    main()
