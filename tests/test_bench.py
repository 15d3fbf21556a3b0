"""The benchmarks run end to end on a real server, briefly: they must not rot between releases."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import MODEL_DIR


def test_load_sweep_against_the_real_server_and_the_bare_app(tmp_path: Path) -> None:
    from experiments.bench import server

    out = tmp_path / "load.json"
    server.main(["--model-dir", str(MODEL_DIR), "--targets", "int8", "bare", "--seconds", "0.5", "--clients", "2",
                 "--out", str(out)])
    result = json.loads(out.read_text())
    assert out.with_suffix(".png").stat().st_size > 0
    for name in ("int8", "bare"):
        target = result["targets"][name]
        assert target["saturation_per_s"] > 0
        assert [s["fraction"] for s in target["steps"]] == list(server.LOAD_STEPS)
        low = target["steps"][0]
        assert low["errors"] == 0 and low["status"].get("200", 0) > 0, low
        assert 0 < low["server_ms"]["p50"] < result["budget_ms"]
        assert 0 < low["server_cpu_percent"] <= 105 * (os.cpu_count() or 1) and 0 < low["cpu_ms_per_answer"] < 50


def test_predictor_bench_times_pytorch_and_both_onnx_precisions_on_the_same_utterances(tmp_path: Path) -> None:
    from experiments.bench import predictor

    out = tmp_path / "predictor.json"
    predictor.main(["--model-dir", str(MODEL_DIR), "--n", "20", "--rounds", "1", "--warmup", "5", "--batches", "8",
                    "--out", str(out)])
    result = json.loads(out.read_text())
    assert set(result["ways"]) == set(predictor.WAYS)
    for way in result["ways"].values():
        assert way["batch_1"]["all"]["n"] == 20 and way["batch_1"]["all"]["p50"] > 0
        assert way["batched_per_utt"]["8"]["p50"] > 0
    assert result["agreement_with_pytorch"]["onnx-fp32"]["intent"] >= 0.95  # the same model, exported


def test_latency_bench_times_the_model_after_sleeping_and_after_busy_waiting(tmp_path: Path) -> None:
    from experiments.bench import latency, report

    out = tmp_path / "latency.json"
    latency.main(["--model-dir", str(MODEL_DIR), "--n", "20", "--warmup", "5", "--http-n", "0", "--threads", "1",
                  "--precisions", "int8", "--batch-sizes", "8", "--out", str(out)])
    part = json.loads(out.read_text())["inprocess"][0]
    assert list(part["after_idle_ms"]) == ["0", "0.5", "2"] and list(part["after_busy_wait_ms"]) == ["0.5", "2"]
    assert all(s["n"] == 20 and s["p50"] > 0 for s in [*part["after_idle_ms"].values(),
                                                        *part["after_busy_wait_ms"].values()])
    assert "after 2 ms busy-waiting" in "\n".join(report.inprocess_rows(part))


def test_soak_samples_memory_and_descriptors(tmp_path: Path) -> None:
    from experiments.bench import soak

    out = tmp_path / "soak.json"
    soak.main(["--model-dir", str(MODEL_DIR), "--minutes", "0.05", "--window", "1.5", "--max-rss-growth", "0.5",
               "--out", str(out)])
    result = json.loads(out.read_text())
    assert len(result["samples"]) == 2 and all(s["rss_mb"] > 0 and s["fds"] > 0 for s in result["samples"])
    assert result["verdict"]["failures"] == []


def test_profile_counts_each_function_once_per_stack(tmp_path: Path) -> None:
    from experiments.bench.profile_server import inclusive

    raw = tmp_path / "samples.txt"
    raw.write_text("main (service/__main__.py:50);Predictor.parse_batch (service/predictor.py:9);"
                   "Encoder._run (service/predictor.py:3) 7\n"
                   "main (service/__main__.py:50);f (a.py:1);f (a.py:2) 3\n")
    total, counts = inclusive(raw)
    assert total == 10
    assert counts["main"] == 10 and counts["Predictor.parse_batch"] == counts["Encoder._run"] == 7
    assert counts["f"] == 3  # a recursive frame is not counted twice


def test_cache_pressure_runs_briefly_and_replays_the_graphs_exactly(capsys) -> None:
    import numpy as np

    from elmol_nlu.runtime import Predictor
    from experiments.bench import cache_pressure

    cache_pressure.main(["--model-dir", str(MODEL_DIR), "--n", "20", "--rounds", "1", "--sweep-mb", "0.5"])
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("encoder: alone") for line in lines)
    assert any(line.startswith("joined graph: alone") for line in lines)
    assert sum(line.startswith("app's own path") for line in lines) == 2  # no read, then 0.5 MiB
    session = Predictor.load(MODEL_DIR, precision="int8").primary.session
    replayed = cache_pressure.Replayed(session)
    feed = {"layers": np.ones((2, 1, 3, 512), dtype=np.float32), "lengths": np.array([3])}
    first, again = replayed.run(None, feed), replayed.run(None, feed)
    assert again is first and len(replayed.outputs) == 1
    for got, expected in zip(first, session.run(None, feed), strict=True):
        np.testing.assert_array_equal(got, expected)
