"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP), as authenticator apps make them.

Pure functions, no Django. Parameters are those every authenticator app defaults to: HMAC-SHA-1,
6 digits, 30-second steps (RFC 6238 section 4). ``verify`` accepts one step either side for clock
drift (RFC 6238 section 5.2 recommends at most one) and returns the step it matched, so the caller
can refuse a second use of the same code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1


def new_secret() -> str:
    """160 random bits (the HMAC-SHA-1 block output size, RFC 4226 section 4 R6), base32 without padding."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret_b32: str) -> bytes:
    padded = secret_b32.upper() + "=" * (-len(secret_b32) % 8)
    return base64.b32decode(padded)


def hotp(key: bytes, counter: int, *, digits: int = DIGITS, digest: str = "sha1") -> str:
    """RFC 4226 section 5.3: HMAC the big-endian counter, dynamic truncation, modulo 10^digits."""
    mac = hmac.new(key, struct.pack(">Q", counter), getattr(hashlib, digest)).digest()
    offset = mac[-1] & 0x0F
    code = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)


def counter_at(unix_time: float, *, step: int = STEP_SECONDS) -> int:
    return int(unix_time // step)


def totp(key: bytes, unix_time: float, *, digits: int = DIGITS, digest: str = "sha1") -> str:
    return hotp(key, counter_at(unix_time), digits=digits, digest=digest)


def verify(secret_b32: str, code: str, unix_time: float) -> int | None:
    """The time step ``code`` is valid for at ``unix_time`` (within the drift window), else None."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    key = _key(secret_b32)
    now = counter_at(unix_time)
    for counter in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if hmac.compare_digest(hotp(key, counter), code):
            return counter
    return None


def code_for(secret_b32: str, unix_time: float) -> str:
    return totp(_key(secret_b32), unix_time)


def provisioning_uri(*, secret_b32: str, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI authenticator apps read from a QR code (Google Authenticator key URI format)."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode(
        {
            "secret": secret_b32,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_SECONDS,
        }
    )
    return f"otpauth://totp/{label}?{query}"
