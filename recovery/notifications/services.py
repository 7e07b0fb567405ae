"""Writes for notifications: push subscriptions, consent, and ``notify_user`` (push, else email).

Invariants and choices:

- An endpoint belongs to at most one user (unique). Saving it again is idempotent: the same user gets
  the stored row back (keys refreshed); another user takes it over, as a fresh row, because a browser
  profile shared by two people should notify whoever signed in and subscribed last, never the
  previous person. A user keeps at most ``MAX_SUBSCRIPTIONS_PER_USER``; the least recently seen go.
- Deleting is idempotent and only ever touches the caller's own rows.
- Consent is append-only; recording the state that is already current records nothing.
- ``notify_user`` honours an explicit refusal per channel (no answer is not a refusal: subscribing in
  the browser is itself the opt-in to push). It pushes to every subscription; transient failures go to
  the ``send_push`` task, enqueued on commit. Email is the fallback whenever no push was delivered or
  is being retried: no subscription, push disabled or refused, every subscription gone or rejected.
"""

from __future__ import annotations

import ipaddress
import logging
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
    PushOutcome,
    PushPayload,
    PushResult,
    PushRetryable,
    push_enabled,
    push_send,
)
from recovery.notifications.selectors import consent_current
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
