"""docs/SKILLS.md: multi-intent benchmarks, the sigmoid head's latency, incremental training, routing."""

from __future__ import annotations

from tools.docs_tables.common import REPO, f2, report, table

SETS = {"mixsnips": "MixSNIPS", "mixatis": "MixATIS"}
PUBLISHED = ("GL-GIN", "AGIF")


def benchmarks() -> str:
    rows, notes = [], []
    for name, title in SETS.items():
        path = f"reports/multi_intent/{name}.json"
        if not (REPO / path).exists():
            rows.append([title, "ours", "not run here (`make mix-data` builds it)", "", "", "", ""])
            continue
        r = report(path)
        t = r["test"]
        rows.append([title, f"ours ({r['precision']}, seed {r['seed']})", f2(t["overall_acc"]),
                     f2(t["intent_acc"]), f2(t["slot_f1"]), f"{r['train_seconds'] / 60:.0f} min",
                     f"{r['latency_ms']['p50']:.2f} ms"])
        for model in PUBLISHED:
            p = r["published"].get(model)
            if p:
                rows.append(["", f"{model} (published)", f2(p["overall_acc"]), f2(p["intent_acc"]), f2(p["slot_f1"]),
                             "", ""])
        c = r.get("coverage")
        if c and c["test_intents_unseen_in_train"]:
            notes.append(f"{title} test: {c['test_utterances_with_one']} utterances ({c['share_of_test']:.1f}%) carry "
                         f"an intent no train utterance has ({', '.join(c['test_intents_unseen_in_train'])}).")
        notes.append(f"{title}: `{r['command']}`, {r['date'][:10]}, budget {r['time_budget']}.")
    head = ["set", "model", "overall acc", "intent acc (set right)", "slot F1", "train", "p50, batch 1"]
    return table(head, rows) + "\n\n" + " ".join(notes)


def latency() -> str:
    r = report("reports/multi_intent/latency.json")
    rows = [[label, m["name"], m["precision"], f"{m['ms']['p50']:.3f}", f"{m['ms']['p99']:.3f}"]
            for label, m in r["models"].items()]
    ratio, bar = r["p50_ratio"], r["max_p50_ratio"]
    verdict = "met" if ratio <= bar else "missed"
    return table(["skill", "model", "precision", "p50 ms", "p99 ms"], rows) + (
        f"\n\np50 ratio multi / single: {ratio:.3f} (bar {bar}: {verdict}); "
        f"{r['models']['multi-intent']['ms']['n']:,} parses each, one run, {r['date'][:10]}.")


def incremental() -> str:
    r = report("reports/skills/incremental.json")
    rows = []
    for arm, title in (("first", "the first skill (5 intents)"), ("incremental", "**`--from` it**, new data"),
                       ("anew", "anew on everything")):
        a, s = r[arm], r[arm]["scores"]
        rows.append([title, f"{a['seconds']:.0f} s", str(a.get("epochs", "")),
                     *(" / ".join(f2(s[split][k]) for k in ("intent_acc", "slot_f1"))
                       for split in ("first_dev", "new_dev", "snips_test"))])
    return table(["skill", "time", "epochs", "first dev", "new dev", "SNIPS test"], rows)


def routing() -> str:
    r = report("reports/skills/routing.json")
    single = r["single_model"]
    split = r.get("split", "test")
    rows = [["routed to the right model (bar 97%)", f"{r['routed_to_the_right_skill']:.2f}%"],
            ["held-out scenarios' utterances reaching their skill", f"{r['held_out_scenarios_routed_right']:.2f}%"],
            ["the base's scenarios' utterances kept by the base", f"{r['base_scenarios_kept_by_the_base']:.2f}%"],
            [f"intent accuracy / slot F1 / exact match, all {r['all']['n']:,}",
             " / ".join(f2(r["all"][k]) for k in ("intent_acc", "slot_f1", "exact_match"))],
            [f"the single model ({single['name']}), same {split} utterances",
             " / ".join(f2(single[split][k]) for k in ("intent_acc", "slot_f1", "exact_match"))],
            ["intent accuracy against it (bar -2)", f"{r['all']['intent_acc'] - single[split]['intent_acc']:+.2f}"]]
    ceiling = report("reports/skills/routing-ceiling.json")[split]
    rows.append(["the single model's own answers, counted as routed when their intent's scenario is the right "
                 "model's (`experiments.routing_ceiling`): routed right / held-out reaching theirs / base kept",
                 f"{ceiling['routed_right']:.2f}% / {ceiling['held_out_scenarios_routed_right']:.2f}% / "
                 f"{ceiling['base_scenarios_kept_by_the_base']:.2f}%"])
    return table(["", ""], rows)


def routing_choice() -> str:
    """The settings tried on MASSIVE dev (reports/skills/routing-choice), each claim rule on the same skills."""
    folder = REPO / "reports/skills/routing-choice"
    rows = []
    for path in sorted(folder.glob("*.json")):
        r = report(str(path.relative_to(REPO)))
        s = r["skills"]
        how = f"{s['negatives']:g} per utterance (max {s['max_negatives']:,})"
        how += ", an equal share from the other skills" if path.stem.endswith("equal-share") else ""
        how += f", lexical intents ({s['lexical_weight']:g})" if s.get("lexical_weight") else ""
        how += f", out-of-skill CRF weight {s['out_of_skill_tag_weight']:g}" if "out_of_skill_tag_weight" in s else ""
        how += f", refit from {s['refit_from']}" if s.get("refit_from") else ""
        how += f", {s['mention_copies']} mention copies" if s.get("mention_copies") else ""
        teacher = s.get("teacher_neighbours")
        how += f", MiniLM teacher ({teacher} neighbours an example)" if teacher else ""
        rules = r.get("claim_rules_compared") or {}
        single = r["single_model"]["dev"]["intent_acc"]
        rows.append([how, f"{r['routed_to_the_right_skill']:.2f}% ({s.get('claim_rule', 'balanced')})",
                     f"{r['all']['intent_acc']:.2f} ({r['all']['intent_acc'] - single:+.2f})",
                     *(f"{rules[k]['routed_right']:.2f}%" if k in rules else "" for k in ("recall95", "recall92",
                                                                                          "recall90", "recall85"))])
    return table(["negatives", "routed right as served", "intent acc as served (against the single model)",
                  "recall95", "recall92", "recall90", "recall85"], rows)


def routing_rules() -> str:
    """Who answers, each rule on the same skills' dev answers (experiments.routing_rules)."""
    path = "reports/skills/routing-rules-dev.json"
    r = report(path)
    rows = [[f"`{rule}`", f"{m['routed_right']:.2f}%", f"{m['held_out_scenarios_routed_right']:.2f}%",
             f"{m['base_scenarios_kept_by_the_base']:.2f}%", " / ".join(f2(m[k]) for k in ("intent_acc", "slot_f1",
                                                                                          "exact_match"))]
            for rule, m in r["rules"].items()]
    return table(["rule", "routed right", "held-out reaching their skill", "base kept",
                  "intent / slot F1 / exact match as served"], rows) + (
        f"\n\nSource: `{path}` (MASSIVE {r['split']}, {sum(1 for _ in r['skills'])} skills of 500 examples, "
        f"seed 0, on base {r['base_version']}).")


TABLES = {
    "skills-routing-rules": routing_rules,
    "skills-routing-choice": routing_choice,
    "skills-multi-intent": benchmarks,
    "skills-multi-latency": latency,
    "skills-incremental": incremental,
    "skills-routing": routing,
}
