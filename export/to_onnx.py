"""Write a trained NLU checkpoint as an ONNX graph plus ``manifest.json``."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import platform
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch
from torch import nn

from elmol_nlu.manifest import sha256_of
from export.simplify import simplify
from training.checkpoint import load_checkpoint
from training.nlu import JointNLU, NLUConfig

log = logging.getLogger("export")
# the graphs of a model directory by role (elmol_nlu.manifest.ROLES), each feeding the next
GRAPHS = {
    "tokens": "tokens.onnx",  # chars (N, C) -> vectors (N, D): the context-free part, cached per word by the service
    "encoder": "encoder.onnx",  # tokens (B, T, D), lengths (B,) -> layers (L, B, T, E): shared by skills
    "heads": "heads.onnx",  # layers, lengths -> intent_logits (B, I), slot_emissions (B, T, K)
}
OPSET = 17


class TokenVectors(nn.Module):
    """The char CNN on a flat list of words: chars (N, C) -> (N, D)."""

    def __init__(self, model: JointNLU) -> None:
        super().__init__()
        self.char_cnn = model.encoder.char_cnn

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        return self.char_cnn(chars.unsqueeze(0)).squeeze(0)


class EncoderLayers(nn.Module):
    """The contextual encoder on cached token vectors, its layers stacked: (L, B, T, E)."""

    def __init__(self, model: JointNLU) -> None:
        super().__init__()
        self.encoder = model.encoder

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return torch.stack(self.encoder.contextualize(tokens, lengths), dim=0)


class Heads(nn.Module):
    """Everything after the encoder: layer mix, shared biLSTM, intent and slot heads."""

    def __init__(self, model: JointNLU) -> None:
        super().__init__()
        self.model = model

    def forward(self, layers: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.heads(list(layers.unbind(0)), lengths)


def load_nlu(checkpoint: Path) -> tuple[JointNLU, dict]:
    state = load_checkpoint(checkpoint)
    model = JointNLU(NLUConfig.from_dict(state["config"]), state["tags"])
    model.load_state_dict(state["model"])
    model.eval()
    return model, state


def write_graph(module: nn.Module, inputs: dict[str, torch.Tensor], path: Path,
                dynamic_axes: dict[str, dict[int, str]]) -> None:
    """Export ``module(*inputs.values())``; ``dynamic_axes`` names every input and output. Then clean the
    graph up and check it."""
    outputs = [name for name in dynamic_axes if name not in inputs]
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo, which does not yet export our LSTMs
        # with dynamic time; the graph it writes is checked by onnx.checker and the parity test.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(inputs.values()), str(path), input_names=list(inputs),
                          output_names=outputs, opset_version=OPSET, dynamo=False, dynamic_axes=dynamic_axes)
    graph = onnx.load(str(path))
    log.info("%s clean-up: %s", path.name, simplify(graph))
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))


def write_char_graph(module: nn.Module, max_chars: int, path: Path, outputs: dict[str, dict[int, str]]) -> None:
    """Export a module of (chars (batch, time, max_chars), lengths (batch,)) int64 with dynamic batch and time."""
    inputs = {"chars": torch.randint(3, 120, (2, 6, max_chars)), "lengths": torch.tensor([6, 4])}
    write_graph(module, inputs, path, {"chars": {0: "batch", 1: "time"}, "lengths": {0: "batch"}, **outputs})


def check_exportable(model: JointNLU) -> None:
    if model.encoder.uses_words:
        raise ValueError(f"only character-based encoders (elmo, elmol) export, not {model.cfg.embedding!r}")


def export_encoder(model: JointNLU, out: Path) -> None:
    """The token and encoder graphs, which a skill trained on this model's frozen encoder copies."""
    check_exportable(model)
    cfg = model.cfg.lm
    write_graph(TokenVectors(model), {"chars": torch.randint(3, 120, (5, cfg.max_chars))}, out / GRAPHS["tokens"],
                {"chars": {0: "words"}, "vectors": {0: "words"}})
    inputs = {"tokens": torch.randn(2, 6, cfg.proj_dim), "lengths": torch.tensor([6, 4])}
    write_graph(EncoderLayers(model), inputs, out / GRAPHS["encoder"],
                {"tokens": {0: "batch", 1: "time"}, "lengths": {0: "batch"}, "layers": {1: "batch", 2: "time"}})


def export_heads(model: JointNLU, out: Path) -> None:
    check_exportable(model)
    layers = torch.randn(model.encoder.n_outputs, 2, 6, model.encoder.output_dim)
    write_graph(Heads(model), {"layers": layers, "lengths": torch.tensor([6, 4])}, out / GRAPHS["heads"],
                {"layers": {1: "batch", 2: "time"}, "lengths": {0: "batch"},
                 "intent_logits": {0: "batch"}, "slot_emissions": {0: "batch", 1: "time"}})


def crf_parameters(model: JointNLU) -> dict:
    def as_list(t: torch.Tensor) -> list:
        return t.detach().numpy().astype(np.float32).tolist()

    return {"start": as_list(model.crf.start), "transitions": as_list(model.crf.transitions),
            "end": as_list(model.crf.end)}


def graph_io(model: JointNLU, state: dict) -> dict:
    lm, layers = model.cfg.lm, ["layers", "batch", "time", model.encoder.output_dim]
    return {
        "tokens": {"inputs": {"chars": ["words", lm.max_chars]}, "outputs": {"vectors": ["words", lm.proj_dim]}},
        "encoder": {"inputs": {"tokens": ["batch", "time", lm.proj_dim], "lengths": ["batch"]},
                    "outputs": {"layers": layers}},
        "heads": {"inputs": {"layers": layers, "lengths": ["batch"]},
                  "outputs": {"intent_logits": ["batch", len(state["intents"])],
                              "slot_emissions": ["batch", "time", len(state["tags"])]}},
        "opset": OPSET,
    }


def manifest_content(model: JointNLU, state: dict, name: str, warm_words: list[str], out: Path) -> dict:
    """Everything but checksums and the figures export adds later (parity, variants, calibration)."""
    return {
        "name": name,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "files": list(GRAPHS.values()),
        "graphs": dict(GRAPHS),
        "graph_io": graph_io(model, state),
        "encoder_id": encoder_id(out),
        "version": f"{dt.date.today():%Y.%m.%d}+{graphs_digest(out)[:8]}",
        "warm_words": warm_words,
        "text": {"tokenizer": "elmol_nlu.text.tokenize", "max_chars": model.cfg.lm.max_chars,
                 "chars": "utf-8 bytes of the lower-cased token, +3; 0 pad, 1 begin, 2 end"},
        "intents": state["intents"],
        "tags": state["tags"],
        "crf": crf_parameters(model),
        "config": {"nlu": state["config"], "fit": state.get("fit")},
        "training": {"lm": state.get("lm"), "data": state.get("data"), "history": state.get("history"),
                     "train_minutes": state.get("train_minutes"), "distillation": state.get("distillation")},
        "metrics": state.get("metrics", {}),
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "onnx": onnx.__version__,
                     "onnxruntime": onnxruntime.__version__},
    }


def digest(out: Path, roles: tuple[str, ...]) -> str:
    return hashlib.sha256("".join(sha256_of(out / GRAPHS[r]) for r in roles).encode()).hexdigest()


def encoder_id(out: Path) -> str:
    """What skills sharing an encoder agree on: the fp32 token and encoder graphs (int8 derives from them)."""
    return digest(out, ("tokens", "encoder"))


def graphs_digest(out: Path) -> str:
    """What the model version names: the three fp32 graphs."""
    return digest(out, ("tokens", "encoder", "heads"))


def export(checkpoint: Path, out: Path, name: str, warm_words: list[str]) -> dict:
    """Export and write the manifest; returns its content (without the parity figures).

    ``warm_words`` are the words whose token vectors the service computes at start-up (the training words).
    """
    model, state = load_nlu(checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    export_encoder(model, out)
    export_heads(model, out)
    content = manifest_content(model, state, name, sorted(set(warm_words)), out)
    content["source"] = {"checkpoint": str(checkpoint), "sha256": sha256_of(checkpoint)}
    for graph in GRAPHS.values():
        log.info("exported %s (%.1f MB)", out / graph, (out / graph).stat().st_size / 1e6)
    return content
