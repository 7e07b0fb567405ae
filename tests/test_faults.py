"""Proof under faults with real parts: a throwaway ``redis-server`` (broker and cache), real Celery
worker processes, and the local Web Push service.

- Redis stopped (under a running worker) while the patient posts red-flag check-ins: each is stored
  (201) promptly; once Redis is back the outbox relay publishes them, the worker raises the alert and the care team is pushed exactly once per
  alert event; relaying again, and publishing every task a second time, changes nothing.
- A worker killed (SIGKILL) while it pushes an alert to the surgeon: after a restart and the task's
  redelivery the surgeon has had that push once and the physiotherapist gets theirs once.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from recovery.alerts.models import Alert, AlertEvent, AlertNotice, EventKind, NoticeState
from recovery.alerts.tasks import notify_event, raise_red_flag_alert
from recovery.celery import app
from recovery.checkins.models import CheckIn
from recovery.notifications.services import subscription_save
from recovery.outbox.models import OutboxMessage
from recovery.outbox.services import outbox_relay
from tests.conftest import World, client_for
from tests.faults.servers import RedisServer, use_broker
from tests.push_service import SUBJECT, Browser, configure_vapid_from_command
from tests.test_reminders_worker import SlowPushService, Workers
from tests.test_worker import wait_for


@dataclass
class Rig:
    redis: RedisServer
    push: SlowPushService
    workers: Workers


@pytest.fixture
def rig(tmp_path: Path, settings: Any) -> Iterator[Rig]:
    """Redis of its own (broker and cache of this process and of the workers), the push service, and
    workers on a queue of their own, started by the test."""
    server = RedisServer()
    server.start()
    public, _ = configure_vapid_from_command(settings)
    push = SlowPushService(public_key=public, subject=SUBJECT)
    push.start()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url(),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
    queue = f"test-faults-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    env = {
        **os.environ,
        "MOBILIZE_ENV": "test",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_QUEUE": queue,
        "REDIS_URL": server.url(),
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "VAPID_PUBLIC_KEY": settings.VAPID_PUBLIC_KEY,
        "VAPID_PRIVATE_KEY": settings.VAPID_PRIVATE_KEY,
        "VAPID_SUBJECT": settings.VAPID_SUBJECT,
    }
    workers = Workers(queue, tmp_path / "mail", env)
    previous = (app.conf.task_always_eager, app.conf.task_default_queue)
    app.conf.task_always_eager, app.conf.task_default_queue = False, queue
    try:
        with use_broker(server.url()):
            yield Rig(server, push, workers)
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = previous
        for worker in workers.started:
            if worker.process.poll() is None:
                worker.process.terminate()
                worker.process.wait(timeout=30)
        push.stop()
        server.stop()


def _subscribe(user: Any, push: SlowPushService) -> str:
    browser = Browser()
    endpoint = push.endpoint(browser)
    subscription_save(user=user, endpoint=endpoint, p256dh=browser.p256dh, auth=browser.auth, expires_at=None)
    return endpoint.removeprefix(push.origin)


def _pushes_to(push: SlowPushService, path: str) -> list[Any]:
    return [r for r in push.received if r.path == path]


def _post_red_flag(world: World, flags: list[str]) -> Any:
    body = {"id": str(uuid.uuid4()), "axial_pain": 6, "limb_pain": 8, "red_flags": flags}
    return client_for(world.patient).post(
        f"/api/v1/episodes/{world.episode.id}/check-ins/", body, format="json"
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_red_flags_posted_while_redis_is_down_are_stored_and_alerted_once_when_it_is_back(
    world: World, rig: Rig
) -> None:
    surgeon_path = _subscribe(world.surgeon, rig.push)
    physio_path = _subscribe(world.physio, rig.push)
    worker = rig.workers.start()
    rig.redis.stop()
    flags = [["new_weakness"], ["saddle_numbness"], ["fever"]]
    for reported in flags:
        started = time.monotonic()
        response = _post_red_flag(world, reported)
        assert response.status_code == 201, response.content
        assert time.monotonic() - started < 1.5
    assert CheckIn.objects.filter(episode=world.episode).count() == 3
    assert (
        OutboxMessage.objects.filter(task=raise_red_flag_alert.name, dispatched_at__isnull=True).count() == 3
    )
    assert not Alert.objects.exists()
    assert rig.push.received == []

    # Redis comes back; the worker reconnects by itself; the relay (beat's, here run by hand) publishes.
    rig.redis.start()
    assert outbox_relay().published == 3
    # One alert (later red flags join the unresolved one): opened, then updated twice; each event is
    # pushed to the surgeon and to the physiotherapist.
    assert wait_for(lambda: AlertNotice.objects.filter(state=NoticeState.SENT).count() == 6), "".join(
        worker.log
    )
    alert = Alert.objects.get(episode=world.episode)
    assert sorted(alert.data["red_flags"]) == sorted(f for reported in flags for f in reported)
    events = list(AlertEvent.objects.filter(alert=alert).values_list("to_state", flat=True))
    assert sorted(events) == sorted([EventKind.OPEN, EventKind.UPDATED, EventKind.UPDATED])
    assert len(_pushes_to(rig.push, surgeon_path)) == 3
    assert len(_pushes_to(rig.push, physio_path)) == 3
    assert all(r.error is None and r.payload["tag"] == f"alert-{alert.pk}" for r in rig.push.received)

    # At least once, never twice: the relay again, and every task published a second time.
    assert outbox_relay().published == 0
    for checkin_id in CheckIn.objects.values_list("pk", flat=True):
        raise_red_flag_alert.delay(str(checkin_id))
    for event_id in AlertEvent.objects.values_list("pk", flat=True):
        notify_event.delay(event_id)
    assert wait_for(lambda: sum("succeeded" in line for line in worker.log) >= 3 + 3 + 3 + 3)
    time.sleep(1)
    assert Alert.objects.count() == 1
    assert AlertEvent.objects.count() == 3
    assert AlertNotice.objects.count() == 6
    assert len(rig.push.received) == 6
    assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()
    assert rig.workers.mails_to(world.surgeon.email) == 0


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_killed_while_pushing_an_alert_notifies_each_clinician_once_after_restart(
    world: World, rig: Rig
) -> None:
    surgeon_path = _subscribe(world.surgeon, rig.push)
    physio_path = _subscribe(world.physio, rig.push)
    rig.push.delay = 8.0
    first = rig.workers.start()
    assert _post_red_flag(world, ["chest_pain_breathless"]).status_code == 201
    # The surgeon is notified first: their push is in flight when the worker dies.
    assert wait_for(lambda: len(rig.push.received) == 1), "".join(first.log)
    assert rig.push.received[0].path == surgeon_path
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=10)
    rig.push.delay = 0.0
    second = rig.workers.start()
    # The broker's redelivery of the unacknowledged task (late acks), and the relay, on the new worker.
    event = AlertEvent.objects.get()
    notify_event.delay(event.pk)
    assert outbox_relay().published == 0
    assert wait_for(lambda: len(_pushes_to(rig.push, physio_path)) == 1), "".join(second.log)
    notify_event.delay(event.pk)
    assert wait_for(lambda: sum("notify_event" in line and "succeeded" in line for line in second.log) >= 2)
    time.sleep(1)
    assert len(_pushes_to(rig.push, surgeon_path)) == 1
    assert len(_pushes_to(rig.push, physio_path)) == 1
    assert AlertNotice.objects.filter(event=event).count() == 2
    assert rig.workers.mails_to(world.surgeon.email) == 0
    assert rig.workers.mails_to(world.physio.email) == 0
