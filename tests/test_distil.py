"""Distillation on the tiny model: the loop pulls the student's intents towards the teacher's, learns a joint
model's tag paths beside them, resumes, and writes a checkpoint that export takes. The teacher here is a file of
logits (MiniLM's fit is tested in test_minilm), one that says every unlabeled utterance is one intent, so the
pull is easy to see; the tag paths are the tiny model's own (``training.tag_teacher``)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from elmol_nlu.datasets import load_split
from elmol_nlu.text import batch_char_ids, tokenize
from elmol_nlu.vocab import Vocab
from experiments import teacher_agreement
from tests.conftest import MASSIVE, UNLABELED, TinyModel
from training import distil, tag_teacher
from training.checkpoint import load_checkpoint, load_joint_model
from training.corpus import read_utterances

N_UNLABELED = 256
LIMIT = 400  # examples of each MASSIVE split, as the tiny model was trained on


def fake_teacher(root: Path, intents: list[str], favourite: str) -> Path:
    """A teacher directory whose logits put every unlabeled utterance (and dev one) in ``favourite``."""
    root.mkdir()
    lines = read_utterances(UNLABELED, 2 * N_UNLABELED)
    sentences = [w for w in ([t.text for t in tokenize(x)] for x in lines) if w][:N_UNLABELED]
    shuffled = list(reversed(intents))  # the student must map columns by name, not position
    logits = np.zeros((len(sentences), len(shuffled)), dtype=np.float16)
    logits[:, shuffled.index(favourite)] = 8.0
    np.savez_compressed(root / "soft_intents.npz", texts=np.array([" ".join(s) for s in sentences]), logits=logits,
                        intents=np.array(shuffled))
    dev = load_split(MASSIVE, "dev", LIMIT)
    np.savez_compressed(root / "dev_intents.npz", ids=np.array([e.example.id for e in dev]),
                        logits=np.resize(logits[0], (len(dev), len(shuffled))), intents=np.array(shuffled))
    torch.save({"figures": {"test": {"intent_acc": 0.0}}}, root / "teacher.pt")
    return root


def tag_the_teacher(teacher: Path, model_checkpoint: Path) -> None:
    tag_teacher.main(["--model", str(model_checkpoint), "--teacher", str(teacher), "--threads", "1"])


def share_of(model: torch.nn.Module, sentences: list[list[str]], intents: Vocab, favourite: str) -> float:
    chars, lengths = (torch.from_numpy(a) for a in batch_char_ids(sentences, model.cfg.lm.max_chars))
    with torch.no_grad():
        best = model.eval()(chars, lengths)[0].argmax(1).tolist()
    return float(np.mean([intents.itos[i] == favourite for i in best]))


@pytest.fixture(scope="module")
def distilled(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    intents = load_checkpoint(tiny_model.nlu_checkpoint)["intents"]
    favourite = intents[len(intents) // 2]
    root = tmp_path_factory.mktemp("distil")
    teacher = fake_teacher(root / "teacher", intents, favourite)
    tag_the_teacher(teacher, tiny_model.nlu_checkpoint)
    argv = ["--student", str(tiny_model.nlu_checkpoint), "--teacher", str(teacher), "--data", str(MASSIVE),
            "--out", str(root / "out"), "--limit", str(LIMIT), "--threads", "1", "--eval-every", "4",
            "--unlabeled-batch", "32", "--kd-weight", "20", "--tag-weight", "1", "--lr", "0.01", "--minutes", "5"]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*ill-defined.*")  # a tiny model predicts few slots
        distil.main(argv)
    return root, teacher, favourite


def test_the_student_moves_towards_the_teacher(tiny_model: TinyModel, distilled: tuple[Path, Path, str]) -> None:
    root, teacher, favourite = distilled
    intents = Vocab(load_checkpoint(tiny_model.nlu_checkpoint)["intents"])
    sentences, _ = distil.teacher_targets(teacher, intents)
    before = share_of(load_joint_model(tiny_model.nlu_checkpoint), sentences, intents, favourite)
    state = torch.load(root / "out" / "state.pt", weights_only=False)
    after_model = load_joint_model(tiny_model.nlu_checkpoint)
    after_model.load_state_dict(state["model"])  # the last step's weights, not the dev-selected ones
    after = share_of(after_model, sentences, intents, favourite)
    assert after > max(0.5, before + 0.2), (before, after)


def test_checkpoint_has_what_export_needs(distilled: tuple[Path, Path, str]) -> None:
    saved = load_checkpoint(distilled[0] / "out" / "nlu.pt")
    assert {"config", "intents", "tags", "model", "metrics", "distillation"} <= set(saved)
    assert set(saved["metrics"]) == {"dev", "test"}
    assert saved["distillation"]["unlabeled"] == N_UNLABELED
    assert saved["distillation"]["tag_teacher"] and saved["fit"]["distil"]["tag_weight"] == 1.0
    assert saved["history"][0]["step"] == 0  # the starting model's dev score is the first to beat


def test_a_finished_run_resumes_without_training_again(tiny_model: TinyModel, distilled: tuple) -> None:
    root, teacher, _ = distilled
    before = torch.load(root / "out" / "state.pt", weights_only=False)
    argv = ["--student", str(tiny_model.nlu_checkpoint), "--teacher", str(teacher), "--data", str(MASSIVE),
            "--out", str(root / "out"), "--limit", str(LIMIT), "--threads", "1"]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*ill-defined.*")
        distil.main(argv)
    after = torch.load(root / "out" / "state.pt", weights_only=False)
    assert after["step"] == before["step"] == before["total"]


def test_a_dev_only_run_from_two_teachers_leaves_test_unread(tiny_model: TinyModel, distilled: tuple,
                                                              tmp_path: Path) -> None:
    _, teacher, _ = distilled
    argv = ["--student", str(tiny_model.nlu_checkpoint), "--teacher", str(teacher), str(teacher), "--data",
            str(MASSIVE), "--out", str(tmp_path / "out"), "--limit", str(LIMIT), "--threads", "1", "--eval-every", "4",
            "--unlabeled-batch", "64", "--dev-only"]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*ill-defined.*")
        distil.main(argv)
    saved = load_checkpoint(tmp_path / "out" / "nlu.pt")
    assert set(saved["metrics"]) == {"dev"}
    assert len(saved["distillation"]["teacher"]) == 2 and saved["distillation"]["unlabeled"] == N_UNLABELED


def test_soft_targets_mix_the_starting_model() -> None:
    cfg = distil.DistilConfig(temperature=1.0, self_weight=0.5)
    teacher, start = torch.tensor([[10.0, -10.0]]), torch.tensor([[-10.0, 10.0]])
    assert torch.allclose(distil.soft_targets(teacher, start, cfg), torch.tensor([[0.5, 0.5]]), atol=1e-4)
    assert torch.allclose(distil.soft_targets(teacher, None, cfg), torch.tensor([[1.0, 0.0]]), atol=1e-4)


def test_tag_paths_come_back_by_text_in_the_students_tag_ids(tiny_model: TinyModel, distilled: tuple) -> None:
    _, teacher, _ = distilled
    saved = load_checkpoint(tiny_model.nlu_checkpoint)
    tags = Vocab(saved["tags"])
    sentences = distil.teacher_targets(teacher, Vocab(saved["intents"]))[0][:40]
    expected = tag_teacher.tag_paths(load_joint_model(tiny_model.nlu_checkpoint), sentences)
    got = tag_teacher.student_paths(teacher / tag_teacher.TAGS, sentences[::-1], tags)
    assert [g.tolist() for g in got[::-1]] == expected  # looked up by text, whatever the order asked
    assert [len(g) for g in got[::-1]] == [len(s) for s in sentences]
    with pytest.raises(ValueError, match="no path"):
        tag_teacher.student_paths(teacher / tag_teacher.TAGS, [["not", "a", "labelled", "utterance", "zzz"]], tags)
    with pytest.raises(ValueError, match="does not know"):
        tag_teacher.student_paths(teacher / tag_teacher.TAGS, sentences, Vocab(["B-nothing"]))


def test_the_tag_loss_is_the_students_crf_loss_on_the_paths(tiny_model: TinyModel, distilled: tuple) -> None:
    _, teacher, _ = distilled
    saved = load_checkpoint(tiny_model.nlu_checkpoint)
    sentences, logits = distil.teacher_targets(teacher, Vocab(saved["intents"]))
    paths = tag_teacher.student_paths(teacher / tag_teacher.TAGS, sentences, Vocab(saved["tags"]))
    student = load_joint_model(tiny_model.nlu_checkpoint).eval()
    members, max_chars = [0, 5, 9], student.cfg.lm.max_chars
    _, without = distil.unlabeled_losses(student, None, sentences, logits, paths, members, max_chars,
                                         distil.DistilConfig())
    _, tag_loss = distil.unlabeled_losses(student, None, sentences, logits, paths, members, max_chars,
                                          distil.DistilConfig(tag_weight=1.0))
    assert float(without) == 0.0
    losses = []
    for i in members:  # one sentence at a time: no padding, the CRF's own loss
        chars, lengths = (torch.from_numpy(a) for a in batch_char_ids([sentences[i]], max_chars))
        emissions = student(chars, lengths)[1]
        losses.append(student.crf.nll(emissions, paths[i][None], torch.ones_like(paths[i][None], dtype=torch.bool)))
    assert torch.allclose(tag_loss, torch.stack(losses).mean(), atol=1e-4)
    assert tag_loss.item() > 0


def test_typo_noise_reaches_the_student_only_and_repeats(tiny_model: TinyModel, distilled: tuple) -> None:
    """The student sees edited characters (the teacher labelled clean text), the same edits on a resumed run."""
    _, teacher, _ = distilled
    saved = load_checkpoint(tiny_model.nlu_checkpoint)
    sentences, logits = distil.teacher_targets(teacher, Vocab(saved["intents"]))
    student = load_joint_model(tiny_model.nlu_checkpoint).eval()
    members, max_chars = list(range(32)), student.cfg.lm.max_chars

    def loss(rate: float) -> float:
        with torch.no_grad():
            return distil.unlabeled_losses(student, None, sentences, logits, None, members, max_chars,
                                           distil.DistilConfig(typo_rate=rate))[0].item()

    assert loss(0.0) != loss(1.0)
    assert loss(1.0) == loss(1.0)


def test_agreement_of_the_distilled_student_with_its_teachers(distilled: tuple, tmp_path: Path) -> None:
    root, teacher, _ = distilled
    twin = tmp_path / "twin"
    shutil.copytree(teacher, twin)
    out = tmp_path / "agreement.json"
    teacher_agreement.main(["--student", str(root / "out" / "nlu.pt"), "--teachers", str(teacher), str(twin),
                            "--sample", "64", "--threads", "1", "--out", str(out)])
    agreement = json.loads(out.read_text())["agreement_pct"]
    assert agreement[f"{teacher} | {twin}"] == 100.0
    assert agreement["ensemble | student"] == agreement[f"{teacher} | student"]  # two equal teachers: the one
    assert agreement[f"ensemble | {teacher}"] == 100.0
