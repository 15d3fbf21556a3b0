"""``elmol-nlu skill add / remove / list``: a skills directory (what ``ELMOL_SKILLS_DIR`` serves) and, with
``--service``, the running service's admin API. Standard library only: no torch, no HTTP client."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from cli.errors import UsageError
from elmol_nlu.manifest import load_manifest


def call(args: argparse.Namespace, method: str, path: str) -> dict:
    """One admin or read call to ``args.service``; the server's own message on failure."""
    request = urllib.request.Request(args.service.rstrip("/") + path, method=method)
    token = args.token or os.environ.get("ELMOL_ADMIN_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace")
        with contextlib.suppress(json.JSONDecodeError, AttributeError):
            detail = json.loads(detail).get("detail", detail)
        raise UsageError(f"{args.service} answered {e.code} to {method} {path}: {detail}") from None
    except (urllib.error.URLError, OSError) as e:
        raise UsageError(f"cannot reach the service at {args.service}: {e}") from None


def cmd_add(args: argparse.Namespace) -> None:
    manifest = load_manifest(args.model_dir)  # verified: checksums, shapes
    name = manifest.skill
    if args.service:
        served = call(args, "GET", "/skills")["skills"]
        primary = next(s for s in served if s["primary"])
        if primary["encoder_id"] != manifest.encoder_id:
            raise UsageError(f"{args.model_dir} was trained on another encoder than {args.service} serves "
                              f"({primary['model']['name']} {primary['model']['version']}): retrain it with "
                              "--base on that model")
    target = args.skills_dir / name
    if target.resolve() != args.model_dir.resolve():
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(args.model_dir, target)
        print(f"copied {args.model_dir} to {target}")
    if args.service:
        answer = call(args, "POST", f"/admin/skills/{name}")
        print(f"{args.service} now serves: {', '.join(answer['skills'])}")
    else:
        print(f"skill {name!r} is in {args.skills_dir}: a service started with ELMOL_SKILLS_DIR={args.skills_dir} "
              "serves it (or add --service to load it into a running one)")


def cmd_remove(args: argparse.Namespace) -> None:
    if args.service:
        answer = call(args, "DELETE", f"/admin/skills/{args.name}")
        print(f"{args.service} now serves: {', '.join(answer['skills'])}")
    target = args.skills_dir / args.name
    if target.is_dir() and (target / "manifest.json").is_file():
        shutil.rmtree(target)
        print(f"removed {target}")
    elif not args.service:
        raise UsageError(f"no skill {args.name!r} in {args.skills_dir}")


def cmd_list(args: argparse.Namespace) -> None:
    rows = []
    if args.service:
        for s in call(args, "GET", "/skills")["skills"]:
            dev = s["metrics"].get("dev", {})
            rows.append((s["name"] + (" (model)" if s["primary"] else ""), s["model"]["version"],
                         len(s["intents"]), dev.get("intent_acc"), dev.get("slot_f1")))
    else:
        for d in sorted(p for p in args.skills_dir.glob("*") if (p / "manifest.json").is_file()):
            m = load_manifest(d, verify=False)
            dev = m.metrics.get("dev", {})
            rows.append((m.skill, m.version, len(m.intents), dev.get("intent_acc"), dev.get("slot_f1")))
    if not rows:
        print(f"no skills in {args.skills_dir}")
        return
    print(f"{'skill':<28} {'version':<22} {'intents':>7} {'dev intent':>10} {'dev slot F1':>11}")
    for name, version, intents, acc, f1 in rows:
        print(f"{name:<28} {version:<22} {intents:>7} {fmt(acc):>10} {fmt(f1):>11}")


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def add_commands(skill: argparse._SubParsersAction) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--skills-dir", type=Path, default=Path("skills"),
                       help="the directory a service serves with ELMOL_SKILLS_DIR (default skills/)")
        p.add_argument("--service", default=None, help="a running service, e.g. http://localhost:8000")
        p.add_argument("--token", default=None, help="its admin token (default $ELMOL_ADMIN_TOKEN)")

    a = skill.add_parser("add", help="put a skill in the skills directory (and load it into a service)",
                         description="Verifies the skill directory, copies it into --skills-dir and, with "
                         "--service, asks the running service to load it (POST /admin/skills/NAME): no restart, "
                         "requests in flight finish on the skills they started with.")
    a.add_argument("model_dir", type=Path)
    common(a)
    a.set_defaults(run=cmd_add)
    r = skill.add_parser("remove", help="stop serving a skill and delete it from the skills directory")
    r.add_argument("name")
    common(r)
    r.set_defaults(run=cmd_remove)
    li = skill.add_parser("list", help="the skills of a service (--service) or of the skills directory")
    common(li)
    li.set_defaults(run=cmd_list)
