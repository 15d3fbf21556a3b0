"""docs/SKILLS.md's tables: the skill study (make skill-study), speed (make bench-skills), routing."""

from __future__ import annotations

import csv
import json
import statistics
from collections.abc import Callable

from tools.docs_tables.common import REPO, f2, report, table


def study_block(index: int, folder: str = "reports/skills") -> str:
    """The n-th table of FOLDER/tables.md, which experiments.skill_report writes from runs.csv."""
    blocks = (REPO / folder / "tables.md").read_text().strip().split("\n\n")
    return [b for b in blocks if b.startswith("|")][index]


HEADS_ONLY = "skill alone, heads only (no lexical model)"


def speed() -> str:
    s = report("reports/skills/speed.json")
    lat = s["latency_ms"]
    ours, minilm = s["scores"]["ours"], s["scores"]["minilm"]

    def p(name: str) -> str:
        return f"{lat[name]['p50']:.3f} / {lat[name]['p99']:.3f}"

    rows = [["`elmol-nlu skill train`, export, parity, int8 gate and calibration included",
             f"**{s['skill_train_seconds']} s**", "–"],
            ["MiniLM fine-tuning on the same file (no export)", "–", f"{s['minilm_train_seconds']} s"],
            ["intent acc / slot F1 / exact match, SNIPS test of the 3 intents",
             " / ".join(f2(ours[k]) for k in ("intent_acc", "slot_f1", "exact_match")),
             " / ".join(f2(minilm[k]) for k in ("intent_acc", "slot_f1", "exact_match"))],
            ["p50 / p99 ms per utterance, the skill alone", f"**{p('skill alone')}**", p("MiniLM ONNX")],
            *([["p50 / p99 ms, the same skill without its lexical intent model", p(HEADS_ONLY), "–"],
               ["intent acc / slot F1 / exact match without it",
                " / ".join(f2(s["scores"]["ours, heads only"][k]) for k in ("intent_acc", "slot_f1", "exact_match")),
                "–"]] if HEADS_ONLY in lat else []),
            ["p50 / p99 ms, the skill beside the shipped model (both heads, one encoder)",
             p("skill beside the shipped model"), "–"],
            ["p50 / p99 ms, the shipped model alone", p("shipped model alone"), "–"]]
    note = (f"`reports/skills/speed.json` ({s['created'][:16]}; train: {s['data']['train']}; "
            f"test: {s['data']['test']})")
    return "\n\n".join([table(["", f"ours ({s['precision']})", "MiniLM (ONNX fp32)"], rows), f"Source: {note}."])


def lexical_choice() -> str:
    """Own-intent accuracy on MASSIVE dev by (C, weight) of the lexical model (experiments.lexical_choice)."""
    r = report("reports/skills/lexical-choice.json")
    cells: dict[tuple[float, float], dict[int, str]] = {}
    sizes = sorted({run["n"] for run in r["runs"]})
    for key, value in r["summary"].items():
        c, weight, n = (float(part.split("=")[1]) for part in key.split())
        cells.setdefault((c, weight), {})[int(n)] = f"{value['intent_acc']:.2f} ({value['rejected']:.1f}%)"
    runs = {n: sorted({(run["scenario"], run["seed"]) for run in r["runs"] if run["n"] == n}) for n in sizes}
    head = ["C", "lexical weight", *(f"n = {n}: intent acc (own dev rejected), {len(runs[n])} runs" for n in sizes)]
    first_c = min(c for c, _ in cells)
    rows = [["–" if w == 0 else f"{c:g}", f"{w:g}" + (" (heads alone)" if w == 0 else ""),
             *(cells[(c, w)].get(n, "") for n in sizes)]
            for c, w in sorted(cells) if not (w == 0 and c != first_c)]
    seeds = {n: sorted({s for _, s in runs[n]}) for n in sizes}
    note = "; ".join(f"n = {n}: seeds {', '.join(map(str, seeds[n]))}" for n in sizes)
    return table(head, rows) + f"\n\nSource: `reports/skills/lexical-choice.json` (split: {r['split']}; {note})."


def tag_weight(recipe: str) -> str:
    return "weight 1 (the earlier default)" if recipe == "default" else f"weight {recipe.removeprefix('tagw')}"


def dev_choice(path: str, what: str, name: Callable[[str], str] = str, by_n: bool = False) -> str:
    """Means per recipe (and per n with ``by_n``) of dev runs (experiments.skill_study --split dev) that compared
    one setting."""
    with open(REPO / path) as f:
        runs = list(csv.DictReader(f))
    sizes = sorted({r["n"] for r in runs}, key=int)
    rows = []
    for arm in dict.fromkeys(r["arm"] for r in runs):
        mine = [r for r in runs if r["arm"] == arm]
        groups = [(n, [r for r in mine if r["n"] == n]) for n in sizes] if by_n else []
        for n, group in [*groups, ("all" if by_n else None, mine)]:
            rows.append([name(arm.partition("@")[2]), *([n] if by_n else []), str(len(group)),
                         *(f"{statistics.mean(float(r[m]) for r in group):.2f}"
                           for m in ("intent_acc", "slot_f1", "exact_match", "epochs"))])
    # (no train time: runs share the machine with other jobs)
    seeds = ", ".join(sorted({r["seed"] for r in runs}))
    head = ["recipe", *(["n"] if by_n else []), "runs", "dev intent acc", "slot F1", "exact match", "epochs"]
    return table(head, rows) + f"\n\nSource: `{path}` (n = {', '.join(sizes)}, seeds {seeds}, {what})."


def refit(recipe: str) -> str:
    return "refit on train + dev" if recipe == "refit" else "no refit (the earlier default)"


def paired_gains(paths: list[str], overall: bool = False, name: Callable[[str], str] | None = None,
                 against: str = "the run without copies", detail: bool = False) -> str:
    """Mean dev gains of each variant in ``paths`` (runs.csv rows beside the default's of the same scenario, n
    and seed) against the default; ``overall`` adds the mean over the sizes (each size weighing alike);
    ``detail`` adds the change in the share of the skill's own dev utterances it calls out of skill, and the mean
    training seconds of both."""
    columns = ("intent_acc", "slot_f1", "rejected")[: 3 if detail else 2]
    rows, name, seeds = [], name or mentions, {}
    for path in paths:
        with open(REPO / path) as f:
            runs = list(csv.DictReader(f))
        base = {(r["domain"], r["n"], r["seed"]): r for r in runs if r["arm"] == "transfer@default"}
        data = "SNIPS" if "snips" in path else "MASSIVE's scenarios"
        seeds[path] = ", ".join(sorted({r["seed"] for r in runs}, key=int))
        for arm in dict.fromkeys(r["arm"] for r in runs if r["arm"] != "transfer@default"):
            gains = []
            for n in sorted({r["n"] for r in runs if r["arm"] == arm}, key=int):
                mine = [r for r in runs if r["arm"] == arm and r["n"] == n]
                gains.append([statistics.mean(float(r[m]) - float(base[r["domain"], n, r["seed"]][m]) for r in mine)
                              for m in columns])
                seconds = [f"{statistics.mean(float(x['train_seconds']) for x in xs):.0f}"
                           for xs in ([base[r["domain"], n, r["seed"]] for r in mine], mine)] if detail else []
                rows.append([name(arm.partition("@")[2]), data, n, str(len(mine)),
                             *(f"{g:+.2f}" for g in gains[-1]), *([" / ".join(seconds)] if detail else [])])
            if overall:
                rows.append([name(arm.partition("@")[2]), data, "mean over n", "",
                             *(f"{statistics.mean(g[i] for g in gains):+.2f}" for i in range(len(columns)))])
    sources = ", ".join(f"`{p}` (seeds {seeds[p]})" for p in paths)
    header = ["variant", "data", "n", "runs", "dev intent acc gain", "dev slot F1 gain",
              "change in own dev utterances called out of skill (points)"][: 4 + len(columns)]
    header += ["train s (default / variant)"] if detail else []
    return (table(header, rows) + f"\n\nSource: {sources}; dev splits, each run against {against} "
            "(`transfer@default`) of the same scenario, n and seed.")


MENTION_RECIPES = {"mentions2": "two copies, both losses",
                   "mentions2-slots": "two copies, slot loss alone, diluting the intent loss",
                   "mentions2-slots-e": "the same, epochs counted without the copies",
                   "mentions2-slots-n": "two copies, slot loss alone",
                   "mentions2-open": "the same, open slots only (the default)",
                   "mentions2-open-head": "open slots only, the slot head alone"}


def mentions(recipe: str) -> str:
    return MENTION_RECIPES.get(recipe, "no copies (the earlier default)")


def teacher(variant: str) -> str:
    return f"MiniLM teacher, {variant.removeprefix('teacher')} corpus neighbours an example"


def intent_errors() -> str:
    """Ours against MiniLM on the same samples, per scenario (experiments.intent_errors), dev."""
    paths = sorted((REPO / "reports/skills").glob("intent-errors-dev-seed*.json"))
    runs = [r for path in paths for r in json.loads(path.read_text())["runs"]]
    rows = []
    for domain in dict.fromkeys(r["domain"] for r in runs):
        mine = [r for r in runs if r["domain"] == domain]
        confusions: dict[str, int] = {}
        for r in mine:
            for pair, count in r["our_confusions"]:
                confusions[pair] = confusions.get(pair, 0) + count
        top = sorted(confusions.items(), key=lambda kv: -kv[1])[:3]
        rows.append([domain, str(len(mine)), f"{statistics.mean(r['ours_acc'] for r in mine):.2f}",
                     f"{statistics.mean(r['minilm_acc'] for r in mine):.2f}",
                     *(str(sum(r[k] for r in mine)) for k in ("only_ours_wrong", "only_minilm_wrong", "both_wrong")),
                     "; ".join(f"{pair.replace('->', '→')} ({count})" for pair, count in top)])
    seeds = ", ".join(str(r["seed"]) for r in runs if r["domain"] == runs[0]["domain"])
    return (table(["scenario", "runs", "ours", "MiniLM", "only ours wrong", "only MiniLM wrong", "both wrong",
                   "our most frequent confusions (gold → ours)"], rows)
            + f"\n\nSource: `reports/skills/intent-errors-dev-seed*.json` (`python -m experiments.intent_errors`; "
            f"n = {runs[0]['n']}, seeds {seeds}, MASSIVE dev, intent accuracy).")


def opposites() -> str:
    """experiments.opposites_probe: does a frozen representation move further for an opposite than a neutral swap."""
    r = report("reports/opposites_probe.json")
    names = {"elmol_pooled": "ours: the skill base's pooled encoder layers",
             "minilm_frozen": "MiniLM, frozen, mean-pooled"}
    rows = [[label, f"{r[key]['flip_cosine']:.3f}", f"{r[key]['swap_cosine']:.3f}",
             f"{r[key]['pairs_where_the_opposite_is_closer']} of {r[key]['pairs']}"] for key, label in names.items()]
    return (table(["features", "cosine to the opposite", "cosine to the neutral swap",
                   "pairs where the opposite is closer"], rows)
            + f"\n\nSource: `reports/opposites_probe.json` (`python -m experiments.opposites_probe`; checkpoint "
            f"`{r['checkpoint']}`, standardised over {r['reference']}).")


MENTION_TRIES = [f"reports/{d}/mention-{v}-dev-partial.csv"
                 for v in ("both-losses", "slots-diluted", "slots-epochs", "slot-head")
                 for d in ("skills", "skills-snips")]


TABLES = {
    "skills-steps-choice": lambda: dev_choice("reports/skills/min-steps-choice-dev.csv",
                                              "MASSIVE dev of the five scenarios"),
    "skills-tag-weight-choice": lambda: dev_choice("reports/skills/tag-weight-choice-dev.csv",
                                                   "MASSIVE dev of the five scenarios", tag_weight),
    "skills-snips-tag-weight-choice": lambda: dev_choice("reports/skills-snips/tag-weight-choice-dev.csv",
                                                         "SNIPS dev", tag_weight),
    "skills-refit-choice": lambda: dev_choice("reports/skills/refit-choice-dev.csv",
                                              "MASSIVE dev of the five scenarios", refit, by_n=True),
    "skills-snips-refit-choice": lambda: dev_choice("reports/skills-snips/refit-choice-dev.csv", "SNIPS dev",
                                                    refit, by_n=True),
    "skills-mention-choice": lambda: dev_choice("reports/skills/mention-choice-dev.csv",
                                                "MASSIVE dev of the five scenarios", mentions, by_n=True),
    "skills-snips-mention-choice": lambda: dev_choice("reports/skills-snips/mention-choice-dev.csv", "SNIPS dev",
                                                      mentions, by_n=True),
    "skills-mention-tries": lambda: paired_gains([p for p in MENTION_TRIES if (REPO / p).exists()]),
    "skills-mention-fresh": lambda: paired_gains(["reports/skills/mention-fresh-dev.csv",
                                                  "reports/skills-snips/mention-fresh-dev.csv"], overall=True,
                                                 name=lambda _: "two copies, open slots only"),
    "skills-teacher-choice": lambda: paired_gains(["reports/skills/teacher-choice-dev.csv"], name=teacher,
                                                  against="today's default", detail=True),
    "skills-intent-errors": intent_errors,
    "skills-opposites": opposites,
    "skills-lexical-choice": lexical_choice,
    "skills-means": lambda: study_block(0),
    "skills-error-reduction": lambda: study_block(1),
    "skills-speed": speed,
    "skills-snips": lambda: study_block(0, "reports/skills-snips"),
    "skills-snips-error-reduction": lambda: study_block(1, "reports/skills-snips"),
}
