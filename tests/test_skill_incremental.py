"""``elmol-nlu skill train DATA --from skills/NAME``: a skill goes on from its trained heads with more examples and
a new intent; skills learn each other's examples as not their own and claim by a threshold fitted on dev (trained
for real, seconds, on the tiny model of conftest)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import MASSIVE, TinyModel

from cli.main import main as cli
from elmol_nlu.annotations import read_annotations
from elmol_nlu.annotations.writers import massive_lines
from elmol_nlu.calibration import claim_threshold
from elmol_nlu.datasets import read_massive, tag
from elmol_nlu.manifest import load_manifest
from elmol_nlu.runtime import Predictor
from training.nlu import JointNLU, NLUConfig
from training.skill import OUT_OF_SKILL, out_of_skill_tag_weight, sample_negatives
from training.skill_incremental import grow

FIRST, ADDED = ("weather_query", "alarm_set"), "play_music"


def massive_file(path: Path, intents: tuple[str, ...], per_intent: int, skip: int = 0) -> Path:
    examples = read_massive(MASSIVE, "train")
    chosen = [e for i in intents for e in [e for e in examples if e.intent == i][skip : skip + per_intent]]
    path.write_text(massive_lines(chosen))
    return path


def train(*args: str) -> int:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*ill-defined.*")  # seqeval, a model of seconds
        return cli(["skill", "train", *args, "--time-budget", "60s"])


def test_grow_keeps_the_rows_of_known_labels_and_adds_new_ones(tiny_model: TinyModel) -> None:
    from elmol_nlu.vocab import Vocab

    old_tags = ["O", "B-a", "I-a"]
    model = JointNLU(NLUConfig(n_intents=2, n_tags=3, shared_hidden=8, slot_hidden=8, intent_hidden=8), old_tags)
    with torch.no_grad():
        for p in model.crf.parameters():
            p.normal_()
    old = {name: p.detach().clone() for name, p in (("intent", model.intent_mlp[-1].weight),
                                                     ("slot", model.slot_out.weight), ("crf", model.crf.transitions))}
    grown = grow(model, ["x", "y"], old_tags, Vocab(["new", "x", "y"]), Vocab(["O", "B-a", "I-a", "B-b", "I-b"]),
                 multi_intent=False)
    assert grown.intent_mlp[-1].weight.shape[0] == 3 and grown.slot_out.weight.shape[0] == 5
    assert torch.equal(grown.intent_mlp[-1].weight[1:], old["intent"])  # x and y moved one row down
    assert torch.equal(grown.slot_out.weight[:3], old["slot"])
    assert torch.equal(grown.crf.transitions[:3, :3], old["crf"])
    assert not grown.crf.transitions[3:].any()  # the new tags start untrained


def test_a_skill_goes_on_from_itself_with_a_new_intent_and_keeps_its_old_dev(
        tiny_model: TinyModel, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    skill = tmp_path / "skills" / "home"
    first = massive_file(tmp_path / "first.jsonl", FIRST, 30)
    assert train(str(first), "--name", "home", "--base", str(tiny_model.model_dir), "--out", str(skill)) == 0
    before = load_manifest(skill)
    assert before.raw["incremental"]["checkpoint"] == "skill.pt" and (skill / "data.jsonl").is_file()
    kept, _ = read_annotations(skill / "data.jsonl")
    assert {i.partition for i in kept} == {"train", "dev"} and len(kept) == 60
    state = torch.load(skill / "skill.pt", weights_only=False)
    assert not any(k.startswith("encoder.") for k in state["model"])  # the shared encoder is the base's
    claim = before.raw["claim"]
    assert 0 < claim["threshold"] < 1 and "dev" in claim["fitted_on"]
    heads = Predictor.load(skill).primary
    for parse in Predictor.load(skill).parse_batch(["play some jazz", "what's the weather like", "set an alarm"]):
        assert parse.claimed == (parse.intent_probs[heads.out_of_skill] < claim["threshold"])
    capsys.readouterr()

    more = massive_file(tmp_path / "more.jsonl", (*FIRST, ADDED), 15, skip=30)
    assert train(str(more), "--from", str(skill), "--base", str(tiny_model.model_dir)) == 0
    out = capsys.readouterr().out
    after = load_manifest(skill)
    assert after.skill == "home" and ADDED in after.intents and set(before.intents) <= set(after.intents)
    assert not (tmp_path / "skills" / "home.new").exists()
    report = json.loads((skill / "report.json").read_text())
    old = report["from"]
    assert old["old_dev_before"]["n"] == old["old_dev_after"]["n"] == len([i for i in kept if i.partition == "dev"])
    assert "old dev split" in out
    fit = after.raw["config"]["fit"]
    assert fit["unfreeze_at"] == [] and fit["epochs"] <= 12  # heads go on; fewer epochs than a new skill's 10-40
    assert after.raw["training"]["data"]["train"] > before.raw["training"]["data"]["train"]
    Predictor.load(skill).parse("play some jazz")  # a complete model directory still


def test_negatives_come_from_every_pool_and_never_the_skills_own_text() -> None:
    examples = [tag(e) for e in read_massive(MASSIVE, "train")[:300]]
    base, others, own = examples[:200], examples[200:230], examples[230:260]
    picked = sample_negatives([base, others + own[:5]], own, 40, seed=0)
    texts = {" ".join(e.words) for e in picked}
    assert len(picked) == 40 and all(e.example.intent == OUT_OF_SKILL and set(e.tags) == {"O"} for e in picked)
    assert not texts & {" ".join(e.words) for e in own}
    everything = sample_negatives([base, others], own, 1000, seed=0)
    assert {" ".join(e.words) for e in others} <= {" ".join(e.words) for e in everything} and len(everything) == 230


def test_claim_rules_trade_the_skills_own_utterances_against_the_others() -> None:
    own = np.array([0.01] * 90 + [0.3] * 5 + [0.7] * 5)  # P(out of skill) of its own dev utterances
    foreign = np.array([0.2] * 10 + [0.95] * 90)  # and of utterances that are not its own
    assert claim_threshold(own, foreign, "recall90") == 0.02  # 90% of its own are under 0.02
    assert claim_threshold(own, foreign, "recall95") == 0.32  # the 0.3s too
    assert claim_threshold(own, foreign, "balanced") == 0.72  # everything of its own, 10% of the others
    with pytest.raises(ValueError, match="claim rule"):
        claim_threshold(own, foreign, "recall101")


def test_a_skill_learns_the_other_skills_examples_as_not_its_own(tiny_model: TinyModel, tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    skills = tmp_path / "skills"
    first = massive_file(tmp_path / "first.jsonl", FIRST, 20)
    assert train(str(first), "--name", "home", "--base", str(tiny_model.model_dir), "--out", str(skills / "home"),
                 "--skills-dir", str(skills)) == 0
    second = massive_file(tmp_path / "second.jsonl", (ADDED,), 30)
    with caplog.at_level("INFO"):
        assert train(str(second), "--name", "music", "--base", str(tiny_model.model_dir), "--skills-dir",
                     str(skills), "--out", str(skills / "music")) == 0
    assert any("examples of home" in r.getMessage() for r in caplog.records)


def test_from_a_directory_without_training_state_says_what_to_do(tiny_model: TinyModel, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    data = massive_file(tmp_path / "d.jsonl", FIRST, 10)
    assert cli(["skill", "train", str(data), "--from", str(tiny_model.model_dir)]) != 0
    err = capsys.readouterr().err
    assert "keeps no training state" in err and "Traceback" not in err


def test_out_of_skill_examples_weigh_less_in_the_crf_loss_when_asked() -> None:
    examples = [tag(e) for e in read_massive(MASSIVE, "train")[:40]]
    negatives = sample_negatives([examples[:30]], examples[30:], 5, seed=0)
    assert out_of_skill_tag_weight(1.0) is None  # the plain mean, as before
    weight = out_of_skill_tag_weight(0.25)
    assert [weight(e) for e in negatives] == [0.25] * 5 and weight(examples[35]) == 1.0
