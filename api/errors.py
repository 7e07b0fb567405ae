"""One error shape for the whole API: ``{"errors": {"<field>": ["<message>"]}}``.

Field errors keep the field's name (nested fields as ``parent.child``); everything else is under
``non_field_errors``. Domain errors from services map to 400 (ValidationFailed), 403 (NotPermitted)
and 409 (Conflict); a database that is down answers 503 so that clients retry.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from recovery.core.errors import NON_FIELD, Conflict, DomainError, NotPermitted, ValidationFailed

logger = logging.getLogger(__name__)

_DOMAIN_STATUS: dict[type[DomainError], int] = {
    ValidationFailed: status.HTTP_400_BAD_REQUEST,
    NotPermitted: status.HTTP_403_FORBIDDEN,
    Conflict: status.HTTP_409_CONFLICT,
}


def _messages(detail: Any) -> list[str]:
    if isinstance(detail, list | tuple):
        return [message for item in detail for message in _messages(item)]
    if isinstance(detail, Mapping):
        return [message for item in detail.values() for message in _messages(item)]
    return [str(detail)]


def flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as ``{field: [messages]}``; list positions fold into their field."""
    if not isinstance(detail, Mapping):
        return {prefix or NON_FIELD: _messages(detail)}
    out: dict[str, list[str]] = {}
    for key, value in detail.items():
        if isinstance(key, int):
            name = prefix or NON_FIELD
        elif key in ("non_field_errors", NON_FIELD) and prefix:
            name = prefix
        else:
            name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            for sub_name, sub_messages in flatten(value, name).items():
                out.setdefault(sub_name, []).extend(sub_messages)
        else:
            out.setdefault(name, []).extend(_messages(value))
    return out


def error_body(errors: dict[str, list[str]] | str) -> dict[str, dict[str, list[str]]]:
    if isinstance(errors, str):
        errors = {NON_FIELD: [errors]}
    return {"errors": errors}


def exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response | None:
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        return Response(error_body(exc.errors), status=_DOMAIN_STATUS.get(type(exc), 400))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD: exc.messages}
        )
    elif isinstance(exc, OperationalError | InterfaceError):
        logger.warning("Database unavailable: %s", exc)
        return Response(
            error_body("The service is briefly unavailable. Your data was not saved; please try again."),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if not isinstance(exc, exceptions.APIException):
        return None
    if isinstance(exc, exceptions.ParseError):
        body = error_body(f"Malformed JSON: {exc.detail}")
    elif isinstance(exc, exceptions.ValidationError):
        body = error_body(flatten(exc.detail))
    else:
        body = error_body(
            str(exc.detail) if not isinstance(exc.detail, Mapping | list) else flatten(exc.detail)
        )
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None)
    if wait is not None:
        headers["Retry-After"] = str(int(wait))
    return Response(body, status=exc.status_code, headers=headers)


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("Not found."), status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("Something went wrong on our side. Nothing was saved."), status=500)


def json_bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("Bad request."), status=400)


def json_csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    return JsonResponse(error_body(f"CSRF check failed: {reason}"), status=403)
