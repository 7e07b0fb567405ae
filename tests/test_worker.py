"""With a real Celery worker on Redis: an enrolment's invitation email is delivered exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from recovery.accounts.models import Invitation
from recovery.accounts.tasks import send_invitation
from recovery.celery import app
from tests.conftest import World, client_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Path]:
    """A real worker process on a queue of its own, writing emails to files."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    mail_dir = tmp_path / "mail"
    db = connection.settings_dict
    env = {
        **os.environ,
        "MOBILIZE_ENV": "test",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_QUEUE": queue,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "recovery",
            "worker",
            "--pool",
            "solo",
            "-Q",
            queue,
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready = threading.Event()
    log: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line)
            if " ready." in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    previous = (app.conf.task_always_eager, app.conf.task_default_queue)
    app.conf.task_always_eager, app.conf.task_default_queue = False, queue
    try:
        assert ready.wait(60), "".join(log)
        yield mail_dir
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = previous
        process.terminate()
        process.wait(timeout=30)


def wait_for(predicate: Any, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_invitation_is_emailed_once_by_a_real_worker(world: World, worker: Path) -> None:
    body = {
        "patient": {
            "email": "walker@example.org",
            "name": "Wally Walker",
            "date_of_birth": "1960-01-01",
            "time_zone": "Europe/Lisbon",
        },
        "procedure": "tubular_discectomy",
        "levels": ["L5-S1"],
        "surgery_date": (timezone.now().date() + timedelta(days=3)).isoformat(),
    }
    response = client_for(world.surgeon).post("/api/v1/episodes/", body, format="json")
    assert response.status_code == 201
    assert wait_for(lambda: worker.is_dir() and len(list(worker.iterdir())) == 1)
    invitation = Invitation.objects.get(user__email="walker@example.org")
    assert invitation.sent_at is not None
    # A redelivered or replayed task sends nothing more.
    send_invitation.delay(str(invitation.pk))
    send_invitation.delay(str(invitation.pk))
    time.sleep(3)
    files = list(worker.iterdir())
    assert len(files) == 1
    assert "walker@example.org" in files[0].read_text()
