"""docs/PERFORMANCE.md's tables (and the README's summary), from make bench, bench-predictor and bench-server."""

from __future__ import annotations

from tools.docs_tables.common import f2, num, report, source, table, when

ROUNDS = "a9c2fbb"  # the commit whose two alternating rounds of each model make the standing table
SIDE_BY_SIDE = {"default": tuple(f"reports/side_by_side/{ROUNDS}_{i}.json" for i in (1, 2)),
                "fast": tuple(f"reports/side_by_side/{ROUNDS}_fast_{i}.json" for i in (1, 2))}
TARGET_NAMES = {"int8": "int8, hybrid (the default)", "int8-threads": "int8, batcher thread always",
                "int8-loop": "int8, event loop always", "fp32": "fp32, hybrid", "bare": "bare FastAPI app"}


def step(target: dict, fraction: float) -> dict:
    return next(s for s in target["steps"] if s["fraction"] == fraction)


def others(s: dict) -> int:
    """Answers neither 200 nor the shedding 503."""
    return sum(n for code, n in s["status"].items() if code not in ("200", "503")) + s["errors"]


def standing() -> str:
    """Issue 5's acceptance items, the two shipped models measured in the same minutes (two rounds each)."""
    runs = {name: [report(p)["targets"]["int8"] for p in paths] for name, paths in SIDE_BY_SIDE.items()}
    items = [
        ("saturation, int8, closed loop", "≥ 1,500/s", lambda t: t["saturation_per_s"], lambda v: num(v) + "/s",
         lambda v: v >= 1500),
        ("server-side p50 at 50% of saturation", "≤ 1 ms", lambda t: step(t, 0.5)["server_ms"]["p50"],
         lambda v: f"{v:.2f} ms", lambda v: v <= 1),
        ("server-side p99 at 50% of saturation", "≤ 5 ms", lambda t: step(t, 0.5)["server_ms"]["p99"],
         lambda v: f"{v:.2f} ms", lambda v: v <= 5),
        ("at 150%: served past the 50 ms deadline", "0", lambda t: step(t, 1.5)["served_past_budget"], str,
         lambda v: v == 0),
        ("at 150%: answers other than 200 and the shedding 503", "0", lambda t: others(step(t, 1.5)), str,
         lambda v: v == 0),
        ("at 150%: RSS growth over the step", "flat (< 5%)",
         lambda t: step(t, 1.5)["rss_mb_after"] / step(t, 1.5)["rss_mb_before"] - 1,
         lambda v: f"{100 * v:+.1f}%", lambda v: v < 0.05),
        ("at 150%: p99 of the served", "≤ 50 ms", lambda t: step(t, 1.5)["server_ms"]["p99"],
         lambda v: f"{v:.1f} ms", lambda v: v <= 50),
    ]
    rows = []
    for name, target, get, fmt, ok in items:
        row = [name, target]
        for model in runs:
            values = [get(t) for t in runs[model]]
            row += [" · ".join(fmt(v) for v in values), "yes" if all(ok(v) for v in values) else "**no**"]
        rows.append(row)
    first = report(SIDE_BY_SIDE["default"][0])
    head = ["acceptance (issue 5)", "target", "`models/default`", "met", "`models/fast`", "met"]
    return "\n\n".join([table(head, rows), source(
        f"`reports/side_by_side/{ROUNDS}_{{1,2}}.json` and `{ROUNDS}_fast_{{1,2}}.json`: two alternating rounds "
        f"of `python -m experiments.bench.server --model-dir M --targets int8` from {when(first)}, one worker "
        "on CPU 0, the load generator on CPU 1")])


def sweep_rows(rep: dict, targets: list[str], fractions: tuple[float, ...] | None) -> list[list[str]]:
    rows = []
    for name in targets:
        t = rep["targets"][name]
        for s in t["steps"]:
            if fractions and s["fraction"] not in fractions:
                continue
            srv, rt = s["server_ms"], s["round_trip_ms"]
            rows.append([TARGET_NAMES.get(name, name), num(t["saturation_per_s"]), f"{100 * s['fraction']:.0f}%",
                         num(s["offered_per_s"]), num(s["achieved_per_s"]), num(s["shed"]),
                         str(s["served_past_budget"]), f2(srv["p50"]), f2(srv["p99"]), f2(rt["p50"]), f2(rt["p99"]),
                         f"{s['cpu_ms_per_answer']:.2f}" if "cpu_ms_per_answer" in s else "–",
                         f"{s['rss_mb_before']:.0f} → {s['rss_mb_after']:.0f}"])
    return rows


SWEEP_HEAD = ["target", "saturation/s", "load", "offered/s", "served/s", "503", "late", "server p50 ms", "p99",
              "round trip p50", "p99", "CPU ms an answer", "RSS MB"]


def sweep(path: str, full: tuple[str, ...]) -> str:
    rep = report(path)
    rows = []
    for name in rep["targets"]:
        rows += sweep_rows(rep, [name], None if name in full else (0.5, 1.5))
    return "\n\n".join([table(SWEEP_HEAD, rows), source(
        f"`{path}` ({when(rep)}, `python -m experiments.bench.server --model-dir {rep['args']['model_dir']} --targets "
        f"{' '.join(rep['args']['targets'])}`; model {rep['model']['name']} {rep['model']['version']}; "
        f"{rep['args']['seconds']:g} s a step, seed {rep['args']['seed']})")])


def inprocess() -> str:
    lat = report("reports/latency.json")
    rows = []
    for part in lat["inprocess"]:
        one = part["single"]["all"]
        row = [part["precision"], str(part["threads"]), f2(one["p50"]), f2(one["p99"]), num(one["per_s"])]
        row += [f"{b['per_utt_ms']:.2f}" for b in part["batched"]]
        rows.append(row)
    batches = [f"batch {b['batch']}, ms per utterance (mean)" for b in lat["inprocess"][0]["batched"]]
    http = lat["http"]
    rows.append([f"HTTP, sequential, {http['precision']}, server-side", str(http["threads"]),
                 f2(http["server_ms"]["p50"]), f2(http["server_ms"]["p99"]), "", *[""] * len(batches)])
    rows.append(["HTTP, sequential, client round trip", str(http["threads"]), f2(http["round_trip_ms"]["p50"]),
                 f2(http["round_trip_ms"]["p99"]), "", *[""] * len(batches)])
    head = ["graph", "threads", "batch 1 p50 ms", "p99", "utt/s", *batches]
    return "\n\n".join([table(head, rows), source(
        f"`reports/latency.json` ({when(lat)}, `make bench`, model {lat['model']['version']}, onnxruntime "
        f"{lat['onnxruntime']}; {num(lat['args']['n'])} MASSIVE test utterances, seed {lat['args']['seed']})")])


def by_length_and_gaps() -> str:
    """Batch 1, one thread, int8 and fp32: by length, after gaps asleep and busy, interleaved with Python."""
    gaps = report("reports/latency_gaps.json")
    parts = [p for p in gaps["inprocess"] if p["threads"] == 1]
    keys = [("by_tokens", k, f"{k} tokens") for k in parts[0]["single"]["by_tokens"]]
    keys += [("after_idle_ms", k, f"after {k} ms asleep") for k in parts[0]["after_idle_ms"]]
    keys += [("after_busy_wait_ms", k, f"after {k} ms busy-waiting") for k in parts[0].get("after_busy_wait_ms", {})]
    keys += [("interleaved_ms", k, k) for k in parts[0]["interleaved_ms"]]
    rows = []
    for group, key, label in keys:
        cells = []
        for p in parts:
            s = p["single"]["by_tokens"][key] if group == "by_tokens" else p[group][key]
            cells.append(f"{f2(s['p50'])} / {f2(s['p99'])}")
        rows.append([label, *cells])
    return "\n\n".join([table(["batch 1, 1 thread", *[f"{p['precision']} p50 / p99 ms" for p in parts]], rows),
                        source(f"`reports/latency_gaps.json` ({when(gaps)}, `make bench`, model "
                               f"{gaps['model']['version']}), kept apart from `reports/latency.json`")])


def predictor() -> str:
    p = report("reports/predictor.json")
    ways = p["ways"]
    names = list(ways)
    rows = []

    def cell(s: dict) -> str:
        return f"{f2(s['p50'])} / {f2(s['p99'])}"

    def ratios(get) -> str:
        base = get(ways["pytorch"])["p50"]
        return ", ".join(f"{base / get(ways[w])['p50']:.1f}x" for w in names[1:])

    rows.append(["batch 1, all", *[cell(ways[w]["batch_1"]["all"]) for w in names],
                 ratios(lambda w: w["batch_1"]["all"])])
    for bucket in ways["pytorch"]["batch_1"]["by_tokens"]:
        rows.append([f"batch 1, {bucket} tokens", *[cell(ways[w]["batch_1"]["by_tokens"][bucket]) for w in names],
                     ratios(lambda w, b=bucket: w["batch_1"]["by_tokens"][b])])
    for size in ways["pytorch"]["batched_per_utt"]:
        rows.append([f"batch {size}, per utterance", *[cell(ways[w]["batched_per_utt"][size]) for w in names],
                     ratios(lambda w, n=size: w["batched_per_utt"][n])])
    agree = p["agreement_with_pytorch"]
    head = ["ms p50 / p99", *names, f"{', '.join(names[1:])} against PyTorch (p50)"]
    same = "; ".join(f"{w}: intent {100 * a['intent']:.1f}%, tags {100 * a['tags']:.1f}%" for w, a in agree.items())
    return "\n\n".join([table(head, rows), source(
        f"`reports/predictor.json` ({when(p)}, `make bench-predictor`, torch {p['torch']}, onnxruntime "
        f"{p['onnxruntime']}, 1 thread). Same answers as PyTorch on {num(p['args']['n'])} utterances: {same}")])


def pretrain_throughput() -> str:
    """docs/SCALING.md: pretraining tokens/s of one process and of DDP at the same global batch."""
    r = report("reports/pretrain_throughput.json")
    fastest = max(run["tokens_per_s"] for run in r["runs"])
    rows = []
    for run in r["runs"]:
        cells = [run["config"], num(run["tokens_per_s"]), f"{run['speedup_vs_1x1']:.2f}"]
        rows.append([*(f"**{c}**" for c in cells), f"{run['train_perplexity']:.1f}"]
                    if run["tokens_per_s"] == fastest else [*cells, f"{run['train_perplexity']:.1f}"])
    head = ["configuration", "tokens/s", "vs 1 × 1", f"train ppl after {r['runs'][0]['steps']} steps"]
    return "\n\n".join([table(head, rows), source(
        f"`reports/pretrain_throughput.json` (`make bench-pretrain`, torch {r['torch']}, {r['cpus']} CPUs, global "
        f"batch {num(r['global_batch_tokens'])} tokens)")])


def soak() -> str:
    """docs/RELIABILITY.md: `make soak`'s run, sample by sample summed up."""
    r = report("reports/soak.json")
    first, last = r["samples"][0], r["samples"][-1]
    status = r["verdict"]["status"]
    answered = sum(status.values())
    others = answered - status.get("200", 0) - status.get("503", 0)
    rows = [["saturation, then the soak's rate", f"{num(r['saturation_per_s'])}/s, then {num(r['rate_per_s'])}/s "
             f"for {float(r['args']['minutes']):g} minutes"],
            ["answers 200 / shed with 503 / other", f"{num(status.get('200', 0))} / {num(status.get('503', 0))} "
             f"({100 * status.get('503', 0) / answered:.2f}%) / {others}"],
            ["RSS, first window → last", f"{first['rss_mb']:.1f} → {last['rss_mb']:.1f} MB "
             f"({100 * r['verdict']['rss_growth']:+.1f}%)"],
            ["open file descriptors, first → last", f"{first['fds']} → {last['fds']}"],
            ["verdict", "passed" if not r["verdict"]["failures"] else "; ".join(r["verdict"]["failures"])]]
    return "\n\n".join([table(["", ""], rows), source(
        f"`reports/soak.json` ({when(r)}, `make soak`, model {r['model']['version']})")])


FAST_KD_RUNS = ("reports/server_load_fast_beside_kd.json", "reports/server_load_fast_kd.json",
                "reports/server_load_fast_kd_2.json", "reports/server_load_fast_beside_kd_2.json")


def fast_kd() -> str:
    """The re-distilled fast variant beside models/fast, int8, runs back to back in the order run."""
    rows = []
    for path in FAST_KD_RUNS:
        rep = report(path)
        t = rep["targets"]["int8"]
        half = next(s for s in t["steps"] if s["fraction"] == 0.5)
        rows.append([when(rep), f"`{rep['args']['model_dir']}`", num(t["saturation_per_s"]),
                     f2(half["server_ms"]["p50"]), f2(half["server_ms"]["p99"]), f"{half['cpu_ms_per_answer']:.2f}"])
    return "\n\n".join([table(["run", "model (int8)", "saturation/s", "server p50 ms at 50%", "p99",
                                "CPU ms an answer"], rows),
                         source(*(f"`{p}`" for p in FAST_KD_RUNS), "each `python -m experiments.bench.server "
                                "--model-dir DIR --targets int8`, 8 s a step, seed 0")])


# the incumbent and the candidate; a candidate adopted into models/fast needs the incumbent's manifest kept in
# reports/ and named here, or the rule would compare the new models/fast with itself
FAST_MANIFESTS = ("models/fast/manifest.json", "reports/fast_kd_manifest.json")
DEV = ("intent_acc", "slot_f1", "exact_match")


def dev_mean(path: str) -> float:
    dev = report(path)["metrics"]["dev"]
    return sum(dev[k] for k in DEV) / len(DEV)


def fast_kd_adopted() -> bool:
    """The Makefile's fast-kd rule: the re-distilled variant replaces models/fast if its dev mean is higher."""
    incumbent, candidate = FAST_MANIFESTS
    return dev_mean(candidate) > dev_mean(incumbent)


def fast_kd_choice() -> str:
    """Dev metrics of the re-distilled fast variant (its manifest, copied by `make fast-kd`) and models/fast."""
    rows = []
    for path in FAST_MANIFESTS:
        m = report(path)
        dev = m["metrics"]["dev"]
        rows.append([f"`{path}`", f"{m['name']} {m['version']}", *(f2(dev[k]) for k in DEV), f2(dev_mean(path))])
    verdict = ("the re-distilled variant is ahead on dev: it replaces `models/fast`" if fast_kd_adopted() else
               "the re-distilled variant is not ahead on dev: `models/fast` stays")
    return "\n\n".join([table(["manifest", "model", "dev intent acc", "slot F1", "exact match", "mean"], rows),
                         f"By the rule in the Makefile's `fast-kd` (the higher dev mean), {verdict}."])


TABLES = {
    "fast-kd-choice": fast_kd_choice,
    "sweep-fast-kd": fast_kd,
    "soak": soak,
    "pretrain-throughput": pretrain_throughput,
    "standing": standing,
    "sweep-default": lambda: sweep("reports/server_load.json", ("int8",)),
    "sweep-fast": lambda: sweep("reports/server_load_fast.json", ("int8", "fp32")),
    "inprocess": inprocess,
    "by-length-and-gaps": by_length_and_gaps,
    "predictor": predictor,
}
