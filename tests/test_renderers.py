"""``api.renderers.OrjsonRenderer`` writes the bytes DRF's ``JSONRenderer`` writes (the trajectory's
renderer), for every kind of value the API answers with."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from api.renderers import OrjsonRenderer

SAMPLES: list[Any] = [
    {"a": 1, "b": 2.5, "c": None, "d": True, "e": "text", "f": [1, 2, 3]},
    {"separators": "line\u2028paragraph\u2029end"},
    {"unicode": "Dolor lumbar: ñandú, 日本, emoji 🙂", "quote": 'say "hi"\n\ttab \\ slash </script>'},
    {"day": date(2026, 3, 10), "days": [date(2026, 3, 10), None, date(2026, 12, 31)]},
    {"utc": datetime(2026, 3, 20, 11, 0, tzinfo=UTC)},
    {"micro": datetime(2026, 3, 20, 11, 0, 5, 123456, tzinfo=UTC)},
    {"madrid": datetime(2026, 3, 20, 12, 0, tzinfo=timezone(timedelta(hours=1)))},
    {"naive": datetime(2026, 3, 20, 12, 0)},
    {"id": uuid.UUID("038b6764-0003-4000-8000-0000000000c8")},
    {"decimal": Decimal("12.50")},
    {"lazy": gettext_lazy("This field is required.")},
    {"floats": [0.1, 0.25, 1.0, 12345.0, 3.14, 10.0, 0.0, -2.75, 99.99, 1e-3]},
    {"ints": [0, -1, 2**40, 365]},
    {"numpy": [np.float64(2.5), np.int64(7)]},
    [{"nested": {"deep": [{"x": [None, {"y": "z"}]}]}}],
    {},
    [],
    "plain",
]


@pytest.mark.parametrize("data", SAMPLES, ids=range(len(SAMPLES)))
def test_the_same_bytes_as_drf(data: Any) -> None:
    assert OrjsonRenderer().render(data) == JSONRenderer().render(data)


def test_pretty_print_on_request_as_drf() -> None:
    data = {"a": [1, {"b": date(2026, 1, 2)}]}
    media = "application/json; indent=4"
    assert OrjsonRenderer().render(data, media) == JSONRenderer().render(data, media)


def test_nothing_renders_as_nothing() -> None:
    assert OrjsonRenderer().render(None) == JSONRenderer().render(None) == b""


def test_an_unknown_value_fails_as_with_drf() -> None:
    with pytest.raises(TypeError):
        JSONRenderer().render({"x": object()})
    with pytest.raises(TypeError):
        OrjsonRenderer().render({"x": object()})
