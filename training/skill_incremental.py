"""Incremental skill training: more examples, or new intents and slots, for a skill that exists.

A skill directory keeps what a later run needs (``export.skill`` writes both): its heads' weights
(``skill.pt``; the shared encoder is the base's, so it is left out) and the annotated utterances it was
trained and chosen on (``data.jsonl``, MASSIVE JSON lines with partitions). A run ``--from`` that directory
starts from those weights, grows the output layers for labels it did not know (the rows of the labels it
knew copied, CRF transitions included), and trains on the old examples together with the new ones
(rehearsal: what the skill knew stays in every batch, so it is not forgotten) for fewer epochs than a new
skill needs. The old dev split stays dev, so "did it forget?" is measured on the examples it was chosen on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from elmol_nlu.annotations import read_annotations
from elmol_nlu.annotations.writers import massive_lines
from elmol_nlu.datasets import TaggedExample, tag
from elmol_nlu.manifest import Manifest, ManifestError, load_manifest
from elmol_nlu.vocab import Vocab
from training.nlu import JointNLU, with_new_outputs

log = logging.getLogger("skill")
CHECKPOINT, DATA = "skill.pt", "data.jsonl"


def save_state(model: JointNLU, state: dict, train: list[TaggedExample], dev: list[TaggedExample],
               out: Path) -> dict:
    """Write ``skill.pt`` and ``data.jsonl`` into ``out``; the manifest's ``incremental`` entry."""
    shared = state["skill"]["share_encoder"]
    weights = {k: v for k, v in model.state_dict().items() if not (shared and k.startswith("encoder."))}
    torch.save({"config": model.cfg.to_dict(), "intents": state["intents"], "tags": state["tags"],
                "skill": state["skill"], "model": weights}, out / CHECKPOINT)
    (out / DATA).write_text(massive_lines([e.example for e in train], "train")
                            + massive_lines([e.example for e in dev], "dev"), encoding="utf-8")
    return {"checkpoint": CHECKPOINT, "data": DATA, "shared_encoder": shared}


@dataclass(frozen=True)
class Previous:
    """A trained skill to go on from: its manifest, weights and the examples it was trained and chosen on."""

    manifest: Manifest
    state: dict
    train: list[TaggedExample]
    dev: list[TaggedExample]

    @property
    def name(self) -> str:
        return self.manifest.skill

    def model(self, source: JointNLU, intents: Vocab, tags: Vocab, multi_intent: bool) -> JointNLU:
        """``source`` (the base, whose encoder the skill shares) with the skill's heads, grown to ``intents`` and
        ``tags``."""
        old_intents, old_tags = self.state["intents"], self.state["tags"]
        model = with_new_outputs(source, len(old_intents), old_tags)
        cfg = self.state["config"]
        model.cfg = replace(model.cfg, multi_intent=cfg.get("multi_intent", False),
                            intent_threshold=cfg.get("intent_threshold", 0.5))
        missing, unexpected = model.load_state_dict(self.state["model"], strict=False)
        if unexpected or any(not k.startswith("encoder.") for k in missing):
            raise ManifestError(f"{self.manifest.directory / CHECKPOINT} does not fit the base model's network "
                                f"(missing {missing[:3]}, unexpected {unexpected[:3]}): train the skill anew")
        return grow(model, old_intents, old_tags, intents, tags, multi_intent)


def load_previous(skill_dir: Path) -> Previous:
    manifest = load_manifest(skill_dir)
    entry = manifest.raw.get("incremental")
    if not entry:
        raise ManifestError(f"{skill_dir} keeps no training state (it was trained before `--from` existed): "
                            "train it anew from its annotated data")
    state = torch.load(skill_dir / entry["checkpoint"], map_location="cpu", weights_only=False)
    train, dev = examples_of(skill_dir)
    return Previous(manifest, state, train, dev)


def examples_of(skill_dir: Path) -> tuple[list[TaggedExample], list[TaggedExample]]:
    """The train and dev examples a skill directory keeps (``data.jsonl``); empty when it keeps none."""
    if not (skill_dir / DATA).is_file():
        return [], []
    items, _ = read_annotations(skill_dir / DATA, "massive")
    return ([tag(i.example) for i in items if i.partition == "train"],
            [tag(i.example) for i in items if i.partition == "dev"])


def other_skills(skills_dir: Path, *exclude: Path) -> dict[str, list[TaggedExample]]:
    """The examples of every skill in ``skills_dir`` (but ``exclude``), by directory name: what a new skill
    served beside them learns is not its own."""
    skip = {p.resolve() for p in exclude if p is not None}
    found = {}
    for d in sorted(skills_dir.iterdir()) if skills_dir.is_dir() else []:
        if d.resolve() not in skip and (d / DATA).is_file():
            train, dev = examples_of(d)
            found[d.name] = train + dev
    return found


def grow(model: JointNLU, old_intents: list[str], old_tags: list[str], intents: Vocab, tags: Vocab,
         multi_intent: bool) -> JointNLU:
    """New output layers for ``intents`` and ``tags``; each label the model knew keeps its trained row."""
    intent_out, slot_out, crf = model.intent_mlp[-1], model.slot_out, model.crf
    model = with_new_outputs(model, len(intents), tags.itos)
    model.cfg = replace(model.cfg, multi_intent=multi_intent)
    i_new, i_old = _matches(intents.itos, old_intents)
    t_new, t_old = _matches(tags.itos, old_tags)
    with torch.no_grad():
        model.intent_mlp[-1].weight[i_new] = intent_out.weight[i_old]
        model.intent_mlp[-1].bias[i_new] = intent_out.bias[i_old]
        model.slot_out.weight[t_new] = slot_out.weight[t_old]
        model.slot_out.bias[t_new] = slot_out.bias[t_old]
        model.crf.start[t_new] = crf.start[t_old]
        model.crf.end[t_new] = crf.end[t_old]
        model.crf.transitions[t_new[:, None], t_new[None, :]] = crf.transitions[t_old[:, None], t_old[None, :]]
    added = sorted(set(intents.itos) - set(old_intents))
    log.info("incremental: %d of %d intents and %d of %d tags carried over%s", len(i_new), len(intents),
             len(t_new), len(tags), f"; new intents {added}" if added else "")
    return model


def _matches(new: list[str], old: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Index tensors (into ``new``, into ``old``) of the labels both have."""
    pairs = [(i, old.index(name)) for i, name in enumerate(new) if name in old]
    return torch.tensor([p[0] for p in pairs], dtype=torch.long), torch.tensor([p[1] for p in pairs], dtype=torch.long)
