"""JSON as the API writes it, for answers the domain keeps ready-made (the cached trajectory).

``dumps`` writes what ``rest_framework.renderers.JSONRenderer`` writes under this project's settings
(compact, UTF-8, aware instants in UTC ending in "Z", dates and UUIDs as text, U+2028 and U+2029
escaped), through orjson; ``api.renderers.OrjsonRenderer`` uses it, and ``tests/test_renderers.py``
holds the two byte for byte equal. A value orjson does not know (a Decimal, a lazy translation) goes
through ``fallback``. One difference: NaN and infinities are written as null (DRF's strict JSON
would fail the request).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_SERIALIZE_NUMPY
_SEPARATORS = ("\u2028".encode(), "\u2029".encode())


def dumps(data: Any, fallback: Callable[[Any], Any] | None = None) -> bytes:
    out = orjson.dumps(data, default=fallback, option=_OPTIONS)
    if _SEPARATORS[0] in out or _SEPARATORS[1] in out:
        # Escaped, so that the JSON is also a strict JavaScript subset (as DRF does).
        out = out.replace(_SEPARATORS[0], b"\\u2028").replace(_SEPARATORS[1], b"\\u2029")
    return out
