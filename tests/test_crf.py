"""The CRF: numpy Viterbi (serving) against PyTorch (training) and brute force; NLL; padding invariance."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from elmol_nlu.crf import ViterbiDecoder
from elmol_nlu.text import batch_char_ids
from elmol_nlu.vocab import allowed_transition, slot_tag_vocab
from training.crf import CRF
from training.lm import LMConfig, reverse_within_lengths
from training.nlu import JointNLU, NLUConfig, lengths_to_mask

TAGS = slot_tag_vocab(["date", "time", "place"]).itos  # O, B-/I- of each: 7 tags


def random_crf(seed: int, scale: float = 1.0) -> CRF:
    torch.manual_seed(seed)
    crf = CRF(TAGS)
    with torch.no_grad():
        for p in (crf.start, crf.transitions, crf.end):
            p.normal_(0, scale)
    return crf


def numpy_decoder(crf: CRF) -> ViterbiDecoder:
    return ViterbiDecoder(TAGS, crf.start.detach().numpy(), crf.transitions.detach().numpy(), crf.end.detach().numpy())


def is_valid_bio(path: list[int]) -> bool:
    prev = None
    for i in path:
        if not allowed_transition(prev, TAGS[i]):
            return False
        prev = TAGS[i]
    return True


def path_score(crf: CRF, emissions: np.ndarray, path: tuple[int, ...]) -> float:
    start, trans, end = (t.detach().numpy() for t in (crf.start, crf.transitions, crf.end))
    score = start[path[0]] + emissions[0, path[0]] + end[path[-1]]
    return float(score + sum(trans[a, b] + emissions[t + 1, b] for t, (a, b) in enumerate(itertools.pairwise(path))))


@pytest.mark.parametrize("seed", range(6))
def test_numpy_viterbi_equals_torch_on_a_padded_batch(seed: int) -> None:
    crf = random_crf(seed)
    decoder = numpy_decoder(crf)
    lengths = torch.tensor([1, 2, 5, 9, 17, 3])
    g = torch.Generator().manual_seed(seed)
    emissions = torch.randn(len(lengths), int(lengths.max()), len(TAGS), generator=g) * 3
    torch_paths = crf.decode(emissions, lengths_to_mask(lengths, emissions.shape[1]))
    for b, length in enumerate(lengths.tolist()):
        alone = decoder.decode(emissions[b, :length].numpy())
        assert alone == torch_paths[b]
        assert len(alone) == length and is_valid_bio(alone)


@pytest.mark.parametrize("length", [1, 2, 3, 4])
def test_numpy_viterbi_equals_brute_force_over_valid_sequences(length: int) -> None:
    rng = np.random.default_rng(length)
    for seed in range(5):
        crf = random_crf(100 * length + seed, scale=2.0)
        emissions = rng.normal(0, 3, (length, len(TAGS))).astype(np.float32)
        valid = [p for p in itertools.product(range(len(TAGS)), repeat=length) if is_valid_bio(list(p))]
        best = max(valid, key=lambda p: path_score(crf, emissions, p))
        assert tuple(numpy_decoder(crf).decode(emissions)) == best


def test_viterbi_stays_valid_bio_when_emissions_push_for_invalid_tags() -> None:
    crf = random_crf(7)
    emissions = np.full((6, len(TAGS)), -5.0, dtype=np.float32)
    emissions[:, TAGS.index("I-time")] = 50.0  # every token "wants" I-time, which cannot start a span
    path = numpy_decoder(crf).decode(emissions)
    assert is_valid_bio(path)
    assert [TAGS[i] for i in path] == ["B-time"] + ["I-time"] * 5


def test_viterbi_rejects_mismatched_parameters() -> None:
    with pytest.raises(ValueError, match="7 tags"):
        ViterbiDecoder(TAGS, np.zeros(7), np.zeros((6, 6)), np.zeros(7))


def brute_force_nll(crf: CRF, emissions: np.ndarray, gold: tuple[int, ...]) -> float:
    """-log p(gold) with the same BIO mask the CRF uses: sum over every sequence, forbidden ones penalised."""
    start, trans, _ = (t.detach().numpy() for t in crf.constrained())
    end = crf.end.detach().numpy()

    def score(p: tuple[int, ...]) -> float:
        s = start[p[0]] + emissions[0, p[0]] + end[p[-1]]
        return float(s + sum(trans[a, b] + emissions[t + 1, b] for t, (a, b) in enumerate(itertools.pairwise(p))))

    scores = np.array([score(p) for p in itertools.product(range(len(TAGS)), repeat=len(gold))])
    log_z = scores.max() + np.log(np.exp(scores - scores.max()).sum())
    return float(log_z - score(gold))


def test_nll_matches_brute_force_and_ignores_padding() -> None:
    crf = random_crf(3)
    g = torch.Generator().manual_seed(3)
    golds = [(1, 2, 0), (0, 3), (5, 6, 6, 0)]
    width = max(map(len, golds))
    emissions = torch.randn(len(golds), width, len(TAGS), generator=g)
    tags = torch.zeros(len(golds), width, dtype=torch.long)
    for b, gold in enumerate(golds):
        tags[b, : len(gold)] = torch.tensor(gold)
    mask = lengths_to_mask(torch.tensor([len(x) for x in golds]), width)
    expected = [brute_force_nll(crf, emissions[b, : len(gold)].numpy(), gold) for b, gold in enumerate(golds)]
    with torch.no_grad():
        batch_nll = float(crf.nll(emissions, tags, mask))
        alone = [float(crf.nll(emissions[b : b + 1, : len(x)], tags[b : b + 1, : len(x)], mask[b : b + 1, : len(x)]))
                 for b, x in enumerate(golds)]
    assert alone == pytest.approx(expected, rel=1e-4, abs=1e-4)
    assert batch_nll == pytest.approx(np.mean(expected), rel=1e-4, abs=1e-4)
    assert min(expected) > 0
    weights = torch.tensor([1.0, 0.25, 0.0])  # an out-of-skill sentence counts less (training.skill)
    with torch.no_grad():
        weighted = float(crf.nll(emissions, tags, mask, weights))
    assert weighted == pytest.approx(np.mean(np.array(expected) * weights.numpy()), rel=1e-4, abs=1e-4)


def test_nll_is_non_negative_and_falls_when_optimised() -> None:
    crf = random_crf(11)
    emissions = torch.randn(1, 6, len(TAGS), generator=torch.Generator().manual_seed(11), requires_grad=True)
    gold = torch.tensor([[0, 1, 2, 0, 3, 4]])  # O B-date I-date O B-place I-place
    mask = torch.ones(1, 6, dtype=torch.bool)
    optimizer = torch.optim.Adam([emissions, *crf.parameters()], lr=0.1)
    losses = []
    for _ in range(60):
        loss = crf.nll(emissions, gold, mask)
        assert loss.item() >= 0
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < 0.05 * losses[0]
    assert crf.decode(emissions.detach(), mask) == gold.tolist()


def test_reverse_within_lengths_is_an_involution_that_keeps_padding_last() -> None:
    lengths = torch.tensor([4, 1, 3, 0])
    x = torch.arange(4 * 4 * 2, dtype=torch.float32).reshape(4, 4, 2)
    r = reverse_within_lengths(x, lengths)
    assert torch.equal(reverse_within_lengths(r, lengths), x)
    for b, n in enumerate(lengths.tolist()):
        assert torch.equal(r[b, :n], x[b, :n].flip(0))
        assert torch.equal(r[b, n:], x[b, n:])  # padding untouched, still after the real steps


def test_joint_nlu_gives_the_same_output_alone_and_in_a_padded_batch() -> None:
    torch.manual_seed(0)
    lm = LMConfig(filters=((1, 8), (2, 8), (3, 8)), proj_dim=16, hidden_dim=16, vocab_size=100, cutoffs=(50,))
    model = JointNLU(NLUConfig(lm=lm, n_intents=5, n_tags=len(TAGS), shared_hidden=8, slot_hidden=8,
                               intent_hidden=16), TAGS).eval()
    sentences = [["wake", "me", "at", "seven"], ["stop"], ["what's", "the", "weather", "in", "paris", "today", "?"]]
    chars, lengths = batch_char_ids(sentences, lm.max_chars)
    with torch.no_grad():
        batch_logits, batch_emissions = model(torch.from_numpy(chars), torch.from_numpy(lengths))
        for b, words in enumerate(sentences):
            c, n = batch_char_ids([words], lm.max_chars)
            logits, emissions = model(torch.from_numpy(c), torch.from_numpy(n))
            torch.testing.assert_close(batch_logits[b], logits[0], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(batch_emissions[b, : len(words)], emissions[0], atol=1e-5, rtol=1e-5)
