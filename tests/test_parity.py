"""Export of a real (tiny) model: manifest, PyTorch/onnxruntime parity, and refusal of broken model dirs."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import MASSIVE, TinyModel, onnx_test_metrics

from elmol_nlu.manifest import MANIFEST, SCHEMA_VERSION, ManifestError, load_manifest, sha256_of
from elmol_nlu.runtime import Predictor
from elmol_nlu.runtime.token_cache import TokenVectorCache
from elmol_nlu.text import normalize
from export import parity
from export.__main__ import parity_sentences
from export.to_onnx import encoder_id, graphs_digest, load_nlu


def test_export_writes_a_verified_manifest(tiny_model: TinyModel) -> None:
    manifest = load_manifest(tiny_model.model_dir)
    raw = manifest.raw
    assert raw["schema_version"] == SCHEMA_VERSION
    for role, graph in manifest.graphs.items():
        path = manifest.graph_path(role)
        assert raw["files"][graph]["sha256"] == sha256_of(path)
        assert raw["files"][graph]["bytes"] == path.stat().st_size
    assert manifest.warm_words
    assert manifest.version.endswith(graphs_digest(tiny_model.model_dir)[:8])
    assert manifest.encoder_id == encoder_id(tiny_model.model_dir)
    int8 = raw["variants"]["int8"]
    assert set(int8["graphs"]) == {"encoder", "heads", "joined"}  # joined: both in one graph (export.join)
    for graph in int8["graphs"].values():
        assert raw["files"][graph]["sha256"] == sha256_of(tiny_model.model_dir / graph)
    assert int8["passed"] == (int8["drop"]["intent_acc"] <= int8["max_drop"] >= int8["drop"]["slot_f1"])
    _, state = load_nlu(tiny_model.nlu_checkpoint)
    assert manifest.intents == state["intents"] and manifest.tags == state["tags"]
    assert manifest.tags[0] == "O" and manifest.crf_transitions.shape == (len(manifest.tags),) * 2
    assert set(manifest.metrics) == {"dev", "test"}
    assert raw["parity"]["ok"] is True and raw["parity"]["utterances"] == 200
    assert raw["parity"]["batch_sizes"] == [1, 8]


def test_exported_bilstms_are_one_bidirectional_node_each(tiny_model: TinyModel) -> None:
    # Each biLSTM is two LSTMs with the backward one between within-length reversals in PyTorch; exported, it is
    # one bidirectional LSTM over the lengths (export/simplify.py), with no gather or reversal left around it.
    for graph, n_bilstms in (("encoder.onnx", 1), ("heads.onnx", 2), ("encoder.int8.onnx", 1), ("heads.int8.onnx", 2)):
        nodes = onnx.load(str(tiny_model.model_dir / graph)).graph.node
        lstms = [n for n in nodes if n.op_type in ("LSTM", "DynamicQuantizeLSTM")]
        directions = [onnx.helper.get_attribute_value(a) for n in lstms for a in n.attribute if a.name == "direction"]
        assert len(lstms) == n_bilstms and directions == [b"bidirectional"] * n_bilstms, graph
        assert not {"GatherElements", "ReverseSequence"} & {n.op_type for n in nodes}, graph


def test_parity_at_batch_1_and_8(tiny_model: TinyModel) -> None:
    # Tolerances: logits and emissions within atol 1e-4 + rtol 1e-4 (float32 operator order only).
    assert (parity.ATOL, parity.RTOL) == (1e-4, 1e-4)
    model, _ = load_nlu(tiny_model.nlu_checkpoint)
    sentences = parity_sentences(MASSIVE, 240, seed=1)
    lengths = [len(s) for s in sentences]
    assert len(sentences) >= 200 and min(lengths) <= 3 and max(lengths) >= 15  # mixed lengths, so padding is exercised
    graphs = Predictor.load(tiny_model.model_dir, spelling=False)  # the graphs alone, as PyTorch runs them
    report = parity.check_parity(model, graphs, sentences, batch_sizes=(1, 8))
    assert report.utterances == len(sentences) and report.batch_sizes == [1, 8]
    assert report.max_abs_diff_intent_logits <= parity.ATOL
    assert report.max_abs_diff_slot_emissions <= parity.ATOL
    assert report.allclose and report.intents_identical and report.tags_identical
    assert report.ok and report.to_dict()["ok"] is True


def test_parity_detects_a_different_model(tiny_model: TinyModel) -> None:
    """The check can fail: PyTorch weights perturbed away from the exported graph."""
    import torch

    model, _ = load_nlu(tiny_model.nlu_checkpoint)
    with torch.no_grad():
        model.intent_mlp[-1].bias += 0.01
    report = parity.check_parity(model, Predictor.load(tiny_model.model_dir, spelling=False),
                                 parity_sentences(MASSIVE, 16, seed=2))
    assert not report.allclose and not report.ok
    assert report.max_abs_diff_intent_logits == pytest.approx(0.01, abs=1e-3)


def test_onnx_metrics_equal_the_recorded_ones(tiny_model: TinyModel) -> None:
    """The shipped-model gate's way of scoring (onnxruntime) agrees with training's (PyTorch)."""
    recorded = load_manifest(tiny_model.model_dir).metrics["test"]
    assert recorded["n"] == 400  # train_nlu --limit 400
    recomputed = onnx_test_metrics(tiny_model.model_dir, limit=400)
    assert recomputed == pytest.approx(recorded, abs=1e-6)


# Each breaks a copy of the model directory; the error message must say what is wrong.
def flip_graph_byte(d: Path) -> None:
    data = bytearray((d / "heads.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (d / "heads.onnx").write_bytes(bytes(data))


def delete_graph(d: Path) -> None:
    (d / "encoder.onnx").unlink()


def delete_manifest(d: Path) -> None:
    (d / MANIFEST).unlink()


def edit_manifest(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(d: Path) -> None:
        raw = json.loads((d / MANIFEST).read_text())
        change(raw)
        (d / MANIFEST).write_text(json.dumps(raw))
    return apply


def truncate_manifest(d: Path) -> None:
    (d / MANIFEST).write_text((d / MANIFEST).read_text()[:100])


CORRUPTIONS: dict[str, tuple[Callable[[Path], None], str]] = {
    "tampered graph byte": (flip_graph_byte, "does not match its sha256"),
    "missing graph": (delete_graph, "listed in the manifest but missing"),
    "missing manifest": (delete_manifest, "no manifest.json"),
    "invalid manifest json": (truncate_manifest, "not valid JSON"),
    "wrong schema version": (edit_manifest(lambda m: m.update(schema_version=SCHEMA_VERSION + 1)), "schema version"),
    "missing key": (edit_manifest(lambda m: m.pop("tags")), "lacks tags"),
    "crf transitions shape": (edit_manifest(lambda m: m["crf"]["transitions"].pop()), "CRF parameters do not match"),
    "crf start shape": (edit_manifest(lambda m: m["crf"]["start"].append(0.0)), "CRF parameters do not match"),
    "heads graph not checksummed": (edit_manifest(lambda m: m["graphs"].update(heads="other.onnx")),
                                    "heads graph 'other.onnx' is not among its checksummed"),
    "token graph not checksummed": (edit_manifest(lambda m: m["graphs"].update(tokens="x.onnx")), "not among its"),
    "no encoder graph": (edit_manifest(lambda m: m["graphs"].pop("encoder")), "malformed"),
    "no encoder id": (edit_manifest(lambda m: m.pop("encoder_id")), "lacks encoder_id"),
    "no max_chars": (edit_manifest(lambda m: m["text"].pop("max_chars")), "max_chars"),
}


@pytest.fixture
def broken_copy(tiny_model: TinyModel, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Path, str]:
    corrupt, message = CORRUPTIONS[request.param]
    directory = tmp_path / "model"
    shutil.copytree(tiny_model.model_dir, directory)
    load_manifest(directory)  # the intact copy loads
    corrupt(directory)
    return directory, message


@pytest.mark.parametrize("broken_copy", list(CORRUPTIONS), indirect=True)
def test_broken_model_dir_is_refused(broken_copy: tuple[Path, str]) -> None:
    directory, message = broken_copy
    with pytest.raises(ManifestError, match=message):
        load_manifest(directory)
    with pytest.raises(ManifestError, match=message):
        Predictor.load(directory)


def test_predictor_refuses_a_graph_that_does_not_match_the_labels(tiny_model: TinyModel, tmp_path: Path) -> None:
    directory = tmp_path / "model"
    shutil.copytree(tiny_model.model_dir, directory)
    edit_manifest(lambda m: m["intents"].pop())(directory)
    load_manifest(directory)  # consistent on its own ...
    with pytest.raises(ManifestError, match=r"heads.onnx has \d+ intents"):
        Predictor.load(directory)  # ... but not with the graph


def test_predictor_refuses_a_graph_that_is_not_onnx(tiny_model: TinyModel, tmp_path: Path) -> None:
    directory = tmp_path / "model"
    shutil.copytree(tiny_model.model_dir, directory)
    (directory / "encoder.onnx").write_bytes(b"not an onnx graph")
    edit_manifest(lambda m: m["files"]["encoder.onnx"].update(sha256=sha256_of(directory / "encoder.onnx")))(directory)
    with pytest.raises(ManifestError, match="not a loadable ONNX graph"):
        Predictor.load(directory)


def test_unverified_load_skips_checksums(tiny_model: TinyModel, tmp_path: Path) -> None:
    directory = tmp_path / "model"
    shutil.copytree(tiny_model.model_dir, directory)
    flip_graph_byte(directory)
    assert load_manifest(directory, verify=False).name == load_manifest(tiny_model.model_dir).name


def test_token_cache_gives_the_vectors_the_token_graph_gives(tiny_model: TinyModel) -> None:
    """Warm words, new words, repeats and case variants: the same vectors as one direct token-graph call."""
    predictor = Predictor.load(tiny_model.model_dir, cache_size=3)
    cache = predictor.token_cache
    warm = predictor.manifest.warm_words[:3]
    new = ["zzyzx", "qwertyuiopasdfghjklzxc", "xqxqxq", "vvwvvw", "pqpqpq"]  # none is a MASSIVE train word
    words = [*warm, new[0], "Zzyzx", *new, new[0]]
    expected = predictor.encoder._token_vectors([normalize(w) for w in words])
    np.testing.assert_allclose(cache.lookup(words), expected, atol=1e-5)
    assert cache.misses == len(new)  # each new word computed once, whatever its case or repeats
    np.testing.assert_allclose(cache.lookup(words), expected, atol=1e-5)
    assert cache.misses == len(new) + 2  # an LRU of three kept the last three: the first two come back
    assert len(cache) == len(set(predictor.manifest.warm_words)) + 3


def test_outputs_do_not_depend_on_the_cache(tiny_model: TinyModel) -> None:
    sentences = parity_sentences(MASSIVE, 32, seed=3)
    cold = Predictor.load(tiny_model.model_dir, cache_size=0)
    cold.encoder.token_cache = TokenVectorCache(cold.encoder._token_vectors, cold.token_cache.dim, [], 0)  # none warm
    warm = Predictor.load(tiny_model.model_dir)
    for a, b in zip(cold.run(sentences), warm.run(sentences), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_int8_is_served_only_past_its_gate(tiny_model: TinyModel, tmp_path: Path) -> None:
    directory = tmp_path / "model"
    shutil.copytree(tiny_model.model_dir, directory)
    edit_manifest(lambda m: m["variants"]["int8"].update(passed=False))(directory)
    with pytest.raises(ManifestError, match="failed its accuracy gate"):
        Predictor.load(directory, precision="int8")
    assert Predictor.load(directory, precision="auto").precision == "fp32"
    edit_manifest(lambda m: m["variants"]["int8"].update(passed=True))(directory)
    assert Predictor.load(directory, precision="auto").precision == "int8"
    edit_manifest(lambda m: m.pop("variants"))(directory)
    with pytest.raises(ManifestError, match="no int8 graphs"):
        Predictor.load(directory, precision="int8")
