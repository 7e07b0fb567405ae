"""The sign-in limits in force, read from settings (``SECURITY_*``, set from the environment).

Every number here is a security default chosen for this service, not clinical evidence: 5 failed
sign-ins of one account within 15 minutes lock that account for 15 minutes; 20 failures from one
client address within 15 minutes refuse that address for 15 minutes. README "Security" documents them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings


@dataclass(frozen=True)
class LoginLimits:
    account_failures: int
    address_failures: int
    window: timedelta
    lockout: timedelta


def login_limits() -> LoginLimits:
    return LoginLimits(
        account_failures=settings.SECURITY_LOGIN_ACCOUNT_FAILURES,
        address_failures=settings.SECURITY_LOGIN_ADDRESS_FAILURES,
        window=timedelta(seconds=settings.SECURITY_LOGIN_WINDOW_SECONDS),
        lockout=timedelta(seconds=settings.SECURITY_LOGIN_LOCKOUT_SECONDS),
    )
