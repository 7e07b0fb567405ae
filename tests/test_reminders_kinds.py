"""Exercise-session and questionnaire reminders: from the assignment's schedule and the timepoint
windows; they stop when the assignment ends or the questionnaire is answered or closed."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.utils import timezone

from recovery.accounts.models import User
from recovery.episodes.models import Episode
from recovery.proms.loading import load_shipped
from recovery.rehab.models import ExerciseLog
from recovery.reminders import services
from recovery.reminders.models import DeliveryState, ReminderDelivery, ReminderKind, ReminderSchedule
from recovery.reminders.tasks import dispatch_due
from recovery.reminders.timing import session_times
from tests.conftest import World, client_for
from tests.factories import AssignmentFactory, CheckInFactory
from tests.test_scoring import ODI_KEYS

MADRID = ZoneInfo("Europe/Madrid")
pytestmark = pytest.mark.django_db


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=MADRID)


def _fire(schedule: ReminderSchedule) -> ReminderDelivery:
    schedule.refresh_from_db()
    due = schedule.next_due_at
    assert due is not None
    with time_machine.travel(due + timedelta(seconds=20), tick=False):
        dispatch_due()
    return ReminderDelivery.objects.get(schedule=schedule, slot=due)


def _surgery(world: World, day: date) -> Episode:
    world.episode.surgery_date = day
    world.episode.save()
    return world.episode


def test_session_times_spread_over_the_waking_window() -> None:
    assert session_times(1, time(8), time(20)) == [time(14)]
    assert session_times(2, time(8), time(20)) == [time(11), time(17)]
    assert session_times(3, time(8), time(20)) == [time(10), time(14), time(18)]


def test_exercise_reminders_follow_the_assignment_days_and_skip_sessions_already_logged(world: World) -> None:
    surgery = date(2026, 6, 1)  # a Monday
    episode = _surgery(world, surgery)
    assignment = AssignmentFactory.create(
        episode=episode, sessions_per_day=2, days_of_week=["mon", "wed"], start_day=2, end_day=9
    )
    with time_machine.travel(_at(surgery, 9), tick=False):
        services.schedules_sync_for_episode(episode=episode)
    schedule = ReminderSchedule.objects.get(episode=episode, kind=ReminderKind.EXERCISE)
    assert schedule.target == str(assignment.id)
    # Post-op day 2 is Wednesday 3 June: sessions at 11:00 and 17:00.
    assert schedule.next_due_at == _at(date(2026, 6, 3), 11)
    first = _fire(schedule)
    assert first.state == DeliveryState.SENT
    assert first.payload["tag"] == f"exercise-{assignment.id}"
    ExerciseLog.objects.create(
        episode=episode,
        assignment=assignment,
        performed_at=_at(date(2026, 6, 3), 12),
        local_date=date(2026, 6, 3),
        sets_completed=2,
        created_by=world.patient,
    )
    # One session logged: the second reminder is still needed.
    assert _fire(schedule).state == DeliveryState.SENT
    ExerciseLog.objects.create(
        episode=episode,
        assignment=assignment,
        performed_at=_at(date(2026, 6, 8), 10),
        local_date=date(2026, 6, 8),
        sets_completed=2,
        created_by=world.patient,
    )
    ExerciseLog.objects.create(
        episode=episode,
        assignment=assignment,
        performed_at=_at(date(2026, 6, 8), 10, 30),
        local_date=date(2026, 6, 8),
        sets_completed=2,
        created_by=world.patient,
    )
    # Monday 8 June, both sessions done early: both reminders skipped.
    assert [_fire(schedule).state for _ in range(2)] == [DeliveryState.SKIPPED_CONDITION] * 2
    # Wednesday 10 June is post-op day 9, the last one.
    assert _fire(schedule).slot == _at(date(2026, 6, 10), 11)
    assert _fire(schedule).slot == _at(date(2026, 6, 10), 17)
    schedule.refresh_from_db()
    assert not schedule.active and schedule.next_due_at is None


def test_ending_an_assignment_stops_its_reminders(world: World) -> None:
    surgery = date(2026, 6, 1)
    episode = _surgery(world, surgery)
    assignment = AssignmentFactory.create(episode=episode)
    with time_machine.travel(_at(surgery + timedelta(days=3), 9), tick=False):
        services.schedules_sync_for_episode(episode=episode)
        schedule = ReminderSchedule.objects.get(episode=episode, kind=ReminderKind.EXERCISE)
        assert schedule.next_due_at == _at(surgery + timedelta(days=3), 14)
        assignment.ended_on = timezone.localdate(timezone.now(), MADRID)
        assignment.save()
        services.schedules_sync_all()
    schedule.refresh_from_db()
    assert not schedule.active and schedule.next_due_at is None


def _answer(world: World, episode: Episode, day: date) -> None:
    body = {
        "id": str(uuid.uuid4()),
        "instrument": "odi",
        "answers": dict(zip(ODI_KEYS, [3, 2, 4, 1, 0, 2, 3, 1, 2, 2], strict=True)),
        "submitted_at": _at(day, 12).isoformat(),
    }
    response = client_for(world.patient).post(
        f"/api/v1/episodes/{episode.id}/questionnaire-responses/", body, format="json"
    )
    assert response.status_code == 201, response.content


def test_questionnaire_reminded_when_the_window_opens_and_halfway_then_never_after_answering(
    world: World,
) -> None:
    load_shipped(django_apps)
    surgery = date(2026, 4, 1)
    episode = _surgery(world, surgery)
    opens = surgery + timedelta(days=35)  # the 6-week window: post-op days 35 to 56
    with time_machine.travel(_at(opens, 10), tick=False):
        services.schedules_sync_for_episode(episode=episode)
    schedule = ReminderSchedule.objects.get(episode=episode, kind=ReminderKind.QUESTIONNAIRE, target="week_6")
    # The baseline window (days -30 to 0) has closed: no schedule for it.
    assert not ReminderSchedule.objects.filter(episode=episode, target="baseline").exists()
    assert _fire(schedule).slot == _at(opens, 19)
    schedule.refresh_from_db()
    assert schedule.next_due_at == _at(surgery + timedelta(days=45), 19)
    with time_machine.travel(_at(surgery + timedelta(days=40), 12), tick=False):
        _answer(world, episode, surgery + timedelta(days=40))
    # Answered: the halfway reminder is recorded as not needed and the schedule ends.
    assert _fire(schedule).state == DeliveryState.SKIPPED_CONDITION
    schedule.refresh_from_db()
    assert not schedule.active and schedule.next_due_at is None


def test_unanswered_questionnaire_stops_when_the_window_closes(world: World) -> None:
    load_shipped(django_apps)
    surgery = date(2026, 4, 1)
    episode = _surgery(world, surgery)
    with time_machine.travel(_at(surgery + timedelta(days=50), 10), tick=False):
        services.schedules_sync_for_episode(episode=episode)
    schedule = ReminderSchedule.objects.get(episode=episode, kind=ReminderKind.QUESTIONNAIRE, target="week_6")
    # Past the opening and the halfway day (45): nothing more for this window.
    assert not schedule.active and schedule.next_due_at is None


def _digest(world: World, user: User) -> ReminderSchedule:
    services.schedules_sync_all()
    return ReminderSchedule.objects.get(recipient=user, kind=ReminderKind.DIGEST)


def test_each_surgeon_and_physio_gets_a_daily_digest_at_0730_in_their_patients_zone(world: World) -> None:
    surgeon = _digest(world, world.surgeon)
    physio = ReminderSchedule.objects.get(recipient=world.physio, kind=ReminderKind.DIGEST)
    assert surgeon.episode is None and surgeon.time_zone == "Europe/Madrid"
    for schedule in (surgeon, physio):
        assert schedule.next_due_at is not None
        assert schedule.next_due_at.astimezone(MADRID).time() == time(7, 30)
    # Clinic admins and patients get none; a second sync adds nothing.
    services.schedules_sync_all()
    assert ReminderSchedule.objects.filter(kind=ReminderKind.DIGEST).count() == 3  # + the other surgeon
    assert not ReminderSchedule.objects.filter(
        kind=ReminderKind.DIGEST, recipient=world.clinic_admin
    ).exists()


def test_digest_lists_episodes_needing_attention_and_shows_in_the_clinicians_list(world: World) -> None:
    schedule = _digest(world, world.physio)
    assert schedule.next_due_at is not None
    CheckInFactory.create(
        episode=world.episode, recorded_at=schedule.next_due_at - timedelta(hours=2), red_flags=["fever"]
    )
    delivery = _fire(schedule)
    assert delivery.state == DeliveryState.SENT
    assert delivery.payload["title"] == "1 of your patients needs attention"
    assert "Pat Doe: red flag reported in the last 24 hours" in delivery.payload["body"]
    assert "Olga" not in delivery.payload["body"]  # not on this physio's care team
    listed = client_for(world.physio).get("/api/v1/reminders/").json()["recent"]
    assert [(r["id"], r["kind"], r["episode"]) for r in listed] == [(str(delivery.id), "digest", None)]
    assert client_for(world.patient).post(f"/api/v1/reminders/{delivery.id}/done/").status_code == 404


def test_digest_with_nothing_needing_attention_is_not_sent(world: World) -> None:
    schedule = _digest(world, world.physio)
    assert schedule.next_due_at is not None
    CheckInFactory.create(episode=world.episode, recorded_at=schedule.next_due_at - timedelta(hours=5))
    assert _fire(schedule).state == DeliveryState.SKIPPED_CONDITION


def test_a_clinician_with_their_own_time_zone_gets_the_digest_at_0730_there(world: World) -> None:
    world.surgeon.time_zone = "America/New_York"
    world.surgeon.full_clean()
    world.surgeon.save()
    surgeon = _digest(world, world.surgeon)
    assert surgeon.time_zone == "America/New_York"
    assert surgeon.next_due_at is not None
    assert surgeon.next_due_at.astimezone(ZoneInfo("America/New_York")).time() == time(7, 30)
    # The physio set none: still the zone most of their patients live in.
    physio = ReminderSchedule.objects.get(recipient=world.physio, kind=ReminderKind.DIGEST)
    assert physio.time_zone == "Europe/Madrid"
    # Moving back to no zone of their own re-times it on the next sync.
    User.objects.filter(pk=world.surgeon.pk).update(time_zone="")
    assert _digest(world, world.surgeon).time_zone == "Europe/Madrid"


def test_a_staff_time_zone_must_be_an_iana_name(world: World) -> None:
    world.surgeon.time_zone = "Mars/Olympus"
    with pytest.raises(ValidationError) as raised:
        world.surgeon.full_clean()
    assert "time_zone" in raised.value.message_dict
    world.surgeon.time_zone = "europe/madrid"  # IANA names are case-sensitive
    with pytest.raises(ValidationError):
        world.surgeon.full_clean()
