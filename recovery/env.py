"""Small, strict environment parsing.

Every helper raises ``ImproperlyConfigured`` naming the variable when a value is missing or
malformed, so a bad deployment stops at start-up instead of failing on the first request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None, *, environ: Mapping[str, str] | None = None) -> str:
    source = os.environ if environ is None else environ
    value = source.get(name)
    if value is None or value == "":
        if default is None:
            raise ImproperlyConfigured(f"The environment variable {name} is required but not set.")
        return default
    return value


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    source = os.environ if environ is None else environ
    raw = source.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"The environment variable {name} must be a boolean (true/false), got {raw!r}."
    )


def env_int(
    name: str, default: int, *, minimum: int | None = None, environ: Mapping[str, str] | None = None
) -> int:
    source = os.environ if environ is None else environ
    raw = source.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(
            f"The environment variable {name} must be an integer, got {raw!r}."
        ) from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(
            f"The environment variable {name} must be at least {minimum}, got {value}."
        )
    return value


def env_list(name: str, default: list[str], *, environ: Mapping[str, str] | None = None) -> list[str]:
    source = os.environ if environ is None else environ
    raw = source.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]
