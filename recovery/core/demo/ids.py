"""Deterministic ids for demo rows: the same seed and position always give the same UUID."""

from __future__ import annotations

import uuid
from typing import Final

DOMAIN: Final = "demo.mobilize.example"
_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_DNS, DOMAIN)


def demo_uuid(seed: int, *parts: object) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, "/".join(str(part) for part in (seed, *parts)))
