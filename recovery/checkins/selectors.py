"""Reads for check-ins. Callers pass an episode they obtained through the access policy."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from django.db.models import QuerySet

from recovery.checkins.models import CheckIn
from recovery.episodes.models import Episode


def checkin_list(
    *, episode: Episode, date_from: date | None = None, date_to: date | None = None
) -> QuerySet[CheckIn]:
    """Live check-ins of one episode, newest first; ``date_from``/``date_to`` are the patient's local days."""
    qs = CheckIn.objects.filter(episode=episode, deleted_at__isnull=True)
    if date_from is not None:
        qs = qs.filter(local_date__gte=date_from)
    if date_to is not None:
        qs = qs.filter(local_date__lte=date_to)
    return qs.order_by("-recorded_at", "id")


def checkin_get(*, episode: Episode, checkin_id: UUID | str) -> CheckIn | None:
    return checkin_list(episode=episode).filter(pk=checkin_id).first()
