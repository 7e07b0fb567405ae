"""Sending one Web Push message: encrypted with aes128gcm (RFC 8291, ``encrypt_aes128gcm``), signed with
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
through one kept-alive HTTP/1.1 connection per push service origin and thread (``http.client``), and
the VAPID header of an origin is signed once and reused for half its lifetime. Network failures are
raised as ``requests.ConnectionError`` or ``requests.Timeout``, the exceptions callers retry.

Encryption uses ``cryptography`` directly (one ECDH, four HMACs and one AES-GCM per message): RFC 8291
requires a fresh sender key pair and salt per message, so that part is paid every time, but the
browser's public key object and auth secret are decoded once per subscription key (``_receiver``), not
per message as pywebpush does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import os
import re
import select
import ssl
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
from urllib.parse import unquote, urlsplit
from uuid import UUID

import requests
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db.models import F
from django.utils import timezone
from py_vapid import Vapid02

from recovery.notifications.models import PushSubscription
from recovery.notifications.vapid import b64url_decode, point_of, private_key_from_raw, public_key_from_point

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


#: RFC 8188 record size written in the header; the payload always fits one record (MAX_PAYLOAD_BYTES).
_RECORD_SIZE = 4096
_P256 = ec.SECP256R1()


@dataclass(frozen=True)
class _Receiver:
    """A subscription's browser keys, decoded: the ``p256dh`` point and its key object, the auth secret."""

    point: bytes
    key: ec.EllipticCurvePublicKey
    auth: bytes


@lru_cache(maxsize=4096)
def _receiver(p256dh: str, auth: str) -> _Receiver:
    raw = b64url_decode(p256dh)
    return _Receiver(raw, public_key_from_point(raw), b64url_decode(auth))


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.digest(key, message, hashlib.sha256)


def encrypt_aes128gcm(plaintext: bytes, *, p256dh: str, auth: str) -> bytes:
    """The body of one Web Push message: RFC 8291 section 3.4 (a fresh sender key pair and salt, the
    keys derived with HKDF-SHA-256 from the ECDH secret and the auth secret) in one RFC 8188 aes128gcm
    record, header included. Each HKDF here needs one HMAC to extract and one to expand (at most 32
    bytes of output)."""
    receiver = _receiver(p256dh, auth)
    sender = ec.generate_private_key(_P256)
    sender_point = point_of(sender.public_key())
    shared = sender.exchange(ec.ECDH(), receiver.key)
    key_info = b"WebPush: info\x00" + receiver.point + sender_point
    ikm = _hmac_sha256(_hmac_sha256(receiver.auth, shared), key_info + b"\x01")
    salt = os.urandom(16)
    prk = _hmac_sha256(salt, ikm)
    cek = _hmac_sha256(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
    nonce = _hmac_sha256(prk, b"Content-Encoding: nonce\x00\x01")[:12]
    # One record, so it is the last one: the payload ends with the 0x02 delimiter and no padding.
    record = AESGCM(cek).encrypt(nonce, plaintext + b"\x02", None)
    return b"".join(
        (salt, _RECORD_SIZE.to_bytes(4, "big"), bytes((len(sender_point),)), sender_point, record)
    )


_local = threading.local()
#: Kept-alive connections a thread holds at most (one per push service origin; there are a handful).
_MAX_CONNECTIONS = 32


@dataclass(frozen=True)
class _Target:
    """Where a POST for an endpoint goes: the connection's key, and the request target on it."""

    key: tuple[str, str, int]
    target: str


def _target(endpoint: str) -> _Target:
    parts = urlsplit(endpoint)
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target((scheme, host, port), path)


def _ssl_context() -> ssl.SSLContext:
    context: ssl.SSLContext | None = getattr(_local, "ssl_context", None)
    if context is None:
        context = _local.ssl_context = ssl.create_default_context()
    return context


def _open(key: tuple[str, str, int]) -> tuple[http.client.HTTPConnection, bool]:
    """A new connection for ``key`` (scheme, host, port), through the environment's proxy for the
    scheme if one is set (NO_PROXY is not applied: push services are public hosts). Returns it and
    whether requests on it name the absolute URL (plain HTTP through a proxy)."""
    scheme, host, port = key
    proxy = urllib.request.getproxies().get(scheme)
    connection: http.client.HTTPConnection
    if proxy:
        via = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        proxy_host, proxy_port = via.hostname or "", via.port or 80
        headers = {}
        if via.username is not None:
            credentials = f"{unquote(via.username)}:{unquote(via.password or '')}".encode()
            headers["Proxy-Authorization"] = "Basic " + base64.b64encode(credentials).decode()
        if scheme == "https":
            connection = http.client.HTTPSConnection(
                proxy_host, proxy_port, timeout=TIMEOUT_SECONDS[0], context=_ssl_context()
            )
            connection.set_tunnel(host, port, headers=headers)
            return connection, False
        connection = http.client.HTTPConnection(proxy_host, proxy_port, timeout=TIMEOUT_SECONDS[0])
        return connection, True
    if scheme == "https":
        return http.client.HTTPSConnection(
            host, port, timeout=TIMEOUT_SECONDS[0], context=_ssl_context()
        ), False
    return http.client.HTTPConnection(host, port, timeout=TIMEOUT_SECONDS[0]), False


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether a kept-alive connection was closed by the other end (readable while idle: EOF)."""
    if connection.sock is None:
        return False
    poller = select.poll()
    poller.register(connection.sock, select.POLLIN)
    return bool(poller.poll(0))


def _connection(key: tuple[str, str, int]) -> tuple[http.client.HTTPConnection, bool]:
    """This thread's kept-alive connection to a push service origin, opened (and connected, with the
    connect timeout; reads then get the read timeout) when there is none or the last one was closed."""
    connections: dict[tuple[str, str, int], tuple[http.client.HTTPConnection, bool]] | None = getattr(
        _local, "connections", None
    )
    if connections is None:
        connections = _local.connections = {}
    held = connections.get(key)
    if held is not None and _dropped(held[0]):
        held[0].close()
    if held is None:
        if len(connections) >= _MAX_CONNECTIONS:
            _close_all(connections)
        held = connections[key] = _open(key)
    if held[0].sock is None:
        held[0].connect()
        assert held[0].sock is not None
        held[0].sock.settimeout(TIMEOUT_SECONDS[1])
    return held


def _close_all(connections: dict[tuple[str, str, int], tuple[http.client.HTTPConnection, bool]]) -> None:
    for connection, _ in connections.values():
        connection.close()
    connections.clear()


def _network_error(exc: OSError | http.client.HTTPException) -> requests.RequestException:
    """The ``requests`` exception callers catch (they retry those) for a socket or HTTP failure."""
    if isinstance(exc, TimeoutError):
        return requests.Timeout(str(exc) or "timed out")
    return requests.ConnectionError(str(exc) or type(exc).__name__)


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
    body = encrypt_aes128gcm(payload.to_bytes(), p256dh=subscription.p256dh, auth=subscription.auth)
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
    # http.client on a kept-alive connection rather than requests or urllib3: they cost twice the CPU
    # of the encryption per message in Python (request preparation, pools, retries we do not use),
    # and http.client writes the headers and a small body in one send.
    where = _target(subscription.endpoint)
    connection: http.client.HTTPConnection | None = None
    complete = False
    try:
        connection, absolute = _connection(where.key)
        target = subscription.endpoint if absolute else where.target
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        answer = PushAnswer(subscription.id, response.status)
        if answer.outcome == PushOutcome.REJECTED:
            detail = response.read(300).decode("utf-8", "replace")
            return PushAnswer(subscription.id, answer.status_code, detail=detail)
        complete = _drain(response)
        if answer.retryable:
            retry_after = retry_after_seconds(response.getheader("Retry-After"))
            return PushAnswer(subscription.id, answer.status_code, retry_after)
        return answer
    except (OSError, http.client.HTTPException) as exc:
        raise _network_error(exc) from exc
    finally:
        # A connection whose answer was read to its end is kept for the next message; any other is
        # closed (the next message opens a fresh one).
        if connection is not None and not complete:
            connection.close()


def _drain(response: http.client.HTTPResponse, limit: int = 65536) -> bool:
    """Read a (normally empty) answer to its end, so the connection can be reused; past ``limit``
    bytes stop. Whether it was read to its end."""
    read = 0
    while not response.isclosed():
        chunk = response.read(8192)
        if not chunk:
            return True
        read += len(chunk)
        if read > limit:
            return False
    return True


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
