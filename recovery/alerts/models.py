"""Alerts: something in a patient's recovery a clinician should look at, and its history.

An ``Alert`` is raised by a rule (``AlertRule``) on one episode. At most one alert per (episode, rule)
is not resolved at any time: a partial unique index enforces it, so two evaluators racing can never
raise the same alert twice. Every state change (raised, acknowledged, resolved, escalated, a new
red-flag check-in added) is an append-only ``AlertEvent``. ``AlertNotice`` records each notification
sent for an event to one clinician, unique on (event, recipient), so a replayed task never pushes twice.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from django.conf import settings
from django.db import models
from django.db.models import Q

from recovery.episodes.models import Episode


class AlertRule(models.TextChoices):
    RED_FLAG = "red_flag", "Red flag reported"
    PAIN_ABOVE_BAND = "pain_above_band", "Pain above the expected band"
    PAIN_RISING = "pain_rising", "Pain rising"
    NO_CHECKIN = "no_checkin", "No check-in"
    LOW_ADHERENCE = "low_adherence", "Low exercise adherence"
    MISSED_QUESTIONNAIRE = "missed_questionnaire", "Missed questionnaire"


class Severity(models.TextChoices):
    """Our scale, most pressing first (clinic default, not evidence):

    - ``urgent``: act now (a red flag); pushed at once, escalated to the surgeon after 2 hours;
    - ``high``: look today (pain above the expected band for days);
    - ``moderate``: look within a day or two (pain rising, the patient silent);
    - ``low``: at the next review (adherence, a missed questionnaire).
    """

    URGENT = "urgent", "Urgent"
    HIGH = "high", "High"
    MODERATE = "moderate", "Moderate"
    LOW = "low", "Low"


#: Worklist order: lower first.
SEVERITY_RANK: Final[dict[str, int]] = {
    Severity.URGENT: 0,
    Severity.HIGH: 1,
    Severity.MODERATE: 2,
    Severity.LOW: 3,
}


class AlertState(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class EventKind(models.TextChoices):
    """What an ``AlertEvent`` records: a state reached, or ``escalated`` / ``updated`` (no state change)."""

    OPEN = "open", "Raised"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"
    ESCALATED = "escalated", "Escalated to the surgeon"
    UPDATED = "updated", "New data added"


class Alert(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="alerts")
    rule = models.CharField(max_length=32, choices=AlertRule.choices)
    severity = models.CharField(max_length=12, choices=Severity.choices)
    state = models.CharField(max_length=14, choices=AlertState.choices, default=AlertState.OPEN)
    #: Plain words a clinician can act on.
    reason = models.TextField()
    #: What triggered it (check-in ids and red flags, days and values with the band, ...).
    data = models.JSONField(default=dict)
    raised_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution_note = models.TextField(blank=True, default="")
    escalated_at = models.DateTimeField(null=True, blank=True)
    #: Trend rules: when an evaluation last found the condition gone (null while it holds). The alert
    #: stays for a clinician to resolve; a resolved alert blocks the same rule until this is set.
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["raised_at", "id"]
        indexes = [
            models.Index(fields=["state", "severity", "raised_at"]),
            models.Index(fields=["episode", "state"]),
        ]
        constraints = [
            # The de-duplication: the same rule never has two unresolved alerts on one episode.
            models.UniqueConstraint(
                fields=["episode", "rule"],
                condition=~Q(state=AlertState.RESOLVED),
                name="alert_one_unresolved_per_rule",
            ),
            models.CheckConstraint(condition=Q(rule__in=AlertRule.values), name="alert_rule_valid"),
            models.CheckConstraint(condition=Q(severity__in=Severity.values), name="alert_severity_valid"),
            models.CheckConstraint(condition=Q(state__in=AlertState.values), name="alert_state_valid"),
            models.CheckConstraint(
                condition=~Q(state=AlertState.ACKNOWLEDGED) | Q(acknowledged_at__isnull=False),
                name="alert_acknowledged_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(state=AlertState.RESOLVED) | Q(resolved_at__isnull=False),
                name="alert_resolved_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule} ({self.severity}, {self.state}) on {self.episode_id}"


class AlertEvent(models.Model):
    """One change of an alert, append-only. ``by`` is null when the system did it."""

    id = models.BigAutoField(primary_key=True)
    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="events")
    from_state = models.CharField(max_length=14, choices=AlertState.choices, blank=True, default="")
    to_state = models.CharField(max_length=14, choices=EventKind.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(to_state__in=EventKind.values), name="alert_event_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.from_state or '-'} -> {self.to_state} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("Alert events are append-only.")
        super().save(*args, **kwargs)


class NoticeState(models.TextChoices):
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class AlertNotice(models.Model):
    """One notification for one event to one clinician: the row is claimed before sending."""

    id = models.BigAutoField(primary_key=True)
    event = models.ForeignKey(AlertEvent, on_delete=models.PROTECT, related_name="notices")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=8, choices=NoticeState.choices, default=NoticeState.SENDING)
    channel_results = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "recipient"], name="alert_notice_once"),
        ]

    def __str__(self) -> str:
        return f"Notice of {self.event_id} to {self.recipient_id}: {self.state}"
