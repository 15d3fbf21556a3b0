"""docs/SKILLS.md's tables: the skill study (make skill-study), speed (make bench-skills), routing."""

from __future__ import annotations

from tools.docs_tables.common import REPO, f2, report, table


def study_block(index: int, folder: str = "reports/skills") -> str:
    """The n-th table of FOLDER/tables.md, which experiments.skill_report writes from runs.csv."""
    blocks = (REPO / folder / "tables.md").read_text().strip().split("\n\n")
    return [b for b in blocks if b.startswith("|")][index]


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
            ["p50 / p99 ms, the skill beside the shipped model (both heads, one encoder)",
             p("skill beside the shipped model"), "–"],
            ["p50 / p99 ms, the shipped model alone", p("shipped model alone"), "–"]]
    note = (f"`reports/skills/speed.json` ({s['created'][:16]}; train: {s['data']['train']}; "
            f"test: {s['data']['test']})")
    return "\n\n".join([table(["", f"ours ({s['precision']})", "MiniLM (ONNX fp32)"], rows), f"Source: {note}."])


TABLES = {
    "skills-means": lambda: study_block(0),
    "skills-error-reduction": lambda: study_block(1),
    "skills-speed": speed,
    "skills-snips": lambda: study_block(0, "reports/skills-snips"),
    "skills-snips-error-reduction": lambda: study_block(1, "reports/skills-snips"),
}
