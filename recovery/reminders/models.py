"""Reminders: what each patient wants, what the care team set, the schedules and their deliveries.

A ``ReminderSchedule`` is one recurring reminder (a kind for an episode and a recipient) whose next
occurrence is ``next_due_at`` in UTC; the per-minute dispatcher picks rows that are due. A
``ReminderDelivery`` is one occurrence (``slot``) of a schedule; unique on ``(schedule, slot)``, it is
what makes a reminder go out at most once, and it is what the patient sees in their reminder list.
"""

from __future__ import annotations

import uuid
from datetime import time

from django.conf import settings
from django.db import models
from django.db.models import Q

from recovery.episodes.models import Episode

#: The every-2-hours walking interval, 08:00-20:00 window and 14-day span are the clinic's choice:
#: the clinical reference (section 3) supports early ambulation but publishes no walking frequency.
CLINIC_DEFAULT_SOURCE = "clinic default, not evidence"


class ReminderKind(models.TextChoices):
    WALK = "walk", "Walk"
    CHECKIN = "checkin", "Check-in"
    EXERCISE = "exercise", "Exercise session"
    QUESTIONNAIRE = "questionnaire", "Questionnaire"
    DIGEST = "digest", "Clinician digest"


class DeliveryState(models.TextChoices):
    #: The slot is claimed and the content decided; nothing has been sent yet.
    PENDING = "pending", "Pending"
    #: A worker is sending it right now (or died doing so: then it is never sent again).
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    SKIPPED_STALE = "skipped_stale", "Skipped: too late"
    SKIPPED_QUIET = "skipped_quiet", "Skipped: quiet hours"
    SKIPPED_MUTED = "skipped_muted", "Skipped: muted"
    SKIPPED_CONDITION = "skipped_condition", "Skipped: not needed"
    FAILED = "failed", "Failed"
    SNOOZED = "snoozed", "Snoozed"
    DONE = "done", "Done"


class ReminderPreferences(models.Model):
    """One patient's reminder choices. Times are local to the patient's time zone."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminder_preferences"
    )
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    push = models.BooleanField(default=True)
    email = models.BooleanField(default=True)
    muted_kinds = models.JSONField(default=list, blank=True)
    checkin_time = models.TimeField(default=time(19, 0))
    waking_start = models.TimeField(default=time(8, 0))
    waking_end = models.TimeField(default=time(20, 0))
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Reminder preferences of {self.user_id}"


class EpisodeReminderSettings(models.Model):
    """The care team's walking-reminder rule for one episode (defaults are a clinic default)."""

    episode = models.OneToOneField(Episode, on_delete=models.CASCADE, related_name="reminder_settings")
    walk_interval_minutes = models.PositiveSmallIntegerField(default=120)
    #: Null means "the patient's waking window".
    walk_window_start = models.TimeField(null=True, blank=True)
    walk_window_end = models.TimeField(null=True, blank=True)
    walk_until_day = models.PositiveSmallIntegerField(default=14)
    source = models.CharField(max_length=200, default=CLINIC_DEFAULT_SOURCE)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(walk_interval_minutes__gte=15, walk_interval_minutes__lte=720),
                name="reminder_walk_interval_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Reminder settings of {self.episode_id}"


class ReminderSchedule(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    #: Null only for a clinician's digest, which covers all of their episodes.
    episode = models.ForeignKey(
        Episode, on_delete=models.CASCADE, null=True, blank=True, related_name="reminder_schedules"
    )
    kind = models.CharField(max_length=16, choices=ReminderKind.choices)
    #: What the schedule is about within its kind: the assignment id (exercise), the timepoint key
    #: (questionnaire), "" for walk and check-in.
    target = models.CharField(max_length=64, blank=True, default="")
    assignment = models.ForeignKey(
        "rehab.Assignment", on_delete=models.CASCADE, null=True, blank=True, related_name="reminder_schedules"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminder_schedules"
    )
    #: The IANA zone the digest's local time is kept in (empty for patient schedules: theirs).
    time_zone = models.CharField(max_length=64, blank=True, default="")
    #: The current occurrence (UTC); null when the schedule has nothing more to send.
    next_due_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["episode", "kind", "target"], name="reminder_schedule_unique"),
            models.UniqueConstraint(
                fields=["recipient"], condition=Q(kind="digest"), name="reminder_one_digest_per_clinician"
            ),
            models.CheckConstraint(
                condition=Q(kind="digest", episode__isnull=True)
                | (~Q(kind="digest") & Q(episode__isnull=False)),
                name="reminder_schedule_episode_unless_digest",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in ReminderKind]), name="reminder_schedule_kind_valid"
            ),
        ]
        indexes = [models.Index(fields=["active", "next_due_at"]), models.Index(fields=["recipient"])]

    def __str__(self) -> str:
        return f"{self.kind} reminder for {self.episode_id}"


class ReminderDelivery(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    schedule = models.ForeignKey(ReminderSchedule, on_delete=models.CASCADE, related_name="deliveries")
    #: The occurrence (UTC) this row stands for: the schedule's ``next_due_at`` when it was claimed.
    slot = models.DateTimeField()
    state = models.CharField(max_length=20, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    payload = models.JSONField(default=dict, blank=True)
    channel_results = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-slot", "id"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "slot"], name="reminder_delivery_once_per_slot"),
            models.CheckConstraint(
                condition=Q(state__in=[s.value for s in DeliveryState]), name="reminder_delivery_state_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["state", "created_at"]),
            models.Index(fields=["state", "snoozed_until"]),
        ]

    def __str__(self) -> str:
        return f"{self.schedule_id} at {self.slot:%Y-%m-%d %H:%M} ({self.state})"


class WalkLog(models.Model):
    """A walk the patient confirmed from a walk reminder ("done"); one per reminder."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="walk_logs")
    delivery = models.OneToOneField(
        ReminderDelivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="walk"
    )
    at = models.DateTimeField()
    minutes = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"Walk {self.episode_id} at {self.at:%Y-%m-%d %H:%M}"
