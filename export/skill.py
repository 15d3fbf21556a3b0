"""A skill's model directory: the base model's token and encoder graphs (copied byte for byte, so the
encoder id is the base's), the skill's own heads, and a manifest with parity, int8 gate and calibration.
The directory is a complete model: the service serves it alone or beside the base and other skills.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from elmol_nlu.calibration import claim_threshold
from elmol_nlu.manifest import MANIFEST, ManifestError, load_manifest, sha256_of, write_manifest
from elmol_nlu.runtime import Predictor, Selection
from elmol_nlu.runtime.evaluate import evaluate_dir
from elmol_nlu.text import normalize
from export.calibrate import calibrate
from export.parity import check_parity
from export.quantize import INT8_GRAPHS, int8_gate, write_int8
from export.to_onnx import GRAPHS, export_encoder, export_heads, manifest_content
from training.skill import TrainedSkill
from training.skill_incremental import CHECKPOINT, DATA, save_state

log = logging.getLogger("export.skill")
SHARED = ("tokens", "encoder")  # the roles a skill takes from its base
LEXICAL = "lexical.npz"
# elmol_nlu.calibration.claim_threshold's rule, chosen on MASSIVE dev by the routing bench (recall92: 96.4% routed
# right, balanced: 92.7%): five skills each claiming a few of the base's utterances add up
CLAIM_RULE = "recall92"


def source_checkpoint(base_dir: Path) -> Path:
    """The training checkpoint a model directory was exported from (its manifest's ``source``), checked."""
    source = load_manifest(base_dir).raw.get("source") or {}
    if "checkpoint" not in source:
        raise ManifestError(f"{base_dir} does not name the checkpoint it was exported from: re-export it")
    path = Path(source["checkpoint"])
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, base_dir.resolve().parent.parent / path]
    for candidate in candidates:
        if candidate.is_file():
            if sha256_of(candidate) != source.get("sha256"):
                raise ManifestError(f"{candidate} is not the checkpoint {base_dir} was exported from (sha256)")
            return candidate
    raise ManifestError(f"{base_dir} was exported from {path}, which is not here: pass --base the checkpoint")


def copy_encoder(base_dir: Path, out: Path) -> dict:
    """The base's token and encoder graphs (and int8 encoder) into ``out``; the base's identity."""
    base = load_manifest(base_dir)
    files = [base.graphs[role] for role in SHARED]
    int8 = base.raw.get("variants", {}).get("int8", {}).get("graphs", {}).get("encoder")
    for name in [*files, *([int8] if int8 else [])]:
        shutil.copyfile(base_dir / name, out / name)
    return {"name": base.name, "version": base.version, "encoder_id": base.encoder_id, "int8": bool(int8)}


def copy_spelling(base_dir: Path, out: Path, content: dict) -> None:
    """The base's spelling vocabulary, when it has one: the skill corrects unknown words as its encoder does."""
    entry = load_manifest(base_dir, verify=False).raw.get("spelling")
    if entry:
        shutil.copyfile(base_dir / entry["file"], out / entry["file"])
        content["files"] = [*content["files"], entry["file"]]
        content["spelling"] = dict(entry)


def export_skill(skill: TrainedSkill, name: str, base_dir: Path, out: Path) -> dict:
    """Write the skill directory; returns the manifest content. Exits if parity fails."""
    model, state, train, dev = skill.model, skill.state, skill.train, skill.dev
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    base = copy_encoder(base_dir, out)
    shared = state["skill"]["share_encoder"]
    if not shared:  # fine-tuned: its own graphs, so its own encoder id
        export_encoder(model, out)
        base["int8"] = True
    export_heads(model, out)
    base_words = load_manifest(base_dir, verify=False).warm_words
    words = sorted({*base_words, *(normalize(w) for e in train + dev for w in e.words)})
    content = {**manifest_content(model, state, name, words, out), "skill": name, "base": base,
               "out_of_skill": state.get("out_of_skill")}
    if shared and content["encoder_id"] != base["encoder_id"]:
        raise ManifestError("the copied encoder graphs do not match the base's encoder id")
    copy_spelling(base_dir, out, content)
    content["incremental"] = save_state(model, state, train, dev, out)  # what `skill train --from` goes on from
    content["files"] = [*content["files"], CHECKPOINT, DATA]
    if skill.lexical is not None:  # the lexical intent model the heads' intents are combined with
        skill.lexical.model.save(out / LEXICAL)
        content["lexical"] = {"file": LEXICAL, "weight": skill.lexical.weight,
                              "terms": len(skill.lexical.model.idf),
                              "fitted_on": "the skill's train and dev splits" if skill.selection_model is not None
                              else "the skill's train split"}
        content["files"] = [*content["files"], LEXICAL]
    write_manifest(out, content)
    report = check_parity(model, Predictor.load(out, spelling=False), [e.tokens for e in dev + train[:64]],
                          lexical=skill.lexical)
    if not report.ok:
        (out / MANIFEST).unlink()
        sys.exit(f"parity failed: {report.to_dict()}")
    content["parity"] = report.to_dict()
    if base["int8"]:
        write_int8(out, GRAPHS, roles=("heads",) if shared else ("encoder", "heads"))
        content["files"] = [*content["files"], *INT8_GRAPHS.values()]
        write_manifest(out, {**content, "variants": {"int8": {"graphs": dict(INT8_GRAPHS)}}})
        # on every annotated utterance: quantisation error is what is measured, and dev alone is small
        content["variants"] = {"int8": {**int8_gate(out, train + dev), "gated_on": "the skill's train and dev"}}
        write_manifest(out, content)
    dev_report = None
    if skill.selection_model is None:
        content["calibration"] = calibrate(out, skill.dev + skill.out_of_skill_dev,
                                           f"{name} dev split and held-out out-of-skill utterances")
        write_manifest(out, content)
        if state.get("out_of_skill") and skill.out_of_skill_dev and skill.dev:
            content["claim"] = fit_claim(Predictor.load(out, precision="auto"), state["out_of_skill"], skill)
    else:
        carried, dev_report = chosen_on_dev(skill, name, base_dir, out)
        content.update(carried)
    write_manifest(out, content)
    log.info("wrote skill %s to %s", name, out)
    # what a refit model cannot say honestly, having trained on dev: dev scored by the model chosen on it
    return content if dev_report is None else {**content, "dev_report_before_refit": dev_report}


def chosen_on_dev(skill: TrainedSkill, name: str, base_dir: Path, out: Path) -> tuple[dict, dict]:
    """A refit skill's temperatures and claim threshold, and its dev report. It has trained on dev, so they come
    from the model chosen on dev and its lexical model (exported beside, then removed) and are carried over: the
    same recipe and epochs, so nearly the same confidence, where a fit on its own training data would be
    overconfident."""
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        selected = replace(skill, model=skill.selection_model, lexical=skill.selection_lexical,
                           selection_model=None, selection_lexical=None)
        chosen = export_skill(selected, name, base_dir, Path(tmp))
        dev_report = evaluate_dir(Path(tmp), skill.dev, "auto")
    carried = {"calibration": chosen["calibration"], **({"claim": chosen["claim"]} if "claim" in chosen else {})}
    suffix = ", by the model chosen on dev before the refit"
    return {key: {**value, "fitted_on": value["fitted_on"] + suffix} for key, value in carried.items()}, dev_report


def fit_claim(predictor: Predictor, other: str, skill: TrainedSkill) -> dict:
    """The calibrated P(out of skill) under which the skill claims an utterance, fitted by ``CLAIM_RULE`` on its
    dev split and held-out out-of-skill utterances (a skill that claims what is not its own takes it from the
    model that knows it; one that misses its own leaves it to a model that does not)."""
    column = predictor.manifest.intents.index(other)
    own, foreign = (out_of_skill_probabilities(predictor, [e.example.text for e in part], column)
                    for part in (skill.dev, skill.out_of_skill_dev))
    threshold = claim_threshold(own, foreign, CLAIM_RULE)
    log.info("claim when P(%s) < %.2f: %.1f%% of dev claimed, %.1f%% of held-out out-of-skill utterances left",
             other, threshold, 100 * np.mean(own < threshold), 100 * np.mean(foreign >= threshold))
    return {"threshold": threshold, "rule": CLAIM_RULE, "dev_claimed": round(100 * float(np.mean(own < threshold)), 2),
            "out_of_skill_left": round(100 * float(np.mean(foreign >= threshold)), 2),
            "fitted_on": f"{len(own)} dev and {len(foreign)} held-out out-of-skill utterances, calibrated, "
                         f"{predictor.precision}"}


def out_of_skill_probabilities(predictor: Predictor, texts: list[str], column: int,
                               skill: str | None = None) -> np.ndarray:
    """Calibrated P(out of skill) (intent ``column``) of each text, by the predictor's primary skill or ``skill``."""
    out: list[float] = []
    for i in range(0, len(texts), 64):
        chunk = texts[i : i + 64]
        parses = predictor.parse_batch(chunk, [Selection((skill,))] * len(chunk) if skill else None)
        out += [float(p.intent_probs[column]) for p in parses]
    return np.array(out)
