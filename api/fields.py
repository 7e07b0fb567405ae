"""Strict JSON fields: a number must be a JSON number, a boolean a JSON boolean, and so on.

DRF's own fields coerce ("5" becomes 5, "yes" becomes True); a health record should not guess.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import serializers


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "Must be a whole number."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class StrictUUIDField(serializers.UUIDField):
    def to_internal_value(self, data: Any) -> uuid.UUID:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        value = super().to_internal_value(data)
        assert isinstance(value, uuid.UUID)
        return value


class StrictDateField(serializers.DateField):
    default_error_messages = {"invalid": "Must be a date as YYYY-MM-DD."}

    def to_internal_value(self, data: Any) -> date:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            parsed = parse_date(data)
        except ValueError:
            parsed = None
        if parsed is None:
            self.fail("invalid")
        assert parsed is not None
        return parsed


class OffsetDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time that must carry its UTC offset (``2026-05-01T08:30:00+02:00`` or ``Z``)."""

    default_error_messages = {
        "invalid": "Must be an ISO 8601 date-time with a UTC offset, e.g. 2026-05-01T08:30:00+02:00.",
        "naive": "Include the UTC offset, e.g. 2026-05-01T08:30:00+02:00.",
    }

    def to_internal_value(self, value: Any) -> datetime:
        if not isinstance(value, str):
            self.fail("invalid")
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is None:
            self.fail("invalid")
        assert parsed is not None
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            self.fail("naive")
        return parsed


class StrictSerializer(serializers.Serializer[Any]):
    """Rejects fields it does not know, and read-only ones, instead of silently dropping them."""

    def to_internal_value(self, data: Any) -> Any:
        unknown: dict[str, list[str]] = {}
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = {str(key): ["Unknown field."] for key in data if key not in writable}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**unknown, **exc.detail}) from None
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value
