"""Checks the fuzzer runs on every response, beside schemathesis's own.

The schema documents only the success answers of each operation (drf-spectacular lists no error
responses), so schemathesis's ``status_code_conformance`` would flag every 400/401/403/404. Instead:

- ``error_shape``: every 4xx/5xx is JSON of the one error shape ``{"errors": {field: [message]}}``
  (api/errors.py), so no failure leaks an HTML page, a DRF default body or a traceback;
- ``documented_success``: every 2xx status is one the schema documents for the operation (a 201 where
  the schema says 200 would break a generated client).
"""

from __future__ import annotations

import json
from typing import Any

from schemathesis import Case, CheckContext, Response
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)


class FuzzCheckFailed(AssertionError):
    """A response broke one of the house rules above."""


def error_shape(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    if response.status_code < 400:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    media_type = content_type.split(";")[0].strip()
    # application/json, or a JSON dialect the endpoint negotiated (FHIR: application/fhir+json,
    # fhir+ndjson, where a one-line JSON object is the whole body).
    if not (media_type.startswith("application/") and media_type.endswith("json")):
        raise FuzzCheckFailed(
            f"{response.status_code} answered with {content_type!r}, not the JSON error shape"
        )
    try:
        body: Any = json.loads(response.content)
    except ValueError as exc:
        raise FuzzCheckFailed(f"{response.status_code} body is not JSON: {response.content[:200]!r}") from exc
    errors = body.get("errors") if isinstance(body, dict) else None
    well_formed = (
        isinstance(body, dict)
        and set(body) == {"errors"}
        and isinstance(errors, dict)
        and bool(errors)
        and all(
            isinstance(field, str)
            and isinstance(messages, list)
            and bool(messages)
            and all(isinstance(message, str) for message in messages)
            for field, messages in errors.items()
        )
    )
    if not well_formed:
        raise FuzzCheckFailed(f"{response.status_code} body is not the one error shape: {body!r}")
    return None


def documented_success(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    if not 200 <= response.status_code < 300:
        return None
    documented = {str(code) for code in case.operation.responses.status_codes}
    if (
        str(response.status_code) not in documented
        and "2XX" not in documented
        and "default" not in documented
    ):
        raise FuzzCheckFailed(
            f"{case.operation.label} answered {response.status_code}; the schema documents {sorted(documented)}"
        )
    return None


CHECKS: list[CheckFunction] = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
    error_shape,
    documented_success,
]
