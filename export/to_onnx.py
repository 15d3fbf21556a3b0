"""Write a trained NLU checkpoint as an ONNX graph plus ``manifest.json``."""

from __future__ import annotations

import datetime as dt
import logging
import platform
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch

from elmol_nlu.manifest import sha256_of
from export.simplify import simplify
from training.checkpoint import load_checkpoint
from training.nlu import JointNLU, NLUConfig

log = logging.getLogger("export")
GRAPH = "model.onnx"
OPSET = 17


def load_nlu(checkpoint: Path) -> tuple[JointNLU, dict]:
    state = load_checkpoint(checkpoint)
    model = JointNLU(NLUConfig.from_dict(state["config"]), state["tags"])
    model.load_state_dict(state["model"])
    model.eval()
    return model, state


def write_char_graph(module: torch.nn.Module, max_chars: int, path: Path, outputs: dict[str, dict[int, str]]) -> None:
    """Export a module of (chars (batch, time, max_chars), lengths (batch,)) int64 with dynamic batch and
    time, clean the graph up and check it. ``outputs`` names each output with its dynamic axes."""
    chars = torch.randint(3, 120, (2, 6, max_chars))
    lengths = torch.tensor([6, 4])
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo, which does not yet export our LSTMs
        # with dynamic time; the graph it writes is checked by onnx.checker and the parity test.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (chars, lengths), str(path), input_names=["chars", "lengths"],
            output_names=list(outputs), opset_version=OPSET, dynamo=False,
            dynamic_axes={"chars": {0: "batch", 1: "time"}, "lengths": {0: "batch"}, **outputs},
        )
    graph = onnx.load(str(path))
    log.info("graph clean-up: %s", simplify(graph))
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))


def export_graph(model: JointNLU, path: Path) -> None:
    """chars (batch, time, max_chars) int64, lengths (batch,) int64 -> intent_logits, slot_emissions."""
    write_char_graph(model, model.cfg.lm.max_chars, path,
                     {"intent_logits": {0: "batch"}, "slot_emissions": {0: "batch", 1: "time"}})


def crf_parameters(model: JointNLU) -> dict:
    def as_list(t: torch.Tensor) -> list:
        return t.detach().numpy().astype(np.float32).tolist()

    return {"start": as_list(model.crf.start), "transitions": as_list(model.crf.transitions),
            "end": as_list(model.crf.end)}


def manifest_content(model: JointNLU, state: dict, name: str, extra_files: list[str]) -> dict:
    return {
        "name": name,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "files": [GRAPH, *extra_files],
        "graph": GRAPH,
        "graph_io": {"inputs": {"chars": ["batch", "time", model.cfg.lm.max_chars], "lengths": ["batch"]},
                     "outputs": {"intent_logits": ["batch", len(state["intents"])],
                                 "slot_emissions": ["batch", "time", len(state["tags"])]},
                     "opset": OPSET},
        "text": {"tokenizer": "elmol_nlu.text.tokenize", "max_chars": model.cfg.lm.max_chars,
                 "chars": "utf-8 bytes of the lower-cased token, +3; 0 pad, 1 begin, 2 end"},
        "intents": state["intents"],
        "tags": state["tags"],
        "crf": crf_parameters(model),
        "config": {"nlu": state["config"], "fit": state.get("fit")},
        "training": {"lm": state.get("lm"), "data": state.get("data"), "history": state.get("history"),
                     "train_minutes": state.get("train_minutes")},
        "metrics": state.get("metrics", {}),
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "onnx": onnx.__version__,
                     "onnxruntime": onnxruntime.__version__},
    }


def export(checkpoint: Path, out: Path, name: str) -> dict:
    """Export and write the manifest; returns its content (without the parity figures)."""
    model, state = load_nlu(checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    export_graph(model, out / GRAPH)
    content = manifest_content(model, state, name, [])
    content["source"] = {"checkpoint": str(checkpoint), "sha256": sha256_of(checkpoint)}
    content["version"] = f"{dt.date.today():%Y.%m.%d}+{sha256_of(out / GRAPH)[:8]}"
    log.info("exported %s (%.1f MB)", out / GRAPH, (out / GRAPH).stat().st_size / 1e6)
    return content
