"""Outbox tasks; each is safe to run twice and concurrently.

- ``relay_outbox()``: beat, every 15 seconds (expiring): publishes pending outbox rows (see
  ``recovery.outbox.services``). Also runnable by hand: ``manage.py shell -c "from
  recovery.outbox.services import outbox_relay; print(outbox_relay())"``.
- ``purge_outbox()``: beat, daily: forgets rows dispatched more than 7 days ago.
"""

from __future__ import annotations

from celery import shared_task

from recovery.outbox import services


@shared_task
def relay_outbox() -> dict[str, int]:
    result = services.outbox_relay()
    return {"published": result.published, "failed": result.failed}


@shared_task
def purge_outbox() -> int:
    return services.outbox_purge()
