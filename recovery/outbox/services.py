"""Writes for the transactional outbox: ``enqueue`` inside the caller's transaction, ``outbox_relay``
to publish what is still pending, ``outbox_purge`` to forget old dispatched rows.

Invariants and choices:

- ``enqueue`` writes the row in the caller's transaction (a savepoint when one is open), so the row
  exists if and only if the write that caused it committed. A ``dedupe_key`` makes the enqueue itself
  idempotent: the same key is stored once (partial unique index), a second enqueue is a no-op.
- After commit it tries to publish at once (best effort): when the broker takes the message the row is
  marked dispatched; when the broker is down the row stays and the periodic relay publishes it later.
  Publishing never retries and the broker's connect timeout is short (settings), so a request never
  waits long on a broker that is down; nothing that happens after commit can fail the request.
- ``outbox_relay`` claims pending rows with ``SELECT ... FOR UPDATE SKIP LOCKED`` (two relays, or a
  relay and an on-commit publish, never take the same row at once) and marks a row dispatched only
  after the broker accepted it. A crash between publishing and marking publishes again: delivery is at
  least once, and every task enqueued here is idempotent (each task's docstring says how).
- With ``CELERY_TASK_ALWAYS_EAGER`` (the unit tests) the task runs on commit, as ``.delay`` did, and its
  errors propagate; the row is marked dispatched once it ran.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final

from celery import Task
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from recovery.outbox.models import OutboxMessage

logger = logging.getLogger(__name__)

RELAY_BATCH: Final = 100
#: Batches per relay run: bounds one run; the next beat tick continues.
RELAY_MAX_BATCHES: Final = 50
#: Dispatched rows are kept this long (for inspection), then purged.
KEEP_DISPATCHED: Final = timedelta(days=7)
_ERROR_MAX: Final = 2000

#: What a broker that is down or unreachable raises while publishing.
PublishError = (KombuError, RedisError, OSError)


@dataclass(frozen=True)
class RelayResult:
    published: int
    failed: int


def _app() -> Any:
    from recovery.celery import app

    return app


def _eager() -> bool:
    return bool(_app().conf.task_always_eager)


def _task_name(task: Task[Any, Any] | str) -> str:
    return task if isinstance(task, str) else str(task.name)


def _publish(message: OutboxMessage) -> None:
    """Hand one message to the broker (or run it, when eager). Raises a ``PublishError`` if the broker
    does not take it. ``retry=False``: a broker that is down fails this call at once; the relay retries."""
    app = _app()
    task = app.tasks.get(message.task)
    if task is None:
        app.send_task(message.task, args=list(message.args), retry=False)
    elif app.conf.task_always_eager:
        # ``apply`` runs it here (errors propagate with CELERY_TASK_EAGER_PROPAGATES); unlike an eager
        # ``apply_async`` it does not touch the broker's connection pool.
        task.apply(args=list(message.args))
    else:
        task.apply_async(args=list(message.args), retry=False)


def enqueue(task: Task[Any, Any] | str, *args: Any, dedupe_key: str | None = None) -> OutboxMessage | None:
    """Record ``task(*args)`` to run once the current transaction commits; publish it then if possible.

    ``args`` must be JSON-serialisable (ids as strings). Returns the row, or None when ``dedupe_key``
    was already enqueued.
    """
    try:
        with transaction.atomic():
            message = OutboxMessage.objects.create(
                task=_task_name(task), args=list(args), dedupe_key=dedupe_key or ""
            )
    except IntegrityError:
        if dedupe_key is None:
            raise
        return None
    if _eager():
        transaction.on_commit(partial(_run_eager, message.pk))
    else:
        transaction.on_commit(partial(_publish_now, message.pk), robust=True)
    return message


def _run_eager(message_id: int) -> None:
    message = OutboxMessage.objects.filter(pk=message_id, dispatched_at__isnull=True).first()
    if message is None:
        return
    _publish(message)
    OutboxMessage.objects.filter(pk=message_id, dispatched_at__isnull=True).update(
        dispatched_at=timezone.now(), attempts=message.attempts + 1
    )


def _publish_now(message_id: int) -> None:
    """The on-commit publish. The write it follows has committed: nothing here may fail the request,
    so broker and database errors are logged and the row is left for the relay."""
    try:
        with transaction.atomic():
            message = (
                OutboxMessage.objects.select_for_update(skip_locked=True)
                .filter(pk=message_id, dispatched_at__isnull=True)
                .first()
            )
            if message is None:
                return  # The relay has it (or already published it).
            _attempt(message)
    except DatabaseError as exc:
        logger.warning("Outbox %s left for the relay: database error %s", message_id, exc)


def _attempt(message: OutboxMessage) -> bool:
    """Publish one locked row and record the outcome on it; True if the broker took it."""
    message.attempts += 1
    try:
        _publish(message)
    except PublishError as exc:
        logger.warning("Outbox %s (%s) not published, relayed later: %r", message.pk, message.task, exc)
        message.last_error = f"{type(exc).__name__}: {exc}"[:_ERROR_MAX]
        message.save(update_fields=["attempts", "last_error"])
        return False
    message.dispatched_at = timezone.now()
    message.save(update_fields=["attempts", "dispatched_at"])
    return True


def outbox_relay(*, batch: int = RELAY_BATCH, max_batches: int = RELAY_MAX_BATCHES) -> RelayResult:
    """Publish pending rows, oldest first. Stops at the first failure: the broker is most likely down,
    and the next run tries again. Safe to run concurrently and any number of times."""
    published = failed = 0
    for _ in range(max_batches):
        with transaction.atomic():
            rows = list(
                OutboxMessage.objects.select_for_update(skip_locked=True)
                .filter(dispatched_at__isnull=True)
                .order_by("id")[:batch]
            )
            for message in rows:
                if _attempt(message):
                    published += 1
                else:
                    failed += 1
                    break
        if failed or len(rows) < batch:
            break
    return RelayResult(published, failed)


def outbox_purge(*, now: datetime | None = None, keep: timedelta = KEEP_DISPATCHED) -> int:
    """Delete rows dispatched more than ``keep`` ago; pending rows are never deleted."""
    now = now or timezone.now()
    deleted, _ = OutboxMessage.objects.filter(dispatched_at__lt=now - keep).delete()
    return deleted
