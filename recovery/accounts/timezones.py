from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_valid_time_zone(name: object) -> bool:
    """True for an IANA zone name such as ``Europe/Madrid`` (case-sensitive, as IANA names are)."""
    return isinstance(name, str) and name in _zones()
