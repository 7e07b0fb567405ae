"""Outcome questionnaires (PROMs): instruments as data, schedules, clinic wording and responses.

- ``Instrument`` rows are loaded from ``recovery/proms/instruments/*.json`` by a data migration
  (update_or_create on the code). One active instrument per region: the schedule of an episode uses
  the instrument of its procedure's region (ODI lumbar, NDI cervical).
- ``InstrumentText`` is a clinic's licensed wording of an instrument in one language, loaded with
  ``manage.py load_instrument_text``; it replaces our own wording for that clinic's users.
- ``ScheduleTimepoint`` rows without a clinic are the shipped default schedule; a clinic that has any
  active timepoints of its own uses only those.
- ``QuestionnaireResponse`` is one completed questionnaire. Its id may be made by the client (retries
  are idempotent) and there is at most one per episode and timepoint: the database, not a read
  before the write, keeps it so. Responses are never edited or replaced.
"""

from __future__ import annotations

import uuid
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from recovery.accounts.models import Clinic, Language
from recovery.episodes.models import Episode, Region
from recovery.proms.definitions import InstrumentDefinition, parse_definition
from recovery.proms.timepoints import Timepoint, check_schedule


class Instrument(models.Model):
    code = models.SlugField(max_length=20, primary_key=True)
    version = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    title = models.JSONField(default=dict, help_text="Patient-facing title per language.")
    region = models.CharField(max_length=12, choices=Region.choices)
    is_active = models.BooleanField(default=True)
    items = models.JSONField(help_text="Items with ordered options, in our own wording per language.")
    scoring = models.JSONField(help_text="Scoring rule with its source and confidence.")
    thresholds = models.JSONField(help_text="MCID and SCB, each with its scale, source and confidence.")
    loinc = models.JSONField(help_text="LOINC codes, each with its source and confidence.")
    license_note = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            # An episode's schedule has one instrument, chosen by region.
            models.UniqueConstraint(
                fields=["region"], condition=Q(is_active=True), name="proms_one_active_instrument_per_region"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.version})"

    def as_data(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "version": self.version,
            "name": self.name,
            "title": self.title,
            "region": self.region,
            "license_note": self.license_note,
            "scoring": self.scoring,
            "thresholds": self.thresholds,
            "loinc": self.loinc,
            "items": self.items,
        }

    @cached_property
    def definition(self) -> InstrumentDefinition:
        return parse_definition(self.as_data())


class InstrumentText(models.Model):
    """A clinic's licensed wording of one instrument in one language (same items, same option count)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="instrument_texts")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="clinic_texts")
    language = models.CharField(max_length=8, choices=Language.choices)
    items = models.JSONField(
        help_text='[{"key": ..., "text": ..., "options": [6 texts, lowest score first]}]'
    )
    license_note = models.TextField(blank=True, default="", help_text="Licence and attribution to show.")
    loaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["clinic", "instrument", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "instrument", "language"], name="proms_one_text_per_clinic_language"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id} wording ({self.language}) for {self.clinic_id}"


class ScheduleTimepoint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey(
        Clinic,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="questionnaire_timepoints",
        help_text="Empty for Mobilize's shipped default schedule.",
    )
    key = models.SlugField(max_length=40)
    label = models.CharField(max_length=80)
    is_baseline = models.BooleanField(default=False, help_text="Change is measured from this timepoint.")
    target_day = models.IntegerField(help_text="Post-op day the questionnaire is aimed at (0 = surgery).")
    opens_day = models.IntegerField(help_text="First post-op day of the window (inclusive).")
    closes_day = models.IntegerField(help_text="Last post-op day of the window (inclusive).")
    timepoint_source = models.TextField(help_text="Why this timepoint: the registry or trial that uses it.")
    window_source = models.TextField(
        default="clinic default",
        help_text="Where the window comes from; 'clinic default' when chosen locally.",
    )
    is_active = models.BooleanField(default=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["clinic", "opens_day", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=Q(clinic__isnull=True), name="proms_default_timepoint_key"
            ),
            models.UniqueConstraint(
                fields=["clinic", "key"], condition=Q(clinic__isnull=False), name="proms_clinic_timepoint_key"
            ),
            models.CheckConstraint(
                condition=Q(opens_day__lte=F("target_day"), target_day__lte=F("closes_day")),
                name="proms_timepoint_window_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} (days {self.opens_day} to {self.closes_day})"

    def as_timepoint(self) -> Timepoint:
        return Timepoint(
            key=self.key,
            label=self.label,
            is_baseline=self.is_baseline,
            target_day=self.target_day,
            opens_day=self.opens_day,
            closes_day=self.closes_day,
            timepoint_source=self.timepoint_source,
            window_source=self.window_source,
        )

    def clean(self) -> None:
        """The clinic's active schedule, with this row in it, must stay consistent (no overlaps)."""
        super().clean()
        clinic = Q(clinic_id=self.clinic_id) if self.clinic_id is not None else Q(clinic__isnull=True)
        same_clinic = ScheduleTimepoint.objects.filter(clinic).exclude(pk=self.pk)
        if same_clinic.filter(key=self.key).exists():
            raise ValidationError(
                {"key": ["This schedule already has a timepoint with this key (maybe inactive)."]}
            )
        if not self.is_active:
            return
        siblings = same_clinic.filter(is_active=True)
        problems = check_schedule([*(row.as_timepoint() for row in siblings), self.as_timepoint()])
        if problems:
            raise ValidationError(problems)


class QuestionnaireResponse(models.Model):
    # The id may be chosen by the client (a UUID made on the phone), which makes retries idempotent.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="questionnaire_responses")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="responses")
    instrument_version = models.CharField(max_length=40)
    # The timepoint as it was when the response was assigned; a later schedule change keeps it.
    timepoint = models.SlugField(max_length=40)
    timepoint_label = models.CharField(max_length=80)
    is_baseline = models.BooleanField(default=False)
    answers = models.JSONField(help_text="Item key -> 0-5, or null for a skipped item.")
    raw_score = models.PositiveSmallIntegerField()
    answered = models.PositiveSmallIntegerField()
    missing = models.PositiveSmallIntegerField()
    percent = models.DecimalField(max_digits=4, decimal_places=1)
    submitted_at = models.DateTimeField()
    # The patient's calendar day at ``submitted_at``; it chose the timepoint.
    local_date = models.DateField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-submitted_at", "id"]
        indexes = [models.Index(fields=["episode", "-submitted_at"])]
        constraints = [
            # One response per timepoint: a second one (another id, or a race) is refused, never duplicated.
            models.UniqueConstraint(fields=["episode", "timepoint"], name="proms_one_response_per_timepoint"),
            models.CheckConstraint(
                condition=Q(percent__gte=0, percent__lte=100), name="proms_response_percent_range"
            ),
            models.CheckConstraint(condition=Q(answered__gte=1), name="proms_response_answered_some"),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.timepoint} ({self.episode_id})"
