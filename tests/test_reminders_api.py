"""The reminder API: the patient's list, snooze and done, preferences and the care team's rule."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recovery.notifications.models import ConsentKind
from recovery.notifications.services import consent_record
from recovery.reminders import services
from recovery.reminders.models import DeliveryState, ReminderDelivery, ReminderKind, ReminderSchedule, WalkLog
from recovery.reminders.tasks import dispatch_due
from tests.conftest import World, client_for

pytestmark = pytest.mark.django_db

#: The factories' patient zone.
MADRID = ZoneInfo("Europe/Madrid")


@pytest.fixture(autouse=True)
def _late_morning_on_the_patients_calendar() -> Iterator[None]:
    """11:05 on the patient's calendar, whatever the hour the suite runs at. A schedule made in the
    evening starts with tonight's 19:00 check-in (not yet stale), and one made just before 08:00 with
    the 08:00 walk: either would be due next to the walk these tests force out, and add a mail."""
    today = timezone.localtime(timezone.now(), MADRID).date()
    with time_machine.travel(datetime.combine(today, time(11, 5), tzinfo=MADRID), tick=False):
        yield


def _sent_walk(world: World) -> ReminderDelivery:
    services.schedules_sync_for_episode(episode=world.episode)
    walk = ReminderSchedule.objects.get(episode=world.episode, kind=ReminderKind.WALK)
    assert walk.next_due_at is not None
    ReminderSchedule.objects.filter(pk=walk.pk).update(next_due_at=timezone.now() - timedelta(seconds=5))
    walk.refresh_from_db()
    assert walk.next_due_at is not None
    services.reminder_send(schedule_id=walk.id, slot=walk.next_due_at)
    return ReminderDelivery.objects.get(schedule=walk)


def _walk_mails(world: World) -> int:
    return len([m for m in mail.outbox if world.patient.email in m.to and "walk" in m.subject])


def test_list_shows_upcoming_and_recent_reminders_with_states(world: World) -> None:
    delivery = _sent_walk(world)
    with CaptureQueriesContext(connection) as queries:
        response = client_for(world.patient).get("/api/v1/reminders/")
    assert response.status_code == 200
    body = response.json()
    assert [r["id"] for r in body["recent"]] == [str(delivery.id)]
    recent = body["recent"][0]
    assert recent["state"] == "sent"
    assert recent["kind"] == "walk"
    assert recent["tag"] == f"walk-{world.episode.id}"
    assert {u["kind"] for u in body["upcoming"]} <= {"walk", "checkin"}
    assert "checkin" in {u["kind"] for u in body["upcoming"]}
    assert all(u["due_at"] > recent["due_at"] for u in body["upcoming"])
    assert len(queries) <= 15
    # Nobody else sees it.
    assert client_for(world.physio).get("/api/v1/reminders/").json()["recent"] == []


def test_snooze_sends_it_again_once_at_the_new_time_and_snoozing_again_moves_it(world: World) -> None:
    delivery = _sent_walk(world)
    client = client_for(world.patient)
    url = f"/api/v1/reminders/{delivery.id}/snooze/"
    for bad in (4, 241, "10", None):
        assert client.post(url, {"minutes": bad}, format="json").status_code == 400
    first = client.post(url, {"minutes": 10}, format="json")
    assert first.status_code == 200
    assert first.json()["state"] == "snoozed"
    again = client.post(url, {"minutes": 30}, format="json").json()
    assert again["snoozed_until"] > first.json()["snoozed_until"]
    with time_machine.travel(timezone.now() + timedelta(minutes=15), tick=False):
        dispatch_due()
    assert _walk_mails(world) == 1
    with time_machine.travel(timezone.now() + timedelta(minutes=31), tick=False):
        dispatch_due()
        dispatch_due()
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SENT
    assert _walk_mails(world) == 2


def test_done_on_a_walk_reminder_records_the_walk_once(world: World) -> None:
    delivery = _sent_walk(world)
    client = client_for(world.patient)
    for _ in range(2):
        response = client.post(f"/api/v1/reminders/{delivery.id}/done/")
        assert response.status_code == 200
        assert response.json()["state"] == "done"
    assert WalkLog.objects.filter(episode=world.episode, delivery=delivery).count() == 1
    # A reminder that is done cannot be snoozed.
    assert (
        client.post(f"/api/v1/reminders/{delivery.id}/snooze/", {"minutes": 5}, format="json").status_code
        == 409
    )


def test_someone_elses_reminder_is_404(world: World) -> None:
    delivery = _sent_walk(world)
    for user in (world.other_patient, world.physio, world.surgeon):
        assert client_for(user).post(f"/api/v1/reminders/{delivery.id}/done/").status_code == 404
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SENT


def _preferences(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "quiet_start": None,
        "quiet_end": None,
        "push": True,
        "email": True,
        "muted_kinds": [],
        "checkin_time": "19:00",
        "waking_start": "08:00",
        "waking_end": "20:00",
    }
    return {**body, **changes}


def test_preferences_default_then_change_re_times_the_check_in(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_for(world.patient)
    assert client.get("/api/v1/me/reminder-preferences/").json() == _preferences()
    services.schedules_sync_for_episode(episode=world.episode)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.put(
            "/api/v1/me/reminder-preferences/", _preferences(checkin_time="21:15"), format="json"
        )
    assert response.status_code == 200, response.content
    checkin = ReminderSchedule.objects.get(episode=world.episode, kind=ReminderKind.CHECKIN)
    today = timezone.localtime(timezone.now(), MADRID).date()
    assert checkin.next_due_at == datetime.combine(today, time(21, 15), tzinfo=MADRID)
    bad = client.put("/api/v1/me/reminder-preferences/", _preferences(quiet_start="22:00"), format="json")
    assert bad.status_code == 400
    assert "quiet_end" in bad.json()["errors"]


def test_email_channel_off_or_email_consent_refused_sends_nothing(world: World) -> None:
    client_for(world.patient).put(
        "/api/v1/me/reminder-preferences/", _preferences(email=False), format="json"
    )
    assert _sent_walk(world).state == DeliveryState.FAILED
    assert _walk_mails(world) == 0


def test_refused_email_consent_is_honoured(world: World) -> None:
    consent_record(user=world.patient, kind=ConsentKind.EMAIL, granted=False, version="2026-05")
    delivery = _sent_walk(world)
    assert delivery.state == DeliveryState.FAILED
    assert delivery.channel_results["email"] == "declined"
    assert _walk_mails(world) == 0


def test_care_team_sets_the_walking_rule_labelled_clinic_default(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    url = f"/api/v1/episodes/{world.episode.id}/reminder-settings/"
    got = client_for(world.patient).get(url).json()
    assert got == {
        "walk_interval_minutes": 120,
        "walk_window_start": None,
        "walk_window_end": None,
        "walk_until_day": 14,
        "source": "clinic default, not evidence",
    }
    zone = world.episode.patient_time_zone
    body = {
        "walk_interval_minutes": 45,
        "walk_window_start": "09:00",
        "walk_window_end": "18:00",
        "walk_until_day": 20,
    }
    today = timezone.localtime(timezone.now(), zone).date()
    with time_machine.travel(datetime.combine(today, time(11, 5), tzinfo=zone), tick=False):
        services.schedules_sync_for_episode(episode=world.episode)
        with django_capture_on_commit_callbacks(execute=True):
            response = client_for(world.physio).put(url, body, format="json")
    assert response.status_code == 200, response.content
    walk = ReminderSchedule.objects.get(episode=world.episode, kind=ReminderKind.WALK)
    assert walk.next_due_at is not None
    # 09:00, 09:45, 10:30, 11:15: the next after 11:05 under the new rule.
    assert walk.next_due_at.astimezone(zone) == datetime.combine(today, time(11, 15), tzinfo=zone)
    assert client_for(world.patient).put(url, body, format="json").status_code == 403
    bad = client_for(world.physio).put(url, {**body, "walk_window_end": None}, format="json")
    assert bad.status_code == 400
