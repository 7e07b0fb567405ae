"""The transactional outbox on its own: a row iff the write committed, one row per dedupe key, the
on-commit publish and the relay against a real Redis that is stopped and started (no worker here)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
import redis
from django.db import transaction
from django.utils import timezone

from recovery.alerts.models import Alert
from recovery.alerts.tasks import raise_red_flag_alert
from recovery.celery import app
from recovery.checkins.models import CheckIn
from recovery.outbox.models import OutboxMessage
from recovery.outbox.services import enqueue, outbox_purge, outbox_relay
from tests.conftest import World, client_for
from tests.faults.servers import RedisServer, dsn, use_broker


def url(world: World) -> str:
    return f"/api/v1/episodes/{world.episode.id}/check-ins/"


def red_flag_body(**overrides: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "axial_pain": 5,
        "limb_pain": 7,
        "red_flags": ["new_weakness"],
        **overrides,
    }


@pytest.fixture
def broker(settings: Any) -> Iterator[RedisServer]:
    """A real Redis as broker and cache of this process, with tasks published (not run eagerly)."""
    server = RedisServer()
    server.start()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url(),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
    queue = f"test-outbox-{uuid.uuid4().hex[:8]}"
    previous = (app.conf.task_always_eager, app.conf.task_default_queue)
    app.conf.task_always_eager, app.conf.task_default_queue = False, queue
    try:
        with use_broker(server.url()):
            yield server
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = previous
        server.stop()


def queued(server: RedisServer) -> int:
    return int(redis.Redis.from_url(server.url()).llen(app.conf.task_default_queue))


def test_eager_outbox_raises_the_alert_on_commit_and_marks_the_row_dispatched(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(world.patient).post(url(world), red_flag_body(), format="json")
    assert response.status_code == 201
    assert Alert.objects.filter(episode=world.episode).count() == 1
    row = OutboxMessage.objects.get(task=raise_red_flag_alert.name)
    assert row.args == [response.json()["id"]]
    assert row.dispatched_at is not None


def _write_that_fails() -> None:
    with transaction.atomic():
        enqueue(raise_red_flag_alert, str(uuid.uuid4()))
        raise RuntimeError("the write failed")


def test_no_outbox_row_when_the_write_rolls_back(world: World) -> None:
    with pytest.raises(RuntimeError, match="the write failed"):
        _write_that_fails()
    assert not OutboxMessage.objects.exists()


def test_the_same_dedupe_key_is_enqueued_once(world: World) -> None:
    first = enqueue("recovery.alerts.tasks.notify_event", 1, dedupe_key="alert-event:1")
    second = enqueue("recovery.alerts.tasks.notify_event", 1, dedupe_key="alert-event:1")
    enqueue("recovery.alerts.tasks.notify_event", 2)
    enqueue("recovery.alerts.tasks.notify_event", 2)
    assert first is not None
    assert second is None
    assert OutboxMessage.objects.filter(dedupe_key="alert-event:1").count() == 1
    assert OutboxMessage.objects.filter(args=[2]).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_check_in_is_stored_promptly_while_redis_is_down_and_relayed_once_it_is_back(
    world: World, broker: RedisServer
) -> None:
    client = client_for(world.patient)
    broker.stop()
    started = time.monotonic()
    response = client.post(url(world), red_flag_body(), format="json")
    elapsed = time.monotonic() - started
    assert response.status_code == 201, response.content
    assert elapsed < 1.5, f"the check-in waited {elapsed:.1f} s on a Redis that is down"
    assert CheckIn.objects.filter(pk=response.json()["id"]).exists()
    row = OutboxMessage.objects.get()
    assert row.dispatched_at is None
    assert row.attempts == 1
    assert "connect" in row.last_error.lower()
    # Still down: the relay records the failure and keeps the row.
    assert outbox_relay().failed == 1
    assert OutboxMessage.objects.get().dispatched_at is None

    broker.start()
    first, again = outbox_relay(), outbox_relay()
    assert (first.published, first.failed) == (1, 0)
    assert (again.published, again.failed) == (0, 0)
    assert queued(broker) == 1
    row.refresh_from_db()
    assert row.dispatched_at is not None
    assert row.attempts == 3


@pytest.mark.django_db(transaction=True)
def test_with_redis_up_the_task_is_published_on_commit_without_waiting_for_the_relay(
    world: World, broker: RedisServer
) -> None:
    response = client_for(world.patient).post(url(world), red_flag_body(), format="json")
    assert response.status_code == 201
    assert queued(broker) == 1
    assert OutboxMessage.objects.get().dispatched_at is not None
    assert outbox_relay().published == 0
    assert queued(broker) == 1


def test_purge_forgets_old_dispatched_rows_and_keeps_pending_ones(world: World) -> None:
    old = enqueue("recovery.alerts.tasks.notify_event", 1)
    pending = enqueue("recovery.alerts.tasks.notify_event", 2)
    assert old is not None and pending is not None
    OutboxMessage.objects.filter(pk=old.pk).update(dispatched_at=timezone.now() - timedelta(days=8))
    assert outbox_purge() == 1
    assert list(OutboxMessage.objects.values_list("pk", flat=True)) == [pending.pk]


@pytest.mark.django_db(transaction=True)
def test_the_relay_skips_a_row_another_relay_is_publishing(world: World, broker: RedisServer) -> None:
    broker.stop()
    with transaction.atomic():
        held = enqueue("recovery.alerts.tasks.notify_event", 1)
        free = enqueue("recovery.alerts.tasks.notify_event", 2)
    assert held is not None and free is not None
    assert OutboxMessage.objects.filter(dispatched_at__isnull=True).count() == 2
    broker.start()
    with psycopg.connect(dsn()) as other:
        other.execute("SELECT id FROM outbox_outboxmessage WHERE id = %s FOR UPDATE", [held.pk])
        assert outbox_relay().published == 1
        assert OutboxMessage.objects.get(pk=held.pk).dispatched_at is None
        assert OutboxMessage.objects.get(pk=free.pk).dispatched_at is not None
    assert outbox_relay().published == 1
    assert queued(broker) == 2
