"""docs/CONFIDENCE.md's tables: calibration and coverage (make confidence), out of scope, the posterior's cost."""

from __future__ import annotations

from tools.docs_tables.common import num, pct, report, source, table, when

KINDS = ("intent", "slot", "sequence")
OOS_SCORES = {
    "max_softmax": "max softmax (calibrated intent confidence)",
    "max_logit": "max logit",
    "energy": "energy, T·logsumexp(logits / T)",
    "sequence": "CRF sequence probability",
    "max_softmax_x_sequence": "max softmax × sequence probability",
}


def calibration() -> str:
    c = report("reports/confidence/calibration.json")
    rows = []
    for kind in KINDS:
        b, a = c["before"][kind], c["after"][kind]
        mean = f"{b['mean_confidence']:.3f} → {a['mean_confidence']:.3f}"
        rows.append([kind, num(a["n"]), pct(a["accuracy"], 2), mean, f"{b['ece']:.4f}", f"**{a['ece']:.4f}**",
                     f"{b['brier']:.4f}", f"{a['brier']:.4f}"])
    head = ["what", "n", "accuracy", "mean confidence before → after", "ECE before", "**ECE after**",
            "Brier before", "Brier after"]
    t = c["calibration"]
    return "\n\n".join([table(head, rows), source(
        f"`reports/confidence/calibration.json` (`make confidence`, model {c['model']['version']}, "
        f"{c['model']['precision']}; temperatures intent {t['intent_temperature']}, CRF {t['crf_temperature']}, "
        f"fitted on {t['fitted_on']})")])


def coverage() -> str:
    c = report("reports/confidence/calibration.json")["after"]
    by = {kind: {x["threshold"]: x for x in c[kind]["coverage"]} for kind in KINDS}
    rows = [[f"{t:g}", *[pct(by[kind][t][key]) for kind in KINDS for key in ("coverage", "accuracy_kept")]]
            for t in sorted(by["intent"])]
    head = ["threshold", "intents kept", "their accuracy", "slots kept", "their precision", "sequences kept",
            "all tags right"]
    return table(head, rows)


def threshold(v: float) -> str:
    return f"{v:.3f}" if abs(v) < 1 else f"{v:.2f}"


def out_of_scope() -> str:
    o = report("reports/confidence/out_of_scope.json")
    best = max(o["scores"], key=lambda k: o["scores"][k]["auroc"])
    rows = []
    for key, name in OOS_SCORES.items():
        s = o["scores"][key]
        cells = [name, f"{s['auroc']:.3f}", f"{s['fpr_at_95_tpr']:.3f}", threshold(s["threshold_at_95_tpr"])]
        rows.append([f"**{x}**" for x in cells[:2]] + cells[2:] if key == best else cells)
    return "\n\n".join([table(["score (higher = in scope)", "AUROC", "FPR at 95% TPR", "threshold at 95% TPR"],
                              rows),
                        source(f"`reports/confidence/out_of_scope.json` (`make out-of-scope`, model "
                               f"{o['model']['name']} {o['model']['version']}: {num(o['in_scope'])} in scope, "
                               f"{num(o['out_of_scope'])} out of scope)")])


def cost() -> str:
    c = report("reports/confidence/cost.json")
    rows = []
    for key, name in (("in_process", "in process (`Predictor.parse`)"),
                      ("http_server_side", "server-side over HTTP (`X-Process-Time-Ms`)")):
        w, wo = c[key]["with"], c[key]["without"]
        rows.append([name, f"{w['p50']:.3f} ms", f"{wo['p50']:.3f} ms", f"{c[key]['p50_ratio']:.3f}",
                     f"{w['p99']:.2f} ms", f"{wo['p99']:.2f} ms"])
    return "\n\n".join([table(["batch 1", "p50 with", "p50 without", "ratio", "p99 with", "p99 without"], rows),
                        source(f"`reports/confidence/cost.json` ({when(c)}, `make bench-confidence-cost`, model "
                               f"{c['model']['version']}, onnxruntime {c['onnxruntime']})")])


TABLES = {"calibration": calibration, "coverage": coverage, "out-of-scope": out_of_scope, "confidence-cost": cost}
