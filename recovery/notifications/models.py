"""Web Push subscriptions (one per browser) and the history of notification consent.

A ``PushSubscription`` is what a browser's ``PushManager.subscribe()`` returned: the push service's
endpoint URL (globally unique, so it is the natural key) and the keys that encrypt for that browser
(RFC 8291). ``NotificationConsent`` is append-only: every change is a new row and the latest row per
user and kind is the current state, so what a person agreed to, and when, is never overwritten.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from recovery.notifications.vapid import b64url_decode, public_key_from_point

AUTH_SECRET_BYTES = 16


def validate_p256dh(value: str) -> None:
    try:
        public_key_from_point(b64url_decode(value))
    except ValueError:
        raise ValidationError(
            "Must be the base64url encoding of a 65-byte uncompressed P-256 public key."
        ) from None


def validate_auth_secret(value: str) -> None:
    try:
        raw = b64url_decode(value)
    except ValueError:
        raw = b""
    if len(raw) != AUTH_SECRET_BYTES:
        raise ValidationError("Must be the base64url encoding of a 16-byte authentication secret.")


class PushSubscription(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    endpoint = models.URLField(max_length=2048, unique=True)
    p256dh = models.CharField(max_length=100, validators=[validate_p256dh])
    auth = models.CharField(max_length=32, validators=[validate_auth_secret])
    # The browser's own ``expirationTime``, when it gives one (most give none).
    expires_at = models.DateTimeField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # The last time the browser (re)sent this subscription; the least recently seen go first.
    updated_at = models.DateTimeField(auto_now=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    # Rejections (4xx other than 404/410) since the last delivery; a delivery resets it.
    failure_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-updated_at", "id"]
        indexes = [models.Index(fields=["user", "-updated_at"])]

    def __str__(self) -> str:
        return f"Push subscription {self.id} of {self.user_id}"


class ConsentKind(models.TextChoices):
    PUSH = "push", "Push notifications"
    EMAIL = "email", "Email notifications"


class NotificationConsent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_consents"
    )
    kind = models.CharField(max_length=10, choices=ConsentKind.choices)
    # Which wording of the consent text the person saw, as the PWA names it (e.g. "2026-05").
    version = models.CharField(max_length=32)
    granted = models.BooleanField()
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "kind", "-at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=[kind.value for kind in ConsentKind]),
                name="notification_consent_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        state = "granted" if self.granted else "refused"
        return f"{self.kind} {state} (v{self.version}) by {self.user_id} at {self.at:%Y-%m-%d %H:%M}"
