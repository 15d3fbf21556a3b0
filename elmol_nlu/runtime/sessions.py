"""onnxruntime sessions as the service runs them, their input/output contract, and reading heads' outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from elmol_nlu.manifest import ManifestError


def session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initializers are noise here
    return options


def open_session(path: Path, threads: int) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for a bad graph
        raise ManifestError(f"{path} is not a loadable ONNX graph: {e}") from None


def check_io(session: ort.InferenceSession, path: Path, inputs: list[str], outputs: set[str]) -> dict[str, list]:
    """The graph's input names and output names are the contract's; returns the output shapes."""
    names = [i.name for i in session.get_inputs()]
    shapes = {o.name: o.shape for o in session.get_outputs()}
    if names != inputs or set(shapes) != outputs:
        raise ManifestError(f"{path}: inputs {names} and outputs {list(shapes)}, expected {inputs} and "
                            f"{sorted(outputs)}: re-export")
    return shapes


def heads_outputs(session: ort.InferenceSession, calls: list[tuple[dict[str, np.ndarray], slice]], batch: int,
                  time: int, n_intents: int, n_tags: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits (batch, I) and emissions (batch, time, K) of a graph ending in the heads, from calls (feed, rows)
    that each cover some rows of the batch; emissions past a sentence's length are padding (read each
    sentence's first rows). A single call of the whole batch comes back as it is."""
    if len(calls) == 1 and calls[0][1] == slice(0, batch):
        logits, emissions = session.run(None, calls[0][0])
        if emissions.shape[1] == time:
            return logits, emissions
        calls_out = [(calls[0][1], logits, emissions)]
    else:
        calls_out = [(rows, *session.run(None, feed)) for feed, rows in calls]
    logits = np.zeros((batch, n_intents), dtype=np.float32)
    emissions = np.zeros((batch, time, n_tags), dtype=np.float32)
    for rows, call_logits, call_emissions in calls_out:
        logits[rows] = call_logits
        emissions[rows, : call_emissions.shape[1]] = call_emissions
    return logits, emissions
