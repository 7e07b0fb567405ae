"""Rehab: the exercise library, prescriptions (assignments), restrictions, and exercise logs.

- An ``Exercise`` with no clinic belongs to the shipped library and is read-only for clinics; a
  clinic's own exercises carry its clinic.
- An ``Assignment`` prescribes one exercise on one episode: dose, sessions per day, weekdays and a
  window of post-op days. Ending it sets ``ended_on`` (the patient's local date) and keeps the row,
  so adherence before that day still counts it. Every change leaves an ``AssignmentRevision``.
- Restrictions: a lifting limit and movement tags forbidden until a post-op day, per episode,
  initialised from the procedure's defaults (a clinic's own, else the shipped ones, each with its
  source). A surgeon's ``RestrictionOverride`` lets one exercise through one restricted tag.
- An ``ExerciseLog`` is one session the patient did; client ids make replays idempotent.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from recovery.accounts.models import Clinic
from recovery.episodes.models import Episode, Procedure
from recovery.rehab.vocabulary import BodyRegion, Difficulty, Phase


class Exercise(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey(
        Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="exercises"
    )
    slug = models.SlugField(max_length=80)
    name = models.CharField(max_length=120)
    instructions = models.JSONField(default=list, help_text="Steps, in our own plain words.")
    region = models.CharField(max_length=12, choices=BodyRegion.choices)
    phase = models.CharField(max_length=14, choices=Phase.choices)
    default_sets = models.PositiveSmallIntegerField(default=1)
    default_reps = models.PositiveSmallIntegerField(null=True, blank=True)
    default_hold_seconds = models.PositiveSmallIntegerField(null=True, blank=True)
    default_sessions_per_day = models.PositiveSmallIntegerField(default=1)
    movement_tags = models.JSONField(default=list, blank=True)
    media_url = models.URLField(blank=True, default="")
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["slug"], condition=Q(clinic__isnull=True), name="exercise_library_slug"
            ),
            models.UniqueConstraint(
                fields=["clinic", "slug"], condition=Q(clinic__isnull=False), name="exercise_clinic_slug"
            ),
            models.CheckConstraint(
                condition=Q(default_reps__isnull=False) | Q(default_hold_seconds__isnull=False),
                name="exercise_default_dose_has_reps_or_hold",
            ),
        ]
        indexes = [models.Index(fields=["region", "phase"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_shipped(self) -> bool:
        return self.clinic_id is None


class Assignment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="assignments")
    exercise = models.ForeignKey(Exercise, on_delete=models.PROTECT, related_name="assignments")
    sets = models.PositiveSmallIntegerField()
    reps = models.PositiveSmallIntegerField(null=True, blank=True)
    hold_seconds = models.PositiveSmallIntegerField(null=True, blank=True)
    load_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    sessions_per_day = models.PositiveSmallIntegerField(default=1)
    days_of_week = models.JSONField(default=list, help_text='Weekdays such as ["mon", "wed", "fri"].')
    start_day = models.IntegerField(help_text="First post-op day (0 = day of surgery).")
    end_day = models.IntegerField(
        null=True, blank=True, help_text="Last post-op day, inclusive; null = open."
    )
    notes = models.TextField(max_length=2000, blank=True, default="")
    prescribed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Ended assignments stay: sessions before ``ended_on`` (patient-local date) remain prescribed.
    ended_on = models.DateField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["start_day", "created_at", "id"]
        indexes = [models.Index(fields=["episode", "ended_on"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(reps__isnull=False) | Q(hold_seconds__isnull=False),
                name="assignment_reps_or_hold",
            ),
            models.CheckConstraint(
                condition=Q(end_day__isnull=True) | Q(end_day__gte=models.F("start_day")),
                name="assignment_end_after_start",
            ),
            models.CheckConstraint(condition=Q(sessions_per_day__gte=1), name="assignment_sessions_positive"),
            models.CheckConstraint(condition=Q(sets__gte=1), name="assignment_sets_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.exercise_id} on {self.episode_id}"


class AssignmentRevision(models.Model):
    id = models.BigAutoField(primary_key=True)
    assignment = models.ForeignKey(Assignment, on_delete=models.PROTECT, related_name="revisions")
    action = models.CharField(max_length=10, choices=[("update", "Update"), ("end", "End")])
    previous = models.JSONField()
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["changed_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} of {self.assignment_id}"


class RestrictionDefault(models.Model):
    """Default restrictions for a procedure: shipped (no clinic) or a clinic's own version."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey(
        Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="restriction_defaults"
    )
    procedure = models.ForeignKey(Procedure, on_delete=models.PROTECT, related_name="restriction_defaults")
    lifting_limit_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    lifting_limit_until_day = models.IntegerField(null=True, blank=True)
    forbidden_movements = models.JSONField(default=list, help_text='[{"tag": ..., "until_day": ...}]')
    source = models.TextField(help_text="Where each number comes from, or that it is a clinic default.")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["procedure"], condition=Q(clinic__isnull=True), name="restriction_default_shipped"
            ),
            models.UniqueConstraint(
                fields=["clinic", "procedure"],
                condition=Q(clinic__isnull=False),
                name="restriction_default_clinic",
            ),
        ]

    def __str__(self) -> str:
        return f"Defaults for {self.procedure_id} ({self.clinic_id or 'shipped'})"


class EpisodeRestrictions(models.Model):
    episode = models.OneToOneField(
        Episode, on_delete=models.PROTECT, primary_key=True, related_name="restrictions"
    )
    lifting_limit_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    lifting_limit_until_day = models.IntegerField(null=True, blank=True)
    source = models.TextField(blank=True, default="")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Restrictions of {self.episode_id}"


class MovementRestriction(models.Model):
    id = models.BigAutoField(primary_key=True)
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="movement_restrictions")
    tag = models.CharField(max_length=40)
    until_day = models.IntegerField(help_text="Forbidden up to and including this post-op day.")

    class Meta:
        ordering = ["tag"]
        constraints = [models.UniqueConstraint(fields=["episode", "tag"], name="movement_restriction_unique")]

    def __str__(self) -> str:
        return f"no {self.tag} until day {self.until_day}"


class RestrictionOverride(models.Model):
    """A surgeon's decision that one exercise may load one restricted movement on this episode."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="restriction_overrides")
    exercise = models.ForeignKey(Exercise, on_delete=models.PROTECT, related_name="+")
    tag = models.CharField(max_length=40)
    reason = models.TextField(max_length=1000)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["episode", "exercise", "tag"], name="restriction_override_unique")
        ]

    def __str__(self) -> str:
        return f"override {self.tag} for {self.exercise_id}"


class ExerciseLog(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="exercise_logs")
    assignment = models.ForeignKey(Assignment, on_delete=models.PROTECT, related_name="logs")
    performed_at = models.DateTimeField()
    local_date = models.DateField()
    sets_completed = models.PositiveSmallIntegerField()
    reps_completed = models.PositiveSmallIntegerField(null=True, blank=True)
    hold_seconds = models.PositiveSmallIntegerField(null=True, blank=True)
    pain_during = models.PositiveSmallIntegerField(null=True, blank=True)
    difficulty = models.CharField(max_length=4, choices=Difficulty.choices, blank=True, default="")
    note = models.TextField(max_length=2000, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-performed_at", "id"]
        indexes = [
            models.Index(fields=["episode", "local_date"]),
            models.Index(fields=["assignment", "local_date"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(pain_during__isnull=True) | Q(pain_during__lte=10), name="exercise_log_pain_0_10"
            ),
        ]

    def __str__(self) -> str:
        return f"log {self.id} of {self.assignment_id}"
