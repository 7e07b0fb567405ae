"""Access-matrix rows for outcome questionnaires."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Any

from django.apps import apps as django_apps

from recovery.proms.loading import load_shipped
from tests.conftest import World
from tests.test_access_matrix import Row

ODI_KEYS = [
    "pain_intensity",
    "personal_care",
    "lifting",
    "walking",
    "sitting",
    "standing",
    "sleeping",
    "sex_life",
    "social_life",
    "travelling",
]


def _shipped(world: World) -> dict[str, Any]:
    # Idempotent: the rows survive only until a transactional test flushes the tables.
    load_shipped(django_apps)
    return {}


def _episode(world: World, made: dict[str, Any]) -> dict[str, Any]:
    return {"episode_id": world.episode.id}


def _answer(world: World, persona: str, made: dict[str, Any]) -> dict[str, Any]:
    # The day before surgery, at noon on the patient's clock: inside the baseline window.
    day_before = world.episode.surgery_date - timedelta(days=1)
    submitted_at = datetime.combine(day_before, time(12), tzinfo=world.episode.patient_time_zone)
    return {
        "id": str(uuid.uuid4()),
        "instrument": "odi",
        "answers": dict.fromkeys(ODI_KEYS, 2),
        "submitted_at": submitted_at.isoformat(),
    }


ROWS: list[Row] = [
    Row(
        "questionnaire-schedule",
        "get",
        [200, 200, 200, 404, 404, 404, 401],
        kwargs=_episode,
        prepare=_shipped,
    ),
    Row(
        "questionnaire-response-list",
        "get",
        [200, 200, 200, 404, 404, 404, 401],
        kwargs=_episode,
        prepare=_shipped,
    ),
    Row(
        "questionnaire-response-list",
        "post",
        [201, 403, 403, 404, 404, 404, 401],
        kwargs=_episode,
        body=_answer,
        prepare=_shipped,
    ),
    Row(
        "questionnaire-instrument",
        "get",
        [200, 200, 200, 200, 200, 200, 401],
        kwargs=lambda world, made: {"code": "odi"},
        prepare=_shipped,
    ),
]
