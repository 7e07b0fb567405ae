"""Fixed-window write counters in the Django cache (Redis in production and tests, local memory in
the demo), for per-user write rate limits.

A counter is one cache key per identity and window, incremented atomically: with Redis in a single
round trip (``SET key 0 EX ttl NX`` + ``INCR`` in one pipeline), elsewhere with ``add`` + ``incr``.
There is no read-then-write, so concurrent requests cannot both slip under the limit. A fixed window
can let up to twice the rate through across a window boundary; for a limit meant to stop runaway
clients, not to meter, that is acceptable and much cheaper than a sliding log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$")


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int


def parse_rate(text: str) -> Rate:
    """``"120/minute"`` -> Rate(120, 60). Raises ValueError for anything else."""
    match = _RATE.match(text)
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"a rate must look like 120/minute (second, minute, hour or day), got {text!r}")
    return Rate(int(match.group(1)), _PERIODS[match.group(2)])


def hit(key: str, *, ttl: int) -> int:
    """Add one to the counter ``key`` (created with ``ttl`` seconds to live) and return its new value."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]
    if isinstance(cache, RedisCache):
        full_key = cache.make_and_validate_key(key)
        # The backend's own connection pool: one round trip instead of add + exists + incr.
        client = cast(Any, cache)._cache.get_client(full_key, write=True)
        pipe = client.pipeline(transaction=False)
        pipe.set(full_key, 0, ex=ttl, nx=True)
        pipe.incr(full_key)
        return int(pipe.execute()[1])
    cache.add(key, 0, timeout=ttl)
    try:
        return int(cache.incr(key))
    except ValueError:
        # Expired between add and incr: start again (the window is over anyway).
        cache.add(key, 1, timeout=ttl)
        return 1
