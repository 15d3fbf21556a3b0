"""Accuracy tables: the README's comparison, the model card (docs/MODEL.md) and docs/RESULTS.md's tables."""

from __future__ import annotations

from tools.docs_tables.common import REPO, bold, f2, manifest, num, report, scores, source, table, trio, when


def inprocess_p50(latency: dict, precision: str) -> str:
    """p50 ms at batch 1, one thread, in process, as `make bench` timed it."""
    for part in latency["inprocess"]:
        if part["precision"] == precision and part["threads"] == 1:
            return f2(part["single"]["all"]["p50"])
    return "–"


def results() -> str:
    """The README's table: ours recomputed into the manifests, peers from their committed re-runs or papers."""
    default, fast = manifest("models/default"), manifest("models/fast")
    latency, classic = report("reports/latency.json"), report("reports/baseline_classic.json")
    teacher = report("reports/distillation/summary.json")["teacher"]["test"]
    xlmr = report("reports/published.json")["massive_en_us_test"]["XLM-R base"]
    label = f"{default['name']} {default['version']}"
    rows = [
        [f"**{label}** fp32", *bold(scores(default["metrics"]["test"])), inprocess_p50(latency, "fp32")],
        [f"**{label}** int8, served by default", *bold(scores(default["variants"]["int8"]["test"])),
         f"**{inprocess_p50(latency, 'int8')}**"],
        [f"{fast['name']} {fast['version']} int8 (`ELMOL_MODEL=fast`)", *scores(fast["variants"]["int8"]["test"]),
         "–"],
        ["TF-IDF + logistic regression, CRF slots (Snips-NLU recipe), re-run here "
         "(`python -m experiments.baselines.classic`)",
         *scores(classic["metrics"]["test"]), f2(classic["timings"]["batch1_ms"]["p50"])],
        ["all-MiniLM-L6 fine-tuned jointly on MASSIVE train (`make distil`'s teacher)", *scores(teacher), "–"],
        ["XLM-R base, published (trained on 51 locales)", *scores(xlmr, xlmr["digits"]), "–"],
    ]
    head = ["model", "intent acc", "slot F1", "exact match", "ms / utterance (p50, batch 1, in process)"]
    return "\n\n".join([table(head, rows), source(
        "`models/*/manifest.json` (recomputed by `tests/test_shipped_model.py`)",
        f"`reports/latency.json` ({when(latency)}, `make bench`)",
        f"`reports/baseline_classic.json` ({when(classic)})",
        "`reports/distillation/summary.json` (`make distil`)", "`reports/published.json` (XLM-R)")])


def model_card() -> str:
    """What models/default is, from its manifest."""
    m = manifest("models/default")
    lm, nlu, fit = m["config"]["nlu"]["lm"], m["config"]["nlu"], m["config"]["fit"]
    student, distil = fit["student_fit"], fit["distil"]
    d, lm_run = m["training"]["distillation"], m["training"]["lm"]
    widths = ", ".join(f"{w}:{n}" for w, n in lm["filters"])
    files = m["files"]
    rows = [
        ["language model", f"char CNN (width:filters {widths}), {lm['n_highway']} highway, projection "
         f"{lm['proj_dim']}, {lm['n_layers']} biLSTM layer of {lm['hidden_dim']} a direction, vocabulary "
         f"{num(lm['vocab_size'])}; held-out perplexity {f2(lm_run['heldout_perplexity'])} after epoch "
         f"{lm_run['epoch']}"],
        ["NLU heads", f"shared biLSTM 2×{nlu['shared_hidden']}, intent MLP {nlu['intent_hidden']} over max+mean "
         f"pooling ({nlu['n_intents']} intents), slot biLSTM 2×{nlu['slot_hidden']} → CRF ({nlu['n_tags']} tags)"],
        ["supervised fit", f"{student['epochs']} epochs, batch {student['batch_size']}, lr {student['lr']}, "
         f"unfreezing at epochs {', '.join(map(str, student['unfreeze_at']))}, seed {student['seed']}: test "
         f"{trio(d['student_metrics']['test'])}"],
        ["distillation", f"{num(d['steps'])} steps over {num(d['unlabeled'])} unlabeled utterances, "
         f"KL at temperature {distil['temperature']} × {distil['kd_weight']}, seed {distil['seed']}; MiniLM "
         f"teacher test {trio(d['teacher']['test'])}"],
        ["data", f"MASSIVE en-US: {num(m['training']['data']['train'])} train, {num(m['training']['data']['dev'])} "
         f"dev (every choice), {num(m['training']['data']['test'])} test (reported figures only)"],
        ["graphs", ", ".join(f"`{name}` {files[name]['bytes'] / 1e6:.1f} MB" for name in files)
         + f"; opset {m['graph_io']['opset']}"],
        ["parity", f"{m['parity']['utterances']} test utterances at batch sizes "
         f"{', '.join(map(str, m['parity']['batch_sizes']))}: largest difference "
         f"{m['parity']['max_abs_diff_slot_emissions']:.1e} (tolerance {m['parity']['atol']})"],
        ["int8 gate", f"chosen on dev: {trio(m['variants']['int8']['dev'])} against fp32's "
         f"{trio(m['variants']['int8']['fp32_dev'])}, within {m['variants']['int8']['max_drop']} points; "
         f"test, read after: {trio(m['variants']['int8']['test'])} (fp32 {trio(m['variants']['int8']['fp32_test'])})"],
    ]
    return "\n\n".join([table(["", f"`models/default` ({m['name']} {m['version']})"], rows),
                        source("`models/default/manifest.json`, written by `make export`")])


def md_report(path: str) -> str:
    """A report that is itself markdown (experiments.reproduce_report, experiments.bench.encoders), as it stands."""
    return (REPO / path).read_text().strip()


def distillation(path: str = "reports/distillation/summary.json") -> str:
    """The distillation runs of training.distil_report; the one models/default came from in bold."""
    summary = report(path)
    shipped = manifest("models/default")["training"]["distillation"]["steps"]
    runs = summary["runs"]
    rows = [["supervised start", "0", trio(runs[0]["history"][0]), trio(runs[0]["student_test"])]]
    for r in runs:
        c = r["config"]
        name = f"{c.get('passes', 1)} pass{'es' if c.get('passes', 1) > 1 else ''}, KD weight {c['kd_weight']:g}"
        if r["steps"] == shipped:
            rows.append([f"**{name}** (`{r['run']}`, shipped)", num(r["steps"]), f"**{trio(r['dev'])}**",
                         f"**{trio(r['test'])}**"])
        else:
            rows.append([f"{name} (`{r['run']}`)", num(r["steps"]), trio(r["dev"]), trio(r["test"])])
    return table(["run", "steps", "dev intent / slot F1 / exact", "test intent / slot F1 / exact"], rows)


def distillation_ensemble(root: str = "reports/distillation/ensemble") -> str:
    """`make distil-ensemble`'s dev-only choices: the teachers, then the candidate against the shipped model."""
    teachers = report(f"{root}/teachers.json")
    rows = [[f"MiniLM teacher `{t}`", f2(acc), "–"] for t, acc in teachers["dev_intent_each"].items()]
    rows.append([f"their ensemble (averaged logits){' — chosen' if len(teachers['chosen']) > 1 else ''}",
                 f2(teachers["dev_intent_ensemble"]), "–"])
    return table(["model", "dev intent (/ slot F1 / exact)", "test intent / slot F1 / exact"],
                 rows + candidate_rows(root))


def candidate_rows(root: str) -> list[list[str]]:
    """A distillation candidate against the shipped model it started from, by `experiments.distil_choice`'s
    verdict; test only if the verdict adopted it."""
    verdict = report(f"{root}/verdict.json")
    tested = (REPO / root / "test.json").exists()
    test = trio(report(f"{root}/test.json")["test"]) if tested else "not read"
    return [["shipped model (the candidate's start)", trio(verdict["shipped_dev"]), "–"],
            [f"candidate `{verdict['candidate']}` ({'adopted' if verdict['adopt'] else 'not adopted'}: "
             f"selection score {verdict['selection_score_gain']:+.2f})", trio(verdict["candidate_dev"]), test]]


def distillation_confident(root: str = "reports/distillation/confident") -> str:
    """`make distil-confident`: the same candidate, distilled only where the ensemble teacher is sure."""
    return table(["model", "dev intent / slot F1 / exact", "test intent / slot F1 / exact"], candidate_rows(root))


def recipes() -> str:
    rows = [[f"{r['run']}: {r['recipe']}", trio(r["dev"]), trio(r["test"])]
            for r in report("reports/recipes/massive_variants.json")]
    return table(["run", "dev intent / slot F1 / exact", "test intent / slot F1 / exact"], rows)


def whole_set() -> str:
    """SNIPS and MASSIVE whole-set figures: ours from the runs' reports, the papers' from published.json."""
    snips, snips_kd = report("reports/whole_set/snips_elmol.json"), report("reports/distillation/snips/summary.json")
    massive_kd, published = report("reports/distillation/summary.json"), report("reports/published.json")
    default = manifest("models/default")
    run = snips_kd["runs"][0]

    def row(data: str, model: str, m: dict, digits: int = 2, strong: bool = False) -> list[str]:
        cells = [f"{m[k]:.{digits}f}" if k in m else "–" for k in ("intent_acc", "slot_f1", "exact_match")]
        return [data, model, *(bold(cells) if strong else cells)]

    rows = [row("SNIPS (700 test)", "**ours, ELMoL** (`make train-snips`, `reports/whole_set/snips_elmol.json`)",
                snips["metrics"]["test"], strong=True),
            row("SNIPS", "ours, ELMoL, distilled from a SNIPS MiniLM teacher (`make distil-snips`, "
                "`reports/distillation/snips/summary.json`)", run["test"]),
            row("SNIPS", "ours, ELMoL, the 12-epoch start of that run", run["student_test"]),
            row("SNIPS", "the MiniLM teacher of that run", snips_kd["teacher"]["test"])]
    rows += [row("SNIPS", f"{name} (published)", m, m["digits"]) for name, m in published["snips_test"].items()]
    rows += [row("MASSIVE en-US (2,974 test)",
                 "**ours, ELMoL-KD, distilled** (`models/default`, fp32; `make train-kd distil-kd`)",
                 default["metrics"]["test"], strong=True),
             row("MASSIVE en-US", "ours, ELMoL-KD, before distillation (`make train-kd`)",
                 default["training"]["distillation"]["student_metrics"]["test"]),
             row("MASSIVE en-US", "the MiniLM teacher (`make distil`)", massive_kd["teacher"]["test"]),
             row("MASSIVE en-US", "ours, FastText, same network and recipe (`reports/whole_set/massive_fasttext.json`)",
                 report("reports/whole_set/massive_fasttext.json")["metrics"]["test"])]
    rows += [row("MASSIVE en-US", f"{name} (published)", m, m["digits"])
             for name, m in published["massive_en_us_test"].items()]
    return table(["data", "model", "intent acc", "slot F1", "exact match"], rows)


def typos(path: str = "reports/typos.json") -> str:
    """Clean and noisy MASSIVE test (or dev), each model's drop and its ratio to the CRF's."""
    r = report(path)
    split = r.get("split", "test")
    rows = [[f"{name} (`{key}`)" if key != "classic" else name, trio(m["clean"]), trio(m["noisy"]),
             trio(m["drop"]), " / ".join(f2(x) for x in m["drop_vs_classic"].values())]
            for key, m in r["models"].items() for name in [m["name"]]]
    noise = r["noise"]
    flag = "" if split == "test" else " --split dev"
    return "\n\n".join([table(["model", f"clean {split}", "with typos", "drop (points)", "drop / CRF's drop"], rows),
                         source(f"`{path}` ({when(r)}, commit {r['commit']}), "
                                f"`python -m experiments.typos_eval{flag} --model-dir ...`",
                                f"noisy copy `{noise['file']}` (`python -m experiments.typos`, seed {noise['seed']}: "
                                f"{noise['rate']:.0%} of words of {noise['min_letters']}+ letters get one edit)")])


TABLES = {
    "typos": typos,
    "typos-dev": lambda: typos("reports/typos-dev.json"),
    "results": results,
    "model-card": model_card,
    "reproduce": lambda: md_report("reports/reproduce/full/tables.md"),
    "encoder-speed": lambda: md_report("reports/encoder_speed.md"),
    "distillation": distillation,
    "distillation-kd": lambda: distillation("reports/distillation/kd/summary.json"),
    "distillation-ensemble": distillation_ensemble,
    "distillation-confident": distillation_confident,
    "recipes": recipes,
    "whole-set": whole_set,
}
