"""Procedures (a controlled, extensible list) and episodes: one surgery and its recovery."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models
from django.utils import timezone

from recovery.accounts.models import Clinic


class Region(models.TextChoices):
    LUMBAR = "lumbar", "Lumbar"
    CERVICAL = "cervical", "Cervical"


class Procedure(models.Model):
    """A procedure code. The six MISS procedures ship in a data migration; clinics may add more rows."""

    code = models.SlugField(max_length=60, primary_key=True)
    name = models.CharField(max_length=120)
    region = models.CharField(max_length=12, choices=Region.choices)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EpisodeStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    RECOVERING = "recovering", "Recovering"
    COMPLETED = "completed", "Completed follow-up"


class Episode(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="episodes")
    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="episodes")
    procedure = models.ForeignKey(Procedure, on_delete=models.PROTECT, related_name="episodes")
    levels = models.JSONField(default=list)
    surgery_date = models.DateField()
    status = models.CharField(max_length=12, choices=EpisodeStatus.choices, default=EpisodeStatus.PLANNED)
    surgeon = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="surgeon_episodes"
    )
    physiotherapists = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="physio_episodes", blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-surgery_date", "id"]
        indexes = [
            models.Index(fields=["clinic", "status"]),
            models.Index(fields=["surgeon", "status"]),
            models.Index(fields=["patient", "surgery_date"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in EpisodeStatus]), name="episode_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.procedure_id} {self.surgery_date} ({self.patient_id})"

    @property
    def patient_time_zone(self) -> ZoneInfo:
        return ZoneInfo(self.patient.patient_profile.time_zone)

    def local_today(self, now: datetime | None = None) -> date:
        return timezone.localtime(now or timezone.now(), self.patient_time_zone).date()

    def post_op_day(self, now: datetime | None = None) -> int:
        """Days since surgery on the patient's own calendar: 0 on the day of surgery, negative before."""
        return (self.local_today(now) - self.surgery_date).days
