"""Which frozen sentence features carry a new domain's intents from a few examples? A linear probe on MASSIVE's
held-out scenarios (weather aside: every arm gets it right), scored on their dev split (this aims the work; no
figure of record comes from it).

    python -m experiments.intent_probe --lm checkpoints/elmol-kd-lm.pt --out reports/intent_probe.json
    python -m experiments.intent_probe --encoder runs/nlu-oos-kd/nlu.pt --out reports/intent_probe_oos_kd.json

``--encoder``: the encoder's weights from a trained NLU checkpoint (a skill base, whose supervised training
moved them), the sentence projection still the pretraining's: whether it survives that drift.

For n = 100 and 500 sampled train utterances (seeds 0-2), a logistic regression over each feature set:
- ``minilm``: MiniLM's own sentence embedding (mean of its last layer), the teacher: what to reach;
- ``elmol_pool``: max and mean of every layer of the frozen ELMoL encoder;
- ``elmol_sentence``: the pretraining's training-only sentence projection of ELMoL's top layer onto the
  teacher's sentence embedding (``DistilHead.sentence``): the teacher's space, as ELMoL predicts it;
- ``tfidf``: word 1-2 grams and character 2-4 grams, the classic recipe's features;
- sums of these (features side by side).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import torch
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_union
from sklearn.preprocessing import StandardScaler

from elmol_nlu.datasets import TaggedExample, load_massive, sample
from elmol_nlu.lexical import pooled_layers
from elmol_nlu.text import batch_char_ids
from training.checkpoint import load_checkpoint
from training.lm import DistilHead, ELMoEncoder, LMConfig
from training.minilm_text import load_encoder, load_tokenizer
from training.teacher_states import StatesConfig, states_of

log = logging.getLogger("intent_probe")
SCENARIOS = ("email", "iot", "lists", "transport")  # weather: one intent in almost every sample
SIZES = (100, 500)
SEEDS = (0, 1, 2)
COMBOS = {"tfidf+elmol_sentence": ("tfidf", "elmol_sentence"), "tfidf+elmol_pool": ("tfidf", "elmol_pool"),
          "tfidf+minilm": ("tfidf", "minilm"),
          "tfidf+elmol_pool+elmol_sentence": ("tfidf", "elmol_pool", "elmol_sentence")}


def words(examples: list[TaggedExample]) -> list[list[str]]:
    return [e.words for e in examples]


@torch.no_grad()
def elmol_features(lm_path: Path, sentences: list[list[str]], weights: Path | None = None) -> dict[str, np.ndarray]:
    state = load_checkpoint(lm_path)
    cfg = LMConfig.from_dict(state["config"])
    encoder = ELMoEncoder(cfg).eval()
    model = (load_checkpoint(weights) if weights else state)["model"]
    encoder.load_state_dict({k.removeprefix("encoder."): v for k, v in model.items() if k.startswith("encoder.")})
    head = DistilHead(encoder.output_dim, state["distil_head"]["word.weight"].shape[0]).eval()
    head.load_state_dict(state["distil_head"])
    pools, projected = [], []
    for start in range(0, len(sentences), 256):
        chars, lengths = batch_char_ids(sentences[start : start + 256], cfg.max_chars)
        layers = encoder(torch.from_numpy(chars), torch.from_numpy(lengths))
        pooled = pooled_layers(torch.stack(layers).numpy(), lengths)
        pools.append(pooled)
        # the top layer's max and mean, the last columns, are what the projection was trained on
        projected.append(head.sentence(torch.from_numpy(pooled[:, -2 * encoder.output_dim :])).numpy())
    return {"elmol_pool": np.concatenate(pools), "elmol_sentence": np.concatenate(projected)}


def minilm_features(sentences: list[list[str]]) -> np.ndarray:
    cfg = StatesConfig()
    model, tokenizer = load_encoder().eval(), load_tokenizer(cfg.max_len)
    return np.concatenate([states_of(model, tokenizer, sentences[s : s + 64], cfg)[1]
                           for s in range(0, len(sentences), 64)])


def design(name: str, dense: dict[str, np.ndarray], train_idx, dev_idx, texts: list[str]):
    """Train and dev matrices of one feature set (or of a combination), fitted on train only."""
    parts = COMBOS.get(name, (name,))
    train_blocks, dev_blocks = [], []
    for part in parts:
        if part == "tfidf":
            vec = make_union(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                             TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True))
            train_blocks.append(vec.fit_transform([texts[i] for i in train_idx]))
            dev_blocks.append(vec.transform([texts[i] for i in dev_idx]))
        else:
            scaler = StandardScaler().fit(dense[part][train_idx])
            # dense blocks scaled to a norm comparable to a TF-IDF row's (1 per vectorizer)
            scale = 1.0 / np.sqrt(dense[part].shape[1])
            train_blocks.append(sparse.csr_matrix(scaler.transform(dense[part][train_idx]) * scale))
            dev_blocks.append(sparse.csr_matrix(scaler.transform(dense[part][dev_idx]) * scale))
    return sparse.hstack(train_blocks).tocsr(), sparse.hstack(dev_blocks).tocsr()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lm", type=Path, default=Path("checkpoints/elmol-kd-lm.pt"))
    p.add_argument("--encoder", type=Path, help="NLU checkpoint whose encoder weights to use (default: the LM's)")
    p.add_argument("--data", type=Path, default=Path("data/massive/en-US.jsonl"))
    p.add_argument("--out", type=Path, default=Path("reports/intent_probe.json"))
    p.add_argument("--c", type=float, default=10.0, help="inverse regularisation of every probe")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(1)
    data = load_massive(args.data, None)
    pool: list[TaggedExample] = []
    index: dict[tuple[str, str], list[int]] = {}
    for part in ("train", "dev"):
        for scenario in SCENARIOS:
            examples = data[part][scenario]
            index[(part, scenario)] = list(range(len(pool), len(pool) + len(examples)))
            pool.extend(examples)
    sentences = words(pool)
    texts = [" ".join(s).lower() for s in sentences]
    dense = elmol_features(args.lm, sentences, args.encoder)
    dense["minilm"] = minilm_features(sentences)
    log.info("features of %d utterances", len(pool))
    names = ["minilm", "elmol_pool", "elmol_sentence", "tfidf", *COMBOS]
    rows = []
    for scenario in SCENARIOS:
        train_all, dev_idx = index[("train", scenario)], index[("dev", scenario)]
        for n in SIZES:
            for seed in SEEDS:
                chosen = sample(train_all, n, seed)
                y_train = [pool[i].example.intent for i in chosen]
                y_dev = [pool[i].example.intent for i in dev_idx]
                for name in names:
                    x_train, x_dev = design(name, dense, chosen, dev_idx, texts)
                    clf = LogisticRegression(C=args.c, max_iter=2000).fit(x_train, y_train)
                    acc = 100 * float(np.mean(clf.predict(x_dev) == np.array(y_dev)))
                    rows.append({"scenario": scenario, "n": n, "seed": seed, "features": name, "intent_acc": acc})
    means = {f"{name} n={n}": round(float(np.mean([r["intent_acc"] for r in rows
                                                    if r["features"] == name and r["n"] == n])), 2)
             for name in names for n in SIZES}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    encoder = str(args.encoder or args.lm)
    args.out.write_text(json.dumps({"lm": str(args.lm), "encoder": encoder, "split": "dev", "seeds": list(SEEDS),
                                    "c": args.c, "means": means, "runs": rows}, indent=2))
    for key, value in means.items():
        log.info("%-32s %.2f", key, value)


if __name__ == "__main__":
    main()
