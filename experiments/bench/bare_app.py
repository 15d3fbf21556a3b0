"""A FastAPI app with our middleware and a constant ``/parse``: the serving overhead without the model.

    python -m uvicorn experiments.bench.bare_app:create_app --factory --port 8001
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from service.metrics import Metrics
from service.timing import TimingMiddleware

# Shaped like a real answer for a short utterance, so that the bytes on the wire are comparable.
ANSWER = (b'{"text":"play some jazz","intent":{"name":"play_music","confidence":0.99},"slots":[{"name":'
          b'"music_genre","value":"jazz","start":10,"end":14}],"tokens":[{"text":"play","start":0,"end":4},'
          b'{"text":"some","start":5,"end":9},{"text":"jazz","start":10,"end":14}],"tags":["O","O",'
          b'"B-music_genre"],"model":{"name":"bare","version":"0","precision":"none"}}')


class Text(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


def create_app() -> FastAPI:
    app = FastAPI(title="bare")
    app.add_middleware(TimingMiddleware, budget_ms=50.0, metrics=Metrics())

    @app.get("/ready")
    def ready() -> dict:
        return {"status": "ready"}

    @app.post("/parse")
    async def parse(request: Text) -> Response:
        return Response(ANSWER, media_type="application/json")

    return app
