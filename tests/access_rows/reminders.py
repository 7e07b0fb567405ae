"""Access rows for reminders: the list, snooze and done (the recipient's own; anyone else 404),
one's own preferences, and the episode's walking-reminder rule (care team writes, patient reads).

Persona order: patient, physio, surgeon, clinic_admin, other_patient, other_clinic_surgeon, anonymous.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from recovery.reminders.models import DeliveryState, ReminderDelivery, ReminderKind, ReminderSchedule
from tests.conftest import World
from tests.test_access_matrix import Row

SIGNED_IN = [200, 200, 200, 200, 200, 200, 401]
RECIPIENT_ONLY = [200, 404, 404, 404, 404, 404, 401]


def _delivery(world: World) -> dict[str, Any]:
    schedule = ReminderSchedule.objects.create(
        episode=world.episode, kind=ReminderKind.WALK, recipient=world.patient, next_due_at=None, active=False
    )
    delivery = ReminderDelivery.objects.create(
        schedule=schedule,
        slot=timezone.now(),
        state=DeliveryState.SENT,
        payload={"title": "Walk", "body": "Time for a walk", "url": "/reminders/", "tag": "walk"},
    )
    return {"delivery": delivery}


def _reminder(world: World, made: dict[str, Any]) -> dict[str, Any]:
    return {"reminder_id": made["delivery"].id}


def _episode(world: World, made: dict[str, Any]) -> dict[str, Any]:
    return {"episode_id": world.episode.id}


def _preferences(world: World, persona: str, made: dict[str, Any]) -> dict[str, Any]:
    return {
        "quiet_start": "22:00",
        "quiet_end": "07:00",
        "push": True,
        "email": True,
        "muted_kinds": [],
        "checkin_time": "19:30",
        "waking_start": "08:00",
        "waking_end": "20:00",
    }


def _settings(world: World, persona: str, made: dict[str, Any]) -> dict[str, Any]:
    return {
        "walk_interval_minutes": 90,
        "walk_window_start": None,
        "walk_window_end": None,
        "walk_until_day": 10,
    }


ROWS: list[Row] = [
    Row("reminder-list", "get", SIGNED_IN),
    Row(
        "reminder-snooze",
        "post",
        RECIPIENT_ONLY,
        kwargs=_reminder,
        prepare=_delivery,
        body=lambda w, p, m: {"minutes": 10},
    ),
    Row("reminder-done", "post", RECIPIENT_ONLY, kwargs=_reminder, prepare=_delivery),
    Row("reminder-preferences", "get", SIGNED_IN),
    Row("reminder-preferences", "put", SIGNED_IN, body=_preferences),
    Row("episode-reminder-settings", "get", [200, 200, 200, 404, 404, 404, 401], kwargs=_episode),
    Row(
        "episode-reminder-settings",
        "put",
        [403, 200, 200, 404, 404, 404, 401],
        kwargs=_episode,
        body=_settings,
    ),
]
