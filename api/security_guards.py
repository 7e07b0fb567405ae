"""API-wide guards, named in settings ``REST_FRAMEWORK`` (so this module must not import DRF's views).

- ``WriteRateThrottle`` limits unsafe methods to ``SECURITY_WRITE_RATE`` per signed-in user (per client
  address when anonymous) and answers 429 with ``Retry-After`` (via ``api.errors``).
- ``TwoFactorEnrolled`` lets staff whose clinic requires two-factor sign-in, but who have not enrolled an
  authenticator yet, reach only enrolment, ``/me/`` and sign-out (403 elsewhere).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework import permissions, throttling
from rest_framework.request import Request

from recovery.accounts.models import User
from recovery.core.errors import NON_FIELD
from recovery.security.net import client_address
from recovery.security.ratelimit import hit, parse_rate
from recovery.security.selectors import two_factor_pending

logger = logging.getLogger(__name__)

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})

# What a staff member who still owes their clinic a second factor may reach: enrolment and leaving.
_BEFORE_TWO_FACTOR = frozenset({"me", "logout", "token", "totp", "totp-confirm"})
TWO_FACTOR_PENDING = (
    "Your clinic requires two-factor sign-in. Set up an authenticator app first: "
    "POST /api/v1/auth/totp/, then POST /api/v1/auth/totp/confirm/ with its first code."
)


class WriteRateThrottle(throttling.BaseThrottle):
    """``SECURITY_WRITE_RATE`` writes per signed-in user (per client address when anonymous)."""

    def __init__(self) -> None:
        self._wait = 0.0

    def allow_request(self, request: Request, view: Any) -> bool:
        if request.method in _SAFE:
            return True
        rate = parse_rate(settings.SECURITY_WRITE_RATE)
        user = request.user
        ident = f"u:{user.pk}" if user.is_authenticated else f"a:{client_address(request._request)}"
        now = time.time()
        window = int(now // rate.period)
        try:
            count = hit(f"writes:{ident}:{window}", ttl=rate.period + 1)
        except RedisError as exc:
            # Fail open: with Redis down a patient's check-in must still be stored (the outbox relays
            # its side effects later); a limit meant to stop runaway clients can pause meanwhile.
            logger.warning("Write rate limit skipped, the cache is unavailable: %s", exc)
            return True
        if count <= rate.limit:
            return True
        self._wait = (window + 1) * rate.period - now
        return False

    def wait(self) -> float:
        return self._wait


class TwoFactorEnrolled(permissions.BasePermission):
    message = {NON_FIELD: [TWO_FACTOR_PENDING]}

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not user.is_authenticated or user.is_patient:
            return True
        match = request._request.resolver_match
        if match is not None and match.url_name in _BEFORE_TWO_FACTOR:
            return True
        return not (isinstance(user, User) and two_factor_pending(user))
