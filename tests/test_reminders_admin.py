"""The reminder admin pages: read-only, and scoped by the access policy like the rest of the admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from recovery.accounts.models import User
from recovery.reminders import services
from recovery.reminders.models import (
    EpisodeReminderSettings,
    ReminderDelivery,
    ReminderKind,
    ReminderPreferences,
    ReminderSchedule,
    WalkLog,
)
from tests.conftest import World

pytestmark = pytest.mark.django_db


def admin_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _sent_walk(world: World) -> ReminderDelivery:
    services.schedules_sync_for_episode(episode=world.episode)
    walk = ReminderSchedule.objects.get(episode=world.episode, kind=ReminderKind.WALK)
    slot = timezone.now() - timedelta(seconds=5)
    ReminderSchedule.objects.filter(pk=walk.pk).update(next_due_at=slot)
    services.reminder_send(schedule_id=walk.id, slot=slot)
    return ReminderDelivery.objects.get(schedule=walk)


def test_care_team_reads_deliveries_and_walks_of_their_patients_only(world: World) -> None:
    delivery = _sent_walk(world)
    services.reminder_done(delivery=delivery)
    walk = WalkLog.objects.get(delivery=delivery)
    services.schedules_sync_for_episode(episode=world.other_episode)
    other = ReminderSchedule.objects.get(episode=world.other_episode, kind=ReminderKind.WALK)
    for user in (world.physio, world.surgeon):
        client = admin_client(user)
        listing = client.get("/admin/reminders/reminderdelivery/")
        assert listing.status_code == 200
        assert str(delivery.pk) in listing.content.decode()
        page = client.get(f"/admin/reminders/reminderdelivery/{delivery.pk}/change/")
        assert page.status_code == 200
        assert b"Time for a short walk" in page.content
        assert b'name="_save"' not in page.content
        assert client.get(f"/admin/reminders/walklog/{walk.pk}/change/").status_code == 200
        # Another surgeon's patient, same clinic: not theirs.
        assert client.get(f"/admin/reminders/reminderschedule/{other.pk}/change/").status_code == 302
    outsider = admin_client(world.other_clinic_surgeon)
    assert str(delivery.pk) not in outsider.get("/admin/reminders/reminderdelivery/").content.decode()
    assert outsider.get(f"/admin/reminders/reminderdelivery/{delivery.pk}/change/").status_code == 302
    assert outsider.get(f"/admin/reminders/walklog/{walk.pk}/change/").status_code == 302


def test_clinic_admin_sees_schedules_and_rules_but_not_what_patients_were_told(world: World) -> None:
    delivery = _sent_walk(world)
    EpisodeReminderSettings.objects.create(episode=world.episode, walk_interval_minutes=90)
    ReminderPreferences.objects.create(user=world.patient, quiet_start=None, quiet_end=None)
    client = admin_client(world.clinic_admin)
    assert client.get(f"/admin/reminders/reminderschedule/{delivery.schedule_id}/change/").status_code == 200
    settings = EpisodeReminderSettings.objects.get(episode=world.episode)
    assert client.get(f"/admin/reminders/episoderemindersettings/{settings.pk}/change/").status_code == 200
    preferences = ReminderPreferences.objects.get(user=world.patient)
    assert client.get(f"/admin/reminders/reminderpreferences/{preferences.pk}/change/").status_code == 200
    assert client.get(f"/admin/reminders/reminderdelivery/{delivery.pk}/change/").status_code == 302
    elsewhere = admin_client(world.other_clinic_surgeon)
    assert (
        elsewhere.get(f"/admin/reminders/reminderschedule/{delivery.schedule_id}/change/").status_code == 302
    )
    assert elsewhere.get(f"/admin/reminders/reminderpreferences/{preferences.pk}/change/").status_code == 302


def test_reminder_pages_are_read_only_for_everyone(world: World) -> None:
    delivery = _sent_walk(world)
    client = admin_client(world.clinic_admin)
    schedule_url = f"/admin/reminders/reminderschedule/{delivery.schedule_id}/change/"
    assert client.post(schedule_url, {"active": ""}).status_code == 403
    assert client.get("/admin/reminders/reminderschedule/add/").status_code == 403
    surgeon = admin_client(world.surgeon)
    assert (
        surgeon.post(
            f"/admin/reminders/reminderdelivery/{delivery.pk}/change/", {"state": "done"}
        ).status_code
        == 403
    )
    assert surgeon.get(f"/admin/reminders/reminderdelivery/{delivery.pk}/delete/").status_code == 403
    delivery.refresh_from_db()
    assert delivery.state == "sent"


def test_a_clinicians_digest_is_theirs_alone(world: World) -> None:
    services.schedules_sync_digests()
    digest = ReminderSchedule.objects.get(recipient=world.surgeon, kind=ReminderKind.DIGEST)
    assert (
        admin_client(world.surgeon).get(f"/admin/reminders/reminderschedule/{digest.pk}/change/").status_code
        == 200
    )
    for user in (world.physio, world.clinic_admin):
        assert (
            admin_client(user).get(f"/admin/reminders/reminderschedule/{digest.pk}/change/").status_code
            == 302
        )


def test_clinic_admin_sets_a_clinicians_time_zone_and_a_bad_one_is_refused(world: World) -> None:
    client = admin_client(world.clinic_admin)
    url = f"/admin/accounts/user/{world.surgeon.pk}/change/"
    form = {
        "email": world.surgeon.email,
        "full_name": world.surgeon.full_name,
        "role": world.surgeon.role,
        "is_active": "on",
        "patient_profile-TOTAL_FORMS": "0",
        "patient_profile-INITIAL_FORMS": "0",
    }
    bad = client.post(url, {**form, "time_zone": "Mars/Olympus"})
    assert bad.status_code == 200  # the form again, with the error
    assert b"IANA time zone" in bad.content
    good = client.post(url, {**form, "time_zone": "America/New_York"})
    assert good.status_code == 302, good.content[:2000]
    world.surgeon.refresh_from_db()
    assert world.surgeon.time_zone == "America/New_York"
