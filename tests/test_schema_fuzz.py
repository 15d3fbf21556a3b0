"""Schemathesis against the app's own OpenAPI schema: generated requests, valid and invalid, to every operation.

Whatever it sends, the app must never answer 5xx (but the documented 503 of /parse and /parse/batch that sheds
work it could not finish in time), and every answer must be one the schema declares, in the shape it declares.
"""

from __future__ import annotations

import schemathesis
from conftest import MODEL_DIR
from hypothesis import settings
from schemathesis.checks import CHECKS
from schemathesis.generation import GenerationMode

from service.app import create_app
from service.settings import Settings

# schemathesis 4 runs the app's lifespan (the model loads) itself: from_asgi starts it, its pytest plugin stops it
# after each test and the next request starts it again. A TestClient around it would load a second model.
# (The lazy ``schemathesis.pytest.from_fixture`` fails on pytest 9.2: it reads ``Function._nodeid``, now gone.)
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(Settings(model_dir=MODEL_DIR)))
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


def no_server_error(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Not ``not_a_server_error``: /parse and /parse/batch may shed a request they could not answer in time
    (a batch of 64 long texts can exceed its 1 s budget), saying so."""
    shed = (case.path in ("/parse", "/parse/batch") and response.status_code == 503
            and response.headers.get("retry-after") == ["1"] and "over capacity" in response.text)
    assert response.status_code < 500 or shed, f"{response.status_code}: {response.text[:300]}"


# Every check schemathesis has, with not_a_server_error in the form above.
CHECKED = [no_server_error,
           *(c for c in CHECKS.get_by_names(CHECKS.get_all_names()) if c.__name__ != "not_a_server_error")]


@schema.parametrize()
@settings(max_examples=100, deadline=None)
def test_generated_requests_get_declared_answers(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKED)


def test_every_check_is_run() -> None:
    assert len(CHECKED) == len(CHECKS.get_all_names()) >= 14
    assert {c.__name__ for c in CHECKED} >= {"positive_data_acceptance", "negative_data_rejection",
                                              "allow_header_conformance", "response_schema_conformance"}
