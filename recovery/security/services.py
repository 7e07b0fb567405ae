"""Writes for security: sign-in with throttling, lockout and a second factor; token devices; TOTP
enrolment; the clinic's two-factor switch.

Invariants and side effects:

- ``sign_in`` checks lockouts *before* it looks at the password, so a locked account or address gets
  the same answer whether the email exists and whether the password is right. Failures are counted per
  normalised email (existing or not) and per client address; reaching a limit writes a ``Lockout`` row.
  Attempts refused by a lockout are not counted, so a lockout ends when its time is up. A success marks
  the account's open failures cleared (the address count is not reset: one valid account must not let
  an address keep guessing others).
- Unknown emails cost a password hash too: Django's ``ModelBackend`` hashes the given password when no
  user matches (Django ticket #20760), so timing does not tell which emails have accounts.
- A TOTP code is accepted once: ``last_counter`` moves forward with a conditional UPDATE, so a replayed
  code (or two racing requests with one code) succeeds at most once.
- Every write here is safe to repeat: lockouts are upserts on (scope, key), clearing and revoking are
  conditional UPDATEs, enrolment replaces a pending secret, confirming a confirmed device is a no-op.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from recovery.accounts.models import STAFF_ROLES, ApiToken, Clinic, User
from recovery.accounts.services import credentials_check, token_issue
from recovery.core.errors import Conflict, NotPermitted, ValidationFailed
from recovery.episodes.access import ClinicAction, can_in_clinic
from recovery.security import totp
from recovery.security.models import (
    ClinicSecurityPolicy,
    Lockout,
    LockScope,
    LoginFailure,
    TokenDevice,
    TotpDevice,
)
from recovery.security.policy import login_limits
from recovery.security.sealing import seal, unseal
from recovery.security.selectors import confirmed_device, lock_remaining, normalise_email, totp_required_for

WRONG_CREDENTIALS = "Unable to sign in with this email and password."
LOCKED = "Too many failed sign-in attempts. Try again later."
OTP_MISSING = (
    "This account uses two-factor sign-in: send the 6-digit code from your authenticator app as otp."
)
OTP_WRONG = "The code is wrong or has expired."
TOTP_ISSUER = "Mobilize"


class SignInLocked(Exception):
    """The account or the address is locked for ``retry_after`` more seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(LOCKED)


class SignInFailed(Exception):
    """Wrong credentials or second factor; ``errors`` is the body's ``{field: [message]}``."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__(str(errors))


def _lock(*, scope: LockScope, key: str, until: datetime) -> None:
    # An upsert on the unique (scope, key): two racing failures both end with one row.
    Lockout.objects.bulk_create(
        [Lockout(scope=scope, key=key, until=until)],
        update_conflicts=True,
        unique_fields=["scope", "key"],
        update_fields=["until"],
    )


@transaction.atomic
def failure_record(*, email: str, address: str, reason: str, now: datetime | None = None) -> None:
    """Count one failed sign-in; lock the account or address when it reaches its limit."""
    now = now or timezone.now()
    limits = login_limits()
    key = normalise_email(email)
    LoginFailure.objects.create(email=key, address=address, at=now, reason=reason)
    since = now - limits.window
    account = LoginFailure.objects.filter(email=key, cleared_at__isnull=True, at__gt=since).count()
    if account >= limits.account_failures:
        _lock(scope=LockScope.ACCOUNT, key=key, until=now + limits.lockout)
    by_address = LoginFailure.objects.filter(address=address, at__gt=since).count()
    if by_address >= limits.address_failures:
        _lock(scope=LockScope.ADDRESS, key=address, until=now + limits.lockout)


def _failed(*, email: str, address: str, reason: str, errors: dict[str, list[str]]) -> SignInFailed:
    failure_record(email=email, address=address, reason=reason)
    return SignInFailed(errors)


def totp_accept(*, device: TotpDevice, code: str, now: datetime | None = None) -> bool:
    """Whether ``code`` is valid now and not used before; moves ``last_counter`` on when it is."""
    now = now or timezone.now()
    secret = unseal(device.secret)
    counter = None if secret is None else totp.verify(secret, code, now.timestamp())
    if counter is None:
        return False
    fresh = TotpDevice.objects.filter(pk=device.pk).exclude(last_counter__gte=counter)
    return fresh.update(last_counter=counter) == 1


def sign_in(*, request: HttpRequest | None, email: str, password: str, otp: str | None, address: str) -> User:
    """The user for these credentials (and second factor when enrolled), or SignInLocked/SignInFailed."""
    wait = lock_remaining(email=email, address=address)
    if wait:
        raise SignInLocked(wait)
    user = credentials_check(request=request, email=email, password=password)
    if user is None:
        raise _failed(
            email=email, address=address, reason="password", errors={"non_field_errors": [WRONG_CREDENTIALS]}
        )
    device = confirmed_device(user)
    if device is not None:
        if not otp:
            raise _failed(email=email, address=address, reason="otp_missing", errors={"otp": [OTP_MISSING]})
        if not totp_accept(device=device, code=otp):
            raise _failed(email=email, address=address, reason="otp_wrong", errors={"otp": [OTP_WRONG]})
    LoginFailure.objects.filter(email=normalise_email(email), cleared_at__isnull=True).update(
        cleared_at=timezone.now()
    )
    return user


@transaction.atomic
def token_issue_for_device(*, user: User, client: str = "", device: str = "") -> tuple[str, ApiToken]:
    raw, token = token_issue(user=user, client=client)
    if device:
        TokenDevice.objects.create(token=token, name=device[:100])
    return raw, token


def token_revoke_own(*, user: User, token_id: UUID) -> bool:
    """Revoke one of the user's tokens. False when the user has no live token with that id."""
    return bool(
        ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


def tokens_revoke_others(*, user: User, keep: ApiToken | None) -> int:
    """Revoke every token of the user except ``keep`` (the one making the request, if any)."""
    tokens = ApiToken.objects.filter(user=user, revoked_at__isnull=True)
    if keep is not None:
        tokens = tokens.exclude(pk=keep.pk)
    return tokens.update(revoked_at=timezone.now())


def _require_staff(user: User) -> None:
    if user.role not in STAFF_ROLES:
        raise NotPermitted("Two-factor sign-in is for clinic staff.")


@transaction.atomic
def totp_enrol_start(*, user: User) -> str:
    """A new pending secret for the user's authenticator (replacing a pending one; 409 when confirmed).

    Returns the plain base32 secret: the only time it leaves the server (it is stored sealed).
    """
    _require_staff(user)
    existing = TotpDevice.objects.select_for_update().filter(user=user).first()
    if existing is not None and existing.confirmed_at is not None:
        raise Conflict(
            "Two-factor sign-in is already set up. Remove it first to enrol another authenticator."
        )
    secret = totp.new_secret()
    TotpDevice.objects.update_or_create(
        user=user, defaults={"secret": seal(secret), "confirmed_at": None, "last_counter": None}
    )
    return secret


def totp_uri(*, user: User, secret: str) -> str:
    return totp.provisioning_uri(secret_b32=secret, account=user.email, issuer=TOTP_ISSUER)


@transaction.atomic
def totp_enrol_confirm(*, user: User, code: str) -> TotpDevice:
    """Confirm the pending authenticator with its first code; confirming again changes nothing."""
    _require_staff(user)
    device = TotpDevice.objects.select_for_update().filter(user=user).first()
    if device is None:
        raise ValidationFailed({"otp": ["Start enrolment first (POST /api/v1/auth/totp/)."]})
    if device.confirmed_at is not None:
        return device
    if not totp_accept(device=device, code=code):
        raise ValidationFailed({"otp": [OTP_WRONG]})
    device.refresh_from_db()
    device.confirmed_at = timezone.now()
    device.save(update_fields=["confirmed_at"])
    return device


@transaction.atomic
def totp_remove(*, user: User, code: str) -> bool:
    """Remove the user's authenticator, proving possession with a current code. False: none was set up."""
    device = TotpDevice.objects.select_for_update().filter(user=user).first()
    if device is None:
        return False
    if device.confirmed_at is not None:
        if totp_required_for(user):
            raise NotPermitted("Your clinic requires two-factor sign-in; it cannot be turned off.")
        if not totp_accept(device=device, code=code):
            raise ValidationFailed({"otp": [OTP_WRONG]})
    device.delete()
    return True


@transaction.atomic
def clinic_policy_set(*, actor: User, clinic: Clinic, totp_required: bool) -> ClinicSecurityPolicy:
    if not can_in_clinic(actor, ClinicAction.ADMINISTER_CLINIC) or actor.clinic_id != clinic.pk:
        raise NotPermitted("Only an admin of this clinic can change its security policy.")
    if totp_required and confirmed_device(actor) is None:
        # Otherwise the admin would shut themselves out of everything but enrolment on the spot.
        raise ValidationFailed(
            {"totp_required": ["Set up two-factor sign-in for yourself first (POST /api/v1/auth/totp/)."]}
        )
    policy, _ = ClinicSecurityPolicy.objects.update_or_create(
        clinic=clinic, defaults={"totp_required": totp_required, "updated_by": actor}
    )
    return policy


def login_failures_purge(*, older_than: timedelta = timedelta(days=30)) -> int:
    """Delete failure rows and expired lockouts older than ``older_than``; idempotent."""
    cutoff = timezone.now() - older_than
    failures, _ = LoginFailure.objects.filter(at__lt=cutoff).delete()
    locks, _ = Lockout.objects.filter(until__lt=cutoff).delete()
    return failures + locks
