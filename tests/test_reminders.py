"""Reminders: timing across DST and zone changes, and the engine sending each slot exactly once."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from time import sleep
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recovery.episodes.models import Episode, EpisodeStatus
from recovery.notifications import services as notifications
from recovery.reminders import services, tasks
from recovery.reminders.models import (
    CLINIC_DEFAULT_SOURCE,
    DeliveryState,
    EpisodeReminderSettings,
    ReminderDelivery,
    ReminderKind,
    ReminderPreferences,
    ReminderSchedule,
)
from recovery.reminders.tasks import dispatch_due, send_reminder, send_reminders
from recovery.reminders.timing import DailyRule, Quiet, WalkRule, next_daily, next_walk, to_utc, walk_times
from tests.conftest import World
from tests.factories import CheckInFactory, EpisodeFactory, PatientFactory

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
MADRID = ZoneInfo("Europe/Madrid")  # the factories' patient zone


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- pure timing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "before", "after"),
    [
        (NEW_YORK, date(2026, 3, 7), date(2026, 3, 8)),  # spring forward, second Sunday of March
        (NEW_YORK, date(2026, 10, 31), date(2026, 11, 1)),  # fall back, first Sunday of November
        (BERLIN, date(2026, 3, 28), date(2026, 3, 29)),  # last Sunday of March
        (BERLIN, date(2026, 10, 24), date(2026, 10, 25)),  # last Sunday of October
    ],
)
def test_daily_reminder_stays_at_local_time_across_dst(zone: ZoneInfo, before: date, after: date) -> None:
    rule = DailyRule(at=time(19, 0), first_day=date(2026, 1, 1))
    first = next_daily(rule, zone, datetime.combine(before, time(12, 0), tzinfo=zone))
    assert first is not None
    second = next_daily(rule, zone, first)
    assert second is not None
    assert first.astimezone(zone).replace(tzinfo=None) == datetime.combine(before, time(19, 0))
    assert second.astimezone(zone).replace(tzinfo=None) == datetime.combine(after, time(19, 0))
    # The UTC gap is not 24 hours: the local time is what stays put.
    assert second - first != timedelta(hours=24)


def test_nonexistent_local_time_in_the_spring_gap_is_shifted_forward() -> None:
    slot = to_utc(date(2026, 3, 8), time(2, 30), NEW_YORK)
    assert slot == utc(2026, 3, 8, 7, 30)
    assert slot.astimezone(NEW_YORK).time() == time(3, 30)


def test_ambiguous_local_time_in_the_autumn_repeat_is_the_first_one() -> None:
    assert to_utc(date(2026, 11, 1), time(1, 30), NEW_YORK) == utc(2026, 11, 1, 5, 30)
    assert to_utc(date(2026, 10, 25), time(2, 30), BERLIN) == utc(2026, 10, 25, 0, 30)


def test_walk_every_two_hours_inside_the_window_through_post_op_day_14() -> None:
    rule = WalkRule(date(2026, 3, 20), 14, time(8, 0), time(20, 0), 120)
    assert walk_times(rule) == [time(h, 0) for h in (8, 10, 12, 14, 16, 18, 20)]
    # Across Berlin's March change the walks stay at 08:00, 10:00 ... local.
    after = datetime(2026, 3, 28, 20, 30, tzinfo=BERLIN)
    nxt = next_walk(rule, BERLIN, after)
    assert nxt is not None
    assert nxt.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 29, 8, 0)
    assert nxt == utc(2026, 3, 29, 6, 0)
    # Day 14 is the last one.
    last = next_walk(rule, BERLIN, datetime(2026, 4, 3, 19, 0, tzinfo=BERLIN))
    assert last is not None
    assert last.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 4, 3, 20, 0)
    assert next_walk(rule, BERLIN, last) is None


def test_quiet_hours_drop_walks_and_move_a_daily_reminder_to_their_end() -> None:
    rule = WalkRule(date(2026, 6, 1), 14, time(8, 0), time(20, 0), 120)
    quiet = Quiet(time(12, 0), time(15, 0))
    nxt = next_walk(rule, BERLIN, datetime(2026, 6, 2, 10, 30, tzinfo=BERLIN), quiet)
    assert nxt is not None
    assert nxt.astimezone(BERLIN).time() == time(16, 0)
    daily = DailyRule(at=time(19, 0), first_day=date(2026, 6, 1))
    moved = next_daily(
        daily, BERLIN, datetime(2026, 6, 2, 12, 0, tzinfo=BERLIN), Quiet(time(18, 0), time(20, 30))
    )
    assert moved is not None
    assert moved.astimezone(BERLIN).time() == time(20, 30)
    # A quiet period running past midnight would move it to the next day: dropped instead.
    assert (
        next_daily(daily, BERLIN, datetime(2026, 6, 2, 12, 0, tzinfo=BERLIN), Quiet(time(18, 0), time(7, 0)))
        is None
    )


# --- the engine ------------------------------------------------------------------------------------


def mails(user: object, kind: ReminderKind) -> int:
    """Emails of one kind to one person (the dispatcher also serves the world's other episodes)."""
    subject = {ReminderKind.WALK: "Time for a short walk", ReminderKind.CHECKIN: "How are you today?"}[kind]
    email = getattr(user, "email", "")
    return len([m for m in mail.outbox if email in m.to and subject in m.subject])


def _episode_in(zone: str, surgery: date) -> Episode:
    patient = PatientFactory.create(profile__time_zone=zone)
    return EpisodeFactory.create(patient=patient, surgery_date=surgery)


def _schedule(episode: Episode, kind: ReminderKind) -> ReminderSchedule:
    return ReminderSchedule.objects.get(episode=episode, kind=kind)


def fire_next(schedule: ReminderSchedule, late: timedelta = timedelta(seconds=20)) -> ReminderDelivery:
    """Travel to the schedule's next slot (plus ``late``) and run one dispatch there."""
    schedule.refresh_from_db()
    due = schedule.next_due_at
    assert due is not None
    with time_machine.travel(due + late, tick=False):
        dispatch_due()
    return ReminderDelivery.objects.get(schedule=schedule, slot=due)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("zone", "start"),
    [
        ("America/New_York", datetime(2026, 3, 6, 12, 0)),
        ("America/New_York", datetime(2026, 10, 30, 12, 0)),
        ("Europe/Berlin", datetime(2026, 3, 27, 12, 0)),
        ("Europe/Berlin", datetime(2026, 10, 23, 12, 0)),
    ],
)
def test_engine_sends_check_in_at_19_local_every_day_across_dst(
    procedures: None, zone: str, start: datetime
) -> None:
    local = ZoneInfo(zone)
    with time_machine.travel(start.replace(tzinfo=local), tick=False):
        episode = _episode_in(zone, start.date() - timedelta(days=3))
        services.schedules_sync_for_episode(episode=episode)
    schedule = _schedule(episode, ReminderKind.CHECKIN)
    sent = [fire_next(schedule) for _ in range(4)]
    assert [d.state for d in sent] == [DeliveryState.SENT] * 4
    assert [d.slot.astimezone(local).time() for d in sent] == [time(19, 0)] * 4
    assert [d.slot.astimezone(local).date() for d in sent] == [
        start.date() + timedelta(days=i) for i in range(4)
    ]
    assert len(mail.outbox) == 4


@pytest.mark.django_db
def test_walks_keep_local_times_across_the_new_york_spring_change(procedures: None) -> None:
    with time_machine.travel(datetime(2026, 3, 7, 8, 30, tzinfo=NEW_YORK), tick=False):
        episode = _episode_in("America/New_York", date(2026, 3, 6))
        services.schedules_sync_for_episode(episode=episode)
    schedule = _schedule(episode, ReminderKind.WALK)
    sent = [fire_next(schedule) for _ in range(14)]
    local = [d.slot.astimezone(NEW_YORK) for d in sent]
    # 08:00 (not stale at 08:30 when the schedule was made) ... 20:00 on the 7th, then the 8th.
    assert [t.hour for t in local] == [8, 10, 12, 14, 16, 18, 20] * 2
    assert {t.date() for t in local} == {date(2026, 3, 7), date(2026, 3, 8)}
    assert all(d.state == DeliveryState.SENT for d in sent)


@pytest.mark.django_db
def test_changing_the_patients_time_zone_re_times_the_schedules(procedures: None) -> None:
    with time_machine.travel(datetime(2026, 5, 4, 10, 0, tzinfo=NEW_YORK), tick=False):
        episode = _episode_in("America/New_York", date(2026, 5, 1))
        services.schedules_sync_for_episode(episode=episode)
        schedule = _schedule(episode, ReminderKind.CHECKIN)
        assert schedule.next_due_at == datetime(2026, 5, 4, 19, 0, tzinfo=NEW_YORK)
        profile = episode.patient.patient_profile
        profile.time_zone = "Europe/Berlin"
        profile.save()
        services.schedules_sync_for_user(user=episode.patient)
    schedule.refresh_from_db()
    # 10:00 in New York is 16:00 in Berlin: tonight's 19:00 there.
    assert schedule.next_due_at == datetime(2026, 5, 4, 19, 0, tzinfo=BERLIN)
    delivery = fire_next(schedule)
    assert delivery.slot.astimezone(BERLIN).time() == time(19, 0)
    schedule.refresh_from_db()
    assert schedule.next_due_at == datetime(2026, 5, 5, 19, 0, tzinfo=BERLIN)


@pytest.mark.django_db
def test_sync_is_idempotent_and_walk_settings_default_is_labelled(world: World) -> None:
    services.schedules_sync_for_episode(episode=world.episode)
    count = ReminderSchedule.objects.filter(episode=world.episode).count()
    services.schedules_sync_for_episode(episode=world.episode)
    assert ReminderSchedule.objects.filter(episode=world.episode).count() == count
    assert set(ReminderSchedule.objects.filter(episode=world.episode).values_list("kind", flat=True)) >= {
        "walk",
        "checkin",
    }
    assert (
        services.settings_of(world.episode).source == CLINIC_DEFAULT_SOURCE == "clinic default, not evidence"
    )


@pytest.mark.django_db
def test_a_slot_is_sent_once_however_often_the_task_runs(world: World) -> None:
    services.schedules_sync_for_episode(episode=world.episode)
    schedule = _schedule(world.episode, ReminderKind.WALK)
    due = schedule.next_due_at
    assert due is not None
    with time_machine.travel(due + timedelta(seconds=5), tick=False):
        for _ in range(3):
            dispatch_due()
            send_reminder(str(schedule.id), due.isoformat())
    delivery = ReminderDelivery.objects.get(schedule=schedule)
    assert delivery.state == DeliveryState.SENT
    assert mails(world.patient, ReminderKind.WALK) == 1
    assert delivery.payload["tag"] == f"walk-{world.episode.id}"
    assert set(delivery.payload) >= {"title", "body", "url", "tag"}
    assert delivery.channel_results["email"] == "sent"
    schedule.refresh_from_db()
    assert schedule.next_due_at is not None and schedule.next_due_at > due


@pytest.mark.django_db
def test_check_in_reminder_is_skipped_when_the_patient_already_checked_in_that_day(world: World) -> None:
    services.schedules_sync_for_episode(episode=world.episode)
    schedule = _schedule(world.episode, ReminderKind.CHECKIN)
    due = schedule.next_due_at
    assert due is not None
    CheckInFactory.create(episode=world.episode, recorded_at=due - timedelta(hours=2))
    delivery = fire_next(schedule)
    assert delivery.state == DeliveryState.SKIPPED_CONDITION
    assert mails(world.patient, ReminderKind.CHECKIN) == 0


@pytest.mark.django_db
def test_muted_kind_and_quiet_hours_are_recorded_not_sent(world: World) -> None:
    services.schedules_sync_for_episode(episode=world.episode)
    walk = _schedule(world.episode, ReminderKind.WALK)
    ReminderPreferences.objects.create(user=world.patient, muted_kinds=["walk"])
    assert fire_next(walk).state == DeliveryState.SKIPPED_MUTED
    walk.refresh_from_db()
    assert walk.next_due_at is not None
    local = walk.next_due_at.astimezone(world.episode.patient_time_zone).time()
    ReminderPreferences.objects.filter(user=world.patient).update(
        muted_kinds=[], quiet_start=local, quiet_end=time(23, 59)
    )
    assert fire_next(walk).state == DeliveryState.SKIPPED_QUIET
    assert mails(world.patient, ReminderKind.WALK) == 0


@pytest.mark.django_db
def test_slot_due_during_an_outage_is_sent_once_on_return_or_skipped_when_stale(world: World) -> None:
    zone = world.episode.patient_time_zone
    today = timezone.localtime(timezone.now(), zone).date()
    # Made at 11:05 local: made in the evening, the schedule would start with tonight's 19:00 check-in,
    # which the walk's late dispatch would send as well.
    with time_machine.travel(datetime.combine(today, time(11, 5), tzinfo=zone), tick=False):
        services.schedules_sync_for_episode(episode=world.episode)
    walk = _schedule(world.episode, ReminderKind.WALK)
    checkin = _schedule(world.episode, ReminderKind.CHECKIN)
    assert fire_next(walk, late=timedelta(minutes=40)).state == DeliveryState.SENT
    stale = fire_next(walk, late=timedelta(hours=30))
    assert stale.state == DeliveryState.SKIPPED_STALE
    walk.refresh_from_db()
    # Back on track: the next slot is after the return, not one of the missed ones.
    assert walk.next_due_at is None or walk.next_due_at > stale.slot + timedelta(hours=30)
    assert mails(world.patient, ReminderKind.WALK) == 1
    assert fire_next(checkin, late=timedelta(hours=2)).state == DeliveryState.SENT
    assert mails(world.patient, ReminderKind.CHECKIN) == 1


@pytest.mark.django_db
def test_schedule_made_in_the_evening_sends_tonights_check_in_once(world: World) -> None:
    zone = world.episode.patient_time_zone
    today = timezone.localtime(timezone.now(), zone).date()
    with time_machine.travel(datetime.combine(today, time(20, 5), tzinfo=zone), tick=False):
        services.schedules_sync_for_episode(episode=world.episode)
        checkin = _schedule(world.episode, ReminderKind.CHECKIN)
        # 65 minutes late is not stale for a check-in (3 hours): tonight's still goes out.
        assert checkin.next_due_at == datetime.combine(today, time(19, 0), tzinfo=zone)
        dispatch_due()
        dispatch_due()
    assert mails(world.patient, ReminderKind.CHECKIN) == 1
    checkin.refresh_from_db()
    assert checkin.next_due_at == datetime.combine(today + timedelta(days=1), time(19, 0), tzinfo=zone)


@pytest.mark.django_db
def test_walk_schedule_ends_after_the_care_teams_last_day(world: World) -> None:
    EpisodeReminderSettings.objects.create(episode=world.episode, walk_until_day=3)
    services.schedules_sync_for_episode(episode=world.episode)  # post-op day 10
    walk = _schedule(world.episode, ReminderKind.WALK)
    assert not walk.active and walk.next_due_at is None


@pytest.mark.django_db
def test_completed_episode_stops_its_schedules(world: World) -> None:
    services.schedules_sync_for_episode(episode=world.episode)
    Episode.objects.filter(pk=world.episode.pk).update(status=EpisodeStatus.COMPLETED)
    services.schedules_sync_all()
    assert not ReminderSchedule.objects.filter(episode=world.episode, active=True).exists()


@pytest.mark.django_db
def test_dispatcher_gives_new_episodes_their_schedules(world: World) -> None:
    dispatch_due()
    for episode in (world.episode, world.other_episode):
        kinds = ReminderSchedule.objects.filter(episode=episode).values_list("kind", flat=True)
        assert {"walk", "checkin"} <= set(kinds)


@pytest.mark.django_db
def test_pending_delivery_left_by_a_dead_worker_is_re_driven_once(world: World) -> None:
    services.schedules_sync_for_episode(episode=world.episode)
    walk = _schedule(world.episode, ReminderKind.WALK)
    due = walk.next_due_at
    assert due is not None
    with time_machine.travel(due + timedelta(seconds=5), tick=False):
        # The worker claimed the slot and died before sending.
        delivery = services._claim(walk.id, due, timezone.now())
    assert delivery is not None and delivery.state == DeliveryState.PENDING
    with time_machine.travel(due + timedelta(minutes=3), tick=False):
        dispatch_due()
        dispatch_due()
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SENT
    assert mails(world.patient, ReminderKind.WALK) == 1


@pytest.mark.django_db
def test_delivery_interrupted_while_sending_is_never_resent(world: World) -> None:
    services.schedules_sync_for_episode(episode=world.episode)
    walk = _schedule(world.episode, ReminderKind.WALK)
    due = walk.next_due_at
    assert due is not None
    with time_machine.travel(due + timedelta(seconds=5), tick=False):
        delivery = services._claim(walk.id, due, timezone.now())
        assert delivery is not None
        ReminderDelivery.objects.filter(pk=delivery.pk).update(
            state=DeliveryState.SENDING, claimed_at=timezone.now()
        )
    with time_machine.travel(due + timedelta(minutes=15), tick=False):
        dispatch_due()
        send_reminder(str(walk.id), due.isoformat())
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED
    assert delivery.channel_results == {"error": "interrupted"}
    assert mails(world.patient, ReminderKind.WALK) == 0


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_racing_send_one_reminder(world: World) -> None:
    services.schedules_sync_for_episode(episode=world.episode)
    walk = _schedule(world.episode, ReminderKind.WALK)
    checkin = _schedule(world.episode, ReminderKind.CHECKIN)
    now = timezone.now()
    ReminderSchedule.objects.filter(pk__in=[walk.pk, checkin.pk]).update(
        next_due_at=now - timedelta(seconds=30)
    )
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def dispatcher() -> None:
        try:
            barrier.wait()
            dispatch_due()
        except BaseException as exc:  # noqa: BLE001  (reported by the assertion below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert ReminderDelivery.objects.filter(schedule__episode=world.episode).count() == 2
    assert mails(world.patient, ReminderKind.WALK) == 1
    assert mails(world.patient, ReminderKind.CHECKIN) == 1


# --- the dispatcher in bulk ------------------------------------------------------------------------


def _due_walks(count: int) -> list[ReminderSchedule]:
    """``count`` patients whose walk reminder came due 30 seconds ago."""
    walks: list[ReminderSchedule] = []
    for _ in range(count):
        episode = EpisodeFactory.create()
        services.schedules_sync_for_episode(episode=episode)
        walks.append(_schedule(episode, ReminderKind.WALK))
    ReminderSchedule.objects.filter(pk__in=[w.pk for w in walks]).update(
        next_due_at=timezone.now() - timedelta(seconds=30)
    )
    # Whatever else came due at this hour (a check-in, a questionnaire) is not under test here.
    ReminderSchedule.objects.exclude(pk__in=[w.pk for w in walks]).update(active=False, next_due_at=None)
    for walk in walks:
        walk.refresh_from_db()
    return walks


def _walk_mails_to(walks: list[ReminderSchedule]) -> dict[str, int]:
    return {w.recipient.email: mails(w.recipient, ReminderKind.WALK) for w in walks}


@pytest.mark.django_db
def test_one_tick_drains_every_due_schedule_in_batches_and_chunks(
    procedures: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks, "PAGE", 3)
    monkeypatch.setattr(tasks, "SEND_CHUNK", 2)
    chunks: list[int] = []
    real = services.reminders_send

    def spy(**kwargs: Any) -> list[str]:
        chunks.append(len(kwargs["items"]))
        return real(**kwargs)

    monkeypatch.setattr(services, "reminders_send", spy)
    walks = _due_walks(7)
    assert tasks.enqueue_due(now=timezone.now()) == 7
    # 7 due rows: pages of 3 + 3 + 1, each published in chunks of at most 2.
    assert sorted(chunks, reverse=True) == [2, 2, 1, 1, 1]
    assert set(_walk_mails_to(walks).values()) == {1}
    assert ReminderDelivery.objects.filter(schedule__in=walks, state=DeliveryState.SENT).count() == 7
    dispatch_due()
    assert set(_walk_mails_to(walks).values()) == {1}


@pytest.mark.django_db
def test_a_slot_still_due_at_the_next_tick_is_handed_out_again_and_sent_once(
    procedures: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = timezone.localtime(timezone.now(), MADRID).date()
    # 11:05 local: the next walk (12:00) is not due two minutes later.
    with time_machine.travel(datetime.combine(today, time(11, 5), tzinfo=MADRID), tick=False):
        [walk] = _due_walks(1)
        handed: list[Any] = []
        monkeypatch.setattr(tasks, "_publish", lambda pairs, queue: handed.extend(pairs))
        now = timezone.now()
        # The first tick's task was lost (or expired unstarted): the next tick hands the slot out again.
        assert tasks.enqueue_due(now=now) == 1
        assert tasks.enqueue_due(now=now + timedelta(minutes=1)) == 1
        assert [pk for pk, _ in handed] == [str(walk.pk)] * 2
        slot = datetime.fromisoformat(handed[0][1])
        assert slot == walk.next_due_at
        assert services.reminders_send(items=[(walk.pk, slot), (walk.pk, slot)]) == ["sent", "sent"]
        again = [(pk, datetime.fromisoformat(at)) for pk, at in handed]
        assert services.reminders_send(items=again) == ["sent", "sent"]
        assert mails(walk.recipient, ReminderKind.WALK) == 1
        walk.refresh_from_db()
        assert walk.next_due_at is not None and walk.next_due_at > slot
        assert tasks.enqueue_due(now=now + timedelta(minutes=2)) == 0


@pytest.mark.django_db
def test_a_chunk_task_run_twice_sends_each_reminder_once(procedures: None) -> None:
    walks = _due_walks(4)
    chunk = [
        [str(w.pk), w.next_due_at.isoformat()]
        for w in ReminderSchedule.objects.filter(pk__in=[w.pk for w in walks])
        if w.next_due_at is not None
    ]
    first = send_reminders(chunk)
    again = send_reminders(list(reversed(chunk)))
    assert first == ["sent"] * 4 and again == ["sent"] * 4
    assert set(_walk_mails_to(walks).values()) == {1}
    assert ReminderDelivery.objects.filter(schedule__in=walks).count() == 4
    # A pair whose slot has moved on (or that never existed) is gone, and the rest still goes out.
    assert send_reminders([[str(walks[0].pk), "2020-01-01T00:00:00+00:00"]]) == ["gone"]


@pytest.mark.django_db
def test_sending_a_chunk_costs_the_same_queries_for_3_or_12_reminders(procedures: None) -> None:
    def queries_for(count: int) -> int:
        walks = _due_walks(count)
        pairs = [(w.pk, w.next_due_at) for w in ReminderSchedule.objects.filter(pk__in=[w.pk for w in walks])]
        with CaptureQueriesContext(connection) as captured:
            states = services.reminders_send(items=[(p, s) for p, s in pairs if s is not None])
        assert states == ["sent"] * count
        return len(captured)

    assert queries_for(3) == queries_for(12)


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_never_hand_out_the_same_schedule(
    procedures: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    walks = _due_walks(40)
    monkeypatch.setattr(tasks, "PAGE", 3)
    handed: list[Any] = []
    lock = threading.Lock()

    def publish(pairs: Any, queue: Any) -> None:
        with lock:
            handed.extend(pk for pk, _ in pairs)
        sleep(0.2)  # a slow broker: the other dispatchers start while this one is still at it

    monkeypatch.setattr(tasks, "_publish", publish)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def dispatcher() -> None:
        try:
            barrier.wait()
            tasks.enqueue_due(now=timezone.now())
        except BaseException as exc:  # noqa: BLE001  (reported by the assertion below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    # Whichever dispatcher got the lock handed out every due walk once; the others skipped the tick.
    assert sorted(handed) == sorted(str(w.pk) for w in walks)


@pytest.mark.django_db
def test_a_worker_dying_mid_chunk_loses_at_most_the_batch_in_flight(
    procedures: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "SEND_BATCH", 2)
    real = notifications.notify_users
    calls: list[int] = []

    def dies_on_the_second_batch(notices: Any, *rest: Any) -> Any:
        calls.append(len(notices))
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real(notices, *rest)

    today = timezone.localtime(timezone.now(), MADRID).date()
    # 11:05 local: the next walks (12:00) are not due yet when the dispatcher runs at 11:20.
    with time_machine.travel(datetime.combine(today, time(11, 5), tzinfo=MADRID), tick=False):
        walks = _due_walks(5)
        monkeypatch.setattr(services, "notify_users", dies_on_the_second_batch)
        with pytest.raises(RuntimeError):
            services.reminders_send(items=[(w.pk, w.next_due_at) for w in walks if w.next_due_at is not None])
        states = sorted(ReminderDelivery.objects.filter(schedule__in=walks).values_list("state", flat=True))
        assert states == ["pending", "sending", "sending", "sent", "sent"]
        monkeypatch.setattr(services, "notify_users", real)
        with time_machine.travel(timezone.now() + timedelta(minutes=3), tick=False):
            dispatch_due()
        with time_machine.travel(timezone.now() + timedelta(minutes=15), tick=False):
            dispatch_due()
    states = sorted(ReminderDelivery.objects.filter(schedule__in=walks).values_list("state", flat=True))
    # The one still pending is re-driven and sent; the two in flight are never resent.
    assert states == ["failed", "failed", "sent", "sent", "sent"]
    assert sorted(_walk_mails_to(walks).values()) == [0, 0, 1, 1, 1]
