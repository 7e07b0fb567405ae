"""The client address of a request, for counting sign-in failures and anonymous writes per address."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """``REMOTE_ADDR``, or with ``SECURITY_TRUSTED_PROXIES`` = n > 0 proxies in front, the address the
    outermost trusted proxy saw: the n-th entry of ``X-Forwarded-For`` counted from the right.

    Entries further left are written by the client and can be forged, so they are never used.
    """
    proxies: int = settings.SECURITY_TRUSTED_PROXIES
    remote = str(request.META.get("REMOTE_ADDR") or "unknown")
    if proxies <= 0:
        return remote[:45]
    forwarded = [part.strip() for part in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        return remote[:45]
    return forwarded[-proxies][:45]
