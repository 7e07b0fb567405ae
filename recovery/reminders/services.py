"""Reminder writes: keeping schedules in step with their rules, sending one occurrence exactly once,
snooze and done.

Exactly once, and why
---------------------
The dispatcher (``tasks.dispatch_due``, every minute, one at a time: ``dispatcher_lock``) reads the
due schedules and hands the ``(schedule, next_due_at)`` pairs to ``send_reminders`` in chunks; a
Celery task is delivered at least once (acks_late, redelivery after a crash or a broker restart, a
beat restart, the next tick handing out a slot again when its task has not run yet). ``reminders_send``
makes repeats harmless, pair by pair, whatever chunk a pair arrives in:

1. Claim, in one short transaction for the whole chunk: lock the schedule rows
   (``select_for_update``, primary key order), and go on with a pair only if its schedule's
   ``next_due_at`` still equals the slot; insert the ``ReminderDelivery(schedule, slot)`` rows (unique:
   a second insert for the same slot cannot commit) with their content decided (``pending``) or the
   reason they are not sent (``skipped_*``); advance each ``next_due_at``, still under the lock. A
   repeat finds the row and resumes from its state instead.
2. Send, outside any transaction (slow I/O must not hold locks): move the rows ``pending -> sending``
   with one conditional UPDATE and send only the rows that it changed; then record ``sent`` (or
   ``failed``) and the channel results, only on rows still ``sending``.

So a slot becomes at most one delivery row, and a delivery row is handed to ``notify_users`` at most
once. A worker killed after step 1 leaves ``pending``: the dispatcher re-drives pending rows older than
``PENDING_REDRIVE_AFTER`` (the broker's own redelivery may come later; either finds the row). A worker
killed during step 2 leaves ``sending``: the push may or may not have left, and sending again could
notify twice, so such a row is never resent; after ``SENDING_LEASE`` the dispatcher marks it
``failed`` (``interrupted``). The one acknowledged gap: the push went out and the worker died before
recording it, so the row says ``failed`` although the patient was notified. We prefer that to a double
notification. A slot that came due while everything was down is sent once on recovery, or recorded
``skipped_stale`` when older than its kind's ``STALE_AFTER``; the occurrences in between are not
recorded (the schedule moves to the first slot after now).

Queries per chunk, whatever its size (walk and check-in reminders): lock the schedules, read existing
deliveries, preferences, care-team settings, check-ins of the day, insert (returning the ids),
advance the schedules, move to ``sending``, preferences, consents, subscriptions (and expired ones
deleted), the push answers recorded, the results recorded. Exercise, questionnaire and digest
reminders add a few queries each.

Syncing (``schedules_sync_for_episode``) is idempotent: one schedule per (episode, kind, target),
and it only moves a ``next_due_at`` that is still in the future, with a conditional UPDATE, so it
never steals a due slot from a sender.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from recovery.accounts.models import Role, User
from recovery.accounts.timezones import is_valid_time_zone
from recovery.checkins.models import CheckIn
from recovery.core.errors import Conflict
from recovery.episodes.models import Episode, EpisodeStatus
from recovery.notifications.push import PushPayload
from recovery.notifications.services import Notice, NotifyResult, Recipients, notify_users, recipients_load
from recovery.proms.models import QuestionnaireResponse
from recovery.proms.selectors import schedule_for_clinic
from recovery.proms.timepoints import Timepoint
from recovery.rehab.models import Assignment, ExerciseLog
from recovery.rehab.plan import assignment_inactive_reason
from recovery.reminders.digest import Attention, episodes_needing_attention
from recovery.reminders.models import (
    DeliveryState,
    EpisodeReminderSettings,
    ReminderDelivery,
    ReminderKind,
    ReminderPreferences,
    ReminderSchedule,
    WalkLog,
)
from recovery.reminders.timing import (
    DailyRule,
    Quiet,
    WalkRule,
    daily_time,
    local_day,
    next_daily,
    next_on_days,
    next_walk,
    session_times,
)

logger = logging.getLogger(__name__)

#: How late a reminder may still go out; later it is recorded ``skipped_stale``. A walk prompt an hour
#: late collides with the next one; a check-in prompt is still useful in the evening.
STALE_AFTER: dict[str, timedelta] = {
    ReminderKind.WALK: timedelta(minutes=60),
    ReminderKind.CHECKIN: timedelta(hours=3),
    ReminderKind.EXERCISE: timedelta(hours=2),
    ReminderKind.QUESTIONNAIRE: timedelta(hours=12),
    ReminderKind.DIGEST: timedelta(hours=6),
}
#: When clinicians get their digest, local time: in their own ``time_zone`` when they set one, else
#: in the zone most of their current patients live in (the clinic has no zone), else UTC.
DIGEST_TIME = time(7, 30)
_DIGEST_ROLES = (Role.SURGEON, Role.PHYSIOTHERAPIST)
#: The advisory lock key of the dispatcher (any constant unique in the database).
_DISPATCH_LOCK = 0x4D6F62_52656D  # "Mob" "Rem"
#: Deliveries of a chunk moved to ``sending`` (and sent) together.
SEND_BATCH = 25
#: A ``pending`` delivery still unsent after this long is handed to a worker again.
PENDING_REDRIVE_AFTER = timedelta(minutes=2)
#: Longer than the task time limit (120 s): a ``sending`` row this old lost its worker.
SENDING_LEASE = timedelta(minutes=10)
SNOOZE_STATES = (DeliveryState.SENT, DeliveryState.SNOOZED, DeliveryState.FAILED)
_ACTIVE_EPISODE = (EpisodeStatus.PLANNED, EpisodeStatus.RECOVERING)


@dataclass(frozen=True)
class Context:
    zone: ZoneInfo
    preferences: ReminderPreferences
    settings: EpisodeReminderSettings

    @property
    def quiet(self) -> Quiet | None:
        p = self.preferences
        if p.quiet_start is None or p.quiet_end is None:
            return None
        return Quiet(p.quiet_start, p.quiet_end)


def preferences_of(user: User) -> ReminderPreferences:
    """The stored preferences, or the defaults (unsaved) for someone who never set any."""
    return ReminderPreferences.objects.filter(user=user).first() or ReminderPreferences(user=user)


def settings_of(episode: Episode) -> EpisodeReminderSettings:
    return EpisodeReminderSettings.objects.filter(episode=episode).first() or EpisodeReminderSettings(
        episode=episode
    )


def context_for(schedule: ReminderSchedule) -> Context:
    episode = schedule.episode
    if episode is None:  # a clinician's digest
        zone = ZoneInfo(schedule.time_zone or "UTC")
        return Context(zone, preferences_of(schedule.recipient), EpisodeReminderSettings())
    return Context(episode.patient_time_zone, preferences_of(schedule.recipient), settings_of(episode))


def next_occurrence(schedule: ReminderSchedule, context: Context, after: datetime) -> datetime | None:
    """The schedule's first occurrence strictly after ``after``; None when it has no more."""
    episode = schedule.episode
    if episode is None:
        if schedule.kind != ReminderKind.DIGEST:
            return None
        daily = DailyRule(at=DIGEST_TIME, first_day=date(2000, 1, 1))
        return next_daily(daily, context.zone, after, context.quiet)
    if episode.status not in _ACTIVE_EPISODE:
        return None
    if schedule.kind == ReminderKind.WALK:
        s, p = context.settings, context.preferences
        rule = WalkRule(
            surgery_date=episode.surgery_date,
            until_day=s.walk_until_day,
            start=s.walk_window_start or p.waking_start,
            end=s.walk_window_end or p.waking_end,
            interval_minutes=s.walk_interval_minutes,
        )
        return next_walk(rule, context.zone, after, context.quiet)
    if schedule.kind == ReminderKind.CHECKIN:
        daily = DailyRule(at=context.preferences.checkin_time, first_day=episode.surgery_date)
        return next_daily(daily, context.zone, after, context.quiet)
    if schedule.kind == ReminderKind.EXERCISE:
        return _next_exercise(schedule, episode, context, after)
    if schedule.kind == ReminderKind.QUESTIONNAIRE:
        return _next_questionnaire(schedule, episode, context, after)
    return None


def _exercise_times(assignment: Assignment, context: Context) -> list[time]:
    p = context.preferences
    return session_times(assignment.sessions_per_day, p.waking_start, p.waking_end)


def _next_exercise(
    schedule: ReminderSchedule, episode: Episode, context: Context, after: datetime
) -> datetime | None:
    """Each prescribed session of an active day, spread over the patient's waking window (the plan
    says how many sessions a day, not when)."""
    assignment = schedule.assignment
    if assignment is None:
        return None
    surgery = episode.surgery_date
    last: date | None = None
    if assignment.end_day is not None:
        last = surgery + timedelta(days=assignment.end_day)
    if assignment.ended_on is not None:
        ended = assignment.ended_on - timedelta(days=1)
        last = ended if last is None else min(last, ended)
    return next_on_days(
        _exercise_times(assignment, context),
        lambda day: assignment_inactive_reason(assignment, day=day, surgery_date=surgery) is None,
        first_day=surgery + timedelta(days=assignment.start_day),
        last_day=last,
        zone=context.zone,
        after=after,
        quiet=context.quiet,
    )


def _timepoint(episode: Episode, key: str) -> Timepoint | None:
    return next((tp for tp in schedule_for_clinic(clinic_id=episode.clinic_id) if tp.key == key), None)


def _answered(episode: Episode, key: str) -> bool:
    return QuestionnaireResponse.objects.filter(episode=episode, timepoint=key).exists()


def _next_questionnaire(
    schedule: ReminderSchedule, episode: Episode, context: Context, after: datetime
) -> datetime | None:
    """On the day the window opens and again halfway through it, at the patient's check-in time;
    nothing once answered or closed."""
    timepoint = _timepoint(episode, schedule.target)
    if timepoint is None or _answered(episode, timepoint.key):
        return None
    at = daily_time(context.preferences.checkin_time, context.quiet)
    if at is None:
        return None
    opens, closes = timepoint.opens(episode.surgery_date), timepoint.closes(episode.surgery_date)
    days = {opens, opens + (closes - opens) // 2}
    return next_on_days(
        [at], days.__contains__, first_day=opens, last_day=closes, zone=context.zone, after=after
    )


# --- schedules -------------------------------------------------------------------------------------


def _reschedule(schedule: ReminderSchedule, now: datetime, *, created: bool = False) -> None:
    if schedule.active and schedule.next_due_at is not None and schedule.next_due_at <= now:
        return  # due: it belongs to the sender, which advances it after claiming the slot
    # A new schedule starts with the latest slot that is not yet stale, so a patient enrolled at 10:30
    # still gets the 10:00 walk prompt now rather than none until noon.
    after = now - STALE_AFTER[schedule.kind] if created else now
    upcoming = next_occurrence(schedule, context_for(schedule), after)
    if upcoming == schedule.next_due_at and schedule.active == (upcoming is not None):
        return
    same = (
        Q(next_due_at__isnull=True) if schedule.next_due_at is None else Q(next_due_at=schedule.next_due_at)
    )
    ReminderSchedule.objects.filter(same, pk=schedule.pk).update(
        next_due_at=upcoming, active=upcoming is not None, updated_at=now
    )


def schedules_sync_for_episode(*, episode: Episode, now: datetime | None = None) -> list[ReminderSchedule]:
    """Create the episode's schedules if missing (walk, check-in, one per running assignment, one per
    unanswered timepoint not yet closed) and bring every next occurrence in line with the current
    rules, preferences and time zone; ended ones go inactive. Safe to run any number of times."""
    now = now or timezone.now()
    wanted: list[tuple[str, str, Assignment | None]] = [
        (ReminderKind.WALK, "", None),
        (ReminderKind.CHECKIN, "", None),
    ]
    if episode.status in _ACTIVE_EPISODE:
        running = Assignment.objects.filter(episode=episode, ended_on__isnull=True)
        wanted += [(ReminderKind.EXERCISE, str(a.pk), a) for a in running]
        today = episode.local_today(now)
        answered = set(
            QuestionnaireResponse.objects.filter(episode=episode).values_list("timepoint", flat=True)
        )
        wanted += [
            (ReminderKind.QUESTIONNAIRE, tp.key, None)
            for tp in schedule_for_clinic(clinic_id=episode.clinic_id)
            if tp.closes(episode.surgery_date) >= today and tp.key not in answered
        ]
    created_keys = set()
    for kind, target, assignment in wanted:
        _, created = ReminderSchedule.objects.get_or_create(
            episode=episode,
            kind=kind,
            target=target,
            defaults={
                "recipient": episode.patient,
                "assignment": assignment,
                "next_due_at": None,
                "active": False,
            },
        )
        if created:
            created_keys.add((kind, target))
    schedules = list(
        ReminderSchedule.objects.filter(episode=episode).select_related(
            "episode__patient__patient_profile", "recipient", "assignment"
        )
    )
    for schedule in schedules:
        _reschedule(schedule, now, created=(schedule.kind, schedule.target) in created_keys)
        schedule.refresh_from_db()
    return schedules


def schedules_sync_all(*, now: datetime | None = None) -> int:
    """Sync every planned or recovering episode; stop the schedules of the others. Returns how many
    episodes were synced."""
    now = now or timezone.now()
    ReminderSchedule.objects.filter(active=True, episode__isnull=False).exclude(
        episode__status__in=_ACTIVE_EPISODE
    ).update(active=False, next_due_at=None, updated_at=now)
    count = 0
    episodes = Episode.objects.filter(status__in=_ACTIVE_EPISODE).select_related("patient__patient_profile")
    for episode in episodes.iterator(chunk_size=200):
        schedules_sync_for_episode(episode=episode, now=now)
        count += 1
    schedules_sync_digests(now=now)
    return count


def _digest_zone(user: User) -> str:
    if is_valid_time_zone(user.time_zone):
        return user.time_zone
    zones = Counter(
        Episode.objects.filter(Q(surgeon=user) | Q(physiotherapists=user), status__in=_ACTIVE_EPISODE)
        .distinct()
        .values_list("patient__patient_profile__time_zone", flat=True)
    )
    ranked = sorted(zones.items(), key=lambda item: (-item[1], item[0] or ""))
    return next((zone for zone, _ in ranked if zone), "UTC")


def schedules_sync_digests(*, now: datetime | None = None, missing_only: bool = False) -> None:
    """One digest schedule per active surgeon and physiotherapist who has a current episode
    (``missing_only``: just for those who have none yet, as the dispatcher does every minute)."""
    now = now or timezone.now()
    clinicians = User.objects.filter(is_active=True, role__in=_DIGEST_ROLES)
    if missing_only:
        clinicians = clinicians.exclude(reminder_schedules__kind=ReminderKind.DIGEST)
    for user in clinicians.iterator(chunk_size=200):
        has_work = Episode.objects.filter(
            Q(surgeon=user) | Q(physiotherapists=user), status__in=_ACTIVE_EPISODE
        ).exists()
        schedule = ReminderSchedule.objects.filter(recipient=user, kind=ReminderKind.DIGEST).first()
        if schedule is None and not has_work:
            continue
        zone = _digest_zone(user)
        created = False
        if schedule is None:
            schedule, created = ReminderSchedule.objects.get_or_create(
                recipient=user,
                kind=ReminderKind.DIGEST,
                defaults={"episode": None, "target": str(user.pk), "time_zone": zone, "active": False},
            )
        if not has_work:
            ReminderSchedule.objects.filter(pk=schedule.pk).update(
                active=False, next_due_at=None, updated_at=now
            )
            continue
        if schedule.time_zone != zone:
            ReminderSchedule.objects.filter(pk=schedule.pk).update(time_zone=zone)
            schedule.time_zone = zone
        _reschedule(schedule, now, created=created)


def schedules_create_missing(*, now: datetime | None = None, limit: int = 200) -> int:
    """Give episodes that have no schedules yet their schedules, and clinicians their digest (the
    dispatcher calls this every minute, so a new enrolment is reminded within a minute without a hook
    in the enrolment service)."""
    episodes = list(
        Episode.objects.filter(status__in=_ACTIVE_EPISODE, reminder_schedules__isnull=True)
        .select_related("patient__patient_profile")
        .order_by("created_at")[:limit]
    )
    for episode in episodes:
        schedules_sync_for_episode(episode=episode, now=now)
    schedules_sync_digests(now=now, missing_only=True)
    return len(episodes)


def schedules_sync_for_user(*, user: User, now: datetime | None = None) -> None:
    """After a change of preferences or time zone: re-time every one of the patient's schedules."""
    for episode in Episode.objects.filter(patient=user, status__in=_ACTIVE_EPISODE):
        schedules_sync_for_episode(episode=episode, now=now)


@transaction.atomic
def preferences_save(*, user: User, values: dict[str, Any]) -> ReminderPreferences:
    preferences = preferences_of(user)
    for name, value in values.items():
        setattr(preferences, name, value)
    preferences.save()
    transaction.on_commit(lambda: schedules_sync_for_user(user=user))
    return preferences


@transaction.atomic
def episode_settings_save(*, episode: Episode, values: dict[str, Any]) -> EpisodeReminderSettings:
    settings = settings_of(episode)
    for name, value in values.items():
        setattr(settings, name, value)
    settings.save()
    transaction.on_commit(lambda: schedules_sync_for_episode(episode=episode))
    return settings


# --- sending ---------------------------------------------------------------------------------------


def _digest_content(attention: list[Attention], delivery_id: uuid.UUID) -> dict[str, Any]:
    lines = [f"{item.episode.patient.full_name}: {'; '.join(item.reasons)}" for item in attention[:20]]
    count = len(attention)
    return PushPayload(
        title=f"{count} of your patients need{'s' if count == 1 else ''} attention",
        body="\n".join(lines),
        url="/clinician/",
        tag="digest",
        data={"reminder_id": str(delivery_id), "kind": ReminderKind.DIGEST},
    ).as_dict()


def _content(schedule: ReminderSchedule, delivery_id: uuid.UUID) -> dict[str, Any]:
    episode_id = schedule.episode_id
    # One tag per schedule: a newer reminder replaces an unanswered older one on the device.
    tag = f"{schedule.kind}-{episode_id}"
    if schedule.kind == ReminderKind.WALK:
        title = "Time for a short walk"
        body = "A few minutes on your feet helps your recovery. Tap when done."
        url = "/reminders/"
    elif schedule.kind == ReminderKind.CHECKIN:
        title, body = "How are you today?", "Log today's check-in: pain, walking and sleep."
        url = f"/episodes/{episode_id}/check-ins/new/"
    elif schedule.kind == ReminderKind.EXERCISE:
        name = schedule.assignment.exercise.name if schedule.assignment is not None else "your exercises"
        title, body = "Time for your exercises", f"Next session: {name}."
        url = f"/episodes/{episode_id}/plan/today/"
        tag = f"exercise-{schedule.target}"
    else:
        title, body = "Your questionnaire is open", "A few questions about how your back or neck is doing."
        url = f"/episodes/{episode_id}/questionnaires/"
        tag = f"questionnaire-{episode_id}-{schedule.target}"
    return PushPayload(
        title=title,
        body=body,
        url=url,
        tag=tag[:80],
        data={"reminder_id": str(delivery_id), "kind": schedule.kind},
    ).as_dict()


def _decide(
    schedule: ReminderSchedule,
    context: Context,
    slot: datetime,
    now: datetime,
    checked_in: set[tuple[uuid.UUID, date]],
) -> DeliveryState:
    if now - slot > STALE_AFTER[schedule.kind]:
        return DeliveryState.SKIPPED_STALE
    preferences = context.preferences
    if schedule.kind in preferences.muted_kinds or not (preferences.push or preferences.email):
        return DeliveryState.SKIPPED_MUTED
    quiet = context.quiet
    if quiet is not None and quiet.contains(slot.astimezone(context.zone).time()):
        # Preferences changed after this slot was timed.
        return DeliveryState.SKIPPED_QUIET
    if (
        schedule.kind == ReminderKind.CHECKIN
        and (schedule.episode_id, local_day(slot, context.zone)) in checked_in
    ):
        return DeliveryState.SKIPPED_CONDITION
    if schedule.kind == ReminderKind.EXERCISE and schedule.assignment is not None:
        assignment = schedule.assignment
        times = _exercise_times(assignment, context)
        local = slot.astimezone(context.zone).time()
        session = times.index(local) if local in times else 0
        done = ExerciseLog.objects.filter(
            assignment=assignment, local_date=local_day(slot, context.zone), sets_completed__gt=0
        ).count()
        if done > session:
            return DeliveryState.SKIPPED_CONDITION
    if (
        schedule.kind == ReminderKind.QUESTIONNAIRE
        and schedule.episode is not None
        and _answered(schedule.episode, schedule.target)
    ):
        return DeliveryState.SKIPPED_CONDITION
    return DeliveryState.PENDING


def dispatcher_lock() -> bool:
    """Whether this transaction may dispatch: a transaction-level advisory lock, so that two
    dispatchers (a second beat, a beat restarted while the previous tick runs) never hand out the
    same due rows; the one that does not get it skips its tick. Call inside ``transaction.atomic``."""
    if not _postgres():
        # SQLite (the demo) serialises writers and runs one beat: nothing to coordinate.
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_DISPATCH_LOCK])
        row = cursor.fetchone()
    return bool(row and row[0])


def _contexts(schedules: Sequence[ReminderSchedule]) -> dict[uuid.UUID, Context]:
    """``context_for`` of many schedules in two queries."""
    recipients = {s.recipient_id for s in schedules}
    episodes = {s.episode_id for s in schedules if s.episode_id is not None}
    preferences = {p.user_id: p for p in ReminderPreferences.objects.filter(user_id__in=recipients)}
    settings = {e.episode_id: e for e in EpisodeReminderSettings.objects.filter(episode_id__in=episodes)}
    contexts: dict[uuid.UUID, Context] = {}
    # Who has no row of their own gets the defaults: one unsaved instance of each, shared and only
    # read (a model instance per schedule cost more than the rest of the context).
    default_preferences, default_settings = ReminderPreferences(), EpisodeReminderSettings()
    for schedule in schedules:
        mine = preferences.get(schedule.recipient_id) or default_preferences
        episode = schedule.episode
        if episode is None:
            contexts[schedule.pk] = Context(ZoneInfo(schedule.time_zone or "UTC"), mine, default_settings)
        else:
            rule = settings.get(episode.pk) or default_settings
            contexts[schedule.pk] = Context(episode.patient_time_zone, mine, rule)
    return contexts


def _checked_in(
    claims: Sequence[tuple[ReminderSchedule, datetime]], contexts: dict[uuid.UUID, Context]
) -> set[tuple[uuid.UUID, date]]:
    """``(episode, local day)`` of the check-in reminders among ``claims`` already answered."""
    wanted = {
        (schedule.episode_id, local_day(slot, contexts[schedule.pk].zone))
        for schedule, slot in claims
        if schedule.kind == ReminderKind.CHECKIN and schedule.episode_id is not None
    }
    if not wanted:
        return set()
    rows = CheckIn.objects.filter(
        episode_id__in={e for e, _ in wanted}, local_date__in={d for _, d in wanted}, deleted_at__isnull=True
    ).values_list("episode_id", "local_date")
    return {row for row in rows if row in wanted}


@transaction.atomic
def _claim_many(
    items: Sequence[tuple[uuid.UUID | str, datetime]], now: datetime
) -> dict[tuple[str, datetime], ReminderDelivery]:
    """Claim each ``(schedule, slot)`` (step 1 of the module docstring) for a whole chunk at once:
    the schedule rows locked in one query (in primary key order, so two chunks cannot deadlock), the
    existing deliveries read in one, the new ones inserted in one, the schedules advanced in one.
    Returns the delivery of every pair that has one; a pair missing from the result is gone."""
    pairs = [(str(schedule_id), slot) for schedule_id, slot in items]
    schedules = {
        str(s.pk): s
        for s in ReminderSchedule.objects.select_for_update(of=("self",))
        .select_related("episode__patient__patient_profile", "recipient", "assignment__exercise")
        .filter(pk__in=_any_uuid({p for p, _ in pairs}))
        .order_by("pk")
    }
    found: dict[tuple[str, datetime], ReminderDelivery] = {}
    if not schedules:
        return found
    for delivery in ReminderDelivery.objects.filter(
        schedule_id__in=_any_uuid(schedules),
        slot__in=RawSQL("SELECT unnest(%s::timestamptz[])", [_array_literal(s.isoformat() for _, s in pairs)])
        if _postgres()
        else [slot for _, slot in pairs],
    ):
        delivery.schedule = schedules[str(delivery.schedule_id)]
        found[(str(delivery.schedule_id), delivery.slot)] = delivery
    claims: list[tuple[ReminderSchedule, datetime]] = []
    for key in dict.fromkeys(pairs):
        schedule = schedules.get(key[0])
        if schedule is None or key in found:
            continue  # gone, or a repeat of this claim: resume from the row's state
        if not schedule.active or schedule.next_due_at != key[1]:
            continue  # the slot moved (rules changed) or another sender already took it
        claims.append((schedule, key[1]))
    if not claims:
        return found
    contexts = _contexts([schedule for schedule, _ in claims])
    checked_in = _checked_in(claims, contexts)
    created: list[ReminderDelivery] = []
    for schedule, slot in claims:
        context = contexts[schedule.pk]
        delivery_id = uuid.uuid4()
        state = _decide(schedule, context, slot, now, checked_in)
        if schedule.kind == ReminderKind.DIGEST:
            attention = episodes_needing_attention(user=schedule.recipient, now=now)
            payload = _digest_content(attention, delivery_id)
            if state == DeliveryState.PENDING and not attention:
                state = DeliveryState.SKIPPED_CONDITION  # nothing needs attention: no message
        else:
            payload = _content(schedule, delivery_id)
        created.append(
            ReminderDelivery(id=delivery_id, schedule=schedule, slot=slot, state=state, payload=payload)
        )
    # The schedule rows are locked and their next_due_at is the slot, so no other claim can insert
    # these rows; the unique (schedule, slot) would refuse one anyway, and RETURNING says which won.
    inserted = _insert_deliveries(created, now)
    advanced: list[ReminderSchedule] = []
    for delivery in created:
        schedule = delivery.schedule
        if delivery.pk not in inserted:
            continue
        found[(str(schedule.pk), delivery.slot)] = delivery
        upcoming = next_occurrence(schedule, contexts[schedule.pk], max(delivery.slot, now))
        schedule.next_due_at, schedule.active = upcoming, upcoming is not None
        schedule.updated_at = now
        advanced.append(schedule)
    _update_many(
        "UPDATE reminders_reminderschedule AS t "
        "SET next_due_at = v.next_due_at, active = v.active, updated_at = v.updated_at "
        "FROM jsonb_to_recordset(%s::jsonb) AS v(id uuid, next_due_at timestamptz, active boolean, "
        "updated_at timestamptz) WHERE t.id = v.id",
        [
            {
                "id": str(s.pk),
                "next_due_at": None if s.next_due_at is None else s.next_due_at.isoformat(),
                "active": s.active,
                "updated_at": now.isoformat(),
            }
            for s in advanced
        ],
        portable=lambda: _advance_portably(advanced, now),
    )
    return found


def _advance_portably(schedules: Sequence[ReminderSchedule], now: datetime) -> None:
    for schedule in schedules:
        ReminderSchedule.objects.filter(pk=schedule.pk).update(
            next_due_at=schedule.next_due_at, active=schedule.active, updated_at=now
        )


def _insert_deliveries(deliveries: Sequence[ReminderDelivery], now: datetime) -> set[uuid.UUID]:
    """Insert the rows with ``ON CONFLICT DO NOTHING``; returns the ids actually inserted. The rows
    travel as one JSON document (``jsonb_to_recordset``): a chunk's insert is one statement of two
    parameters, serialised by ``json`` in C instead of one placeholder, or one array element escaped
    in Python, per value."""
    if not deliveries:
        return set()
    if not _postgres():
        # The portable path (the demo's SQLite): skip conflicts, then read back which rows are ours.
        for delivery in deliveries:
            delivery.created_at = now
        ReminderDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        ours = {d.pk: d for d in deliveries}
        return {
            pk
            for pk, schedule_id, slot in ReminderDelivery.objects.filter(pk__in=list(ours)).values_list(
                "pk", "schedule_id", "slot"
            )
            if ours[pk].schedule_id == schedule_id and ours[pk].slot == slot
        }
    rows = [
        {
            "id": str(d.pk),
            "schedule_id": str(d.schedule_id),
            "slot": d.slot.isoformat(),
            "state": str(d.state),
            "payload": d.payload,
        }
        for d in deliveries
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO reminders_reminderdelivery (id, schedule_id, slot, state, payload, channel_results, "
            "created_at) SELECT u.id, u.schedule_id, u.slot, u.state, u.payload, '{}'::jsonb, %s "
            "FROM jsonb_to_recordset(%s::jsonb) "
            "AS u(id uuid, schedule_id uuid, slot timestamptz, state text, payload jsonb) "
            "ON CONFLICT DO NOTHING RETURNING id",
            [now, json.dumps(rows)],
        )
        return {row[0] for row in cursor.fetchall()}


def _update_many(sql: str, rows: Sequence[dict[str, Any]], *, portable: Callable[[], None]) -> None:
    """Run an ``UPDATE ... FROM jsonb_to_recordset(%s::jsonb) AS v(...)`` with ``rows`` as one JSON
    array: many rows, each with its own values, in one statement of one parameter (``bulk_update``
    builds a CASE per row and field, which costs more than the send itself). Elsewhere than on
    PostgreSQL (the demo's SQLite) ``portable`` does the same with the ORM, a row at a time."""
    if not rows:
        return
    if not _postgres():
        portable()
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows)])


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _array_literal(values: Iterable[str]) -> str:
    """A PostgreSQL array literal of values that need no quoting (UUIDs, ISO timestamps): one text
    parameter, where a list would be dumped and escaped element by element in Python."""
    return "{" + ",".join(values) + "}"


def _any_uuid(ids: Iterable[uuid.UUID | str]) -> RawSQL | list[uuid.UUID]:
    """``pk__in=_any_uuid(ids)``: the ids as one array parameter (Django would add a placeholder per
    id and convert each one in Python). Each id is parsed first, so the literal holds canonical UUIDs
    only, whatever a task message carried (a malformed one raises ValueError rather than adding
    elements to the array)."""
    parsed = [i if isinstance(i, uuid.UUID) else uuid.UUID(i) for i in ids]
    if not _postgres():
        return parsed
    return RawSQL("SELECT unnest(%s::uuid[])", [_array_literal(str(i) for i in parsed)])


def _claim(schedule_id: uuid.UUID | str, slot: datetime, now: datetime) -> ReminderDelivery | None:
    return _claim_many([(schedule_id, slot)], now).get((str(schedule_id), slot))


def _results(result: NotifyResult) -> dict[str, Any]:
    return {
        "push": [
            {"subscription": str(r.subscription_id), "outcome": str(r.outcome), "status": r.status_code}
            for r in result.push
        ],
        "push_skipped": None if result.push_skipped is None else str(result.push_skipped),
        "email": str(result.email),
    }


def _preferences_of(user_ids: set[uuid.UUID]) -> dict[uuid.UUID, ReminderPreferences]:
    return {p.user_id: p for p in ReminderPreferences.objects.filter(user_id__in=user_ids)}


def _start_sending(deliveries: Sequence[ReminderDelivery], now: datetime) -> list[ReminderDelivery]:
    """Move ``pending`` rows to ``sending`` in one conditional UPDATE; only the rows it changed are
    this caller's to send (a concurrent repeat gets the others)."""
    if not deliveries:
        return []
    if not _postgres():
        return [
            d
            for d in deliveries
            if ReminderDelivery.objects.filter(pk=d.pk, state=DeliveryState.PENDING).update(
                state=DeliveryState.SENDING, claimed_at=now
            )
        ]
    table = ReminderDelivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET state = %s, claimed_at = %s WHERE id = ANY(%s::uuid[]) AND state = %s RETURNING id",  # noqa: S608
            [
                DeliveryState.SENDING.value,
                now,
                _array_literal(str(d.pk) for d in deliveries),
                DeliveryState.PENDING.value,
            ],
        )
        mine = {row[0] for row in cursor.fetchall()}
    return [d for d in deliveries if d.pk in mine]


def _send(
    deliveries: Sequence[ReminderDelivery],
    preferences: dict[uuid.UUID, ReminderPreferences] | None = None,
    recipients: Recipients | None = None,
) -> None:
    """Send rows already moved to ``sending`` and record ``sent`` or ``failed`` (outside any
    transaction: slow I/O must not hold locks). Not retried, as a retry could notify twice.
    ``preferences`` and ``recipients``: read once by the caller for a whole chunk."""
    if not deliveries:
        return
    if preferences is None:
        preferences = _preferences_of({d.schedule.recipient_id for d in deliveries})
    notices: list[Notice] = []
    defaults = ReminderPreferences()  # only read: push and email
    for delivery in deliveries:
        schedule = delivery.schedule
        mine = preferences.get(schedule.recipient_id) or defaults
        payload = PushPayload.from_dict(delivery.payload)
        notices.append(
            Notice(
                user=schedule.recipient,
                payload=payload,
                email_subject=f"Mobilize: {payload.title}",
                email_body=f"{payload.body}\n\nOpen Mobilize: {payload.url}\n",
                push=mine.push,
                email=mine.email,
            )
        )
    outcomes = notify_users(notices, recipients)
    sent_at = timezone.now()
    tally: Counter[str] = Counter()
    for delivery, outcome in zip(deliveries, outcomes, strict=True):
        if isinstance(outcome, OSError):  # SMTP and network errors
            logger.warning("Reminder %s failed: %s", delivery.pk, outcome)
            delivery.state, delivery.channel_results = DeliveryState.FAILED, {"error": type(outcome).__name__}
            tally[f"{delivery.schedule.kind} failed"] += 1
            continue
        delivery.state = DeliveryState.SENT if outcome.delivered else DeliveryState.FAILED
        delivery.sent_at, delivery.channel_results = sent_at, _results(outcome)
        tally[f"{delivery.schedule.kind} {delivery.state}"] += 1
    # One line per batch, not per reminder: formatting and writing a line per message costs about as
    # much as encrypting it. Each row's own outcome is in its channel_results.
    logger.info("Reminders recorded: %s.", ", ".join(f"{n} {what}" for what, n in sorted(tally.items())))
    # Only rows still ``sending``: the lease may have run out meanwhile (then they stay ``failed``).
    _update_many(
        "UPDATE reminders_reminderdelivery AS t "
        "SET state = v.state, sent_at = v.sent_at, channel_results = v.results "
        "FROM jsonb_to_recordset(%s::jsonb) AS v(id uuid, state text, sent_at timestamptz, results jsonb) "
        "WHERE t.id = v.id AND t.state = 'sending'",
        [
            {
                "id": str(d.pk),
                "state": str(d.state),
                "sent_at": None if d.sent_at is None else d.sent_at.isoformat(),
                "results": d.channel_results,
            }
            for d in deliveries
        ],
        portable=lambda: _record_portably(deliveries),
    )


def _record_portably(deliveries: Sequence[ReminderDelivery]) -> None:
    for delivery in deliveries:
        ReminderDelivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING).update(
            state=delivery.state, sent_at=delivery.sent_at, channel_results=delivery.channel_results
        )


def _deliver(delivery: ReminderDelivery, *, claim: Q, now: datetime) -> bool:
    """Send once: only the caller whose conditional UPDATE (``claim``) moves the row to ``sending``."""
    if not ReminderDelivery.objects.filter(claim, pk=delivery.pk).update(
        state=DeliveryState.SENDING, claimed_at=now
    ):
        return False
    _send([delivery])
    return True


def reminders_send(
    *, items: Sequence[tuple[uuid.UUID | str, datetime]], now: datetime | None = None
) -> list[str]:
    """Claim a chunk of occurrences and send them; returns each pair's delivery state afterwards (or
    ``"gone"``), in order. Safe to run twice, also concurrently: see the module docstring."""
    now = now or timezone.now()
    found = _claim_many(items, now)
    pending = [d for d in dict.fromkeys(found.values()) if d.state == DeliveryState.PENDING]
    stale = {d.pk for d in pending if now - d.slot > STALE_AFTER[d.schedule.kind]}
    if stale:
        # Re-driven after an outage: too late now.
        ReminderDelivery.objects.filter(pk__in=stale, state=DeliveryState.PENDING).update(
            state=DeliveryState.SKIPPED_STALE
        )
    fresh = [d for d in pending if d.pk not in stale]
    if fresh:
        users = {d.schedule.recipient_id: d.schedule.recipient for d in fresh}
        preferences = _preferences_of(set(users))
        recipients = recipients_load(users=users.values())
        # A few at a time: a worker killed mid-chunk leaves at most SEND_BATCH rows ``sending``
        # (never resent); the rest are still ``pending``, and re-driven.
        for start in range(0, len(fresh), SEND_BATCH):
            _send(_start_sending(fresh[start : start + SEND_BATCH], now), preferences, recipients)
    states = dict(
        ReminderDelivery.objects.filter(pk__in=_any_uuid(d.pk for d in found.values())).values_list(
            "pk", "state"
        )
    )
    result: list[str] = []
    for schedule_id, slot in items:
        delivery = found.get((str(schedule_id), slot))
        result.append("gone" if delivery is None else str(states.get(delivery.pk, "gone")))
    return result


def reminder_send(*, schedule_id: uuid.UUID | str, slot: datetime, now: datetime | None = None) -> str:
    """Claim one occurrence and send it. Returns the delivery's state afterwards (or ``"gone"``)."""
    return reminders_send(items=[(schedule_id, slot)], now=now)[0]


def reminder_send_snoozed(*, delivery_id: uuid.UUID | str, due: datetime, now: datetime | None = None) -> str:
    """Send a snoozed reminder again, once: only while it is still snoozed until ``due``."""
    now = now or timezone.now()
    delivery = ReminderDelivery.objects.select_related("schedule__recipient").filter(pk=delivery_id).first()
    if delivery is None:
        return "gone"
    _deliver(delivery, claim=Q(state=DeliveryState.SNOOZED, snoozed_until=due), now=now)
    delivery.refresh_from_db(fields=["state"])
    return str(delivery.state)


def deliveries_expire_interrupted(*, now: datetime) -> int:
    """``sending`` rows whose worker died: the push may have left, so never resend; mark them failed."""
    return ReminderDelivery.objects.filter(
        state=DeliveryState.SENDING, claimed_at__lte=now - SENDING_LEASE
    ).update(state=DeliveryState.FAILED, channel_results={"error": "interrupted"})


# --- the patient's answers -------------------------------------------------------------------------


def reminder_snooze(
    *, delivery: ReminderDelivery, minutes: int, now: datetime | None = None
) -> ReminderDelivery:
    """Send it again in ``minutes``; snoozing again moves the time. Only a reminder that went out."""
    now = now or timezone.now()
    until = now + timedelta(minutes=minutes)
    changed = ReminderDelivery.objects.filter(pk=delivery.pk, state__in=SNOOZE_STATES).update(
        state=DeliveryState.SNOOZED, snoozed_until=until
    )
    delivery.refresh_from_db()
    if not changed:
        raise Conflict(f"A reminder that is {delivery.state} cannot be snoozed.")
    return delivery


@transaction.atomic
def reminder_done(*, delivery: ReminderDelivery, now: datetime | None = None) -> ReminderDelivery:
    """Mark it done (again: no change). Done on a walk reminder records the walk, once."""
    now = now or timezone.now()
    ReminderDelivery.objects.filter(pk=delivery.pk).exclude(state=DeliveryState.DONE).update(
        state=DeliveryState.DONE, done_at=now
    )
    delivery.refresh_from_db()
    schedule = delivery.schedule
    if schedule.kind == ReminderKind.WALK and schedule.episode_id is not None:
        WalkLog.objects.get_or_create(
            delivery=delivery, defaults={"episode_id": schedule.episode_id, "at": now}
        )
    return delivery
