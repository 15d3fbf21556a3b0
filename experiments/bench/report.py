"""The benchmark's context (machine, versions, model, date), the target ratios and the printed table."""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys

import onnxruntime as ort

from elmol_nlu.manifest import Manifest

# Issue targets are server-side at low load; the product target is per utterance.
TARGETS_MS = {"issue_p50": 3.0, "issue_p99": 10.0, "product_p50": 1.0}


def context(manifest: Manifest) -> dict:
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"nproc": os.cpu_count(), "affinity": sorted(os.sched_getaffinity(0)),
                    "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "python": sys.version.split()[0], "loadavg_start": list(os.getloadavg())},
        "onnxruntime": ort.__version__,
        "model": {"name": manifest.name, "version": manifest.version, "dir": str(manifest.directory)},
    }


def ratios(p50: float, p99: float) -> dict:
    """Measured / target: below 1 meets it."""
    t = TARGETS_MS
    return {"p50_vs_issue_3ms": p50 / t["issue_p50"], "p99_vs_issue_10ms": p99 / t["issue_p99"],
            "p50_vs_product_1ms": p50 / t["product_p50"]}


def row(label: str, s: dict, scale: float = 1.0, rate: float | None = None) -> str:
    rate = s["per_s"] * scale if rate is None else rate
    cells = [s[k] / scale for k in ("p50", "p90", "p99", "mean")]
    return f"{label:<28}{s['n']:>6}" + "".join(f"{c:>8.2f}" for c in cells) + f"{rate:>9.0f}"


def inprocess_rows(part: dict) -> list[str]:
    t = f"{part.get('precision', 'fp32')} T={part['threads']}"
    rows = [row(f"in-proc {t} batch 1", part["single"]["all"])]
    rows += [row(f"  tokens {name}", s) for name, s in part["single"]["by_tokens"].items() if s["n"]]
    rows += [row(f"in-proc {t} b{b['batch']} /utt", b["call"], scale=b["batch"], rate=b["utt_per_s"])
             for b in part["batched"]]
    rows += [row(f"  after {gap} ms idle", s) for gap, s in part.get("after_idle_ms", {}).items()]
    rows += [row(f"  after {gap} ms busy-waiting", s) for gap, s in part.get("after_busy_wait_ms", {}).items()]
    rows += [row(f"  {name}"[:28], s) for name, s in part.get("interleaved_ms", {}).items()]
    return rows


def ratio_lines(name: str, r: dict) -> list[str]:
    return [f"{name}: p50/3ms = {r['p50_vs_issue_3ms']:.2f}x  p99/10ms = {r['p99_vs_issue_10ms']:.2f}x  "
            f"p50/1ms (product) = {r['p50_vs_product_1ms']:.2f}x   (<1 meets the target)"]


def table(result: dict) -> str:
    lines = [f"{'ms':<28}{'n':>6}{'p50':>8}{'p90':>8}{'p99':>8}{'mean':>8}{'utt/s':>9}"]
    for part in result["inprocess"]:
        lines += inprocess_rows(part)
    if http := result.get("http"):
        lines.append(row(f"HTTP server {http.get('precision', 'fp32')} T={http['threads']}", http["server_ms"]))
        lines.append(row("HTTP client round-trip", http["round_trip_ms"]))
    lines.append("")
    for name, r in result["targets"].items():
        lines += ratio_lines(name, r)
    m = result["machine"]
    lines.append(f"{result['model']['name']} {result['model']['version']}, onnxruntime {result['onnxruntime']}, "
                 f"{m['nproc']} cpus, loadavg {m['loadavg_start'][0]:.2f} -> {m['loadavg_end'][0]:.2f}")
    return "\n".join(lines)
