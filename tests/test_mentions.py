"""Mention replacement (training/mentions.py): copies keep their spans and tags right and never produce a
held-out utterance."""

from __future__ import annotations

from elmol_nlu.datasets import Example, parse_inline, tag
from elmol_nlu.text import match_key
from training.mentions import copies_intent_weight, mention_copies, open_slots, slot_values, with_values


def tagged(annotated: str, intent: str = "ask"):
    text, slots = parse_inline(annotated)
    return tag(Example(text, intent, slots, id=annotated))


EXAMPLES = [tagged("wake me at [time : seven] [date : tomorrow]", "alarm"),
            tagged("wake me at [time : half past six]", "alarm"),
            tagged("what is the weather in [place : new york] [date : today]", "weather"),
            tagged("weather in [place : paris]", "weather"),
            tagged("hello there", "greet")]


def test_with_values_moves_the_spans_after_a_longer_value():
    e = EXAMPLES[0].example
    copy = with_values(e, {0: "half past six"})
    assert copy.text == "wake me at half past six tomorrow"
    assert [copy.text[s.start : s.end] for s in copy.slots] == ["half past six", "tomorrow"]


def test_copies_are_tagged_as_their_spans_say_and_keep_the_intent():
    copies = mention_copies(EXAMPLES, copies=3, rate=0.5, seed=0)
    assert copies, "examples with a slot of two values must give copies"
    for c in copies:
        assert c.example.intent == {"wake": "alarm", "what": "weather", "weather": "weather"}[c.words[0]]
        for s in c.example.slots:  # a value the same intent's examples give that slot
            assert c.example.text[s.start : s.end] in slot_values(EXAMPLES)[c.example.intent, s.name]
        begins = [t[2:] for t in c.tags if t.startswith("B-")]
        assert begins == [s.name for s in c.example.slots]


def test_no_copy_repeats_a_training_or_held_out_utterance():
    held_out = "wake me at seven today"  # a recombination the copies could make
    copies = mention_copies(EXAMPLES * 2, copies=20, rate=1.0, seed=1, exclude=frozenset({match_key(held_out)}))
    keys = [match_key(c.example.text) for c in copies]
    assert len(keys) == len(set(keys))
    assert match_key(held_out) not in keys
    assert not set(keys) & {match_key(e.example.text) for e in EXAMPLES}


def test_values_stay_within_their_intent():
    lights = [tagged("turn on the [device : lights]", "lights_on"),
              tagged("lights on in the [room : hall]", "lights_on"), tagged("switch on the [device : plug]", "plug_on"),
              tagged("plug on in the [room : den]", "plug_on")]
    assert mention_copies(lights, copies=5, rate=1.0, seed=0) == []  # each intent has one device, one room


def test_copies_are_seeded_and_none_without_alternatives():
    assert mention_copies(EXAMPLES, 2, 0.5, seed=3) == mention_copies(EXAMPLES, 2, 0.5, seed=3)
    assert mention_copies(EXAMPLES, 0, 0.5, seed=3) == []
    assert mention_copies([EXAMPLES[3], EXAMPLES[4]], 5, 1.0, seed=0) == []  # one place value: nothing to swap


def test_copies_can_be_kept_out_of_the_intent_loss():
    copies = mention_copies(EXAMPLES, 1, 1.0, seed=0)
    weight = copies_intent_weight(copies)
    assert [weight(e) for e in EXAMPLES + copies] == [1.0] * len(EXAMPLES) + [0.0] * len(copies)
    assert copies_intent_weight([]) is None


def test_a_zero_intent_weight_takes_an_utterance_out_of_the_intent_loss():
    import torch

    from training.finetune import intent_loss

    logits, targets = torch.tensor([[2.0, 0.0], [0.0, 3.0]]), torch.tensor([0, 0])
    first = torch.nn.functional.cross_entropy(logits[:1], targets[:1])
    assert torch.isclose(intent_loss(logits, targets, 0.0, torch.tensor([1.0, 0.0])), first)  # no dilution
    assert torch.isclose(intent_loss(logits, targets, 0.0), torch.nn.functional.cross_entropy(logits, targets))


def test_open_slots_are_those_whose_values_rarely_repeat():
    days = ("today", "today", "monday", "today", "monday", "today")
    names = [tagged(f"call [person : {p}] [date : {d}] about {t}")
             for p, d, t in zip(("ann", "bob", "cy", "di", "ed", "flo"), days, "abcdef", strict=True)]
    assert open_slots(names, 0.8) == {"person"}  # six people, two dates
    copies = mention_copies(names, 2, 1.0, seed=0, open_ratio=0.8)
    assert copies and all(f" {d} about {c.example.text[-1]}" in c.example.text
                          for c in copies for d in [days["abcdef".index(c.example.text[-1])]])
    assert any(" monday about a" in c.example.text for c in mention_copies(names, 2, 1.0, seed=0))  # ungated
    assert open_slots(names[:4], 0.8) == set()  # too few mentions to tell
