"""Build the unlabeled pretraining corpus, ``data/unlabeled/utterances.txt.gz``, in one command.

    python -m training.build_corpus            # needs the `corpus` extra: chitchat-dataset, home-assistant-intents

Sources (licences in data/unlabeled/SOURCE.md):
- ``assistant``: ``data/unlabeled/sources/assistant.txt.gz``, the pooled assistant requests (CC BY-SA 4.0);
- ``chitchat``: every message of the ``chitchat-dataset`` package (MIT), 2-40 words;
- ``home_assistant``: the English templates of ``home-assistant-intents`` (Apache-2.0), sampled into sentences.

Utterances are deduplicated by ``match_key`` (lower case, non-alphanumerics dropped), and every one whose key
is that of a MASSIVE en-US or SNIPS dev or test utterance is removed. The output is shuffled with ``--seed``;
``stats.json`` beside it counts the utterances kept per source and those refused.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import random
from collections import Counter
from pathlib import Path

from elmol_nlu.evaluation_text import evaluation_keys
from elmol_nlu.text import match_key, tokenize
from training.corpus import read_utterances
from training.ha_templates import sentences as ha_sentences

log = logging.getLogger("training.build_corpus")
ASSISTANT = Path("data/unlabeled/sources/assistant.txt.gz")


def chitchat_messages(min_words: int = 2, max_words: int = 40) -> list[str]:
    import chitchat_dataset

    texts = [m["text"] for conv in chitchat_dataset.Dataset().values() for turn in conv["messages"] for m in turn]
    return [" ".join(t.split()) for t in texts if min_words <= len(tokenize(t)) <= max_words]


def home_assistant_sentences(per_template: int, seed: int) -> list[str]:
    import home_assistant_intents

    language = json.loads((Path(home_assistant_intents.__file__).parent / "data" / "en.json").read_text())
    return ha_sentences(language, per_template, seed)


def merge(sources: dict[str, list[str]], refused: set[str]) -> tuple[list[str], dict]:
    """Sources in order, first occurrence of each key kept; evaluation keys refused. Returns lines and counts."""
    seen: set[str] = set()
    kept, stats = [], {"kept": Counter(), "refused_evaluation": Counter(), "duplicates": Counter()}
    for name, lines in sources.items():
        for line in lines:
            key = match_key(line)
            if not key:
                continue
            if key in refused:
                stats["refused_evaluation"][name] += 1
            elif key in seen:
                stats["duplicates"][name] += 1
            else:
                seen.add(key)
                kept.append(line)
                stats["kept"][name] += 1
    return kept, {k: dict(v) for k, v in stats.items()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("data/unlabeled/utterances.txt.gz"))
    p.add_argument("--ha-per-template", type=int, default=20, help="sentences sampled from each template")
    p.add_argument("--seed", type=int, default=13)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sources = {"assistant": read_utterances(ASSISTANT), "chitchat": chitchat_messages(),
               "home_assistant": home_assistant_sentences(args.ha_per_template, args.seed)}
    lines, stats = merge(sources, evaluation_keys())
    random.Random(args.seed).shuffle(lines)
    with gzip.GzipFile(args.out, "wb", mtime=0) as raw:  # mtime 0: the same corpus gives the same bytes
        raw.write("".join(line + "\n" for line in lines).encode("utf-8"))
    stats = {"utterances": len(lines), "tokens": sum(len(tokenize(line)) for line in lines), **stats}
    args.out.with_name("stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    log.info("%s", json.dumps(stats))


if __name__ == "__main__":
    main()
