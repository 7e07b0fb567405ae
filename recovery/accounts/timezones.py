from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_valid_time_zone(name: object) -> bool:
    """True for an IANA zone name such as ``Europe/Madrid`` (case-sensitive, as IANA names are)."""
    return isinstance(name, str) and name in _zones()


def validate_time_zone(value: str) -> None:
    """Model validator: empty, or an IANA zone name."""
    if value and not is_valid_time_zone(value):
        raise ValidationError(
            "Must be an IANA time zone name such as Europe/Madrid.", code="invalid_time_zone"
        )
