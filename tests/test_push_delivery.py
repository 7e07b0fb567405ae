"""Web Push delivery against a real push service on loopback: encryption and VAPID end to end, what
each answer of the push service does, the email fallback, and the retrying task."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests
from celery.signals import task_retry
from django.core import mail
from django.utils import timezone

from recovery.accounts.models import User
from recovery.notifications.models import ConsentKind, PushSubscription
from recovery.notifications.push import (
    DEFAULT_TTL_SECONDS,
    MAX_PAYLOAD_BYTES,
    PayloadTooLarge,
    PushDisabled,
    PushOutcome,
    PushPayload,
    PushRetryable,
    Urgency,
    endpoint_origin,
    push_send,
)
from recovery.notifications.services import (
    EmailOutcome,
    PushSkip,
    consent_record,
    notify_user,
    subscription_save,
)
from recovery.notifications.tasks import MAX_RETRIES, MAX_RETRY_DELAY_SECONDS, send_push
from tests.conftest import World
from tests.push_service import SUBJECT, Answer, Browser, PushService, configure_vapid_from_command

REMINDER = PushPayload(
    title="Time for your walk",
    body="Ten minutes, at an easy pace.",
    url="/today",
    tag="walk-reminder",
)


@pytest.fixture
def vapid(settings: Any) -> tuple[str, str]:
    return configure_vapid_from_command(settings)


@pytest.fixture
def push_service(vapid: tuple[str, str]) -> Iterator[PushService]:
    service = PushService(public_key=vapid[0], subject=SUBJECT).start()
    yield service
    service.stop()


def subscribe(user: User, service: PushService, browser: Browser | None = None) -> PushSubscription:
    browser = browser or Browser()
    subscription, created = subscription_save(
        user=user,
        endpoint=service.endpoint(browser),
        p256dh=browser.p256dh,
        auth=browser.auth,
        expires_at=None,
        user_agent="Test browser",
    )
    assert created
    return subscription


def notify(user: User) -> Any:
    return notify_user(
        user=user, payload=REMINDER, email_subject="Your walk", email_body="Time for a ten-minute walk."
    )


# --- the round trip ------------------------------------------------------------------------------


def test_push_round_trip_is_encrypted_for_the_browser_and_vapid_signed(
    world: World, push_service: PushService
) -> None:
    subscription = subscribe(world.patient, push_service)

    result = push_send(subscription=subscription, payload=REMINDER)

    assert (result.outcome, result.status_code) == (PushOutcome.DELIVERED, 201)
    [received] = push_service.received
    assert received.error is None
    assert received.payload == {
        "title": "Time for your walk",
        "body": "Ten minutes, at an easy pace.",
        "url": "/today",
        "tag": "walk-reminder",
    }
    assert received.claims is not None
    assert received.claims["aud"] == push_service.origin
    assert received.claims["sub"] == SUBJECT
    assert received.headers["ttl"] == str(DEFAULT_TTL_SECONDS)
    assert received.headers["urgency"] == "normal"
    assert received.headers["topic"] == "walk-reminder"
    subscription.refresh_from_db()
    assert subscription.last_success_at is not None
    assert subscription.failure_count == 0


def test_extra_data_and_non_ascii_text_arrive_intact_with_chosen_ttl_and_urgency(
    world: World, push_service: PushService
) -> None:
    subscription = subscribe(world.patient, push_service)
    payload = PushPayload(
        title="Cuestionario de seguimiento",
        body="¿Cómo está su dolor hoy? Dos minutos.",
        url="/questionnaires/odi",
        tag="questionnaire: ODI week 6",
        data={"episode": str(world.episode.id), "week": 6},
    )

    push_send(subscription=subscription, payload=payload, ttl=600, urgency=Urgency.HIGH)

    [received] = push_service.received
    assert received.error is None
    assert received.payload == {**payload.as_dict(), "data": {"episode": str(world.episode.id), "week": 6}}
    assert (received.headers["ttl"], received.headers["urgency"]) == ("600", "high")
    # Not a valid RFC 8030 topic (spaces, colon), so none is sent rather than a malformed one.
    assert "topic" not in received.headers


def test_payload_serialises_as_compact_json() -> None:
    assert REMINDER.to_bytes() == (
        b'{"title":"Time for your walk","body":"Ten minutes, at an easy pace.","url":"/today","tag":"walk-reminder"}'
    )
    assert PushPayload.from_dict(REMINDER.as_dict()) == REMINDER


def test_payload_too_large_for_one_push_record_is_refused_before_sending(
    world: World, push_service: PushService
) -> None:
    subscription = subscribe(world.patient, push_service)
    huge = PushPayload(title="t", body="x" * MAX_PAYLOAD_BYTES, url="/", tag="t")
    with pytest.raises(PayloadTooLarge):
        push_send(subscription=subscription, payload=huge)
    assert push_service.received == []


def test_push_send_without_vapid_keys_is_refused(
    world: World, push_service: PushService, settings: Any
) -> None:
    subscription = subscribe(world.patient, push_service)
    settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = None
    with pytest.raises(PushDisabled):
        push_send(subscription=subscription, payload=REMINDER)
    assert push_service.received == []


# --- what each answer does -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 410])
def test_gone_subscription_is_deleted(world: World, push_service: PushService, status: int) -> None:
    subscription = subscribe(world.patient, push_service)
    push_service.answer(subscription.endpoint, Answer(status))

    result = push_send(subscription=subscription, payload=REMINDER)

    assert (result.outcome, result.status_code) == (PushOutcome.GONE, status)
    assert not PushSubscription.objects.filter(pk=subscription.pk).exists()


def test_429_with_retry_after_seconds_is_retryable_with_that_delay(
    world: World, push_service: PushService
) -> None:
    subscription = subscribe(world.patient, push_service)
    push_service.answer(subscription.endpoint, Answer(429, {"Retry-After": "120"}))

    with pytest.raises(PushRetryable) as caught:
        push_send(subscription=subscription, payload=REMINDER)

    assert (caught.value.status_code, caught.value.retry_after) == (429, 120)
    subscription.refresh_from_db()
    assert subscription.failure_count == 0


def test_retry_after_as_http_date_becomes_seconds_from_now(world: World, push_service: PushService) -> None:
    subscription = subscribe(world.patient, push_service)
    when = format_datetime(timezone.now() + timedelta(minutes=5), usegmt=True)
    push_service.answer(subscription.endpoint, Answer(429, {"Retry-After": when}))

    with pytest.raises(PushRetryable) as caught:
        push_send(subscription=subscription, payload=REMINDER)

    assert caught.value.retry_after is not None
    assert 290 <= caught.value.retry_after <= 300


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_is_retryable_without_a_delay(
    world: World, push_service: PushService, status: int
) -> None:
    subscription = subscribe(world.patient, push_service)
    push_service.answer(subscription.endpoint, Answer(status))

    with pytest.raises(PushRetryable) as caught:
        push_send(subscription=subscription, payload=REMINDER)

    assert (caught.value.status_code, caught.value.retry_after) == (status, None)
    assert PushSubscription.objects.filter(pk=subscription.pk).exists()


@pytest.mark.parametrize("status", [400, 403, 413, 301])
def test_other_answers_are_rejections_counted_until_a_delivery(
    world: World, push_service: PushService, status: int
) -> None:
    subscription = subscribe(world.patient, push_service)
    push_service.answer(
        subscription.endpoint, Answer(status, {"Location": "http://127.0.0.1:9/x"}), Answer(status)
    )

    assert push_send(subscription=subscription, payload=REMINDER).outcome == PushOutcome.REJECTED
    assert push_send(subscription=subscription, payload=REMINDER).outcome == PushOutcome.REJECTED
    subscription.refresh_from_db()
    assert subscription.failure_count == 2

    assert push_send(subscription=subscription, payload=REMINDER).outcome == PushOutcome.DELIVERED
    subscription.refresh_from_db()
    assert subscription.failure_count == 0
    # Redirects are never followed: every request went to the subscription's own endpoint.
    assert len(push_service.received) == 3


def test_rejection_is_logged_with_the_start_of_the_push_services_explanation(
    world: World, push_service: PushService, caplog: pytest.LogCaptureFixture
) -> None:
    subscription = subscribe(world.patient, push_service)
    explanation = b"VAPID credentials do not match the subscription. " + b"x" * 1_000_000
    push_service.answer(subscription.endpoint, Answer(403, body=explanation))

    assert push_send(subscription=subscription, payload=REMINDER).outcome == PushOutcome.REJECTED

    [record] = [r for r in caplog.records if r.name == "recovery.notifications.push"]
    assert record.levelname == "WARNING"
    assert "rejected with 403: VAPID credentials do not match" in record.getMessage()
    assert len(record.getMessage()) < 500


def test_unreachable_push_service_raises_a_connection_error(world: World, push_service: PushService) -> None:
    subscription = subscribe(world.patient, push_service)
    push_service.stop()
    with pytest.raises(requests.ConnectionError):
        push_send(subscription=subscription, payload=REMINDER)


# --- notify_user: push, else email ---------------------------------------------------------------


def test_user_without_subscription_is_emailed(world: World, push_service: PushService) -> None:
    result = notify(world.patient)

    assert (result.push, result.push_skipped, result.email) == (
        (),
        PushSkip.NO_SUBSCRIPTION,
        EmailOutcome.SENT,
    )
    [message] = mail.outbox
    assert (message.to, message.subject, message.body) == (
        [world.patient.email],
        "Your walk",
        "Time for a ten-minute walk.",
    )
    assert result.delivered


def test_user_whose_only_subscription_is_gone_is_emailed_and_the_subscription_deleted(
    world: World, push_service: PushService
) -> None:
    subscription = subscribe(world.patient, push_service)
    push_service.answer(subscription.endpoint, Answer(410))

    result = notify(world.patient)

    assert [r.outcome for r in result.push] == [PushOutcome.GONE]
    assert result.email == EmailOutcome.SENT
    assert len(mail.outbox) == 1
    assert not PushSubscription.objects.filter(user=world.patient).exists()


def test_pushed_user_is_not_emailed_and_gone_devices_are_dropped(
    world: World, push_service: PushService
) -> None:
    phone = subscribe(world.patient, push_service)
    old_laptop = subscribe(world.patient, push_service)
    push_service.answer(old_laptop.endpoint, Answer(410))

    result = notify(world.patient)

    assert {r.subscription_id: r.outcome for r in result.push} == {
        phone.id: PushOutcome.DELIVERED,
        old_laptop.id: PushOutcome.GONE,
    }
    assert result.email == EmailOutcome.NOT_NEEDED
    assert mail.outbox == []
    assert list(PushSubscription.objects.filter(user=world.patient)) == [phone]


def test_rejected_push_falls_back_to_email(world: World, push_service: PushService) -> None:
    subscription = subscribe(world.patient, push_service)
    push_service.answer(subscription.endpoint, Answer(403))

    result = notify(world.patient)

    assert [r.outcome for r in result.push] == [PushOutcome.REJECTED]
    assert result.email == EmailOutcome.SENT


def test_push_disabled_falls_back_to_email_without_contacting_the_push_service(
    world: World, push_service: PushService, settings: Any
) -> None:
    subscribe(world.patient, push_service)
    settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = None

    result = notify(world.patient)

    assert (result.push_skipped, result.email) == (PushSkip.DISABLED, EmailOutcome.SENT)
    assert push_service.received == []


def test_refused_push_consent_means_email_only(world: World, push_service: PushService) -> None:
    subscribe(world.patient, push_service)
    consent_record(user=world.patient, kind=ConsentKind.PUSH, granted=False, version="2026-05")

    result = notify(world.patient)

    assert (result.push_skipped, result.email) == (PushSkip.DECLINED, EmailOutcome.SENT)
    assert push_service.received == []


def test_refused_email_consent_means_no_fallback_email(world: World, push_service: PushService) -> None:
    consent_record(user=world.patient, kind=ConsentKind.EMAIL, granted=False, version="2026-05")

    result = notify(world.patient)

    assert result.email == EmailOutcome.DECLINED
    assert mail.outbox == []
    assert not result.delivered


def test_deactivated_user_is_not_notified(world: World, push_service: PushService) -> None:
    subscribe(world.patient, push_service)
    world.patient.is_active = False
    world.patient.save()

    result = notify(world.patient)

    assert (result.push_skipped, result.email) == (PushSkip.INACTIVE, EmailOutcome.INACTIVE)
    assert push_service.received == []
    assert mail.outbox == []


def test_expired_subscription_is_dropped_and_the_user_emailed(
    world: World, push_service: PushService
) -> None:
    browser = Browser()
    subscription_save(
        user=world.patient,
        endpoint=push_service.endpoint(browser),
        p256dh=browser.p256dh,
        auth=browser.auth,
        expires_at=timezone.now() - timedelta(minutes=1),
    )

    result = notify(world.patient)

    assert (result.push_skipped, result.email) == (PushSkip.NO_SUBSCRIPTION, EmailOutcome.SENT)
    assert push_service.received == []
    assert not PushSubscription.objects.filter(user=world.patient).exists()


def test_transient_failure_is_handed_to_the_task_and_no_email_is_sent(
    world: World, push_service: PushService, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = subscribe(world.patient, push_service)
    push_service.answer(subscription.endpoint, Answer(503))

    with django_capture_on_commit_callbacks(execute=True) as enqueued:
        result = notify(world.patient)

    assert len(enqueued) == 1

    assert [(r.outcome, r.status_code) for r in result.push] == [(PushOutcome.RETRYING, 503)]
    assert result.email == EmailOutcome.NOT_NEEDED
    # The tests run tasks eagerly: send_push already delivered the second attempt.
    assert [r.error for r in push_service.received] == [None, None]
    assert push_service.received[1].payload == REMINDER.as_dict()
    subscription.refresh_from_db()
    assert subscription.last_success_at is not None


# --- the send_push task --------------------------------------------------------------------------


@pytest.fixture
def retries() -> Iterator[list[Any]]:
    """Run retries eagerly too, and collect the countdown of every retry a task asked for.

    With ``task_eager_propagates`` (the tests' setting) an eager task raises Celery's ``Retry`` instead
    of running again; without it, ``apply()`` runs each retry at once and the final result still raises.
    """
    seen: list[Any] = []

    def record(sender: Any = None, reason: Any = None, **kwargs: Any) -> None:
        seen.append(reason.when)

    conf = send_push.app.conf
    propagates = conf.task_eager_propagates
    conf.task_eager_propagates = False
    task_retry.connect(record, weak=False)
    yield seen
    task_retry.disconnect(record)
    conf.task_eager_propagates = propagates


def run_send_push(subscription_id: Any) -> Any:
    return send_push.apply(args=(str(subscription_id), REMINDER.as_dict())).get()


def test_task_waits_as_long_as_retry_after_says(
    world: World, push_service: PushService, retries: list[Any]
) -> None:
    subscription = subscribe(world.patient, push_service)
    push_service.answer(subscription.endpoint, Answer(429, {"Retry-After": "7"}))

    outcome = run_send_push(subscription.id)

    assert outcome == "delivered"
    assert retries == [7]
    assert len(push_service.received) == 2


def test_task_caps_a_very_long_retry_after(
    world: World, push_service: PushService, retries: list[Any]
) -> None:
    subscription = subscribe(world.patient, push_service)
    push_service.answer(subscription.endpoint, Answer(503, {"Retry-After": "86400"}))

    assert run_send_push(subscription.id) == "delivered"
    assert retries == [MAX_RETRY_DELAY_SECONDS]


def test_task_backs_off_exponentially_without_retry_after(
    world: World, push_service: PushService, retries: list[Any]
) -> None:
    subscription = subscribe(world.patient, push_service)
    push_service.answer(subscription.endpoint, Answer(500), Answer(502), Answer(503))

    assert run_send_push(subscription.id) == "delivered"
    # Full jitter: each wait is random in [0, 2**attempt].
    assert len(retries) == 3
    assert all(0 <= when <= 2**attempt for attempt, when in enumerate(retries, start=1))


def test_task_gives_up_after_max_retries(world: World, push_service: PushService, retries: list[Any]) -> None:
    subscription = subscribe(world.patient, push_service)
    push_service.answer(subscription.endpoint, *[Answer(503)] * (MAX_RETRIES + 1))

    with pytest.raises(PushRetryable):
        run_send_push(subscription.id)

    assert len(push_service.received) == MAX_RETRIES + 1
    assert PushSubscription.objects.filter(pk=subscription.pk).exists()


def test_task_for_a_deleted_subscription_does_nothing(world: World, push_service: PushService) -> None:
    subscription_id = str(subscribe(world.patient, push_service).id)
    PushSubscription.objects.filter(pk=subscription_id).delete()

    assert run_send_push(subscription_id) == "gone"
    assert push_service.received == []


def test_task_reports_gone_and_rejected_without_retrying(
    world: World, push_service: PushService, retries: list[Any]
) -> None:
    gone = subscribe(world.patient, push_service)
    rejected = subscribe(world.patient, push_service)
    push_service.answer(gone.endpoint, Answer(410))
    push_service.answer(rejected.endpoint, Answer(400))

    assert run_send_push(gone.id) == "gone"
    assert run_send_push(rejected.id) == "rejected"
    assert retries == []


def test_retryable_error_survives_pickling_for_celery() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(PushRetryable(429, 7.0)))
    assert (error.status_code, error.retry_after, str(error)) == (
        429,
        7.0,
        "Push service answered 429; retry after 7 s.",
    )


@pytest.mark.parametrize(
    ("endpoint", "origin"),
    [
        ("https://fcm.googleapis.com/fcm/send/abc", "https://fcm.googleapis.com"),
        ("https://Push.Example.org:443/x", "https://push.example.org"),
        ("https://push.example.org:8443/x", "https://push.example.org:8443"),
        ("http://127.0.0.1:8080/push/x", "http://127.0.0.1:8080"),
    ],
)
def test_vapid_audience_is_the_endpoints_origin(endpoint: str, origin: str) -> None:
    assert endpoint_origin(endpoint) == origin
