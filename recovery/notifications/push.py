"""Sending one Web Push message: encrypted with aes128gcm (RFC 8291, through pywebpush), signed with
VAPID (RFC 8292) and POSTed to the browser's push service (RFC 8030).

Outcomes of ``push_send``:

- 2xx: ``delivered``; ``last_success_at`` is set and ``failure_count`` reset.
- 404 or 410: the browser unsubscribed or the subscription expired; the row is deleted (``gone``).
- 429 or 5xx: ``PushRetryable`` is raised, carrying the Retry-After delay when one was sent; the row is
  unchanged. The Celery task (``tasks.send_push``) retries it.
- any other status (other 4xx; 3xx too, as redirects are not followed): ``rejected``; logged and
  ``failure_count`` incremented.
- network failures (``requests.ConnectionError``, ``requests.Timeout``) propagate; the task retries them.

Side effects: one HTTP request and at most one UPDATE or DELETE of the subscription row. A repeat is a
second notification, so callers that must notify once claim their slot first (the reminder engine).

``push_post`` is the same without the row update (``push_record`` applies many outcomes in three
statements): the reminder engine sends a chunk of reminders and records them together. Requests go
through one ``requests.Session`` per thread (kept-alive connections to the push service), and the VAPID
header of an origin is signed once and reused for half its lifetime.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import requests
from django.conf import settings
from django.db.models import F
from django.utils import timezone
from py_vapid import Vapid02
from pywebpush import WebPusher

from recovery.notifications.models import PushSubscription
from recovery.notifications.vapid import b64url_decode, private_key_from_raw

logger = logging.getLogger(__name__)

#: How long the push service keeps a message for an offline browser: a reminder hours late is noise.
DEFAULT_TTL_SECONDS = 4 * 3600
#: Connect and read timeouts: a slow push service must not hold a worker (the task retries instead).
TIMEOUT_SECONDS = (3.05, 10.0)
#: The largest plaintext that fits the 4096-byte record push services accept (RFC 8291 section 4:
#: 4096 minus the 86-byte aes128gcm header, the 16-byte tag and the 1-byte padding delimiter).
MAX_PAYLOAD_BYTES = 3993
# RFC 8292 allows at most 24 hours; half a day leaves room for clock skew.
_VAPID_LIFETIME_SECONDS = 12 * 3600
# RFC 8030 section 5.4: a Topic is at most 32 characters of the base64url alphabet.
_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class Urgency(StrEnum):
    """RFC 8030 section 5.3: how much battery the push service may spend to deliver now."""

    VERY_LOW = "very-low"
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class PushOutcome(StrEnum):
    DELIVERED = "delivered"
    GONE = "gone"
    REJECTED = "rejected"
    #: Only from ``notify_user``: a transient failure handed to the ``send_push`` task to retry.
    RETRYING = "retrying"


class PushDisabled(RuntimeError):
    """No VAPID key pair is configured; callers fall back to email (``push_enabled()`` says so first)."""


class PayloadTooLarge(ValueError):
    pass


class PushRetryable(Exception):
    """The push service asked us to come back later (429) or failed (5xx)."""

    def __init__(self, status_code: int, retry_after: float | None) -> None:
        self.status_code = status_code
        #: Seconds to wait, from the Retry-After header (delta-seconds or an HTTP date); None if absent.
        self.retry_after = retry_after
        # The constructor's own arguments, so that Celery can pickle and rebuild the exception.
        super().__init__(status_code, retry_after)

    def __str__(self) -> str:
        wait = "" if self.retry_after is None else f"; retry after {self.retry_after:g} s"
        return f"Push service answered {self.status_code}{wait}."


@dataclass(frozen=True)
class PushPayload:
    """What the service worker receives, as compact JSON: it shows ``title`` and ``body``, opens ``url``
    on click, and a newer notification with the same ``tag`` replaces an older one on the device."""

    title: str
    body: str
    url: str
    tag: str
    data: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"title": self.title, "body": self.body, "url": self.url, "tag": self.tag}
        if self.data is not None:
            payload["data"] = dict(self.data)
        return payload

    def to_bytes(self) -> bytes:
        raw = json.dumps(self.as_dict(), separators=(",", ":"), ensure_ascii=False).encode()
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise PayloadTooLarge(f"Push payload is {len(raw)} bytes; at most {MAX_PAYLOAD_BYTES} fit.")
        return raw

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> PushPayload:
        data = value.get("data")
        return cls(
            title=str(value["title"]),
            body=str(value["body"]),
            url=str(value["url"]),
            tag=str(value["tag"]),
            data=dict(data) if data is not None else None,
        )


@dataclass(frozen=True)
class PushResult:
    subscription_id: UUID
    outcome: PushOutcome
    #: The push service's answer; None when it could not be reached.
    status_code: int | None


def push_enabled() -> bool:
    return bool(settings.VAPID_PUBLIC_KEY and settings.VAPID_PRIVATE_KEY)


@lru_cache(maxsize=4)
def _signer(private_key: str) -> Vapid02:
    return Vapid02(private_key_from_raw(b64url_decode(private_key)))


def endpoint_origin(endpoint: str) -> str:
    """The ASCII serialisation of the endpoint's origin (RFC 6454), the JWT ``aud`` of RFC 8292."""
    parts = urlsplit(endpoint)
    scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    default_port = {"https": 443, "http": 80}.get(scheme)
    return f"{scheme}://{host}" if port in (None, default_port) else f"{scheme}://{host}:{port}"


#: Signed headers by (private key, subject, origin): (header, expiry as a Unix time).
_vapid_headers: dict[tuple[str, str, str], tuple[str, int]] = {}
_vapid_lock = threading.Lock()


def vapid_authorization(endpoint: str) -> str:
    """The ``Authorization: vapid t=<JWT>,k=<public key>`` header for one push service origin.

    Signing costs more than encrypting a message, and thousands of reminders a minute go to a handful
    of push service origins: a header is reused while more than half of its lifetime is left."""
    if not push_enabled():
        raise PushDisabled("Push is disabled: VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY are not set.")
    assert settings.VAPID_PRIVATE_KEY is not None
    key = (settings.VAPID_PRIVATE_KEY, str(settings.VAPID_SUBJECT), endpoint_origin(endpoint))
    now = int(time.time())
    with _vapid_lock:
        cached = _vapid_headers.get(key)
    if cached is not None and now + _VAPID_LIFETIME_SECONDS // 2 < cached[1] <= now + _VAPID_LIFETIME_SECONDS:
        return cached[0]
    expires = now + _VAPID_LIFETIME_SECONDS
    claims = {"aud": key[2], "exp": expires, "sub": settings.VAPID_SUBJECT}
    header: str = _signer(settings.VAPID_PRIVATE_KEY).sign(claims)["Authorization"]
    with _vapid_lock:
        if len(_vapid_headers) > 1000:
            _vapid_headers.clear()
        _vapid_headers[key] = (header, expires)
    return header


_local = threading.local()


def _session() -> requests.Session:
    """This thread's HTTP session: connections to a push service are kept alive between messages."""
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        # Proxy settings are read from the environment once per thread, not for every message
        # (requests re-reads them and .netrc per request: about a millisecond each). NO_PROXY is not
        # applied: push services are public hosts.
        session.trust_env = False
        session.proxies = {k: v for k, v in urllib.request.getproxies().items() if k in ("http", "https")}
        _local.session = session
    return session


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True)
class PushAnswer:
    """What the push service answered one message (nothing is recorded yet: see ``push_record``)."""

    subscription_id: UUID
    status_code: int
    retry_after: float | None = None
    detail: str = ""

    @property
    def outcome(self) -> PushOutcome:
        if 200 <= self.status_code < 300:
            return PushOutcome.DELIVERED
        if self.status_code in (404, 410):
            return PushOutcome.GONE
        if self.retryable:
            return PushOutcome.RETRYING
        return PushOutcome.REJECTED

    @property
    def retryable(self) -> bool:
        return self.status_code == 429 or self.status_code >= 500


def push_post(
    *,
    subscription: PushSubscription,
    payload: PushPayload,
    ttl: int = DEFAULT_TTL_SECONDS,
    urgency: Urgency = Urgency.NORMAL,
) -> PushAnswer:
    """Encrypt, sign and POST one message; no database access. Network failures propagate."""
    authorization = vapid_authorization(subscription.endpoint)
    body = WebPusher(
        {
            "endpoint": subscription.endpoint,
            "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
        }
    ).encode(payload.to_bytes(), "aes128gcm")["body"]
    headers = {
        "Authorization": authorization,
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(max(0, ttl)),
        "Urgency": str(urgency),
    }
    if _TOPIC.match(payload.tag):
        # A newer message with the same topic replaces one the push service still holds.
        headers["Topic"] = payload.tag
    # Redirects are not followed: the endpoint came from a browser, and a push service never redirects.
    # The answer's body is not read (only a little of it, to log a rejection): it could be any size.
    with _session().post(
        subscription.endpoint,
        data=body,
        headers=headers,
        timeout=TIMEOUT_SECONDS,
        allow_redirects=False,
        stream=True,
    ) as response:
        answer = PushAnswer(subscription.id, response.status_code)
        if answer.outcome == PushOutcome.REJECTED:
            detail = response.raw.read(300, decode_content=True).decode("utf-8", "replace")
            return PushAnswer(subscription.id, answer.status_code, detail=detail)
        _drain(response)
        if answer.retryable:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            return PushAnswer(subscription.id, answer.status_code, retry_after)
        return answer


def _drain(response: requests.Response, limit: int = 65536) -> None:
    """Read a (normally empty) answer to its end, so the connection goes back to the session's pool;
    past ``limit`` bytes stop, and closing the response drops the connection instead."""
    read = 0
    for chunk in response.iter_content(8192):
        read += len(chunk)
        if read > limit:
            return


def push_record(answers: Iterable[PushAnswer]) -> None:
    """Apply answers to the subscription rows: delivered ones reset, gone ones deleted, rejected ones
    counted (at most three statements for any number of answers). Retryable answers change nothing."""
    by_outcome: dict[PushOutcome, list[UUID]] = {}
    for answer in answers:
        by_outcome.setdefault(answer.outcome, []).append(answer.subscription_id)
        if answer.outcome == PushOutcome.GONE:
            logger.info(
                "Push subscription %s is gone (%s); deleted.", answer.subscription_id, answer.status_code
            )
        elif answer.outcome == PushOutcome.REJECTED:
            logger.warning(
                "Push to subscription %s rejected with %s: %s",
                answer.subscription_id,
                answer.status_code,
                answer.detail,
            )
    if delivered := by_outcome.get(PushOutcome.DELIVERED):
        PushSubscription.objects.filter(pk__in=delivered).update(
            last_success_at=timezone.now(), failure_count=0
        )
    if gone := by_outcome.get(PushOutcome.GONE):
        PushSubscription.objects.filter(pk__in=gone).delete()
    if rejected := by_outcome.get(PushOutcome.REJECTED):
        PushSubscription.objects.filter(pk__in=rejected).update(failure_count=F("failure_count") + 1)


def push_send(
    *,
    subscription: PushSubscription,
    payload: PushPayload,
    ttl: int = DEFAULT_TTL_SECONDS,
    urgency: Urgency = Urgency.NORMAL,
) -> PushResult:
    answer = push_post(subscription=subscription, payload=payload, ttl=ttl, urgency=urgency)
    if answer.retryable:
        raise PushRetryable(answer.status_code, answer.retry_after)
    push_record([answer])
    if answer.outcome == PushOutcome.DELIVERED:
        subscription.last_success_at, subscription.failure_count = timezone.now(), 0
    return PushResult(subscription.id, answer.outcome, answer.status_code)
