"""docs/SERVICE.md's table of what the review queue costs: `make bench-review`."""

from __future__ import annotations

from tools.docs_tables.common import f2, num, report, source, table, when


def review_load() -> str:
    rep = report("reports/review_load.json")
    args = rep["args"]
    rows = [[name, f"{num(t['served'])} of {num(t['sent'])}", num(t["stored"]), f2(t["server_ms"]["p50"]),
             f2(t["server_ms"]["p99"]), f2(t["server_ms"]["p99.9"]), f"{rep['p99_ratio'][name]:.2f}×"]
            for name, t in rep["targets"].items()]
    head = ["ELMOL_REVIEW", "answered", "kept for review", "server p50 ms", "p99 ms", "p99.9 ms", "p99 / off"]
    return "\n\n".join([table(head, rows), source(
        f"`reports/review_load.json` ({when(rep)}, `make bench-review`: {num(rep['rate_per_s'])} requests/s, "
        f"{args['load']:.0%} of saturation, {args['rounds']} rounds of {args['seconds']:.0f} s a target in turn, "
        f"seed {args['seed']}, one worker pinned to a core, MASSIVE test texts)")])


TABLES = {"review-load": review_load}
