"""The reminder dispatch path with a real Redis broker and real Celery worker processes: a due slot is
pushed exactly once, also when the worker is killed (SIGKILL) while the push is in flight and the task
is run again on a fresh worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from recovery.celery import app
from recovery.notifications.services import subscription_save
from recovery.reminders import services
from recovery.reminders.models import DeliveryState, ReminderDelivery, ReminderKind, ReminderSchedule
from recovery.reminders.tasks import dispatch_due, send_reminder
from tests.conftest import World
from tests.push_service import SUBJECT, Answer, Browser, PushService, configure_vapid_from_command
from tests.test_worker import wait_for

ROOT = Path(__file__).resolve().parent.parent


class SlowPushService(PushService):
    """Takes the message (it counts as received) and then answers only after ``delay`` seconds."""

    delay = 0.0

    def _receive(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        answer = super()._receive(path, headers, body)
        time.sleep(self.delay)
        return answer


#: Runs the Celery command line travelled to the instant given as its first argument (ticking).
_AT_CLOCK = (
    "import sys, time_machine\n"
    "from celery.__main__ import main\n"
    "with time_machine.travel(sys.argv.pop(1), tick=True):\n"
    "    main()\n"
)


@dataclass
class Worker:
    process: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)


@dataclass
class Workers:
    queue: str
    mail_dir: Path
    env: dict[str, str]
    started: list[Worker] = field(default_factory=list)

    def start(self) -> Worker:
        # Under MOBILIZE_TEST_NOW the test runs at a chosen instant; the worker must share its clock.
        clock = ["-c", _AT_CLOCK, timezone.now().isoformat()] if os.environ.get("MOBILIZE_TEST_NOW") else []
        process = subprocess.Popen(
            [
                sys.executable,
                *(clock or ["-m", "celery"]),
                "-A",
                "recovery",
                "worker",
                "--pool",
                "solo",
                "-Q",
                self.queue,
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        worker = Worker(process)
        ready = threading.Event()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                worker.log.append(line)
                if " ready." in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        self.started.append(worker)
        assert ready.wait(60), "".join(worker.log)
        return worker

    def mails_to(self, email: str) -> int:
        if not self.mail_dir.is_dir():
            return 0
        return len([f for f in self.mail_dir.iterdir() if email in f.read_text()])


@pytest.fixture
def push(settings: Any) -> Iterator[SlowPushService]:
    public, _ = configure_vapid_from_command(settings)
    service = SlowPushService(public_key=public, subject=SUBJECT)
    service.start()
    yield service
    service.stop()


@pytest.fixture
def workers(tmp_path: Path, settings: Any, push: SlowPushService) -> Iterator[Workers]:
    queue = f"test-rem-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    env = {
        **os.environ,
        "MOBILIZE_ENV": "test",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_QUEUE": queue,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "VAPID_PUBLIC_KEY": settings.VAPID_PUBLIC_KEY,
        "VAPID_PRIVATE_KEY": settings.VAPID_PRIVATE_KEY,
        "VAPID_SUBJECT": settings.VAPID_SUBJECT,
    }
    handle = Workers(queue, tmp_path / "mail", env)
    previous = (app.conf.task_always_eager, app.conf.task_default_queue)
    app.conf.task_always_eager, app.conf.task_default_queue = False, queue
    try:
        yield handle
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = previous
        for worker in handle.started:
            if worker.process.poll() is None:
                worker.process.terminate()
                worker.process.wait(timeout=30)


def _due_walk(world: World, push: PushService) -> tuple[ReminderSchedule, Browser]:
    browser = Browser()
    subscription_save(
        user=world.patient,
        endpoint=push.endpoint(browser),
        p256dh=browser.p256dh,
        auth=browser.auth,
        expires_at=None,
    )
    services.schedules_sync_for_episode(episode=world.episode)
    walk = ReminderSchedule.objects.get(episode=world.episode, kind=ReminderKind.WALK)
    ReminderSchedule.objects.filter(pk=walk.pk).update(next_due_at=timezone.now() - timedelta(seconds=10))
    walk.refresh_from_db()
    return walk, browser


def _state(walk: ReminderSchedule) -> Callable[[], str | None]:
    def read() -> str | None:
        row = ReminderDelivery.objects.filter(schedule=walk).values_list("state", flat=True).first()
        return None if row is None else str(row)

    return read


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_real_worker_pushes_a_due_walk_reminder_once(
    world: World, push: SlowPushService, workers: Workers
) -> None:
    walk, _ = _due_walk(world, push)
    slot = walk.next_due_at
    assert slot is not None
    workers.start()
    dispatch_due.delay()
    assert wait_for(lambda: _state(walk)() == DeliveryState.SENT), "".join(workers.started[0].log)
    # Replays: the dispatcher again, and the send task for the same slot twice.
    dispatch_due.delay()
    send_reminder.delay(str(walk.id), slot.isoformat())
    send_reminder.delay(str(walk.id), slot.isoformat())
    time.sleep(3)
    mine = [
        r
        for r in push.received
        if r.payload is not None and r.payload.get("tag") == f"walk-{world.episode.id}"
    ]
    assert len(mine) == 1
    assert mine[0].error is None
    assert set(mine[0].payload) >= {"title", "body", "url", "tag"}
    assert ReminderDelivery.objects.filter(schedule=walk).count() == 1
    # Pushed, so no fallback email.
    assert workers.mails_to(world.patient.email) == 0


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_send_never_sends_twice(
    world: World, push: SlowPushService, workers: Workers
) -> None:
    walk, _ = _due_walk(world, push)
    slot = walk.next_due_at
    assert slot is not None
    push.delay = 8.0
    first = workers.start()
    send_reminder.delay(str(walk.id), slot.isoformat())
    assert wait_for(lambda: len(push.received) == 1 and _state(walk)() == DeliveryState.SENDING), "".join(
        first.log
    )
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=10)
    push.delay = 0.0
    second = workers.start()
    # The broker's redelivery of the lost task, and the dispatcher, both come to nothing.
    send_reminder.delay(str(walk.id), slot.isoformat())
    dispatch_due.delay()
    assert wait_for(lambda: any("send_reminder" in line and "succeeded" in line for line in second.log))
    time.sleep(2)
    assert len(push.received) == 1
    assert ReminderDelivery.objects.filter(schedule=walk).count() == 1
    assert _state(walk)() == DeliveryState.SENDING
    # Once the lease is over the dispatcher records it as interrupted: failed, and still not resent.
    assert services.deliveries_expire_interrupted(now=timezone.now() + timedelta(minutes=11)) == 1
    send_reminder.delay(str(walk.id), slot.isoformat())
    time.sleep(2)
    assert len(push.received) == 1
    assert _state(walk)() == DeliveryState.FAILED
    assert workers.mails_to(world.patient.email) == 0
