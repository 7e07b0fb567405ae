"""Reminder tasks. Each takes ids and ISO timestamps, fetches, and calls one service; each is safe to
run twice (see ``recovery.reminders.services`` for the exactly-once argument).

``dispatch_due`` runs every minute from beat with a 55-second expiry, so a backlog of dispatches after
an outage collapses into one. It never waits: under the dispatcher lock (a second dispatcher skips
its tick), it reads every due schedule with one query, in pages of ``PAGE`` rows, and hands them out in chunks of ``SEND_CHUNK`` to ``send_reminders``, one
task per chunk: one broker round trip per chunk instead of one per reminder, and a worker claims and
sends a whole chunk with a few queries.

The dispatcher writes nothing per row: a slot still due at the next tick (its task not run yet, or
lost with the broker) is handed out again then. Send tasks expire after ``SEND_EXPIRES_SECONDS``, less
than the tick, so at most one copy of a pair is normally waiting, and a backlog does not grow copies.
A chunk run twice (redelivery after a worker died, the next tick's copy) sends nothing twice: each pair
is claimed on its own schedule row and delivery row.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from celery import current_app, shared_task
from django.db import transaction
from django.utils import timezone

from recovery.reminders import selectors, services

#: Due schedules fetched at a time from the dispatcher's query.
PAGE = 10000
#: Reminders per send task.
SEND_CHUNK = 1000
#: Stuck ``pending`` deliveries and due snoozes handed out per tick.
REDRIVE_BATCH = 2000
#: A send task not started within this long is dropped: shorter than the dispatcher's 60 s tick, whose
#: next run hands the slot out again if it is still due.
SEND_EXPIRES_SECONDS = 50


def _publish(pairs: Sequence[tuple[uuid.UUID | str, datetime | str]], queue: str | None) -> None:
    """One ``send_reminders`` task per ``SEND_CHUNK`` pairs, through one producer connection."""
    with current_app.producer_or_acquire() as producer:
        for start in range(0, len(pairs), SEND_CHUNK):
            chunk = [
                [str(schedule_id), slot if isinstance(slot, str) else slot.isoformat()]
                for schedule_id, slot in pairs[start : start + SEND_CHUNK]
            ]
            options: dict[str, Any] = {
                "expires": SEND_EXPIRES_SECONDS,
                "producer": producer,
                # Celery would otherwise build a repr of the whole list for the message headers.
                "argsrepr": f"[<{len(chunk)} reminders>]",
            }
            if queue is not None:
                options["queue"] = queue
            send_reminders.apply_async((chunk,), **options)


def enqueue_due(*, now: datetime, queue: str | None = None) -> int:
    """Hand every schedule due by ``now`` to ``send_reminders`` (on ``queue``, else the default one).
    Returns how many; 0 when another dispatcher holds the lock."""
    handed = 0
    with transaction.atomic():
        if not services.dispatcher_lock():
            return 0
        for rows in selectors.due_pages(now=now, page=PAGE):
            _publish(rows, queue)
            handed += len(rows)
    return handed


@shared_task
def dispatch_due() -> int:
    now = timezone.now()
    services.deliveries_expire_interrupted(now=now)
    services.schedules_create_missing(now=now)
    sent = enqueue_due(now=now)
    stuck = selectors.stuck_pending(now=now, limit=REDRIVE_BATCH)
    _publish(stuck, None)
    sent += len(stuck)
    for delivery_id, due in selectors.snoozes_due(now=now, limit=REDRIVE_BATCH):
        send_snoozed.apply_async((str(delivery_id), due.isoformat()), expires=SEND_EXPIRES_SECONDS)
        sent += 1
    return sent


@shared_task
def send_reminders(items: list[list[str]]) -> list[str]:
    """``items``: ``[schedule id, slot (ISO)]`` pairs."""
    pairs = [(schedule_id, datetime.fromisoformat(slot)) for schedule_id, slot in items]
    return services.reminders_send(items=pairs)


@shared_task
def send_reminder(schedule_id: str, slot: str) -> str:
    return services.reminder_send(schedule_id=schedule_id, slot=datetime.fromisoformat(slot))


@shared_task
def send_snoozed(delivery_id: str, due: str) -> str:
    return services.reminder_send_snoozed(delivery_id=delivery_id, due=datetime.fromisoformat(due))


@shared_task
def sync_schedules() -> int:
    return services.schedules_sync_all()
