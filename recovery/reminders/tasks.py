"""Reminder tasks. Each takes ids and ISO timestamps, fetches, and calls one service; each is safe to
run twice (see ``recovery.reminders.services`` for the exactly-once argument).

``dispatch_due`` runs every minute from beat with a 55-second expiry, so a backlog of dispatches after
an outage collapses into one. It never waits: it hands each due slot to ``send_reminder`` (itself
expiring, as the next dispatch re-enqueues a slot that is still due) and returns.
"""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.utils import timezone

from recovery.reminders import selectors, services

DISPATCH_BATCH = 500
#: A send task not started within this long is dropped; the next dispatch enqueues the slot again.
SEND_EXPIRES_SECONDS = 300


@shared_task
def dispatch_due() -> int:
    now = timezone.now()
    services.deliveries_expire_interrupted(now=now)
    services.schedules_create_missing(now=now)
    sent = 0
    for schedule_id, slot in [
        *selectors.due_schedules(now=now, limit=DISPATCH_BATCH),
        *selectors.stuck_pending(now=now, limit=DISPATCH_BATCH),
    ]:
        send_reminder.apply_async((str(schedule_id), slot.isoformat()), expires=SEND_EXPIRES_SECONDS)
        sent += 1
    for delivery_id, due in selectors.snoozes_due(now=now, limit=DISPATCH_BATCH):
        send_snoozed.apply_async((str(delivery_id), due.isoformat()), expires=SEND_EXPIRES_SECONDS)
        sent += 1
    return sent


@shared_task
def send_reminder(schedule_id: str, slot: str) -> str:
    return services.reminder_send(schedule_id=schedule_id, slot=datetime.fromisoformat(slot))


@shared_task
def send_snoozed(delivery_id: str, due: str) -> str:
    return services.reminder_send_snoozed(delivery_id=delivery_id, due=datetime.fromisoformat(due))


@shared_task
def sync_schedules() -> int:
    return services.schedules_sync_all()
