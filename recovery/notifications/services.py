"""Writes for notifications: push subscriptions, consent, and ``notify_user`` (push, else email).

Invariants and choices:

- An endpoint belongs to at most one user (unique). Saving it again is idempotent: the same user gets
  the stored row back (keys refreshed); another user takes it over, as a fresh row, because a browser
  profile shared by two people should notify whoever signed in and subscribed last, never the
  previous person. A user keeps at most ``MAX_SUBSCRIPTIONS_PER_USER``; the least recently seen go.
- Deleting is idempotent and only ever touches the caller's own rows.
- Consent is append-only; recording the state that is already current records nothing.
- ``notify_users`` is ``notify_user`` for many messages at once (the reminder engine's chunks): the same
  rules, with consents and subscriptions read in a few queries for all recipients and the push
  services' answers recorded together; an SMTP error fails only its own message.
- ``notify_user`` honours an explicit refusal per channel (no answer is not a refusal: subscribing in
  the browser is itself the opt-in to push). It pushes to every subscription; transient failures go to
  the ``send_push`` task, enqueued on commit. Email is the fallback whenever no push was delivered or
  is being retried: no subscription, push disabled or refused, every subscription gone or rejected.
"""

from __future__ import annotations

import ipaddress
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import partial
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from recovery.accounts.models import User
from recovery.core.errors import ValidationFailed
from recovery.notifications import tasks
from recovery.notifications.models import (
    ConsentKind,
    NotificationConsent,
    PushSubscription,
    validate_auth_secret,
    validate_p256dh,
)
from recovery.notifications.push import (
    PushAnswer,
    PushOutcome,
    PushPayload,
    PushResult,
    PushRetryable,
    push_enabled,
    push_post,
    push_record,
    push_send,
)
from recovery.notifications.selectors import consent_current, consents_current
from recovery.notifications.vapid import b64url_decode, b64url_encode

logger = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS_PER_USER = 10
ENDPOINT_MAX_LENGTH = 2048
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
_url_validator = URLValidator(schemes=["http", "https"])


def _local_endpoints_allowed() -> bool:
    # The tests' and the demo's stand-in push service listens on loopback over plain HTTP.
    return bool(settings.DEBUG) or settings.MOBILIZE_ENV in {"test", "demo"}


def endpoint_errors(endpoint: str) -> list[str]:
    """Why an endpoint URL is unacceptable (empty if it is fine).

    Push services are public HTTPS hosts. The server POSTs to whatever a client registers, so IP
    literals, ``localhost`` and credentials in the URL are refused to keep it from being aimed inward.
    """
    if len(endpoint) > ENDPOINT_MAX_LENGTH:
        return [f"Must be at most {ENDPOINT_MAX_LENGTH} characters."]
    try:
        _url_validator(endpoint)
        parts = urlsplit(endpoint)
        _ = parts.port
    except (DjangoValidationError, ValueError):
        return ["Must be the push service's https:// URL."]
    host = parts.hostname or ""
    if host in _LOCAL_HOSTS and _local_endpoints_allowed():
        pass
    elif parts.scheme != "https":
        return ["Must be an https:// URL."]
    elif host in _LOCAL_HOSTS or _is_ip_literal(host):
        return ["Must name the push service by its host name."]
    if parts.username is not None or parts.password is not None:
        return ["Must not contain credentials."]
    return []


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _key_errors(p256dh: str, auth: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for name, value, validate in (
        ("keys.p256dh", p256dh, validate_p256dh),
        ("keys.auth", auth, validate_auth_secret),
    ):
        try:
            validate(value)
        except DjangoValidationError as exc:
            errors[name] = list(exc.messages)
    return errors


@transaction.atomic
def subscription_save(
    *, user: User, endpoint: str, p256dh: str, auth: str, expires_at: datetime | None, user_agent: str = ""
) -> tuple[PushSubscription, bool]:
    """Store the browser's subscription for ``user``; returns ``(row, created)``."""
    errors = _key_errors(p256dh, auth)
    if problems := endpoint_errors(endpoint):
        errors["endpoint"] = problems
    if errors:
        raise ValidationFailed(errors)
    fields = {
        "user": user,
        # Stored canonical (unpadded base64url), whatever padding the client used.
        "p256dh": b64url_encode(b64url_decode(p256dh)),
        "auth": b64url_encode(b64url_decode(auth)),
        "expires_at": expires_at,
        "user_agent": user_agent[:400],
    }
    existing = PushSubscription.objects.select_for_update().filter(endpoint=endpoint).first()
    if existing is None:
        try:
            with transaction.atomic():
                subscription = PushSubscription.objects.create(endpoint=endpoint, **fields)
        except IntegrityError:
            # A concurrent request stored the same endpoint first: carry on as if we had seen its row.
            existing = PushSubscription.objects.select_for_update().get(endpoint=endpoint)
        else:
            _trim(user)
            return subscription, True
    if existing.user_id != user.pk:
        # The device changed hands: a fresh row, so nothing of the previous owner's carries over.
        existing.delete()
        subscription = PushSubscription.objects.create(endpoint=endpoint, **fields)
        _trim(user)
        return subscription, True
    for name, value in fields.items():
        setattr(existing, name, value)
    existing.save()
    return existing, False


def _trim(user: User) -> None:
    stale = list(
        PushSubscription.objects.filter(user=user)
        .order_by("-updated_at", "-id")
        .values_list("pk", flat=True)[MAX_SUBSCRIPTIONS_PER_USER:]
    )
    if stale:
        PushSubscription.objects.filter(pk__in=stale).delete()


def subscription_delete(*, user: User, endpoint: str) -> bool:
    """Forget one of ``user``'s own subscriptions; False (and no change) if they had none there."""
    deleted, _ = PushSubscription.objects.filter(user=user, endpoint=endpoint).delete()
    return deleted > 0


@transaction.atomic
def consent_record(
    *, user: User, kind: ConsentKind, granted: bool, version: str
) -> tuple[NotificationConsent, bool]:
    """Append a consent change; returns ``(row, created)``. The current state again creates nothing."""
    # One change at a time per person, so two identical requests cannot both see "changed".
    User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).first()
    current = consent_current(user=user, kind=kind)
    if current is not None and current.granted == granted and current.version == version:
        return current, False
    row = NotificationConsent.objects.create(
        user=user, kind=kind, granted=granted, version=version, at=timezone.now()
    )
    return row, True


class PushSkip(StrEnum):
    """Why ``notify_user`` did not try push at all."""

    INACTIVE = "inactive"
    DISABLED = "disabled"
    DECLINED = "declined"
    NO_SUBSCRIPTION = "no_subscription"


class EmailOutcome(StrEnum):
    SENT = "sent"
    #: Push was delivered, or is being retried.
    NOT_NEEDED = "not_needed"
    DECLINED = "declined"
    INACTIVE = "inactive"
    NO_ADDRESS = "no_address"


@dataclass(frozen=True)
class NotifyResult:
    push: tuple[PushResult, ...]
    push_skipped: PushSkip | None
    email: EmailOutcome

    @property
    def delivered(self) -> bool:
        """Whether the notification went out, or will once a retry succeeds."""
        pushed = any(r.outcome in (PushOutcome.DELIVERED, PushOutcome.RETRYING) for r in self.push)
        return pushed or self.email == EmailOutcome.SENT


def _push_skip(user: User) -> PushSkip | None:
    if not user.is_active:
        return PushSkip.INACTIVE
    if not push_enabled():
        return PushSkip.DISABLED
    consent = consent_current(user=user, kind=ConsentKind.PUSH)
    if consent is not None and not consent.granted:
        return PushSkip.DECLINED
    return None


def _push_all(user: User, payload: PushPayload) -> tuple[PushResult, ...]:
    PushSubscription.objects.filter(user=user, expires_at__lte=timezone.now()).delete()
    results: list[PushResult] = []
    for subscription in PushSubscription.objects.filter(user=user).order_by("-updated_at", "id"):
        try:
            results.append(push_send(subscription=subscription, payload=payload))
        except (PushRetryable, requests.ConnectionError, requests.Timeout) as exc:
            status = exc.status_code if isinstance(exc, PushRetryable) else None
            logger.info("Push to subscription %s failed transiently (%s); retrying.", subscription.id, exc)
            transaction.on_commit(partial(tasks.send_push.delay, str(subscription.id), payload.as_dict()))
            results.append(PushResult(subscription.id, PushOutcome.RETRYING, status))
    return tuple(results)


def notify_user(
    *,
    user: User,
    payload: PushPayload,
    email_subject: str,
    email_body: str,
    push: bool = True,
    email: bool = True,
) -> NotifyResult:
    """Push ``payload`` to each of ``user``'s browsers; if none takes it, email them instead.

    ``push`` or ``email`` False leaves that channel out (the person's own choice, as for reminders).

    Slow I/O: call it outside a transaction (from a task). SMTP errors propagate so that the calling
    task can retry; a retry pushes again.
    """
    skipped = _push_skip(user) if push else PushSkip.DECLINED
    results = _push_all(user, payload) if skipped is None else ()
    if skipped is None and not results:
        skipped = PushSkip.NO_SUBSCRIPTION
    if any(r.outcome in (PushOutcome.DELIVERED, PushOutcome.RETRYING) for r in results):
        return NotifyResult(results, skipped, EmailOutcome.NOT_NEEDED)
    if not email:
        return NotifyResult(results, skipped, EmailOutcome.DECLINED)
    return NotifyResult(results, skipped, _email(user, email_subject, email_body))


def _email(user: User, subject: str, body: str) -> EmailOutcome:
    if not user.is_active:
        return EmailOutcome.INACTIVE
    if not user.email:
        return EmailOutcome.NO_ADDRESS
    consent = consent_current(user=user, kind=ConsentKind.EMAIL)
    if consent is not None and not consent.granted:
        return EmailOutcome.DECLINED
    send_mail(subject, body, None, [user.email])
    return EmailOutcome.SENT


@dataclass(frozen=True)
class Notice:
    """One message for ``notify_users``: the arguments of ``notify_user``."""

    user: User
    payload: PushPayload
    email_subject: str
    email_body: str
    push: bool = True
    email: bool = True


@dataclass(frozen=True)
class Recipients:
    """What ``notify_users`` needs to know about the people it notifies, read once for many calls."""

    consents: dict[tuple[uuid.UUID, str], NotificationConsent]
    subscriptions: dict[uuid.UUID, list[PushSubscription]]


def recipients_load(*, users: Iterable[User]) -> Recipients:
    """Current consents and live push subscriptions of ``users`` (expired ones are deleted): three
    queries for any number of people."""
    ids = {user.pk for user in users}
    PushSubscription.objects.filter(user_id__in=ids, expires_at__lte=timezone.now()).delete()
    subscriptions: dict[uuid.UUID, list[PushSubscription]] = {}
    for subscription in PushSubscription.objects.filter(user_id__in=ids).order_by("-updated_at", "id"):
        subscriptions.setdefault(subscription.user_id, []).append(subscription)
    return Recipients(consents_current(user_ids=ids), subscriptions)


def notify_users(
    notices: Sequence[Notice], recipients: Recipients | None = None
) -> list[NotifyResult | OSError]:
    """``notify_user`` for each notice, in order; an SMTP or network error while emailing is returned
    in its place instead of raised, so one bad address does not fail the others.

    Queries: ``recipients_load`` (three, unless ``recipients`` is given: the caller loaded them for
    several calls), the answers recorded (at most three), whatever the number of notices. Slow I/O:
    call it outside a transaction.
    """
    known = recipients or recipients_load(users=[n.user for n in notices])
    consents = known.consents
    enabled = push_enabled()

    def refused(user: User, kind: ConsentKind) -> bool:
        consent = consents.get((user.pk, kind))
        return consent is not None and not consent.granted

    def push_skip(notice: Notice) -> PushSkip | None:
        if not notice.push:
            return PushSkip.DECLINED
        if not notice.user.is_active:
            return PushSkip.INACTIVE
        if not enabled:
            return PushSkip.DISABLED
        return PushSkip.DECLINED if refused(notice.user, ConsentKind.PUSH) else None

    skips = [push_skip(n) for n in notices]
    subscriptions = known.subscriptions
    answers: list[PushAnswer] = []
    results: list[NotifyResult | OSError] = []
    for notice, skip in zip(notices, skips, strict=True):
        pushed: list[PushResult] = []
        for subscription in subscriptions.get(notice.user.pk, []) if skip is None else []:
            pushed.append(_push_one(subscription, notice.payload, answers))
        if skip is None and not pushed:
            skip = PushSkip.NO_SUBSCRIPTION
        if any(r.outcome in (PushOutcome.DELIVERED, PushOutcome.RETRYING) for r in pushed):
            results.append(NotifyResult(tuple(pushed), skip, EmailOutcome.NOT_NEEDED))
            continue
        if not notice.email:
            results.append(NotifyResult(tuple(pushed), skip, EmailOutcome.DECLINED))
            continue
        if notice.user.is_active and notice.user.email and refused(notice.user, ConsentKind.EMAIL):
            results.append(NotifyResult(tuple(pushed), skip, EmailOutcome.DECLINED))
            continue
        try:
            emailed = _email_unchecked(notice.user, notice.email_subject, notice.email_body)
        except OSError as exc:
            results.append(exc)
            continue
        results.append(NotifyResult(tuple(pushed), skip, emailed))
    push_record(answers)
    return results


def _push_one(subscription: PushSubscription, payload: PushPayload, answers: list[PushAnswer]) -> PushResult:
    try:
        answer = push_post(subscription=subscription, payload=payload)
    except (requests.ConnectionError, requests.Timeout) as exc:
        logger.info("Push to subscription %s failed transiently (%s); retrying.", subscription.id, exc)
        transaction.on_commit(partial(tasks.send_push.delay, str(subscription.id), payload.as_dict()))
        return PushResult(subscription.id, PushOutcome.RETRYING, None)
    answers.append(answer)
    if answer.retryable:
        logger.info("Push to subscription %s answered %s; retrying.", subscription.id, answer.status_code)
        transaction.on_commit(partial(tasks.send_push.delay, str(subscription.id), payload.as_dict()))
    return PushResult(subscription.id, answer.outcome, answer.status_code)


def _email_unchecked(user: User, subject: str, body: str) -> EmailOutcome:
    """``_email`` once consent is known not to be refused."""
    if not user.is_active:
        return EmailOutcome.INACTIVE
    if not user.email:
        return EmailOutcome.NO_ADDRESS
    send_mail(subject, body, None, [user.email])
    return EmailOutcome.SENT
