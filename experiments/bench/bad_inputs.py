"""Bad and odd inputs against the real server, over HTTP: what each one gets back, written to docs/RELIABILITY.md.

    python -m experiments.bench.bad_inputs                  # = make bad-inputs
    python -m experiments.bench.bad_inputs --out /tmp/r.md  # elsewhere

Starts ``python -m service`` on the shipped model (default settings), sends every case below once, one at a
time, and records the status and the answer's ``detail`` (or, for a parse, its intent and slots). A 503 that
sheds a request without an ``X-Deadline-Ms`` of its own is the machine being busy, not the input, so such a case
is sent again (at most twice). Rewrites the "Bad input" table of ``--out`` between its markers, leaving the rest
of the page alone. Exits 1 if any answer is a 5xx other than the intended 503, or if there is no answer at all.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from elmol_nlu.paths import DEFAULT_MODEL_DIR, PROJECT_ROOT
from experiments.bench.process import serve

log = logging.getLogger("bench.bad_inputs")
ROOT = PROJECT_ROOT
START, END = "<!-- bad-inputs:start -->", "<!-- bad-inputs:end -->"
JSON = "application/json"


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes | Callable[[], Iterator[bytes]] | None  # a generator is sent chunked, without Content-Length
    path: str = "/parse"
    method: str = "POST"
    content_type: str | None = JSON
    headers: dict[str, str] = field(default_factory=dict)
    shown: str | None = None  # the request as the table shows it, when the body is too long to show


def text(name: str, value: object, **kw: object) -> Case:
    return Case(name, json.dumps({"text": value}, ensure_ascii=False).encode(), **kw)


def texts(name: str, value: object, **kw: object) -> Case:
    return Case(name, json.dumps({"texts": value}, ensure_ascii=False).encode(), path="/parse/batch", **kw)


def raw(name: str, body: bytes, **kw: object) -> Case:
    return Case(name, body, **kw)


def chunks(size: int, n: int) -> Callable[[], Iterator[bytes]]:
    def body() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(n):
            yield b"x" * size
        yield b'"}'
    return body


def deadline(value: str) -> Case:
    return text(f"X-Deadline-Ms: {value!r}", "play some jazz", headers={"X-Deadline-Ms": value})


CASES = [
    text("a good utterance (reference)", "wake me up at seven tomorrow"),
    text("empty text", ""),
    text("only whitespace", " \t\n\u00a0\u3000 "),
    text("only punctuation", "?!... ,;"),
    text("only emoji", "😀🎉👍🏽"),
    text("Arabic (right to left)", "اضبط المنبه على الساعة السابعة"),
    text("Hebrew (right to left)", "תפעיל מוזיקה בבקשה"),
    text("right-to-left override inside English", "play \u202ezzaj\u202c in the kitchen"),
    text("control characters", "play\x00\x07 jazz\x1b[31m now"),
    text("zero-width characters only", "\u200b\u200d\u2060"),
    text("combining marks only", "\u0301\u0308\u0301"),
    text("a 512-character word", "a" * 512, shown="POST /parse {\"text\": \"aaa…\"} (one word of 512 a)"),
    text("513 characters", "y" * 513, shown="POST /parse {\"text\": \"yyy…\"} (513 characters)"),
    text("512 characters padded with spaces", "  " + "z" * 512 + "  ", shown="POST /parse 2 spaces + 512 z + 2 spaces"),
    text("unseen words", "blorptastic frobnicate the glargh zxqv"),
    text("mixed scripts and digits", "東京 weather in Zürich at 7:30 p. m. £20"),
    raw("lone surrogate (JSON escape)", b'{"text": "play \\ud800 jazz"}'),
    raw("invalid UTF-8 bytes", b'{"text": "play \xff\xfe jazz"}'),
    raw("UTF-16 body", '{"text": "play some jazz"}'.encode("utf-16"),
        shown='POST /parse {"text": "play some jazz"} in UTF-16 with a byte-order mark'),
    raw("empty body", b""),
    raw("invalid JSON", b'{"text": "play jazz"'),
    raw("JSON string, not an object", b'"play jazz"'),
    raw("text is a number", b'{"text": 5}'),
    raw("text is null", b'{"text": null}'),
    raw("text is a list", b'{"text": ["play jazz"]}'),
    raw("missing text", b"{}"),
    raw("extra field", b'{"text": "play jazz", "lang": "en"}'),
    raw("duplicate key", b'{"text": "stop", "text": "play jazz"}'),
    raw("NaN (not JSON, Python reads it)", b'{"text": NaN}'),
    raw("Infinity in an extra field", b'{"text": "play jazz", "volume": Infinity}'),
    raw("lone surrogate in an extra field", b'{"text": "play jazz", "x": "\\ud800"}'),
    raw("deeply nested JSON", b'{"text": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
        shown="POST /parse {\"text\": [[[…]]]} (20,000 levels)"),
    raw("5,000-digit number", b'{"text": ' + b"9" * 5000 + b"}", shown="POST /parse {\"text\": 999…} (5,000 digits)"),
    text("body over 256 KiB (Content-Length)", "x" * 270_000, shown="POST /parse, 270,012-byte body"),
    Case("body over 256 KiB (chunked)", chunks(64 * 1024, 8),
         shown="POST /parse, 512 KiB chunked, no Content-Length"),
    text("Content-Type: text/plain", "play jazz", content_type="text/plain"),
    text("form Content-Type (curl -d)", "play jazz", content_type="application/x-www-form-urlencoded"),
    text("no Content-Type", "play jazz", content_type=None),
    text("JSON with a charset", "play jazz", content_type="application/json; charset=utf-8"),
    Case("wrong method", None, method="GET", content_type=None),
    text("unknown path", "play jazz", path="/nope"),
    text("trailing slash", "play jazz", path="/parse/"),
    texts("batch: empty", []),
    texts("batch: 65 texts", ["play jazz"] * 65, shown="POST /parse/batch 65 × \"play jazz\""),
    texts("batch: a blank item", ["play jazz", "   ", "stop"]),
    texts("batch: a number item", ["play jazz", 3]),
    texts("batch: texts is a string", "play jazz"),
    texts("batch: 64 × 512 ASCII characters", ["w" * 512] * 64, shown="POST /parse/batch 64 × 512 w (33 KiB)"),
    texts("batch: 64 × 512 CJK characters", ["東" * 512] * 64, shown="POST /parse/batch 64 × 512 東 (96 KiB)"),
    deadline("soon"),
    deadline(""),
    deadline("0"),
    deadline("-5"),
    deadline("nan"),
    deadline("inf"),
    deadline("0.001"),
]


def request_shown(case: Case) -> str:
    if case.shown:
        return case.shown
    parts = [f"{case.method} {case.path}"]
    parts += [f"{k}: {v!r}" for k, v in case.headers.items()]
    if case.content_type != JSON:
        parts.append(f"Content-Type: {case.content_type}" if case.content_type else "no Content-Type")
    if isinstance(case.body, bytes) and case.body:
        parts.append(visible(case.body.decode("utf-8", "backslashreplace"), 70))
    return " ".join(parts)


def visible(s: str, width: int) -> str:
    """Control and format characters (bidi overrides too) escaped, so that the table shows what was sent."""
    s = "".join(repr(c)[1:-1] if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in s)
    return s if len(s) <= width else s[: width - 1] + "…"


def send(client: httpx.Client, case: Case) -> httpx.Response:
    headers = dict(case.headers)
    if case.content_type:
        headers["content-type"] = case.content_type
    content = case.body() if callable(case.body) else case.body
    return client.request(case.method, case.path, content=content, headers=headers)


def answer(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        if isinstance(detail, list):
            return "; ".join(f"{'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}" for e in detail)
        return str(detail)
    if isinstance(body, dict) and "intent" in body:
        slots = ", ".join(f"{s['name']}={s['value']!r}" for s in body["slots"])
        return f"intent {body['intent']['name']} ({body['intent']['confidence']:.2f}); slots: {slots or 'none'}"
    if isinstance(body, dict) and "results" in body:
        return f"{len(body['results'])} parses"
    return json.dumps(body, ensure_ascii=False)


def shed(r: httpx.Response) -> bool:
    return r.status_code == 503 and "over capacity" in r.text


def send_again_if_dropped(client: httpx.Client, case: Case) -> httpx.Response:
    # A server error closes the connection after its answer; the next case would find it gone, through no fault
    # of its own: a case whose request fails on a kept-alive connection goes once more, on a new one.
    try:
        return send(client, case)
    except httpx.TransportError as e:
        log.info("%s: %s on a kept-alive connection, sending again", case.name, type(e).__name__)
        return send(client, case)


def run_case(client: httpx.Client, case: Case) -> tuple[int | None, str]:
    """Status (None when no answer came) and message of one case."""
    for _ in range(3):
        try:
            r = send_again_if_dropped(client, case)
        except httpx.HTTPError as e:
            return None, f"no answer: {type(e).__name__}: {e}"
        if not (shed(r) and "X-Deadline-Ms" not in case.headers):
            break
        log.info("%s: shed (%s), sending again", case.name, answer(r))
    if r.status_code in (301, 302, 307, 308):
        return r.status_code, f"redirect to {httpx.URL(r.headers.get('location', '')).path}"
    return r.status_code, answer(r)


def cell(s: str) -> str:
    return visible(s, 200).replace("\\", "\\\\").replace("|", "\\|").replace("`", "'")


def table(rows: list[tuple[Case, int | None, str]]) -> str:
    lines = ["| case | request | status | message / answer |", "|---|---|---|---|"]
    for case, status, message in rows:
        lines.append(f"| {cell(case.name)} | {cell(request_shown(case))} | {status or '–'} | {cell(message)} |")
    return "\n".join(lines)


def write_section(out: Path, body: str) -> None:
    page = out.read_text() if out.exists() else "# Reliability\n\n## Bad input\n\n"
    if START in page and END in page:
        head, rest = page.split(START, 1)
        page = head + START + "\n" + body + "\n" + END + rest.split(END, 1)[1]
    else:
        page = page.rstrip("\n") + f"\n\n{START}\n{body}\n{END}\n"
    out.write_text(page)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.bench.bad_inputs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--threads", type=int, default=1, help="onnxruntime threads of the server")
    p.add_argument("--server-cpus", type=int, nargs="*", help="pin the server to these CPUs (default: as this process)")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "RELIABILITY.md")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request says less than the table
    cpus = set(args.server_cpus) if args.server_cpus else None
    with serve(args.model_dir, args.threads, cpus) as url, httpx.Client(base_url=url, timeout=30.0) as client:
        rows = [(case, *run_case(client, case)) for case in CASES]
    bad = [(case.name, status, message) for case, status, message in rows
           if status is None or (status >= 500 and not (status == 503 and "over capacity" in message))]
    summary = f"{len(rows)} cases against `python -m service` (default settings, model `{args.model_dir.name}`): "
    summary += (f"{len(bad)} got a server error or no answer ({', '.join(name for name, _, _ in bad)})." if bad
                else "no server error but the shedding 503, and every case answered.")
    write_section(args.out, summary + "\n\n" + table(rows))
    log.info("%d cases, %d server errors; table written to %s", len(rows), len(bad), args.out)
    for name, status, message in bad:
        log.error("%s: %s %s", name, status, message)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
