"""``elmol-nlu skill train`` and ``skill eval``: a skill from annotated utterances, and its report on any file."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

from cli.errors import UsageError
from elmol_nlu.annotations import FORMATS, Annotated, Problem, check_file, has_errors
from elmol_nlu.datasets import TaggedExample, tag
from elmol_nlu.intents import split_intents
from elmol_nlu.manifest import load_manifest
from elmol_nlu.paths import DEFAULT_MODEL_DIR
from elmol_nlu.scoring import format_report

log = logging.getLogger("elmol-nlu")
EXPORT_RESERVE_S = 45.0  # of the time budget, kept for export, parity, the int8 gate and calibration
SKILL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def duration(text: str) -> float:
    """'5m', '90s', '1h' or plain seconds -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: write e.g. 300, 90s or 5m")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: write a number from 0 to 1")
    return value


def skill_name(text: str) -> str:
    if not SKILL_NAME.fullmatch(text) or text in (".", ".."):
        raise argparse.ArgumentTypeError(f"{text!r}: a skill name is 1 to 64 letters, digits, '_', '.' or '-'")
    return text


def read_checked(path: Path, fmt: str | None, min_per_intent: int, strict: bool = False) -> list[Annotated]:
    """The file's utterances; its problems printed, and UsageError when any is an error (with ``strict``, when
    there is any problem at all)."""
    items, problems = check_file(path, fmt, min_per_intent)
    if strict:
        problems = [dataclasses.replace(p, severity="error") for p in problems]
    report_problems(problems)
    errors = sum(p.severity == "error" for p in problems)
    if has_errors(problems):
        raise UsageError(f"{path}: {errors} error(s) above; fix them and run again")
    if not items:
        raise UsageError(f"{path}: no annotated utterances found")
    return items


def report_problems(problems: list[Problem]) -> None:
    for problem in problems:
        print(problem, file=sys.stderr)


def tagged(items: list[Annotated]) -> list[TaggedExample]:
    return [tag(i.example) for i in items]


def cmd_train(args: argparse.Namespace) -> None:
    items = read_checked(args.data, args.format, args.min_per_intent, args.strict)
    dev_items = [i for i in items if i.partition == "dev"]
    if args.dev:
        dev_items += read_checked(args.dev, args.format, 1, args.strict)
    train_items = [i for i in items if i.partition in (None, "train")]
    if len(items) > len(train_items) + len(dev_items):
        log.info("%d test utterances left out of training: score them with `elmol-nlu skill eval`",
                 len(items) - len(train_items) - len(dev_items))
    if args.from_ is None and args.name is None:
        raise UsageError("name the skill: --name NAME (or go on from one with --from skills/NAME)")
    name = args.name or load_manifest(args.from_, verify=False).skill
    out = args.out or args.from_ or Path("skills") / name
    if out.exists() and any(out.iterdir()) and not (out / "manifest.json").exists():
        raise UsageError(f"{out} exists and is not a model directory: pass another --out")

    from elmol_nlu.runtime.evaluate import evaluate_dir
    from export.skill import export_skill, source_checkpoint  # torch from here on
    from training.skill import train_skill
    from training.skill_incremental import load_previous, other_skills

    started = time.monotonic()
    previous = load_previous(args.from_) if args.from_ else None
    others = other_skills(args.skills_dir, out, args.from_)
    if others:
        log.info("examples of %s (in %s) join the base's as utterances that are not this skill's",
                 ", ".join(others), args.skills_dir)
    old_dev_before = evaluate_dir(args.from_, previous.dev, "auto") if previous else None
    checkpoint = source_checkpoint(args.base)
    budget = max(30.0, args.time_budget - EXPORT_RESERVE_S)
    skill = train_skill(tagged(train_items), tagged(dev_items) or None, checkpoint, skill_config(args, budget),
                        previous,
                        [e for examples in others.values() for e in examples])
    written = out.with_name(out.name + ".new") if previous and out.exists() else out  # the old one stays until done
    exported = export_skill(skill, name, args.base, written)
    if written != out:
        shutil.rmtree(out)
        written.rename(out)
    # a refit skill has trained on dev too: its dev report is the model's chosen on dev, before the refit
    report = exported.get("dev_report_before_refit") or evaluate_dir(out, skill.dev, "auto")
    rare = rare_intents(train_items + dev_items, report, args.min_per_intent)
    result = {"dev": report, "rare_intents": rare, "seconds": round(time.monotonic() - started, 1)}
    if previous:  # did it forget? The old dev split, scored by the skill before and after
        result["from"] = {"skill": str(args.from_), "old_dev_before": old_dev_before,
                          "old_dev_after": evaluate_dir(out, previous.dev, "auto")}
    (out / "report.json").write_text(json.dumps(result, indent=1) + "\n")
    if previous:
        before, after = result["from"]["old_dev_before"], result["from"]["old_dev_after"]
        print(f"\nold dev split ({len(previous.dev)} utterances), before -> after: intent "
              f"{before['intent_acc']:.2f} -> {after['intent_acc']:.2f}, slot F1 {before['slot_f1']:.2f} -> "
              f"{after['slot_f1']:.2f}")
    refit = skill.state["data"]["refit"]
    print(f"\nskill {name!r} on its dev split ({len(skill.dev)} utterances held out of training" +
          (f"; then refit on train + dev for {refit['epochs']} epochs):" if refit else "):"))
    print(format_report(report))
    for intent, r in rare.items():
        scored = f"dev accuracy {r['dev_accuracy']:.0f}% on {r['dev']}" if r["dev"] else "none held out for dev"
        print(f"rare intent {intent!r}: {r['examples']} example(s), {scored}")
    print(f"\nwrote {out} in {time.monotonic() - started:.0f} s. Serve it alone: python -m service --model-dir {out}\n"
          f"or beside the model: elmol-nlu skill add {out} [--service http://localhost:8000]")


def skill_config(args: argparse.Namespace, budget_s: float):  # -> training.skill.SkillConfig (imports torch)
    """The recipe a `skill train` command line asks for: SkillConfig's defaults, but for what its flags set."""
    from training.skill import SkillConfig

    given = {"mention_copies": args.mention_copies, "lexical_weight": args.lexical_weight}
    return SkillConfig(seed=args.seed, time_budget_s=budget_s, share_encoder=not args.own_encoder,
                       refit=not args.no_refit, **{k: v for k, v in given.items() if v is not None})


def rare_intents(items: list[Annotated], dev_report: dict, min_per_intent: int) -> dict[str, dict]:
    """Intents with fewer than ``min_per_intent`` examples: how many, and how the dev split scored them."""
    counts = Counter(name for i in items for name in split_intents(i.example.intent))
    per_intent = dev_report.get("per_intent", {})
    return {name: {"examples": n, "dev": per_intent.get(name, {}).get("n", 0),
                   "dev_accuracy": per_intent.get(name, {}).get("accuracy")}
            for name, n in sorted(counts.items()) if n < min_per_intent}


def cmd_eval(args: argparse.Namespace) -> None:
    from elmol_nlu.runtime.evaluate import evaluate_dir  # onnxruntime: not needed by add, remove and list

    items = read_checked(args.data, args.format, 1)
    report = evaluate_dir(args.model_dir, tagged(items), args.precision)
    print(json.dumps(report, indent=1) if args.json else format_report(report))


def add_commands(skill: argparse._SubParsersAction) -> None:
    fmt = {"choices": FORMATS, "default": None, "help": "annotation format (default: from the file name/content)"}
    t = skill.add_parser("train", help="fine-tune a skill from annotated utterances and export it",
                         description="Reads DATA (MASSIVE JSON lines, a SNIPS-style BIO folder, Rasa YAML or "
                         "Markdown), checks it, fine-tunes the base model's heads on it with gradual unfreezing "
                         "(its encoder frozen, so the skill can be served beside it), stops early on a dev split "
                         "(carved out of DATA unless it has one or --dev is given) or at the time budget, "
                         "exports ONNX with a manifest and prints the dev report.")
    t.add_argument("data", type=Path, help="annotated utterances (file or BIO folder)")
    t.add_argument("--name", type=skill_name, default=None,
                   help="the skill's name in answers and /skills (required unless --from names it)")
    t.add_argument("--from", dest="from_", type=Path, default=None, metavar="SKILL_DIR",
                   help="go on from this trained skill: DATA's examples (new intents too) join the ones it was "
                   "trained on, its heads are the start; faster than anew, and it keeps what it knew "
                   "(written to SKILL_DIR unless --out)")
    t.add_argument("--out", type=Path, default=None, help="model directory to write (default skills/NAME)")
    t.add_argument("--base", type=Path, default=DEFAULT_MODEL_DIR, help="model whose encoder the skill shares "
                   "(default: the shipped default model)")
    t.add_argument("--dev", type=Path, default=None, help="a separate dev file (default: split off DATA)")
    t.add_argument("--skills-dir", type=Path, default=Path("skills"), help="skills served beside this one: their "
                   "examples are taught as not this skill's, with the base's (default skills/)")
    t.add_argument("--format", **fmt)
    t.add_argument("--time-budget", type=duration, default=duration("5m"), help="for everything, e.g. 5m (default)")
    t.add_argument("--min-per-intent", type=int, default=5, help="fewer examples of an intent is a warning")
    t.add_argument("--strict", action="store_true", help="every warning about the data is an error (exit 2)")
    t.add_argument("--own-encoder", action="store_true", help="fine-tune the encoder too: can be more accurate, "
                   "but the skill is then served only on its own (python -m service --model-dir), not beside others")
    t.add_argument("--lexical-weight", type=unit_interval, default=None,
                   help="weight of the lexical intent model (n-grams and pooled encoder layers) beside the heads, "
                   "0 to 1; 0 turns it off (default: the skill recipe's, chosen on MASSIVE dev)")
    t.add_argument("--no-refit", action="store_true", help="keep the model chosen on dev instead of training "
                   "again on train + dev for its epochs (done from 200 examples, when the time budget allows)")
    t.add_argument("--mention-copies", type=int, default=None, metavar="N",
                   help="train the slot head also on N copies of each example whose open slots (names, titles) "
                   "take other values of the same intent's examples; 0 turns it off (default: the skill "
                   "recipe's, 2, chosen on dev: docs/SKILLS.md)")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(run=cmd_train)

    e = skill.add_parser("eval", help="score a model directory on annotated utterances",
                         description="Intent accuracy (overall and per intent), slot F1 (per slot), exact match "
                         "and the commonest confusions of a model directory on any annotated file.")
    e.add_argument("model_dir", type=Path)
    e.add_argument("data", type=Path)
    e.add_argument("--format", **fmt)
    e.add_argument("--json", action="store_true", help="JSON instead of tables")
    e.add_argument("--precision", choices=["auto", "fp32", "int8"], default="auto")
    e.set_defaults(run=cmd_eval)
