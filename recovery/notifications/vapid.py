"""VAPID keys (RFC 8292) and the base64url codec of Web Push: formats, validation, generation.

The formats ``manage.py vapid_keys`` prints and the settings expect:

- ``VAPID_PUBLIC_KEY``: base64url, unpadded, of the 65-byte uncompressed P-256 point; exactly what the
  PWA passes as ``applicationServerKey`` to ``PushManager.subscribe()``.
- ``VAPID_PRIVATE_KEY``: base64url, unpadded, of the raw 32-byte private scalar. One line without PEM
  armour, so it fits an environment variable or a secret store as it is.

``recovery.settings`` imports this module, so it must not touch models or settings.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ImproperlyConfigured

_B64URL = re.compile(r"^[A-Za-z0-9_-]*={0,2}$")
#: Order of the P-256 group: a private scalar must lie in [1, n - 1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_MAILTO = re.compile(r"^mailto:[^@\s]+@(localhost|[\w-]+(\.[\w-]+)+)$", re.IGNORECASE)
# The same shape py_vapid insists on when it signs: scheme and host, no port, path or trailing slash.
_HTTPS = re.compile(r"^https://(localhost|[\w-]+(\.[\w-]+)+)$", re.IGNORECASE)


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url: the URL-safe alphabet only, padding optional (browsers send none)."""
    if not _B64URL.match(text) or len(text.rstrip("=")) % 4 == 1:
        raise ValueError("Not base64url.")
    stripped = text.rstrip("=")
    return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))


def public_key_from_point(raw: bytes) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from its 65-byte uncompressed encoding; ValueError if it is not one."""
    if len(raw) != 65 or raw[0] != 0x04:
        raise ValueError("Must be a 65-byte uncompressed P-256 point.")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)


def point_of(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def private_key_from_raw(raw: bytes) -> ec.EllipticCurvePrivateKey:
    if len(raw) != 32:
        raise ValueError("Must be 32 bytes.")
    value = int.from_bytes(raw, "big")
    if not 0 < value < _P256_ORDER:
        raise ValueError("Not a valid P-256 private key.")
    return ec.derive_private_key(value, ec.SECP256R1())


@dataclass(frozen=True)
class VapidKeyPair:
    public_key: str
    private_key: str


def vapid_keys_generate() -> VapidKeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    raw = key.private_numbers().private_value.to_bytes(32, "big")
    return VapidKeyPair(public_key=b64url_encode(point_of(key.public_key())), private_key=b64url_encode(raw))


def vapid_configure(
    *, public_key: str, private_key: str, subject: str, subject_is_default: bool
) -> tuple[str | None, str | None, str]:
    """Check the three VAPID settings as read from the environment.

    Returns ``(public_key, private_key, subject)`` with ``None`` keys when push is disabled (neither key
    set). Raises ``ImproperlyConfigured`` naming the variable when only one key is set, a key is
    malformed, the two keys do not belong together, or the subject is neither ``mailto:`` nor ``https:``.
    A default subject (made from ``DEFAULT_FROM_EMAIL``) is only checked when push is enabled.
    """
    public_key, private_key, subject = public_key.strip(), private_key.strip(), subject.strip()
    if bool(public_key) != bool(private_key):
        missing = "VAPID_PRIVATE_KEY" if public_key else "VAPID_PUBLIC_KEY"
        raise ImproperlyConfigured(
            f"The environment variable {missing} is required when the other VAPID key is set "
            "(set both, or neither to disable push; `manage.py vapid_keys` makes a pair)."
        )
    enabled = bool(private_key)
    if (enabled or not subject_is_default) and not (_MAILTO.match(subject) or _HTTPS.match(subject)):
        raise ImproperlyConfigured(
            "The environment variable VAPID_SUBJECT must be a mailto: address or an https:// origin "
            f"(it defaults to mailto: and the DEFAULT_FROM_EMAIL address), got {subject!r}."
        )
    if not enabled:
        return None, None, subject
    try:
        private = private_key_from_raw(b64url_decode(private_key))
    except ValueError:
        raise ImproperlyConfigured(
            "The environment variable VAPID_PRIVATE_KEY must be the base64url raw 32-byte P-256 private "
            "key printed by `manage.py vapid_keys`."
        ) from None
    try:
        public = public_key_from_point(b64url_decode(public_key))
    except ValueError:
        raise ImproperlyConfigured(
            "The environment variable VAPID_PUBLIC_KEY must be the base64url 65-byte uncompressed P-256 "
            "public key printed by `manage.py vapid_keys`."
        ) from None
    if point_of(public) != point_of(private.public_key()):
        raise ImproperlyConfigured(
            "The environment variable VAPID_PUBLIC_KEY does not belong to VAPID_PRIVATE_KEY."
        )
    return b64url_encode(point_of(public)), b64url_encode(b64url_decode(private_key)), subject
