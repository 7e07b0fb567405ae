"""Schema fuzzing: schemathesis against the live OpenAPI schema, over every operation, as each persona.

The schema is fetched from ``/api/schema/`` through the project's own WSGI application (the whole
middleware stack: security headers, CORS, CSRF, audit) and every request goes through it too, in
process, against the test database. For each operation and each persona (patient, physio, surgeon,
clinic admin, another clinic's surgeon, anonymous) hypothesis generates valid and invalid requests;
path ids (and the ids a body or a query names: an assignment, an exercise, a surgeon, a procedure, an
episode) are drawn from real seeded
records (tests/fuzz/seed.py) as well as random UUIDs, so the views behind the access guard see fuzzed
input. Every response must pass tests/fuzz/checks.py: no 5xx, the
documented schema, content type and headers, the one error shape, documented success codes.

Each generated request runs in a savepoint that is rolled back, so examples are independent (what one
example writes, revokes or locks does not change the next) and hypothesis can shrink a failure.

Bounded by ``MOBILIZE_FUZZ_EXAMPLES`` examples per operation and persona (default 4 here, for
``make test``; ``make fuzz`` runs many more). Generation is derandomized: the same code fuzzes the same
inputs, so a failure in CI reproduces locally.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.schemas import APIOperation

from tests.conftest import World
from tests.fuzz.checks import CHECKS, FuzzCheckFailed, documented_success, error_shape
from tests.fuzz.seed import PERSONAS, Seeded, seed_world
from tests.fuzz.summary import summarize

EXAMPLES = int(os.environ.get("MOBILIZE_FUZZ_EXAMPLES", "4"))
#: ``MOBILIZE_FUZZ_REPORT=<file>`` appends one line per request (operation, persona, status), to see
#: what the fuzzer reached (``make fuzz`` prints a summary of it).
REPORT = os.environ.get("MOBILIZE_FUZZ_REPORT", "")
SCHEMA_URL = "/api/schema/"
_METHODS = ("get", "put", "post", "patch", "delete")


def _operations() -> list[tuple[str, str]]:
    """Every (METHOD, path) of the schema the project generates, at collection time (no HTTP yet)."""
    document: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method.upper(), path)
        for path, item in sorted(document["paths"].items())
        for method in _METHODS
        if method in item
    ]


OPERATIONS = _operations()


class _RolledBack(Exception):
    def __init__(self, response: schemathesis.Response) -> None:
        self.response = response


@pytest.fixture
def wsgi_app(settings: Any) -> Iterator[WSGIHandler]:
    """The project's WSGI application, usable inside the test transaction.

    Django closes "old" connections when a request starts and ends; inside the test's transaction that
    would close the connection the test holds (Django's own test client detaches the same receivers).
    The write rate limit is lifted: a 429 would hide what the fuzzer sends after it.
    """
    settings.SECURITY_WRITE_RATE = "1000000/second"
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


_LIVE: dict[str, Any] = {}


def _live_schema(app: WSGIHandler) -> Any:
    if "schema" not in _LIVE:
        _LIVE["schema"] = schemathesis.openapi.from_wsgi(SCHEMA_URL, app)
    schema = _LIVE["schema"]
    schema.app = app
    return schema


def _call(case: schemathesis.Case[Any], headers: dict[str, str]) -> schemathesis.Response:
    try:
        with transaction.atomic():
            raise _RolledBack(case.call(headers=headers))
    except _RolledBack as done:
        return done.response


def _fuzz(operation: APIOperation[Any, Any, Any, Any], seeded: Seeded, persona: str) -> None:
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
    )

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases, data=st.data())
    def run(case: schemathesis.Case[Any], data: st.DataObject) -> None:
        for name in list(case.path_parameters or {}):
            # Real records first (hypothesis starts from the simplest choice), the generated id last.
            real = data.draw(st.sampled_from([*seeded.path_values.get(name, []), None]), label=name)
            if real is not None:
                case.path_parameters[name] = real
        for container, values, label in (
            (case.body, seeded.body_values, "body"),
            (case.query, seeded.query_values, "query"),
        ):
            if isinstance(container, dict):
                for name in sorted(set(container) & set(values)):
                    real = data.draw(st.sampled_from([*values[name], None]), label=f"{label}.{name}")
                    if real is not None:
                        container[name] = real
        note(f"persona: {persona}")
        response = _call(case, seeded.headers[persona])
        if REPORT:
            with open(REPORT, "a", encoding="utf-8") as report:
                report.write(f"{operation.label}\t{persona}\t{response.status_code}\n")
        case.validate_response(response, checks=CHECKS)

    run()


def test_every_path_parameter_has_seeded_values(world: World) -> None:
    """A new endpoint with a new kind of id must seed a real record here, or it is only fuzzed with 404s."""
    seeded = seed_world(world)
    document: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    names = {
        parameter["name"]
        for item in document["paths"].values()
        for method in _METHODS
        for parameter in item.get(method, {}).get("parameters", [])
        if parameter["in"] == "path"
    }
    assert names <= set(seeded.path_values), names - set(seeded.path_values)
    assert len(OPERATIONS) > 70


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_fuzz_operation(world: World, wsgi_app: WSGIHandler, method: str, path: str) -> None:
    schema = _live_schema(wsgi_app)
    operation = schema[path][method]
    seeded = seed_world(world)
    for persona in PERSONAS:
        _fuzz(operation, seeded, persona)


# ---------------------------------------------------------------------------------------------
# The house checks themselves: each must be able to fail
# ---------------------------------------------------------------------------------------------


def _answer(status: int, content_type: str, body: bytes) -> Any:
    return SimpleNamespace(status_code=status, headers={"content-type": [content_type]}, content=body)


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (404, "text/html", b"<h1>Not Found</h1>"),
        (400, "application/json", b'{"detail": "Bad."}'),
        (403, "application/json", b'{"errors": {"non_field_errors": "one string"}}'),
        (400, "application/json", b'{"errors": {}}'),
        (500, "application/json", b"not json"),
    ],
)
def test_error_shape_check_refuses_other_error_bodies(status: int, content_type: str, body: bytes) -> None:
    with pytest.raises(FuzzCheckFailed):
        error_shape(cast(Any, None), _answer(status, content_type, body), cast(Any, None))


@pytest.mark.parametrize("content_type", ["application/json", "application/fhir+json; charset=utf-8"])
def test_error_shape_check_accepts_the_one_error_shape(content_type: str) -> None:
    body = b'{"errors": {"axial_pain": ["Ensure this value is less than or equal to 10."]}}'
    assert error_shape(cast(Any, None), _answer(400, content_type, body), cast(Any, None)) is None
    assert error_shape(cast(Any, None), _answer(200, "text/csv", b"a,b"), cast(Any, None)) is None


def test_documented_success_check_refuses_an_undocumented_2xx() -> None:
    case = SimpleNamespace(
        operation=SimpleNamespace(responses=SimpleNamespace(status_codes=("200",)), label="GET /x/")
    )
    assert (
        documented_success(cast(Any, None), _answer(200, "application/json", b"{}"), cast(Any, case)) is None
    )
    assert (
        documented_success(cast(Any, None), _answer(404, "application/json", b"{}"), cast(Any, case)) is None
    )
    with pytest.raises(FuzzCheckFailed, match="201"):
        documented_success(cast(Any, None), _answer(201, "application/json", b"{}"), cast(Any, case))


def test_summary_names_operations_never_answered_2xx() -> None:
    lines = summarize(["GET /a/\tpatient\t200", "GET /a/\tanonymous\t401", "POST /b/\tpatient\t400"])

    assert lines[0] == "requests: 3 over 2 operations"
    assert "  patient: 200 x1, 400 x1" in lines
    assert lines[-2:] == ["operations with no 2xx answer: 1", "  POST /b/"]
