"""Reads for alerts. Every read is scoped through ``recovery.episodes.access``: a clinician sees the
alerts of episodes they may ``VIEW_ALERTS`` on (their own care-team episodes, in their own clinic),
never another clinic's or another care team's. ``open_alerts_for`` is unscoped by design: it serves
callers that have already scoped their episode ids (the cohort view, the evaluator).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AnonymousUser
from django.db.models import Case, IntegerField, Prefetch, QuerySet, Value, When

from recovery.accounts.models import User
from recovery.alerts.models import SEVERITY_RANK, Alert, AlertEvent, AlertState
from recovery.episodes.access import Action, episodes_for


@dataclass(frozen=True)
class OpenAlert:
    id: uuid.UUID
    rule: str
    severity: str
    state: str
    raised_at: datetime
    reason: str


def _severity_rank() -> Case:
    return Case(
        *(When(severity=severity, then=Value(rank)) for severity, rank in SEVERITY_RANK.items()),
        default=Value(len(SEVERITY_RANK)),
        output_field=IntegerField(),
    )


def open_alerts_for(episode_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[OpenAlert]]:
    """Unresolved (open or acknowledged) alerts per episode, most pressing first, in one query.

    Episodes without an unresolved alert are absent from the result."""
    ids = list(episode_ids)
    if not ids:
        return {}
    rows = (
        Alert.objects.filter(episode_id__in=ids)
        .exclude(state=AlertState.RESOLVED)
        .annotate(rank=_severity_rank())
        .order_by("episode_id", "rank", "raised_at", "id")
        .values_list("episode_id", "id", "rule", "severity", "state", "raised_at", "reason")
    )
    found: dict[uuid.UUID, list[OpenAlert]] = {}
    for episode_id, alert_id, rule, severity, state, raised_at, reason in rows:
        found.setdefault(episode_id, []).append(OpenAlert(alert_id, rule, severity, state, raised_at, reason))
    return found


def alerts_for(user: User | AnonymousUser) -> QuerySet[Alert]:
    """The alerts ``user`` may see, most pressing first (severity, then oldest raised first), with the
    episode, patient and history loaded for a list (a fixed number of queries)."""
    return (
        Alert.objects.filter(episode__in=episodes_for(user, Action.VIEW_ALERTS))
        .select_related("episode__patient__patient_profile", "acknowledged_by", "resolved_by")
        .prefetch_related(
            Prefetch("events", queryset=AlertEvent.objects.select_related("by").order_by("at", "id"))
        )
        .annotate(rank=_severity_rank())
        .order_by("rank", "raised_at", "id")
    )


def alert_get(*, user: User | AnonymousUser, alert_id: uuid.UUID) -> Alert | None:
    return alerts_for(user).filter(pk=alert_id).first()
