"""int8 dynamic quantisation of the encoder and heads graphs, kept beside an accuracy gate against fp32.

Their LSTM and linear weights dominate memory traffic at batch 1. The token graph stays fp32, as it
runs once per new word and its vectors are cached. Each operator is quantised on its own (dynamic
activation scales), so the split graphs give exactly what one quantised graph of both gave.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from onnxruntime.quantization import QuantType, quantize_dynamic

from elmol_nlu.datasets import TaggedExample
from elmol_nlu.runtime import Predictor
from elmol_nlu.runtime.evaluate import predictor_metrics
from export.join import join_graphs

log = logging.getLogger("export")
# "joined": encoder and heads in one graph (export.join), which the service runs when only these heads answer
INT8_GRAPHS = {"encoder": "encoder.int8.onnx", "heads": "heads.int8.onnx", "joined": "joined.int8.onnx"}
MAX_DROP = 0.5  # points of intent accuracy or slot F1 that int8 may lose against fp32 on the dev split
QUANTIZED_OPS = ["LSTM", "MatMul", "Gemm"]


def write_int8(model_dir: Path, graphs: dict[str, str], roles: tuple[str, ...] = ("encoder", "heads")) -> None:
    """Quantise the fp32 graphs of ``roles`` (``graphs`` maps role to file) to ``INT8_GRAPHS``, then join the
    int8 encoder (quantised here or already in ``model_dir``) and heads."""
    for role in roles:
        path = model_dir / INT8_GRAPHS[role]
        with warnings.catch_warnings():  # "consider pre-processing": shape inference gains nothing on these ops
            warnings.simplefilter("ignore")
            quantize_dynamic(model_dir / graphs[role], path, op_types_to_quantize=QUANTIZED_OPS,
                             weight_type=QuantType.QInt8)
        log.info("int8 graph %s (%.1f MB)", path, path.stat().st_size / 1e6)
    join_graphs(*(model_dir / INT8_GRAPHS[role] for role in ("encoder", "heads", "joined")))


def int8_gate(model_dir: Path, dev: list[TaggedExample], test: list[TaggedExample] | None = None) -> dict:
    """The manifest's ``variants.int8`` entry. The verdict (serve int8 or not) is a choice, so it is made on
    ``dev``: both precisions' dev metrics, the drops and ``passed``. ``test``, when given, is read after the
    choice, for the record (``test`` and ``fp32_test``), and changes nothing."""
    def both(gold: list[TaggedExample]) -> tuple[dict, dict]:
        fp32 = predictor_metrics(Predictor.load(model_dir, precision="fp32"), gold)
        return fp32, predictor_metrics(Predictor.load(model_dir, precision="int8", verify_gate=False), gold)

    fp32, int8 = both(dev)
    drops = {k: round(fp32[k] - int8[k], 3) for k in ("intent_acc", "slot_f1", "exact_match")}
    passed = drops["intent_acc"] <= MAX_DROP and drops["slot_f1"] <= MAX_DROP
    log.info("int8 gate %s on dev: fp32 %s, int8 %s", "passed" if passed else "FAILED", fp32, int8)
    entry = {"graphs": dict(INT8_GRAPHS), "ops": QUANTIZED_OPS, "gated_on": "dev", "fp32_dev": fp32, "dev": int8,
             "drop": drops, "max_drop": MAX_DROP, "passed": passed}
    if test is not None:
        entry["fp32_test"], entry["test"] = both(test)
    return entry
