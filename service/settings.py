"""Service settings: defaults, overridden by ``ELMOL_*`` environment variables, then by CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from elmol_nlu.paths import DEFAULT_MODEL_DIR


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ELMOL_", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    model_dir: Path = DEFAULT_MODEL_DIR
    skills_dir: Path | None = Field(None, description="skills to serve beside the model: each model directory in "
                                    "it (elmol-nlu skill train's output) trained on the model's encoder; "
                                    "POST /admin/skills/{name} loads one more from it")
    threads: int = Field(1, ge=1, le=64, description="onnxruntime intra-op threads per request")
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes")
    inference_threads: int = Field(1, ge=0, le=64, description="micro-batcher threads (model calls at once) per "
                                   "worker; 0 runs single utterances on the event loop between reads (no thread "
                                   "hand-off: lower latency at moderate load, slower recovery from a flood) and "
                                   "/parse/batch in one thread")
    loop_max_in_progress: int = Field(8, ge=0, le=1024, description="with inference threads: a single utterance "
                                      "runs on the event loop (no thread hand-off) while at most this many "
                                      "requests are in progress (it included), on the threads beyond (a flood "
                                      "leaves the loop free to read); 0 always on the threads. 8 rather than 4 "
                                      "keeps a moderate burst off the GIL hand-offs (docs/PERFORMANCE.md)")
    max_batch_size: int = Field(16, ge=1, le=256, description="most utterances the micro-batcher puts in one call")
    max_wait_us: int = Field(0, ge=0, le=100_000, description="how long a batch may wait for more requests; 0 takes "
                             "what queued while the model was busy, which adds no latency at low load")
    max_queue: int = Field(16, ge=1, description="/parse requests in progress (queued, in the model or being "
                           "answered) beyond which new ones get 503 at once; about budget / time per request")
    precision: Literal["auto", "fp32", "int8"] = Field(
        "auto", description="model graph: int8 only if it passed its accuracy gate; auto takes int8 when it did")
    intent_ranking: int = Field(5, ge=1, description="intents in each answer's intent_ranking unless a request asks "
                                "for another top_k")
    intent_threshold: float = Field(0.0, ge=0, le=1, description="below this calibrated confidence the answer's "
                                    "intent is null and fallback is true (out of scope); 0 never falls back")
    calibration: bool = Field(True, description="apply the model's temperatures (fitted on dev) to intent and CRF "
                              "probabilities; false serves the raw softmax and CRF")
    slot_confidence: bool = Field(True, description="compute the CRF posterior for slot, sequence and token "
                                  "confidences; false leaves them null (for benchmarks)")
    spelling: bool = Field(True, description="correct a word the model has not seen to the most frequent known word "
                           "one edit away, before the encoder reads it (the model directory's spelling.txt); slots "
                           "stay spans of the text sent")
    freeze_heap: bool = Field(True, description="after loading a model, move every object into the garbage "
                              "collector's permanent generation, so full collections do not scan the model's")
    token_cache_size: int = Field(50_000, ge=0, description="words beyond the training words whose vectors are kept")
    latency_budget_ms: float = Field(50.0, gt=0, description="deadline of a request, from its arrival; a client "
                                     "may ask for less with X-Deadline-Ms; later work is shed with 503")
    batch_budget_ms: float = Field(1000.0, gt=0, description="deadline of a /parse/batch request from its arrival "
                                   "(offline clients: more than one utterance's budget); later work is shed with 503")
    max_text_chars: int = Field(512, ge=1, description="longest accepted utterance, after trimming")
    max_batch_texts: int = Field(64, ge=1, description="most texts accepted by /parse/batch")
    max_connections: int = Field(1000, ge=1, description="open connections per worker beyond which uvicorn answers "
                                 "503 at once (its limit_concurrency)")
    keep_alive_s: float = Field(5.0, gt=0, description="idle keep-alive connections are closed after this long")
    drain_s: float = Field(0.0, ge=0, le=60, description="on SIGTERM, answer /ready with 503 for this long while "
                           "serving everything else, then stop: time for a load balancer to take the replica out "
                           "(one uvicorn worker only)")
    max_body_bytes: int = Field(256 * 1024, ge=1, description="largest accepted request body; larger ones get 413 "
                                "before they are read whole")
    docs: bool = Field(True, description="serve /docs, /redoc and /openapi.json; turn off in production")
    console: bool = Field(True, description="serve the console pages /console and /console/review")
    review: bool = Field(False, description="keep a bounded sample of uncertain answers (their texts included) "
                         "for review at /console/review; off by default because it stores user text")
    review_db: Path = Field(Path("review.sqlite3"), description="SQLite file of the review queue")
    review_threshold: float = Field(0.6, ge=0, le=1, description="an answer is kept for review when its intent's "
                                    "confidence or any slot's is below this")
    review_max_items: int = Field(10_000, ge=1, description="items kept; beyond, the oldest pending go first")
    review_max_age_days: float = Field(30.0, gt=0, description="items older than this are deleted")
    admin_token: SecretStr | None = Field(None, description="enables /admin/reload and /admin/skills for "
                                          "'Bearer <token>'")
    log_level: str = "info"
    log_format: Literal["json", "text"] = Field("json", description="json: one object per line, with request_id")
    opentelemetry: bool = Field(False, description="FastAPI's native OpenTelemetry traces, metrics and logs, for "
                                "a configured provider; off, no request pays its check (Prometheus metrics are "
                                "at /metrics either way)")
    access_log: bool = Field(False, description="one log line per request (method, path, status, ms)")
    log_texts: bool = Field(False, description="log each utterance and its intent: off by default, for privacy")

    @field_validator("admin_token", mode="before")
    @classmethod
    def empty_token_is_none(cls, value: object) -> object:
        """An empty ELMOL_ADMIN_TOKEN (compose's default) leaves the admin API off, not open to "Bearer "."""
        return None if isinstance(value, str) and not value.strip() else value
