"""Authenticated encryption of TOTP secrets at rest (Fernet: AES-128-CBC + HMAC-SHA-256).

A database dump or backup alone then does not hand out working second factors. The key is derived
from ``SECRET_KEY``; ``SECRET_KEY_FALLBACKS`` still open secrets sealed under an older key, so a key
rotation does not lock staff out (re-enrolment re-seals under the current key).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

_PURPOSE = b"mobilize.security.totp-secret:"


def _fernet() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet(
        [
            Fernet(base64.urlsafe_b64encode(hashlib.sha256(_PURPOSE + str(key).encode()).digest()))
            for key in keys
        ]
    )


def seal(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def unseal(sealed: str) -> str | None:
    """The plain secret, or None when no current or fallback key opens it."""
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None
