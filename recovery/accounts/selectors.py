"""Reads for accounts."""

from __future__ import annotations

from recovery.accounts.models import User
from recovery.episodes.models import Episode, EpisodeStatus


def active_episode_for(user: User) -> Episode | None:
    """A patient's current episode: the latest one not yet through follow-up."""
    if not user.is_patient:
        return None
    return (
        Episode.objects.filter(patient=user, clinic_id=user.tenant_id)
        .exclude(status=EpisodeStatus.COMPLETED)
        .order_by("-surgery_date", "-created_at")
        .first()
    )
