"""Distil a teacher's intent knowledge into the ELMoL model over the unlabeled utterances.

    python -m training.teacher --out runs/teacher                                  # MiniLM teacher and its labels
    python -m training.distil --student checkpoints/massive-en-nlu.pt --teacher runs/teacher --out runs/distil

The student starts from a trained joint model (train_nlu's nlu.pt). Each step takes one batch of MASSIVE
train (the usual joint loss: intent cross-entropy and CRF) and one batch of unlabeled utterances, whose
intent distribution is pulled towards the teacher's (KL divergence at temperature T, scaled by T^2). The
teacher's targets can mix in the student's own starting model (``--self-weight``: an ensemble of the two, a
stronger teacher than either when their errors differ; check ``dev_mix`` in the log). Several ``--teacher``
directories make an ensemble teacher, their logits averaged (``training.teacher_labels``). The schedule is a
linear warm-up and decay over the steps the time budget allows; the checkpoint with the best dev score
(mean of intent accuracy, slot F1 and exact match) is kept, so test is looked at once, at the end; with
``--dev-only`` not at all, for a candidate that a dev comparison may not choose.
With ``--tag-weight``, the unlabeled batch also trains the student's CRF on the tag paths that
``training.tag_teacher`` wrote beside the teacher's labels (a joint model of ours: MiniLM is the weaker
tagger), so that a smaller student can learn slots as well as intents from the unlabeled utterances.
Resumable: ``OUT/state.pt`` is written at each evaluation and picked up by a re-run.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from elmol_nlu.datasets import TaggedExample, load_split
from elmol_nlu.noise import TypoConfig
from elmol_nlu.scoring import metrics
from elmol_nlu.text import batch_char_ids
from elmol_nlu.vocab import Vocab
from training.checkpoint import load_checkpoint, load_joint_model, save_checkpoint
from training.evaluate import predict
from training.finetune import FitConfig, batches, joint_loss, length_groups, param_groups, selection_score
from training.nlu import lengths_to_mask
from training.schedule import warmup_linear
from training.tag_teacher import TAGS, student_paths
from training.teacher_labels import confident, intent_accuracy, teacher_dev_logits, teacher_targets

log = logging.getLogger("training.distil")


@dataclass(frozen=True)
class DistilConfig:
    minutes: float = 60.0  # time budget of the training steps (evaluations included)
    labeled_batch: int = 32
    unlabeled_batch: int = 64
    passes: int = 1  # over the teacher-labelled utterances, at most (the time budget may stop it sooner)
    lr: float = 1e-3  # of the head; the encoder's layers learn at FitConfig's discriminative fractions of it
    warmup: float = 0.05
    temperature: float = 2.0
    kd_weight: float = 2.0  # of the distillation loss, as FitConfig.intent_weight is of the intent loss
    self_weight: float = 0.0  # share of the student's starting model in the targets (0: the teacher alone)
    tag_weight: float = 0.0  # of the CRF loss on a joint model's tag paths (TEACHER/tags.npz); 0: intents only
    eval_every: int = 400  # steps
    seed: int = 13
    typo_rate: float = 0.0  # student inputs only (labelled and unlabeled); the teacher labelled clean text
    min_teacher_prob: float = 0.0  # distil only utterances whose teacher's best intent is this sure (0: all)

    def to_dict(self) -> dict:
        return asdict(self)


def dev_mix(student: torch.nn.Module, teachers: list[Path], dev: list[TaggedExample], intents: Vocab,
            tags: Vocab) -> dict[str, float]:
    """Dev intent accuracy of the teacher(s), the student and their probability mixes (what --self-weight picks)."""
    t = torch.softmax(teacher_dev_logits(teachers, [e.example.id for e in dev], intents), dim=1)
    s = torch.tensor(np.stack([p.intent_probs for p in predict(student, dev, intents, tags)]))
    return {f"self_weight={w}": intent_accuracy((1 - w) * t + w * s, dev, intents) for w in (0.0, 0.25, 0.5, 0.75, 1.0)}

def soft_targets(teacher_logits: torch.Tensor, start_logits: torch.Tensor | None, cfg: DistilConfig) -> torch.Tensor:
    """Target distributions at temperature T: the teacher's, or its mix with the starting student's."""
    target = torch.softmax(teacher_logits / cfg.temperature, dim=1)
    if start_logits is not None and cfg.self_weight > 0:
        target = (1 - cfg.self_weight) * target + cfg.self_weight * torch.softmax(start_logits / cfg.temperature, 1)
    return target


def kd_loss(student_logits: torch.Tensor, target: torch.Tensor, temperature: float) -> torch.Tensor:
    log_p = torch.log_softmax(student_logits / temperature, dim=1)
    return torch.nn.functional.kl_div(log_p, target, reduction="batchmean") * temperature**2


def unlabeled_batches(sentences: list[list[str]], size: int, seed: int, passes: int = 1) -> list[list[int]]:
    """Batches of similar length in a fixed random order, ``passes`` times over the labelled utterances."""
    rng = random.Random(seed)
    lengths = [len(s) for s in sentences]
    return [group for _ in range(passes) for group in length_groups(lengths, size, rng)]


def labeled_stream(train: list[TaggedExample], intents: Vocab, tags: Vocab, size: int, max_chars: int, seed: int,
                   typo: TypoConfig | None = None):
    """Endless shuffled passes over the labelled training set."""
    epoch = 0
    while True:
        yield from batches(train, intents, tags, size, max_chars, random.Random(f"{seed}:{epoch}"), typo=typo)
        epoch += 1


def evaluate(model: torch.nn.Module, dev: list[TaggedExample], intents: Vocab, tags: Vocab) -> dict[str, float]:
    return metrics(dev, predict(model, dev, intents, tags))


def planned_steps(sec_per_step: float, remaining_s: float, available: int) -> int:
    """Steps that fit the remaining budget, evaluations allowed for, and no more than the planned passes."""
    return max(1, min(available, int(0.9 * remaining_s / sec_per_step)))


class Run:
    """The mutable state of a distillation, saved whole at each evaluation so that a re-run resumes."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model, self.optimizer = model, optimizer
        self.step, self.total, self.elapsed = 0, 0, 0.0
        self.best, self.best_state, self.history = -1.0, None, []

    def save(self, path: Path) -> None:
        save_checkpoint(path, {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                               "step": self.step, "total": self.total, "elapsed": self.elapsed, "best": self.best,
                               "best_state": self.best_state, "history": self.history})

    def load(self, path: Path) -> None:
        state = torch.load(path, map_location="cpu", weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.total, self.elapsed = state["step"], state["total"], state["elapsed"]
        self.best, self.best_state, self.history = state["best"], state["best_state"], state["history"]
        log.info("resumed at step %d of %d (%.1f minutes in, best dev %.2f)", self.step, self.total,
                 self.elapsed / 60, self.best)


def distil(student: torch.nn.Module, train: list[TaggedExample], dev: list[TaggedExample],
           sentences: list[list[str]], teacher_logits: torch.Tensor, intents: Vocab, tags: Vocab,
           cfg: DistilConfig, out: Path, tag_paths: list[torch.Tensor] | None = None) -> Run:
    max_chars = student.cfg.lm.max_chars
    fit_cfg = FitConfig(lr=cfg.lr, seed=cfg.seed)  # its rates per group, weight decay, clip, intent weight
    groups = param_groups(student, fit_cfg)
    for p in student.parameters():
        p.requires_grad_(True)
    run = Run(student, torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=fit_cfg.weight_decay))
    start_model = copy.deepcopy(student).eval() if cfg.self_weight > 0 else None
    if (out / "state.pt").exists():
        run.load(out / "state.pt")
    else:
        scores = evaluate(student, dev, intents, tags)
        run.best, run.best_state = selection_score(scores), copy.deepcopy(student.state_dict())
        run.history.append({"step": 0, **scores})
        log.info("start: dev %s", scores)
    plan = unlabeled_batches(sentences, cfg.unlabeled_batch, cfg.seed, cfg.passes)
    labeled = labeled_stream(train, intents, tags, cfg.labeled_batch, max_chars, cfg.seed, TypoConfig(cfg.typo_rate))
    for _ in range(run.step):  # the same labelled batches as an uninterrupted run
        next(labeled)
    began = time.monotonic() - run.elapsed
    first, clock = run.step, time.monotonic()
    if not run.total and len(plan) - run.step <= 20:  # too short to time: one pass
        run.total = len(plan)
    student.train()
    bar = tqdm(total=run.total or len(plan), initial=run.step, desc="distil", unit="step", mininterval=5)
    while run.step < (run.total or len(plan)):
        if not run.total and run.step - first == 20:  # time 20 steps, then fix the schedule to the budget
            sec_per_step = (time.monotonic() - clock) / 20
            remaining = cfg.minutes * 60 - (time.monotonic() - began)
            run.total = run.step + planned_steps(sec_per_step, remaining, len(plan) - run.step)
            bar.total = run.total
            log.info("%.2f s a step: %d steps of %d unlabeled batches", sec_per_step, run.total, len(plan))
        factor = warmup_linear(run.step, run.total or len(plan), cfg.warmup)
        for group in run.optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        intent_loss, tag_loss = unlabeled_losses(student, start_model, sentences, teacher_logits, tag_paths,
                                                 plan[run.step], max_chars, cfg)
        loss = joint_loss(student, next(labeled), fit_cfg) + cfg.kd_weight * intent_loss + cfg.tag_weight * tag_loss
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), fit_cfg.clip)
        run.optimizer.step()
        run.step += 1
        bar.update()
        if run.step % cfg.eval_every == 0 or run.step == run.total:
            scores = evaluate(student, dev, intents, tags)
            run.history.append({"step": run.step, "loss": loss.item(), **scores})
            log.info("step %d: dev intent %.2f slot F1 %.2f exact %.2f", run.step, scores["intent_acc"],
                     scores["slot_f1"], scores["exact_match"])
            if selection_score(scores) > run.best:
                run.best, run.best_state = selection_score(scores), copy.deepcopy(student.state_dict())
            run.elapsed = time.monotonic() - began
            run.save(out / "state.pt")
            student.train()
    bar.close()
    return run


def unlabeled_losses(student: torch.nn.Module, start_model: torch.nn.Module | None, sentences: list[list[str]],
                     teacher_logits: torch.Tensor, tag_paths: list[torch.Tensor] | None, members: list[int],
                     max_chars: int, cfg: DistilConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """On one unlabeled batch: the intent KD loss, and the CRF loss on the tag teacher's paths (0 without)."""
    chars, lengths = (torch.from_numpy(a) for a in batch_char_ids([sentences[i] for i in members], max_chars))
    start = None
    if start_model is not None:
        with torch.no_grad():
            start = start_model(chars, lengths)[0]
    if cfg.typo_rate > 0:  # seeded by the batch, so that a resumed run sees the same noise
        rng = random.Random(f"{cfg.seed}:{members[0]}:{len(members)}")
        typo = TypoConfig(cfg.typo_rate)
        noisy = [typo.noisy(sentences[i], rng) for i in members]
        chars = torch.from_numpy(batch_char_ids(noisy, max_chars)[0])
    intent_logits, emissions = student(chars, lengths)
    intent_loss = kd_loss(intent_logits, soft_targets(teacher_logits[members], start, cfg), cfg.temperature)
    if tag_paths is None or cfg.tag_weight == 0:
        return intent_loss, torch.zeros(())
    gold = torch.nn.utils.rnn.pad_sequence([tag_paths[i] for i in members], batch_first=True)
    return intent_loss, student.crf.nll(emissions, gold, lengths_to_mask(lengths, chars.shape[1]))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--student", type=Path, default=Path("checkpoints/massive-en-nlu.pt"))
    p.add_argument("--teacher", type=Path, nargs="+", default=[Path("runs/teacher")],
                   help="one teacher directory, or several whose logits are averaged (an ensemble)")
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"))
    p.add_argument("--out", type=Path, default=Path("runs/distil"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit", type=int, default=None, help="first N examples of each split and unlabeled (smoke)")
    p.add_argument("--dev-only", action="store_true",
                   help="a candidate to be chosen on dev: do not score test (score the chosen one once, afterwards)")
    for name, value in DistilConfig().to_dict().items():
        p.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    cfg = DistilConfig(**{k: getattr(args, k) for k in DistilConfig().to_dict()})
    args.out.mkdir(parents=True, exist_ok=True)
    source = load_checkpoint(args.student)
    student, intents, tags = load_joint_model(args.student), Vocab(source["intents"]), Vocab(source["tags"])
    train, dev, test = (load_split(args.data, part, args.limit) for part in ("train", "dev", "test"))
    sentences, teacher_logits = teacher_targets(args.teacher, intents)
    sentences, teacher_logits = confident(sentences[: args.limit], teacher_logits[: args.limit], cfg.min_teacher_prob)
    log.info("%d unlabeled utterances to distil on (teacher at least %.2f sure)", len(sentences), cfg.min_teacher_prob)
    tag_paths = student_paths(args.teacher[0] / TAGS, sentences, tags) if cfg.tag_weight > 0 else None
    mix = dev_mix(student, args.teacher, dev, intents, tags)
    log.info("dev intent accuracy of teacher/student mixes: %s", mix)
    started = time.monotonic()
    run = distil(student, train, dev, sentences, teacher_logits, intents, tags, cfg, args.out, tag_paths)
    student.load_state_dict(run.best_state)
    results = {"dev": evaluate(student, dev, intents, tags)}
    if not args.dev_only:
        results["test"] = evaluate(student, test, intents, tags)
    log.info("best dev %s; test %s", results["dev"], results.get("test", "not scored"))
    teacher = [torch.load(t / "teacher.pt", map_location="cpu", weights_only=False)["figures"] for t in args.teacher]
    save_checkpoint(args.out / "nlu.pt", {
        **{k: source.get(k) for k in ("config", "intents", "tags", "words", "lm", "data")},
        "fit": {"distil": cfg.to_dict(), "student_fit": source.get("fit")},
        "model": student.state_dict(), "metrics": results, "history": run.history,
        "distillation": {"student": str(args.student), "student_metrics": source.get("metrics"), "teacher": teacher,
                         "unlabeled": len(sentences), "steps": run.step, "dev_mix": mix,
                         "tag_teacher": str(np.load(args.teacher[0] / TAGS)["model"]) if tag_paths else None},
        "train_minutes": round(source.get("train_minutes", 0) + (time.monotonic() - started) / 60, 1),
    })
    (args.out / "metrics.json").write_text(json.dumps({**results, "history": run.history, "dev_mix": mix}, indent=2))


if __name__ == "__main__":
    main()
