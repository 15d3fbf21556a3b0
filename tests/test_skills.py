"""New skills: ``elmol-nlu skill train / eval / add / remove / list``, and several skills served on one encoder.

The skill is trained for real (seconds) on the tiny model of conftest, from a Rasa YAML file of MASSIVE
utterances; the service runs it beside that model.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import MASSIVE, MODEL_DIR, TinyModel
from fastapi.testclient import TestClient

from cli.main import main as cli
from elmol_nlu.datasets import read_massive
from elmol_nlu.manifest import ManifestError, load_manifest
from elmol_nlu.runtime import Predictor, Selection
from service.app import create_app
from service.settings import Settings

INTENTS = ("weather_query", "alarm_set")
ADMIN = "skills-admin-token"


def rasa_yaml(path: Path, per_intent: int, partition: str = "train") -> Path:
    """MASSIVE utterances of INTENTS in Rasa's YAML, with [value](slot) marks."""
    examples = read_massive(MASSIVE, partition)
    lines = ["nlu:"]
    for intent in INTENTS:
        lines += [f"- intent: {intent}", "  examples: |"]
        for e in [e for e in examples if e.intent == intent][:per_intent]:
            text, at = "", 0
            for s in e.slots:
                text += f"{e.text[at:s.start]}[{e.text[s.start:s.end]}]({s.name})"
                at = s.end
            lines.append(f"    - {text + e.text[at:]}")
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass(frozen=True)
class TinySkill:
    base: Path  # the tiny model directory the skill was trained on
    skill_dir: Path
    data: Path
    test: Path


@pytest.fixture(scope="module")
def tiny_skill(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory) -> TinySkill:
    root = tmp_path_factory.mktemp("skill")
    data, test = rasa_yaml(root / "skill.yml", 40), rasa_yaml(root / "test.yml", 20, "test")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*ill-defined.*")  # seqeval, a model of seconds
        status = cli(["skill", "train", str(data), "--name", "tiny-skill", "--base", str(tiny_model.model_dir),
                      "--out", str(root / "tiny-skill"), "--time-budget", "60s"])
    assert status == 0
    return TinySkill(tiny_model.model_dir, root / "tiny-skill", data, test)


def test_a_skill_is_a_complete_model_directory_on_its_base_encoder(tiny_skill: TinySkill) -> None:
    skill, base = load_manifest(tiny_skill.skill_dir), load_manifest(tiny_skill.base)
    assert skill.skill == "tiny-skill" and skill.encoder_id == base.encoder_id
    for role in ("tokens", "encoder"):  # byte for byte the base's
        assert skill.files[skill.graphs[role]]["sha256"] == base.files[base.graphs[role]]["sha256"]
    assert skill.raw["parity"]["ok"] and skill.raw["variants"]["int8"]["passed"] in (True, False)
    assert set(skill.intents) == {*INTENTS, "<other>"} and skill.raw["out_of_skill"] == "<other>"
    assert "calibration" in skill.raw and skill.metrics["dev"]["n"] > 0
    # its intents combine the heads with the lexical model, and parity checked the combination as served
    assert skill.raw["lexical"]["weight"] > 0 and skill.lexical() is not None and "heads_alone" in skill.metrics["dev"]
    report = json.loads((tiny_skill.skill_dir / "report.json").read_text())
    assert set(report["dev"]["per_intent"]) <= {*INTENTS, "<other>"}
    alone = Predictor.load(tiny_skill.skill_dir)  # what `python -m service --model-dir DIR` serves
    assert alone.parse("set an alarm for seven am").skill == "tiny-skill"


def test_skill_heads_on_the_shared_encoder_answer_as_the_skill_alone(tiny_skill: TinySkill) -> None:
    base = Predictor.load(tiny_skill.base)
    served = base.with_skills([base.load_skill(tiny_skill.skill_dir)])
    alone = Predictor.load(tiny_skill.skill_dir)
    texts = ["what is the weather in paris tomorrow", "wake me up at six", "play some jazz"]
    shared = served.parse_batch(texts, [Selection(("tiny-skill",))] * len(texts))
    for a, b in zip(shared, alone.parse_batch(texts), strict=True):
        assert a.skill == b.skill == "tiny-skill" and a.tags == b.tags and a.intent == b.intent
        np.testing.assert_allclose(a.intent_probs, b.intent_probs, atol=1e-6)
    assert set(served.skills) == {base.primary.name, "tiny-skill"} and set(base.skills) == {base.primary.name}


def test_every_skill_answers_when_asked_and_the_best_is_chosen(tiny_skill: TinySkill) -> None:
    base = Predictor.load(tiny_skill.base)
    served = base.with_skills([base.load_skill(tiny_skill.skill_dir)])
    parse = served.parse_batch(["wake me up at six"], [Selection(per_skill=True)])[0]
    assert set(parse.per_skill) == set(served.skills)
    assert parse == parse.per_skill[parse.skill]
    claims = [p for name, p in parse.per_skill.items() if name == "tiny-skill" and p.claimed]
    assert parse.skill == ("tiny-skill" if claims else base.primary.name)  # a claiming specialist goes first


def test_the_routing_experiment_chooses_as_the_service_does(tiny_skill: TinySkill) -> None:
    from experiments.routing_rules import choose, claims

    base = Predictor.load(tiny_skill.base)
    served = base.with_skills([base.load_skill(tiny_skill.skill_dir)])
    texts = ["wake me up at six", "what is the weather in paris tomorrow", "play some jazz", "set an alarm"]
    name = base.primary.name
    for parse in served.parse_batch(texts, [Selection(per_skill=True)] * len(texts)):
        answers = parse.per_skill
        assert choose("specialists-first", claims(served, answers, name, "specialists-first"), name,
                      answers[name].confidence) == parse.skill


def test_a_skill_whose_best_intent_is_out_of_skill_never_claims(tiny_skill: TinySkill) -> None:
    skill = Predictor.load(tiny_skill.base).load_skill(tiny_skill.skill_dir)
    other, n = skill.out_of_skill, len(skill.manifest.intents)
    assert other is not None
    skill.claim_threshold = 0.9  # lenient: claims what it is not sure is foreign
    probs = np.full(n, 0.4 / (n - 1))
    probs[other] = 0.6
    assert not skill.claims(probs)  # under the threshold, but its answer would be the out-of-skill class
    probs = np.full(n, 0.1 / (n - 2))
    probs[other], probs[(other + 1) % n] = 0.45, 0.45 + 1e-3
    assert skill.claims(probs)


def test_a_skill_on_another_encoder_is_refused(tiny_skill: TinySkill) -> None:
    with pytest.raises(ManifestError, match=r"trained on encoder .* retrain it with --base"):
        Predictor.load(MODEL_DIR).load_skill(tiny_skill.skill_dir)


@pytest.fixture
def skills_client(tiny_skill: TinySkill, tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    skills = tmp_path / "skills"
    skills.mkdir()
    shutil.copytree(tiny_skill.skill_dir, skills / "tiny-skill")
    settings = Settings(model_dir=tiny_skill.base, skills_dir=skills, admin_token=ADMIN)
    with TestClient(create_app(settings)) as c:
        yield c, skills


def test_skills_are_listed_and_answer_parse(skills_client: tuple[TestClient, Path]) -> None:
    c, _ = skills_client
    listed = c.get("/skills").json()["skills"]
    assert [s["primary"] for s in listed] == [True, False] and listed[1]["name"] == "tiny-skill"
    assert listed[0]["encoder_id"] == listed[1]["encoder_id"] and "<other>" in listed[1]["intents"]
    body = c.post("/parse", json={"text": "set an alarm for six", "skills": ["tiny-skill"]}).json()
    assert body["skill"] == "tiny-skill" and body["model"]["name"] == "tiny-skill" and "per_skill" not in body
    both = c.post("/parse", json={"text": "set an alarm for six", "per_skill": True}).json()
    assert {p["skill"] for p in both["per_skill"]} == {s["name"] for s in listed}
    batch = c.post("/parse/batch", json={"texts": ["play jazz", "wake me at 7"], "skills": ["tiny-skill"]}).json()
    assert [r["skill"] for r in batch["results"]] == ["tiny-skill", "tiny-skill"]


@pytest.mark.parametrize("skills, hint", [(["nope"], "unknown skill 'nope'"), ([], "at least 1"),
                                          ("tiny-skill", "valid array")])
def test_a_bad_skill_selection_gets_422(skills_client: tuple[TestClient, Path], skills: object, hint: str) -> None:
    c, _ = skills_client
    r = c.post("/parse", json={"text": "play jazz", "skills": skills})
    assert r.status_code == 422 and hint in json.dumps(r.json())
    assert c.post("/parse", json={"text": "play jazz"}).status_code == 200


def test_skills_are_added_and_removed_while_serving(skills_client: tuple[TestClient, Path],
                                                    tiny_skill: TinySkill) -> None:
    c, skills = skills_client
    auth = {"Authorization": f"Bearer {ADMIN}"}
    shutil.copytree(tiny_skill.skill_dir, skills / "copy")  # a second skill of the same name ...
    assert c.delete("/admin/skills/tiny-skill", headers=auth).json()["skills"] == ["massive-en-elmol"]
    assert c.post("/parse", json={"text": "x", "skills": ["tiny-skill"]}).status_code == 422
    assert c.post("/admin/skills/copy", headers=auth).json()["skills"] == ["massive-en-elmol", "tiny-skill"]
    assert c.post("/parse", json={"text": "wake me", "skills": ["tiny-skill"]}).json()["skill"] == "tiny-skill"
    assert c.delete("/admin/skills/massive-en-elmol", headers=auth).status_code == 409  # the model itself
    assert c.delete("/admin/skills/nope", headers=auth).status_code == 404
    assert c.post("/admin/skills/missing", headers=auth).status_code == 409
    assert c.post("/admin/skills/..", headers=auth).status_code in (404, 422)
    assert c.post("/admin/skills/copy").status_code == 401
    (skills / "broken").mkdir()
    shutil.copy(tiny_skill.skill_dir / "manifest.json", skills / "broken")
    r = c.post("/admin/skills/broken", headers=auth)
    assert r.status_code == 409 and "the others keep serving" in r.json()["detail"]
    assert [s["name"] for s in c.get("/skills").json()["skills"]] == ["massive-en-elmol", "tiny-skill"]


def test_cli_eval_scores_any_annotated_file(tiny_skill: TinySkill, capsys: pytest.CaptureFixture) -> None:
    assert cli(["skill", "eval", str(tiny_skill.skill_dir), str(tiny_skill.test), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 40 and set(report["per_intent"]) == set(INTENTS)
    assert 0 <= report["slot_f1"] <= 100 and report["model"]["name"] == "tiny-skill"
    assert cli(["skill", "eval", str(tiny_skill.skill_dir), str(tiny_skill.test)]) == 0
    assert "intent accuracy" in capsys.readouterr().out


BAD_FILES = {
    "unclosed mark": ("nlu:\n- intent: a\n  examples: |\n    - play [jazz(genre)\n", "bad.yml:4"),
    "overlapping marks": ('{"annot_utt": "[a : [b : x]]", "intent": "i"}\n', "bad.jsonl:1"),
    "not utf-8": (b"\xff\xfe\x00nlu", "UTF-8"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_annotation_files_get_file_line_and_problem_not_a_traceback(
        case: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    content, hint = BAD_FILES[case]
    suffix = {"overlapping marks": ".jsonl"}.get(case, ".yml")
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert cli(["skill", "train", str(path), "--name", "x", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert hint in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing trained


def test_a_rare_intent_is_a_warning_and_strict_makes_it_an_error(
        tiny_skill: TinySkill, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "rare.yml"
    data.write_text(tiny_skill.data.read_text() + "- intent: greet\n  examples: |\n    - hello there\n")
    strict = cli(["skill", "train", str(data), "--name", "x", "--base", str(tiny_skill.base), "--strict",
                  "--out", str(tmp_path / "strict")])
    refused = capsys.readouterr().err
    assert strict == 2 and not (tmp_path / "strict").exists()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*ill-defined.*")  # seqeval, a model of seconds
        status = cli(["skill", "train", str(data), "--name", "x", "--base", str(tiny_skill.base),
                      "--out", str(tmp_path / "x"), "--time-budget", "60s"])
    captured = capsys.readouterr()
    assert status == 0
    warned = [line for line in captured.err.splitlines() if "'greet' has 1 example" in line]
    assert len(warned) == 1 and ": warning: " in warned[0]
    assert warned[0].replace(": warning: ", ": error: ") in refused.splitlines()  # the same line, as an error
    report = json.loads((tmp_path / "x" / "report.json").read_text())
    assert report["rare_intents"] == {"greet": {"examples": 1, "dev": 0, "dev_accuracy": None}}
    assert "rare intent 'greet': 1 example(s), none held out for dev" in captured.out


def test_cli_add_remove_list_on_a_skills_directory(tiny_skill: TinySkill, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    skills = tmp_path / "skills"
    assert cli(["skill", "add", str(tiny_skill.skill_dir), "--skills-dir", str(skills)]) == 0
    assert load_manifest(skills / "tiny-skill").skill == "tiny-skill"
    assert cli(["skill", "list", "--skills-dir", str(skills)]) == 0
    assert "tiny-skill" in capsys.readouterr().out
    assert cli(["skill", "remove", "tiny-skill", "--skills-dir", str(skills)]) == 0
    assert not (skills / "tiny-skill").exists()
    assert cli(["skill", "remove", "tiny-skill", "--skills-dir", str(skills)]) == 2
    assert cli(["skill", "add", str(tmp_path), "--skills-dir", str(skills)]) == 2  # not a model directory


def test_adding_and_removing_skills_does_not_disturb_requests_in_flight(tiny_skill: TinySkill, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture) -> None:
    """A real server: parses keep coming while `elmol-nlu skill add/remove --service` swap skills in and out."""
    import httpx
    from conftest import free_port
    from test_server import clean_env, server, wait_ready

    skills, port = tmp_path / "skills", free_port()
    skills.mkdir()
    env = clean_env(ELMOL_ADMIN_TOKEN=ADMIN, ELMOL_LATENCY_BUDGET_MS="5000")
    args = ["--model-dir", str(tiny_skill.base), "--skills-dir", str(skills), "--port", str(port)]
    admin = ["--service", f"http://127.0.0.1:{port}", "--token", ADMIN, "--skills-dir", str(skills)]
    with server(args, env, tmp_path) as proc:
        wait_ready(proc, port, tmp_path)

        def parse(i: int) -> tuple[int, str]:
            r = httpx.post(f"http://127.0.0.1:{port}/parse", json={"text": f"wake me up at {i % 12 + 1} am"},
                           timeout=30)
            return r.status_code, r.json().get("skill", "")

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(4) as pool:
            answers = pool.map(parse, range(400))
            for _ in range(3):
                assert cli(["skill", "add", str(tiny_skill.skill_dir), *admin]) == 0
                assert cli(["skill", "remove", "tiny-skill", *admin]) == 0
            assert cli(["skill", "add", str(tiny_skill.skill_dir), *admin]) == 0
            answers = list(answers)
        assert proc.poll() is None  # the same process throughout: no restart
    assert {status for status, _ in answers} == {200}
    assert {skill for _, skill in answers} <= {"massive-en-elmol", "tiny-skill"}
    assert "now serves: massive-en-elmol, tiny-skill" in capsys.readouterr().out


def test_the_skill_study_runs_resumes_and_reports(tiny_skill: TinySkill, tmp_path: Path) -> None:
    """training.skill_study end to end on the tiny model (a few seconds a run), then its report."""
    from experiments import skill_study
    from experiments.skill_report import error_reduction

    args = ["--base", str(tiny_skill.base), "--arms", "transfer", "scratch", "--domains", "weather", "--sizes", "20",
            "--seeds", "0", "--out", str(tmp_path)]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*ill-defined.*")
        skill_study.main(args)
        skill_study.main(args)  # resumes: nothing left to run
    rows = (tmp_path / "runs.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[1].startswith("transfer,weather,20,0,")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["means"]) == {"transfer", "scratch"}
    assert "20" in summary["error_reduction"]["transfer"]["scratch"]
    # a variant (a recipe chosen on dev, say) is its own arm, compared with the same peers, on the same samples
    skill_study.main([*args[:3], "transfer", *args[5:], "--variant", "steps", "--set", "min_steps=50"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["error_reduction"]) == {"transfer", "transfer@steps"}
    assert "20" in summary["error_reduction"]["transfer@steps"]["scratch"]
    assert (tmp_path / "learning_curves.png").stat().st_size > 10_000 and "| scratch" not in rows[0]
    assert error_reduction({"intent_acc": 90, "slot_f1": 80, "exact_match": 70},
                           {"intent_acc": 80, "slot_f1": 80, "exact_match": 100}) == {
        "intent_acc": 50.0, "slot_f1": 0.0, "exact_match": None}


def test_a_refit_skill_trains_on_dev_and_its_copies_too_and_is_calibrated_by_the_model_chosen_before(
        tiny_skill: TinySkill, tmp_path: Path) -> None:
    from elmol_nlu.datasets import load_split
    from export.skill import export_skill, source_checkpoint
    from training.skill import SkillConfig, train_skill

    examples = [e for e in load_split(MASSIVE, "train") if e.example.intent in INTENTS][:60]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*ill-defined.*")
        skill = train_skill(examples, None, source_checkpoint(tiny_skill.base),
                            SkillConfig(refit=True, refit_min_examples=0, min_steps=40, epoch_range=(3, 6),
                                        time_budget_s=60, mention_copies=1, mention_open_ratio=0.0))
        content = export_skill(skill, "refit-skill", tiny_skill.base, tmp_path / "refit-skill")
    refit = skill.state["data"]["refit"]
    assert skill.state["data"]["mention_copies"] > 0  # copies of train + dev trained the served heads
    assert skill.selection_model is not None and skill.selection_model is not skill.model
    assert 1 <= refit["epochs"] <= refit["of"] == len(skill.state["history"])
    assert skill.state["fit"]["epochs"] == refit["epochs"]
    assert "before the refit" in content["calibration"]["fitted_on"]
    served = load_manifest(tmp_path / "refit-skill").raw["calibration"]
    assert served["intent_temperature"] == content["calibration"]["intent_temperature"]
    assert served["fitted_on"].endswith("before the refit")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["refit-skill"]  # the selection model's copy is gone
    # the lexical model served has seen dev as the heads have; the one beside the selection model has not
    assert skill.lexical is not None and skill.selection_lexical is not None
    assert skill.lexical.model.idf.shape != skill.selection_lexical.model.idf.shape or \
        not np.allclose(skill.lexical.model.weights, skill.selection_lexical.model.weights)
    assert "dev" in load_manifest(tmp_path / "refit-skill").raw["lexical"]["fitted_on"]
    if "claim" in content:  # fitted where the dev split is unseen, as the temperatures are
        assert content["claim"]["fitted_on"].endswith("before the refit")


def test_a_refit_is_skipped_when_it_would_pass_the_time_budget() -> None:
    from training.skill_refit import refit_in_budget

    assert refit_in_budget(None, 500.0, 100.0)
    assert refit_in_budget(240.0, 100.0, 100.0)
    assert not refit_in_budget(240.0, 200.0, 100.0)


@pytest.mark.parametrize(("flags", "field", "value"), [
    ([], "mention_copies", None), (["--mention-copies", "0"], "mention_copies", 0),
    ([], "lexical_weight", None), (["--lexical-weight", "0"], "lexical_weight", 0.0),
    (["--no-refit"], "refit", False), (["--own-encoder"], "share_encoder", False)])
def test_skill_train_flags_override_the_recipe_and_nothing_else(flags: list[str], field: str, value: object) -> None:
    from cli.main import parser
    from cli.skill import skill_config
    from training.skill import SkillConfig

    recipe = SkillConfig(time_budget_s=60.0).to_dict()
    cfg = skill_config(parser().parse_args(["skill", "train", "data.jsonl", "--name", "x", *flags]), 60.0).to_dict()
    assert cfg[field] == (recipe[field] if value is None else value)  # None: the flag left out
    assert {k: v for k, v in cfg.items() if k != field} == {k: v for k, v in recipe.items() if k != field}
