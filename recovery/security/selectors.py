"""Reads for security: lockouts in force, two-factor state, a user's live tokens.

No side effects. ``lock_remaining`` is what a sign-in checks before it looks at the password, so it
answers the same for an email that has an account and one that does not.
"""

from __future__ import annotations

import math
from datetime import datetime
from uuid import UUID

from django.db.models import Exists, Max, Q, QuerySet
from django.utils import timezone

from recovery.accounts.models import STAFF_ROLES, ApiToken, User
from recovery.security.models import ClinicSecurityPolicy, Lockout, LockScope, TotpDevice


def normalise_email(email: str) -> str:
    return email.strip().lower()


def lock_remaining(*, email: str, address: str, now: datetime | None = None) -> int:
    """Seconds until neither the account (normalised email) nor the address is locked; 0 when free."""
    now = now or timezone.now()
    until: datetime | None = Lockout.objects.filter(
        Q(scope=LockScope.ACCOUNT, key=normalise_email(email)) | Q(scope=LockScope.ADDRESS, key=address),
        until__gt=now,
    ).aggregate(until=Max("until"))["until"]
    if until is None:
        return 0
    return max(1, math.ceil((until - now).total_seconds()))


def confirmed_device(user: User) -> TotpDevice | None:
    return TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).first()


def totp_required_for(user: User) -> bool:
    """Whether the user's clinic makes two-factor sign-in mandatory for its staff (never for patients)."""
    if user.role not in STAFF_ROLES or user.clinic_id is None:
        return False
    return ClinicSecurityPolicy.objects.filter(clinic_id=user.clinic_id, totp_required=True).exists()


def two_factor_pending(user: User) -> bool:
    """Staff whose clinic requires two-factor sign-in but who have no confirmed authenticator yet: they
    may only enrol one (and sign out) until they do."""
    if user.role not in STAFF_ROLES or user.clinic_id is None:
        return False
    enrolled = TotpDevice.objects.filter(user_id=user.pk, confirmed_at__isnull=False)
    # One query: the policy row exists and no confirmed device does.
    return ClinicSecurityPolicy.objects.filter(
        ~Exists(enrolled), clinic_id=user.clinic_id, totp_required=True
    ).exists()


def clinic_policy(clinic_id: UUID) -> ClinicSecurityPolicy:
    """The clinic's policy row, or an unsaved one with the defaults when it has none."""
    return ClinicSecurityPolicy.objects.filter(clinic_id=clinic_id).first() or ClinicSecurityPolicy(
        clinic_id=clinic_id
    )


def live_tokens(*, user: User, now: datetime | None = None) -> QuerySet[ApiToken]:
    """The user's tokens that still work (not revoked, not expired), newest first, with device names."""
    now = now or timezone.now()
    return (
        ApiToken.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=now)
        .select_related("device")
        .order_by("-created_at")
    )
