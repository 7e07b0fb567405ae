"""Reminder reads: what the dispatcher must do now, and a person's reminder list.

Every read here is scoped to a recipient (``user=``) or is the dispatcher's global due-scan.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import QuerySet

from recovery.accounts.models import User
from recovery.reminders.models import DeliveryState, ReminderDelivery, ReminderSchedule
from recovery.reminders.services import PENDING_REDRIVE_AFTER, context_for, next_occurrence

UPCOMING_HORIZON = timedelta(hours=24)
RECENT_SPAN = timedelta(days=7)
#: Most occurrences listed per schedule (a 15-minute walk interval would otherwise list dozens).
_MAX_PER_SCHEDULE = 12


def due_pages(*, now: datetime, page: int) -> Iterator[list[tuple[str, str]]]:
    """``(schedule id, slot)`` of every active schedule due by ``now``, in pages of at most ``page``
    rows, both as text (the slot in ISO 8601, UTC, as ``datetime.fromisoformat`` reads it).

    One query through a server-side cursor (call inside a transaction): each row comes once, memory
    stays at one page, and there is no sort. Plain SQL and text rather than ``UUID`` and ``datetime``
    objects: this is the dispatcher's hot path, the values only go into task messages as text, and
    converting ten thousand timestamps in Python costs several times the query."""
    if connection.vendor != "postgresql":
        # The portable path (the demo's SQLite): the ORM, the same pairs as text.
        due = ReminderSchedule.objects.filter(active=True, next_due_at__lte=now).values_list(
            "id", "next_due_at"
        )
        rows = [(str(schedule_id), slot.isoformat()) for schedule_id, slot in due if slot is not None]
        for start in range(0, len(rows), page):
            yield rows[start : start + page]
        return
    sql = "SELECT id::text, next_due_at::text FROM reminders_reminderschedule WHERE active AND next_due_at <= %s"
    with connection.cursor() as cursor:
        # The text form of a timestamp depends on these: make it ISO 8601 in UTC ("+00").
        cursor.execute("SET LOCAL datestyle = 'ISO, YMD'; SET LOCAL timezone = 'UTC'")
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [now])
        while rows := cursor.fetchmany(page):
            yield rows


def stuck_pending(*, now: datetime, limit: int) -> list[tuple[uuid.UUID, datetime]]:
    """Claimed but never handed to a sender (its worker died after the claim): to be re-driven."""
    return list(
        ReminderDelivery.objects.filter(
            state=DeliveryState.PENDING, created_at__lte=now - PENDING_REDRIVE_AFTER
        )
        .order_by("created_at")
        .values_list("schedule_id", "slot")[:limit]
    )


def snoozes_due(*, now: datetime, limit: int) -> list[tuple[uuid.UUID, datetime]]:
    rows = (
        ReminderDelivery.objects.filter(state=DeliveryState.SNOOZED, snoozed_until__lte=now)
        .order_by("snoozed_until")
        .values_list("id", "snoozed_until")[:limit]
    )
    return [(delivery_id, until) for delivery_id, until in rows if until is not None]


def deliveries_for(*, user: User) -> QuerySet[ReminderDelivery]:
    """Everything ``user`` may see and answer: the reminders addressed to them."""
    return ReminderDelivery.objects.filter(schedule__recipient=user).select_related("schedule")


def recent_deliveries(*, user: User, now: datetime) -> list[ReminderDelivery]:
    return list(deliveries_for(user=user).filter(slot__gte=now - RECENT_SPAN).order_by("-slot", "id"))


@dataclass(frozen=True)
class Upcoming:
    schedule: ReminderSchedule
    due_at: datetime


def upcoming_reminders(*, user: User, now: datetime) -> list[Upcoming]:
    """The next occurrences of ``user``'s active schedules within ``UPCOMING_HORIZON``, computed."""
    horizon = now + UPCOMING_HORIZON
    items: list[Upcoming] = []
    schedules = ReminderSchedule.objects.filter(
        recipient=user, active=True, next_due_at__isnull=False, next_due_at__lte=horizon
    ).select_related("episode__patient__patient_profile", "recipient")
    for schedule in schedules:
        context = context_for(schedule)
        due = schedule.next_due_at
        count = 0
        while due is not None and due <= horizon and count < _MAX_PER_SCHEDULE:
            items.append(Upcoming(schedule, due))
            count += 1
            due = next_occurrence(schedule, context, due)
    items.sort(key=lambda item: (item.due_at, item.schedule.kind))
    return items
