"""Query-string parameters, parsed strictly: a bad value is a 400 naming the parameter."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from django.utils.dateparse import parse_date
from rest_framework import exceptions
from rest_framework.request import Request


def query_date(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        parsed = parse_date(raw)
    except ValueError:
        parsed = None
    if parsed is None:
        raise exceptions.ValidationError({name: ["Must be a date as YYYY-MM-DD."]})
    return parsed


def query_date_range(request: Request) -> tuple[date | None, date | None]:
    """``from`` and ``to`` (patient-local days, inclusive); ``from`` after ``to`` is refused."""
    date_from, date_to = query_date(request, "from"), query_date(request, "to")
    if date_from and date_to and date_from > date_to:
        raise exceptions.ValidationError({"from": ["Must not be after 'to'."]})
    return date_from, date_to


def query_uuid(request: Request, name: str) -> UUID | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return UUID(raw)
    except ValueError:
        raise exceptions.ValidationError({name: ["Must be a UUID."]}) from None


def query_bool(request: Request, name: str) -> bool | None:
    """``true`` or ``false``; absent or empty is None."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw not in ("true", "false"):
        raise exceptions.ValidationError({name: ["Use true or false."]})
    return raw == "true"
