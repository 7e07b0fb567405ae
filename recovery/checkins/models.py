"""Check-ins: timestamped patient self-reports, several a day allowed.

A check-in is never physically deleted through the app: a patient's delete sets ``deleted_at``,
and every edit stores the previous content as a ``CheckInRevision``. Nothing a patient logged is lost.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from recovery.episodes.models import Episode


class CheckIn(models.Model):
    # The id may be chosen by the client (a UUID made on the phone), which makes retries idempotent.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="checkins")
    recorded_at = models.DateTimeField()
    # The patient's calendar day at ``recorded_at`` in their time zone; analytics group by it.
    local_date = models.DateField()
    axial_pain = models.PositiveSmallIntegerField()
    limb_pain = models.PositiveSmallIntegerField()
    walking_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    steps = models.PositiveIntegerField(null=True, blank=True)
    sleep_quality = models.PositiveSmallIntegerField(null=True, blank=True)
    took_opioid = models.BooleanField(null=True, blank=True)
    red_flags = models.JSONField(default=list, blank=True)
    note = models.TextField(max_length=2000, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-recorded_at", "id"]
        indexes = [
            models.Index(fields=["episode", "local_date"]),
            models.Index(fields=["episode", "-recorded_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(axial_pain__gte=0, axial_pain__lte=10), name="checkin_axial_0_10"
            ),
            models.CheckConstraint(
                condition=Q(limb_pain__gte=0, limb_pain__lte=10), name="checkin_limb_0_10"
            ),
            models.CheckConstraint(
                condition=Q(walking_minutes__isnull=True)
                | Q(walking_minutes__gte=0, walking_minutes__lte=1440),
                name="checkin_walking_0_1440",
            ),
            models.CheckConstraint(
                condition=Q(steps__isnull=True) | Q(steps__gte=0, steps__lte=100000),
                name="checkin_steps_range",
            ),
            models.CheckConstraint(
                condition=Q(sleep_quality__isnull=True) | Q(sleep_quality__gte=0, sleep_quality__lte=10),
                name="checkin_sleep_0_10",
            ),
        ]

    def __str__(self) -> str:
        return f"Check-in {self.id} ({self.recorded_at:%Y-%m-%d %H:%M})"


class CheckInRevision(models.Model):
    """The content a check-in had before an edit or a delete."""

    id = models.BigAutoField(primary_key=True)
    checkin = models.ForeignKey(CheckIn, on_delete=models.PROTECT, related_name="revisions")
    action = models.CharField(max_length=10, choices=[("update", "Update"), ("delete", "Delete")])
    previous = models.JSONField()
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["changed_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} of {self.checkin_id} at {self.changed_at:%Y-%m-%d %H:%M}"
