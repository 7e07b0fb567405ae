"""Recovery milestones recorded by hand (the ``event`` milestones of a protocol: discharge, formal
physiotherapy, back to desk work, driving, and any other milestone a clinician confirms).

Milestones computed from check-ins (first walk, walking and step targets) are never stored: they are
derived from the data each time. A recorded event is one row per episode and key; recording it again
updates the date (an idempotent upsert), deleting it removes the row.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from recovery.episodes.models import Episode


class MilestoneEvent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="milestone_events")
    # A protocol milestone key (``recovery.protocols.types.MilestoneSpec.key``); validated in the service.
    key = models.SlugField(max_length=60)
    # The patient's own calendar day on which it happened.
    achieved_on = models.DateField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["episode", "achieved_on", "key"]
        constraints = [
            models.UniqueConstraint(fields=["episode", "key"], name="trajectories_one_event_per_milestone"),
        ]

    def __str__(self) -> str:
        return f"{self.key} on {self.achieved_on} ({self.episode_id})"
