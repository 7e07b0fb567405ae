"""Provenance of imported FHIR Observations.

Every accepted Observation is kept as one ``ImportedObservation``: its identifier (system and value,
unique per episode, which makes a repeated import a no-op), what it measured, its value and time, the
resource as received, and who imported it. Our check-in needs both pain values, so an imported pain
value becomes part of a ``CheckIn`` only when its partner (the other body site) was imported for the
same instant; steps and walking minutes at that instant join that check-in. Anything else stays a
stored measurement (``checkin`` is null): kept and exported again, never padded with invented values.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from recovery.checkins.models import CheckIn
from recovery.episodes.models import Episode


class MeasurementKind(models.TextChoices):
    AXIAL_PAIN = "axial_pain", "Back or neck pain (0-10)"
    LIMB_PAIN = "limb_pain", "Leg or arm pain (0-10)"
    STEPS = "steps", "Steps"
    WALKING_MINUTES = "walking_minutes", "Walking minutes"


class ImportedObservation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="imported_observations")
    identifier_system = models.CharField(max_length=500)
    identifier_value = models.CharField(max_length=500)
    kind = models.CharField(max_length=20, choices=MeasurementKind.choices)
    value = models.PositiveIntegerField()
    effective_at = models.DateTimeField()
    # The patient's calendar day at ``effective_at`` in their time zone, like ``CheckIn.local_date``.
    local_date = models.DateField()
    checkin = models.ForeignKey(
        CheckIn, on_delete=models.PROTECT, null=True, blank=True, related_name="imported_observations"
    )
    resource = models.JSONField(help_text="The Observation as received.")
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["effective_at", "id"]
        indexes = [models.Index(fields=["episode", "effective_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["episode", "identifier_system", "identifier_value"],
                name="interop_observation_identifier_once_per_episode",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["axial_pain", "limb_pain"], value__lte=10)
                | Q(kind="steps", value__lte=100000)
                | Q(kind="walking_minutes", value__lte=1440),
                name="interop_observation_value_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}={self.value} ({self.identifier_system}|{self.identifier_value})"
