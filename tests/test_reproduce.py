"""The paper-reproduction pipeline: its schedule arithmetic, the embedders, transfer, and the quick tier end to end."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from elmol_nlu.datasets import read_massive, sample, tag
from elmol_nlu.vocab import PAD, UNK, Vocab, slot_tag_vocab
from experiments.reproduce import TIERS, Tier, transfer_epochs, unfreeze_schedule
from experiments.results_csv import append_row, completed_keys, read_rows
from tests.conftest import MASSIVE
from training.finetune import FitConfig, param_groups, set_trainable
from training.lm import LMConfig
from training.nlu import JointNLU, NLUConfig, with_new_outputs

TINY_LM = LMConfig(filters=((1, 8), (2, 8)), proj_dim=16, hidden_dim=16, vocab_size=50, cutoffs=(20,))


def test_unfreeze_schedule_scales_with_the_epochs() -> None:
    assert unfreeze_schedule(12, 2, new_outputs=False) == (3, 5)
    assert unfreeze_schedule(40, 3, new_outputs=True) == (4, 10, 16, 22)
    assert unfreeze_schedule(2, 1, new_outputs=True) == (1, 1)  # never at epoch 0: frozen first, always
    assert unfreeze_schedule(10, 0, new_outputs=False) == ()


def test_transfer_epochs_give_enough_steps_within_bounds() -> None:
    tier = Tier(min_steps=150, epoch_range=(8, 40))
    assert transfer_epochs(100, 32, tier) == 38  # 4 steps an epoch
    assert transfer_epochs(1000, 32, tier) == 8  # 32 steps an epoch: the floor
    assert transfer_epochs(10, 32, tier) == 40  # the ceiling


def test_sample_is_fixed_by_seed_and_capped() -> None:
    items = list(range(50))
    assert sample(items, 10, 0) == sample(items, 10, 0)
    assert sample(items, 10, 0) != sample(items, 10, 1)
    assert sorted(sample(items, 100, 0)) == items


@pytest.mark.parametrize("embedding", ["none", "fasttext", "elmol", "elmo", "elmol+fasttext"])
def test_every_embedding_feeds_the_same_network(embedding: str) -> None:
    examples = [tag(e) for e in read_massive(MASSIVE, "train")[:8]]
    tags = slot_tag_vocab({t[2:] for e in examples for t in e.tags if t != "O"})
    words = Vocab([PAD, UNK, "wake", "me"], unk=UNK) if embedding not in ("elmol", "elmo") else None
    lm = TINY_LM if embedding != "elmo" else LMConfig(**{**TINY_LM.to_dict(), "n_layers": 2})
    cfg = NLUConfig(lm=lm, n_intents=3, n_tags=len(tags), embedding=embedding, n_words=4, word_dim=8,
                    shared_hidden=8, slot_hidden=8, intent_hidden=8)
    model = JointNLU(cfg, tags.itos, words).eval()
    chars = torch.randint(3, 100, (2, 5, lm.max_chars))
    word_ids = torch.tensor([[2, 3, 1, 1, 0], [2, 0, 0, 0, 0]]) if words else None
    intent_logits, emissions = model(chars, torch.tensor([4, 1]), word_ids)
    assert intent_logits.shape == (2, 3) and emissions.shape == (2, 5, len(tags))
    pretrained = {"none": 0, "fasttext": 0, "elmol": 2, "elmo": 3, "elmol+fasttext": 2}[embedding]
    assert len(model.encoder_groups()) == pretrained


def test_concatenated_static_vectors_pass_through_the_mix_unchanged_but_for_gamma() -> None:
    cfg = NLUConfig(lm=TINY_LM, n_intents=2, n_tags=1, embedding="elmol+fasttext", n_words=4, word_dim=8)
    model = JointNLU(cfg, ["O"], Vocab([PAD, UNK, "wake", "me"], unk=UNK)).eval()
    model.encoder.static.table.copy_(torch.randn(4, 8))
    with torch.no_grad():
        model.mix.weights.copy_(torch.tensor([0.3, -1.0]))
        model.mix.gamma.fill_(2.0)
    words = torch.tensor([[2, 3, 1]])
    layers = model.encoder(torch.randint(3, 100, (1, 3, TINY_LM.max_chars)), torch.tensor([3]), words)
    assert [x.shape[2] for x in layers] == [2 * TINY_LM.hidden_dim + 8] * 2
    mixed = model.mix(layers)
    assert torch.allclose(mixed[..., -8:], 2.0 * model.encoder.static.table[words])
    assert not list(model.encoder.static.parameters())  # a buffer: the static vectors never train
    assert sum(len(g) for g in model.encoder_groups()) == len(list(model.encoder.contextual.parameters()))


def test_word_embedders_need_a_vocabulary() -> None:
    with pytest.raises(ValueError, match="needs a word vocabulary"):
        JointNLU(NLUConfig(lm=TINY_LM, embedding="none", n_words=4), ["O"])


def test_transfer_replaces_outputs_and_unfreezes_body_then_encoder() -> None:
    model = JointNLU(NLUConfig(lm=TINY_LM, n_intents=3, n_tags=3, shared_hidden=8, slot_hidden=8, intent_hidden=8),
                     ["O", "B-x", "I-x"])
    shared_before = model.shared.fwd.weight_ih_l0.clone()
    model = with_new_outputs(model, 5, ["O", "B-y", "I-y", "B-z", "I-z"])
    assert model.intent_mlp[-1].out_features == 5 and model.slot_out.out_features == 5
    assert torch.equal(model.shared.fwd.weight_ih_l0, shared_before)
    cfg = FitConfig(new_outputs=True, unfreeze_at=(1, 2, 3))
    groups = param_groups(model, cfg)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    set_trainable(groups, 0, cfg)
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in model.output_parameters()}
    set_trainable(groups, 1, cfg)
    assert model.shared.fwd.weight_ih_l0.requires_grad and not model.encoder.char_cnn.proj.weight.requires_grad
    set_trainable(groups, 3, cfg)
    assert all(p.requires_grad for p in model.parameters())


def test_results_csv_appends_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "runs.csv"
    row = {"embedding": "elmol", "domain": "iot", "n": 100, "seed": 0, "supervised_pretraining": 1,
           "intent_acc": 80.0, "slot_f1": 70.0, "exact_match": 60.0, "n_train": 100, "n_test": 220, "epochs": 38,
           "seconds": 12.5}
    append_row(path, row)
    append_row(path, {**row, "seed": 1})
    assert len(read_rows(path)) == 2
    assert ("elmol", "iot", "100", "1", "1") in completed_keys(path)


def test_quick_tier_runs_every_arm_and_resumes(tmp_path: Path) -> None:
    from experiments import reproduce, reproduce_report

    args = ["--tier", "quick", "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work")]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*ill-defined.*")  # seconds of training: few slots predicted
        csv_path = reproduce.main(args)
        rows = read_rows(csv_path)
        tier = TIERS["quick"]
        assert len(rows) == len(tier.embeddings) * len(tier.arms)
        assert {r["embedding"] for r in rows} == {"none", "fasttext", "elmo", "elmol"}
        assert all(0 <= float(r[m]) <= 100 for r in rows for m in ("intent_acc", "slot_f1", "exact_match"))
        assert all(int(r["n_test"]) == len(read_massive_test_weather()) for r in rows)
        reproduce.main(args)  # everything done: nothing re-runs
    assert len(read_rows(csv_path)) == len(rows)
    summary = reproduce_report.main(["--runs", str(csv_path)])
    assert {r["embedding"] for r in summary["curve_with"]} == {"none", "fasttext", "elmo", "elmol"}
    assert (csv_path.parent / "learning_curves.png").stat().st_size > 10_000


def read_massive_test_weather() -> list:
    return [e for e in read_massive(MASSIVE, "test") if e.domain == "weather"][: TIERS["quick"].limit]


def test_encoder_speed_bench_compares_both_encoders(tmp_path: Path) -> None:
    from experiments.bench import encoders
    from training.reproduce_inputs import tiny_inputs

    elmol, elmo, _ = tiny_inputs(tmp_path / "inputs")
    result = encoders.main(["--elmol-lm", str(elmol), "--elmo-lm", str(elmo), "--repeats", "2",
                            "--out", str(tmp_path / "speed.json")])
    assert len(result["rows"]) == 2 * 2 * 4  # encoders x backends x (batch, length) shapes
    assert len(result["ratios"]) == 2 * 4 and all(r["elmo_over_elmol_p50"] > 0 for r in result["ratios"])
    assert result["parameters"]["elmo"] > result["parameters"]["elmol"]
    assert "ELMo / ELMoL" in (tmp_path / "speed.md").read_text()


def test_normalised_mix_balances_layers_of_different_scale() -> None:
    from training.lm import ScalarMix

    small, large = torch.randn(2, 3, 16) * 0.1, torch.randn(2, 3, 16) * 10.0
    plain, normalised = ScalarMix(2), ScalarMix(2, layer_norm=True)
    assert float(plain([small, large]).detach().std()) > 3.0  # the large layer dominates
    mixed = normalised([small, large]).detach()  # each token's vector of each layer at unit scale, then their mean
    assert 0.4 < float(mixed.std()) < 1.0
    single = ScalarMix(1, layer_norm=True)([large]).detach()
    assert torch.allclose(single.mean(dim=2), torch.zeros(2, 3), atol=1e-5)


def test_a_frozen_arm_never_schedules_its_encoder() -> None:
    from experiments.reproduce import unfrozen_groups

    model = JointNLU(NLUConfig(lm=TINY_LM, n_intents=2, n_tags=1), ["O"])
    assert unfrozen_groups("elmol-kd", model) == 2
    assert unfrozen_groups("elmol-kd-frozen", model) == 0
    cfg = FitConfig(new_outputs=True, unfreeze_at=unfreeze_schedule(38, unfrozen_groups("elmol-kd-frozen", model),
                                                                     True))
    groups = param_groups(model, cfg)
    set_trainable(groups, 37, cfg)  # the last epoch: the body trains, the encoder still does not
    assert model.shared.fwd.weight_ih_l0.requires_grad
    assert not any(p.requires_grad for g in model.encoder_groups() for p in g)
