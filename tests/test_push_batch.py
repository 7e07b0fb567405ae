"""``notify_users`` (many messages at once, as the reminder engine sends them) and the reused VAPID
header, against the loopback push service."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recovery.accounts.models import User
from recovery.notifications import services
from recovery.notifications.models import ConsentKind, PushSubscription
from recovery.notifications.push import PushOutcome, PushPayload, vapid_authorization
from recovery.notifications.services import (
    EmailOutcome,
    Notice,
    NotifyResult,
    PushSkip,
    consent_record,
    notify_users,
    subscription_save,
)
from tests.conftest import World
from tests.factories import PatientFactory
from tests.push_service import SUBJECT, Answer, Browser, PushService, configure_vapid_from_command

pytestmark = pytest.mark.django_db

WALK = PushPayload(title="Time for a short walk", body="A few minutes.", url="/reminders/", tag="walk-1")


@pytest.fixture
def push_service(settings: Any) -> Iterator[PushService]:
    public, _ = configure_vapid_from_command(settings)
    service = PushService(public_key=public, subject=SUBJECT).start()
    yield service
    service.stop()


def subscribe(user: User, service: PushService) -> PushSubscription:
    browser = Browser()
    subscription, _ = subscription_save(
        user=user,
        endpoint=service.endpoint(browser),
        p256dh=browser.p256dh,
        auth=browser.auth,
        expires_at=None,
    )
    return subscription


def notice(user: User) -> Notice:
    return Notice(user=user, payload=WALK, email_subject="Mobilize: walk", email_body="Time for a walk.")


def test_each_notice_follows_its_own_persons_choices(world: World, push_service: PushService) -> None:
    subscribe(world.patient, push_service)
    subscribe(world.other_patient, push_service)
    consent_record(user=world.other_patient, kind=ConsentKind.PUSH, granted=False, version="2026-05")
    consent_record(user=world.surgeon, kind=ConsentKind.EMAIL, granted=False, version="2026-05")

    results = notify_users(
        [notice(world.patient), notice(world.other_patient), notice(world.physio), notice(world.surgeon)]
    )

    assert all(isinstance(r, NotifyResult) for r in results)
    patient, other, physio, surgeon = (r for r in results if isinstance(r, NotifyResult))
    assert [r.outcome for r in patient.push] == [PushOutcome.DELIVERED]
    assert patient.email == EmailOutcome.NOT_NEEDED
    assert (other.push_skipped, other.email) == (PushSkip.DECLINED, EmailOutcome.SENT)
    assert (physio.push_skipped, physio.email) == (PushSkip.NO_SUBSCRIPTION, EmailOutcome.SENT)
    assert (surgeon.push_skipped, surgeon.email) == (PushSkip.NO_SUBSCRIPTION, EmailOutcome.DECLINED)
    assert sorted(to for m in mail.outbox for to in m.to) == sorted(
        [world.other_patient.email, world.physio.email]
    )
    [received] = push_service.received
    assert received.error is None and received.payload == WALK.as_dict()
    assert PushSubscription.objects.get(user=world.patient).last_success_at is not None


def test_gone_and_rejected_answers_are_recorded_together(world: World, push_service: PushService) -> None:
    gone = subscribe(world.patient, push_service)
    rejected = subscribe(world.other_patient, push_service)
    push_service.answer(gone.endpoint, Answer(410))
    push_service.answer(rejected.endpoint, Answer(400))

    first, second = notify_users([notice(world.patient), notice(world.other_patient)])

    assert isinstance(first, NotifyResult) and isinstance(second, NotifyResult)
    assert [r.outcome for r in first.push] == [PushOutcome.GONE]
    assert [r.outcome for r in second.push] == [PushOutcome.REJECTED]
    assert not PushSubscription.objects.filter(pk=gone.pk).exists()
    rejected.refresh_from_db()
    assert rejected.failure_count == 1
    # Neither took the message: both fall back to email.
    assert first.email == second.email == EmailOutcome.SENT


def test_queries_do_not_grow_with_the_number_of_notices(procedures: None, push_service: PushService) -> None:
    def queries_for(count: int) -> int:
        users = [PatientFactory.create() for _ in range(count)]
        for user in users:
            subscribe(user, push_service)
        with CaptureQueriesContext(connection) as captured:
            results = notify_users([notice(user) for user in users])
        assert all(isinstance(r, NotifyResult) and r.delivered for r in results)
        return len(captured)

    assert queries_for(2) == queries_for(6)


def test_an_smtp_failure_fails_only_its_own_notice(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    real = mail.send_mail

    def refuses_the_physio(subject: str, body: str, sender: Any, to: list[str]) -> int:
        if world.physio.email in to:
            raise ConnectionRefusedError("SMTP down for this one")
        return real(subject, body, sender, to)

    monkeypatch.setattr(services, "send_mail", refuses_the_physio)
    patient, physio = notify_users([notice(world.patient), notice(world.physio)])

    assert isinstance(patient, NotifyResult) and patient.email == EmailOutcome.SENT
    assert isinstance(physio, ConnectionRefusedError)


def test_vapid_header_is_signed_once_per_origin_and_renewed_before_it_expires(
    push_service: PushService,
) -> None:
    endpoint = push_service.origin + "/push/any"
    first = vapid_authorization(endpoint)
    assert vapid_authorization(endpoint) == first
    assert vapid_authorization("https://fcm.googleapis.com/fcm/send/x") != first
    # Past half of its 12-hour lifetime a fresh one is signed.
    with time_machine.travel(timezone.now() + timedelta(hours=7), tick=False):
        assert vapid_authorization(endpoint) != first
