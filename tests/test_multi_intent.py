"""Several intents in one utterance: labels read from every format, a skill with a sigmoid per intent trained
for real on the shipped model (about a minute: the tiny model of conftest learns nothing in seconds that
could tell a pair from one intent), its ``intents`` through ``POST /parse``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import MASSIVE, MODEL_DIR
from fastapi.testclient import TestClient

from cli.main import main as cli
from elmol_nlu.annotations import check_file, read_annotations
from elmol_nlu.datasets import read_massive, tag
from elmol_nlu.intents import canonical, fit_threshold, found, join_intents, multi_hot, split_intents
from elmol_nlu.manifest import load_manifest
from elmol_nlu.runtime import Predictor
from service.app import create_app
from service.settings import Settings

PAIR = ("alarm_set", "weather_query")
BOTH = f"{PAIR[1]}#{PAIR[0]}"  # written in the file's order, not sorted


def write_bio(folder: Path, rows: list[tuple[list[str], list[str], str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, column in (("seq.in", 0), ("seq.out", 1)):
        (folder / name).write_text("".join(" ".join(r[column]) + "\n" for r in rows))
    (folder / "label").write_text("".join(r[2] + "\n" for r in rows))
    return folder


def multi_intent_rows(singles: int, pairs: int, offset: int = 0) -> list[tuple[list[str], list[str], str]]:
    """MASSIVE utterances of PAIR alone, and pairs of them joined by 'and' under the label 'b#a'."""
    tagged = [tag(e) for e in read_massive(MASSIVE, "train") if e.intent in PAIR]
    by = {i: [t for t in tagged if t.example.intent == i][offset:] for i in PAIR}
    rows = [(t.words, t.tags, i) for i in PAIR for t in by[i][:singles]]
    for a, b in zip(by[PAIR[0]][singles : singles + pairs], by[PAIR[1]][singles : singles + pairs], strict=True):
        rows.append(([*b.words, "and", *a.words], [*b.tags, "O", *a.tags], BOTH))
    return rows


def test_labels_split_join_and_compare_as_sets() -> None:
    assert split_intents(" b # a#b ") == ("b", "a") and split_intents("#") == ()
    assert canonical("b#a") == canonical("a#b") == join_intents(["b", "a"]) == "a#b"
    assert canonical("play_music") == "play_music"
    assert multi_hot(["a#c", "b"], ["a", "b", "c"]).tolist() == [[1, 0, 1], [0, 1, 0]]
    probs = np.array([0.7, 0.2, 0.55])
    assert found(probs, 0.5) == [0, 2] and found(probs, 0.9) == [0]  # the best one even under the threshold
    dev_probs = np.array([[0.9, 0.4], [0.8, 0.1], [0.3, 0.95]])
    # 0.4 would add 'b' to the second-best of the first row: the set 'a#b' needs a threshold at or under 0.4
    assert fit_threshold(dev_probs, ["a#b", "a", "b"], ["a", "b"]) <= 0.4
    assert fit_threshold(dev_probs, ["a", "a", "b"], ["a", "b"]) > 0.4


def test_every_format_reads_several_intents(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(json.dumps({"annot_utt": "wake me at [time : seven] and play jazz",
                                                  "intent": ["alarm_set", "play_music"]}) + "\n")
    (tmp_path / "a.yml").write_text("nlu:\n- intent: alarm_set+play_music\n  examples: |\n"
                                    "    - wake me at [seven](time) and play jazz\n")
    words = ["wake", "me", "at", "seven", "and", "play", "jazz"]
    write_bio(tmp_path / "bio", [(words, ["O", "O", "O", "B-time", "O", "O", "O"], "alarm_set#play_music")])
    for path in (tmp_path / "a.jsonl", tmp_path / "a.yml", tmp_path / "bio"):
        items, problems = read_annotations(path)
        assert [canonical(i.example.intent) for i in items] == ["alarm_set#play_music"], path
        assert not problems, path
    write_bio(tmp_path / "bad", [(["hello"], ["O"], "greet#"), (["hi"], ["O"], "#"),
                                 (["hey"], ["O"], "gre et#x")])
    _, problems = check_file(tmp_path / "bad", min_per_intent=1)
    messages = [p.message for p in problems if p.severity == "error"]
    assert any("names no intent" in m for m in messages)  # '#' alone
    assert any("'gre et' is not plain" in m for m in messages)  # each intent of a label is checked


@pytest.fixture(scope="module")
def multi_skill(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list]:
    root = tmp_path_factory.mktemp("multi")
    rows = [*multi_intent_rows(40, 40), (["hello", "there"], ["O", "O"], "greet")]  # greet: one example
    data = write_bio(root / "data", rows)
    status = cli(["skill", "train", str(data), "--name", "multi", "--base", str(MODEL_DIR),
                  "--out", str(root / "multi"), "--time-budget", "150s"])
    assert status == 0
    return root / "multi", data, multi_intent_rows(0, 20, offset=80)


def test_a_multi_intent_file_with_a_rare_intent_trains_with_warnings_and_strict_refuses_it(
        multi_skill: tuple[Path, Path, list], tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    skill_dir, data, _ = multi_skill
    status = cli(["skill", "train", str(data), "--name", "x", "--base", str(MODEL_DIR), "--strict",
                  "--out", str(tmp_path / "strict")])
    refused = capsys.readouterr().err.splitlines()
    assert status == 2 and not (tmp_path / "strict").exists()
    warned = [line for line in refused if "'greet' has 1 example" in line]
    assert len(warned) == 1 and ": error: " in warned[0]
    _, problems = check_file(data)
    assert [str(p) for p in problems if "'greet'" in p.message] == [warned[0].replace(": error: ", ": warning: ")]
    manifest = load_manifest(skill_dir)
    nlu = manifest.raw["config"]["nlu"]
    assert nlu["multi_intent"] is True and 0.1 <= nlu["intent_threshold"] <= 0.9
    assert manifest.intent_threshold == nlu["intent_threshold"]
    assert set(PAIR) | {"greet"} <= set(manifest.intents) and not any("#" in i for i in manifest.intents)
    calibration = manifest.raw["calibration"]
    assert "per-label" in calibration["intent_objective"]
    assert {"intent", "slot", "top_intent"} <= set(calibration["dev"]["after"])
    report = json.loads((skill_dir / "report.json").read_text())
    assert report["rare_intents"]["greet"]["examples"] == 1


def test_a_multi_intent_skill_finds_both_intents_and_answers_them_in_parse(
        multi_skill: tuple[Path, Path, list]) -> None:
    skill_dir, _, held_out = multi_skill
    predictor = Predictor.load(skill_dir)
    parses = predictor.parse_batch([" ".join(words) for words, _, _ in held_out])
    for parse in parses:
        names = [n for n, _ in parse.intents]
        confidences = [c for _, c in parse.intents]
        assert names[0] == parse.intent and confidences == sorted(confidences, reverse=True)
        assert len(set(names)) == len(names) and all(0 <= c <= 1 for c in confidences)
    both = sum(p.intent_label == canonical(BOTH) for p in parses)
    assert both >= 0.8 * len(parses), [p.intent_label for p in parses]  # pairs it has not seen
    with TestClient(create_app(Settings(model_dir=skill_dir))) as c:
        text = " ".join(held_out[0][0])
        body = c.post("/parse", json={"text": text}).json()
        parse = predictor.parse(text)
        assert [i["name"] for i in body["intents"]] == [n for n, _ in parse.intents]
        assert body["intents"][0] == body["intent"]
        documented = c.get("/openapi.json").json()["components"]["schemas"]["ParseResponse"]["properties"]
        assert "multi-intent" in documented["intents"]["description"]
