"""A new skill's annotation files: every format read with its line numbers, every check, and garbage in."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import MASSIVE, SNIPS
from hypothesis import given, settings
from hypothesis import strategies as st

from elmol_nlu.annotations import (
    FORMATS,
    Annotated,
    AnnotationFileError,
    Problem,
    check_file,
    detect_format,
    has_errors,
    parse_rasa,
    read_annotations,
    validate,
)
from elmol_nlu.datasets import AnnotationError, CharSlot, Example, read_bio_folder, read_massive

RASA_YAML = """\
version: "3.1"
nlu:
- intent: weather_query
  examples: |
    - what's the weather in [paris](city)
    - weather in [new york]{"entity": "city"} [today](date)
    - rain in [lyon(city)

    - will it rain in [lyon](city:Lyon)
- synonym: NYC
  examples: |
    - new york
- intent: greet
  examples: |
    - hi
"""

RASA_MD = """\
# my assistant
## intent:weather_query
- what's the weather in [paris](city)
* weather in [new york]{"entity": "city"} [today](date)
<!-- a comment -->

- rain in [lyon(city)
## synonym:NYC
- new york
## intent:greet
+ hi
"""


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def slot_values(item: Annotated) -> list[tuple[str, str]]:
    return [(s.name, item.example.text[s.start : s.end]) for s in item.example.slots]


def annotated(marked: str, intent: str = "weather_query", line: int = 1, file: str = "skill.yml",
              partition: str | None = None) -> Annotated:
    text, slots = parse_rasa(marked)
    return Annotated(Example(text, intent, slots), file, line, partition)


def many(intent: str, n: int, start: int = 1) -> list[Annotated]:
    """``n`` distinct examples of ``intent`` on lines ``start``, ``start + 1``, ..."""
    return [annotated(f"{intent} example number {k} in [paris](city)", intent, start + k) for k in range(n)]


def only(problems: list[Problem], word: str) -> list[Problem]:
    return [p for p in problems if word in p.message]


# ---- the public shapes


def test_problem_reads_like_a_compiler_message() -> None:
    assert str(Problem("skill.yml", 7, "unclosed '['")) == "skill.yml:7: error: unclosed '['"
    assert str(Problem("skill.yml", None, "no 'nlu:' list", "warning")) == "skill.yml: warning: no 'nlu:' list"
    assert has_errors([Problem("a", 1, "x", "warning"), Problem("a", 2, "y")])
    assert not has_errors([Problem("a", 1, "x", "warning")])


@pytest.mark.parametrize(("name", "text", "fmt"), [
    ("skill.jsonl", "{}", "massive"), ("skill.json", "{}", "massive"), ("skill.yml", "nlu: []", "rasa-yaml"),
    ("skill.YAML", "nlu: []", "rasa-yaml"), ("skill.md", "## intent:x", "rasa-md"),
    ("skill.txt", '{"intent": "x"}\n', "massive"), ("skill.txt", "version: '3.1'\nnlu:\n", "rasa-yaml"),
    ("skill.txt", "## intent:greet\n- hi\n", "rasa-md"),
])
def test_detect_format_from_suffix_or_content(tmp_path: Path, name: str, text: str, fmt: str) -> None:
    assert detect_format(write(tmp_path, name, text)) == fmt
    assert fmt in FORMATS


def test_detect_format_of_folders() -> None:
    assert detect_format(SNIPS / "train") == "bio"
    assert detect_format(SNIPS) == "bio"  # train/, dev/, test/


@pytest.mark.parametrize(("name", "hint"), [
    ("missing.jsonl", "does not exist"), ("notes.txt", "cannot tell the format"),
    ("empty", r"is a folder without seq\.in"), ("seq.in", "pass the folder"),
])
def test_detect_format_says_why_it_cannot(tmp_path: Path, name: str, hint: str) -> None:
    if name == "empty":
        (tmp_path / name).mkdir()
    elif name != "missing.jsonl":
        write(tmp_path, name, "just some words\n")
    with pytest.raises(AnnotationFileError, match=hint):
        detect_format(tmp_path / name)
    with pytest.raises(AnnotationFileError, match=hint):
        read_annotations(tmp_path / name)


def test_read_annotations_rejects_a_wrong_format_name(tmp_path: Path) -> None:
    path = write(tmp_path, "skill.jsonl", "{}\n")
    with pytest.raises(AnnotationFileError, match="unknown format 'csv': use one of massive, bio"):
        read_annotations(path, "csv")
    with pytest.raises(AnnotationFileError, match="is a file: bio is read from a folder"):
        read_annotations(path, "bio")
    with pytest.raises(AnnotationFileError, match="is a folder: massive is read from a file"):
        read_annotations(SNIPS / "train", "massive")


# ---- MASSIVE JSON lines


def test_massive_rows_read_back_as_read_massive_reads_them(tmp_path: Path) -> None:
    rows = MASSIVE.read_text(encoding="utf-8").splitlines()[:40]
    path = write(tmp_path, "skill.jsonl", "\n".join(rows) + "\n")
    items, problems = read_annotations(path)
    assert problems == []
    assert [i.example for i in items] == read_massive(path) == read_massive(MASSIVE)[:40]
    assert [i.partition for i in items] == [json.loads(r)["partition"] for r in rows]
    assert [i.line for i in items] == list(range(1, 41))
    assert {i.file for i in items} == {str(path)}


def test_massive_bad_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    good = {"annot_utt": "wake me at [time : seven]", "intent": "alarm_set"}
    lines = [
        json.dumps(good),
        '{"annot_utt": "wake me", "intent": ',  # 2: cut short
        "",  # 3: blank lines are skipped, but counted
        json.dumps("wake me"),  # 4: not an object
        json.dumps({"annot_utt": "wake me"}),  # 5: no intent
        json.dumps({"intent": "alarm_set"}),  # 6: no annot_utt
        json.dumps({"annot_utt": "wake me at [time : seven", "intent": "alarm_set"}),  # 7: bad mark
        json.dumps({**good, "utt": "wake me at eight"}),  # 8: utt disagrees
        json.dumps({**good, "partition": "validation"}),  # 9: unknown partition
        "[" * 100_000,  # 10: absurdly nested
        json.dumps({**good, "partition": "dev", "id": 12, "scenario": "alarm"}),
    ]
    items, problems = read_annotations(write(tmp_path, "skill.jsonl", "\n".join(lines)))
    assert [i.line for i in items] == [1, 8, 9, 11]
    assert items[-1] == Annotated(Example("wake me at seven", "alarm_set", (CharSlot("time", 11, 16),), "alarm", "12"),
                                  str(tmp_path / "skill.jsonl"), 11, "dev")
    assert items[2].partition is None
    assert [p.line for p in problems] == [2, 4, 5, 6, 7, 8, 9, 10]
    assert all(p.severity == "error" for p in problems)
    messages = [p.message for p in problems]
    assert messages[0].startswith("not valid JSON (Expecting value at column")
    assert "a JSON str where an object is needed" in messages[1]
    assert "'intent' is missing" in messages[2]
    assert "'annot_utt' is missing" in messages[3]
    assert "unclosed '['" in messages[4] and "'[slot_name : value]'" in messages[4]
    assert "'utt' 'wake me at eight' differs from the text of 'annot_utt' 'wake me at seven'" in messages[5]
    assert "partition 'validation' is not one of train, dev, test" in messages[6]


def test_massive_json_array_is_one_file_problem(tmp_path: Path) -> None:
    rows = [{"annot_utt": "hi", "intent": "greet"}] * 2
    items, problems = read_annotations(write(tmp_path, "skill.json", json.dumps(rows, indent=2)))
    assert items == []
    assert [(p.line, p.severity) for p in problems] == [(None, "error")]
    assert "JSON array: write one object per line" in problems[0].message


# ---- BIO folders


def test_snips_folder_reads_without_errors() -> None:
    items, problems = read_annotations(SNIPS / "train")
    assert not has_errors(problems)
    assert [i.example for i in items] == read_bio_folder(SNIPS / "train")
    assert items[6].line == 7 and items[6].file == str(SNIPS / "train" / "seq.in")
    assert {i.partition for i in items} == {None}


def test_bio_partitions_come_from_subfolders(tmp_path: Path) -> None:
    for name, n in (("train", 3), ("dev", 2), ("valid", 1)):
        write(tmp_path, f"{name}/seq.in", "play jazz\n" * n)
        write(tmp_path, f"{name}/seq.out", "O B-genre\n" * n)
        write(tmp_path, f"{name}/label", "play_music\n" * n)
    items, problems = read_annotations(tmp_path)
    assert [(i.partition, i.line) for i in items] == [("train", 1), ("train", 2), ("train", 3), ("dev", 1), ("dev", 2)]
    assert [(p.file, p.severity) for p in problems] == [(str(tmp_path / "valid"), "warning")]
    assert "'valid' is not train, dev or test" in problems[0].message


def bio_folder(tmp_path: Path, words: list[str], tags: list[str], labels: list[str]) -> Path:
    for name, lines in (("seq.in", words), ("seq.out", tags), ("label", labels)):
        write(tmp_path, name, "".join(line + "\n" for line in lines))
    return tmp_path


def test_bio_line_problems_name_the_file_and_line(tmp_path: Path) -> None:
    folder = bio_folder(
        tmp_path,
        ["play jazz", "play some jazz", "play new york jazz", "play jazz", "play jazz", "play jazz"],
        ["O B-genre", "O B-genre", "O I-city I-city B-genre", "O X-genre", "O B-genre", "O b-genre"],
        ["play_music", "play_music", "play_music", "play_music", "", "play_music"],
    )
    items, problems = read_annotations(folder)
    assert [i.line for i in items] == [1, 3]
    assert slot_values(items[1]) == [("city", "new york"), ("genre", "jazz")]  # the stray I-city opened the slot
    found = [(Path(p.file).name, p.line, p.severity) for p in problems]
    assert found == [("seq.out", 2, "error"), ("seq.out", 3, "warning"), ("seq.out", 4, "error"),
                     ("label", 5, "error"), ("seq.out", 6, "error")]
    assert problems[0].message == "2 tags for 3 words: give one tag per word of seq.in"
    assert problems[1].message == "tag 2 'I-city' follows 'O', not 'B-city' or 'I-city': read as 'B-city'"
    assert "tag 'X-genre' is not of the form O, B-slot_name or I-slot_name" in problems[2].message
    assert "no intent" in problems[3].message


def test_bio_line_counts_must_agree(tmp_path: Path) -> None:
    folder = bio_folder(tmp_path, ["play jazz", "play pop", ""], ["O B-genre", "O B-genre"], ["play_music"])
    items, problems = read_annotations(folder)
    assert items == []
    assert [(p.file, p.line) for p in problems] == [(str(folder), None)]
    assert problems[0].message.startswith("seq.in has 2 lines, seq.out 2 and label 1")


def test_bio_folder_without_label_file(tmp_path: Path) -> None:
    write(tmp_path, "seq.in", "play jazz\n")
    write(tmp_path, "seq.out", "O B-genre\n")
    with pytest.raises(AnnotationFileError, match=r"has seq\.in but no label"):
        read_annotations(tmp_path)


def test_bio_intent_and_slot_problems_point_at_their_files(tmp_path: Path) -> None:
    folder = bio_folder(tmp_path, ["play pop", "play jazz"], ["O B-genre", "O B-gen/re"], ["play_music", "Play Music"])
    problems = check_file(folder, min_per_intent=1)[1]
    assert [(Path(p.file).name, p.line, p.message.split(" is ")[0]) for p in problems] == [
        ("label", 2, "intent name 'Play Music'"), ("seq.out", 2, "slot name 'gen/re'")]


# ---- Rasa marks, YAML, Markdown


@pytest.mark.parametrize(("marked", "text", "slots"), [
    ("what's the weather in [paris](city)", "what's the weather in paris", [("city", "paris")]),
    ('fly to [new york]{"entity": "city", "role": "to"}', "fly to new york", [("city", "new york")]),
    ("fly to [NYC](city:New York City) now", "fly to NYC now", [("city", "NYC")]),
    ("[today](date) in [ paris ](city)", "today in  paris ", [("date", "today"), ("city", "paris")]),
    ("no marks (at all)", "no marks (at all)", []),
])
def test_parse_rasa(marked: str, text: str, slots: list[tuple[str, str]]) -> None:
    got, spans = parse_rasa(marked)
    assert (got, [(s.name, got[s.start : s.end]) for s in spans]) == (text, slots)


@pytest.mark.parametrize(("marked", "hint"), [
    ("in [paris(city)", "unclosed '['"), ("in [paris](city", "unclosed '('"), ("in paris](city)", "']' without '['"),
    ("in [paris] now", "not followed by '(slot_name)'"), ("in [paris]()", "no slot name"),
    ("in [](city)", "slot 'city' has an empty value"), ("in [ ](city)", "empty value"),
    ("in [[paris](city) france](country)", "nested or overlapping"),
    ('in [paris]{"entity": 3}', "is not JSON like"), ("in [paris]{city}", "is not JSON like"),
])
def test_parse_rasa_rejects_malformed_marks(marked: str, hint: str) -> None:
    with pytest.raises(AnnotationError, match=re.escape(hint)):
        parse_rasa(marked)


def test_rasa_yaml_examples_keep_their_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "skill.yml", RASA_YAML)
    items, problems = read_annotations(path)
    assert [(i.line, i.example.intent) for i in items] == [
        (5, "weather_query"), (6, "weather_query"), (9, "weather_query"), (15, "greet")]
    assert slot_values(items[1]) == [("city", "new york"), ("date", "today")]
    assert slot_values(items[2]) == [("city", "lyon")]
    assert [(p.file, p.line, p.severity) for p in problems] == [(str(path), 7, "error")]  # the bad mark, line 7
    assert problems[0].message.startswith("'rain in [lyon(city)': unclosed '['")


@pytest.mark.parametrize(("text", "line", "hint", "severity"), [
    ("nlu:\n- intent: greet\n  examples: |\n    - hi\n  bad: [\n", 6, "not valid YAML: expected the node", "error"),
    ("nlu:\n- intent: greet\n  examples: |\n    - hi\n  bad: b: c\n", 5, "mapping values are not allowed", "error"),
    ("nlu:\n- intent: greet\n  examples: |\n    - hi\n  bad: [a\n", 6, "flow sequence that starts on line 5", "error"),
    ("just a plain string\n", None, "no 'nlu:' list", "error"),
    ("version: '3.1'\n", None, "no 'nlu:' list", "error"),
    ("nlu:\n- intent: greet\n", 2, "intent 'greet' has no 'examples: |' block", "error"),
    ("nlu:\n- intent:\n  examples: |\n    - hi\n", 2, "'intent:' needs a name", "error"),
    ("nlu:\n- intent: greet\n  examples: |\n    - hi\n    hello\n", 5, "'hello' is not an example line", "error"),
    ("nlu:\n- regex: zip\n  examples: |\n    - \\d{5}\n- foo: bar\n", 5, "ignored: an nlu item", "warning"),
    ("nlu:\n- intent: greet\n  examples: >\n    - hi\n", 3, "write 'examples: |'", "warning"),
    ("nlu:\n- intent: greet\n  examples: |\n    - hi \x01\n", 4, "not valid YAML", "error"),
    ("nlu: " + "[" * 5000, None, "not valid YAML: nested too deeply", "error"),
])
def test_rasa_yaml_problems(tmp_path: Path, text: str, line: int | None, hint: str, severity: str) -> None:
    _, problems = read_annotations(write(tmp_path, "skill.yaml", text))
    assert len(problems) == 1, problems
    assert (problems[0].line, problems[0].severity) == (line, severity)
    assert hint in problems[0].message


def test_rasa_markdown_examples_keep_their_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "skill.md", RASA_MD)
    items, problems = read_annotations(path)
    assert [(i.line, i.example.intent, i.example.text) for i in items] == [
        (3, "weather_query", "what's the weather in paris"), (4, "weather_query", "weather in new york today"),
        (11, "greet", "hi")]
    assert [(p.line, p.severity) for p in problems] == [(7, "error")]
    assert "unclosed '['" in problems[0].message


def test_rasa_markdown_problems(tmp_path: Path) -> None:
    text = "- hi\n## intent:greet\n- hi\nplain words\n## intent:\n- x\n## slots:city\n- y\n## intent:bye\n- bye\n"
    items, problems = read_annotations(write(tmp_path, "skill.md", text))
    assert [(i.line, i.example.intent) for i in items] == [(3, "greet"), (10, "bye")]
    assert [(p.line, p.severity) for p in problems] == [(1, "error"), (4, "warning"), (5, "error"), (7, "warning")]
    assert "outside an '## intent:NAME' section" in problems[0].message
    assert "'plain words' is not an example line" in problems[1].message
    assert "needs a name" in problems[2].message
    assert "ignored section '## slots:city'" in problems[3].message


# ---- validate


def test_empty_utterances() -> None:
    items = [annotated("", line=1), annotated("   \t", line=2), *many("weather_query", 5, start=3)]
    problems = validate(items)
    assert [(p.line, p.severity) for p in problems] == [(1, "error"), (2, "error")]
    assert all("the utterance is empty" in p.message for p in problems)


def test_empty_and_overlapping_slots() -> None:
    text = "weather in new york today"
    slots = (CharSlot("city", 11, 19), CharSlot("town", 15, 19), CharSlot("date", 20, 20), CharSlot("day", 19, 20))
    items = [Annotated(Example(text, "weather_query", slots), "skill.yml", 1), *many("weather_query", 5, start=2)]
    problems = validate(items)
    assert [(p.line, p.severity) for p in problems] == [(1, "error")] * 3
    assert problems[0].message == (
        "slots 'city' ('new york') and 'town' ('york') overlap: a word can be in one slot only")
    assert "slot 'day' has an empty value" in problems[1].message
    assert "slot 'date' has an empty value" in problems[2].message


def test_marks_inside_words_are_widened_with_a_warning() -> None:
    items = [annotated("i am a [new york](city)er", line=1), annotated("in [par]{\"entity\": \"city\"}is", line=2),
             annotated("on [mon](day)[day](day)", line=3), *many("weather_query", 5, start=4)]
    problems = validate(items)
    assert [(p.line, p.severity) for p in problems] == [(1, "warning"), (2, "warning"), (3, "warning"), (3, "warning")]
    assert problems[0].message == ("slot 'city' ('new york') cuts the word 'yorker': it will be widened to whole "
                                   "words ('new yorker'); put the mark's brackets at word boundaries")
    assert "'par') cuts the word 'paris'" in problems[1].message
    assert "slot 'day' ('mon') cuts the word 'monday'" in problems[2].message
    assert "slot 'day' ('day') shares the word 'monday' with the slot before it" in problems[3].message


@pytest.mark.parametrize(("n", "needed"), [(1, 5), (4, 5), (2, 3)])
def test_rare_intents_are_warned_about(n: int, needed: int) -> None:
    items = many("weather_query", needed) + many("greet", n, start=100)
    problems = validate(items, min_per_intent=needed)
    assert [(p.line, p.severity) for p in problems] == [(100, "warning")]  # it trains anyway
    plural = "s" * (n != 1)
    assert problems[0].message.startswith(f"intent 'greet' has {n} example{plural}; {needed} or more are needed")
    assert f"add {needed - n} more" in problems[0].message


def test_intent_typos_are_found_once_at_their_first_line() -> None:
    items = many("weather_query", 57) + many("weather_querry", 1, start=100) + many("Weather-Query", 2, start=200)
    problems = validate(items, min_per_intent=1)
    assert [(p.line, p.severity) for p in problems] == [(100, "warning"), (200, "warning")]
    assert problems[0].message == ("intent 'weather_querry': did you mean 'weather_query'? ('weather_querry' is used "
                                   "1 time, 'weather_query' 57 times)")
    assert "'Weather-Query' is used 2 times" in problems[1].message


@pytest.mark.parametrize(("rare", "frequent"), [("cities", "city"), ("Date", "date"), ("date_time", "datetime"),
                                                ("dates", "date"), ("palce_name", "place_name")])
def test_slot_typos(rare: str, frequent: str) -> None:
    items = [annotated(f"in [paris]({frequent}) number {k}", line=k) for k in range(1, 6)]
    items.append(annotated(f"in [lyon]({rare})", line=9))
    problems = validate(items)
    if rare == "cities":  # too far from 'city' by spelling and by plural "s"
        assert problems == []
    else:
        assert [(p.line, p.severity) for p in problems] == [(9, "warning")]
        assert f"slot {rare!r}: did you mean {frequent!r}?" in problems[0].message


def test_frequent_look_alikes_are_not_typos() -> None:
    items = [annotated(f"from [paris](from_city) to [lyon](to_city) {k}", line=k) for k in range(5)]
    assert validate(items) == []


def test_label_names_must_be_plain() -> None:
    items = many("weather query", 5) + many("play_music", 5, start=20)
    items += [annotated(f"in [paris](ville de départ) {k}", "play_music", 10 + k) for k in range(2)]
    problems = validate(items)
    assert [(p.line, p.severity) for p in problems] == [(1, "error"), (10, "error")]
    assert problems[0].message == ("intent name 'weather query' is not plain: use only letters, digits, '_', '.' "
                                   "and '-', e.g. 'weather_query'")
    assert "slot name 'ville de départ' is not plain" in problems[1].message
    assert problems[1].message.endswith("e.g. 'ville_de_depart'")


def test_unknown_labels_against_the_model() -> None:
    items = many("weather_query", 5) + [annotated(f"in [paris](citty) {k}", "greet", 10 + k) for k in range(5)]
    problems = validate(items, known_slots={"city", "date"}, known_intents={"weather_query", "play_music"})
    assert [(p.line, p.severity) for p in problems] == [(10, "warning"), (10, "warning")]
    assert problems[0].message == "intent 'greet' is not known to the model (2 intents are known)"
    assert problems[1].message == "slot 'citty' is not known to the model (closest known: 'city')"


def test_one_text_two_intents() -> None:
    items = [*many("weather_query", 5), *many("greet", 5, start=10), annotated("Hello there", "greet", line=20),
             annotated("hello  there", "weather_query", line=30)]
    problems = validate(items)
    assert [(p.line, p.severity) for p in problems] == [(30, "error")]
    assert problems[0].message == ("'hello  there' has intent 'weather_query' here but 'greet' at skill.yml:20: "
                                   "the same words need one intent")


def test_duplicates_and_inconsistent_slots() -> None:
    items = [*many("weather_query", 5), annotated("rain in [paris](city)", line=10),
             annotated("rain in [paris](city)", line=11), annotated("rain in paris", line=12),
             annotated("rain in [lyon](city)", line=13, partition="train"),
             annotated("rain in [lyon](city)", line=14, partition="test")]
    problems = validate(items)
    assert [(p.line, p.severity) for p in problems] == [(11, "warning"), (12, "warning"), (14, "warning")]
    assert problems[0].message == "'rain in paris' duplicates skill.yml:10: drop one"
    assert problems[1].message == ("'rain in paris' has no slots here but slots city 'paris' at skill.yml:10: "
                                   "mark the same words the same way")
    assert "which is in train and this in test" in problems[2].message


def test_check_file_sorts_problems_by_line(tmp_path: Path) -> None:
    lines = [f"- weather in [paris](city) {k}" for k in range(6)] + ["- hi", "- weather in [paris](city) 0"]
    path = write(tmp_path, "skill.md", "## intent:weather_query\n" + "\n".join(lines[:6] + lines[7:])
                 + "\n## intent:greet\n" + lines[6] + "\n- in [x](city\n")
    items, problems = check_file(path)
    assert len(items) == 8
    assert [(p.line, p.severity) for p in problems] == [(8, "warning"), (10, "warning"), (11, "error")]
    assert [p.line for p in problems] == sorted(p.line or 0 for p in problems)


# ---- garbage in


@pytest.mark.parametrize("name", ["skill.jsonl", "skill.yml", "skill.md"])
@pytest.mark.parametrize(("data", "hint"), [(b"\x00\x01\x02binary\xff", "looks binary"),
                                            (b"ok line\n\xff\xfe\xfa\n", "not UTF-8 text \\(bad byte on line 2\\)")])
def test_binary_and_non_utf8_files(tmp_path: Path, name: str, data: bytes, hint: str) -> None:
    with pytest.raises(AnnotationFileError, match=hint):
        read_annotations(write(tmp_path, name, data))


def test_a_bom_is_not_part_of_the_first_line(tmp_path: Path) -> None:
    path = write(tmp_path, "skill.jsonl", '\ufeff{"annot_utt": "hi", "intent": "greet"}\r\n')
    assert read_annotations(path) == ([Annotated(Example("hi", "greet"), str(path), 1)], [])


def test_folder_without_seq_in(tmp_path: Path) -> None:
    write(tmp_path, "notes.txt", "play jazz\n")
    with pytest.raises(AnnotationFileError, match=r"folder without seq\.in"):
        read_annotations(tmp_path, "bio")


marks = st.sampled_from(["[", "]", "(", ")", "{", "}", ":", "-", "- ", "#", "## intent:", "nlu:\n", "|", "\n", "  ",
                         '"entity"', '{"annot_utt": ', '"intent": ', "examples: |\n", "a", "é", "\t", "\x85", "\u2028"])
contents = st.one_of(st.text(max_size=200), st.lists(marks, max_size=60).map("".join))


@pytest.mark.parametrize("suffix", [".md", ".yml", ".jsonl"])
@settings(max_examples=60, deadline=None)
@given(content=contents)
def test_any_text_gives_problems_not_exceptions(tmp_path_factory: pytest.TempPathFactory, suffix: str,
                                                content: str) -> None:
    path = tmp_path_factory.getbasetemp() / f"fuzz{suffix}"
    path.write_text(content, encoding="utf-8")
    try:
        items, problems = read_annotations(path)
    except AnnotationFileError:
        return
    problems += validate(items)
    assert all(isinstance(p, Problem) and p.severity in ("error", "warning") for p in problems)
    breaks = sum(content.count(c) for c in "\n\r\x85\u2028\u2029")
    assert all(p.line is None or 1 <= p.line <= breaks + 1 for p in problems)


words = st.text(alphabet="abcxyz", min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(words, st.one_of(st.none(), st.sampled_from(["city", "date_time"]))), min_size=1, max_size=8))
def test_parse_rasa_gives_back_what_was_marked(parts: list[tuple[str, str | None]]) -> None:
    marked = " ".join(w if name is None else f"[{w}]({name})" for w, name in parts)
    text, slots = parse_rasa(marked)
    assert text == " ".join(w for w, _ in parts)
    assert [(s.name, text[s.start : s.end]) for s in slots] == [(n, w) for w, n in parts if n is not None]
