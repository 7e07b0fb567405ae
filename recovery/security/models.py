"""Sign-in failures and lockouts, two-factor (TOTP) devices, per-clinic security policy and the
device name given to a bearer token.

Kept out of ``recovery.accounts`` on purpose: these tables change with the security policy, not
with who the people are.
"""

from __future__ import annotations

from django.db import models

from recovery.accounts.models import ApiToken, Clinic, User


class LockScope(models.TextChoices):
    ACCOUNT = "account", "Account (normalised email)"
    ADDRESS = "address", "Client address"


class LoginFailure(models.Model):
    """One failed sign-in (wrong password, unknown email, wrong or missing second factor).

    ``email`` is the normalised address as typed, whether or not such an account exists, so that an
    unknown email is counted exactly like a known one. A successful sign-in sets ``cleared_at`` on the
    account's open failures instead of deleting them: the history stays for the admin.
    """

    id = models.BigAutoField(primary_key=True)
    email = models.CharField(max_length=254)
    address = models.CharField(max_length=45)
    at = models.DateTimeField()
    reason = models.CharField(max_length=20)
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["email", "at"], name="security_failure_email_at"),
            models.Index(fields=["address", "at"], name="security_failure_address_at"),
        ]
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.email} from {self.address} at {self.at:%Y-%m-%d %H:%M:%S}"


class Lockout(models.Model):
    """An account or a client address refused until ``until``; one row per (scope, key), moved on."""

    id = models.BigAutoField(primary_key=True)
    scope = models.CharField(max_length=10, choices=LockScope.choices)
    key = models.CharField(max_length=254)
    until = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="security_lockout_one_per_key"),
            models.CheckConstraint(
                condition=models.Q(scope__in=[s.value for s in LockScope]), name="security_lockout_scope"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key} until {self.until:%Y-%m-%d %H:%M:%S}"


class TotpDevice(models.Model):
    """A user's authenticator app (RFC 6238: SHA-1, 6 digits, 30-second steps).

    ``secret`` is the base32 shared secret, sealed (``recovery.security.sealing``). It only counts for sign-in once ``confirmed_at`` is set (a
    first correct code). ``last_counter`` is the last time step accepted: a code is good once, so a
    code seen over someone's shoulder cannot be replayed within its 30 seconds.
    """

    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="totp_device")
    secret = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_counter = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        state = "confirmed" if self.confirmed_at else "pending"
        return f"Authenticator of {self.user.email} ({state})"


class ClinicSecurityPolicy(models.Model):
    """Per-clinic security switches, set by the clinic's admins. No row: the defaults (all off)."""

    clinic = models.OneToOneField(
        Clinic, on_delete=models.CASCADE, primary_key=True, related_name="security_policy"
    )
    totp_required = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name_plural = "clinic security policies"

    def __str__(self) -> str:
        return f"Security policy of {self.clinic}"


class TokenDevice(models.Model):
    """The device name a user gave a bearer token when asking for it (shown in the token list)."""

    token = models.OneToOneField(ApiToken, on_delete=models.CASCADE, primary_key=True, related_name="device")
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name
