"""Privacy: consent to the terms of use, erasure requests (and what their carrying out removed), and
each clinic's retention of de-identified clinical data.

- ``TermsConsent`` is append-only like ``recovery.notifications.models.NotificationConsent``: every
  change is a new row, the latest row per user is the current state, and what a person agreed to,
  and when, is never overwritten. No network address is stored: the version and the time are what
  the record needs, and an address would be one more identifier to keep.
- ``ErasureRequest`` is one per patient (a unique constraint, so a replayed request is the same
  row). It is also the record of the erasure: who asked, who carried it out, when, and ``removed``,
  how many of each kind of thing were removed or cleared, never the removed values themselves.
- ``ClinicPrivacyPolicy``: how long a clinic keeps an erased patient's de-identified clinical data
  before the purge deletes it. No row: ``DEFAULT_RETENTION_DAYS``.
"""

from __future__ import annotations

import uuid
from typing import Final

from django.conf import settings
from django.db import models
from django.db.models import Q

from recovery.accounts.models import Clinic

#: Clinic default, not evidence: the clinical reference says nothing about retention, and the legal
#: duty to keep medical records differs by country. Ten years, until the clinic sets its own.
DEFAULT_RETENTION_DAYS: Final = 3650
RETENTION_SOURCE: Final = "clinic default, not evidence"
MAX_RETENTION_DAYS: Final = 36500


class TermsConsent(models.Model):
    # Never leaves the server; a growing key orders two answers recorded at the same instant.
    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="terms_consents"
    )
    # Which version of the terms the person was shown, as the app names it (e.g. "2026-05").
    version = models.CharField(max_length=32)
    accepted = models.BooleanField()
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "-at"], name="privacy_terms_user_at")]

    def __str__(self) -> str:
        state = "accepted" if self.accepted else "declined"
        return f"terms v{self.version} {state} by {self.user_id} at {self.at:%Y-%m-%d %H:%M}"


class ErasureState(models.TextChoices):
    PENDING = "pending", "Requested"
    CARRIED_OUT = "carried_out", "Carried out"


class ErasureRequest(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The account stays (closed, with placeholders): its id is what the kept clinical rows point at.
    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="erasure_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    state = models.CharField(max_length=12, choices=ErasureState.choices, default=ErasureState.PENDING)
    carried_out_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    carried_out_at = models.DateTimeField(null=True, blank=True)
    #: What the erasure removed or cleared, as counts per kind (never the removed values).
    removed = models.JSONField(default=dict, blank=True)
    #: When the purge deleted the de-identified clinical data after the retention, and how much.
    purged_at = models.DateTimeField(null=True, blank=True)
    purged = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-requested_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["patient"], name="privacy_one_erasure_per_patient"),
            models.CheckConstraint(
                condition=Q(state__in=[s.value for s in ErasureState]), name="privacy_erasure_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(state=ErasureState.PENDING)
                | Q(carried_out_at__isnull=False, carried_out_by__isnull=False),
                name="privacy_erasure_carried_out_has_who_and_when",
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "state", "-requested_at"], name="privacy_erasure_clinic"),
            models.Index(fields=["state", "carried_out_at"], name="privacy_erasure_purge"),
        ]

    def __str__(self) -> str:
        return f"Erasure of {self.patient_id} ({self.state})"


class ClinicPrivacyPolicy(models.Model):
    clinic = models.OneToOneField(
        Clinic, on_delete=models.CASCADE, primary_key=True, related_name="privacy_policy"
    )
    retention_days = models.PositiveIntegerField(default=DEFAULT_RETENTION_DAYS)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name_plural = "clinic privacy policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(retention_days__lte=MAX_RETENTION_DAYS), name="privacy_retention_days_range"
            ),
        ]

    def __str__(self) -> str:
        return f"Privacy policy of {self.clinic_id}: {self.retention_days} days"
